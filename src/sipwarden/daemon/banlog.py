"""BAN/UNBAN log lines that hold under a flood.

While the rate is humane each ban gets its line (`BAN ip for 10m: reason - evidence (why)`); past
PER_SECOND lines in a second the rest are summed up once a second:
`BAN 1,843 more sources in 1.0 s: enumeration 1,800, bruteforce 43; first 203.0.113.5, ...`, so
journald is never the bottleneck. Nothing is lost: the store and `sipwarden bans` hold every ban.
A listener of BanService (an output, like notifications).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

from .bans import BanChange

log = logging.getLogger("sipwarden")

PER_SECOND = 20  # lines per second and kind before summing up
FIRST_SHOWN = 3


class BanLog:
    def __init__(self, clock: Callable[[], float] = time.monotonic, per_second: int = PER_SECOND) -> None:
        self.clock = clock
        self.per_second = per_second
        self._start = clock()
        self._lines = {"ban": 0, "unban": 0}
        self._held: dict[str, Counter[str]] = {"ban": Counter(), "unban": Counter()}
        self._first: dict[str, list[str]] = {"ban": [], "unban": []}

    def __call__(self, c: BanChange) -> None:
        self.tick()
        if c.kind == "ban" and c.reason == "compromise":  # a cracked account: always its own line, first in rank
            log.error("COMPROMISE %s: %s - banned for %s (%s)", c.ip, c.evidence.get("evidence", ""),
                      span(c.duration), c.why)
            return
        if self._lines[c.kind] < self.per_second:
            self._lines[c.kind] += 1
            if c.kind == "ban":
                log.warning("BAN %s for %s: %s - %s (%s)", c.ip, span(c.duration), c.reason,
                            c.evidence.get("evidence", ""), c.why)
            else:
                log.warning("UNBAN %s (%s)", c.ip, "ban expired" if c.origin == "expired" else c.origin)
            return
        self._held[c.kind][c.reason if c.kind == "ban" else c.origin] += 1
        if len(self._first[c.kind]) < FIRST_SHOWN:
            self._first[c.kind].append(c.ip)

    def tick(self) -> None:
        """Once a second (also called on each change): the summary of what was held back."""
        now = self.clock()
        elapsed = now - self._start
        if elapsed < 1.0:
            return
        for kind, held in self._held.items():
            n = sum(held.values())
            if n:
                parts = ", ".join(f"{k} {v:,}" for k, v in held.most_common())
                log.warning("%s %s more sources in %.1f s: %s; first %s (all in `sipwarden bans` and the store)",
                            kind.upper(), f"{n:,}", elapsed, parts, ", ".join(self._first[kind]))
                held.clear()
                self._first[kind] = []
        self._lines = {"ban": 0, "unban": 0}
        self._start = now


def span(seconds: float | None) -> str:
    if seconds is None:
        return "ever"
    if seconds >= 86400:
        return f"{seconds / 86400:g}d"
    if seconds >= 3600:
        return f"{seconds / 3600:g}h"
    if seconds >= 60:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"
