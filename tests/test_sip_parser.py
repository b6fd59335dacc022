"""SIP parser: real message shapes, compact forms, folding, and hostile input -> SipParseError only."""

from __future__ import annotations

import pytest

from sipwarden.parsers.sip import (
    MAX_HEADERS,
    MAX_MESSAGE,
    SipParseError,
    StreamFramer,
    looks_like_sip,
    parse_datagram,
)

SVWAR = (b'REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-3602270128;rport\r\n'
         b'Max-Forwards: 70\r\nTo: "44259769"<sip:44259769@127.0.0.1>\r\n'
         b'From: "44259769"<sip:44259769@127.0.0.1>;tag=3434\r\nUser-Agent: friendly-scanner\r\n'
         b'Call-ID: 3203061458\r\nContact: sip:44259769@127.0.0.1\r\nCSeq: 1 REGISTER\r\n'
         b'Accept: application/sdp\r\nContent-Length: 0\r\n\r\n')
RESP_401 = (b'SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 127.0.1.40:5068;branch=z9hG4bK-1;received=127.0.1.40;'
            b'rport=5068\r\nFrom: <sip:1001@127.0.0.1:5060>;tag=20145G1\r\nTo: <sip:1001@127.0.0.1:5060>;tag=as3c\r\n'
            b'Call-ID: 1-20145@127.0.1.40\r\nCSeq: 1 REGISTER\r\nServer: Asterisk PBX (dev corpus)\r\n'
            b'WWW-Authenticate: Digest algorithm=MD5, realm="asterisk", nonce="18963a81"\r\nContent-Length: 0\r\n\r\n')
AUTH_REG = (b'REGISTER sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.23:5060;branch=z9hG4bK-2;rport\r\n'
            b'From: <sip:1003@127.0.0.1:5060>;tag=2\r\nTo: <sip:1003@127.0.0.1:5060>\r\nCall-ID: c2\r\n'
            b'CSeq: 2 REGISTER\r\nAuthorization: Digest username="1003", realm="asterisk", nonce="5608c704", '
            b'uri="sip:127.0.0.1:5060", response="0123456789abcdef0123456789abcdef", algorithm=MD5\r\n'
            b'Content-Length: 0\r\n\r\n')
INVITE = (b'INVITE sip:0093923190691@127.0.0.1:5060 SIP/2.0\r\nv: SIP/2.0/UDP 127.0.1.32:5063;branch=z9hG4bK-21613-2-0\r\n'
          b'f: "100" <sip:100@127.0.1.32:5063>;tag=21613T2\r\nt: <sip:0093923190691@127.0.0.1:5060>\r\n'
          b'i: 2-21613@127.0.1.32\r\nCSeq: 1 INVITE\r\nm: <sip:100@127.0.1.32:5063>\r\n'
          b'User-Agent: VaxSIPUserAgent/3.5\r\nc: application/sdp\r\nl: 10\r\n\r\nv=0\r\no=- 1extra')


def test_request_fields():
    m = parse_datagram(SVWAR)
    assert m.is_request and m.method == "REGISTER" and m.uri == "sip:127.0.0.1" and m.uri_user is None
    assert (m.from_display, m.from_user, m.from_host, m.from_tag) == ("44259769", "44259769", "127.0.0.1", "3434")
    assert (m.to_user, m.to_tag) == ("44259769", None)
    assert (m.via_transport, m.via_host, m.via_port, m.via_rport, m.via_received) == ("UDP", "127.0.0.1", 5060, "", None)
    assert (m.call_id, m.cseq, m.cseq_method) == ("3203061458", 1, "REGISTER")
    assert m.user_agent == "friendly-scanner" and m.contact == "sip:44259769@127.0.0.1"
    assert m.content_length == 0 and m.body == b"" and m.auth_user is None and not m.has_digest_response
    assert m.header("user-agent") == m.header("USER-AGENT") == "friendly-scanner"
    assert m.headers[0] == ("via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-3602270128;rport")


def test_response_fields():
    m = parse_datagram(RESP_401)
    assert not m.is_request and m.status == 401 and m.reason == "Unauthorized" and m.method is None
    assert m.cseq_method == "REGISTER" and m.user_agent == "Asterisk PBX (dev corpus)"  # Server for responses
    assert (m.via_received, m.via_rport, m.to_tag) == ("127.0.1.40", "5068", "as3c")


def test_digest_credentials():
    m = parse_datagram(AUTH_REG)
    assert (m.auth_user, m.auth_realm, m.has_digest_response) == ("1003", "asterisk", True)
    assert m.via_host == "192.168.1.23"  # the client's claim, kept as data


def test_compact_forms_and_body_cut_to_content_length():
    m = parse_datagram(INVITE)
    assert m.method == "INVITE" and m.uri_user == "0093923190691" and m.to_user == "0093923190691"
    assert m.from_user == "100" and m.call_id == "2-21613@127.0.1.32" and m.contact == "<sip:100@127.0.1.32:5063>"
    assert m.header("content-type") == "application/sdp"
    assert m.body == b"v=0\r\no=- 1" and m.content_length == 10


def test_folding_lf_only_and_odd_spacing():
    raw = (b"OPTIONS sip:100@h SIP/2.0\nVia : SIP/2.0/TCP [2001:db8::1]:5070;branch=z9\nFrom: Bob\n <sip:bob@h>;TAG=x\n"
           b"To:sip:100@h\nCall-ID:  abc  \nCSeq: 7 options\n\n")
    m = parse_datagram(raw)
    assert (m.via_transport, m.via_host, m.via_port) == ("TCP", "2001:db8::1", 5070)
    assert (m.from_display, m.from_user, m.from_tag) == ("Bob", "bob", "x")
    assert m.to_user == "100" and m.call_id == "abc" and m.cseq_method == "OPTIONS"


def test_attacker_text_in_display_name_is_data():
    raw = (b'REGISTER sip:h SIP/2.0\r\nFrom: "x\\" <sip:evil@6.6.6.6>\' failed for \'6.6.6.6:5060\'" <sip:9099@h>;tag=1\r\n'
           b"Content-Length: 0\r\n\r\n")
    m = parse_datagram(raw)
    assert m.from_user == "9099" and m.from_tag == "1" and "6.6.6.6" in (m.from_display or "")


def test_tel_uri_and_user_params():
    m = parse_datagram(b"INVITE tel:+4930123456 SIP/2.0\r\nTo: <tel:+4930123456>\r\n\r\n")
    assert m.uri_user == "+4930123456" and m.to_user == "+4930123456"


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"HELLO\r\n\r\n", "bad request line"),
    (b"SIP/2.0 99 Bad\r\n\r\n", "bad status line"),
    (b"REGISTER sip:h SIP/2.0\r\nNoColonHere\r\n\r\n", "header line without a colon"),
    (b"REGISTER sip:h SIP/2.0\r\nBad Name: x\r\n\r\n", "bad header name"),
    (b"REGISTER sip:h SIP/2.0\r\nVia: a\x00b\r\n\r\n", "NUL byte in headers"),
    (b"REGISTER sip:h SIP/2.0\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
    (b"REGISTER sip:h SIP/2.0\r\nContent-Length: 99999999999999\r\n\r\n", "bad Content-Length"),
    (b"REGISTER sip:h SIP/2.0\r\n folded first\r\n\r\n", "continuation before any header"),
    (b"REGISTER sip:h SIP/2.0\r\n" + b"X: y\r\n" * (MAX_HEADERS + 1) + b"\r\n", "too many headers"),
    (b"REGISTER sip:h SIP/2.0\r\nX: " + b"a" * MAX_MESSAGE + b"\r\n\r\n", "message too large"),
])
def test_hostile_input_is_a_parse_error(data, reason):
    with pytest.raises(SipParseError) as e:
        parse_datagram(data)
    assert e.value.reason == reason


def test_ten_thousand_headers_rejected_quickly():
    data = b"REGISTER sip:h SIP/2.0\r\n" + b"A:b\r\n" * 10000 + b"\r\n"
    with pytest.raises(SipParseError):
        parse_datagram(data)


def test_bad_utf8_is_replaced_not_fatal():
    m = parse_datagram(b"REGISTER sip:h SIP/2.0\r\nUser-Agent: \xff\xfe scanner\r\n\r\n")
    assert m.user_agent is not None and "\ufffd" in m.user_agent


def test_looks_like_sip():
    assert looks_like_sip(SVWAR) and looks_like_sip(RESP_401) and looks_like_sip(INVITE)
    assert not looks_like_sip(b"HEP3\x00\x10") and not looks_like_sip(b"\x80\x00rtp") and not looks_like_sip(b"")
    assert not looks_like_sip(b"GET / HTTP/1.1\r\n\r\n")


def test_stream_framer_splits_and_joins():
    f = StreamFramer()
    stream = b"\r\n\r\n" + SVWAR + INVITE[:-5]  # keep-alive, one message, then INVITE without "extra"
    out = []
    for i in range(0, len(stream), 7):  # byte dribble
        out += f.feed(stream[i:i + 7])
    assert [m.method for m in out] == ["REGISTER", "INVITE"]
    assert out[1].body == b"v=0\r\no=- 1" and f.buffered == 0


def test_stream_framer_waits_for_body():
    f = StreamFramer()
    assert f.feed(INVITE[:-10]) == []
    assert [m.method for m in f.feed(INVITE[-10:-5])] == ["INVITE"]


def test_stream_framer_is_bounded():
    f = StreamFramer(cap=1024)
    out = f.feed(b"REGISTER sip:h SIP/2.0\r\nX: " + b"a" * 2000)
    assert len(out) == 1 and isinstance(out[0], SipParseError) and f.buffered == 0
    big = b"REGISTER sip:h SIP/2.0\r\nContent-Length: 5000\r\n\r\n"
    out = f.feed(big)
    assert isinstance(out[0], SipParseError) and f.buffered == 0
    assert [m.method for m in f.feed(SVWAR)] == ["REGISTER"]  # resynchronises on what follows


def test_stream_framer_bad_content_length():
    f = StreamFramer()
    out = f.feed(b"REGISTER sip:h SIP/2.0\r\nl: abc\r\n\r\n")
    assert len(out) == 1 and isinstance(out[0], SipParseError)
