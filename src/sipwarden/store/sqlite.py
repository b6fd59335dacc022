"""The embedded store: one SQLite file in WAL mode holding bans, log read positions, event history
and a little daemon state.

Why it looks like this:
- Time is always an argument (`now`, `start`, `at`): the daemon owns the clock, tests control it.
- One connection per Store, shared across threads under a lock (`check_same_thread=False`), because
  the daemon calls it from an executor thread while the CLI may read the same file from another
  process (WAL lets readers and the one writer proceed together; `busy_timeout` absorbs the rest).
- Every public write is one transaction, committed before returning: a crash loses at most the
  call in flight. `synchronous=NORMAL` in WAL mode keeps the database consistent after power loss
  (the last commits may roll back) at a fraction of FULL's fsync cost.
- The schema is versioned with `PRAGMA user_version`; `_MIGRATIONS[i]` takes version i to i+1, so a
  file from an older sipwarden is upgraded in place and one from a newer sipwarden is refused.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from ..events import Event, iso
from ..sources.follow import Position


class StoreError(Exception):
    """The state file cannot be used, phrased for the operator."""


# _MIGRATIONS[i] upgrades a database at user_version i to i + 1. Append only; never edit a step
# that has shipped, since files in the field have already run it.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE bans (
        id        INTEGER PRIMARY KEY,
        ip        TEXT    NOT NULL,
        reason    TEXT    NOT NULL,
        evidence  TEXT    NOT NULL,      -- JSON object
        start     REAL    NOT NULL,
        expires   REAL,                  -- NULL: permanent
        manual    INTEGER NOT NULL,
        offence   INTEGER NOT NULL,      -- 1 = first ban of this ip
        ended     REAL,                  -- NULL: not ended (active, or expired and not yet ticked)
        ended_by  TEXT
    );
    CREATE INDEX bans_ip_start ON bans (ip, start);
    CREATE INDEX bans_open ON bans (expires) WHERE ended IS NULL;

    CREATE TABLE positions (
        path      TEXT PRIMARY KEY,
        inode     INTEGER NOT NULL,
        offset    INTEGER NOT NULL,
        head_hash TEXT    NOT NULL,
        updated   REAL    NOT NULL
    );

    CREATE TABLE events (
        id          INTEGER PRIMARY KEY,
        time        REAL,
        ip          TEXT,
        kind        TEXT NOT NULL,
        port        INTEGER,
        transport   TEXT,
        service     TEXT,
        account     TEXT,
        target      TEXT,
        method      TEXT,
        user_agent  TEXT,
        fingerprint TEXT,
        origin      TEXT,
        detail      TEXT,
        file        TEXT,
        line        INTEGER
    );
    CREATE INDEX events_ip_time ON events (ip, time);
    CREATE INDEX events_time_kind ON events (time, kind);

    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
)

SCHEMA_VERSION = len(_MIGRATIONS)

# Event fields stored per row, in column order (time, ip and kind are handled apart).
_EVENT_FIELDS = ("port", "transport", "service", "account", "target", "method", "user_agent", "fingerprint",
                 "origin", "detail", "file", "line")
_EVENT_COLUMNS = ("time", "ip", "kind", *_EVENT_FIELDS)
# INSERT columns in Event's own field order, so an Event tuple binds directly.
_INSERT_EVENTS = (f"INSERT INTO events ({', '.join(Event._fields)}) "
                  f"VALUES ({', '.join('?' * len(Event._fields))})")
assert set(Event._fields) == set(_EVENT_COLUMNS)
EVENT_ROWS = 500  # rows per multi-row INSERT (15 columns: 7,500 variables, under SQLite's 32,766)
_INSERT_EVENTS_MANY = (f"INSERT INTO events ({', '.join(Event._fields)}) VALUES "
                       + ", ".join([f"({', '.join('?' * len(Event._fields))})"] * EVENT_ROWS))
_dumps = json.JSONEncoder(sort_keys=True, default=str).encode  # one encoder: json.dumps(**kw) makes one a call
_BAN_COLUMNS = "ip, reason, evidence, start, expires, manual, offence, ended, ended_by"
_INSERT_BAN = f"INSERT INTO bans ({_BAN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)"
BAN_ROWS = 500  # bans per multi-row INSERT (7 variables each)
_INSERT_BANS_MANY = (f"INSERT INTO bans ({_BAN_COLUMNS}) VALUES "
                     + ", ".join(["(?, ?, ?, ?, ?, ?, ?, NULL, NULL)"] * BAN_ROWS))
_OPEN = "ended IS NULL AND (expires IS NULL OR expires > ?)"  # an active ban at time ?


@dataclass(frozen=True, slots=True)
class BanRecord:
    """One ban as stored. `offence` counts this ip's bans so far (1 = first); `ended` is None while
    the ban has not been lifted, replaced or ticked as expired."""

    ip: str
    reason: str
    evidence: dict
    start: float
    expires: float | None
    manual: bool
    offence: int
    ended: float | None = None
    ended_by: str | None = None

    def to_dict(self) -> dict:
        def t(v: float | None) -> str | None:
            return iso(v) if v is not None else None

        return {
            "ip": self.ip,
            "reason": self.reason,
            "evidence": self.evidence,
            "start": t(self.start),
            "expires": t(self.expires),
            "permanent": self.expires is None,
            "manual": self.manual,
            "offence": self.offence,
            "ended": t(self.ended),
            "ended_by": self.ended_by,
        }


def _ban(row: Sequence[Any]) -> BanRecord:
    ip, reason, evidence, start, expires, manual, offence, ended, ended_by = row
    return BanRecord(ip, reason, json.loads(evidence), start, expires, bool(manual), offence, ended, ended_by)


class Store:
    """Bans, positions, events and meta in one SQLite file (created with its schema if missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: no implicit transactions; _tx() opens them explicitly.
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"{self.path}: cannot open state database: {e}") from None
        try:
            self._db.execute("PRAGMA busy_timeout = 10000")
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"{self.path}: cannot switch to WAL journal mode (got {mode})")
            self._db.execute("PRAGMA synchronous = NORMAL")
            # Up to 8 MiB of page cache (allocated as used): keeps the event indexes' hot pages in
            # memory, which nearly doubles insert throughput during a flood.
            self._db.execute("PRAGMA cache_size = -8192")
            self._migrate()
        except sqlite3.DatabaseError as e:
            self._db.close()
            raise StoreError(f"{self.path}: not a usable sipwarden state database: {e}") from None
        except StoreError:
            self._db.close()
            raise

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection; SQLite checkpoints the WAL into the main file on the last close."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock. IMMEDIATE takes the write lock up front, so a
        read-then-write step (e.g. counting offences before inserting) cannot race another process."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _migrate(self) -> None:
        with self._tx() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.path}: schema version {version} was written by a newer sipwarden "
                                 f"(this one knows up to {SCHEMA_VERSION})")
            for v in range(version, SCHEMA_VERSION):
                # Statements one by one: executescript() would COMMIT our transaction midway.
                for stmt in _statements(_MIGRATIONS[v]):
                    db.execute(stmt)
            if version != SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def schema_version(self) -> int:
        return self._query("PRAGMA user_version")[0][0]

    # -- bans ------------------------------------------------------------------------------------

    def add_ban(self, ip: str, reason: str, evidence: dict, start: float, expires: float | None,
                manual: bool = False) -> BanRecord:
        """Record a ban from `start` until `expires` (None = permanent); its offence number is
        counted here. Any ban of `ip` not yet ended is closed first (see `add_bans`)."""
        with self._tx() as db:
            offence = db.execute("SELECT count(*) FROM bans WHERE ip = ?", (ip,)).fetchone()[0] + 1
            doc = _dumps(evidence)
            rec = BanRecord(ip, reason, json.loads(doc), start, expires, manual, offence)
            self._insert_bans(db, [rec])
        return rec

    def add_bans(self, records: Sequence[BanRecord]) -> None:
        """Record bans whose offence numbers the caller (the daemon's BanService, which keeps the
        counts in memory) already knows, in one transaction.

        Any ban of an ip not yet ended is closed first (at its expiry if that already passed,
        otherwise at the new start as "replaced"), so an ip has at most one open ban. Every ban
        counts as an offence for escalation, manual ones included."""
        if records:
            with self._tx() as db:
                self._insert_bans(db, records)

    @staticmethod
    def _insert_bans(db: sqlite3.Connection, records: Sequence[BanRecord]) -> None:
        """Close what each record replaces, then insert it, in runs of distinct ips (an ip banned twice
        in one batch: the later ban replaces the earlier). A few statements per run, whatever its
        size: the daemon's writer thread retakes the GIL once per statement step, not per ban."""
        i = 0
        while i < len(records):
            seen: set[str] = set()
            j = i
            while j < len(records) and records[j].ip not in seen:
                seen.add(records[j].ip)
                j += 1
            run = records[i:j]
            by_start: dict[float, list[str]] = {}
            for r in run:
                by_start.setdefault(r.start, []).append(r.ip)
            for start, ips in by_start.items():
                doc = json.dumps(ips)
                db.execute("UPDATE bans SET ended = expires, ended_by = 'expired' WHERE ended IS NULL "
                           "AND expires <= ? AND ip IN (SELECT value FROM json_each(?))", (start, doc))
                db.execute("UPDATE bans SET ended = ?, ended_by = 'replaced' WHERE ended IS NULL "
                           "AND ip IN (SELECT value FROM json_each(?))", (start, doc))
            rows = [(r.ip, r.reason, _dumps(r.evidence), r.start, r.expires, int(r.manual), r.offence) for r in run]
            full, rest = divmod(len(rows), BAN_ROWS)
            for k in range(0, full * BAN_ROWS, BAN_ROWS):
                db.execute(_INSERT_BANS_MANY, [x for row in rows[k:k + BAN_ROWS] for x in row])
            if rest:
                db.executemany(_INSERT_BAN, rows[full * BAN_ROWS:])
            i = j

    def offence_counts(self) -> dict[str, int]:
        """Bans so far per ip (what escalation needs), for the daemon to keep in memory."""
        return dict(self._query("SELECT ip, count(*) FROM bans GROUP BY ip"))

    def lift_ban(self, ip: str, at: float, by: str = "operator") -> bool:
        """End the active ban of `ip` at `at`; True if there was one."""
        with self._tx() as db:
            cur = db.execute(f"UPDATE bans SET ended = ?, ended_by = ? WHERE ip = ? AND {_OPEN}",
                             (at, by, ip, at))
            return cur.rowcount > 0

    def active_bans(self, now: float) -> list[BanRecord]:
        """Bans in force at `now` (not ended; permanent or expiring later), oldest first."""
        rows = self._query(f"SELECT {_BAN_COLUMNS} FROM bans WHERE {_OPEN} ORDER BY start, id", (now,))
        return [_ban(r) for r in rows]

    def get_ban(self, ip: str, now: float) -> BanRecord | None:
        rows = self._query(f"SELECT {_BAN_COLUMNS} FROM bans WHERE ip = ? AND {_OPEN} "
                           "ORDER BY start DESC, id DESC LIMIT 1", (ip, now))
        return _ban(rows[0]) if rows else None

    def offences(self, ip: str, since: float | None = None) -> int:
        """How many times `ip` was banned (starting at or after `since`, if given)."""
        if since is None:
            return self._query("SELECT count(*) FROM bans WHERE ip = ?", (ip,))[0][0]
        return self._query("SELECT count(*) FROM bans WHERE ip = ? AND start >= ?", (ip, since))[0][0]

    def expire(self, now: float) -> list[str]:
        """Close every ban whose time is up (ended = its expiry, by "expired"); return their ips."""
        with self._tx() as db:
            ips = [r[0] for r in db.execute(
                "SELECT DISTINCT ip FROM bans WHERE ended IS NULL AND expires <= ? ORDER BY ip", (now,))]
            db.execute("UPDATE bans SET ended = expires, ended_by = 'expired' "
                       "WHERE ended IS NULL AND expires <= ?", (now,))
        return ips

    def bans_between(self, since: float | None, until: float | None) -> list[BanRecord]:
        """Every ban in force at some time in [since, until) (started before `until`, not ended or
        expired before `since`), oldest first: what a chart of bans and unbans over a period needs."""
        lo = since if since is not None else float("-inf")
        hi = until if until is not None else float("inf")
        rows = self._query(f"SELECT {_BAN_COLUMNS} FROM bans WHERE start < ? AND "
                           "coalesce(ended, expires, 1e300) >= ? ORDER BY start, id", (hi, lo))
        return [_ban(r) for r in rows]

    def history(self, ip: str) -> list[BanRecord]:
        """Every ban of `ip`, oldest first."""
        rows = self._query(f"SELECT {_BAN_COLUMNS} FROM bans WHERE ip = ? ORDER BY start, id", (ip,))
        return [_ban(r) for r in rows]

    # -- read positions --------------------------------------------------------------------------

    def save_position(self, path: str, pos: Position, now: float) -> None:
        self.save_positions([(path, pos)], now)

    def save_positions(self, positions: Sequence[tuple[str, Position]], now: float) -> None:
        """The read positions of several files in one transaction."""
        with self._tx() as db:
            db.executemany("INSERT INTO positions (path, inode, offset, head_hash, updated) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT (path) DO UPDATE SET inode = excluded.inode, offset = excluded.offset, "
                       "head_hash = excluded.head_hash, updated = excluded.updated",
                       [(path, *pos, now) for path, pos in positions])

    def load_position(self, path: str) -> Position | None:
        rows = self._query("SELECT inode, offset, head_hash FROM positions WHERE path = ?", (path,))
        return Position(*rows[0]) if rows else None

    # -- event history ---------------------------------------------------------------------------

    def add_events(self, events: Sequence[Event]) -> None:
        """Append events in one transaction (the daemon batches them; one commit per batch).

        Rows go EVENT_ROWS at a time in one multi-row INSERT, bound from the Event tuples as they are
        (Event's field order; Kind is a str). One statement step per EVENT_ROWS rows matters in the
        daemon: the sqlite3 module releases and retakes the GIL around every step, and a writer thread
        that must win the GIL back per row falls far behind an event loop that is busy in a flood."""
        if not events:
            return
        full, rest = divmod(len(events), EVENT_ROWS)
        with self._tx() as db:
            for i in range(0, full * EVENT_ROWS, EVENT_ROWS):
                db.execute(_INSERT_EVENTS_MANY, [x for ev in events[i:i + EVENT_ROWS] for x in ev])
            if rest:
                db.executemany(_INSERT_EVENTS, events[full * EVENT_ROWS:])

    def events_for(self, ip: str | None, since: float | None = None, limit: int = 1000) -> list[dict]:
        """The newest `limit` events of `ip` (None: of every source) at or after `since`, in time order.

        Each dict has Event.to_dict()'s shape (ISO `time`, None fields left out) plus `ts`, the
        time in epoch seconds, for plotting."""
        where, params = "time >= ?", [since if since is not None else float("-inf")]
        if ip is not None:
            where += " AND ip = ?"
            params.append(ip)
        rows = self._query(f"SELECT {', '.join(_EVENT_COLUMNS)} FROM events WHERE {where} "
                           "ORDER BY time DESC, id DESC LIMIT ?", (*params, limit))
        out = []
        for row in reversed(rows):
            t = row[0]
            d: dict[str, Any] = {"time": iso(t) if t is not None else None, "ts": t, "ip": row[1], "kind": row[2]}
            d.update((k, v) for k, v in zip(_EVENT_FIELDS, row[3:], strict=True) if v is not None)
            out.append(d)
        return out

    def events_between(self, since: float | None, until: float | None, page: int = 20_000) -> Iterator[tuple]:
        """The history in [since, until) as rows in _EVENT_COLUMNS order (time, ip, kind, ...), in
        insertion order, read a page at a time: a report over millions of rows stays small in memory."""
        lo = since if since is not None else float("-inf")
        hi = until if until is not None else float("inf")
        last = -1
        while True:
            rows = self._query(f"SELECT id, {', '.join(_EVENT_COLUMNS)} FROM events WHERE id > ? AND time >= ? "
                               "AND time < ? ORDER BY id LIMIT ?", (last, lo, hi, page))
            if not rows:
                return
            for r in rows:
                yield r[1:]
            last = rows[-1][0]

    def activity(self, since: float, until: float, bucket: float = 60.0,
                 ip: str | None = None) -> list[tuple[float, str, int]]:
        """Events per (bucket start, kind) in [since, until), for a chart of an attack.

        Buckets are aligned to multiples of `bucket` since the epoch (a 60 s bucket starts on the
        minute), so charts from different queries line up. `ip` narrows to one source."""
        if bucket <= 0:
            raise ValueError(f"bucket must be a positive number of seconds, got {bucket}")
        where, params = "time >= ? AND time < ?", [since, until]
        if ip is not None:
            where += " AND ip = ?"
            params.append(ip)
        rows = self._query(
            f"SELECT CAST(time / ? AS INTEGER) AS b, kind, count(*) FROM events WHERE {where} "
            "GROUP BY b, kind ORDER BY b, kind", (bucket, *params))
        return [(b * bucket, kind, n) for b, kind, n in rows]

    def prune_events(self, before: float, max_rows: int | None = None) -> int:
        """Delete events older than `before`, then the oldest-inserted beyond `max_rows`; return
        how many went. Keeps the history bounded however long the daemon runs."""
        with self._tx() as db:
            n = db.execute("DELETE FROM events WHERE time < ?", (before,)).rowcount
            if max_rows is not None:
                if max_rows <= 0:
                    n += db.execute("DELETE FROM events").rowcount
                else:
                    row = db.execute("SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?",
                                     (max_rows,)).fetchone()
                    if row is not None:
                        n += db.execute("DELETE FROM events WHERE id <= ?", (row[0],)).rowcount
        return n

    def count_events(self) -> int:
        return self._query("SELECT count(*) FROM events")[0][0]

    # -- meta ------------------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else default

    def set_meta(self, key: str, value: str | None) -> None:
        """Set `key` to `value`; None deletes it."""
        with self._tx() as db:
            if value is None:
                db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                           "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))


def _statements(script: str) -> list[str]:
    """Split a migration script into complete statements (no triggers with inner `;` here)."""
    out, buf = [], ""
    for part in script.split(";"):
        buf += part + ";"
        if sqlite3.complete_statement(buf):
            text = "\n".join(ln for ln in buf.splitlines() if not ln.strip().startswith("--")).strip()
            if text != ";":
                out.append(buf.strip())
            buf = ""
    return out
