"""Password guessing: wrong credentials / ACL failures from one source within findtime.

A source that has logged in is a place real phones are (a phone with a stale password, or an
office NAT where a changed password makes each phone fail once): its failures count 1/stale_factor.
A login also takes back the failures its account had from that source just before (a typo, a phone
given its new password). A source that cracks an account this way is caught by `compromise`.

An office NAT after a password change fails before any login: each phone fails once, on its own
account, then logs in with the new password. A guesser spraying one password over many accounts
looks the same until then, but its failures never turn into logins. So when every failure that
decides is on another account, tried once (`spread`), the verdict waits `login_grace` seconds for
logins that take those failures back (the engine decides when the grace is over). Failures at a
tool's pace (all within `flood_burst_window`) and more accounts than an office re-logs at once
(`bruteforce_maxretry` x `stale_factor`) are decided at once.
"""

from __future__ import annotations

from ..config import DetectConfig
from ..events import Event, Reason
from .detector import Finding
from .state import Context, Source


class Bruteforce:
    """Wrong credentials (AUTH_FAILED), ACL failures and bad requests counted per source and origin."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def observe(self, src: Source, ev: Event, t: float) -> Finding | None:
        why = failure(src, ev.origin, ev.account, t, self.ctx.cfg)
        return Finding(Reason.BRUTEFORCE, why) if why else None

    def login(self, src: Source, ev: Event, t: float) -> None:
        if src.fails and ev[6] is not None:
            forgive(src, ev[6])


def failure(src: Source, origin: str | None, account: str | None, t: float, cfg: DetectConfig) -> str | None:
    """Count one failure of `account` from `origin`; why it decides, if it does."""
    if src.ok_accounts:
        n = src.window("stale", origin, cfg.findtime, cfg.bruteforce_maxretry * cfg.stale_factor).add(t)
        if n >= cfg.bruteforce_maxretry * cfg.stale_factor:
            if account is not None and account in src.ok_accounts:
                return f"{n} failures in {cfg.findtime:g}s on account {account} it had logged into"
            return f"{n} failures in {cfg.findtime:g}s from a source with logins"
        return None
    n = src.window("fail", origin, cfg.findtime, cfg.bruteforce_maxretry).add(t)
    if n >= cfg.bruteforce_maxretry:
        return f"{n} authentication failures within {cfg.findtime:g}s"
    return None


def forgive(src: Source, account: str) -> None:
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


def spread(src: Source, origin: str | None, cfg: DetectConfig) -> bool:
    """Are the failures that decide (`origin`'s window) each a wrong password on another account, tried
    once, and paced like phones rather than a tool (not all within `flood_burst_window`)?"""
    fails = src.fails
    w = src.win.get(("fail", origin))
    if not fails or w is None or len(w) < 2 or w.times[-1] - w.times[0] <= cfg.flood_burst_window:
        return False
    once = 0
    for (o, _), k in fails.items():
        if k != 1:
            return False
        if o == origin:
            once += 1
    return once >= len(w)


def still_guilty(src: Source) -> int:
    """Accounts that failed from the source (the most of any origin) and that no login took back."""
    per: dict[str | None, int] = {}
    for o, _ in src.fails or ():
        per[o] = per.get(o, 0) + 1
    return max(per.values(), default=0)
