"""One log file through one LogStream, chunk by chunk, in this process (the serial scan).

The chunk entry of the stream (parsers/stream.py) is the scan's fast path; `parallel.py` runs
the same functions on both sides of its cut.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from ..config import Config
from ..events import Event
from ..parsers.stream import LogStream
from ..sources.logfile import LogFile
from ..timefmt import Clock, tz_from_name

CHUNK = 1 << 20  # characters read at a time: big enough to skip quiet lines at C speed, small in memory


def log_stream(log: LogFile, cfg: Config) -> LogStream:
    """A fresh stream for `log`: its year, the configured zone, no time after its modification."""
    not_after = None
    if log.path != "-":
        try:
            not_after = os.stat(log.path).st_mtime
        except OSError:
            not_after = None
    return LogStream(Clock(log.year, tz_from_name(cfg.log.timezone), not_after), file=log.path)


def feed_all(stream: LogStream, chunks: Iterable[str]) -> Iterator[list[Event]]:
    """The non-empty event batches of `chunks` through `stream`, then what it holds at the end."""
    for chunk in chunks:
        evs = stream.feed_chunk(chunk)
        if evs:
            yield evs
    evs = stream.close()
    if evs:
        yield evs


def serial_batches(log: LogFile, cfg: Config, counter: dict | None) -> Iterator[list[Event]]:
    """The event batches of `log`; its line and oversized counts added to `counter`."""
    stream = log_stream(log, cfg)
    yield from feed_all(stream, log.chunks(CHUNK))
    if counter is not None:
        counter["lines"] = counter.get("lines", 0) + stream.lines
        counter["oversized"] = counter.get("oversized", 0) + stream.oversized
