"""An ordered worker thread with a bounded queue, shared by the kernel and the store writer.

Work is submitted from the event loop as (kind, payload) items and never blocks it. The thread
takes everything queued at once and merges neighbouring items of the same kind (a flood's many
small ban batches become one transaction), never reordering a ban after an unban. `barrier()`
gives a future done when everything submitted before it is done (a control-socket `unban` replies
only after the kernel has lifted the ban). `threaded=False` runs each item at once, inline: the
offline CLI uses the same code path without a thread.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

BARRIER = "barrier"


class OrderedWorker:
    def __init__(self, name: str, run: Callable[[str, list[Any]], None], mergeable: frozenset[str],
                 threaded: bool = True, max_items: int = 4096) -> None:
        self.name = name
        self._run = run  # run(kind, payloads): one merged batch of one kind
        self.mergeable = mergeable
        self.threaded = threaded
        self.max_items = max_items
        self._q: deque[tuple[str, Any]] = deque()
        self._cv = threading.Condition()
        self._closing = False
        self._busy = False
        self.batches = 0  # merged batches run
        self.overflows = 0  # items refused because the queue was full
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
            self._thread.start()

    def submit(self, kind: str, payload: Any) -> bool:
        """Queue one item; False (counted) if the queue is full. Inline when not threaded."""
        if not self.threaded:
            self._run_one(kind, [payload])
            return True
        with self._cv:
            if len(self._q) >= self.max_items:
                self.overflows += 1
                return False
            self._q.append((kind, payload))
            self._cv.notify()
        return True

    def replace_all(self, kind: str, payload: Any) -> None:
        """Drop everything queued and queue this one item instead (it must subsume them)."""
        if not self.threaded:
            self._run_one(kind, [payload])
            return
        with self._cv:
            self._q.clear()
            self._q.append((kind, payload))
            self._cv.notify()

    def barrier(self) -> Future:
        """A future that is done once everything submitted before it has been run."""
        fut: Future = Future()
        if not self.threaded:
            fut.set_result(None)
            return fut
        with self._cv:
            self._q.append((BARRIER, fut))
            self._cv.notify()
        return fut

    def pending(self) -> int:
        return len(self._q) + (1 if self._busy else 0)

    def _run_one(self, kind: str, payloads: list[Any]) -> None:
        self.batches += 1
        self._run(kind, payloads)

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._q and not self._closing:
                    self._cv.wait()
                if not self._q and self._closing:
                    return
                items = list(self._q)
                self._q.clear()
                self._busy = True
            try:
                i = 0
                while i < len(items):
                    kind, payload = items[i]
                    if kind == BARRIER:
                        payload.set_result(None)
                        i += 1
                        continue
                    group = [payload]
                    i += 1
                    if kind in self.mergeable:
                        while i < len(items) and items[i][0] == kind:
                            group.append(items[i][1])
                            i += 1
                    self._run_one(kind, group)
            finally:
                self._busy = False

    def close(self, timeout: float = 30.0) -> None:
        """Run what is queued, then stop the thread."""
        if self._thread is None:
            return
        with self._cv:
            self._closing = True
            self._cv.notify()
        self._thread.join(timeout)
