"""Wires the daemon's parts together and runs them (see the package docstring for the flow)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import time
from pathlib import Path

from .. import __version__
from ..config import Config
from ..detect.engine import Engine
from ..enforce import make_enforcer
from ..policy import Policy
from ..store.sqlite import Store
from . import DB_NAME, SOCKET_NAME, sdnotify
from .banlog import BanLog
from .bans import BanService, whitelist
from .control import ControlServer
from .detection import Detection
from .errors import StageErrors
from .housekeeping import Housekeeping
from .journal import Journal
from .kernel import NOT_SET_UP, Kernel
from .lock import StateLock
from .logs import LogSources
from .recovery import open_store
from .status import Status

log = logging.getLogger("sipwarden")

GC_THRESHOLD = 100_000
SWITCH_INTERVAL = 0.001


def ban_service(cfg: Config, store: Store, errors: StageErrors, threaded: bool, clock=time.time) -> BanService:  # noqa: ANN001
    """The one ban path over `store` and the configured firewall (threaded: the daemon; not: the CLI)."""
    kernel = Kernel(lambda: make_enforcer(cfg.ban), cfg.ban.backend, errors, threaded=threaded, clock=clock)
    journal = Journal(store, errors, threaded=threaded)
    return BanService(Policy(cfg.ban, whitelist(cfg)), journal, kernel, errors, clock)


class Daemon:
    def __init__(self, cfg: Config, state_dir: str, watch: list[str], from_start: bool = False,
                 clock=time.time, load_config=None) -> None:  # noqa: ANN001
        self.cfg = cfg
        self.load_config = load_config  # SIGHUP reads the config again through this (None: SIGHUP ignored)
        self.state_dir = Path(state_dir)
        self.watch = watch
        self.from_start = from_start
        self.clock = clock
        self.started = clock()
        self.errors = StageErrors()
        self.status = Status()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    def status_report(self) -> dict:
        now = self.clock()
        k = self.bans.kernel
        p, b = self.detection.counts, self.bans.counts
        summary = {"ok": True, "running": True, "pid": os.getpid(), "version": __version__,
                   "uptime": round(now - self.started, 1), "backend": self.cfg.ban.backend,
                   "firewall_error": k.error, "active_bans": self.bans.count(now),
                   "tracked_sources": len(self.engine.sources), "tamper_events": self.engine.tamper,
                   "lines": self.logs.lines, "events": p["events"], "verdicts": b["verdicts"],
                   "catching_up": self.logs.catching_up}
        summary["health"], summary["problems"] = self.health()
        return self.status.report(summary)

    async def _blocklist(self, req: dict) -> dict:
        if req.get("cmd") == "blocklist_refresh":
            return {"ok": True, "blocklists": await self.blocklists.refresh()}
        return {"ok": True, "blocklists": self.blocklists.status()}

    def health(self) -> tuple[str, list[str]]:
        """"ok", "starting" (the firewall not set up yet) or "degraded", with what is wrong: a ban that
        cannot reach the kernel or the store is a daemon that does not protect (`status` exits 1)."""
        problems = []
        kernel_error = self.bans.kernel.error
        if kernel_error == NOT_SET_UP:
            return "starting", []
        if kernel_error:
            problems.append(f"firewall ({self.cfg.ban.backend}): {kernel_error}")
        store_error = getattr(self.bans.journal, "error", None)
        if store_error:
            problems.append(f"store: {store_error}")
        return ("degraded" if problems else "ok"), problems

    def status_line(self) -> str:
        """One line for `systemctl status` (sd_notify STATUS=): health first."""
        health, problems = self.health()
        head = "DEGRADED: " + "; ".join(problems) if health == "degraded" else health
        n = self.bans.count(self.clock())
        return f"{head}; {n} active ban{'' if n == 1 else 's'}, {self.logs.lines} lines read"

    async def _watchdog(self, interval: float) -> None:
        """WATCHDOG=1 while the event loop turns (a stuck loop gets no ping: systemd restarts it);
        STATUS= says whether the daemon is degraded."""
        while True:
            sdnotify.notify("WATCHDOG=1", f"STATUS={self.status_line()}")
            await asyncio.sleep(interval)

    def _on_hup(self) -> None:
        if self.load_config is None:
            log.warning("SIGHUP: no config to reload")
            return
        asyncio.get_running_loop().create_task(self._reload())

    async def _reload(self) -> None:
        from .reload import reload
        sdnotify.notify("RELOADING=1", "STATUS=reloading the config")
        try:
            await reload(self, self.load_config)
        finally:
            sdnotify.notify("READY=1", f"STATUS={self.status_line()}")

    async def run(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.lock = StateLock.acquire(self.state_dir)  # before the store or the socket is touched
        cfg, clock, errors = self.cfg, self.clock, self.errors
        loop = asyncio.get_running_loop()
        store = self.store = open_store(self.state_dir / DB_NAME, cfg, clock())  # a corrupt one is replaced
        bans = self.bans = ban_service(cfg, store, errors, threaded=True, clock=clock)
        bans.kernel.setup()
        self.engine = Engine(cfg.detect, bans.policy.whitelist)
        self.engine.banned = bans.is_banned  # a login from a banned address (here or by the fleet): compromise
        self.detection = Detection(self.engine, bans, bans.journal, errors, clock)
        self.banlog = BanLog()
        bans.listeners.append(self.banlog)
        active = bans.load(clock())
        log.info("sipwarden %s started: backend %s, %d ban(s) restored, watching %s",
                 __version__, cfg.ban.backend, len(active), ", ".join(self.watch) or "nothing")
        feed = self.detection.feed
        self.fleet = None  # the fleet (Redis): another node's bans and events come in through bans/detection
        if cfg.fleet.redis:
            from .fleet import feeder, make_link
            self.fleet = make_link(cfg, bans, self.detection, store, clock)
            feed = feeder(self.fleet, self.detection.feed)  # this node's own events are shared
        from .outputs import Outputs
        self.outputs = Outputs(self)  # metrics, notifications, HTTP (binds its port now: a bad one stops here)
        feed = self.outputs.counting(feed)
        from ..blocklist.runtime import Blocklists
        self.blocklists = Blocklists(cfg.blocklists, cfg.ban, bans.policy.whitelist, self.state_dir)
        self.logs = LogSources(self.watch, cfg.log.timezone, feed, errors, clock)
        bans.journal.positions(self.logs.open(store, self.from_start), clock())
        from ..sources.network import for_config
        self.wire = for_config(cfg, feed,  # HEP, live capture, AMI (none by default)
                               lambda ip: getattr(self.engine.sources.get(ip), "verdict", None) is not None)
        for name, fn in (("files", self.logs.status), ("detection", self.detection.status), ("bans", bans.status),
                         ("kernel", bans.kernel.status), ("store", bans.journal.status), ("wire", self.wire.status),
                         ("errors", errors.status)):
            self.status.add(name, fn)
        if self.fleet is not None:
            self.status.add("fleet", self.fleet.status)
        if cfg.blocklists.sources:
            self.status.add("blocklists", self.blocklists.status)
        self.outputs.attach()
        # Long-lived state (sources, windows) is made of many small containers: Python's cyclic
        # collector would walk all of them every few hundred events. Nothing here makes cycles
        # worth chasing often, so collect rarely and leave what exists at start alone.
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD, 50, 50)
        # The kernel worker and the HEP receiver wait for the GIL while the loop is busy in a flood:
        # hand it over every 1 ms (default 5 ms), so a ban reaches the kernel without 5 ms stalls.
        sys.setswitchinterval(SWITCH_INTERVAL)
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._stop.set)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGHUP, self._on_hup)
        control = ControlServer(self.state_dir / SOCKET_NAME, bans, self.status_report, errors)
        control.commands["blocklist"] = self._blocklist
        control.commands["blocklist_refresh"] = self._blocklist
        await control.start()
        self.logs.start(loop)
        await self.wire.start()
        if self.fleet is not None:
            await self.fleet.start()
        await self.blocklists.start()
        await self.outputs.start()
        self.housekeeping = Housekeeping(self.detection, bans, bans.journal, self.logs, self.banlog, errors,
                                         cfg.ban.reconcile_interval, clock)
        task = asyncio.create_task(self.housekeeping.run())
        sdnotify.notify("READY=1", f"STATUS={self.status_line()}")
        interval = sdnotify.watchdog_interval()
        watchdog = asyncio.create_task(self._watchdog(interval)) if interval else None
        try:
            await self._stop.wait()
        finally:
            sdnotify.notify("STOPPING=1")
            if watchdog is not None:
                watchdog.cancel()
            task.cancel()
            await self.wire.stop()
            if self.fleet is not None:
                await self.fleet.stop()  # sends what is queued (briefly) and saves the stream positions
            await self.blocklists.stop()
            control.close()
            self.logs.stop(loop)
            self.detection.decide()
            self.detection.flush_history()
            bans.journal.positions(self.logs.positions(), clock())
            self.banlog.tick()
            await self.outputs.stop()  # the last digest and "stopped" go out; HTTP closes
            bans.kernel.close()
            bans.journal.close()
            self.logs.close()
            store.close()
            self.lock.release()
            log.info("sipwarden stopped")
