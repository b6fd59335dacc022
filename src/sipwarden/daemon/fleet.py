"""The fleet inside the daemon: the link's host is the one ban path and the one entry for events.

- another node's ban -> `BanService.apply(verdicts, now, origin="fleet:NODE")`: this node's policy
  (its whitelist always wins, an address already banned is left alone, its escalation ladder);
- another node's unban -> `BanService.unban(ip, by="fleet:NODE")`;
- another node's events -> `Detection.feed(events)` (their `file` says `fleet:NODE`);
- this node's bans, and the unbans its operator makes, are published by a BanService listener; a
  change whose origin is the fleet is never published again (no echo between nodes);
- this node's own events are published once detection has them (`feed`), unless they decided.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from ..config import Config
from ..config.fleet import node_name, read_password, redis_target
from ..events import Event, Reason, Verdict
from ..fleet.link import FleetLink
from ..fleet.messages import BanMessage
from ..store.sqlite import Store
from .bans import BanChange, BanService
from .detection import Detection

# Unbans that are a person's decision about the address travel; expiry and a local whitelist change
# ("whitelist (reload)") are this node's own business.
SHARED_UNBANS = frozenset({"operator", "api"})


def verdict_of(msg: BanMessage, node: str) -> Verdict:
    """Another node's ban as a verdict for this node's policy."""
    return Verdict(ip=msg.ip, reason=Reason(msg.reason), at=msg.at, events=0,
                   evidence=f"fleet ban from {node}: {msg.evidence}"[:400], origins=(f"fleet:{node}",),
                   proven=msg.proven)


class DaemonHost:
    def __init__(self, bans: BanService, detection: Detection, store: Store) -> None:
        self.bans = bans
        self.detection = detection
        self.store = store

    def fleet_ban(self, node: str, bans: list[BanMessage], now: float) -> int:
        return len(self.bans.apply([verdict_of(m, node) for m in bans], now, origin=f"fleet:{node}"))

    def fleet_unban(self, node: str, ip: str, now: float) -> bool:
        return self.bans.unban(ip, by=f"fleet:{node}", now=now)

    def fleet_events(self, events: list[Event]) -> None:
        self.detection.feed(events)

    def get_meta(self, key: str) -> str | None:
        return self.store.get_meta(key)

    def set_meta(self, key: str, value: str) -> None:
        self.store.set_meta(key, value)


def publisher(link: FleetLink) -> Callable[[BanChange], None]:
    """The BanService listener that shares this node's own ban changes."""
    def on_change(c: BanChange) -> None:
        if c.origin.startswith("fleet:"):
            return
        if c.kind == "ban":
            ev = c.evidence if isinstance(c.evidence, dict) else {}
            link.share_ban(c.ip, c.reason, str(ev.get("evidence", "")), c.expires, c.at, ev.get("proven", True) is True)
        elif c.kind == "unban" and c.origin in SHARED_UNBANS:
            link.share_unban(c.ip, c.at)
    return on_change


def feeder(link: FleetLink, feed: Callable[[Iterable[Event]], None]) -> Callable[[Iterable[Event]], None]:
    """`feed` for this node's own sources: the events go into detection, then those of sources
    still undecided are shared. A source this batch decided is not shared: its ban will be (one
    message instead of its events, and the others apply this node's decision rather than racing it)."""
    def feed_and_share(events: Iterable[Event]) -> None:
        events = events if isinstance(events, list) else list(events)
        feed(events)
        link.share_events(events)
    return feed_and_share


def make_link(cfg: Config, bans: BanService, detection: Detection, store: Store, clock=time.time) -> FleetLink:  # noqa: ANN001
    """The daemon's link to the fleet, publishing through a BanService listener."""
    fc = cfg.fleet
    engine = detection.engine
    link = FleetLink(fc, redis_target(fc), node_name(fc), read_password(fc), DaemonHost(bans, detection, store),
                     decided=lambda ip: getattr(engine.sources.get(ip), "verdict", None) is not None,
                     window=max(cfg.detect.findtime, cfg.detect.distributed_window), clock=clock,
                     widest=(cfg.detect.subnet_v4_prefix, cfg.detect.subnet_v6_prefix))
    bans.listeners.append(publisher(link))
    return link
