"""`scan`'s paths give the events of one log stream over the whole file: `file_events` (the stream's
chunk entry, and for a big plain file a forked worker for the second range) equals `file_events_by_line`
(the stream's line entry), for the corpus and hostile streams. The stream itself, its two entries and
its formats' fast readers are tested in tests/parsers/."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from by_line import file_events_by_line
from logtext import MSG, corpus_files, hostile_text
from sipwarden.config import Config
from sipwarden.pipeline import parallel
from sipwarden.pipeline.scan import file_events
from sipwarden.sources.logfile import open_log


def test_corpus_same_events_both_paths() -> None:
    files = corpus_files()
    assert files
    cfg = Config()
    for f in files:
        log_a, log_b = open_log(str(f)), open_log(str(f))
        ca: dict = {}
        cb: dict = {}
        a = list(file_events(log_a, cfg, ca))
        b = list(file_events_by_line(log_b, cfg, cb))
        assert a == b, f
        assert ca == cb, f


# The multi-process path (pipeline/parallel.py: a forked worker parses the second range of a big plain file).

def _parallel(path: Path, share: float, monkeypatch: pytest.MonkeyPatch) -> tuple[list, dict]:
    monkeypatch.setattr(parallel, "MAIN_SHARE", share)
    counter: dict = {}
    events = list(file_events(open_log(str(path)), Config(), counter, parallel_min=1))
    _used.append(counter.pop("workers", 0))
    return events, counter


_used: list[int] = []  # per _parallel call: did a worker's result count (else this process read it all)


def _serial(path: Path) -> tuple[list, dict]:
    counter: dict = {}
    return list(file_events_by_line(open_log(str(path)), Config(), counter)), counter


def test_corpus_same_events_parallel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _used.clear()
    for f in corpus_files():
        if f.suffix == ".gz":  # compressed files are read by one process; give the worker the text
            plain = tmp_path / f.with_suffix("").name
            plain.write_bytes(gzip.decompress(f.read_bytes()))
            f = plain
        want = _serial(f)
        for share in (0.1, 0.4, 0.77):
            assert _parallel(f, share, monkeypatch) == want, (f, share)
    assert sum(_used) >= 6, _used  # the worker path did run (security logs alone offer no cut)


@pytest.mark.parametrize("seed", range(8))
def test_hostile_stream_same_events_parallel(seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    text = hostile_text(rng, seed, 3000)
    path = tmp_path / "h.log"
    path.write_bytes(text.encode() + (b"\xff\xfe junk\n" if seed % 3 == 1 else b""))
    want = _serial(path)
    _used.clear()
    for share in (0.2, 0.5, rng.random()):
        assert _parallel(path, share, monkeypatch) == want, share
    assert any(_used)


def test_parallel_falls_back_on_year_rollover(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Year-less stamps that roll over Dec -> Jan in the second range: the worker's clock cannot know
    the year, so this process reads that range itself (same events, no worker result used)."""
    lines = []
    for month, day in (("Nov", 30), ("Dec", 31), ("Jan", 1), ("Jan", 2)):
        for i in range(300):
            lines.append(MSG.format(s=i % 60, acct="100", ip=i % 20).replace(
                "[2026-11-24 12:00:", f"[{month} {day:2d} 12:{i // 60:02d}:"))
    path = tmp_path / "roll.log"
    path.write_text("\n".join(lines) + "\n")
    want = _serial(path)
    assert len({e.time for e in want[0]}) > 100
    _used.clear()
    for share in (0.3, 0.6, 0.9):
        assert _parallel(path, share, monkeypatch) == want, share
    assert _used[0] == 0 and _used[2] == 1  # the rollover is in the second range unless the cut is past it
