"""Evidence only the wire shows: requests themselves (HEP, pcap, live capture). Pure.

Where logs show failures, the wire shows every request, so it sees attacks the PBX answers
alike (alwaysauthreject, PJSIP challenging everything):

- request rate per source and method, like Kamailio's pike (default 30 in 2 s, not counting
  digest answers: a phone sends one such REGISTER per re-registration; a source with logins,
  an office NAT, may send stale_factor times more), and per /24 or /64 when
  two or more of its sources together pass `wire_net_requests` (a network a successful login
  came from is never banned whole);
- distinct accounts tried in requests that never carried a digest answer, from a source that
  never logged in and never answered a challenge (enumeration on PJSIP, which challenges every
  unknown user instead of answering 404);
- digest answers the PBX challenges again (Kamailio and PJSIP answer a wrong password with a
  new 401, not a 403): a failed password, counted as bruteforce does (a phone that logged into
  that account before counts 1/stale_factor);
- INVITEs to international-looking numbers from a source that never logged in (toll fraud
  probing where the PBX only answers with a challenge);
- scanner fingerprints (as the engine does for every event).

Evidence strength: UDP can be forged, so a source whose evidence is all first packets (no
round trip) could be a victim whose address an attacker uses. A source is *proven* once it
used a stream transport (TCP/TLS/WS needs a handshake; captured TCP whose handshake was not
seen arrives as "tcp-unverified", not a stream), or the PBX judged credentials from it
(AUTH_FAILED / AUTH_OK: a digest answer needs the PBX's nonce). Log evidence that names no
transport counts as proven (nothing to tell). Verdicts on unproven sources carry
`proven=False`; policy shortens their bans (`ban.unproven_factor`).

Per-source flags live in the Source's window table under reserved keys, so they are swept and
forgotten with the source.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from typing import TYPE_CHECKING

from ..addr import network_of
from ..config import DetectConfig
from ..events import Event, Kind, Reason, Verdict
from . import bruteforce
from .state import Source
from .tollfraud import international
from .window import KeyedWindow, Window

if TYPE_CHECKING:
    from .engine import Engine

STREAM = frozenset({"tcp", "tls", "ws", "wss", "sctp", "TCP", "TLS", "WS", "WSS", "SCTP"})
WIRE_ORIGINS = frozenset({"wire", "hep", "capture"})
_PROVEN = ("proven", None)  # reserved keys in Source.win: flags, not windows
_DIGEST = ("wire digest", None)
_FLAG = Window(0.0)
MAX_NETS = 100_000
MAX_PENDING = 100_000  # digest answers awaiting the PBX's reply, least recent dropped first
PAIR_WITHIN = 32.0  # seconds a reply may take (SIP timer B/F)


class WireDetector:
    def __init__(self, cfg: DetectConfig) -> None:
        self.cfg = cfg
        self.nets: dict[str, KeyedWindow] = {}
        self.flagged_nets: set[str] = set()
        self.pending: OrderedDict[tuple[str, str], float] = OrderedDict()  # (ip, account) -> digest answer time

    # --- evidence strength ---------------------------------------------------------------------

    def note(self, src: Source, ev: Event, t: float) -> list[tuple[Reason, str]]:
        """Record round-trip proof carried by `ev`, and pair digest answers with what answered
        them (call for every event of an undecided source). Returns what it found (a re-challenged
        digest answer is a failed password, like a 403)."""
        kind = ev.kind
        if _PROVEN not in src.win:
            tr = ev.transport
            if (tr in STREAM or kind is Kind.AUTH_OK or kind is Kind.AUTH_FAILED
                    or (tr is None and ev.origin not in WIRE_ORIGINS)):
                src.win[_PROVEN] = _FLAG
        if ev.account is None or ev.origin not in WIRE_ORIGINS or not self.pending:
            return []
        key = (src.ip, ev.account)
        if kind is Kind.CHALLENGE_SENT:
            asked = self.pending.pop(key, None)
            if asked is not None and t - asked <= PAIR_WITHIN:
                why = bruteforce.observe(src, ev._replace(kind=Kind.AUTH_FAILED), t, self.cfg)
                if why:
                    return [(Reason.BRUTEFORCE, why + " (digest answers challenged again)")]
        elif kind is Kind.AUTH_OK or kind is Kind.AUTH_FAILED:
            self.pending.pop(key, None)
        return []

    @staticmethod
    def strength(src: Source, v: Verdict) -> Verdict:
        """`v` marked unproven when nothing from its source needed a round trip."""
        return v if _PROVEN in src.win else dataclasses.replace(v, proven=False)

    # --- requests ----------------------------------------------------------------------------

    def request(self, engine: Engine, src: Source, ev: Event, t: float) -> list[Verdict]:
        """Verdicts one wire request decides (the engine hands REQUEST events here)."""
        cfg = self.cfg
        self.note(src, ev, t)
        found: tuple[Reason, str] | None = None
        if ev.fingerprint is not None and cfg.fingerprints:
            found = (Reason.SCANNER, f"attack tool fingerprint: {ev.fingerprint}")
        method = ev.method or "?"
        digest = ev.detail == "digest"
        if not digest:  # a digest answer is the second half of an exchange already counted
            n = src.window("wire " + method, ev.origin, cfg.wire_window).add(t)
            limit = cfg.wire_requests * (cfg.stale_factor if src.ok_accounts else 1)
            if found is None and n >= limit:
                found = (Reason.FLOOD, f"{n} {method} requests within {cfg.wire_window:g}s")
        if ev.account is not None:
            self._pend(src.ip, ev.account, t if digest else None)
        if digest:
            src.win[_DIGEST] = _FLAG
        elif not src.ok_accounts and _DIGEST not in src.win and method != "ACK":
            acct = ev.account
            if acct is not None and method in ("REGISTER", "OPTIONS", "SUBSCRIBE", "INVITE", "MESSAGE"):
                w = src.keyed("wire accounts", ev.origin, cfg.findtime)
                w.add(t, acct)
                if found is None and w.distinct >= cfg.enumeration_accounts:
                    found = (Reason.ENUMERATION, f"{w.distinct} distinct accounts tried, never a login or a "
                                                 "digest answer")
            if method == "INVITE" and ev.target and international(ev.target, cfg.tollfraud_prefixes):
                k = src.window("wire intl", ev.origin, cfg.findtime).add(t)
                if found is None and k >= cfg.tollfraud_maxretry:
                    found = (Reason.TOLLFRAUD, f"{k} unauthenticated INVITEs to international-looking numbers")
        out: list[Verdict] = []
        if found is not None:
            src.verdict = self.strength(src, src.to_verdict(found[0], t, found[1]))
            engine.verdicts.setdefault(src.ip, src.verdict)
            out.append(src.verdict)
        net = self._net(engine, src.ip, t)
        if net is not None:
            v = self.strength(src, src.to_verdict(Reason.FLOOD, t, f"{cfg.wire_net_requests} or more requests from "
                                                  f"{net} within {cfg.wire_window:g}s", ip=net))
            engine.verdicts.setdefault(net, v)
            out.append(v)
        return out

    def _pend(self, ip: str, account: str, t: float | None) -> None:
        """A digest answer from `ip` for `account` now waits for its answer (t), or a new request
        without one started another exchange (None)."""
        pending = self.pending
        key = (ip, account)
        if t is None:
            if pending:
                pending.pop(key, None)
            return
        pending[key] = t
        pending.move_to_end(key)
        if len(pending) > MAX_PENDING:
            pending.popitem(last=False)

    def _net(self, engine: Engine, ip: str, t: float) -> str | None:
        cfg = self.cfg
        net = network_of(ip, cfg.subnet_v4_prefix, cfg.subnet_v6_prefix)
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
        if net in engine.distributed.ok_nets or net in engine.whitelist:
            return None
        if len(self.flagged_nets) >= MAX_NETS:
            self.flagged_nets.clear()  # forgetting lets a still-flooding network be flagged again
        self.flagged_nets.add(net)
        return net
