"""Followed log files -> lines -> events, handed to detection.

Live: the loop wakes on inotify and reads each changed file in slices of READ_BUDGET bytes; when
more is waiting it comes back after the loop has served everything else (control socket,
housekeeping, HEP), so a flood never stalls them.

Backlog (at start: `--from-start`, lines written while the daemon was down, a rotated remainder):
the files' events are merged in event-time order, exactly as `scan` merges them (each file through
a short reorder buffer, then by time), before they reach the engine, so the daemon decides what
`scan` decides over the same lines. It is worked through in slices of BACKLOG_EVENTS per turn.
Read positions are not saved until the backlog is done (events read ahead into the merge are not
decided yet): a crash meanwhile reads the backlog again, and what was already banned stays banned
once, not twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Iterator

from ..events import Event
from ..parsers.stream import LogStream
from ..sources.follow import FollowedFile, Position, Watcher
from ..store.sqlite import Store
from ..timefmt import Clock, tz_from_name
from .errors import StageErrors

log = logging.getLogger("sipwarden")

# Work per loop turn: small enough that the control socket, housekeeping and the HEP receiver's
# batches are served within a fraction of a second in a flood (a request takes a few turns).
READ_BUDGET = 128 << 10  # bytes of new lines handled per file per loop turn (~900 lines)
BACKLOG_EVENTS = 2_000  # backlog events handed to detection per loop turn


class LogSources:
    def __init__(self, paths: list[str], timezone: str, feed: Callable[[list[Event]], None],
                 errors: StageErrors, clock: Callable[[], float]) -> None:
        self.paths = paths
        self.feed = feed
        self.errors = errors
        self.clock = clock
        self.lines = 0
        year, tz = dt.date.today().year, tz_from_name(timezone)
        self.files = {p: FollowedFile(p) for p in paths}
        # the log stream `scan` runs, fed in chunks (quiet lines skipped at C speed)
        self.streams = {p: LogStream(Clock(year, tz), file=p) for p in paths}
        self._draining: set[str] = set()
        self._backlog: Iterator[Event] | None = None
        self.watcher: Watcher | None = None

    # -- start and stop --------------------------------------------------------------------------

    def open(self, store: Store, from_start: bool) -> list[tuple[str, Position]]:
        """Open every file at its saved position (or its end, or its start with `from_start`) and set
        the backlog up; `start` works it off on the loop. Returns the positions opened at, to be saved
        at once: a file first seen now is then known from here on, and after a crash before the first
        save its lines are read from here, not skipped as those of a file never seen."""
        rests: dict[str, list[tuple[int, str]]] = {}
        opened: list[tuple[str, Position]] = []
        for path, f in self.files.items():
            pos = store.load_position(path)
            rests[path] = f.open(pos, from_end=pos is None and not from_start)
            if f.fh is not None and not rests[path]:
                opened.append((path, f.position()))
        from ..pipeline.order import merge_by_time, reorder
        self._backlog = merge_by_time([reorder(self._file_events(p, rests[p])) for p in self.files])
        return opened

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.watcher = Watcher(self.paths)
        fd = self.watcher.fileno()
        if fd is not None:
            loop.add_reader(fd, self._on_notify)
        self._backlog_step()

    def stop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read what is there, then close. A backlog still being worked off is left as it is (it may be
        gigabytes; its positions were not saved), to be read again at the next start."""
        if self.watcher is not None:
            fd = self.watcher.fileno()
            if fd is not None:
                loop.remove_reader(fd)
            self.watcher.close()
        self.read_all()

    def close(self) -> None:
        for f in self.files.values():
            f.close()

    @property
    def polling(self) -> bool:
        return self.watcher is None or self.watcher.fileno() is None

    # -- backlog ---------------------------------------------------------------------------------

    def _file_events(self, path: str, first: list[tuple[int, str]]) -> Iterator[Event]:
        """A file's events from where it was opened to its end now, read in slices as the merge asks."""
        f = self.files[path]
        lines = first
        while True:
            yield from self._parse(path, lines)
            lines = f.read(READ_BUDGET)
            if not lines and not f.more:
                break
        yield from self._parse(path, [], end=True)

    def _backlog_step(self) -> None:
        it = self._backlog
        if it is None:
            return
        batch: list[Event] = []
        for ev in it:
            batch.append(ev)
            if len(batch) >= BACKLOG_EVENTS:
                break
        else:
            self._backlog = None
        if batch:
            self.feed(batch)
        if self._backlog is not None:
            asyncio.get_running_loop().call_soon(self._backlog_step)
        else:
            self.read_all()  # written while the backlog was worked off

    @property
    def catching_up(self) -> bool:
        return self._backlog is not None

    # -- live ------------------------------------------------------------------------------------

    def _on_notify(self) -> None:
        if self.watcher is None:
            return
        for path in self.watcher.changed():
            if path not in self._draining:  # else its next slice is already due: one slice per turn
                self._drain(path)

    def read_all(self) -> None:
        for path in self.files:
            self._drain(path)

    def _drain(self, path: str) -> None:
        """Read and handle one slice of new lines; if more is waiting, come back after the loop has
        served everything else."""
        if self._backlog is not None:
            return  # the backlog's merge reads every file up to its end
        f = self.files.get(path)
        if f is None:
            return
        # a slice may end inside a split event: the parser is flushed only at the end of the data
        events = self._parse(path, f.read(READ_BUDGET), end=not f.more)
        if f.more and path not in self._draining:
            self._draining.add(path)
            asyncio.get_running_loop().call_soon(self._drain_again, path)
        if events:
            self.feed(events)

    def _drain_again(self, path: str) -> None:
        self._draining.discard(path)
        self._drain(path)

    def _parse(self, path: str, lines: list[tuple[int, str]], end: bool = False) -> list[Event]:
        """Events of complete lines; `end`: the data ends here for now (what the parser held back for
        the next lines is read too)."""
        stream = self.streams[path]
        stream.clock.not_after = self.clock()  # a year-less time later than now is last year's
        events: list[Event] = []
        if lines:
            self.lines += len(lines)
            text = "\n".join([t for _, t in lines])
            text += "\n"
            try:
                events = stream.feed_chunk(text)
            except Exception:  # a parser bug must never stop the daemon: those lines one by one
                self.errors.record("parse", f"{path}: lines {lines[0][0]}-{lines[-1][0]}")
                events = self._one_by_one(path, stream, lines)
        if end:
            try:
                events.extend(stream.close())
            except Exception:
                self.errors.record("parse", f"{path}: end of the data")
        return events

    def _one_by_one(self, path: str, stream: LogStream, lines: list[tuple[int, str]]) -> list[Event]:
        """After a parser error in a chunk: a fresh stream (the clock, with its year, is kept), and each
        line through its line entry, so only a line that fails there too is lost (its chunk entry goes
        on after the last of them)."""
        fresh = self.streams[path] = LogStream(stream.clock, stream.file)
        fresh.oversized = stream.oversized
        out: list[Event] = []
        feed = fresh.feed_line
        for n, (_, text) in enumerate(lines, 1):
            try:
                out.extend(feed(text, n))
            except Exception:
                self.errors.record("parse", f"{path}: line {n} of a chunk read one by one")
        return out

    # -- positions and status --------------------------------------------------------------------

    def positions(self) -> list[tuple[str, Position]]:
        """Read positions safe to save: nothing read before them is still undecided (no backlog in
        progress, no file in the middle of a slice whose parser holds lines back)."""
        if self._backlog is not None:
            return []
        out = []
        for path, f in self.files.items():
            if f.fh is not None and path not in self._draining:
                out.append((path, f.position()))
        return out

    def status(self) -> list[dict]:
        """Each file: where reading it stands, its last problem, and its over-long lines skipped (counted
        by its log stream, as `scan` counts them; a line cut by the follower is one of them)."""
        return [{"path": p, "offset": f.offset, "error": f.error, "oversized": self.streams[p].oversized}
                for p, f in self.files.items()]
