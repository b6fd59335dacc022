"""The store's writes, on a worker thread: bans, lifts, expiries, read positions and the event
history reach SQLite in the order the event loop decided them, one transaction per merged batch.

The order is what makes a crash safe: a file's read position is queued after the bans decided from
the lines before it, so after a kill -9 either a ban is in the store or its lines are read again
(and the ban decided again). The loop never waits for the disk; it reads bans and offences from
memory (bans.BanService), so nothing here is read back while the daemon runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..events import Event
from ..sources.follow import Position
from ..store.sqlite import BanRecord, Store
from .errors import StageErrors
from .worker import OrderedWorker

HISTORY_MAX_ROWS = 2_000_000
HISTORY_DAYS = 14
log = logging.getLogger("sipwarden")

PRUNE_EVERY = 100_000  # history rows written between prunes
HISTORY_QUEUED_MAX = 50_000  # history rows waiting for the disk, at most (~20 MB; bans are never dropped)


class Journal:
    def __init__(self, store: Store, errors: StageErrors, threaded: bool = True) -> None:
        self.store = store
        self.errors = errors
        self.rows = 0
        self._since_prune = 0
        self.bans_written = 0
        self.error: str | None = None  # the last write failed (a full disk...): `status` says DEGRADED
        self._delayed: list[tuple[str, list]] = []  # writes that failed, retried in order before new ones
        self.history_dropped = 0  # event rows not written: the store failed or was far behind (bans never are)
        self.history_in = 0  # rows queued (counted on the loop) ...
        self.history_out = 0  # ... and taken by the thread (counted there): no shared counter to race on
        self.worker = OrderedWorker("store", self._run, frozenset({"bans", "events"}), threaded,
                                    max_items=1 << 30)  # nothing is dropped: the bans are in memory anyway

    # -- from the event loop ---------------------------------------------------------------------

    def bans(self, records: Sequence[BanRecord]) -> None:
        if records:
            self.worker.submit("bans", records)

    def lift(self, ip: str, at: float, by: str) -> None:
        self.worker.submit("lift", (ip, at, by))

    def expire(self, now: float) -> None:
        self.worker.submit("expire", now)

    def positions(self, positions: list[tuple[str, Position]], now: float) -> None:
        if positions:
            self.worker.submit("positions", (positions, now))

    def events(self, events: list[Event], now: float) -> None:
        """History rows: kept unless the disk is far behind (then counted in `history_dropped`)."""
        if not events:
            return
        if self.history_in - self.history_out + len(events) > HISTORY_QUEUED_MAX:
            self.history_dropped += len(events)
            return
        self.history_in += len(events)
        self.worker.submit("events", (events, now))

    def barrier(self):  # noqa: ANN201 - a concurrent.futures.Future
        return self.worker.barrier()

    def close(self) -> None:
        self.worker.close()

    def status(self) -> dict:
        return {"queued": self.worker.pending(), "batches": self.worker.batches, "bans_written": self.bans_written,
                "history_rows": self.rows, "error": self.error, "delayed_writes": len(self._delayed),
                "history_dropped": self.history_dropped}

    # -- on the worker thread --------------------------------------------------------------------

    def _run(self, kind: str, payloads: list) -> None:
        """Write in order. A write that fails (a full disk, a locked file) is counted, logged once per
        kind of error, and kept: it and everything after it are retried in order with the next write,
        so bans, lifts and read positions reach the store once it works again (the kernel had them all
        along). History rows are dropped while the store fails: volume, not decisions."""
        if kind == "events":
            self.history_out += sum(len(batch) for batch, _ in payloads)
        if kind == "events" and self._delayed:
            self.history_dropped += sum(len(batch) for batch, _ in payloads)
            kind, payloads = "retry", []
        if kind != "retry":
            if kind == "positions" and self._delayed and self._delayed[-1][0] == "positions":
                self._delayed[-1] = (kind, payloads)  # a newer snapshot of every file's position
            else:
                self._delayed.append((kind, payloads))
        while self._delayed:
            k, p = self._delayed[0]
            try:
                self._write(k, p)
            except Exception as e:
                if k == "events":  # never kept: see above
                    self._delayed.pop(0)
                    self.history_dropped += sum(len(batch) for batch, _ in p)
                if self.error is None:
                    self.errors.record("store", f"writing {k}")
                else:
                    self.errors.counts["store"] += 1
                self.error = f"writing {k}: {e}"
                return
            self._delayed.pop(0)
        if self.error is not None:
            log.warning("store: writes work again (%s before); delayed writes done", self.error)
            self.error = None

    def _write(self, kind: str, payloads: list) -> None:
        st = self.store
        if kind == "bans":
            recs = [r for batch in payloads for r in batch]
            st.add_bans(recs)
            self.bans_written += len(recs)
        elif kind == "lift":
            ip, at, by = payloads[0]
            st.lift_ban(ip, at, by=by)
        elif kind == "expire":
            st.expire(payloads[0])
        elif kind == "positions":
            positions, now = payloads[0]
            st.save_positions(positions, now)
        elif kind == "events":
            evs = [e for batch, _ in payloads for e in batch]
            st.add_events(evs)
            self.rows += len(evs)
            self._since_prune += len(evs)
            if self._since_prune >= PRUNE_EVERY:
                self._since_prune = 0
                st.prune_events(payloads[-1][1] - HISTORY_DAYS * 86400, HISTORY_MAX_ROWS)
