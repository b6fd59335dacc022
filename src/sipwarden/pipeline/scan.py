"""Offline scan: logs and captures -> events (merged in event-time order) -> engine -> verdicts.

The one reading path of `scan`, `explain` and `report`: `open_inputs` tells captures from logs
and checks the logs now; `run` reads them all through the same engine the daemon runs.
Streaming with bounded memory: each log is read chunk by chunk (serial.py; a big plain file
by two processes, parallel.py), each file's events pass a small reorder buffer and the files
are merged by time (order.py); captures come in through capture.py.
"""

from __future__ import annotations

import gc
import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .. import compiled
from ..config import Config
from ..detect.engine import Engine
from ..events import Event, Verdict
from ..sources.logfile import LogFile, SourceError, open_log
from .order import merge_by_time, reorder
from .parallel import CUT_SEARCH, PARALLEL_MIN, parallel_batches
from .serial import serial_batches


@dataclass
class ScanResult:
    verdicts: list[Verdict]
    engine: Engine
    lines: int = 0
    events: int = 0
    oversized: int = 0
    per_file: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # per capture: what was read, what was skipped


def open_inputs(paths: tuple[str, ...] | list[str], cfg: Config,
                unread: list[str] | None = None) -> tuple[list[LogFile], list[str]]:
    """(logs, captures) of the operator's paths, logs checked now. With `unread` (scan, explain) a
    log that cannot be opened or read to its end is noted there and the others are read; without
    it the first such file raises SourceError."""
    from ..sources.filetype import is_capture
    captures = [p for p in paths if is_capture(p)]
    rest = [p for p in paths if p not in captures]
    logs = []
    for p in rest:
        try:
            lg = open_log(p, cfg.log.year)
        except SourceError as e:
            if unread is None:
                raise
            unread.append(str(e))
            continue
        lg.keep_going = unread is not None
        logs.append(lg)
    return logs, captures


def file_batches(log: LogFile, cfg: Config, counter: dict | None = None,
                 parallel_min: int | None = None) -> Iterator[list[Event]]:
    """Events of one log file, in file order, a chunk's worth at a time (see parsers/stream.py).

    A big plain file is split among processes (parallel.py); `parallel_min` overrides the size
    from which it is (tests force small files through that path).
    """
    if parallel_min is None:
        parallel_min = PARALLEL_MIN
    if (log.path != "-" and not log.path.endswith(".gz") and log.size >= parallel_min and hasattr(os, "fork")
            and (os.cpu_count() or 1) > 1):
        yield from parallel_batches(log, cfg, counter, min(CUT_SEARCH, log.size // 4))
        return
    yield from serial_batches(log, cfg, counter)


def file_events(log: LogFile, cfg: Config, counter: dict | None = None,
                parallel_min: int | None = None) -> Iterator[Event]:
    """Events of one log file, in file order."""
    return itertools.chain.from_iterable(file_batches(log, cfg, counter, parallel_min))


def merged(logs: list[LogFile], cfg: Config, counter: dict) -> Iterator[Event]:
    """The events of every log, in event-time order."""
    return merge_by_time([reorder(file_events(log, cfg, counter)) for log in logs])


_ACCEL = compiled.load("sipwarden.pipeline._accel")
GC_YOUNG = 100_000  # allocations between young-generation collections during a scan (default 700)
GC_OLDER = 50  # young (then middle) collections between the older ones' (default 10)


def run(logs: list[LogFile], cfg: Config, on_event: Callable[[Event], None] | None = None,
        captures: list[str] | tuple[str, ...] = ()) -> ScanResult:
    """Scan the logs and captures. The cyclic GC runs less often meanwhile: a scan allocates an event
    tuple or more per log line and makes next to no cycles, so default young collections cost
    15-30% of the CPU. Where built, malloc keeps the chunk-sized blocks for reuse (`keep_buffers`)."""
    saved = gc.get_threshold()
    gc.set_threshold(max(saved[0], GC_YOUNG), max(saved[1], GC_OLDER), max(saved[2], GC_OLDER))
    if _ACCEL is not None:
        _ACCEL.keep_buffers()
    try:
        return _run(logs, cfg, on_event, captures)
    finally:
        gc.set_threshold(*saved)


def _run(logs: list[LogFile], cfg: Config, on_event: Callable[[Event], None] | None,
         captures: list[str] | tuple[str, ...]) -> ScanResult:
    engine = Engine(cfg.detect, cfg.whitelist_set())
    counter: dict = {}
    notes: list[str] = []
    events = merged(logs, cfg, counter)
    if captures:
        from .capture import capture_events, intake_for
        intake = intake_for(cfg)
        streams: list[Iterator[tuple[float, int, Event]]] = [reorder(capture_events(p, intake, notes))
                                                             for p in captures]
        if logs:
            streams.append((ev.time or 0.0, 0, ev) for ev in events)
        events = merge_by_time(streams)
    feed = engine.feed
    n = 0
    for ev in events:
        n += 1
        if on_event is not None:
            on_event(ev)
        feed(ev)
    return ScanResult(engine.report(), engine, lines=counter.get("lines", 0), events=n,
                      oversized=counter.get("oversized", 0), notes=notes)
