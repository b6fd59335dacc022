"""Every sample line of fail2ban's asterisk and freeswitch filters, with the host fail2ban expects."""

from __future__ import annotations

import json

import pytest

from conftest import SHARED, parse_lines


def _samples(name: str) -> list[dict]:
    path = SHARED / "corpus" / "fail2ban" / f"{name}.expected.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


SAMPLES = [pytest.param(s, id=f"{name}:{s['lineno']}") for name in ("asterisk", "freeswitch") for s in _samples(name)]


def test_corpus_present(shared):
    assert len(_samples("asterisk")) == 48
    assert len(_samples("freeswitch")) == 11


@pytest.mark.parametrize("sample", SAMPLES)
def test_sample_line(sample):
    events = parse_lines([sample["line"]])
    ips = [e.ip for e in events if e.ip is not None]
    if sample["match"]:
        assert ips == [sample["host"]], events
    else:
        assert ips == [], events


def test_journald_prefix_forms():
    # fail2ban feeds the journal samples with a "server asterisk[123]: " prefix; both shapes must work.
    for s in _samples("asterisk"):
        for opt in s["filter_options"]:
            if opt.get("logtype") == "journal":
                line = opt["test.prefix-line"] + s["line"]
                assert [e.ip for e in parse_lines([line])] == [s["host"]]
