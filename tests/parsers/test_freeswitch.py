"""The FreeSWITCH format (parsers/freeswitch.py): its triggers cover every line `sofia` reads into an
event (it has no fast reader: its lines are few on any PBX), and the stream reads it alike both ways."""

from __future__ import annotations

import random

from logtext import by_line, in_chunks, trigger_misses
from sipwarden.parsers import freeswitch

SEEDS = (
    "2013-12-31 17:39:54.767815 [WARNING] sofia_reg.c:1533 SIP auth failure (REGISTER) on sofia profile 'internal' "
    "for [1000@192.168.2.51] from ip 81.94.202.251",
    "2013-12-31 17:39:54.767815 [WARNING] sofia_reg.c:1478 SIP auth challenge (INVITE) on sofia profile 'external' "
    "for [00972@1.2.3.4] from ip 5.6.7.8",
    "2013-12-31 17:39:54.767815 [WARNING] sofia_reg.c:2531 Can't find user [1000@192.168.2.51] from 81.94.202.251",
    "2013-12-31 17:39:54.767815 [DEBUG] sofia_reg.c:1599 IP 5.6.7.8 Rejected by register acl \"domains\"",
    "2013-12-31 17:39:54 [WARNING] SOFIA: Can't find user [x@y] from 9.9.9.9",
    "2013-12-31 17:39:54.767815 [WARNING] sofia_reg.c:1 Can not do authorization without a complete header in "
    "REGISTER request from 5.6.7.8:5060",
)


def test_triggers_cover_every_event_line() -> None:
    """A line holding none of the format's TRIGGERS (what the stream's chunk mode skips) never gives
    `sofia` an event."""
    bits = ("sofia", "SOFIA", "ailed", " ", "'", "[", "]", "profile", "user", "acl", "failed", "Can't", "from ip")
    events, missed = trigger_misses(SEEDS, bits, 2000, freeswitch.TRIGGERS)
    assert missed == []
    assert events > 600  # most cuts break the anchored shape; these are what is left


def test_same_events_both_entries() -> None:
    rng = random.Random(5)
    lines = [rng.choice(SEEDS + ("2013-12-31 17:39:55 [NOTICE] sofia.c: nothing here",)) for _ in range(800)]
    text = "\n".join(lines) + "\n"
    want = by_line(text)
    assert len(want) > 500
    for size in (997, 1 << 20):
        assert in_chunks(text, size) == want
