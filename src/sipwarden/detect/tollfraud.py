"""Toll-fraud probing: calls to missing extensions, especially numbers that look international
behind trunk prefixes (9, 00, 011, 9011, +, ...), from sources that are not logged in."""

from __future__ import annotations

from ..events import NO_EXTENSION_MATCH, Event, Reason
from .detector import Finding
from .state import Context, Source


def international(target: str | None, prefixes: tuple[str, ...]) -> bool:
    """Does a dialled string look like an international number behind a trunk prefix?"""
    if not target:
        return False
    digits = sum(c.isdigit() for c in target)
    if digits < 8:
        return False
    if "+" in target:
        return True
    stripped = target.lstrip("*#")
    return any(stripped.startswith(p) for p in prefixes)


def counts(ev: Event) -> bool:
    """Is this rejected call evidence against its source? Not when the PBX identified the caller (a
    named chan_sip peer or PJSIP endpoint, e.g. the provider's trunk delivering a call to an unassigned
    DID), nor chan_sip's FailedACL "no_extension_match", which repeats the messages line without
    saying who called."""
    return ev.account is None and ev.detail != NO_EXTENSION_MATCH


class Tollfraud:
    """Rejected calls (CALL_REJECTED that `counts`) per source, those to international numbers apart."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def observe(self, src: Source, ev: Event, t: float) -> Finding | None:
        cfg = self.ctx.cfg
        n = src.window("calls", ev.origin, cfg.findtime, cfg.call_maxretry).add(t)
        if international(ev.target, cfg.tollfraud_prefixes):
            k = src.window("intl", ev.origin, cfg.findtime, cfg.tollfraud_maxretry).add(t)
            if k >= cfg.tollfraud_maxretry:
                return Finding(Reason.TOLLFRAUD, f"{k} rejected calls to international-looking numbers within "
                                                 f"{cfg.findtime:g}s (last {ev.target})")
        if n >= cfg.call_maxretry:
            return Finding(Reason.TOLLFRAUD, f"{n} rejected calls within {cfg.findtime:g}s")
        return None
