"""Sliding windows: counts within the span, capped storage, distinct keys that expire."""

from __future__ import annotations

from sipwarden.detect.window import KeyedWindow, Window


def test_window_counts_within_span_and_keeps_at_most_cap():
    w = Window(10.0, cap=5)
    assert [w.add(t) for t in (0, 1, 2, 3)] == [1, 2, 3, 4]
    assert w.add(20) == 1  # the old ones left the window
    for t in range(21, 40):
        w.add(t)
    assert len(w.times) == 5  # never more than the deciding count


def test_window_pop_newest_cancels_one():
    w = Window(60.0)
    w.add(1)
    w.add(2)
    w.pop_newest()
    assert len(w) == 1


def test_keyed_distinct_keys_expire():
    k = KeyedWindow(10.0, cap=5)
    for i, t in enumerate((0, 1, 2, 3)):
        k.add(t, f"a{i}")
    assert k.distinct == 4
    k.add(30, "b")  # 30 s later: the first four are out of the window
    assert k.distinct == 1
    for i in range(100):
        k.add(31 + i * 0.01, f"c{i}")
    assert k.distinct <= 10 and len(k) == 5


def test_a_network_whose_ban_ended_can_be_judged_again():
    from sipwarden.detect.engine import Engine
    from sipwarden.events import Event, Kind

    def attack(e: Engine, base: float) -> list:
        out = []
        for i in range(6):
            out += e.feed(Event(base + i, f"203.0.113.{10 + i}", Kind.UNKNOWN_ACCOUNT, account="x",
                                origin="messages"))
        return out

    e = Engine()
    first = [v.ip for v in attack(e, 1000.0)]
    assert "203.0.113.0/24" in first
    e.forget("203.0.113.0/24")
    for i in range(6):
        e.forget(f"203.0.113.{10 + i}")
    assert "203.0.113.0/24" in [v.ip for v in attack(e, 5000.0)]
