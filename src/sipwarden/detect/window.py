"""Sliding windows over event time. Pure and small: a deque of timestamps (and optional keys)."""

from __future__ import annotations

from collections import Counter, deque


class Window:
    """Count of events within `span` seconds of the newest one."""

    __slots__ = ("span", "times")

    def __init__(self, span: float) -> None:
        self.span = span
        self.times: deque[float] = deque()

    def add(self, t: float) -> int:
        times = self.times
        times.append(t)
        edge = t - self.span
        while times[0] < edge:
            times.popleft()
        return len(times)

    def pop_newest(self) -> None:
        if self.times:
            self.times.pop()

    def __len__(self) -> int:
        return len(self.times)


class KeyedWindow:
    """Events with a key (account, source) within `span`: total and distinct keys, bounded memory."""

    __slots__ = ("span", "items", "keys")

    def __init__(self, span: float) -> None:
        self.span = span
        self.items: deque[tuple[float, str]] = deque()
        self.keys: Counter[str] = Counter()

    def add(self, t: float, key: str) -> None:
        items, keys = self.items, self.keys
        items.append((t, key))
        keys[key] += 1
        edge = t - self.span
        while items[0][0] < edge:
            _, k = items.popleft()
            n = keys[k] - 1
            if n:
                keys[k] = n
            else:
                del keys[k]

    @property
    def distinct(self) -> int:
        return len(self.keys)

    def __len__(self) -> int:
        return len(self.items)
