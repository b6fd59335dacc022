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
from collections.abc import Callable

from ..addr import normalize, parse_asterisk_addr, port_number
from ..events import NO_EXTENSION_MATCH, Event, Kind
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

# What every security event line holds, where the event starts: the log stream's chunk mode finds them by it.
TRIGGERS = ("SecurityEvent=",)

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


# What Asterisk writes after RemoteAddress, per event type (main/security_events.c: required fields,
# then optional ones, in this order). True marks a value the client chose (attacker text); the rest
# Asterisk generates itself (its own nonce, module, times, ACL names) and never hold a quote.
_M, _S = ("Module", False, False), ("SessionTV", False, False)
SCHEMA: dict[str, tuple[tuple[str, bool, bool], ...]] = {  # event -> ((key, required, attacker text), ...)
    "FailedACL": (_M, ("ACLName", False, False), _S),
    "InvalidAccountID": (_M, _S),
    "SessionLimit": (_M, _S),
    "MemoryLimit": (_M, _S),
    "LoadAverageLimit": (_M, _S),
    "RequestNotSupported": (("RequestType", True, True), _M, _S),
    "RequestNotAllowed": (("RequestType", True, True), _M, _S, ("RequestParams", False, True)),
    "AuthMethodNotAllowed": (("AuthMethod", True, False), _M, _S),
    "RequestBadFormat": (("RequestType", True, True), _M, _S, ("AccountID", False, True),
                         ("RequestParams", False, True)),
    "SuccessfulAuth": (("UsingPassword", True, False), _M, _S),
    "UnexpectedAddress": (("ExpectedAddress", True, False), _M, _S),
    "ChallengeResponseFailed": (("Challenge", True, True), ("Response", True, True),
                                ("ExpectedResponse", True, True), _M, _S),
    "InvalidPassword": (_M, _S, ("Challenge", False, False), ("ReceivedChallenge", False, True),
                        ("ReceivedHash", False, True)),
    "ChallengeSent": (("Challenge", True, False), _M, _S),
}
_GEN_VALUE = re.compile(r'[^"\n]*"')
# per event: ((',Key="', required, attacker text, a required field at or after this one), ...)
_STEPS = {ev: tuple((f',{k}="', req, att, any(r for _, r, _ in fields[i:])) for i, (k, req, att) in enumerate(fields))
          for ev, fields in SCHEMA.items()}
_NEEDS_TAIL = {ev: steps[0][3] for ev, steps in _STEPS.items()}  # a field is required after the pair
# The usual tail, no quote inside any value, in one match (the walk below decides the rest).
_PLAIN_TAIL = {ev: re.compile("".join(f'(?:,{k}="[^"\n]*")' + ("" if req else "?") for k, req, _ in fields) + r"\s*")
               for ev, fields in SCHEMA.items()}


def _valid_tail(text: str, pos: int, event: str | None = None, end: int | None = None) -> bool:
    """Could `text[pos:]` be the fields Asterisk writes after the real address pair of `event`?

    Linear-time on purpose (no backtracking on attacker text). Fields Asterisk generates must be
    there in order with quote-free values; from the first field the client chose (whose value may
    hold anything but a line end) on, only the fields that may follow it and the closing quote are
    checked. The real pair always passes; a forged pair passes only if what follows it mimics the
    schema too, and then two readings remain.
    """
    plain = _PLAIN_TAIL.get(event or "")
    if plain is not None and plain.fullmatch(text, pos, len(text) if end is None else end) is not None:
        return True
    rest = text[pos:end].rstrip()
    steps = _STEPS.get(event or "")
    if not rest:
        return not steps or not steps[0][3]
    if not rest.endswith('"') or "\n" in rest:
        return False
    if steps is None:  # a type we do not know: any known key may start the tail
        return _TAIL_START.match(rest) is not None
    i = 0
    n = len(rest)
    for k, (head, required, attacker, required_left) in enumerate(steps):
        if i == n:
            return not required_left
        if not rest.startswith(head, i):
            if required:
                return False
            continue
        if attacker:  # its value may swallow anything: the rest must be later fields ending in a quote
            return all(h in rest[i:] for h, req, _, _ in steps[k + 1:] if req)
        m = _GEN_VALUE.match(rest, i + len(head))
        if m is None:
            return False
        i = m.end()
    return i == n


class Incomplete(Exception):
    """The event is cut short (a %0A in attacker text split it): more lines are needed."""


# The shape of an untampered event: no quote inside AccountID or SessionID.
_PLAIN = re.compile(
    r'SecurityEvent="(?P<ev>[A-Za-z]+)",EventTV="(?P<tv>[^"]*)",Severity="[A-Za-z]*",Service="(?P<svc>[^"]*)",'
    r'EventVersion="\d+",AccountID="(?P<acct>[^"]*)",SessionID="[^"]*",LocalAddress="IPV[46]/[A-Z]+/[^"/]*/\d+",'
    r'RemoteAddress="(?P<remote>IPV[46]/[A-Z]+/[^"/]*/\d+)"'
)


# The same shape with the address parts apart, for readers that match inside a bigger text (the log stream's chunk mode).
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
    ev, tv, svc, account, remote, tr, host, port = m.groups()
    if tail_at < end and not text[tail_at:end].isspace():
        if not _valid_tail(text, tail_at, ev, end) or ev == "FailedACL" and "no_extension_match" in text[tail_at:end]:
            return False
    elif _NEEDS_TAIL.get(ev):
        return False
    kind = KINDS.get(ev)
    if kind is None:
        return None
    ip = normalize(host)
    if ip is None or (ev == "InvalidPassword" and svc == "SIP"):
        return False  # a TAMPER event, or chan_sip's unauthenticated INVITE: the careful path words them
    if account == "" or account == "<unknown>":
        account = None
    # "٣0" is digits to the pattern; the careful path gives no port (port_number: ASCII digits only)
    return (event_tv(tv), ip, kind, port_number(port), tr.lower(), svc, account, None, None, None, None,
            ev, "security")


def parse_security_body(text: str, origin: str = "security") -> Event | None:
    """Parse one (possibly reassembled) security event that starts at `SecurityEvent=`.

    Returns None for event types that say nothing about a source (limits, etc.).
    Raises Incomplete if no address pair can be read yet.
    """
    if text.count('RemoteAddress="') == 1:
        # Fast path: with a single RemoteAddress in the whole text there is only one reading.
        m = _PLAIN.match(text)
        if m is not None and _valid_tail(text, m.end(), m.group("ev")):
            return _event(m.group("ev"), event_tv(m.group("tv")), m.group("svc"), m.group("remote"),
                          m.group("acct"), text, m.end(), origin)
    return _parse_slow(text, origin)


def classify(ev: str, svc: str | None, account: str | None,
             field: Callable[[str], str | None]) -> tuple[Kind, str | None, str | None, str] | None:
    """(kind, account, target, detail) of a security event, or None for a type that says nothing about a source.

    The one mapping from what Asterisk reports to what we count: the security log and AMI both
    call it, so one event reads the same whichever way it arrives. `field(key)` gives a field
    Asterisk writes after the address pair (Challenge, ReceivedHash, ACLName), asked only when a
    rule needs it.
    """
    kind = KINDS.get(ev)
    if kind is None:
        return None
    if svc == "SIP":
        if ev == "InvalidPassword" and not field("Challenge") and not field("ReceivedHash"):
            # chan_sip reports an unauthenticated INVITE this way; AccountID is the dialled number.
            return Kind.CALL_REJECTED, None, account, ev
        if ev == "FailedACL" and field("ACLName") == "no_extension_match":
            # chan_sip's call to a missing extension (AccountID is the number): from a guest or from a
            # trunk alike, so the messages line, which names the caller, is what counts
            return Kind.CALL_REJECTED, None, account or None, NO_EXTENSION_MATCH
    if account in ("", "<unknown>"):
        account = None
    return kind, account, None, ev


def _event(ev: str, time: float | None, svc: str, remote: str, account: str | None, text: str, tail_at: int,
           origin: str) -> Event | None:
    tail: dict[str, str] | None = None

    def field(key: str) -> str | None:
        nonlocal tail
        if tail is None:
            tail = dict(_FIELD.findall(text, tail_at))
        return tail.get(key)

    read = classify(ev, svc, account, field)
    if read is None:
        return None
    parsed = parse_asterisk_addr(remote)
    if parsed is None:
        return Event(time, None, Kind.TAMPER, service=svc, origin=origin, detail=f"{ev}: unreadable RemoteAddress")
    ip, port, transport = parsed
    kind, account, target, detail = read
    return Event(time, ip, kind, port, transport, svc, account, target, None, None, None, detail, origin)


_SESSION_PTR = re.compile(r'",SessionID="0x[0-9a-fA-F]+$')  # chan_sip and AMI: a pointer Asterisk prints


def _parse_slow(text: str, origin: str) -> Event | None:
    h = _HEADER.match(text)
    if h is None:
        return None  # Asterisk writes the header before any attacker text: not a security event
    ev = h.group("ev")
    svc = h.group("svc")
    body_start = h.end()
    pairs = list(_PAIR.finditer(text, body_start))
    time = event_tv(h.group("tv"))
    if not pairs:
        raise Incomplete
    pointer = svc in ("SIP", "AMI")
    readings: list[re.Match] = []
    for m in pairs:
        if not _valid_tail(text, m.end() + 1, ev):
            continue
        # chan_sip and AMI print a pointer as SessionID, right before the pair: a forged pair in
        # AccountID must forge that too, and cannot be followed by the real one's SessionID
        if pointer and _SESSION_PTR.search(text, body_start, m.start()) is None:
            continue
        readings.append(m)
    if not readings:
        return Event(time, None, Kind.TAMPER, service=svc, origin=origin,
                     detail=f"{ev}: no reading fits the event's fields")
    if len({m.group("remote") for m in readings}) > 1:
        readings = _prefer(text, ev, readings)
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


def _prefer(text: str, ev: str, readings: list[re.Match]) -> list[re.Match]:
    """Of several readings, those whose answer echoes the nonce Asterisk sent (Challenge ==
    ReceivedChallenge): the attacker cannot make a forged tail's Challenge equal the text after it."""
    if ev != "InvalidPassword":
        return readings
    echoed = []
    for m in readings:
        tail = text[m.end() + 1:]
        c = re.match(r',(?:Module="[^"]*",)?(?:SessionTV="[^"]*",)?Challenge="([^"]*)",ReceivedChallenge="', tail)
        if c is not None and c.group(1) and tail.startswith(c.group(1) + '"', c.end()):
            echoed.append(m)
    return echoed or readings
