"""Evidence only the wire shows: requests themselves (HEP, pcap, live capture). Pure.

Where logs show failures, the wire shows every request, so it sees attacks the PBX answers
alike (alwaysauthreject, PJSIP challenging everything):

- request rate per source and method, like Kamailio's pike (default 30 in 2 s, not counting
  digest answers: a phone sends one such REGISTER per re-registration; a source with logins,
  an office NAT, may send stale_factor times more): `WireRate`; and per /24 or /64 when two or
  more of its sources together pass `wire_net_requests` (a network a successful login came from
  is never judged whole): `WireNet`;
- distinct accounts tried in requests that never carried a digest answer, from a source that
  never logged in and never answered a challenge (enumeration on PJSIP, which challenges every
  unknown user instead of answering 404): `WireAccounts`;
- digest answers the PBX challenges again (Kamailio and PJSIP answer a wrong password with a
  new 401, not a 403): a failed password, counted as bruteforce does (a phone that logged into
  that account before counts 1/stale_factor): `Rechallenged`;
- INVITEs to international-looking numbers from a source that never logged in (toll fraud
  probing where the PBX only answers with a challenge): `WireTollfraud`;
- scanner fingerprints (scanner.py, as for every event).

Whether a source's evidence needed a round trip (its strength) is the source's `proven` (state.py).
"""

from __future__ import annotations

from collections import OrderedDict

from ..events import Event, Kind, Reason
from .bruteforce import failure
from .detector import Finding
from .state import WIRE_ORIGINS, Context, Source
from .tollfraud import international
from .window import KeyedWindow

MAX_NETS = 100_000
MAX_PENDING = 100_000  # digest answers awaiting the PBX's reply, least recent dropped first
PAIR_WITHIN = 32.0  # seconds a reply may take (SIP timer B/F)
PROBE_METHODS = frozenset({"REGISTER", "OPTIONS", "SUBSCRIBE", "INVITE", "MESSAGE"})
_REQUEST, _CHALLENGE_SENT = Kind.REQUEST, Kind.CHALLENGE_SENT  # bound once (`Kind.X` costs a lookup per use)


def _unanswered(src: Source, ev: Event) -> bool:
    """A request that is no digest answer, from a source that never logged in nor answered a challenge."""
    return ev.detail != "digest" and not src.ok_accounts and not src.digest


class Rechallenged:
    """Pairs digest answers (REQUEST detail "digest") with what the PBX answered: a new challenge
    (CHALLENGE_SENT) within `PAIR_WITHIN` is a wrong password; AUTH_OK / AUTH_FAILED close the pair.
    Also marks the source as one that answered a challenge (`Source.digest`)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.pending: OrderedDict[tuple[str, str], float] = OrderedDict()  # (ip, account) -> digest answer time

    def observe(self, src: Source, ev: Event, t: float) -> Finding | None:
        kind = ev[2]
        pending = self.pending
        if kind is _REQUEST:
            digest = ev.detail == "digest"
            if ev.account is not None:
                key = (src.ip, ev.account)
                if not digest:  # a new request without one started another exchange
                    if pending:
                        pending.pop(key, None)
                else:
                    pending[key] = t
                    pending.move_to_end(key)
                    if len(pending) > MAX_PENDING:
                        pending.popitem(last=False)
            if digest:
                src.digest = True
            return None
        if not pending or ev[6] is None or ev[12] not in WIRE_ORIGINS:  # (logs alone leave none pending)
            return None
        key = (src.ip, ev.account)
        if kind is _CHALLENGE_SENT:
            asked = pending.pop(key, None)
            if asked is not None and t - asked <= PAIR_WITHIN:
                why = failure(src, ev.origin, ev.account, t, self.ctx.cfg)
                if why:
                    return Finding(Reason.BRUTEFORCE, why + " (digest answers challenged again)")
        else:  # AUTH_OK, AUTH_FAILED
            pending.pop(key, None)
        return None


class WireRate:
    """Requests per source and method within `wire_window` (digest answers not counted)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def observe(self, src: Source, ev: Event, t: float) -> Finding | None:
        if ev.detail == "digest":  # the second half of an exchange already counted
            return None
        cfg = self.ctx.cfg
        method = ev.method or "?"
        n = src.window("wire " + method, ev.origin, cfg.wire_window).add(t)
        if n >= cfg.wire_requests * (cfg.stale_factor if src.ok_accounts else 1):
            return Finding(Reason.FLOOD, f"{n} {method} requests within {cfg.wire_window:g}s")
        return None


class WireAccounts:
    """Distinct accounts tried in unanswered requests (`_unanswered`) within `findtime`."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def observe(self, src: Source, ev: Event, t: float) -> Finding | None:
        acct = ev.account
        if acct is None or ev.method not in PROBE_METHODS or not _unanswered(src, ev):
            return None
        cfg = self.ctx.cfg
        w = src.keyed("wire accounts", ev.origin, cfg.findtime)
        w.add(t, acct)
        if w.distinct >= cfg.enumeration_accounts:
            return Finding(Reason.ENUMERATION, f"{w.distinct} distinct accounts tried, never a login or a "
                                               "digest answer")
        return None


class WireTollfraud:
    """Unanswered INVITEs (`_unanswered`) to international-looking numbers within `findtime`."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def observe(self, src: Source, ev: Event, t: float) -> Finding | None:
        cfg = self.ctx.cfg
        if ev.method != "INVITE" or not international(ev.target, cfg.tollfraud_prefixes) or not _unanswered(src, ev):
            return None
        k = src.window("wire intl", ev.origin, cfg.findtime).add(t)
        if k >= cfg.tollfraud_maxretry:
            return Finding(Reason.TOLLFRAUD, f"{k} unauthenticated INVITEs to international-looking numbers")
        return None


class WireNet:
    """Requests from one /24 or /64 within `wire_window`, from two or more of its sources."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.nets: dict[str, KeyedWindow] = {}
        self.flagged_nets: set[str] = set()

    def observe(self, src: Source, ev: Event, t: float) -> Finding | None:
        ctx = self.ctx
        cfg = ctx.cfg
        ip = src.ip
        net = ctx.net_of(ip)
        if net in self.flagged_nets:
            return None
        w = self.nets.get(net)
        if w is None:
            if len(self.nets) >= MAX_NETS:
                edge = t - cfg.wire_window
                self.nets = {k: v for k, v in self.nets.items() if v.window.times and v.window.times[-1] >= edge}
                if len(self.nets) >= MAX_NETS:
                    self.nets.clear()
            w = self.nets[net] = KeyedWindow(cfg.wire_window)
        w.add(t, ip)
        if len(w) < cfg.wire_net_requests or w.distinct < 2:
            return None
        if net in ctx.ok_nets or net in ctx.whitelist:
            return None
        if len(self.flagged_nets) >= MAX_NETS:
            self.flagged_nets.clear()  # forgetting lets a still-flooding network be flagged again
        self.flagged_nets.add(net)
        return Finding(Reason.FLOOD, f"{cfg.wire_net_requests} or more requests from {net} within "
                                     f"{cfg.wire_window:g}s", net=net)

    def forget(self, ip: str) -> None:
        self.flagged_nets.discard(ip)
