"""The line entry of the log stream over a whole file, for tests that hold it equal to the scan's
chunk path (the daemon feeds lines; `scan` feeds chunks)."""

from __future__ import annotations

from collections.abc import Iterator

from sipwarden.config import Config
from sipwarden.events import Event
from sipwarden.pipeline.serial import log_stream
from sipwarden.sources.logfile import LogFile


def lf_lines(chunks: Iterator[str]) -> Iterator[str]:
    """Lines of the text in `chunks`, split at LF only, each with its LF (the last may have none):
    Asterisk's line end; a bare CR inside a value is data."""
    rest = ""
    for chunk in chunks:
        parts = (rest + chunk).split("\n")
        rest = parts.pop()
        for p in parts:
            yield p + "\n"
    if rest:
        yield rest


def file_events_by_line(log: LogFile, cfg: Config, counter: dict | None = None) -> Iterator[Event]:
    """The events of `log` through the stream's line entry (`LogStream.feed_line`)."""
    stream = log_stream(log, cfg)
    feed = stream.feed_line
    for n, line in enumerate(lf_lines(log.chunks(1 << 16)), 1):
        evs = feed(line, n)
        if evs:
            yield from evs
    yield from stream.close()
    if counter is not None:
        counter["lines"] = counter.get("lines", 0) + stream.lines
        counter["oversized"] = counter.get("oversized", 0) + stream.oversized
