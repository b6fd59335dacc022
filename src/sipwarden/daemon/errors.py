"""Errors counted per stage: whatever one part raises is caught at its edge, counted, logged once
with its traceback, and the rest of the batch goes on (one bad event must not drop the others)."""

from __future__ import annotations

import logging
from collections import Counter

log = logging.getLogger("sipwarden")

STAGES = ("parse", "engine", "policy", "store", "kernel", "output", "control", "housekeeping", "source")


class StageErrors:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter({s: 0 for s in STAGES})
        self._logged: set[tuple[str, str]] = set()

    def record(self, stage: str, what: str) -> None:
        """Call inside `except`: count it; the first error of each kind per stage is logged with its
        traceback, later ones at debug level (a per-event bug in a flood must not flood the log)."""
        self.counts[stage] += 1
        import sys
        exc = sys.exc_info()[1]
        key = (stage, type(exc).__name__)
        if key in self._logged:
            log.debug("%s: %s (error %d in this stage)", stage, what, self.counts[stage], exc_info=True)
            return
        self._logged.add(key)
        log.exception("%s: %s; counted in `sipwarden status` (errors.%s), later ones of this kind are "
                      "not logged again", stage, what, stage)

    def status(self) -> dict:
        return dict(self.counts)
