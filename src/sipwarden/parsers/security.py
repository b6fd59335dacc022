"""Asterisk's security log (res_security_log) and security events, parsed against field order.

A security line is `SecurityEvent="T",EventTV=..,Severity=..,Service=..,EventVersion=..,` then
`AccountID`, `SessionID` (attacker text), `LocalAddress`, `RemoteAddress` (socket-derived), then
the event's own fields (some attacker text again). Attacker text may carry quotes and forged
`LocalAddress=..,RemoteAddress=..` pairs, before or after the real pair. So every
Local/Remote pair is a candidate, and a candidate is accepted only if what follows it is a
well-formed tail of that event type's fields. One valid reading gives the address; several
readings naming different addresses make the event a TAMPER with no address.
"""

from __future__ import annotations

import re

from ..addr import normalize, parse_asterisk_addr
from ..events import Event, Kind
from ..timefmt import event_tv

_HEADER = re.compile(
    r'SecurityEvent="(?P<ev>[A-Za-z]+)",EventTV="(?P<tv>[^"]*)",Severity="(?P<sev>[A-Za-z]*)",'
    r'Service="(?P<svc>[^"]*)",EventVersion="(?P<ver>\d+)",'
)
_PAIR = re.compile(
    r'",LocalAddress="(?P<local>IPV[46]/[A-Z]+/[^"/]*/\d+)",RemoteAddress="(?P<remote>IPV[46]/[A-Z]+/[^"/]*/\d+)(?=")'
)  # the closing quote is left unconsumed: it may open the next (overlapping) candidate
# Keys that can follow the address pair (Asterisk's security_events.c optional/event fields).
_TAIL_KEYS = (
    "Module|SessionTV|ACLName|Challenge|ReceivedChallenge|ReceivedHash|Response|ExpectedResponse|"
    "UsingPassword|ExpectedAddress|RequestType|RequestParams|AuthMethod"
)
_TAIL_START = re.compile(rf',(?:{_TAIL_KEYS})="')
_FIELD = re.compile(r',([A-Za-z]+)="(.*?)"(?=,[A-Za-z]+="|\s*$)')

KINDS = {
    "InvalidAccountID": Kind.UNKNOWN_ACCOUNT,
    "ChallengeResponseFailed": Kind.AUTH_FAILED,
    "InvalidPassword": Kind.AUTH_FAILED,
    "FailedACL": Kind.ACL_FAILED,
    "ChallengeSent": Kind.CHALLENGE_SENT,
    "SuccessfulAuth": Kind.AUTH_OK,
    "RequestBadFormat": Kind.BAD_REQUEST,
    "RequestNotAllowed": Kind.ACL_FAILED,
    "RequestNotSupported": Kind.BAD_REQUEST,
    "AuthMethodNotAllowed": Kind.ACL_FAILED,
    "UnexpectedAddress": Kind.ACL_FAILED,
}


def _valid_tail(text: str, pos: int) -> bool:
    """Could `text[pos:]` be the event fields Asterisk writes after the real address pair?

    Linear-time on purpose (no backtracking on attacker text): the tail is empty, or starts
    with a known event-field key and ends with a closing quote. The real pair always passes;
    a forged pair passes only if the attacker mimics this too, which then makes two readings.
    """
    rest = text[pos:].rstrip()
    if not rest:
        return True
    return _TAIL_START.match(rest) is not None and rest.endswith('"')


class Incomplete(Exception):
    """The event is cut short (a %0A in attacker text split it): more lines are needed."""


# The shape of an untampered event: no quote inside AccountID or SessionID.
_PLAIN = re.compile(
    r'SecurityEvent="(?P<ev>[A-Za-z]+)",EventTV="(?P<tv>[^"]*)",Severity="[A-Za-z]*",Service="(?P<svc>[^"]*)",'
    r'EventVersion="\d+",AccountID="(?P<acct>[^"]*)",SessionID="[^"]*",LocalAddress="IPV[46]/[A-Z]+/[^"/]*/\d+",'
    r'RemoteAddress="(?P<remote>IPV[46]/[A-Z]+/[^"/]*/\d+)"'
)


# The same shape with the address parts apart, for readers that match inside a bigger text (bulk.py).
_PLAIN_PARTS = re.compile(
    r'SecurityEvent="([A-Za-z]+)",EventTV="([^"]*)",Severity="[A-Za-z]*",Service="([^"]*)",'
    r'EventVersion="\d+",AccountID="([^"]*)",SessionID="[^"]*",LocalAddress="IPV[46]/[A-Z]+/[^"/]*/\d+",'
    r'RemoteAddress="(IPV[46]/([A-Z]+)/([^"/]*)/(\d+))"'
)


def parse_plain(text: str, pos: int, end: int) -> tuple | None | bool:
    """`parse_security_body(text[pos:end])` for an untampered event, as the fields of its Event.

    Returns the 13 leading Event fields (no file, line), None for an event type that says nothing
    about a source, or False when the event is not of the plain shape (then use the careful path).
    Takes the same decisions as the fast path of `parse_security_body` (one RemoteAddress, plain
    match, valid tail) without cutting the text out first.
    """
    m = _PLAIN_PARTS.match(text, pos, end)
    if m is None:
        return False
    tail_at = m.end()
    if text.find('RemoteAddress="', tail_at, end) >= 0:
        return False
    if tail_at < end:
        rest = text[tail_at:end].rstrip()
        if rest and (_TAIL_START.match(rest) is None or not rest.endswith('"')):
            return False
    ev, tv, svc, account, remote, tr, host, port = m.groups()
    kind = KINDS.get(ev)
    if kind is None:
        return None
    ip = normalize(host)
    if ip is None or (ev == "InvalidPassword" and svc == "SIP"):
        return False  # a TAMPER event, or chan_sip's unauthenticated INVITE: the careful path words them
    if account == "" or account == "<unknown>":
        account = None
    n = int(port)
    return (event_tv(tv), ip, kind, n if 0 < n < 65536 else None, tr.lower(), svc, account, None, None, None, None,
            ev, "security")


def parse_security_body(text: str, origin: str = "security") -> Event | None:
    """Parse one (possibly reassembled) security event that starts at `SecurityEvent=`.

    Returns None for event types that say nothing about a source (limits, etc.).
    Raises Incomplete if no address pair can be read yet.
    """
    if text.count('RemoteAddress="') == 1:
        # Fast path: with a single RemoteAddress in the whole text there is only one reading.
        m = _PLAIN.match(text)
        if m is not None and _valid_tail(text, m.end()):
            return _event(m.group("ev"), event_tv(m.group("tv")), m.group("svc"), m.group("remote"),
                          m.group("acct"), text, m.end(), origin)
    return _parse_slow(text, origin)


def _event(ev: str, time: float | None, svc: str, remote: str, account: str | None, text: str, tail_at: int,
           origin: str) -> Event | None:
    kind = KINDS.get(ev)
    if kind is None:
        return None
    parsed = parse_asterisk_addr(remote)
    if parsed is None:
        return Event(time, None, Kind.TAMPER, service=svc, origin=origin, detail=f"{ev}: unreadable RemoteAddress")
    ip, port, transport = parsed
    target = None
    if ev == "InvalidPassword" and svc == "SIP":
        tail = dict(_FIELD.findall(text, tail_at))
        if not tail.get("Challenge") and not tail.get("ReceivedHash"):
            # chan_sip reports an unauthenticated INVITE this way; AccountID is the dialled number.
            kind, target, account = Kind.CALL_REJECTED, account, None
    if account in ("", "<unknown>"):
        account = None
    return Event(time, ip, kind, port, transport, svc, account, target, None, None, None, ev, origin)


def _parse_slow(text: str, origin: str) -> Event | None:
    h = _HEADER.match(text)
    if h is None:
        raise Incomplete
    ev = h.group("ev")
    body_start = h.end()
    readings: list[re.Match] = []
    for m in _PAIR.finditer(text, body_start):
        if _valid_tail(text, m.end() + 1):
            readings.append(m)
    time = event_tv(h.group("tv"))
    svc = h.group("svc")
    if not readings:
        raise Incomplete
    remotes = {m.group("remote") for m in readings}
    if len(remotes) > 1:
        return Event(time, None, Kind.TAMPER, service=svc, origin=origin,
                     detail=f"{ev}: {len(remotes)} competing RemoteAddress readings")
    m = readings[0]
    # AccountID is the first body field; its value runs up to the next structural key.
    account = None
    body = text[body_start:m.start() + 1]
    if body.startswith('AccountID="'):
        end = body.find('",SessionID="')
        account = body[11:end] if end >= 0 else body[11:-1]
    return _event(ev, time, svc, m.group("remote"), account, text, m.end() + 1, origin)
