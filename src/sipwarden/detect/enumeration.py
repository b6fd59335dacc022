"""Extension enumeration: unknown accounts ("no matching peer/endpoint") tried by one source."""

from __future__ import annotations

from ..config import DetectConfig
from ..events import Event
from .state import Source


def observe(src: Source, ev: Event, t: float, cfg: DetectConfig) -> str | None:
    w = src.keyed("unknown", ev.origin, cfg.findtime, max(cfg.enumeration_accounts, cfg.enumeration_maxretry))
    w.add(t, ev.account or "")
    if w.distinct >= cfg.enumeration_accounts:
        return f"{w.distinct} distinct unknown accounts tried within {cfg.findtime:g}s"
    if len(w) >= cfg.enumeration_maxretry:
        return f"{len(w)} unknown-account failures within {cfg.findtime:g}s"
    return None
