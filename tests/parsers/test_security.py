"""The security log (parsers/security.py): its fast reader (`parse_plain`, in place in a bigger text)
is held identical to its careful parser (`parse_security_body`), and the stream reads it alike both ways."""

from __future__ import annotations

import contextlib
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logtext import by_line, in_chunks, mutate
from sipwarden.parsers.security import TRIGGERS, Incomplete, parse_plain, parse_security_body
from sipwarden.parsers.stream import read_security

P = "[Nov 24 20:00:15] SECURITY[20032] res_security_log.c: "
H = 'SecurityEvent="{ev}",EventTV="2026-11-24T20:00:15.930+0000",Severity="Error",Service="{svc}",EventVersion="1",'
PAIR = 'LocalAddress="IPV4/UDP/127.0.0.1/5070",RemoteAddress="{remote}"'
SEEDS = tuple(P + H.format(ev=ev, svc=svc) + f'AccountID="{acct}",SessionID="{sess}",' + PAIR.format(remote=r) + tail
              for ev, svc, acct, sess, r, tail in (
    ("ChallengeResponseFailed", "PJSIP", "3000", "2738376282", "IPV4/UDP/203.0.113.22/5060",
     ',Challenge="1795550415/8182eb",Response="1c3dc5e8",ExpectedResponse=""'),
    ("ChallengeSent", "SIP", "1003", "0x7f73e8002bf0", "IPV4/UDP/203.0.113.12/5060", ',Challenge="5608c704"'),
    ("InvalidAccountID", "PJSIP", "100", "7605292291", "IPV6/UDP/2001:db8::23/5060", ""),
    ("InvalidPassword", "PJSIP", "1003", "c1", "IPV4/UDP/203.0.113.12/5060",
     ',Challenge="5608c704",ReceivedChallenge="5608c704",ReceivedHash="23391f7d"'),
    ("InvalidPassword", "SIP", "1003", "0x7f73e8002bf0", "IPV4/UDP/203.0.113.12/5060",
     ',Challenge="5608c704",ReceivedChallenge="5608c704",ReceivedHash="23391f7d"'),
    ("SuccessfulAuth", "AMI", "secmon", "0x7f73dc001460", "IPV4/TCP/198.51.100.1/44196",
     ',UsingPassword="0",SessionTV="2026-11-24T19:59:39.008+0000"'),
    ("FailedACL", "PJSIP", "<unknown>", "c2", "IPV4/UDP/203.0.113.5/5060", ',ACLName="no_extension_match"'),
    ("FailedACL", "SIP", "", "c3", "IPV4/UDP/203.0.113.5/0", ',ACLName="acl1"'),
    ("RequestBadFormat", "PJSIP", "x", "c4", "IPV4/UDP/203.0.113.5/5060", ',RequestType="REGISTER"'),
    ("LoadAverageLimit", "SIP", "x", "c5", "IPV4/UDP/203.0.113.5/5060", ""),
))
BITS = ('"', ",", "=", '",', '="', "IPV4/UDP/", "IPV6/TCP/", "/5060", "203.0.113.99", "::", ' ', "\t", "\\",
        ',RemoteAddress="IPV4/UDP/192.0.2.66/5060"', ',LocalAddress="IPV4/UDP/10.0.0.1/5060"', ',Challenge="',
        ',Module="x"', ',SessionTV="t"', ',UsingPassword="1"', 'AccountID="', "SecurityEvent=", "²", "٣", "\u00a0",
        # a forged pair with a valid tail of its own, inside an attacker-chosen value: two readings
        '",LocalAddress="IPV4/UDP/10.0.0.1/5060",RemoteAddress="IPV4/UDP/192.0.2.66/5060",Challenge="5608c704",'
        'ReceivedChallenge="5608c704",ReceivedHash="',
        '",LocalAddress="IPV4/UDP/10.0.0.1/5060",RemoteAddress="IPV4/UDP/192.0.2.66/5060",Challenge="1795550415/8",'
        'Response="')


def _agree(text: str, k: int, e: int) -> bool:
    """`parse_plain(text, k, e)` is False (not its shape) or the careful reading of `text[k:e]`. True if it answered."""
    try:
        ev = parse_security_body(text[k:e])
    except Incomplete:
        assert parse_plain(text, k, e) is False, text[k:e]
        return False
    except ValueError:  # the careful parser fails: the fast one may not answer
        with contextlib.suppress(ValueError):
            assert parse_plain(text, k, e) is False, text[k:e]
        return False
    got = parse_plain(text, k, e)
    if got is False:
        return False
    assert got == (ev[:13] if ev is not None else None), text[k:e]
    assert read_security(text, k, e) == got  # the stream's seam: the fast reader first
    return True


def _in_place(line: str, rng: random.Random) -> tuple[str, int, int]:
    """`line`'s message inside a bigger text (lines before and after), as the stream's chunk mode hands it."""
    before = rng.choice(("", "x\n", P + "junk\n" * 3))
    after = rng.choice(("\n", "\n" + SEEDS[0] + "\n", '",RemoteAddress="IPV4/UDP/192.0.2.9/1"\n'))
    text = before + line + after
    k = text.find("SecurityEvent=", len(before))
    return text, k, len(before) + len(line)


def test_fast_reader_agrees_with_careful_parser_mutated() -> None:
    rng = random.Random(11)
    answered = 0
    for seed in SEEDS:
        for i in range(2000):
            msg = seed[len(P):]
            line = P + (msg if i == 0 else msg[:14] + mutate(rng, msg[14:], BITS)).replace("\n", " ")
            if _agree(*_in_place(line, rng)):
                answered += 1
    assert answered > 1200  # most edits break the one plain shape: then only the careful parser answers


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), edits=st.lists(st.tuples(st.floats(0, 1), st.sampled_from(BITS) | st.text(
    max_size=3)), max_size=4), where=st.randoms(use_true_random=False))
def test_fast_reader_agrees_with_careful_parser(seed: str, edits: list[tuple[float, str]], where: random.Random) -> None:
    """Hypothesis: any text spliced anywhere after the marker; the fast reader is False or right."""
    line = seed
    for at, bit in edits:
        k = len(P) + 14 + int(at * (len(line) - len(P) - 14))
        line = line[:k] + bit + line[k:]
    _agree(*_in_place(line.replace("\n", " "), where))


def test_fast_reader_answers_the_plain_events() -> None:
    """It reads every seed but chan_sip's InvalidPassword (an unauthenticated INVITE) and FailedACL's
    no_extension_match: the careful parser words those."""
    rng = random.Random(1)
    missed = [s for s in SEEDS if not _agree(*_in_place(s, rng))]
    assert missed == [SEEDS[4], SEEDS[6]]


def test_same_events_both_entries() -> None:
    rng = random.Random(21)
    lines = []
    for n in range(3000):
        line = rng.choice(SEEDS).replace("20:00:15", f"20:{n // 60 % 60:02d}:{n % 60:02d}")
        if rng.random() < 0.2:
            line = mutate(rng, line, BITS)
        lines.append(line.replace("\n", " "))
    text = "\n".join(lines) + "\n"
    want = by_line(text)
    assert len(want) > 2000
    for size in (rng.randrange(50, 5000), 1 << 20):
        assert in_chunks(text, size) == want, size


def test_trigger_is_the_marker() -> None:
    assert TRIGGERS == ("SecurityEvent=",)
    assert all(TRIGGERS[0] in s for s in SEEDS)
