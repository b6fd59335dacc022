"""Detection in the daemon: events from any source -> engine -> verdicts -> BanService, decided once per turn.

`Detection.feed(events)` is the one entry for events, whatever they come from (followed logs, HEP,
live capture, AMI, the fleet's remote events). The engine runs at once, in the order fed (one
thread owns it); the verdicts of a whole event-loop turn go to BanService together, so a burst of
2,000 attackers is one policy pass, one kernel transaction and one store transaction.

No exception escapes: an engine error on one event is counted (errors.engine) and the others in the
batch still count; a policy, store or kernel error is counted at its own stage.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable

from ..detect.engine import Engine
from ..events import Event, Verdict
from .bans import BanChange, BanService
from .errors import StageErrors
from .journal import Journal

HISTORY_BATCH = 10_000  # events buffered before a history write (bigger transactions: a spoofed flood
# spreads its rows over the whole (ip, time) index, and SQLite writes every page a commit touched)
# Wire requests and plain responses are raw volume (tens of thousands a second in a flood): verdicts
# keep their counts; the history keeps what was judged.
WIRE_VOLUME = frozenset({"request", "response"})


class Detection:
    def __init__(self, engine: Engine, bans: BanService, journal: Journal, errors: StageErrors,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.bans = bans
        self.journal = journal
        self.errors = errors
        self.clock = clock
        self.counts = {"events": 0, "verdicts": 0, "turns": 0}
        self.reasons: Counter[str] = Counter()  # verdicts by reason (metrics)
        self._verdicts: list[Verdict] = []
        self._history: list[Event] = []
        self._scheduled = False
        bans.listeners.append(self._on_change)

    def feed(self, events: Iterable[Event]) -> None:
        """Account for events from any source; their verdicts are decided at the end of this turn."""
        now = self.clock()
        verdicts = self._verdicts
        history = self._history
        feed = self.engine.feed
        n = 0
        for ev in events:
            n += 1
            if ev[0] is None:  # journald lines carry no time: they happen now
                ev = ev._replace(time=now)
            try:
                found = feed(ev)
            except Exception:
                self.errors.record("engine", f"event {ev.kind} from {ev.ip}")
                found = None
            if found:
                verdicts.extend(found)
            if (ev[1] is not None and ev[2] not in WIRE_VOLUME) or ev[2] == "tamper":
                history.append(ev)
        self.counts["events"] += n
        if len(history) >= HISTORY_BATCH:
            self.flush_history()
        if verdicts and not self._scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (tests, tools): decide now
                self.decide()
                return
            self._scheduled = True
            loop.call_soon(self.decide)

    def decide(self) -> None:
        """Hand the turn's verdicts to BanService (one batch)."""
        self._scheduled = False
        verdicts, self._verdicts = self._verdicts, []
        if not verdicts:
            return
        self.counts["verdicts"] += len(verdicts)
        self.counts["turns"] += 1
        self.reasons.update(str(v.reason) for v in verdicts)
        try:
            self.bans.apply(verdicts, self.clock())
        except Exception:
            self.errors.record("policy", f"applying {len(verdicts)} verdict(s)")

    def flush_history(self) -> None:
        batch, self._history = self._history, []
        self.journal.events(batch, self.clock())

    def _on_change(self, c: BanChange) -> None:
        if c.kind == "unban":  # judged afresh if it comes back
            self.engine.forget(c.ip)

    def status(self) -> dict:
        return {**self.counts, "tracked_sources": len(self.engine.sources), "tamper_events": self.engine.tamper}
