"""Every log parser has samples in the repository with the expected result (as fail2ban requires of its
filters): samples/parsers/<parser>.log, each line preceded by `# expect: {...}` (the event's fields, or
{"match": false}). A parser without samples fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import parse_lines
from sipwarden.parsers import asterisk, freeswitch, stream

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "parsers"


def parsers() -> set[str]:
    """Every parser `pick` can choose, and the security log's."""
    fns = {fn for fmt in (asterisk, freeswitch) for fns in fmt.STARTS.values() for fn in fns}
    fns.add(asterisk.manager)  # found by its phrase anywhere: AMI's lines start with the address
    return {fn.__name__ for fn in fns} | {"security"}


def test_every_parser_has_samples():
    have = {p.stem for p in SAMPLES.glob("*.log")}
    missing = parsers() - have
    assert not missing, f"parsers without samples in samples/parsers/: {sorted(missing)}"


def _cases():
    for f in sorted(SAMPLES.glob("*.log")):
        lines = f.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.startswith("# expect: "):
                yield pytest.param(json.loads(line[10:]), lines[i + 1], id=f"{f.stem}:{i + 2}")


@pytest.mark.parametrize("want,line", list(_cases()))
def test_sample(want: dict, line: str):
    evs = [e for e in parse_lines([line]) if e.ip is not None]
    if want.get("match") is False:
        assert evs == []
        return
    assert len(evs) == 1, evs
    got = evs[0].to_dict()
    for k, v in want.items():
        assert got.get(k) == v, (k, got)




@pytest.mark.parametrize("want,line", [c for c in _cases() if c.values[0].get("match") is not False])
def test_triggers_cover_every_sample(want: dict, line: str):
    """The stream's chunk mode only reads lines holding one of TRIGGERS: every sample event line holds one."""
    assert any(t in line for t in stream.TRIGGERS), line
