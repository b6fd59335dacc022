"""Real Asterisk 20 output under SIPVicious and SIPp: every attacker found, no legitimate phone banned."""

from __future__ import annotations

import json

import pytest

from conftest import ASTERISK20
from sipwarden.config import Config
from sipwarden.events import Kind
from sipwarden.pipeline import scan
from sipwarden.sources.logfile import open_log

RUNS = ["dev1_alwaysauthreject_no", "dev2_alwaysauthreject_yes"]
# Sources no log line can convict: svwar refused after 3 challenged requests (alwaysauthreject=yes).
UNDETECTABLE_FROM_LOGS = {("dev2_alwaysauthreject_yes", "127.0.1.20")}


def _scan(run, files=("messages.gz", "security.gz")):
    d = ASTERISK20 / run
    logs = [open_log(str(d / f)) for f in files]
    events = []
    result = scan.run(logs, Config(), on_event=events.append)
    truth = json.loads((d / "truth.json").read_text())
    return result, events, truth


@pytest.mark.parametrize("run", RUNS)
def test_attackers_banned_legit_not(run):
    result, _, truth = _scan(run)
    got = {v.ip: v for v in result.verdicts}
    for ip, src in truth["sources"].items():
        if src["attacker"]:
            if (run, ip) in UNDETECTABLE_FROM_LOGS:
                continue
            assert ip in got, f"{run}: attacker {ip} ({src['role']}) not found"
        else:
            assert ip not in got, f"{run}: legitimate {ip} ({src['role']}) reported: {got[ip]}"
    assert "127.0.0.1" not in got  # the server itself
    assert not any("/" in ip for ip in got), "no network may be banned: real phones log in from 127.0.1.0/24"


def test_alwaysauthreject_flood_seen_only_as_challenges():
    result, events, _ = _scan("dev2_alwaysauthreject_yes")
    v = next(v for v in result.verdicts if v.ip == "127.0.1.30")
    assert v.reason == "flood"
    kinds = {e.kind for e in events if e.ip == "127.0.1.30"}
    assert kinds == {Kind.CHALLENGE_SENT}


def test_security_log_alone_is_enough():
    """A site that keeps only the security log still catches the scanners and guessers."""
    result, _, truth = _scan("dev1_alwaysauthreject_no", files=("security.gz",))
    got = {v.ip for v in result.verdicts}
    assert {"127.0.1.20", "127.0.1.21", "127.0.1.22", "127.0.1.30", "127.0.1.31", "127.0.1.32",
            "127.0.1.40"} <= got
    assert not got & {"127.0.1.10", "127.0.1.11", "127.0.1.12"}


@pytest.mark.parametrize("run", RUNS)
def test_injection_probe_never_names_the_victim(run):
    """127.0.1.50's probes all try to make a line name the legit phone 127.0.1.10."""
    _, events, _ = _scan(run)
    victim = [e for e in events if e.ip == "127.0.1.10" and e.kind is not Kind.AUTH_OK
              and e.kind is not Kind.CHALLENGE_SENT]
    assert victim == [], victim[:3]
    probe = [e for e in events if e.ip == "127.0.1.50"]
    assert len(probe) >= 20  # the real sender still counts
    reassembled = [e for e in events if e.detail and "reassembled" in e.detail]
    assert reassembled and all(e.ip == "127.0.1.50" for e in reassembled)


@pytest.mark.parametrize("run", RUNS)
def test_security_event_counts_match_ami(run):
    """The corpus README gives the per-type counts AMI saw; split lines must not add or lose events."""
    expected = {"dev1_alwaysauthreject_no": (48, 1880, 547, 4224, 99),
                "dev2_alwaysauthreject_yes": (51, 5018, 99, 1155, 132)}[run]
    _, events, _ = _scan(run, files=("security.gz",))
    by = {}
    for e in events:
        if e.detail:
            name = e.detail.split(" ")[0]
            by[name] = by.get(name, 0) + 1
    got = (by.get("SuccessfulAuth", 0), by.get("ChallengeSent", 0), by.get("InvalidPassword", 0),
           by.get("InvalidAccountID", 0), by.get("ChallengeResponseFailed", 0))
    assert got == expected
