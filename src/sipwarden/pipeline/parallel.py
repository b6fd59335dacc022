"""Parallel parsing of one big plain log file: a forked worker and its spool.

The file is cut at a line start into two ranges; a forked worker parses the second (its own
LogStream, line numbers counted from the cut) and spools its events to an unlinked temporary
file as marshalled tuples, while this process parses the first range and runs the engine on it.
Then the spool is read back, line numbers shifted: the events and their order are those of one
parser over the whole file, because
- the cut is placed where no "SecurityEvent=" occurs in the CUT_QUIET lines before it, so the
  stream holds nothing there (no window, no split event being reassembled): its only
  state is the clock, and
- the worker's result is used only if the clock state it started from (file year, no month
  seen, no last time) cannot differ from the one this process has at the cut, and its own year
  never changed (no Dec->Jan rollover or mtime correction in it); else this process reads the
  second range itself, continuing its own parser (exact, just not parallel).
Memory stays bounded: the spool is on disk and read back one batch at a time.
"""

from __future__ import annotations

import itertools
import marshal
import os
import signal
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from .. import compiled
from ..config import Config
from ..events import Event, Kind
from ..parsers.stream import MAX_JOIN, MAX_SPLIT, LogStream
from ..sources.logfile import LogFile
from .serial import CHUNK, feed_all, log_stream, serial_batches

_new = tuple.__new__

PARALLEL_MIN = 8 << 20  # bytes: below this, starting a process costs more than it saves
MAIN_SHARE = 0.45  # this process also runs the engine and reads the spool (split measured: bench/README.md)
CUT_QUIET = 2 * MAX_JOIN + 1  # lines before a cut without any security event text (and more than MAX_SPLIT chars)
CUT_SEARCH = 1 << 20  # bytes after the target in which to look for a cut
_SPOOL_BATCH = 4096  # events per marshalled record


def _cut(path: str, target: int, search: int) -> int | None:
    """A byte offset > target where the second range may start (see above), or None if none is near."""
    with open(path, "rb") as fh:
        fh.seek(target)
        block = fh.read(search)
    ends: list[int] = []  # offsets just after each newline in block
    pos = block.find(b"\n")
    while pos >= 0 and pos + 1 < len(block):
        ends.append(pos + 1)
        if len(ends) > CUT_QUIET:
            k = block.rfind(b"SecurityEvent=", 0, pos + 1)
            after = block.find(b"\n", k) + 1 if k >= 0 else ends[0]  # lines after the last event (or block start)
            if (after <= ends[-CUT_QUIET - 1] and len(block[after:pos + 1].decode("utf-8", "replace")) > MAX_SPLIT
                    and not _call_open(block, pos + 1)):
                return target + pos + 1
        pos = block.find(b"\n", pos + 1)
    return None


def _call_open(block: bytes, end: int) -> bool:
    """May a call line split by a decoded %0A (the stream's split call line) still be open at `end`?"""
    i = block.rfind(b") to extension '", max(0, end - 4 * MAX_SPLIT - 16384), end)
    while i >= 0:
        e = block.find(b"\n", i)
        if block.find(b"' rejected because extension not found in context '", i, e) < 0:
            return True
        i = block.rfind(b") to extension '", max(0, end - 4 * MAX_SPLIT - 16384), block.rfind(b"\n", 0, i) + 1)
    return False


def _range_text(fh: BinaryIO, start: int, end: int) -> Iterator[str]:
    """The text of bytes [start, end) decoded as `LogFile.chunks` does (a range starts after a newline).

    Each read decoded whole (bytes.decode: five times faster than an incremental decoder on ASCII),
    a UTF-8 sequence the read may have cut carried over to the next: cut before a byte that starts
    a character, the text (replacement characters included) is that of one decode of all of it."""
    fh.seek(start)
    left = end - start
    carry = b""
    while left > 0:
        raw = fh.read(min(CHUNK, left))
        if not raw:
            break
        left -= len(raw)
        if carry:
            raw = carry + raw
        cut = _char_start(raw)
        carry = raw[cut:]
        yield (raw[:cut] if carry else raw).decode("utf-8", "replace")
    if carry:
        yield carry.decode("utf-8", "replace")


def _char_start(raw: bytes) -> int:
    """Where the last character (of up to 4 bytes) of `raw` starts if it is not ASCII, else len(raw)."""
    for i in range(len(raw) - 1, max(len(raw) - 4, 0) - 1, -1):
        if raw[i] < 0x80:
            break
        if raw[i] >= 0xC0:  # a lead byte (or one that never is): its sequence may go on in the next read
            return i
    return len(raw)


def _worker(log: LogFile, cfg: Config, start: int, end: int, out: BinaryIO) -> None:
    """Parse one range into the spool: batches of events in columns (`_columns`), then a status tuple."""
    stream = log_stream(log, cfg)
    year0 = stream.clock.year
    timeless_first = False  # an event without time before any with: it may have used the clock's `last`
    timed = False
    batch: list[Event] = []
    with open(log.path, "rb") as fh:
        for evs in itertools.chain(map(stream.feed_chunk, _range_text(fh, start, end)), _closing(stream)):
            if not timed:
                for e in evs:
                    if e[0] is not None:
                        timed = True
                        break
                    timeless_first = True
            batch.extend(evs)
            if len(batch) >= _SPOOL_BATCH:
                _record(out, _columns(batch))
                batch = []
    if batch:
        _record(out, _columns(batch))
    _record(out, (stream.lines, stream.oversized, stream.clock.year == year0, timeless_first))
    out.flush()


_ACCEL = compiled.load("sipwarden.pipeline._accel")  # `_columns` and `_events` compiled, where built
_KINDS = list(Kind)
_KIND_AT = {k: i for i, k in enumerate(_KINDS)}


def _columns(evs: list[Event]) -> list:
    """Events as marshal can write them (no Kind, no file): cheaper in columns than tuple by tuple."""
    if _ACCEL is not None:
        return _ACCEL.columns(evs, _KIND_AT)
    at = _KIND_AT
    return [[e[:2] for e in evs], [at[e[2]] for e in evs], [e[3:13] for e in evs], [e[14] for e in evs]]


def _events(rec: list, file: str, first: int) -> list[Event]:
    """The Events of one spool record, their line numbers counted from `first` (the lines before the cut)."""
    if _ACCEL is not None:
        return _ACCEL.events(rec, _KINDS, file, first)
    kinds = _KINDS
    return [_new(Event, (*a, kinds[k], *b, file, n + first)) for a, k, b, n in zip(*rec, strict=True)]


def _record(out: BinaryIO, obj: list | tuple) -> None:
    """One length-prefixed marshal record (`marshal.load` on a file reads object by object: slow)."""
    data = marshal.dumps(obj)
    out.write(len(data).to_bytes(4, "little"))
    out.write(data)


def _records(spool: BinaryIO) -> Iterator[list | tuple]:
    read = spool.read
    while len(head := read(4)) == 4:
        yield marshal.loads(read(int.from_bytes(head, "little")))


def _closing(stream: LogStream) -> Iterator[list[Event]]:
    yield stream.close()  # lazily: after the last feed


def _spawn(log: LogFile, cfg: Config, start: int, end: int) -> tuple[int, BinaryIO]:
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by parallel_batches
    pid = os.fork()
    if pid == 0:  # the worker: never returns
        code = 1
        try:
            _worker(log, cfg, start, end, spool)
            code = 0
        finally:
            os._exit(code)
    return pid, spool


def _spool_status(spool: BinaryIO) -> tuple | None:
    """The worker's status record (lines, oversized, year kept, timeless first): the last one."""
    end = spool.seek(0, os.SEEK_END)
    pos = 0
    spool.seek(0)
    try:
        while pos + 4 <= end:
            n = int.from_bytes(spool.read(4), "little")
            if pos + 4 + n == end:
                rec = marshal.loads(spool.read(n))
                spool.seek(0)
                return rec if isinstance(rec, tuple) and len(rec) == 4 else None
            pos = spool.seek(n, os.SEEK_CUR)
    except (EOFError, ValueError, TypeError):
        pass
    return None


def parallel_batches(log: LogFile, cfg: Config, counter: dict | None, search: int) -> Iterator[list[Event]]:
    cut = _cut(log.path, int(log.size * MAIN_SHARE), search)
    if cut is None:
        yield from serial_batches(log, cfg, counter)
        return
    stream = log_stream(log, cfg)
    year0 = stream.clock.year
    pid, spool = _spawn(log, cfg, cut, log.size)
    extra = (0, 0)
    used = False
    try:
        with open(log.path, "rb") as fh:
            log._fh = fh  # for the progress bar
            for chunk in _range_text(fh, 0, cut):
                evs = stream.feed_chunk(chunk)
                if evs:
                    yield evs
            _, status = os.waitpid(pid, 0)
            pid = 0
            st = _spool_status(spool) if status == 0 else None
            evs = stream.close()  # the lines held back up to the cut: the clock must have seen them
            if evs:
                yield evs
            clock = stream.clock
            usable = (st is not None and st[2] and clock.year == year0 and clock._last_month != 12
                      and (clock.last is None or not st[3]) and stream.at_rest)  # no packet dump open nor about to
            if usable:
                first = stream.lines
                for rec in _records(spool):
                    if isinstance(rec, tuple):
                        break
                    yield _events(rec, log.path, first)
                extra = (st[0], st[1])
                used = True
            else:  # read the second range here, continuing this parser: exact, just not parallel
                yield from feed_all(stream, _range_text(fh, cut, log.size))
    finally:
        log._fh = None
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        spool.close()
    if counter is not None:
        if used:
            counter["workers"] = counter.get("workers", 0) + 1  # ranges read by a worker (tests look)
        counter["lines"] = counter.get("lines", 0) + stream.lines + extra[0]
        counter["oversized"] = counter.get("oversized", 0) + stream.oversized + extra[1]


