"""CrowdSec-style detector cases: each folder under tests/detector_cases/<detector>/<case>/ holds
`events.jsonl` (events in: `t` seconds from a base time, `ip`, `kind`, optional event fields),
`verdicts.json` (verdicts out: `ip`, `reason`, `at`, optional `accounts` prefix, `counts` subset and
`proven`)
and optionally `config.json` ([detect] settings). One generic runner feeds the engine and compares."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sipwarden.config import DetectConfig
from sipwarden.detect.engine import Engine
from sipwarden.detect.registry import REGISTRY, Entry
from sipwarden.events import Event, Kind

CASES = Path(__file__).parent / "detector_cases"
BASE = 1_795_510_800.0  # 2026-11-24 08:00 UTC
# Every detector row of the README (and the verdicts issue 8 added) has cases.
DETECTORS = ("bruteforce", "enumeration", "tollfraud", "flood", "scanner", "distributed", "compromise", "canary",
             "outsider", "wire")


def cases() -> list[Path]:
    return sorted(p for p in CASES.glob("*/*") if p.is_dir())


def _config(case: Path) -> DetectConfig:
    f = case / "config.json"
    if not f.exists():
        return DetectConfig()
    raw = json.loads(f.read_text())
    return DetectConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


def _event(d: dict) -> Event:
    d = dict(d)
    t = d.pop("t")
    return Event(BASE + t, d.pop("ip"), Kind(d.pop("kind")), **d)


def run_case(case: Path, registry: tuple[Entry, ...] = REGISTRY) -> list:
    eng = Engine(_config(case), registry=registry)
    with (case / "events.jsonl").open() as f:
        eng.feed_many(_event(json.loads(line)) for line in f if line.strip())
    assert eng.errors == 0
    return eng.report()


def _want(case: Path) -> list[dict]:
    return json.loads((case / "verdicts.json").read_text())["verdicts"]


def mismatch(case: Path, got: list) -> str | None:
    """Why `got` (a run's verdicts) is not what `case` expects; None when it is."""
    try:
        check(_want(case), got)
    except AssertionError as e:
        return str(e) or "verdicts differ"
    return None


def check(want: list[dict], got: list) -> None:
    key = lambda ip, reason, at: (ip, reason, round(at, 3))  # noqa: E731
    assert sorted(key(v.ip, str(v.reason), v.at - BASE) for v in got) == sorted(
        key(w["ip"], w["reason"], w["at"]) for w in want)
    by_ip = {v.ip: v for v in got}
    for w in want:
        v = by_ip[w["ip"]]
        if "accounts" in w:
            assert list(v.accounts[:len(w["accounts"])]) == w["accounts"]
        for k, n in w.get("counts", {}).items():
            assert v.counts.get(k) == n, (k, v.counts)
        if "proven" in w:
            assert v.proven is w["proven"], v


@pytest.mark.parametrize("case", cases(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_detector_case(case: Path) -> None:
    check(_want(case), run_case(case))


def test_every_detector_has_cases_below_and_above() -> None:
    for det in DETECTORS:
        cases = [json.loads((c / "verdicts.json").read_text())["verdicts"] for c in (CASES / det).iterdir()]
        assert any(not v for v in cases) and any(v for v in cases), det
