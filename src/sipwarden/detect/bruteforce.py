"""Password guessing: wrong credentials / ACL failures from one source within findtime.

A source that has logged into an account and then fails on that same account is most likely a
phone with a stale password (behind NAT, retrying): those failures count 1/stale_factor.
"""

from __future__ import annotations

from ..config import DetectConfig
from ..events import Event
from .state import Source


def observe(src: Source, ev: Event, t: float, cfg: DetectConfig) -> str | None:
    if ev.account is not None and ev.account in src.ok_accounts:
        n = src.window("stale", ev.origin, cfg.findtime, cfg.bruteforce_maxretry * cfg.stale_factor).add(t)
        if n >= cfg.bruteforce_maxretry * cfg.stale_factor:
            return f"{n} failures in {cfg.findtime:g}s on account {ev.account} it had logged into"
        return None
    n = src.window("fail", ev.origin, cfg.findtime, cfg.bruteforce_maxretry).add(t)
    if n >= cfg.bruteforce_maxretry:
        return f"{n} authentication failures within {cfg.findtime:g}s"
    return None
