"""A log stamp that is no real time (a corrupt or hand-edited log) costs the line its time, never the scan."""

import json
import os
import subprocess
import sys

import pytest

from sipwarden.timefmt import Clock

BAD = ["[Nov 23 19:60:00]", "[Nov 23 24:00:00]", "[2026-13-45 10:00:00]",
       "[2026-11-23 25:00:00]", "2026-11-23T10:00:00+99:99", "13-01 10:00:00", "Nov 23 99:99:99"]


@pytest.mark.parametrize("stamp", BAD)
def test_a_stamp_that_is_no_time_gives_none(stamp):
    clock = Clock(2026)
    assert clock.line_time(f"{stamp} NOTICE[1] chan_sip.c: x") is None
    assert clock.time_at(f"{stamp} x", 0, len(stamp) + 2) is None
    assert clock.line_time("[Nov 23 19:59:00] NOTICE[1] x") is not None  # the clock goes on


@pytest.mark.parametrize("pure", ["", "1"])
def test_scan_keeps_the_event_of_a_line_with_a_bad_stamp(tmp_path, pure):
    """Both chunk loops (compiled and pure) read the line and keep its event, without a time."""
    line = ("{} NOTICE[1] chan_sip.c: Registration from '<sip:100@x>' failed for '192.0.2.7:5060' - Wrong password\n")
    log = tmp_path / "messages"
    log.write_text("".join(line.format(s) for s in ["[Nov 23 19:59:00]", "[Nov 23 19:60:00]", "[Nov 23 24:00:00]",
                                                     "[Nov 23 19:59:01]"]))
    env = dict(os.environ, SIPWARDEN_PURE=pure)
    out = subprocess.run([sys.executable, "-m", "sipwarden", "scan", "--events", "--format", "json", str(log)],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    events = [json.loads(x) for x in out.stdout.splitlines() if '"kind"' in x]
    assert [e["line"] for e in events] == [1, 2, 3, 4]
    assert [e["time"] is None for e in events] == [False, True, True, False]
    assert all(e["ip"] == "192.0.2.7" for e in events)
