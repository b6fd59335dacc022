"""One daemon per state dir: an exclusive flock(2) on `daemon.lock`, held for the life of the process.

Taken before anything in the state dir is touched (the store, the control socket), so a second
daemon started on the same dir stops with a clear message instead of deleting the first one's
socket. The kernel drops the lock when the process dies, however it dies: no stale-lock cleanup.
The file holds the owner's pid, for the message.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

LOCK_NAME = "daemon.lock"


class StateDirError(Exception):
    """The state dir cannot be used (another daemon has it, or it is not writable): an operator's
    problem, told in one line."""


class StateLock:
    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path

    @classmethod
    def acquire(cls, state_dir: Path) -> StateLock:
        path = state_dir / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise StateDirError(f"state dir {state_dir} is not writable ({os.strerror(e.errno)}): "
                                    "the daemon needs it for its store, lock and control socket") from None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            finally:
                os.close(fd)
            raise StateDirError(f"another sipwarden (pid {owner}) is running on state dir {state_dir}; "
                                "stop it first, or give this one another --state-dir") from None
        if not os.access(state_dir, os.W_OK):
            os.close(fd)
            raise StateDirError(f"state dir {state_dir} is not writable by this user: the daemon needs it for its "
                                "store and control socket")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd, path)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing drops the lock; the file stays (removing it would race a new owner)
            self.fd = -1
