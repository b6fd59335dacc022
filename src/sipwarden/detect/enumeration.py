"""Extension enumeration: unknown accounts ("no matching peer/endpoint") tried by one source."""

from __future__ import annotations

from ..events import Event, Reason
from .detector import Finding
from .state import Context, Source


class Enumeration:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def observe(self, src: Source, ev: Event, t: float) -> Finding | None:
        cfg = self.ctx.cfg
        w = src.keyed("unknown", ev.origin, cfg.findtime, max(cfg.enumeration_accounts, cfg.enumeration_maxretry))
        w.add(t, ev.account or "")
        if w.distinct >= cfg.enumeration_accounts:
            return Finding(Reason.ENUMERATION, f"{w.distinct} distinct unknown accounts tried within {cfg.findtime:g}s")
        if len(w) >= cfg.enumeration_maxretry:
            return Finding(Reason.ENUMERATION, f"{len(w)} unknown-account failures within {cfg.findtime:g}s")
        return None
