"""Reading log files for offline scans: plain, gzip, or stdin; lines decoded leniently."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import os
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass


class SourceError(Exception):
    """A log that cannot be read, phrased for the operator."""


@dataclass
class LogFile:
    path: str
    year: int  # year assumed for timestamps without one (the file's modification year)
    size: int  # bytes on disk (0 for stdin); used for progress
    _fh: object = None
    keep_going: bool = False  # a read error ends this file (noted in `error`) instead of raising
    error: str | None = None  # why the file was not read to its end (keep_going)

    def chunks(self, size: int) -> Iterator[str]:
        """The text in pieces of `size` characters, bytes that are not UTF-8 as U+FFFD (junk must never
        stop a scan)."""
        yield from self._read(lambda text: iter(lambda: text.read(size), ""))

    def _read(self, pieces) -> Iterator[str]:  # noqa: ANN001
        """Open (plain, .gz or stdin), decode leniently, yield `pieces(text)`, close; errors as SourceError."""
        try:
            if self.path == "-":
                raw = sys.stdin.buffer
                opened = None
            else:
                opened = raw = open(self.path, "rb")  # noqa: SIM115 - closed below
                self._fh = opened  # for the progress bar
                if self.path.endswith(".gz"):
                    raw = gzip.GzipFile(fileobj=opened)
                    if self.keep_going:  # a truncated .gz: every byte before the cut, then a clean end
                        raw = io.BufferedReader(_UpToTheCut(raw, self))
            text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
            try:
                yield from pieces(text)
            except (OSError, EOFError) as e:  # a truncated .gz, an I/O error
                if not self.keep_going:
                    raise SourceError(f"{self.path}: read error: {e}") from None
                self.error = f"{self.path}: read error: {e} (read up to there)"
            finally:
                if opened is not None:
                    opened.close()
                self._fh = None
        except OSError as e:
            if not self.keep_going:
                raise SourceError(f"{self.path}: cannot open: {e.strerror or e}") from None
            self.error = f"{self.path}: cannot open: {e.strerror or e}"

    def progress(self) -> int:
        """Bytes of the file consumed so far (compressed bytes for .gz)."""
        fh = self._fh
        try:
            return fh.tell() if fh is not None else self.size  # type: ignore[attr-defined]
        except (OSError, ValueError):
            return self.size


class _UpToTheCut(io.RawIOBase):
    """A decompressing stream that ends cleanly where its data ends early (a truncated or corrupt
    .gz), noting why in `log.error`, so the text before the cut is read and scanned."""

    def __init__(self, inner: gzip.GzipFile, log: LogFile) -> None:
        self.inner, self.log = inner, log

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # noqa: ANN001
        try:
            data = self.inner.read1(min(len(b), 1 << 16))  # read1: what one step gives, so the cut loses nothing
        except (EOFError, OSError, zlib.error) as e:  # zlib.error: a corrupt block
            self.log.error = f"{self.log.path}: read error: {e} (read up to there)"
            return 0
        b[: len(data)] = data
        return len(data)


def open_log(path: str, year: int = 0) -> LogFile:
    """Check the path now, so a typo is one clear error before any work starts."""
    if path == "-":
        return LogFile("-", year or dt.date.today().year, 0)
    try:
        st = os.stat(path)
    except OSError as e:
        raise SourceError(f"{path}: {e.strerror}") from None
    if not os.path.isfile(path):
        raise SourceError(f"{path}: not a regular file")
    if not os.access(path, os.R_OK):
        raise SourceError(f"{path}: permission denied")
    return LogFile(path, year or dt.datetime.fromtimestamp(st.st_mtime).year, st.st_size)
