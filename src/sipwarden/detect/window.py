"""Sliding windows over event time. Pure and small.

A detector only needs to know whether `need` events fell within `span` seconds, so a window keeps
at most its `cap` newest timestamps in a plain list (64 bytes for one entry, where a deque costs
600): a flood of a million spoofed sources must not cost a window each in kilobytes.
"""

from __future__ import annotations

from bisect import bisect_left

UNCAPPED = 1 << 30


class Window:
    """Count of events within `span` seconds of the newest one, counted up to `cap`."""

    __slots__ = ("span", "cap", "times")

    def __init__(self, span: float, cap: int = UNCAPPED) -> None:
        self.span = span
        self.cap = cap
        self.times: list[float] = []

    def add(self, t: float) -> int:
        times = self.times
        times.append(t)
        if len(times) > self.cap:
            del times[0]
        if times[0] < t - self.span:
            del times[:bisect_left(times, t - self.span)]
            if not times:  # an event older than the rest arrived late: it still counts itself
                times.append(t)
        return len(times)

    def pop_newest(self) -> None:
        if self.times:
            self.times.pop()

    def __len__(self) -> int:
        return len(self.times)


class KeyedWindow:
    """Events with a key (account, source) within `span`: how many (up to `cap`) and how many
    distinct keys (exact: keys seen last before the window are dropped as the window moves; at
    most 2 x `cap` of the newest are kept)."""

    __slots__ = ("window", "keys", "cap")

    def __init__(self, span: float, cap: int = UNCAPPED) -> None:
        self.window = Window(span, cap)
        self.keys: dict[str, float] = {}  # key -> last seen
        self.cap = cap

    @property
    def span(self) -> float:
        return self.window.span

    def add(self, t: float, key: str) -> None:
        self.window.add(t)
        keys = self.keys
        keys[key] = t
        if len(keys) > 1:
            edge = t - self.window.span
            if min(keys.values()) < edge or len(keys) > 2 * self.cap:
                live = {k: v for k, v in keys.items() if v >= edge}
                if len(live) > 2 * self.cap:  # keep the newest
                    live = dict(sorted(live.items(), key=lambda kv: kv[1])[-2 * self.cap:])
                self.keys = live

    @property
    def distinct(self) -> int:
        return len(self.keys)

    def __len__(self) -> int:
        return len(self.window)
