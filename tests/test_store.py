"""The SQLite store on real files: ban lifecycle, positions, event history, persistence, threads."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from sipwarden.events import Event, Kind
from sipwarden.sources.follow import Position
from sipwarden.store import BanRecord, Store, StoreError
from sipwarden.store.sqlite import SCHEMA_VERSION

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, on a minute boundary


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "sipwarden.db"


@pytest.fixture
def store(db: Path):
    with Store(db) as s:
        yield s


def ev(t: float | None, ip: str | None = "203.0.113.5", kind: Kind = Kind.AUTH_FAILED, **kw) -> Event:
    return Event(time=t, ip=ip, kind=kind, **kw)


# -- file, schema, modes ------------------------------------------------------------------------

def test_creates_file_schema_and_wal(db: Path, store: Store) -> None:
    assert db.is_file()
    assert store.schema_version() == SCHEMA_VERSION >= 1
    raw = sqlite3.connect(db)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        indexes = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        raw.close()
    assert {"bans", "positions", "events", "meta"} <= tables
    assert {"bans_ip_start", "bans_open", "events_ip_time", "events_time_kind"} <= indexes
    assert store._query("PRAGMA synchronous")[0][0] == 1  # NORMAL


def test_queries_use_indexes(store: Store) -> None:
    def plan(sql: str, params: tuple) -> str:
        return " ".join(r[3] for r in store._query("EXPLAIN QUERY PLAN " + sql, params))

    assert "USING INDEX events_ip_time" in plan("SELECT * FROM events WHERE ip = ? AND time >= ?", ("x", 0))
    assert "events_time_kind" in plan("SELECT kind, count(*) FROM events WHERE time >= ? AND time < ? "
                                      "GROUP BY kind", (0, 1))
    assert "bans_ip_start" in plan("SELECT * FROM bans WHERE ip = ?", ("x",))


def test_reopen_keeps_everything_and_does_not_remigrate(db: Path) -> None:
    with Store(db) as s:
        s.add_ban("203.0.113.5", "bruteforce", {"events": 7, "accounts": ["100", "101"]}, T0, T0 + 600)
        s.save_position("/var/log/asterisk/messages", Position(42, 1234, "abc"), T0)
        s.add_events([ev(T0 + i) for i in range(5)])
        s.set_meta("engine", "v1")
    with Store(db) as s:  # a daemon restart
        assert s.schema_version() == SCHEMA_VERSION
        ban = s.get_ban("203.0.113.5", T0 + 1)
        assert ban is not None and ban.evidence == {"events": 7, "accounts": ["100", "101"]}
        assert s.load_position("/var/log/asterisk/messages") == Position(42, 1234, "abc")
        assert len(s.events_for("203.0.113.5")) == 5
        assert s.get_meta("engine") == "v1"


def test_refuses_newer_schema_and_non_databases(tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    raw = sqlite3.connect(newer)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StoreError, match="newer sipwarden"):
        Store(newer)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="junk.db"):
        Store(junk)


def test_migration_upgrades_in_place_and_is_atomic(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sipwarden.store import sqlite as mod

    with Store(db) as s:
        s.add_ban("192.0.2.1", "flood", {}, T0, T0 + 60)
    broken = "CREATE TABLE notes (ip TEXT); INSERT INTO no_such_table VALUES (1);"
    monkeypatch.setattr(mod, "_MIGRATIONS", (*mod._MIGRATIONS, broken))
    monkeypatch.setattr(mod, "SCHEMA_VERSION", len(mod._MIGRATIONS))
    with pytest.raises(StoreError, match="no_such_table"):
        Store(db)
    raw = sqlite3.connect(db)
    try:  # the failed step left nothing behind: still version 1, no half-made table
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
        assert raw.execute("SELECT count(*) FROM sqlite_master WHERE name = 'notes'").fetchone()[0] == 0
    finally:
        raw.close()
    monkeypatch.setattr(mod, "_MIGRATIONS", (*mod._MIGRATIONS[:-1], "CREATE TABLE notes (ip TEXT); -- v2"))
    with Store(db) as s:
        assert s.schema_version() == 2
        assert s.offences("192.0.2.1") == 1  # data kept across the upgrade
        assert s._query("SELECT count(*) FROM notes")[0][0] == 0


def test_closed_store_refuses_use(db: Path) -> None:
    s = Store(db)
    s.close()
    with pytest.raises(sqlite3.ProgrammingError):
        s.active_bans(T0)


# -- bans ---------------------------------------------------------------------------------------

def test_ban_lifecycle_expire(store: Store) -> None:
    rec = store.add_ban("203.0.113.5", "bruteforce", {"events": 9}, T0, T0 + 600)
    assert rec == BanRecord("203.0.113.5", "bruteforce", {"events": 9}, T0, T0 + 600, False, 1)
    assert store.get_ban("203.0.113.5", T0 + 599) == rec
    assert store.active_bans(T0 + 599) == [rec]
    # Past its expiry a ban is no longer active even before the daemon ticks expire().
    assert store.get_ban("203.0.113.5", T0 + 600) is None
    assert store.active_bans(T0 + 600) == []
    assert store.expire(T0 + 599) == []
    assert store.expire(T0 + 700) == ["203.0.113.5"]
    assert store.expire(T0 + 800) == []  # ticked once only
    (h,) = store.history("203.0.113.5")
    assert (h.ended, h.ended_by) == (T0 + 600, "expired")  # ended when it really expired


def test_permanent_ban_never_expires(store: Store) -> None:
    store.add_ban("198.51.100.7", "manual", {}, T0, None, manual=True)
    assert store.expire(T0 + 10 * 365 * 86400) == []
    ban = store.get_ban("198.51.100.7", T0 + 10 * 365 * 86400)
    assert ban is not None and ban.manual and ban.expires is None
    assert ban.to_dict()["permanent"] is True and ban.to_dict()["expires"] is None


def test_add_ban_replaces_active_ban_and_counts_offences(store: Store) -> None:
    ip = "203.0.113.5"
    store.add_ban(ip, "flood", {}, T0, T0 + 600)
    second = store.add_ban(ip, "manual", {"note": "longer"}, T0 + 60, None, manual=True)
    assert second.offence == 2
    assert store.active_bans(T0 + 61) == [second]  # one open ban per ip
    first, again = store.history(ip)
    assert (first.ended, first.ended_by) == (T0 + 60, "replaced")
    assert again == second
    assert store.offences(ip) == 2
    assert store.offences("192.0.2.1") == 0


def test_offences_since_window_and_ordinal(store: Store) -> None:
    ip = "2001:db8::5"
    for i in range(4):
        start = T0 + i * 1000
        rec = store.add_ban(ip, "bruteforce", {}, start, start + 100)
        assert rec.offence == i + 1
    assert store.offences(ip) == 4
    assert store.offences(ip, since=T0 + 1000) == 3
    assert store.offences(ip, since=T0 + 5000) == 0
    # Earlier bans had run out before the next began: closed as expired, not as replaced.
    assert [b.ended_by for b in store.history(ip)] == ["expired", "expired", "expired", None]


def test_lift_ban(store: Store) -> None:
    store.add_ban("203.0.113.5", "scanner", {}, T0, T0 + 600)
    assert store.lift_ban("203.0.113.5", T0 + 30, by="cli") is True
    assert store.get_ban("203.0.113.5", T0 + 31) is None
    assert store.lift_ban("203.0.113.5", T0 + 40) is False  # nothing left to lift
    assert store.lift_ban("192.0.2.99", T0) is False
    (h,) = store.history("203.0.113.5")
    assert (h.ended, h.ended_by) == (T0 + 30, "cli")
    assert store.expire(T0 + 10_000) == []  # a lifted ban is not reported as expiring later
    # An already expired (unticked) ban cannot be lifted: it is not in force.
    store.add_ban("192.0.2.50", "flood", {}, T0, T0 + 10)
    assert store.lift_ban("192.0.2.50", T0 + 11) is False


def test_active_bans_several_ips_and_to_dict(store: Store) -> None:
    a = store.add_ban("192.0.2.1", "flood", {"rate": 100}, T0, T0 + 60)
    b = store.add_ban("2001:db8::1", "enumeration", {"accounts": ["a", "b"]}, T0 + 1, T0 + 6000)
    assert store.active_bans(T0 + 2) == [a, b]
    assert store.active_bans(T0 + 100) == [b]
    d = a.to_dict()
    assert d["start"] == "2026-01-01T00:00:00.000Z" and d["expires"] == "2026-01-01T00:01:00.000Z"
    assert d["evidence"] == {"rate": 100} and d["offence"] == 1 and d["ended"] is None


def test_evidence_with_tuples_round_trips_as_json(store: Store) -> None:
    rec = store.add_ban("192.0.2.1", "bruteforce", {"accounts": ("100", "101"), "n": 3}, T0, T0 + 60)
    assert rec.evidence == {"accounts": ["100", "101"], "n": 3}  # what is returned is what was stored
    assert store.history("192.0.2.1")[0].evidence == rec.evidence


# -- positions ----------------------------------------------------------------------------------

def test_positions_round_trip_and_update(store: Store) -> None:
    assert store.load_position("/var/log/asterisk/messages") is None
    store.save_position("/var/log/asterisk/messages", Position(1001, 500, "h1"), T0)
    store.save_position("/var/log/asterisk/security", Position(1002, 70, "h2"), T0)
    store.save_position("/var/log/asterisk/messages", Position(2002, 0, "h3"), T0 + 5)  # rotated
    assert store.load_position("/var/log/asterisk/messages") == Position(2002, 0, "h3")
    assert store.load_position("/var/log/asterisk/security") == Position(1002, 70, "h2")
    assert store._query("SELECT updated FROM positions WHERE path = ?", ("/var/log/asterisk/messages",)) == [(T0 + 5,)]


# -- events -------------------------------------------------------------------------------------

def test_events_add_and_query(store: Store) -> None:
    store.add_events([
        ev(T0 + 1, kind=Kind.UNKNOWN_ACCOUNT, account="100", user_agent="friendly-scanner", method="REGISTER",
           origin="messages", detail="No matching peer found", file="/var/log/asterisk/messages", line=17,
           port=5070, transport="udp", fingerprint="sipvicious"),
        ev(T0 + 2, account="101"),
        ev(T0 + 3, ip="192.0.2.9"),
        ev(None, ip=None, kind=Kind.TAMPER),
    ])
    assert store.add_events([]) is None  # nothing to do, no error
    got = store.events_for("203.0.113.5")
    assert [e["ts"] for e in got] == [T0 + 1, T0 + 2]
    first = got[0]
    assert first == {"time": "2026-01-01T00:00:01.000Z", "ts": T0 + 1, "ip": "203.0.113.5",
                     "kind": "unknown_account", "account": "100", "user_agent": "friendly-scanner",
                     "method": "REGISTER", "origin": "messages", "detail": "No matching peer found",
                     "file": "/var/log/asterisk/messages", "line": 17, "port": 5070, "transport": "udp",
                     "fingerprint": "sipvicious"}
    assert got[1] == {"time": "2026-01-01T00:00:02.000Z", "ts": T0 + 2, "ip": "203.0.113.5",
                      "kind": "auth_failed", "account": "101"}
    assert [e["ts"] for e in store.events_for("203.0.113.5", since=T0 + 2)] == [T0 + 2]
    assert store.count_events() == 4


def test_events_for_limit_keeps_newest_in_time_order(store: Store) -> None:
    # Security logs arrive out of time order: the limit applies to event time, not insertion.
    store.add_events([ev(T0 + t) for t in (5, 1, 9, 3, 7)])
    assert [e["ts"] - T0 for e in store.events_for("203.0.113.5", limit=3)] == [5, 7, 9]


def test_activity_buckets_per_kind(store: Store) -> None:
    events = [ev(T0 + i, kind=Kind.AUTH_FAILED) for i in range(0, 120, 10)]  # 6 per minute, 2 minutes
    events += [ev(T0 + 61, kind=Kind.UNKNOWN_ACCOUNT), ev(T0 + 62, ip="192.0.2.9", kind=Kind.UNKNOWN_ACCOUNT)]
    events += [ev(T0 + 300), ev(T0 - 1)]  # outside [since, until)
    store.add_events(events)
    assert store.activity(T0, T0 + 180) == [
        (T0, "auth_failed", 6),
        (T0 + 60, "auth_failed", 6),
        (T0 + 60, "unknown_account", 2),
    ]
    assert store.activity(T0, T0 + 180, bucket=3600) == [(T0, "auth_failed", 12), (T0, "unknown_account", 2)]
    assert store.activity(T0, T0 + 180, ip="192.0.2.9") == [(T0 + 60, "unknown_account", 1)]
    # Buckets align to the epoch, not to `since`: a query from mid-minute still starts on the minute.
    assert store.activity(T0 + 30, T0 + 60)[0] == (T0, "auth_failed", 3)
    with pytest.raises(ValueError, match="bucket"):
        store.activity(T0, T0 + 60, bucket=0)


def test_prune_by_age_and_row_cap(store: Store) -> None:
    store.add_events([ev(T0 + i) for i in range(100)])
    assert store.prune_events(before=T0 + 40) == 40
    assert store.count_events() == 60
    assert store.prune_events(before=T0, max_rows=25) == 35
    remaining = store.events_for("203.0.113.5")
    assert [e["ts"] - T0 for e in remaining] == list(range(75, 100))  # the newest kept
    assert store.prune_events(before=T0, max_rows=25) == 0
    assert store.prune_events(before=T0, max_rows=0) == 25
    assert store.count_events() == 0


# -- meta ---------------------------------------------------------------------------------------

def test_meta(store: Store) -> None:
    assert store.get_meta("last_reconcile") is None
    assert store.get_meta("last_reconcile", "never") == "never"
    store.set_meta("last_reconcile", "1")
    store.set_meta("last_reconcile", "2")
    assert store.get_meta("last_reconcile") == "2"
    store.set_meta("last_reconcile", None)
    assert store.get_meta("last_reconcile") is None


# -- concurrency --------------------------------------------------------------------------------

def test_two_threads_share_one_store(store: Store, db: Path) -> None:
    """The daemon's loop thread and an executor thread write at once: nothing lost, nothing torn."""
    n = 200
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def banner() -> None:
        try:
            start.wait()
            for i in range(n):
                store.add_ban("203.0.113.5", "flood", {"i": i}, T0 + i, T0 + i + 1000)
                store.active_bans(T0 + i)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def logger() -> None:
        try:
            start.wait()
            for i in range(n):
                store.add_events([ev(T0 + i, ip="192.0.2.1"), ev(T0 + i, ip="192.0.2.2")])
                store.save_position("/log", Position(1, i, "h"), T0 + i)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=banner), threading.Thread(target=logger)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert store.offences("203.0.113.5") == n
    assert [b.offence for b in store.history("203.0.113.5")] == list(range(1, n + 1))
    assert len(store.active_bans(T0 + n)) == 1  # every replacement closed the previous ban
    assert store.count_events() == 2 * n
    assert store.load_position("/log").offset == n - 1
    assert store._query("PRAGMA integrity_check")[0][0] == "ok"


def test_second_connection_sees_commits(db: Path) -> None:
    """The CLI may open the same file while the daemon runs: every call is committed on return."""
    with Store(db) as daemon, Store(db) as cli:
        daemon.add_ban("192.0.2.1", "scanner", {}, T0, T0 + 60)
        assert [b.ip for b in cli.active_bans(T0 + 1)] == ["192.0.2.1"]
        assert cli.lift_ban("192.0.2.1", T0 + 2, by="cli")
        assert daemon.get_ban("192.0.2.1", T0 + 3) is None


def test_events_in_many_row_inserts_keep_every_field_and_the_order(store: Store) -> None:
    from sipwarden.store.sqlite import EVENT_ROWS
    n = 2 * EVENT_ROWS + 7  # two full multi-row statements and a rest
    events = [ev(T0 + i, account=f"u{i}", origin="security", detail=f"d{i}", file="messages", line=i, port=5060)
              for i in range(n)]
    store.add_events(events)
    got = store.events_for("203.0.113.5", limit=n + 10)
    assert len(got) == n == store.count_events()
    assert [g["line"] for g in got] == list(range(n))
    assert got[EVENT_ROWS] == {"time": got[EVENT_ROWS]["time"], "ts": T0 + EVENT_ROWS, "ip": "203.0.113.5",
                               "kind": "auth_failed", "port": 5060, "account": f"u{EVENT_ROWS}",
                               "origin": "security", "detail": f"d{EVENT_ROWS}", "file": "messages",
                               "line": EVENT_ROWS}


def test_add_bans_in_many_rows_and_a_repeated_ip_in_one_batch(store: Store) -> None:
    from sipwarden.store.sqlite import BAN_ROWS, BanRecord
    old = store.add_ban("203.0.113.9", "bruteforce", {}, T0 - 100, T0 - 50)  # expired, not ticked yet
    recs = [BanRecord(f"2001:db8::{i:x}", "flood", {"n": i}, T0, T0 + 600, False, 1) for i in range(BAN_ROWS + 3)]
    recs += [BanRecord("203.0.113.9", "scanner", {}, T0, T0 + 600, False, 2),
             BanRecord("203.0.113.9", "manual", {}, T0 + 1, None, True, 3)]  # the same ip again, same batch
    store.add_bans(recs)
    active = {b.ip: b for b in store.active_bans(T0 + 2)}
    assert len(active) == BAN_ROWS + 4
    assert active["2001:db8::1f4"].evidence == {"n": 500}
    hist = store.history("203.0.113.9")
    assert [(h.reason, h.ended_by) for h in hist] == [("bruteforce", "expired"), ("scanner", "replaced"),
                                                      ("manual", None)]
    assert hist[0].ended == old.expires and hist[1].ended == T0 + 1
