"""The benchmark log generator (bench/gen_asterisk_log.py): deterministic, sized, and in agreement with the parsers.

Every labelled line must give exactly the event the label promises (right address, right kind), and
no unlabelled (benign) line may give an event: otherwise the benchmark's figures compare nothing.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import pytest

from sipwarden.parsers.stream import LogStream
from sipwarden.timefmt import Clock

GEN_PATH = Path(__file__).resolve().parents[1] / "bench" / "gen_asterisk_log.py"
N = 2000


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_asterisk_log", GEN_PATH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def small_log(gen: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "a.log"
    gen.generate(out, lines=N, seed=7)
    return out


def test_deterministic_and_sized(gen: ModuleType, small_log: Path, tmp_path: Path) -> None:
    again = tmp_path / "b.log"
    gen.generate(again, lines=N, seed=7)
    assert small_log.read_bytes() == again.read_bytes()
    assert Path(str(small_log) + ".labels.tsv").read_bytes() == Path(str(again) + ".labels.tsv").read_bytes()
    assert len(small_log.read_text().splitlines()) == N
    other = tmp_path / "c.log"
    gen.generate(other, lines=N, seed=8)
    assert other.read_bytes() != small_log.read_bytes()


def test_mix(gen: ModuleType, small_log: Path) -> None:
    labels = gen.read_labels(str(small_log) + ".labels.tsv")
    attack = sum(1 for kind, _ in labels.values() if gen.KINDS[kind][1] in gen.ATTACK_CATEGORIES)
    assert 0.15 * N < attack < 0.25 * N
    text = small_log.read_text()
    assert "]: " in text and "] chan_sip.c: " in text  # both prefix styles
    assert "[C-" in text
    assert any(":" in ip for _, ip in labels.values())  # some IPv6


def test_parsers_agree_with_labels(gen: ModuleType, small_log: Path) -> None:
    labels = gen.read_labels(str(small_log) + ".labels.tsv")
    parser = LogStream(Clock(2026))
    events = defaultdict(list)
    with open(small_log, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            for ev in parser.feed_line(line, n):
                events[ev.line].append(ev)
    for ev in parser.close():
        events[ev.line].append(ev)
    wrong = []
    for n, (kind, ip) in labels.items():
        got = [(e.ip, str(e.kind)) for e in events.get(n, [])]
        if got != [(ip, gen.KINDS[kind][2])]:
            wrong.append((n, kind, ip, got))
    assert not wrong, wrong[:5]
    assert not [n for n in events if n not in labels]
