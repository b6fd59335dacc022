"""Follow growing log files in real time, through rotation, without losing or repeating a line.

The kernel says when something changed (inotify on each file's directory, so a rename+create
rotation is seen too); polling is only the fallback where inotify is missing. Each file keeps a
read position made of (inode, offset of the last complete line, hash of the first bytes), which
the daemon saves: after a restart the same file resumes where it stopped; a file that was
rotated meanwhile is finished from its rotated name first (path.1 or path-YYYYMMDD); a file that
was truncated in place (copytruncate) starts again from the top.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
from typing import NamedTuple

log = logging.getLogger("sipwarden.follow")

HEAD_BYTES = 256  # the first bytes identify a file across renames (with the inode)
READ_CHUNK = 1 << 20
MAX_PARTIAL = 1 << 20  # a "line" longer than this without a newline is cut: delivered as one over-long line,
# its rest skipped up to its newline (never read as a line start: it is attacker text)


class Position(NamedTuple):
    """Where reading a followed file stopped, as the daemon saves it in the store: the inode and a
    hash of the first bytes tell the same file from a rotated or copytruncated one on restart."""

    inode: int
    offset: int  # just after the last complete line read
    head_hash: str  # head_hash() of the file


def head_hash(fh_or_path, length: int = HEAD_BYTES) -> str:  # noqa: ANN001
    """'N:hash' of the first N (at most `length`) bytes of a file ('' for an empty file).

    N is part of the value so that a file that has grown since is compared on the same bytes.
    """
    try:
        if isinstance(fh_or_path, str):
            with open(fh_or_path, "rb") as f:
                data = f.read(length)
        else:
            data = os.pread(fh_or_path.fileno(), length, 0)
    except OSError:
        return ""
    return f"{len(data)}:{hashlib.blake2b(data, digest_size=12).hexdigest()}" if data else ""


def same_head(fh_or_path, saved: str) -> bool:  # noqa: ANN001
    """Does the file still start with the bytes `saved` (a head_hash value) was taken from?"""
    n, _, _ = saved.partition(":")
    return bool(saved) and n.isdigit() and head_hash(fh_or_path, int(n)) == saved


class FollowedFile:
    """One log file being followed. `read()` returns complete new lines as (lineno, text)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fh = None
        self.inode = -1
        self.offset = 0  # bytes of complete lines consumed
        self.lineno = 0
        self._partial = b""
        self._hash = ""
        self._head = b""  # the first bytes as read, to see a copytruncate that grew past our offset
        self.more = False  # the last read() stopped at its budget: more is waiting
        # bytes of an over-long line delivered or skipped since `offset` (its start); -1: not inside one
        self._skip = -1
        self.error: str | None = None  # last problem, for status (unreadable, missing)

    # --- opening and positions --------------------------------------------------------------

    def open(self, saved: Position | None = None, from_end: bool = False) -> list[tuple[int, str]]:
        """Open the file. With a saved position, resume (reading the rotated remainder first).

        Returns lines from a rotated predecessor that had not been read yet.
        """
        pending: list[tuple[int, str]] = []
        try:
            st = os.stat(self.path)
        except OSError as e:
            self._fail(f"cannot open: {e.strerror}")
            return pending
        if saved is not None and saved.inode != st.st_ino:
            pending = self._finish_rotated(saved)
            saved = None
        try:
            self.fh = open(self.path, "rb")  # noqa: SIM115 - kept open while following
        except OSError as e:
            self._fail(f"cannot open: {e.strerror}")
            return pending
        self.inode = os.fstat(self.fh.fileno()).st_ino
        self._hash = head_hash(self.fh)
        size = os.fstat(self.fh.fileno()).st_size
        if saved is not None and saved.offset <= size and (saved.offset == 0 or same_head(self.fh, saved.head_hash)):
            self.offset = saved.offset
        elif saved is not None:
            self.offset = 0  # same inode but rewritten or truncated (copytruncate): from the top
        elif from_end:
            self.offset = size
        else:
            self.offset = 0
        self.fh.seek(self.offset)
        self._head = os.pread(self.fh.fileno(), HEAD_BYTES, 0)
        self._partial = b""
        self._skip = -1
        if self.error:
            log.info("%s: readable again", self.path)
        self.error = None
        return pending

    def position(self) -> Position:
        if self.fh is not None and (not self._hash or int(self._hash.partition(":")[0]) < HEAD_BYTES):
            self._hash = head_hash(self.fh, min(self.offset, HEAD_BYTES) or HEAD_BYTES)
        return Position(self.inode, self.offset, self._hash)

    def _finish_rotated(self, saved: Position) -> list[tuple[int, str]]:
        """The file we were reading was renamed away: read what we had not read of it yet."""
        d, base = os.path.split(self.path)
        for cand in sorted(glob.glob(os.path.join(d or ".", glob.escape(base) + "[.-]*"))):
            if cand.endswith(".gz"):
                continue
            try:
                if os.stat(cand).st_ino != saved.inode or not same_head(cand, saved.head_hash):
                    continue
                with open(cand, "rb") as f:
                    f.seek(saved.offset)
                    data = f.read()
            except OSError:
                continue
            log.info("%s: finishing rotated %s from byte %d", self.path, cand, saved.offset)
            self._partial = b""
            self._skip = -1
            lines = self._split(data, final=True)
            self.offset = 0
            return lines
        return []

    def _fail(self, why: str) -> None:
        if self.error != why:
            log.warning("%s: %s; will retry", self.path, why)
        self.error = why
        self.fh = None

    # --- reading ------------------------------------------------------------------------------

    def read(self, budget: int | None = None) -> list[tuple[int, str]]:
        """New complete lines since the last call, following a rotation if one happened.

        With a `budget` (bytes), stop after about that much and set `more`: a daemon that is far
        behind then works through the backlog in slices and stays responsive in between.
        """
        self.more = False
        if self.fh is None:
            out = self.open()
            return out + self._read_to_eof(limit=budget) if self.fh is not None else out
        rotated = self._rotated()
        out = self._read_to_eof(limit=budget) if rotated is None else (
            self._read_to_eof() if rotated == "replaced" else [])
        if rotated == "truncated":
            log.info("%s: truncated in place (copytruncate); reading from the top", self.path)
            self.fh.seek(0)
            self.offset = 0
            self._partial = b""
            self._skip = -1
            self._hash = ""
            self._head = b""
            out += self._read_to_eof()
        elif rotated == "replaced":
            out += self._read_to_eof(final=True)  # the last words of the old file
            self.fh.close()
            self.fh = None
            log.info("%s: rotated (new file); following the new one", self.path)
            self.offset = 0
            self.open()
            if self.fh is not None:
                self.fh.seek(0)
                self.offset = 0
                out += self._read_to_eof()
        return out

    def _read_to_eof(self, final: bool = False, limit: int | None = None) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        fh = self.fh
        if fh is None:
            return out
        taken = 0
        while True:
            if limit is not None and taken >= limit:
                self.more = True
                break
            try:
                data = fh.read(READ_CHUNK if limit is None else min(READ_CHUNK, limit))
                taken += len(data)
            except OSError as e:
                self._fail(f"read error: {e.strerror}")
                return out
            if not data:
                break
            if len(self._head) < HEAD_BYTES and self._consumed() < HEAD_BYTES:
                self._head = os.pread(fh.fileno(), HEAD_BYTES, 0)
            out += self._split(data)
        if final:
            out += self._split(b"", final=True)
        if not self._hash and self.offset:
            self._hash = head_hash(fh)
        return out

    def _consumed(self) -> int:
        """Bytes read from the file: complete lines, the part of an over-long line, the partial line."""
        return self.offset + max(self._skip, 0) + len(self._partial)

    def _split(self, data: bytes, final: bool = False) -> list[tuple[int, str]]:
        """Complete lines of `data` (after what was left over); `final`: the file ends here.

        A line still without a newline after MAX_PARTIAL bytes is delivered then, cut (the log stream
        counts and skips it as over-long, as `scan` does the whole line), and the rest of it is skipped
        up to and including its newline, across reads: no part of it is ever read from a line start,
        where its attacker-written text could pass for a line of the PBX. `offset` stays at the start
        of that line until its end is seen, so a restart meanwhile reads it again, as a whole.
        """
        if self._skip >= 0:
            nl = data.find(b"\n")
            if nl < 0:
                self._skip += len(data)
                if final:  # the line ends with the file
                    self.offset += self._skip
                    self._skip = -1
                return []
            self.offset += self._skip + nl + 1
            self._skip = -1
            data = data[nl + 1:]
        parts = (self._partial + data).split(b"\n")
        rest = parts.pop()
        if final and rest:
            parts.append(rest)
            rest = b""
            self.offset -= 1  # that last line had no newline to count
        out = []
        for raw in parts:
            self.offset += len(raw) + 1
            self.lineno += 1
            out.append((self.lineno, raw.decode("utf-8", "replace")))
        if len(rest) > MAX_PARTIAL:  # no newline in sight: deliver it cut, skip its rest
            self.lineno += 1
            out.append((self.lineno, rest.decode("utf-8", "replace")))
            self._skip = len(rest)
            rest = b""
        self._partial = rest
        return out

    def _rotated(self) -> str | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None  # moved away and not yet recreated: keep reading the old handle
        if st.st_ino != self.inode:
            return "replaced"
        if st.st_size < self._consumed():
            return "truncated"
        if self._head and self.fh is not None:
            # truncated and rewritten past our offset before we looked: the first bytes differ
            try:
                now = os.pread(self.fh.fileno(), len(self._head), 0)
            except OSError:
                return None
            if now != self._head:
                return "truncated"
        return None

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


class Watcher:
    """Tells which followed files may have new data: inotify on their directories, else polling."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.inotify = None
        self._dirs: dict[int, str] = {}
        try:
            from inotify_simple import INotify, flags
            self.inotify = INotify(nonblocking=True)
            mask = flags.MODIFY | flags.CREATE | flags.MOVED_TO | flags.MOVED_FROM | flags.DELETE | flags.CLOSE_WRITE
            for d in sorted({os.path.dirname(os.path.abspath(p)) for p in paths}):
                try:
                    self._dirs[self.inotify.add_watch(d, mask)] = d
                except OSError as e:
                    log.warning("%s: cannot watch (%s); polling it", d, e.strerror)
        except (ImportError, OSError) as e:  # pragma: no cover - inotify is on every Linux we support
            log.warning("inotify unavailable (%s): polling every second", e)
            self.inotify = None

    def fileno(self) -> int | None:
        return self.inotify.fileno() if self.inotify is not None else None

    def changed(self) -> set[str]:
        """Drain pending notifications; return the followed paths that may have changed."""
        if self.inotify is None:
            return set(self.paths)
        out: set[str] = set()
        try:
            events = self.inotify.read(timeout=0)
        except (BlockingIOError, OSError):
            return out
        names = {}
        for p in self.paths:
            ap = os.path.abspath(p)
            names.setdefault((os.path.dirname(ap), os.path.basename(ap)), []).append(p)
        for ev in events:
            d = self._dirs.get(ev.wd)
            if d is None:
                continue
            for p in names.get((d, ev.name), []):
                out.add(p)
        return out

    def close(self) -> None:
        if self.inotify is not None:
            self.inotify.close()
