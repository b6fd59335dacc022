"""The one log stream (parsers/stream.py): its chunk entry gives the very events of its line entry (for
real logs cut anywhere, and hostile streams: splits, injections, dumps, colours, CR, over-long lines);
its seams answer as the line reading does; the formats' triggers and starts are assembled, not listed;
and nothing outside it reads log text or touches its state (one parse path)."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest

from logtext import by_line, corpus_files, hostile_text, in_chunks, text_of
from sipwarden.parsers import asterisk, freeswitch, security, stream
from sipwarden.parsers.prefix import body
from sipwarden.parsers.stream import LogStream
from sipwarden.timefmt import Clock

SRC = Path(stream.__file__).resolve().parents[1]  # src/sipwarden
REPO = SRC.parents[1]


@pytest.mark.parametrize("size", [1, 7, 100, 997, 1 << 16])
def test_corpus_chunk_boundaries(size: int) -> None:
    for f in corpus_files():
        text = text_of(f)
        if size < 100 and len(text) > 300_000:
            text = text[:300_000]
        assert in_chunks(text, size) == by_line(text), (f, size)


@pytest.mark.parametrize("seed", range(12))
def test_hostile_stream_same_events(seed: int) -> None:
    rng = random.Random(seed)
    text = hostile_text(rng, seed, 1000)
    want = by_line(text)
    for size in (rng.randrange(1, 50), rng.randrange(50, 3000), 1 << 20):
        assert in_chunks(text, size) == want, size


def test_close_then_feed_on() -> None:
    """The daemon closes a stream at the end of each read batch and feeds on: line numbers go on, and
    what was held is emitted at each close."""
    rng = random.Random(4)
    text = hostile_text(rng, 2, 600)  # sparse: mostly chunk mode
    text = text if text.endswith("\n") else text + "\n"
    lines = text.splitlines(keepends=True)
    s = LogStream(Clock(2026), file="f")
    got = []
    for i in range(0, len(lines), 97):
        got += s.feed_chunk("".join(lines[i:i + 97]))
        got += s.close()
    assert s.lines == len(lines)
    assert [e.line for e in got] == sorted(e.line for e in got)
    assert {(e.line, e.ip) for e in got} <= {(e.line, e.ip) for e in by_line(text)} | {(e.line, None) for e in got}


@pytest.mark.parametrize("seed", range(6))
def test_chunk_entry_goes_on_after_the_line_entry(seed: int) -> None:
    """The daemon's pattern after a parser error: some lines through the line entry, then chunks on the
    same stream: the events (and line numbers) of one reading of the whole text."""
    rng = random.Random(50 + seed)
    text = hostile_text(rng, seed, 800)
    want = by_line(text)
    lines = text.split("\n")
    k = rng.randrange(1, len(lines) - 1)
    s = LogStream(Clock(2026), file="f")
    got = []
    for n, line in enumerate(lines[:k], 1):
        got += s.feed_line(line + "\n", n)
    rest = "\n".join(lines[k:])
    for i in range(0, len(rest), 997):
        got += s.feed_chunk(rest[i:i + 997])
    got += s.close()
    assert got == want


# The seams a compiled accelerator may replace: each answers as the careful line reading does.

def test_candidate_starts_are_the_lines_holding_a_trigger() -> None:
    rng = random.Random(9)
    for f in corpus_files()[:6]:
        text = text_of(f)[:200_000]
        text = text[:text.rfind("\n") + 1]
        starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"][:-1]
        want = [s for s in starts if any(t in text[s:text.find("\n", s)] for t in stream.LINE_TRIGGERS)]
        extra = set(rng.sample(starts, 5))
        assert stream.candidate_starts(text, len(text), set(extra)) == sorted(set(want) | extra), f


def test_read_message_is_the_line_reading() -> None:
    n = 0
    for f in corpus_files():
        for line in text_of(f).split("\n"):
            msg = body(line)
            if msg is None:
                continue
            try:
                want = stream.read_line(line)
            except ValueError:
                continue
            assert stream.read_message(msg) == want, line
            n += want is not None
    assert n > 1000


def test_time_at_is_line_time() -> None:
    c1, c2 = Clock(2026), Clock(2026)
    for f in corpus_files()[:4]:
        text = text_of(f)[:100_000]
        pos = 0
        while (e := text.find("\n", pos)) >= 0:
            assert c1.time_at(text, pos, e) == c2.line_time(text[pos:e]), text[pos:e]
            pos = e + 1


# The formats' data, assembled.

def test_triggers_and_starts_come_from_the_formats() -> None:
    formats = (asterisk, freeswitch)
    assert tuple(dict.fromkeys(t for f in formats for t in f.TRIGGERS)) == stream.LINE_TRIGGERS
    assert stream.TRIGGERS == stream.LINE_TRIGGERS + security.TRIGGERS
    picked = {fn for f in formats for fns in f.STARTS.values() for fn in fns}
    for f in formats:
        for start, fns in f.STARTS.items():
            msg = start + " whatever"
            assert set(fns) <= set(stream.pick(msg)), start
    assert picked | {asterisk.manager} == {fn for msg in ("Registration", "Request", "Call", "Host", "No r", "Reje",
                                                           '"Rej', "hack", "Drop", "sip_", "SIP ", "Can'", "Can ",
                                                           "IP 1", "x authenticat") for fn in stream.pick(msg)}
    assert set(asterisk.PLAIN) <= picked  # a fast reader only for a parser the stream calls


# One parse path.

def _modules(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.py") if ".venv" not in p.parts]


def test_one_parse_path_for_log_text() -> None:
    """Only the stream imports the log formats' parsers and fast readers (parsers/ami.py shares the
    security log's mapping from event to Event, `classify`), and no second stream class exists."""
    formats = {"asterisk", "freeswitch", "security", "prefix"}
    users = set()
    for p in _modules(SRC):
        tree = ast.parse(p.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                mod = (node.module or "").split(".")
                names = {a.name for a in node.names}
                if mod[-1] in formats or (mod[-1] == "parsers" and names & formats):
                    users.add((p.relative_to(SRC).as_posix(), mod[-1], tuple(sorted(names))))
            if isinstance(node, ast.ClassDef) and p.name != "stream.py":
                assert not {"feed_line", "feed_chunk"} & {n.name for n in node.body if isinstance(n, ast.FunctionDef)}, p
    assert {u[0] for u in users} == {"parsers/stream.py", "parsers/ami.py"}, users
    assert {u for u in users if u[0] == "parsers/ami.py"} == {("parsers/ami.py", "security", ("classify",))}
    assert not (SRC / "parsers" / "bulk.py").exists() and not (SRC / "parsers" / "logstream.py").exists()


def test_nothing_outside_touches_the_streams_state() -> None:
    """No code outside parsers/stream.py reads or writes a private attribute of a LogStream (the chunk
    mode, the window, the split and dump state are the stream's own): no `x._window`, no
    `getattr(x, "_dump")`, for any object other than a class's own `self`."""
    s = LogStream(Clock(2026))
    private = {k for k in vars(s) if k.startswith("_")} | {k for k in vars(LogStream) if k.startswith("_")
                                                            and not k.startswith("__")}
    assert {"_window", "_secs_in_window", "_pending", "_dump", "_call", "_drain_window", "_carry"} <= private
    wrong = []
    for root in (SRC, REPO / "tests", REPO / "bench"):
        for p in _modules(root):
            if p.name == "stream.py" and p.parent.name == "parsers" or p == Path(__file__).resolve():
                continue
            for node in ast.walk(ast.parse(p.read_text())):
                if (isinstance(node, ast.Attribute) and node.attr in private
                        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
                    wrong.append(f"{p.relative_to(REPO)}:{node.lineno} {ast.unparse(node)}")  # another object's
                if isinstance(node, ast.Constant) and node.value in private:  # setattr/getattr by name
                    wrong.append(f"{p.relative_to(REPO)}:{node.lineno} {node.value!r}")
    assert wrong == []


@pytest.mark.parametrize("text", [
    "", "no marks\n", "<--- SIP read\n", "x <--- Received SIP request\n", "<sip:100@203.0.113.5>\n" * 3 + "<--- y\n",
    "<" * 5000 + "--- \n", "<" * 5000 + "-- \n", "<sip:a@b>" * 2000 + "\n<--- z\n", "<sip:a@b>" * 2000 + "\n",
    "text <---", "text <--- ", "<-<--- ", "<<--- ",
])
def test_dump_mark_search_is_the_substring_test(text: str) -> None:
    """The chunk mode finds "<--- " through "<" (fast); with many "<" it falls back: same answer either way."""
    assert stream.has_dump_mark(text) == ("<--- " in text)
    assert stream.has_dump_mark("[t] VERBOSE[1] x.c: " + text) == ("<--- " in text)
