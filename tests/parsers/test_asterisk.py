"""The Asterisk `messages` format (parsers/asterisk.py): its fast readers (`PLAIN`) are held identical
to its careful parsers, and its triggers cover every line its parsers read into an event."""

from __future__ import annotations

import contextlib
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logtext import by_line, in_chunks, mutate, trigger_misses
from sipwarden.parsers import asterisk
from sipwarden.parsers.prefix import body
from sipwarden.parsers.stream import pick

SEEDS = (
    "[Nov 23 19:00:03] NOTICE[2211]: chan_sip.c:28468 handle_request_register: Registration from "
    "'\"2001\" <sip:2001@203.0.113.5>' failed for '26.36.253.95:49111' - Wrong password",
    "[Nov 23 19:00:00] NOTICE[1234] chan_sip.c: Registration from '\"00972599580679\" "
    "<sip:00972599580679@203.0.113.5>' failed for '2001:db8:f347:5938::cd0d' - No matching peer found",
    "[Nov 23 21:52:47] NOTICE[24501] res_pjsip/pjsip_distributor.c: Request 'INVITE' from '\"9999\" "
    "<sip:9999@203.0.113.5>' failed for '196.76.144.225:61545' (callid: 5f86419b-25bd@203.0.113.5) - "
    "No matching endpoint found after 39 tries in 927.152 ms",
    "[Nov 23 21:52:47] NOTICE[24501] res_pjsip/pjsip_distributor.c: Request from '<sip:a@b>' failed for "
    "'[2001:db8::1]:5060' (callid: x) - Failed to authenticate",
    "[Nov 23 19:00:00] NOTICE[2211][C-00000101]: chan_sip.c:26029 handle_request_invite: Call from '' "
    "(93.145.224.200:26588) to extension '90114972131231' rejected because extension not found in context "
    "'default'.",
    "[Nov 23 19:00:03] NOTICE[19388]: res_pjsip_session.c:3998 new_invite: anonymous: Call "
    "(UDP:93.165.212.35:45453) to extension '9011' rejected because extension not found in context 'from-external'.",
    "[Nov 23 19:00:02] NOTICE[2211]: res_pjsip_session.c:2337 new_invite: Call from 'anonymous' "
    "(WSS:2001:db8::7:5061) to extension '0' rejected because extension not found in context 'default'",
)
# The other formats of the module (careful parsers only), for the trigger property.
OTHER_SEEDS = (
    "[Nov 23 19:00:03] NOTICE[1] chan_iax2.c: Host 203.0.113.9 failed to authenticate as 'alice'",
    "[Nov 23 19:00:03] NOTICE[1] chan_iax2.c: No registration for peer 'bob' (from 203.0.113.9)",
    "[Nov 23 19:00:03] NOTICE[1] chan_iax2.c: Host 203.0.113.9 denied access to register peer 'bob'",
    "[Nov 23 19:00:03] NOTICE[1] chan_iax2.c: Rejected connect attempt from 203.0.113.9, who was trying to reach "
    "'100@default'",
    "[Nov 23 19:00:03] NOTICE[1] manager.c: 203.0.113.9 failed to authenticate as 'admin'",
    "[Nov 23 19:00:03] NOTICE[1] manager.c: 203.0.113.9 tried to authenticate with nonexistent user 'root'",
    "[Nov 23 19:00:03] NOTICE[1] chan_sip.c: hacking attempt detected '203.0.113.9'",
    "[Nov 23 19:00:03] NOTICE[1] chan_sip.c: Rejecting unknown SIP connection from 203.0.113.9",
    "[Nov 23 19:00:03] VERBOSE[1] chan_sip.c: -- Registered SIP '100' at 203.0.113.9 port 5060",
    "[Nov 23 19:00:03] WARNING[1] res_pjsip: sip_transport.c Dropping 411 bytes packet from UDP 203.0.113.9:5060 : "
    "PJSIP syntax error exception when parsing 'Request Line' header on line 1 col 1",
)
BITS = ("'", '"', " ", "(", ")", ") - ", "' failed for '6.6.6.6' (callid: ", "' failed for '", "Request ",
        "Request 'X' from '", ":", "UDP:", "WS:", "[", "]", "\t", "\u00a0", "²", "٣", " after 3 tries in 1 ms",
        " after 3 tries in .. ms", "' - Wrong password", ") to extension '", "1.2.3.4", "::1", ".", "'.",
        "' rejected because extension not found in context '", "Registration from '", "\x0b", "\u2028")


def _agree(msg: str) -> bool:
    """Every fast reader `pick` reaches answers False (not its shape) or what its careful parser does.
    True if one answered."""
    answered = False
    for fn in pick(msg):
        fast = asterisk.PLAIN.get(fn)
        if fast is None:
            continue
        try:
            want = fn(msg)
        except ValueError:  # the careful parser fails: the fast one may not answer
            with contextlib.suppress(ValueError):
                assert fast(msg) is False, msg
            continue
        got = fast(msg)
        if got is not False:
            answered = True
            assert got == want, msg
    return answered


def test_fast_readers_agree_with_careful_parsers_mutated() -> None:
    """The mutation generator: each seed cut and spliced with the pieces that decide these shapes."""
    rng = random.Random(7)
    answered = 0
    for seed in SEEDS:
        for i in range(3000):
            msg = body(seed if i == 0 else mutate(rng, seed, BITS))  # parsers read the text after the prefix
            if msg is not None and _agree(msg):
                answered += 1
    assert answered > 2500  # mutations that break the line prefix leave no message text to read


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), edits=st.lists(st.tuples(st.floats(0, 1), st.sampled_from(BITS) | st.text(
    max_size=3)), max_size=4))
def test_fast_readers_agree_with_careful_parsers(seed: str, edits: list[tuple[float, str]]) -> None:
    """Hypothesis: any text spliced anywhere into a plain line; the fast reader is False or right."""
    msg = body(seed)
    assert msg is not None
    for at, bit in edits:
        k = int(at * len(msg))
        msg = msg[:k] + bit + msg[k:]
    _agree(msg)


def test_each_fast_reader_answers_its_plain_shape() -> None:
    """Each fast reader reads the plain lines itself (else it would never pay): held by the seeds."""
    used = set()
    for seed in SEEDS:
        msg = body(seed)
        for fn in pick(msg):
            fast = asterisk.PLAIN.get(fn)
            if fast is not None and fast(msg) is not False:
                assert fast(msg) == fn(msg) is not None
                used.add(fn)
    assert used == set(asterisk.PLAIN)


def test_plain_lines_same_events_through_the_stream() -> None:
    """The stream's chunk mode (fast readers) and its line entry (careful parsers) over a mix of these lines."""
    rng = random.Random(100)
    bits = tuple(b for b in BITS if b != "²")  # "4²" is no port on both paths; here only plain digits
    lines = []
    for n in range(3000):
        line = rng.choice(SEEDS + OTHER_SEEDS)
        if rng.random() < 0.3:
            at = rng.randrange(len(line))
            line = line[:at] + rng.choice(bits) + line[at:]
        lines.append(line.replace("19:00:0", f"19:{n // 60 % 60:02d}:{n % 60:02d}"[:-1]))
    text = "\n".join(lines) + "\n"
    want = by_line(text)
    assert len(want) > 2000
    for size in (rng.randrange(50, 3000), 1 << 20):
        assert in_chunks(text, size) == want, size


def test_triggers_cover_every_event_line() -> None:
    """A line holding none of the format's TRIGGERS (what the stream's chunk mode skips) never gives
    one of its parsers an event."""
    bits = ("ailed", " ", "'", "[", "]", "failed", "from ", "Reject", "peer", "(", ")", ":")
    events, missed = trigger_misses(SEEDS + OTHER_SEEDS, bits, 1500, asterisk.TRIGGERS)
    assert missed == []
    assert events > 5000
