"""Event-time order: a file's events through a small reorder buffer, several streams merged.

The security log is written out of time order under load, and several files (messages and
security, logs and captures) must reach the engine as one stream in event time: detectors'
windows are event time, never the clock.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from operator import itemgetter

from .. import compiled
from ..events import Event

REORDER_SLACK = 30.0  # seconds an event may arrive late (in file order) and still be placed right


def reorder(events: Iterable[Event], slack: float = REORDER_SLACK) -> Iterator[tuple[float, int, Event]]:
    """(time, seq, event) in time order, provided no event is more than `slack` late.

    Events without a time (journald lines) take the time of the event before them.
    """
    heap: list[tuple[float, int, Event]] = []
    newest = 0.0
    last = 0.0
    push, pop = heapq.heappush, heapq.heappop
    for seq, ev in enumerate(events):
        t = ev.time
        if t is None:
            t = last
        else:
            last = t
        if t >= newest:
            newest = t
            if not heap:  # the common case: in order and nothing held back
                yield (t, seq, ev)
                continue
        push(heap, (t, seq, ev))
        edge = newest - slack
        while heap and heap[0][0] < edge:
            yield pop(heap)
    while heap:
        yield pop(heap)


_reorder_py = reorder
_ACCEL = compiled.load("sipwarden.pipeline._accel")
if _ACCEL is not None:
    def reorder(events: Iterable[Event], slack: float = REORDER_SLACK) -> Iterator[tuple[float, int, Event]]:
        """The same, compiled (pipeline/_accel.pyx): no Python frame per event."""
        return _ACCEL.Reorder(events, slack)


def merge_by_time(streams: list[Iterator[tuple[float, int, Event]]]) -> Iterator[Event]:
    """The events of several (time, seq, event) streams, each in time order, as one in time order."""
    if len(streams) == 1:
        return map(itemgetter(2), streams[0])  # no Python frame per event
    return map(itemgetter(2), heapq.merge(*streams, key=itemgetter(0)))
