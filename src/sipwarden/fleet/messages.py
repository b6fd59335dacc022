"""The fleet's wire format: what goes into the Redis streams and what is accepted out of them. Pure.

A stream entry has one field, `m`, holding a JSON object. Bans and unbans go to the `bans` stream:

    {"v": 1, "kind": "ban", "node": "pbx1", "ip": "203.0.113.5", "reason": "bruteforce",
     "evidence": "5 wrong passwords in 12 s", "expires": 1790000000.0, "at": 1789999400.0, "proven": true}
    {"v": 1, "kind": "unban", "node": "pbx1", "ip": "203.0.113.5", "at": 1789999500.0}

Failure events go to the `events` stream in batches (one entry per batch, fields by position):

    {"v": 1, "node": "pbx1", "e": [[time, ip, kind, transport, service, account, target, method,
                                    fingerprint, origin], ...]}

Anything else (not JSON, wrong types, an address that is not one, an unknown reason, oversized) is
refused with a short reason, counted by the caller and never applied: another node, or whoever can
write to Redis, is trusted only with well-formed data, and each node's policy has the last word.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from dataclasses import dataclass

from ..addr import normalize
from ..events import Event, Kind, Reason
from ..policy import MIN_PREFIX  # no fleet message names a wider network than an operator may ban

VERSION = 1
MAX_BAN_BYTES = 4096  # one ban or unban
MAX_EVENTS_BYTES = 256 * 1024  # one batch of events
MAX_BATCH = 500  # events per batch entry
MAX_TEXT = 128  # attacker text carried in events (accounts, numbers): data only, and short
MAX_EVIDENCE = 300
NODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
REASONS = frozenset(str(r) for r in Reason)
# What fleet-wide counting needs: failures, logins (a phone's own address is spared) and
# challenges (floods). Raw wire requests/responses are volume, not evidence worth shipping.
SHARED_KINDS = frozenset(k for k in Kind if k not in (Kind.REQUEST, Kind.RESPONSE, Kind.TAMPER))
_KINDS = {str(k): k for k in SHARED_KINDS}
_CTRL = re.compile(r"[\x00-\x1f\x7f]")


class Malformed(ValueError):
    """A stream entry that is not a valid fleet message; the text says why (for logs and counters)."""


@dataclass(frozen=True, slots=True)
class BanMessage:
    kind: str  # "ban" | "unban"
    node: str
    ip: str
    at: float
    reason: str = ""
    evidence: str = ""
    expires: float | None = None  # None: permanent (ban) / not applicable (unban)
    proven: bool = True


def _text(v: object, limit: int) -> str:
    return _CTRL.sub(" ", str(v))[:limit]


def encode_ban(m: BanMessage) -> bytes:
    d: dict = {"v": VERSION, "kind": m.kind, "node": m.node, "ip": m.ip, "at": round(m.at, 3)}
    if m.kind == "ban":
        d.update(reason=m.reason, evidence=_text(m.evidence, MAX_EVIDENCE),
                 expires=None if m.expires is None else round(m.expires, 3), proven=m.proven)
    return json.dumps(d, separators=(",", ":")).encode()


def _target(v: object) -> str:
    """Canonical address or prefix, or Malformed."""
    if not isinstance(v, str) or len(v) > 64:
        raise Malformed("ip is not an address")
    if "/" in v:
        try:
            net = ipaddress.ip_network(v, strict=False)
        except ValueError:
            raise Malformed("ip is not an address or network") from None
        if net.prefixlen == net.max_prefixlen:
            return str(normalize(str(net.network_address)))
        if net.prefixlen < MIN_PREFIX[net.version]:
            raise Malformed(f"network wider than /{MIN_PREFIX[net.version]}")
        return str(net)
    a = normalize(v)
    if a is None:
        raise Malformed("ip is not an address")
    return a


def _time(v: object, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not 0 <= v < 1e11:
        raise Malformed(f"{what} is not a time")
    return float(v)


def _load(raw: bytes | str, limit: int) -> dict:
    if len(raw) > limit:
        raise Malformed(f"oversized ({len(raw)} bytes > {limit})")
    try:
        d = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Malformed("not JSON") from None
    if not isinstance(d, dict):
        raise Malformed("not an object")
    if d.get("v") != VERSION:
        raise Malformed(f"unknown version {str(d.get('v'))[:16]!r}")
    node = d.get("node")
    if not isinstance(node, str) or not NODE.match(node):
        raise Malformed("bad node name")
    return d


def decode_ban(raw: bytes | str) -> BanMessage:
    d = _load(raw, MAX_BAN_BYTES)
    kind = d.get("kind")
    ip = _target(d.get("ip"))
    at = _time(d.get("at"), "at")
    if kind == "unban":
        return BanMessage("unban", d["node"], ip, at)
    if kind != "ban":
        raise Malformed("kind is neither ban nor unban")
    reason = d.get("reason")
    if reason not in REASONS:
        raise Malformed("unknown reason")
    exp = d.get("expires")
    expires = None if exp is None else _time(exp, "expires")
    proven = d.get("proven", True)
    if not isinstance(proven, bool):
        raise Malformed("proven is not true/false")
    ev = d.get("evidence", "")
    if not isinstance(ev, str):
        raise Malformed("evidence is not text")
    return BanMessage("ban", d["node"], ip, at, reason, _text(ev, MAX_EVIDENCE), expires, proven)


# Event fields shipped, by position after (time, ip, kind).
_FIELDS = ("transport", "service", "account", "target", "method", "fingerprint", "origin")


def event_row(ev: Event) -> list:
    """One event as a compact row (attacker text cut to MAX_TEXT)."""
    row: list = [round(ev.time, 3) if ev.time is not None else None, ev.ip, str(ev.kind)]
    for name in _FIELDS:
        v = getattr(ev, name)
        row.append(v[:MAX_TEXT] if isinstance(v, str) else None)
    while row and row[-1] is None:
        row.pop()
    return row


def encode_events(node: str, rows: list[list]) -> bytes:
    return json.dumps({"v": VERSION, "node": node, "e": rows}, separators=(",", ":")).encode()


def decode_events(raw: bytes | str, source: str) -> tuple[str, list[Event], int]:
    """(node, events, rows refused) of one batch entry; a bad row is skipped, a bad entry is Malformed.

    Events come back with `file` = `source` (e.g. "fleet:pbx2"): their history row says where they
    came from, and they are never shared again."""
    d = _load(raw, MAX_EVENTS_BYTES)
    rows = d.get("e")
    if not isinstance(rows, list) or len(rows) > MAX_BATCH:
        raise Malformed("e is not a list of at most 500 events")
    out: list[Event] = []
    bad = 0
    for r in rows:
        try:
            out.append(_event(r, source))
        except Malformed:
            bad += 1
    return d["node"], out, bad


def _event(r: object, source: str) -> Event:
    if not isinstance(r, list) or not 3 <= len(r) <= 3 + len(_FIELDS):
        raise Malformed("event is not a row")
    t = _time(r[0], "time")
    ip = normalize(r[1]) if isinstance(r[1], str) and len(r[1]) <= 64 else None
    if ip is None:
        raise Malformed("event ip is not an address")
    kind = _KINDS.get(r[2]) if isinstance(r[2], str) else None
    if kind is None:
        raise Malformed("event kind unknown")
    extra = {}
    for name, v in zip(_FIELDS, r[3:], strict=False):
        if v is None:
            continue
        if not isinstance(v, str):
            raise Malformed(f"event {name} is not text")
        extra[name] = _text(v, MAX_TEXT)
    return Event(t, ip, kind, file=source, **extra)


def iso_or_none(t: object) -> str | None:
    from ..events import iso
    return iso(float(t)) if isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t) else None
