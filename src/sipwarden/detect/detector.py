"""What a detector is: it observes one source's events and returns findings; it never makes a
verdict. The engine alone turns findings into verdicts (which finding wins, compromise, the login
grace, what a network or another source is judged on). Which detector sees which event kinds, and
in which order, is the registry's (registry.py).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

from ..events import Event, Reason
from .state import Source


class Finding(NamedTuple):
    """What a detector found: `reason` and a one-line `why`. About the source observed, unless
    `net` names its network (judged on the source's figures) or `peers` names other sources
    (each judged on its own)."""

    reason: Reason
    why: str
    net: str | None = None
    peers: tuple[str, ...] = ()


class Detector(Protocol):
    """Evidence of one kind of attack, kept in the source's windows (or the detector's own tables).

    Built once per engine by its registry entry's `make(ctx)` (read `ctx.cfg` at each call: a reload
    replaces it). `observe` is called for every event of a kind the registry routes to it, from a
    source not yet judged, in event-time order. No clock, no I/O, no verdicts.
    """

    def observe(self, src: Source, ev: Event, t: float) -> Finding | None: ...


@runtime_checkable
class TakesBack(Protocol):
    """A detector whose evidence a successful login takes back (a phone, not a guesser). Called for
    each AUTH_OK the engine does not judge a compromise, after `observe`."""

    def login(self, src: Source, ev: Event, t: float) -> None: ...


@runtime_checkable
class Forgets(Protocol):
    """A detector with tables beyond the source (networks, accounts): `forget` is called when a ban
    on `ip` (an address or a network) ended, so it can be judged afresh."""

    def forget(self, ip: str) -> None: ...
