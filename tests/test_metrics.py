"""Metrics: the ban latency counts from the deciding events reaching detection to the kernel."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from types import SimpleNamespace

from sipwarden.daemon.bans import BanChange
from sipwarden.daemon.metrics import Metrics
from sipwarden.events import Event, Kind


def test_latency_from_detection_to_kernel():
    now = [100.0]
    m = Metrics(clock=lambda: now[0])
    barriers: list[Future] = []

    def barrier() -> Future:
        barriers.append(Future())
        return barriers[-1]
    m.daemon = SimpleNamespace(bans=SimpleNamespace(kernel=SimpleNamespace(barrier=barrier, error=None)))
    fed: list = []

    async def turn() -> None:
        feed = m.counting(fed.extend)
        feed([Event(1.0, "203.0.113.5", Kind.AUTH_FAILED)] * 3)  # read at 100.0
        now[0] = 100.03  # the rest of the turn: more parsing, the engine
        feed(iter([Event(1.0, "203.0.113.6", Kind.UNKNOWN_ACCOUNT)]))
        for ip in ("203.0.113.5", "203.0.113.6"):  # decided at the end of the turn, one batch
            m.on_change(BanChange("ban", ip, "bruteforce", None, now[0], "local"))
        await asyncio.sleep(0)
        now[0] = 100.25  # the kernel is done
        barriers[0].set_result(None)
        feed([Event(2.0, "203.0.113.7", Kind.AUTH_FAILED)])  # a later turn starts afresh
        assert m._turn == 100.25
    asyncio.run(turn())
    assert len(barriers) == 1 and len(fed) == 5
    assert m.events_by_kind == {Kind.AUTH_FAILED: 4, Kind.UNKNOWN_ACCOUNT: 1}
    assert m.latency._sum.get() == 2 * 0.25  # from 100.0, not from the decision at 100.03
    m.on_change(BanChange("ban", "198.51.100.1", "manual", None, now[0], "api", manual=True))
    assert len(barriers) == 1  # manual bans are not timed
    text = m.text().decode()
    assert 'sipwarden_bans_total{origin="local",reason="bruteforce"} 2.0' in text
    assert 'sipwarden_bans_total{origin="api",reason="manual"} 1.0' in text
