"""Offline scan: log files -> events (merged in event-time order) -> engine -> verdicts.

Streaming with bounded memory: each file is read line by line, its events pass a small
reorder buffer (the security log is written out of time order under load), and the files
are merged by time. The same engine the daemon runs decides.
"""

from __future__ import annotations

import gzip
import heapq
import io
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .config import Config
from .detect.engine import Engine
from .events import Event, Verdict
from .parsers.bulk import BulkParser
from .sources.logfile import LogFile, SourceError
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


CHUNK = 1 << 20  # characters read at a time: big enough to skip quiet lines at C speed, small in memory


def _chunks(log: LogFile) -> Iterator[str]:
    """The file's text in chunks, decoded as `LogFile.lines` decodes it (UTF-8, junk as U+FFFD)."""
    try:
        if log.path == "-":
            raw = sys.stdin.buffer
            opened = None
        else:
            opened = raw = open(log.path, "rb")  # noqa: SIM115 - closed below
            log._fh = opened  # for the progress bar (LogFile.progress)
            if log.path.endswith(".gz"):
                raw = gzip.GzipFile(fileobj=opened)
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        try:
            while chunk := text.read(CHUNK):
                yield chunk
        except (OSError, EOFError) as e:
            raise SourceError(f"{log.path}: read error: {e}") from None
        finally:
            if opened is not None:
                opened.close()
            log._fh = None
    except OSError as e:
        raise SourceError(f"{log.path}: cannot open: {e.strerror or e}") from None


def _parser(log: LogFile, cfg: Config) -> BulkParser:
    not_after = None
    if log.path != "-":
        try:
            not_after = os.stat(log.path).st_mtime
        except OSError:
            not_after = None
    return BulkParser(Clock(log.year, tz_from_name(cfg.log.timezone), not_after), file=log.path)


def file_batches(log: LogFile, cfg: Config, counter: dict | None = None) -> Iterator[list[Event]]:
    """Events of one log file, in file order, a chunk's worth at a time (see parsers/bulk.py)."""
    bulk = _parser(log, cfg)
    for chunk in _chunks(log):
        evs = bulk.feed(chunk)
        if evs:
            yield evs
    evs = bulk.close()
    if evs:
        yield evs
    if counter is not None:
        counter["lines"] = counter.get("lines", 0) + bulk.parser.lines
        counter["oversized"] = counter.get("oversized", 0) + bulk.parser.oversized


def file_events(log: LogFile, cfg: Config, counter: dict | None = None) -> Iterator[Event]:
    """Events of one log file, in file order."""
    for evs in file_batches(log, cfg, counter):
        yield from evs


def file_events_by_line(log: LogFile, cfg: Config, counter: dict | None = None) -> Iterator[Event]:
    """The same events through the line API the daemon uses (`LogParser.feed`): for tests."""
    parser = _parser(log, cfg).parser
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
