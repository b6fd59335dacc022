"""`sipwarden run`: followed logs -> parsers -> engine -> policy -> kernel bans + store, under asyncio.

The loop wakes on inotify, reads every new complete line, and bans in the same turn: one kernel
transaction for all the bans a batch of lines decided. The store (SQLite) remembers bans, read
positions and event history, so a restart restores every ban still due and resumes each file
where it stopped. Nothing a log line contains can stop the loop: a bad line is counted, a
missing file or firewall is logged and retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import json
import logging
import os
import signal
import time
from pathlib import Path

from .addr import AddressSet
from .config import Config
from .detect.engine import Engine
from .enforce import Ban, EnforceError, make_enforcer
from .events import Decision, Event, Verdict
from .parsers.logstream import LogParser
from .policy import Policy
from .sources.follow import FollowedFile, Position, Watcher
from .store.sqlite import Store
from .timefmt import Clock, tz_from_name

log = logging.getLogger("sipwarden")

SOCKET_NAME = "control.sock"
DB_NAME = "sipwarden.db"
TICK = 1.0  # seconds between housekeeping rounds (expiry, positions, history)
POLL = 5.0  # safety re-read of every file even when inotify is quiet
GC_THRESHOLD = 100_000
READ_BUDGET = 1 << 20  # bytes of backlog handled per loop turn
HISTORY_BATCH = 5_000  # events buffered before a history write (bounded memory under floods)
HISTORY_MAX_ROWS = 2_000_000
HISTORY_DAYS = 14
# Wire requests and plain responses are raw volume (tens of thousands a second in a flood, and a
# history row costs ~25 us): verdicts keep their counts; the history keeps what was judged.
WIRE_VOLUME = frozenset({"request", "response"})


class Daemon:
    def __init__(self, cfg: Config, state_dir: str, watch: list[str], from_start: bool = False,
                 clock=time.time) -> None:  # noqa: ANN001
        self.cfg = cfg
        self.state_dir = Path(state_dir)
        self.watch = watch
        self.from_start = from_start
        self.clock = clock
        self.started = clock()
        self.stats = {"lines": 0, "events": 0, "verdicts": 0, "bans": 0, "unbans": 0, "errors": 0}
        self.files: dict[str, FollowedFile] = {}
        self.parsers: dict[str, LogParser] = {}
        self._history: list[Event] = []
        self._stop = asyncio.Event()
        self._draining: set[str] = set()
        self.enforcer = None
        self.enforce_error: str | None = None

    # --- set-up -------------------------------------------------------------------------------

    def _whitelist(self) -> AddressSet:
        wl = self.cfg.whitelist_set()
        if self.cfg.whitelist.host_addresses:
            from .hostaddrs import host_addresses
            for a in host_addresses():
                wl.add(a)
        return wl

    def _setup_enforcer(self) -> None:
        try:
            if self.enforcer is None:
                self.enforcer = make_enforcer(self.cfg.ban)
            self.enforcer.setup()
            if self.enforce_error:
                log.info("firewall available again (%s)", self.cfg.ban.backend)
            self.enforce_error = None
        except EnforceError as e:
            if self.enforce_error != str(e):
                log.error("firewall: %s; bans are recorded and will be applied when it works", e)
            self.enforce_error = str(e)

    def _apply(self, bans: list[Ban]) -> None:
        if not bans:
            return
        if self.enforce_error is not None:
            self._setup_enforcer()
        if self.enforce_error is not None or self.enforcer is None:
            return
        try:
            self.enforcer.ban(bans, self.clock())
        except EnforceError as e:
            self.stats["errors"] += 1
            log.error("firewall: could not apply %d ban(s): %s; will retry", len(bans), e)
            self.enforce_error = str(e)

    def _lift(self, ips: list[str]) -> None:
        if not ips or self.enforcer is None or self.enforce_error is not None:
            return
        try:
            self.enforcer.unban(ips)
        except EnforceError as e:
            self.stats["errors"] += 1
            log.error("firewall: could not lift %s: %s", ", ".join(ips), e)

    async def run(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.store = Store(self.state_dir / DB_NAME)
        self.whitelist = self._whitelist()
        self.engine = Engine(self.cfg.detect, self.whitelist)
        self.policy = Policy(self.cfg.ban, self.whitelist)
        self._setup_enforcer()
        now = self.clock()
        active = self.store.active_bans(now)
        self._apply([Ban(b.ip, b.expires, b.reason) for b in active])
        log.info("sipwarden %s started: backend %s, %d ban(s) restored, watching %s",
                 _version(), self.cfg.ban.backend, len(active), ", ".join(self.watch) or "nothing")
        year, tz = dt.date.today().year, tz_from_name(self.cfg.log.timezone)
        for path in self.watch:
            f = FollowedFile(path)
            saved = self.store.load_position(path)
            pos = Position(saved.inode, saved.offset, saved.head_hash) if saved else None
            rotated_rest = f.open(pos, from_end=pos is None and not self.from_start)
            self.files[path] = f
            self.parsers[path] = LogParser(Clock(year, tz), file=path)
            if rotated_rest:
                self._process(path, rotated_rest)
        self._flush_parsers()
        # Long-lived state (sources, windows) is made of many small containers: Python's cyclic
        # collector would walk all of them every few hundred events. Nothing here makes cycles
        # worth chasing often, so collect rarely and leave what exists at start alone.
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD, 50, 50)
        loop = asyncio.get_running_loop()
        self.watcher = Watcher(self.watch)
        fd = self.watcher.fileno()
        if fd is not None:
            loop.add_reader(fd, self._on_notify)
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._stop.set)
        sock = self.state_dir / SOCKET_NAME
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        old_umask = os.umask(0o077)  # the socket is born owner-only: no window before a chmod
        try:
            server = await asyncio.start_unix_server(self._client, path=str(sock))
        finally:
            os.umask(old_umask)
        self._read_all()  # anything written between open and watch
        from .sources.wire_runtime import for_config
        self.wire = for_config(self.cfg, self._handle,  # HEP, live capture, AMI (none by default)
                               lambda ip: getattr(self.engine.sources.get(ip), "verdict", None) is not None)
        await self.wire.start()
        housekeeping = asyncio.create_task(self._housekeeping())
        try:
            await self._stop.wait()
        finally:
            housekeeping.cancel()
            await self.wire.stop()
            server.close()
            if fd is not None:
                loop.remove_reader(fd)
            self.watcher.close()
            self._read_all()
            self._save_positions()
            self._write_history()
            with contextlib.suppress(FileNotFoundError):
                sock.unlink()
            for f in self.files.values():
                f.close()
            self.store.close()
            log.info("sipwarden stopped")

    def stop(self) -> None:
        self._stop.set()

    # --- the hot path -------------------------------------------------------------------------

    def _on_notify(self) -> None:
        for path in self.watcher.changed():
            self._drain(path)

    def _read_all(self) -> None:
        for path in self.files:
            self._drain(path)

    def _drain(self, path: str) -> None:
        """Read and handle one slice of new lines; if more is waiting, come back after the loop
        has served everything else (control socket, housekeeping, other files)."""
        f = self.files.get(path)
        if f is None:
            return
        self._process(path, f.read(READ_BUDGET))
        if not f.more:  # a slice may end inside a split event: flush only at the end of the data
            self._handle(list(self.parsers[path].flush()))
        elif path not in self._draining:
            self._draining.add(path)
            asyncio.get_running_loop().call_soon(self._drain_again, path)

    def _drain_again(self, path: str) -> None:
        self._draining.discard(path)
        self._drain(path)

    def _process(self, path: str, lines: list[tuple[int, str]]) -> None:
        if not lines:
            return
        parser = self.parsers[path]
        parser.clock.not_after = self.clock()  # a year-less time later than now is last year's
        events: list[Event] = []
        for lineno, text in lines:
            try:
                events.extend(parser.feed(text, lineno))
            except Exception:  # a parser bug must never stop the daemon; the line is counted
                self.stats["errors"] += 1
                log.exception("%s:%d: could not parse line", path, lineno)
        self.stats["lines"] += len(lines)
        self._handle(events)

    def _flush_parsers(self) -> None:
        events: list[Event] = []
        for p in self.parsers.values():
            events.extend(p.flush())
        self._handle(events)

    def _handle(self, events: list[Event]) -> None:
        if not events:
            return
        now = self.clock()
        verdicts: list[Verdict] = []
        feed = self.engine.feed
        for ev in events:
            if ev.time is None:  # journald lines carry no time: they happen now
                ev = ev._replace(time=now)
            verdicts.extend(feed(ev))
            if (ev.ip is not None and ev.kind not in WIRE_VOLUME) or ev.kind == "tamper":
                self._history.append(ev)
        self.stats["events"] += len(events)
        if verdicts:
            self._decide(verdicts, now)
        if len(self._history) >= HISTORY_BATCH:
            self._write_history()

    def _decide(self, verdicts: list[Verdict], now: float) -> None:
        self.stats["verdicts"] += len(verdicts)
        decisions: list[Decision] = []
        for v in verdicts:
            already = self.store.get_ban(v.ip, now) is not None
            d = self.policy.decide(v, self.store.offences(v.ip), already)
            if d.ban:
                decisions.append(d)
            else:
                log.info("no ban for %s (%s): %s", v.ip, v.reason, d.why)
        if not decisions:
            return
        bans = [Ban(d.verdict.ip, now + d.duration if d.duration is not None else None,
                    f"{d.verdict.reason}") for d in decisions]
        self._apply(bans)  # the kernel first: the store write can wait a millisecond
        for d, b in zip(decisions, bans, strict=True):
            v = d.verdict
            self.store.add_ban(v.ip, str(v.reason), v.to_dict(), now, b.expires)
            self.stats["bans"] += 1
            log.warning("BAN %s for %s: %s - %s (%s)", v.ip, _span(d.duration), v.reason, v.evidence, d.why)

    # --- housekeeping -------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        last_poll = last_reconcile = self.clock()
        while True:
            await asyncio.sleep(TICK)
            try:
                now = self.clock()
                self._expire(now)
                if now - last_poll >= POLL or self.watcher.fileno() is None:
                    last_poll = now
                    self._read_all()
                if now - last_reconcile >= self.cfg.ban.reconcile_interval:
                    last_reconcile = now
                    self._reconcile(now)
                self._save_positions()
                if self._history:
                    self._write_history()
            except Exception:  # housekeeping must go on whatever happens
                self.stats["errors"] += 1
                log.exception("housekeeping failed; will retry")

    def _expire(self, now: float) -> None:
        ips = self.store.expire(now)
        if not ips:
            return
        self._lift(ips)  # normally the kernel timeout already did it; this covers other backends
        for ip in ips:
            self.engine.forget(ip)
            self.stats["unbans"] += 1
            log.warning("UNBAN %s (ban expired)", ip)

    def _reconcile(self, now: float) -> None:
        if self.enforce_error is not None:
            self._setup_enforcer()
        if self.enforcer is None or self.enforce_error is not None:
            return
        wanted = {b.ip: b.expires for b in self.store.active_bans(now)}
        try:
            added, removed = self.enforcer.reconcile(wanted, now)
        except EnforceError as e:
            self.enforce_error = str(e)
            log.error("firewall: reconcile failed: %s", e)
            return
        if added or removed:
            log.warning("reconciled the firewall with the store: %d ban(s) restored, %d stray removed",
                        added, removed)

    def _save_positions(self) -> None:
        now = self.clock()
        for path, f in self.files.items():
            if f.fh is not None:
                p = f.position()
                self.store.save_position(path, p.inode, p.offset, p.head_hash, now)

    def _write_history(self) -> None:
        batch, self._history = self._history, []
        if batch:
            self.store.add_events(batch)
            if self.stats["events"] % 100_000 < len(batch):
                self.store.prune_events(self.clock() - HISTORY_DAYS * 86400, HISTORY_MAX_ROWS)

    # --- control socket -----------------------------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                line = await asyncio.wait_for(reader.readline(), timeout=5)
                req = json.loads(line)
                reply = self.control(req if isinstance(req, dict) else {})
            except (ValueError, TypeError, OverflowError) as e:  # junk, a >64 KiB line, Infinity
                reply = {"ok": False, "error": f"bad request: {e}"}
            except (TimeoutError, ConnectionError):
                return
            except Exception as e:  # a control request must never take the daemon down
                self.stats["errors"] += 1
                log.exception("control request failed")
                reply = {"ok": False, "error": f"internal error: {e}"}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    def control(self, req: dict) -> dict:
        """One control request (from the socket), answered from the daemon's own state."""
        cmd = req.get("cmd")
        now = self.clock()
        if cmd == "status":
            return {"ok": True, "running": True, "pid": os.getpid(), "uptime": round(now - self.started, 1),
                    "backend": self.cfg.ban.backend, "firewall_error": self.enforce_error,
                    "active_bans": len(self.store.active_bans(now)), "tracked_sources": len(self.engine.sources),
                    "tamper_events": self.engine.tamper, **self.stats,
                    "files": [{"path": p, "offset": f.offset, "error": f.error} for p, f in self.files.items()],
                    "wire": self.wire.status()}
        if cmd == "bans":
            return {"ok": True, "bans": [b.to_dict() for b in self.store.active_bans(now)]}
        if cmd == "ban":
            try:
                d = self.policy.manual(str(req.get("ip", "")), req.get("duration"), str(req.get("reason") or
                                       "manual"), force=bool(req.get("force")), at=now)
            except ValueError as e:
                return {"ok": False, "error": str(e)}
            v = d.verdict
            expires = now + d.duration if d.duration is not None else None
            self._apply([Ban(v.ip, expires, "manual")])
            rec = self.store.add_ban(v.ip, "manual", v.to_dict(), now, expires, manual=True)
            log.warning("BAN %s for %s: manual - %s", v.ip, _span(d.duration), v.evidence)
            return {"ok": True, "ban": rec.to_dict(), "firewall_error": self.enforce_error}
        if cmd == "unban":
            from .addr import normalize
            ip = str(req.get("ip", ""))
            target = normalize(ip) or ip
            lifted = self.store.lift_ban(target, now, by="operator")
            self._lift([target])
            self.engine.forget(target)
            log.warning("UNBAN %s (operator)%s", target, "" if lifted else " - it was not banned")
            return {"ok": True, "lifted": lifted, "ip": target}
        return {"ok": False, "error": f"unknown command {cmd!r} (status, bans, ban, unban)"}


def _span(seconds: float | None) -> str:
    if seconds is None:
        return "ever"
    if seconds >= 86400:
        return f"{seconds / 86400:g}d"
    if seconds >= 3600:
        return f"{seconds / 3600:g}h"
    if seconds >= 60:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def _version() -> str:
    from . import __version__
    return __version__


def request(state_dir: str, req: dict, timeout: float = 5.0) -> dict | None:
    """Send one request to a running daemon; None if none is listening there."""
    return send(state_dir, json.dumps(req).encode() + b"\n", timeout)


def send(state_dir: str, data: bytes, timeout: float = 5.0) -> dict | None:
    """Send raw bytes to the control socket and read one JSON reply (None: no daemon there)."""
    import socket
    path = os.path.join(state_dir, SOCKET_NAME)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        return None
    try:
        s.sendall(data)
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    return json.loads(buf) if buf else None
