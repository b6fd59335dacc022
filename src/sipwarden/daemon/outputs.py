"""The daemon's outputs beyond its log: Prometheus metrics, notifications and the HTTP side.

All of them are outputs of the one ban path (BanService listeners) and readers of the daemon's
own counts: none bans anything by itself (the API's writes call BanService). `Outputs` plugs them
into a `daemon.service.Daemon` in four steps the daemon calls: construct (binds the HTTP port,
so a bad listen address refuses the start), `counting(feed)`, `attach()`, `start()`/`stop()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..notify import from_config
from .kernel import NOT_SET_UP
from .metrics import Metrics

log = logging.getLogger("sipwarden")

FIREWALL_CHECK = 1.0  # seconds between looks at the firewall's state (for notifications)


class Outputs:
    def __init__(self, daemon) -> None:  # noqa: ANN001 - a daemon.service.Daemon
        self.d = daemon
        cfg = daemon.cfg
        self.metrics = Metrics(daemon.clock)
        self.notifier = from_config(cfg.notify)
        self.http = None
        if cfg.http.listen:
            from ..api.server import HttpServer
            self.http = HttpServer(cfg, cfg.http.listen, daemon, self.metrics)
        self._watch: asyncio.Task | None = None

    def counting(self, feed):  # noqa: ANN001, ANN201
        return self.metrics.counting(feed)

    def attach(self) -> None:
        d = self.d
        d.notifier = self.notifier
        self.metrics.attach(d)
        d.bans.listeners.append(self.notifier.on_change)
        d.status.add("notify", self.notifier.status)
        if self.http is not None:
            d.status.add("http", self.http.status)

    async def start(self) -> None:
        d = self.d
        await self.notifier.start(f"backend {d.cfg.ban.backend}, {d.bans.count(d.clock())} ban(s) in force")
        if self.notifier.senders:
            self._watch = asyncio.create_task(self._firewall(), name="notify-firewall")
        if self.http is not None:
            await self.http.start()

    async def renotify(self, cfg) -> None:  # noqa: ANN001 - a config.NotifyConfig
        """New notification settings (a config reload): the old notifier sends what it holds, the new
        one takes over as the ban path's listener."""
        old, new = self.notifier, from_config(cfg)
        d = self.d
        d.bans.listeners[:] = [new.on_change if cb == old.on_change else cb for cb in d.bans.listeners]
        self.notifier = d.notifier = new
        d.status.add("notify", new.status)
        await old.stop("reloading the config")
        await new.start("config reloaded")
        if new.senders and self._watch is None:
            self._watch = asyncio.create_task(self._firewall(), name="notify-firewall")

    async def _firewall(self) -> None:
        kernel, backend = self.d.bans.kernel, self.d.cfg.ban.backend
        while True:
            error = kernel.error
            if error != NOT_SET_UP:
                self.notifier.firewall(error, backend)
            await asyncio.sleep(FIREWALL_CHECK)

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.stop()
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self.notifier.stop()
