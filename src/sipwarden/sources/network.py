"""The daemon's network sources (HEP listener, live capture, AMI client), started and stopped as
one, with counters.

Every source hands Events to one callback on the event loop (the daemon's `_handle`), so the
engine stays single-threaded. One PacketIntake is shared, so the PBX learnt from any source is
spared in all of them. A source that cannot start (port taken, no root for capture) is logged
and skipped: the others and the log followers keep working.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from ..addr import parse_hostport, parse_listen
from ..config import WireConfig
from ..events import Event
from ..parsers.packets import PacketIntake
from .hep_listener import Batch, TcpHep, UdpReceiver, open_udp

log = logging.getLogger("sipwarden")


class NetworkSources:
    def __init__(self, cfg: WireConfig, handle: Callable[[list[Event]], None], pbx: set[str] | frozenset[str],
                 decided: Callable[[str], bool] | None = None, clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.decided = decided  # already banned: a capture skips its packets (the firewall drops them)
        self.handle = handle
        self.clock = clock
        self.intake = PacketIntake(frozenset(pbx), cfg.hep_password)
        self.udp: list[UdpReceiver] = []
        self.tcp: TcpHep | None = None
        self.captures: list = []  # live_capture.Capture
        self.ami = None  # ami_client.AmiClient
        self._ami_task: asyncio.Task | None = None
        self.errors: list[str] = []

    @property
    def active(self) -> bool:
        return bool(self.cfg.hep or self.cfg.capture or self.cfg.ami)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.cfg.hep:
            self.tcp = TcpHep(self._hep_batch, self._junk)
        for spec in self.cfg.hep:
            host, port = parse_listen(spec)
            if not self.cfg.hep_password and host not in ("127.0.0.1", "::1", "localhost"):
                log.warning("HEP collector %s listens beyond this host without a capture password: anyone "
                            "who can reach it can forge packets that name any address; set --hep-password "
                            "(Kamailio/Asterisk/FreeSWITCH all send one) or bind to loopback", spec)
            try:
                r = UdpReceiver(open_udp(host, port), loop, self._hep_batch)
                r.start()
                self.udp.append(r)
                await self.tcp.listen(host, port)  # type: ignore[union-attr]
                log.info("HEP collector on %s udp+tcp", spec)
            except OSError as e:
                self._error(f"HEP {spec}: {e.strerror or e}")
        for iface in self.cfg.capture:
            from .live_capture import Capture
            try:
                c = Capture(iface, self.cfg.capture_ports, loop, self._packets, self.decided)
                c.start()
                self.captures.append(c)
                log.info("capturing SIP on %s", iface)
            except OSError as e:
                self._error(f"capture {iface}: {e.strerror or e}")
        if self.cfg.ami:
            from .ami_client import AmiClient
            host, port = parse_hostport(self.cfg.ami)
            self.ami = AmiClient(host, port, self.cfg.ami_user, self.cfg.ami_secret, self.handle,
                                 ping=self.cfg.ami_ping)
            self._ami_task = asyncio.create_task(self.ami.run())

    def _error(self, text: str) -> None:
        self.errors.append(text)
        log.error("%s; this source is off", text)

    def _junk(self) -> None:
        self.intake.counters["parse_errors"] += 1

    def _hep_batch(self, batch: Batch) -> None:
        hep = self.intake.hep
        events: list[Event] = []
        for data, t in batch:
            try:
                events.extend(hep(data, t))
            except Exception:  # a parser bug must never stop the daemon
                self.intake.counters["parse_errors"] += 1
                log.exception("HEP datagram could not be handled")
        self.handle(events)

    def _packets(self, batch: list[tuple[float, str, int, str, int, str, bytes]]) -> None:
        sip = self.intake.sip
        events: list[Event] = []
        for t, src, sport, dst, dport, transport, payload in batch:
            try:
                events.extend(sip(payload, src, sport, dst, dport, t, transport, "capture"))
            except Exception:
                self.intake.counters["parse_errors"] += 1
                log.exception("captured packet could not be handled")
        self.handle(events)

    async def stop(self) -> None:
        for r in self.udp:
            r.stop()
        if self.tcp is not None:
            self.tcp.close()
        for c in self.captures:
            c.stop()
        if self._ami_task is not None:
            self._ami_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # stopping anyway
                await self._ami_task

    def status(self) -> dict:
        """Per-source counters for `sipwarden status --json` (drops are never silent)."""
        c = self.intake.counters
        udp_drops = [r.drops() for r in self.udp]
        return {
            "hep_packets": c["hep_packets"], "hep_rejected": c["hep_rejected"],
            "sip_messages": c["sip_messages"], "parse_errors": c["parse_errors"],
            "capture_drops": sum(cap.drops() for cap in self.captures),
            "ami_events": self.ami.events if self.ami is not None else 0,
            "ami_connected": bool(self.ami is not None and self.ami.connected),
            "hep_udp_drops": sum(d for d in udp_drops if d is not None),
            "hep_queue_drops": sum(r.queue_drops for r in self.udp) + sum(cap.queue_drops for cap in self.captures),
            "capture_skipped_banned": sum(cap.skipped_banned for cap in self.captures),
            "pbx_addresses": sorted(self.intake.servers),
            "errors": list(self.errors),
        }


def for_config(cfg, handle: Callable[[list[Event]], None],  # noqa: ANN001 - a config.Config
               decided: Callable[[str], bool] | None = None) -> NetworkSources:
    """NetworkSources for a daemon config; the PBX is the configured addresses plus the host's own."""
    from ..addr import normalize
    pbx = {a for a in (normalize(x) for x in cfg.wire.pbx_addresses) if a}
    if cfg.whitelist.host_addresses:
        from .hostaddrs import host_addresses
        pbx.update(host_addresses())
    return NetworkSources(cfg.wire, handle, pbx, decided)
