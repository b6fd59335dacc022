"""Password guessing: wrong credentials / ACL failures from one source within findtime.

A source that has logged in is a place real phones are (a phone with a stale password, or an
office NAT where a changed password makes each phone fail once): its failures count 1/stale_factor.
A login also takes back the failures its account had from that source just before (a typo, a phone
given its new password). A source that cracks an account this way is caught by `compromise`.
"""

from __future__ import annotations

from ..config import DetectConfig
from ..events import Event
from .state import Source


def observe(src: Source, ev: Event, t: float, cfg: DetectConfig) -> str | None:
    if src.ok_accounts:
        n = src.window("stale", ev.origin, cfg.findtime, cfg.bruteforce_maxretry * cfg.stale_factor).add(t)
        if n >= cfg.bruteforce_maxretry * cfg.stale_factor:
            if ev.account is not None and ev.account in src.ok_accounts:
                return f"{n} failures in {cfg.findtime:g}s on account {ev.account} it had logged into"
            return f"{n} failures in {cfg.findtime:g}s from a source with logins"
        return None
    n = src.window("fail", ev.origin, cfg.findtime, cfg.bruteforce_maxretry).add(t)
    if n >= cfg.bruteforce_maxretry:
        return f"{n} authentication failures within {cfg.findtime:g}s"
    return None


def forgive(src: Source, account: str, origin: str | None) -> None:
    """A login on `account`: its failures from this source were a typo or an old password, not guesses."""
    fails = src.fails
    if not fails:
        return
    for key in [k for k in fails if k[1] == account]:
        n = fails.pop(key)
        w = src.win.get(("fail", key[0]))
        if w is not None:
            for _ in range(min(n, len(w))):
                w.pop_newest()  # type: ignore[union-attr]
