"""Offline scan: log files -> events (merged in event-time order) -> engine -> verdicts.

Streaming with bounded memory: each file is read line by line, its events pass a small
reorder buffer (the security log is written out of time order under load), and the files
are merged by time. The same engine the daemon runs decides.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .config import Config
from .detect.engine import Engine
from .events import Event, Verdict
from .parsers.logstream import LogParser
from .sources.logfile import LogFile
from .timefmt import Clock, tz_from_name

REORDER_SLACK = 30.0  # seconds an event may arrive late (in file order) and still be placed right


@dataclass
class ScanResult:
    verdicts: list[Verdict]
    engine: Engine
    lines: int = 0
    events: int = 0
    oversized: int = 0
    per_file: dict[str, int] = field(default_factory=dict)


def file_events(log: LogFile, cfg: Config, counter: dict | None = None) -> Iterator[Event]:
    """Events of one log file, in file order."""
    not_after = None
    if log.path != "-":
        try:
            not_after = os.stat(log.path).st_mtime
        except OSError:
            not_after = None
    parser = LogParser(Clock(log.year, tz_from_name(cfg.log.timezone), not_after), file=log.path)
    feed = parser.feed
    for n, line in enumerate(log.lines(), 1):
        evs = feed(line, n)
        if evs:
            yield from evs
    yield from parser.flush()
    if counter is not None:
        counter["lines"] = counter.get("lines", 0) + parser.lines
        counter["oversized"] = counter.get("oversized", 0) + parser.oversized


def reorder(events: Iterable[Event], slack: float = REORDER_SLACK) -> Iterator[tuple[float, int, Event]]:
    """(time, seq, event) in time order, provided no event is more than `slack` late.

    Events without a time (journald lines) take the time of the event before them.
    """
    heap: list[tuple[float, int, Event]] = []
    newest = 0.0
    last = 0.0
    push, pop = heapq.heappush, heapq.heappop
    for seq, ev in enumerate(events):
        t = ev.time
        if t is None:
            t = last
        else:
            last = t
        if t >= newest:
            newest = t
            if not heap:  # the common case: in order and nothing held back
                yield (t, seq, ev)
                continue
        push(heap, (t, seq, ev))
        edge = newest - slack
        while heap and heap[0][0] < edge:
            yield pop(heap)
    while heap:
        yield pop(heap)


def merged(logs: list[LogFile], cfg: Config, counter: dict) -> Iterator[Event]:
    streams = [reorder(file_events(log, cfg, counter)) for log in logs]
    if len(streams) == 1:
        for _, _, ev in streams[0]:
            yield ev
        return
    for _, _, ev in heapq.merge(*streams, key=lambda x: x[0]):
        yield ev


def run(logs: list[LogFile], cfg: Config, on_event: Callable[[Event], None] | None = None) -> ScanResult:
    engine = Engine(cfg.detect, cfg.whitelist_set())
    counter: dict = {}
    feed = engine.feed
    n = 0
    for ev in merged(logs, cfg, counter):
        n += 1
        if on_event is not None:
            on_event(ev)
        feed(ev)
    return ScanResult(engine.report(), engine, lines=counter.get("lines", 0), events=n,
                      oversized=counter.get("oversized", 0))
