"""Prometheus metrics of the daemon (prometheus-client), served at GET /metrics.

Counters that only exist as events happen (bans by reason, the ban latency histogram, events by
kind) are kept here, fed by the ban path's listeners and the detection's feed; everything the
daemon already counts (lines, errors per stage, the firewall, the wire sources, notifications) is
read from its parts at scrape time by a custom collector, so there is one count of each thing.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from operator import itemgetter

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

# ban latency: the deciding line's events reach detection (the turn that read them) -> the kernel has the ban
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WIRE_GAUGES = frozenset({"ami_connected", "pbx_addresses"})  # wire status values that are states, not counts
_kind = itemgetter(2)


class Metrics:
    """The daemon's registry. `attach(daemon)` wires it to the running parts."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=True)
        self.bans = PromCounter("sipwarden_bans", "Bans made, by reason", ["reason", "origin"], registry=self.registry)
        self.unbans = PromCounter("sipwarden_unbans", "Bans ended, by who or what ended them", ["by"],
                                  registry=self.registry)
        self.latency = Histogram("sipwarden_ban_latency_seconds", "Automatic bans: the deciding line's events "
                                 "reaching detection -> the kernel transaction done", buckets=LATENCY_BUCKETS,
                                 registry=self.registry)
        self.events_by_kind: Counter[str] = Counter()
        self._pending: dict[float, list] = {}  # decision time -> [bans, read time] waiting for the kernel
        self._turn: float | None = None  # when this loop turn's first events reached detection
        self.daemon = None

    # -- feeding ---------------------------------------------------------------------------------

    def counting(self, feed: Callable[[list], None]) -> Callable[[Iterable], None]:
        """Wrap the detection's feed: events are counted by kind (at C speed, per batch), and the
        time the first batch of a loop turn arrived is kept: the verdicts it yields are decided at
        the end of that turn, so a ban's latency counts from its lines reaching detection."""
        kinds = self.events_by_kind
        clock = self.clock

        def counted(events: Iterable) -> None:
            if not isinstance(events, list):
                events = list(events)
            kinds.update(map(_kind, events))
            if self._turn is None:
                self._turn = clock()
                try:
                    asyncio.get_running_loop().call_soon(self._end_turn)  # after the turn's decision
                except RuntimeError:
                    self._turn = None
            feed(events)
        return counted

    def _end_turn(self) -> None:
        self._turn = None

    def on_change(self, c) -> None:  # noqa: ANN001 - a daemon.bans.BanChange
        """BanService listener: count the change; time automatic bans until the kernel has them."""
        if c.kind == "ban":
            self.bans.labels(c.reason, c.origin.split(":", 1)[0]).inc()
            if not c.manual and self.daemon is not None:
                p = self._pending.get(c.at)
                if p is not None:
                    p[0] += 1
                else:  # one barrier per batch (a batch shares its decision time)
                    self._pending[c.at] = [1, min(self._turn or c.at, c.at)]
                    self.daemon.bans.kernel.barrier().add_done_callback(lambda f, at=c.at: self._applied(f, at))
        else:
            self.unbans.labels(c.origin).inc()

    def _applied(self, fut: Future, at: float) -> None:
        """On the kernel's thread, once the batch decided at `at` went through (or failed)."""
        n, read = self._pending.pop(at, (0, at))
        if self.daemon is None or self.daemon.bans.kernel.error is not None:
            return  # not in the kernel: no latency to report (the firewall error is its own metric)
        took = max(self.clock() - read, 0.0)
        for _ in range(n):
            self.latency.observe(took)

    def attach(self, daemon) -> None:  # noqa: ANN001 - a daemon.service.Daemon
        self.daemon = daemon
        daemon.bans.listeners.append(self.on_change)
        self.registry.register(_DaemonCollector(daemon, self))

    def text(self) -> bytes:
        return generate_latest(self.registry)


class _DaemonCollector(Collector):
    """Read at scrape time from the daemon's own counts."""

    def __init__(self, daemon, metrics: Metrics) -> None:  # noqa: ANN001
        self.d = daemon
        self.m = metrics

    def describe(self) -> list:
        return []  # unchecked: families depend on the configured sources

    def collect(self):  # noqa: ANN201
        d, m = self.d, self.m
        now = d.clock()
        yield _gauge("sipwarden_active_bans", "Bans in force", d.bans.count(now))
        yield _gauge("sipwarden_firewall_up", "1 when the firewall backend works", int(d.bans.kernel.error is None))
        yield _gauge("sipwarden_healthy", "0 when `sipwarden status` says DEGRADED (firewall or store failing)",
                     int(d.health()[0] != "degraded"))
        yield _counter("sipwarden_lines", "Log lines read", d.logs.lines)
        ev = CounterMetricFamily("sipwarden_events", "Events from every source, by kind", labels=["kind"])
        for kind, n in sorted(m.events_by_kind.items()):
            ev.add_metric([str(kind)], n)
        yield ev
        vr = CounterMetricFamily("sipwarden_verdicts", "Verdicts of the detectors, by reason", labels=["reason"])
        for reason, n in sorted(d.detection.reasons.items()):
            vr.add_metric([reason], n)
        yield vr
        er = CounterMetricFamily("sipwarden_errors", "Errors caught, by stage", labels=["stage"])
        for stage, n in sorted(d.errors.counts.items()):
            er.add_metric([stage], n)
        yield er
        yield _gauge("sipwarden_tracked_sources", "Sources the detectors remember", len(d.engine.sources))
        yield _gauge("sipwarden_kernel_queued", "Ban batches waiting for the firewall", d.bans.kernel.worker.pending())
        for key, value in sorted(d.wire.status().items()):
            if isinstance(value, bool) or key in WIRE_GAUGES:
                v = len(value) if isinstance(value, list | tuple) else int(bool(value)) if isinstance(value, bool) else value
                if isinstance(v, int | float):
                    yield _gauge(f"sipwarden_wire_{key}", f"wire: {key}", v)
            elif isinstance(value, int | float):
                yield _counter(f"sipwarden_wire_{key}", f"wire: {key}", value)
        for part in (getattr(d, "fleet", None), getattr(d, "blocklists", None)):  # fleet/, blocklist/ (when on)
            if part is not None:
                for name, doc, value, is_gauge in part.metrics():
                    yield (_gauge if is_gauge else _counter)(name, doc, value)
        notify = getattr(d, "notifier", None)
        if notify is not None:
            st = notify.status()
            for key in ("sent", "failed", "dropped"):
                yield _counter(f"sipwarden_notify_{key}", f"notifications {key}", st[key])
            yield _gauge("sipwarden_notify_queued", "notifications waiting", st["queued"])


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)
