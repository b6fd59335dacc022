"""Request floods where the input shows volume.

With chan_sip alwaysauthreject=yes a flood leaves only `ChallengeSent` events: a source whose
challenges are not followed by successful logins is counted (each success cancels one challenge,
so a busy office behind one NAT whose phones do log in never accumulates). A challenge counts only
where a login would show: FreeSWITCH logs every re-registration's challenge and never the success,
so there a challenge says nothing until a login was seen from that (origin, service). Any failure
kind also counts towards a short burst window (`Burst`).
"""

from __future__ import annotations

from ..events import Event, Kind, Reason
from .detector import Finding
from .state import Context, Source

# PBX kinds whose logs never show a successful login (FreeSWITCH logs challenges, not successes)
NO_VISIBLE_SUCCESS = frozenset({"FreeSWITCH"})
_AUTH_OK = Kind.AUTH_OK  # bound once (`Kind.X` costs a lookup per use)


class Challenges:
    """Challenges (CHALLENGE_SENT) never answered by a login; sees AUTH_OK to learn where logins show."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.success_seen: set[tuple[str | None, str | None]] = set()  # (origin, service) that showed a login

    def observe(self, src: Source, ev: Event, t: float) -> Finding | None:
        origin, service = ev[12], ev[5]
        if ev[2] is _AUTH_OK:
            self.success_seen.add((origin, service))
            return None
        if service in NO_VISIBLE_SUCCESS and (origin, service) not in self.success_seen:
            return None
        cfg = self.ctx.cfg
        n = src.window("chal", origin, cfg.flood_window, cfg.flood_challenges).add(t)
        if n >= cfg.flood_challenges:
            return Finding(Reason.FLOOD, f"{n} challenges never answered by a successful login within "
                                         f"{cfg.flood_window:g}s")
        return None

    def login(self, src: Source, ev: Event, t: float) -> None:
        w = src.win.get(("chal", ev[12]))
        if w is not None:
            w.pop_newest()  # type: ignore[union-attr]


class Burst:
    """Failures of any kind from one source within `flood_burst_window`: a tool's pace."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def observe(self, src: Source, ev: Event, t: float) -> Finding | None:
        cfg = self.ctx.cfg
        n = src.window("burst", ev.origin, cfg.flood_burst_window, cfg.flood_failures).add(t)
        if n >= cfg.flood_failures:
            return Finding(Reason.FLOOD, f"{n} failures within {cfg.flood_burst_window:g}s")
        return None
