"""AMI framing and security events: last RemoteAddress wins, forged header lines are marked."""

from __future__ import annotations

import pytest

from sipwarden.events import Kind
from sipwarden.parsers.ami import AmiStream, login_action, ping_action, security_event


def ev(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


INVALID = ev("Event: InvalidAccountID", "Privilege: security,all", "EventTV: 2026-11-24T20:01:35.109+0000",
             "Severity: Error", "Service: SIP", "EventVersion: 1", "AccountID: 7708",
             "SessionID: 0x7f73e844fb30", "LocalAddress: IPV4/UDP/127.0.0.1/5060",
             "RemoteAddress: IPV4/UDP/127.0.1.50/54635")
FORGED = ev("Event: InvalidAccountID", "Privilege: security,all", "EventTV: 2026-11-24T20:01:35.109+0000",
            "Severity: Error", "Service: SIP", "EventVersion: 1", "AccountID: 7708",
            "RemoteAddress: IPV4/UDP/127.0.1.10/5061", "SessionID: 0x7f73e844fb30",
            "LocalAddress: IPV4/UDP/127.0.0.1/5060", "RemoteAddress: IPV4/UDP/127.0.1.50/54635")
INVITE_REJ = ev("Event: InvalidPassword", "EventTV: 2026-11-24T20:00:31.000+0000", "Service: SIP",
                "EventVersion: 2", "AccountID: 0097291909167", "SessionID: 0x1",
                "LocalAddress: IPV4/UDP/127.0.0.1/5060", "RemoteAddress: IPV4/UDP/127.0.1.32/5063",
                "Challenge: ", "ReceivedChallenge: ", "ReceivedHash: ")


def messages(data: bytes, step: int = 5) -> list:
    s = AmiStream()
    out = []
    for i in range(0, len(data), step):
        out += s.feed(data[i:i + step])
    return out + s.flush()


def test_banner_response_and_event():
    data = b"Asterisk Call Manager/9.0.0\r\n" + ev("Response: Success", "ActionID: x", "Message: ok") + INVALID
    s = AmiStream()
    msgs = s.feed(data) + s.flush()
    assert s.banner == "Asterisk Call Manager/9.0.0"
    assert [m.name for m in msgs] == ["Response: Success", "InvalidAccountID"]
    e = security_event(msgs[1])
    assert (e.ip, e.port, e.transport, e.kind, e.account, e.service, e.origin, e.detail) == (
        "127.0.1.50", 54635, "udp", Kind.UNKNOWN_ACCOUNT, "7708", "SIP", "ami", "InvalidAccountID")
    assert e.time == pytest.approx(1795550495.109)
    assert security_event(msgs[0]) is None


def test_forged_remote_address_line_last_wins_and_is_marked():
    (m,) = messages(FORGED)
    e = security_event(m)
    assert e.ip == "127.0.1.50" and "tampered: repeated RemoteAddress" in e.detail


def test_injected_blank_line_tail_is_joined_back():
    """%0D%0A%0D%0A in AccountID would start a forged event naming the victim; the real tail follows."""
    data = ev("Event: InvalidAccountID", "EventTV: 2026-11-24T20:01:35.109+0000", "Service: SIP", "AccountID: 77") + \
        ev("Event: InvalidPassword", "Service: SIP", "RemoteAddress: IPV4/UDP/127.0.1.10/5061") + \
        ev("SessionID: 0x1", "LocalAddress: IPV4/UDP/127.0.0.1/5060", "RemoteAddress: IPV4/UDP/127.0.1.50/1")
    events = [security_event(m) for m in messages(data)]
    assert all(e is None or e.ip != "127.0.1.10" for e in events)
    assert events[0].kind is Kind.TAMPER and events[0].ip is None
    assert events[1].ip == "127.0.1.50" and "reassembled" in events[1].detail


def test_bare_lf_stays_in_value():
    data = (b"Event: InvalidAccountID\r\nService: SIP\r\nAccountID: 7705\n[Nov 24 20:01:32] NOTICE[1] chan_sip.c: "
            b"failed for '127.0.1.10:5061' - Wrong password\r\nRemoteAddress: IPV4/UDP/127.0.1.50/5\r\n\r\n")
    (m,) = messages(data)
    e = security_event(m)
    assert e.ip == "127.0.1.50" and "line break" in e.detail


def test_chan_sip_unauthenticated_invite_is_call_rejected():
    (m,) = messages(INVITE_REJ)
    e = security_event(m)
    assert (e.kind, e.target, e.account) == (Kind.CALL_REJECTED, "0097291909167", None)


def test_no_or_bad_remote_address_is_tamper():
    for tail in ("", "RemoteAddress: IPV4/UDP/127.0."):
        lines = ["Event: ChallengeSent", "Service: PJSIP", "AccountID: x"] + ([tail] if tail else [])
        (m,) = messages(ev(*lines))
        e = security_event(m)
        assert e.kind is Kind.TAMPER and e.ip is None


def test_bounded():
    s = AmiStream()
    assert s.feed(b"Event: X\r\nA: " + b"a" * 100_000) == []
    assert len(s._buf) == 0 and s.errors == 1
    msgs = s.feed(b"tail of the long line\r\n\r\n" + INVALID) + s.flush()
    assert [m.name for m in msgs if m.name] == ["InvalidAccountID"]
    s = AmiStream()
    assert s.feed(b"Event: X\r\n" + b"K: v\r\n" * 1000 + b"\r\n") + s.flush() == []


def test_actions():
    assert login_action("secmon", "pw") == (b"Action: Login\r\nActionID: sipwarden-login\r\nUsername: secmon\r\n"
                                            b"Secret: pw\r\nEvents: security\r\n\r\n")
    assert ping_action() == b"Action: Ping\r\nActionID: sipwarden-ping\r\n\r\n"
    with pytest.raises(ValueError):
        login_action("x\r\nAction: Originate", "pw")
