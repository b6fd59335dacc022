"""Request floods where the input shows volume.

With chan_sip alwaysauthreject=yes a flood leaves only `ChallengeSent` events: a source whose
challenges are not followed by successful logins is counted (each success cancels one challenge,
so a busy office behind one NAT whose phones do log in never accumulates). Any failure kind also
counts towards a short burst window.
"""

from __future__ import annotations

from ..config import DetectConfig
from .state import Source


def challenge(src: Source, origin: str | None, t: float, cfg: DetectConfig) -> str | None:
    n = src.window("chal", origin, cfg.flood_window, cfg.flood_challenges).add(t)
    if n >= cfg.flood_challenges:
        return f"{n} challenges never answered by a successful login within {cfg.flood_window:g}s"
    return None


def answered(src: Source, origin: str | None) -> None:
    w = src.win.get(("chal", origin))
    if w is not None:
        w.pop_newest()  # type: ignore[union-attr]


def burst(src: Source, origin: str | None, t: float, cfg: DetectConfig) -> str | None:
    n = src.window("burst", origin, cfg.flood_burst_window, cfg.flood_failures).add(t)
    if n >= cfg.flood_failures:
        return f"{n} failures within {cfg.flood_burst_window:g}s"
    return None
