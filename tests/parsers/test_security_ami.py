"""One Asterisk security event reads the same from the security log and from AMI (`security.classify`).

Both readers frame their own text, then share one mapping from (event type, service, fields) to the
event. A rule kept in one reader only would make AMI ban what the log lets pass (a trunk's call to an
unassigned DID, FailedACL no_extension_match, counted as an ACL failure) or the other way round.
"""

from __future__ import annotations

import pytest

from logtext import by_line, in_chunks
from sipwarden.events import Kind
from sipwarden.parsers.ami import AmiStream, security_event
from sipwarden.parsers.security import KINDS, SCHEMA, parse_security_body

TV = "2026-11-24T20:00:15.930+0000"
REMOTE = "IPV4/UDP/203.0.113.22/5062"
# The fields Asterisk writes after the address pair for each type (a value for every required one).
TAILS: dict[str, tuple[tuple[str, str], ...]] = {
    "FailedACL": (("ACLName", "acl1"),),
    "InvalidAccountID": (),
    "SessionLimit": (),
    "MemoryLimit": (),
    "LoadAverageLimit": (),
    "RequestNotSupported": (("RequestType", "SUBSCRIBE"),),
    "RequestNotAllowed": (("RequestType", "INVITE"),),
    "AuthMethodNotAllowed": (("AuthMethod", "MD5"),),
    "RequestBadFormat": (("RequestType", "REGISTER"),),
    "SuccessfulAuth": (("UsingPassword", "1"),),
    "UnexpectedAddress": (("ExpectedAddress", "IPV4/UDP/192.0.2.9/5060"),),
    "ChallengeResponseFailed": (("Challenge", "1795550415/8182eb"), ("Response", "1c3dc5e8"),
                                ("ExpectedResponse", "")),
    "InvalidPassword": (("Challenge", "5608c704"), ("ReceivedChallenge", "5608c704"), ("ReceivedHash", "23391f7d")),
    "ChallengeSent": (("Challenge", "5608c704"),),
}
UNAUTH_INVITE = (("Challenge", ""), ("ReceivedChallenge", ""), ("ReceivedHash", ""))
NO_EXT = (("ACLName", "no_extension_match"),)
CASES = [(ev, svc, acct, TAILS[ev]) for ev in SCHEMA for svc in ("SIP", "PJSIP")
         for acct in ("1003", "<unknown>", "")] + [
    # chan_sip's unauthenticated INVITE (AccountID: the dialled number) and a call to a missing extension
    # (a provider trunk dialling an unassigned DID): rejected calls, never password or ACL failures
    ("InvalidPassword", "SIP", "0097291909167", UNAUTH_INVITE),
    ("InvalidPassword", "SIP", "0097291909167", ()),
    ("InvalidPassword", "PJSIP", "0097291909167", UNAUTH_INVITE),
    ("FailedACL", "SIP", "442079460000", NO_EXT),
    ("FailedACL", "SIP", "", NO_EXT),
    ("FailedACL", "PJSIP", "442079460000", NO_EXT),
    ("SuccessfulAuth", "AMI", "secmon", (("UsingPassword", "0"),)),
]


def log_line(ev: str, svc: str, acct: str, tail: tuple[tuple[str, str], ...]) -> str:
    return (f'SecurityEvent="{ev}",EventTV="{TV}",Severity="Error",Service="{svc}",EventVersion="1",'
            f'AccountID="{acct}",SessionID="0x7f73e8002bf0",LocalAddress="IPV4/UDP/127.0.0.1/5060",'
            f'RemoteAddress="{REMOTE}"' + "".join(f',{k}="{v}"' for k, v in tail))


def ami_event(ev: str, svc: str, acct: str, tail: tuple[tuple[str, str], ...]):
    lines = [f"Event: {ev}", "Privilege: security,all", f"EventTV: {TV}", "Severity: Error", f"Service: {svc}",
             "EventVersion: 1", f"AccountID: {acct}", "SessionID: 0x7f73e8002bf0",
             "LocalAddress: IPV4/UDP/127.0.0.1/5060", f"RemoteAddress: {REMOTE}", *(f"{k}: {v}" for k, v in tail)]
    s = AmiStream()
    (msg,) = s.feed(("\r\n".join(lines) + "\r\n\r\n").encode()) + s.flush()
    return security_event(msg)


def facts(e) -> tuple | None:
    """What the detectors count an event by: kind, address, port, transport, service, account, target, detail."""
    return None if e is None else (e.kind, e.ip, e.port, e.transport, e.service, e.account, e.target, e.detail,
                                   e.time)


@pytest.mark.parametrize(("ev", "svc", "acct", "tail"), CASES)
def test_log_and_ami_give_the_same_event(ev: str, svc: str, acct: str, tail: tuple) -> None:
    body = log_line(ev, svc, acct, tail)
    from_log = parse_security_body(body)
    line = "[Nov 24 20:00:15] SECURITY[20032] res_security_log.c: " + body + "\n"
    streamed = by_line(line)
    assert [facts(e) for e in streamed] == [facts(e) for e in in_chunks(line, 1 << 20)]
    assert [facts(e) for e in streamed] == ([facts(from_log)] if from_log is not None else [])
    assert facts(ami_event(ev, svc, acct, tail)) == facts(from_log)
    assert (from_log is None) == (ev not in KINDS)


def test_table_covers_every_type() -> None:
    assert set(TAILS) == set(SCHEMA) >= set(KINDS)


@pytest.mark.parametrize(("ev", "svc", "acct", "tail", "want"), [
    ("FailedACL", "SIP", "442079460000", NO_EXT, (Kind.CALL_REJECTED, None, "442079460000")),
    ("InvalidPassword", "SIP", "0097291909167", UNAUTH_INVITE, (Kind.CALL_REJECTED, None, "0097291909167")),
    ("FailedACL", "SIP", "<unknown>", (("ACLName", "acl1"),), (Kind.ACL_FAILED, None, None)),
    ("InvalidPassword", "SIP", "1003", TAILS["InvalidPassword"], (Kind.AUTH_FAILED, "1003", None)),
])
def test_ami_reads_chan_sip_calls_as_rejected(ev: str, svc: str, acct: str, tail: tuple, want: tuple) -> None:
    """Over AMI, a trunk's call to an unassigned DID is a rejected call, not an ACL failure bruteforce counts."""
    e = ami_event(ev, svc, acct, tail)
    assert (e.kind, e.account, e.target) == want and e.ip == "203.0.113.22"
