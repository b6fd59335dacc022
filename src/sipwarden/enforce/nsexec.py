"""Run firewall changes inside a named network namespace (tests, labs, containers).

Commands are prefixed with `ip netns exec NAME`. In-process work (libnftables, whose netlink socket
belongs to the namespace of the thread that opened it) runs on one dedicated thread that called
setns(2) first: namespaces are per thread, so the rest of the process stays where it was.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, ThreadPoolExecutor
from typing import TypeVar

from .base import EnforceError

CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def netns_path(name: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise EnforceError(f"invalid network namespace name {name!r}")
    return f"/run/netns/{name}"


def enter_netns(name: str) -> None:
    """Move the calling thread (only) into network namespace `name` (as created by `ip netns add`)."""
    path = netns_path(name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise EnforceError(f"network namespace {name!r}: {e.strerror} ({path})") from None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise EnforceError(f"cannot enter network namespace {name!r}: {os.strerror(err)} (needs root)")
    finally:
        os.close(fd)


def ns_argv(netns: str | None, argv: list[str]) -> list[str]:
    """`argv`, run inside `netns` when one is given."""
    if netns is None:
        return argv
    netns_path(netns)
    return ["ip", "netns", "exec", netns, *argv]


class NetnsWorker:
    """Runs callables in `netns` on one long-lived thread (inline, under a lock, when netns is None)."""

    def __init__(self, netns: str | None) -> None:
        self.netns = netns
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._init_error: EnforceError | None = None
        if netns is not None:
            netns_path(netns)
            self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"netns-{netns}", initializer=self._enter)

    def _enter(self) -> None:
        try:
            enter_netns(self.netns or "")
        except EnforceError as e:
            self._init_error = e
            raise

    def run(self, fn: Callable[..., T], *args: object) -> T:
        if self._pool is None:
            with self._lock:
                return fn(*args)
        try:
            return self._pool.submit(fn, *args).result()
        except BrokenExecutor:  # the initializer (setns) failed
            raise self._init_error or EnforceError(f"cannot enter network namespace {self.netns!r}") from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
