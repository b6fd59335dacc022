"""Hostile bytes into the SIP parser and framer: SipParseError or a message, never anything else."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careful_sip import events_from_sip
from sipwarden.parsers.sip import SipMessage, SipParseError, StreamFramer, looks_like_sip, parse_datagram

CORPUS = Path(__file__).parent / "corpus"
REAL = [
    b'REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1;rport\r\n'
    b'To: "4425"<sip:4425@127.0.0.1>\r\nFrom: "4425"<sip:4425@127.0.0.1>;tag=34\r\nUser-Agent: friendly-scanner\r\n'
    b'Call-ID: 3203061458\r\nContact: sip:4425@127.0.0.1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n',
    b'SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 127.0.1.40:5068;received=127.0.1.40;rport=5068\r\n'
    b'From: <sip:1001@127.0.0.1:5060>;tag=2\r\nTo: <sip:1001@127.0.0.1:5060>;tag=as3\r\nCall-ID: 1-2@h\r\n'
    b'CSeq: 1 REGISTER\r\nWWW-Authenticate: Digest realm="asterisk", nonce="1896"\r\nContent-Length: 0\r\n\r\n',
    b'INVITE sip:0093923190691@127.0.0.1:5060 SIP/2.0\r\nv: SIP/2.0/UDP 127.0.1.32:5063\r\nf: "100" <sip:100@h>;tag=1\r\n'
    b't: <sip:0093923190691@h>\r\ni: 2@h\r\nCSeq: 1 INVITE\r\nAuthorization: Digest username="100", response="ab"\r\n'
    b'l: 5\r\n\r\nv=0\r\n',
]
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def exercise(m: SipMessage) -> None:
    """Touch every lazily parsed field and the event mapping: none may raise."""
    for name in ("uri_user", "via", "from_addr", "to_addr", "call_id", "cseq", "cseq_method", "user_agent",
                 "auth_user", "auth_realm", "has_digest_response", "contact", "via_port", "to_tag", "from_display"):
        getattr(m, name)
    events_from_sip(m, "192.0.2.1", 5060, "192.0.2.2", 5060, 0.0, "udp", "fuzz")


def parse_or_error(data: bytes) -> None:
    looks_like_sip(data)
    try:
        m = parse_datagram(data)
    except SipParseError:
        return
    exercise(m)


@FAST
@given(st.binary(max_size=4096))
def test_arbitrary_bytes(data):
    parse_or_error(data)


@FAST
@given(st.sampled_from(REAL), st.lists(st.tuples(st.integers(0, 10_000), st.binary(min_size=0, max_size=8)),
                                        max_size=8))
def test_mutated_real_messages(base, edits):
    data = bytearray(base)
    for pos, chunk in edits:
        p = pos % (len(data) + 1)
        data[p:p + len(chunk)] = chunk  # overwrite (and sometimes shorten/extend) in place
    parse_or_error(bytes(data))


@FAST
@given(st.sampled_from(REAL), st.integers(0, 400))
def test_truncated_real_messages(base, cut):
    parse_or_error(base[:cut])


@FAST
@given(st.lists(st.one_of(st.sampled_from(REAL), st.binary(max_size=300)), max_size=10), st.integers(1, 64))
def test_stream_framer_any_split(parts, step):
    f = StreamFramer(cap=2048)
    stream = b"".join(parts)
    for i in range(0, len(stream), step):
        for item in f.feed(stream[i:i + step]):
            assert isinstance(item, SipMessage | SipParseError)
            if isinstance(item, SipMessage):
                exercise(item)
        assert f.buffered <= 2048 + step


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.sip")), ids=lambda p: p.name)
def test_kept_corpus(path):
    parse_or_error(path.read_bytes())


def test_ten_thousand_headers_and_folding_storm():
    parse_or_error(b"REGISTER sip:h SIP/2.0\r\n" + b"X: y\r\n" * 10_000 + b"\r\n")
    parse_or_error(b"REGISTER sip:h SIP/2.0\r\nX: y\r\n" + b" fold\r\n" * 10_000 + b"\r\n")
    f = StreamFramer()
    out = f.feed(b"REGISTER sip:h SIP/2.0\r\n" + b"X: y\r\n" * 20_000)
    assert out and isinstance(out[0], SipParseError) and f.buffered < 70_000
