"""A socket read by its own thread, handing batches to the asyncio loop.

Stock asyncio datagram transports read one datagram per loop turn (about 35k/s here); a thread
that waits in poll() and drains everything queued at each wake-up keeps up with the kernel, and
hands one batch per wake-up to the loop. Items waiting for the loop are bounded: beyond
MAX_PENDING they are dropped and counted, never silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

DRAIN = 1024  # reads per wake-up at most: latency stays one wake-up
MAX_PENDING = 262_144  # items queued for the loop at most


class SocketFeeder:
    """Subclasses say how one read becomes items (`decode`) and may filter a batch (`keep`)."""

    READ_SIZE = 65535

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop,
                 deliver: Callable[[list[Any]], None], name: str) -> None:
        self.sock = sock
        self.loop = loop
        self.deliver = deliver
        self.queue_drops = 0
        self._pending: list[Any] = []
        self._lock = threading.Lock()
        self._scheduled = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def decode(self, data: bytes, now: float) -> list[Any]:
        return [(data, now)]

    def keep(self, batch: list[Any]) -> list[Any]:
        return batch

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        sock = self.sock
        sock.setblocking(False)  # the wait is poll()'s (wakes to notice stop()); reads never block
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        recv, decode, size = sock.recv, self.decode, self.READ_SIZE
        while not self._stop.is_set():
            try:
                if not poller.poll(200):
                    continue
            except OSError:
                return
            now = time.time()
            batch: list[Any] = []
            for _ in range(DRAIN):  # everything queued now, and no more
                try:
                    data = recv(size)
                except BlockingIOError:
                    break
                except OSError:
                    if self._stop.is_set():
                        return
                    break
                batch.extend(decode(data, now))
            if batch:
                self._hand(batch)

    def _hand(self, batch: list[Any]) -> None:
        with self._lock:
            room = MAX_PENDING - len(self._pending)
            if room < len(batch):
                self.queue_drops += len(batch) - max(room, 0)
                batch = batch[:max(room, 0)]
            self._pending.extend(batch)
            if self._scheduled:
                return
            self._scheduled = True
        with contextlib.suppress(RuntimeError):  # the loop closed under us at shutdown
            self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            self._scheduled = False
        batch = self.keep(batch)
        if batch:
            self.deliver(batch)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
