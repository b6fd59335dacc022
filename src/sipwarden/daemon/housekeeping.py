"""Once a second, on the loop: decide what is pending, end bans whose time is up, save read
positions (after the bans decided before them, through the same ordered store writer), write the
event history, re-read files where inotify is missing (and every POLL seconds anyway), reconcile
the kernel with the bans in memory, and let the ban log sum up. Each job's error is counted and the
others still run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from .banlog import BanLog
from .bans import BanService
from .detection import Detection
from .errors import StageErrors
from .journal import Journal
from .logs import LogSources

TICK = 1.0
POLL = 5.0  # safety re-read of every file even when inotify is quiet


class Housekeeping:
    def __init__(self, detection: Detection, bans: BanService, journal: Journal, logs: LogSources, banlog: BanLog,
                 errors: StageErrors, reconcile_interval: float, clock: Callable[[], float] = time.time) -> None:
        self.detection, self.bans, self.journal, self.logs, self.banlog = detection, bans, journal, logs, banlog
        self.errors = errors
        self.reconcile_interval = reconcile_interval
        self.clock = clock
        self._last_poll = self._last_reconcile = clock()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            self.round()

    def round(self) -> None:
        for job in (self._expire, self._poll, self._reconcile, self._positions, self.banlog.tick):
            try:
                job()
            except Exception:  # housekeeping must go on whatever happens
                self.errors.record("housekeeping", getattr(job, "__name__", "job"))

    def _expire(self) -> None:
        self.bans.expire(self.clock())

    def _poll(self) -> None:
        now = self.clock()
        if now - self._last_poll >= POLL or self.logs.polling:
            self._last_poll = now
            self.logs.read_all()

    def _reconcile(self) -> None:
        now = self.clock()
        if self.bans.kernel.needs_reconcile or now - self._last_reconcile >= self.reconcile_interval:
            self._last_reconcile = now
            self.bans.reconcile(now)

    def _positions(self) -> None:
        self.detection.decide()  # the bans of lines already read are queued before their position
        self.detection.flush_history()
        self.journal.positions(self.logs.positions(), self.clock())
