"""The wire fast path (`wire_fields`) against the full parser: identical events, or it declines.

`wire_fields` may say None for anything (the full parser then decides); when it answers, its
fields and the events made from them must be exactly the full parser's, and the mapping must
be exactly the one written on SipMessage's properties (kept here as the reference).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careful_sip import events_from_sip
from conftest import ASTERISK20, DATA
from sipwarden.events import Event, Kind
from sipwarden.parsers.fingerprints import scanner_in
from sipwarden.parsers.hep import decode_hep
from sipwarden.parsers.sip import SipMessage, SipParseError, message_fields, parse_datagram, wire_fields
from sipwarden.parsers.sip_events import events_from_fields
from sipwarden.sources.pcap import read_capture

FUZZ = Path(__file__).parent / "fuzz" / "corpus"
SERVERS = frozenset({"127.0.0.1"})


def reference(msg: SipMessage, src: str, dst: str) -> list[Event]:
    """The mapping as first written on SipMessage properties (intake's digest mark included)."""
    if msg.is_request:
        if src in SERVERS:
            return []
        fingerprint = scanner_in(msg.user_agent) or scanner_in(msg.header("from"))
        account = msg.auth_user or msg.from_addr.user
        target = msg.uri_user if msg.method == "INVITE" else None
        return [Event(1.0, src, Kind.REQUEST, port=5060, transport="udp", service="SIP", account=account,
                      target=target, method=msg.method, user_agent=msg.user_agent, fingerprint=fingerprint,
                      detail="digest" if msg.has_digest_response else None, origin="wire")]
    if dst in SERVERS:
        return []
    status, cmethod = msg.status or 0, msg.cseq_method
    kind, account, target = Kind.RESPONSE, None, None
    if status in (401, 407):
        kind, account = Kind.CHALLENGE_SENT, msg.from_user
    elif cmethod == "INVITE" and status in (403, 404):
        kind, account, target = Kind.CALL_REJECTED, msg.from_user, msg.to_user
    elif status == 403 and cmethod == "REGISTER":
        kind, account = Kind.AUTH_FAILED, msg.to_user
    elif status == 404 and cmethod is not None and cmethod != "ACK":
        kind, account = Kind.UNKNOWN_ACCOUNT, msg.to_user
    elif status == 200 and cmethod == "REGISTER":
        kind, account = Kind.AUTH_OK, msg.to_user
    return [Event(1.0, dst, kind, port=5060, transport="udp", service="SIP", account=account, target=target,
                  method=cmethod, detail=f"{status} {msg.reason or ''}".rstrip(), origin="wire")]


def check(data: bytes) -> bool:
    """Assert the paths agree on `data`; True if the fast path answered."""
    fast = wire_fields(data)
    try:
        msg = parse_datagram(data)
    except SipParseError:
        assert fast is None, data
        return False
    full = message_fields(msg)
    for src, dst in (("192.0.2.1", "127.0.0.1"), ("127.0.0.1", "192.0.2.1")):
        want = reference(msg, src, dst)
        assert events_from_fields(full, src, 5060, dst, 5060, 1.0, "udp", "wire", SERVERS, True) == want, data
        assert [e._replace(detail=None) if e.kind is Kind.REQUEST else e for e in want] == \
            events_from_sip(msg, src, 5060, dst, 5060, 1.0, "udp", "wire", SERVERS)
    if fast is None:
        return False
    assert fast == full, data
    return True


def payloads(path: Path) -> list[bytes]:
    return [decode_hep(p[6]).payload if p[5] == "hep" else p[6] for p in read_capture(path)]


@pytest.mark.parametrize("run", ["dev1_alwaysauthreject_no", "dev2_alwaysauthreject_yes"])
def test_corpus_captures(run):
    data = payloads(ASTERISK20 / run / "capture.pcap.gz")
    hits = sum(check(p) for p in data)
    assert len(data) > 10_000 and hits == len(data)  # every corpus message takes the fast path


def test_lab_attack_capture():
    data = payloads(DATA / "lab" / "kamailio_attack.pcapng.gz")
    assert data
    for p in data:
        check(p)


def test_fuzz_corpus():
    for path in sorted(FUZZ.iterdir()):
        check(path.read_bytes())


UNUSUAL = [
    b"REGISTER sip:h SIP/2.0\r\nFrom: <sip:a@h>\r\n  ;tag=1\r\nTo: <sip:a@h>\r\n\r\n",  # folded
    b"REGISTER sip:h SIP/2.0\nFrom: <sip:a@h>\nTo: <sip:b@h>\n\n",  # LF only
    b"REGISTER sip:h SIP/2.0\r\nFrom: \"J\xc3\xb6rg\" <sip:j@h>\r\n\r\n",  # non-ASCII
    b"REGISTER sip:h SIP/2.0\r\nContent-Length: x\r\n\r\n",  # bad Content-Length: an error
    b"REGISTER sip:h SIP/2.0\r\nno colon here\r\n\r\n",
    b"INVITE tel:+4930123 SIP/2.0\r\nf: <tel:+4930>\r\nt:<sip:[::1]>\r\nl: 0\r\n\r\n",
    b"SIP/2.0 404 Not Found\r\nFROM : <sip:x@h>\r\nTO:\t<sip:y@h>\r\ncseq: 2 options\r\n\r\n",
    b"SIP/2.0 401\r\nf: \"a<b\" <sip:u@h>\r\nt: sip:v@h;tag=1\r\nCSeq: 1 INVITE\r\n\r\n",
    b"INVITE sip:1@h SIP/2.0\r\nAuthorization:\r\nProxy-Authorization: Digest username=\"p\", response=\"1\"\r\n\r\n",
    b"INVITE sip:1@h SIP/2.0\r\nUser-Agent: friendly-scanner\r\nFrom: <sip:100@1.1.1.1>\r\n\r\n",
    b"OPTIONS sip:h SIP/2.0\r\nFrom: <sip:a@h\r\nTo: <>\r\n\r\n",
    b"OPTIONS sip:h SIP/2.0\r\nFrom: <sip:a@h>\r\x0bTo: x\r\n\r\n",
    b"SIP/2.0 200 OK\r\nCSeq: 1 REGISTER\x1c\r\nTo: <sip:a@h>\x1f\r\n\r\n",
]


@pytest.mark.parametrize("data", UNUSUAL)
def test_unusual_messages(data):
    check(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(UNUSUAL), st.lists(st.tuples(st.integers(0, 200), st.sampled_from(
    [b"\r\n", b"\n", b" ", b"\t", b":", b"<", b">", b"@", b"\"", b"f:", b"\r\nTo: <sip:z@h>", b"\x00", b"\xff", b"l: 9"])),
    max_size=6))
def test_mutated(base, edits):
    data = bytearray(base)
    for pos, chunk in edits:
        p = pos % (len(data) + 1)
        data[p:p] = chunk
    check(bytes(data))


@pytest.mark.parametrize("value", [
    '<sip:a@h>', '"A" <sip:a@h>;tag=1', '"A"\t<sip:a@h>', '"A"<tel:+49>', '"a\\"b" <sip:x@h>', '"A" sip:a@h',
    '"A <sip:a@h>', '"" <sip:@h>', '<sip:h>', '<sips:u:pw@[::1]:5060>', 'B <sip:b@h>', '"A" <sip:a@h', '<>', '"',
    '"A"  x <sip:a@h>', '<tel:>', '"\\\\" <sip:q@h>',
])
def test_addr_user(value):
    from sipwarden.parsers.sip import _name_addr, addr_user
    assert addr_user(value) == _name_addr(value).user


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(['', '"A" ', '"b"\t', 'x ']),
                          st.text(alphabet="sSip:tTel+@[]1:;>aA.bh", max_size=14),
                          st.sampled_from(['', ';tag=1', ';tag=2'])), min_size=1, max_size=30))
def test_addr_user_memo_answers_as_the_parser(parts):
    """The uri -> user memo: a repeated uri (another tag, another display name), a memo cleared
    when full, always the full parser's answer."""
    from sipwarden.parsers import sip as sipmod
    for limit in (sipmod.MAX_USERS_MEMO, 3):
        old, sipmod.MAX_USERS_MEMO = sipmod.MAX_USERS_MEMO, limit
        sipmod._USERS.clear()
        try:
            for _ in range(2):
                for disp, uri, tag in parts:
                    for u in (uri, uri.upper(), uri.lower()):  # users differing in case are distinct
                        value = f"{disp}<{u}>{tag}"
                        assert sipmod.addr_user(value) == sipmod._name_addr(value).user, value
            assert len(sipmod._USERS) <= limit
        finally:
            sipmod.MAX_USERS_MEMO = old


_FP_TEXT = st.lists(st.sampled_from(["LegitPhone/1.0", "friendly-scanner", "SIPVICIOUS", "sip", "vicious", "\n", " ",
                                     "@1.1.1.1", ">", ";tag=1", "<sip:100@1.1.1.1>", "1.1.1.1", "Friendly-", "scanner",
                                     "sipsak", "x"]), max_size=6).map("".join)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.none(), _FP_TEXT), st.one_of(st.none(), _FP_TEXT))
def test_request_fingerprint_is_scanner_in_of_ua_then_from(ua, from_v):
    from sipwarden.parsers.fingerprints import scanner_in
    from sipwarden.parsers.sip_events import request_fingerprint
    assert request_fingerprint(ua, from_v) == (scanner_in(ua) or scanner_in(from_v))
