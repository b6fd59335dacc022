"""Following a log file: rotation by rename+create and copytruncate, resuming a saved position,
partial lines, and inotify telling which file changed. Real files in tmp_path."""

from __future__ import annotations

import os

from sipwarden.sources.follow import FollowedFile, Watcher


def texts(lines) -> list[str]:  # noqa: ANN001
    return [t for _, t in lines]


def test_reads_complete_lines_only_and_keeps_the_partial(tmp_path):
    p = tmp_path / "log"
    p.write_text("a\nb")
    f = FollowedFile(str(p))
    f.open()
    assert texts(f.read()) == ["a"]
    with open(p, "a") as w:
        w.write("c\nd\n")
    assert texts(f.read()) == ["bc", "d"]
    assert f.offset == p.stat().st_size


def test_from_end_skips_history(tmp_path):
    p = tmp_path / "log"
    p.write_text("old\n")
    f = FollowedFile(str(p))
    f.open(from_end=True)
    with open(p, "a") as w:
        w.write("new\n")
    assert texts(f.read()) == ["new"]


def test_rename_and_create_rotation_loses_nothing(tmp_path):
    p = tmp_path / "log"
    p.write_text("1\n")
    f = FollowedFile(str(p))
    f.open()
    assert texts(f.read()) == ["1"]
    with open(p, "a") as w:
        w.write("2\n")
    os.rename(p, str(p) + ".1")
    p.write_text("3\n")
    assert texts(f.read()) == ["2", "3"]


def test_copytruncate_even_when_the_new_content_is_longer(tmp_path):
    p = tmp_path / "log"
    p.write_text("short\n")
    f = FollowedFile(str(p))
    f.open()
    assert texts(f.read()) == ["short"]
    with open(p, "r+") as w:
        w.truncate(0)
    with open(p, "a") as w:
        w.write("a much longer first line than before\nsecond\n")
    assert texts(f.read()) == ["a much longer first line than before", "second"]


def test_saved_position_resumes_and_rotated_rest_is_finished(tmp_path):
    p = tmp_path / "log"
    p.write_text("1\n2\n")
    f = FollowedFile(str(p))
    f.open()
    assert texts(f.read()) == ["1", "2"]
    pos = f.position()
    f.close()
    # restart with the same file grown: only the new line
    with open(p, "a") as w:
        w.write("3\n")
    g = FollowedFile(str(p))
    assert g.open(pos) == []
    assert texts(g.read()) == ["3"]
    pos = g.position()
    g.close()
    # while down: more lines, then rotation; the rest of the old file comes first
    with open(p, "a") as w:
        w.write("4\n")
    os.rename(p, str(p) + ".1")
    p.write_text("5\n")
    h = FollowedFile(str(p))
    assert texts(h.open(pos)) == ["4"]
    assert texts(h.read()) == ["5"]


def test_missing_file_is_an_error_not_a_crash_and_recovers(tmp_path):
    p = tmp_path / "nope"
    f = FollowedFile(str(p))
    assert f.open() == []
    assert f.error and "cannot open" in f.error
    p.write_text("x\n")
    assert texts(f.read()) == ["x"]
    assert f.error is None


def test_inotify_names_the_changed_file(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("")
    b.write_text("")
    w = Watcher([str(a), str(b)])
    try:
        assert w.fileno() is not None
        w.changed()
        with open(b, "a") as fh:
            fh.write("x\n")
        assert w.changed() == {str(b)}
    finally:
        w.close()


def test_budget_reads_a_backlog_in_slices_without_loss(tmp_path):
    p = tmp_path / "log"
    lines = [f"line {i} " + "x" * 90 for i in range(30_000)]  # about 3 MB
    p.write_text("\n".join(lines) + "\n")
    f = FollowedFile(str(p))
    f.open()
    got, slices = [], 0
    while True:
        got += texts(f.read(budget=1 << 20))
        slices += 1
        if not f.more:
            break
    assert slices >= 3
    assert got == lines


def _wrong_password(s: int, ip: str) -> str:
    return (f"[2026-11-24 12:00:{s:02d}] NOTICE[1] chan_sip.c: Registration from '<sip:100@pbx>' failed for "
            f"'{ip}:5060' - Wrong password\n")


def test_an_over_long_line_is_cut_once_and_its_rest_never_starts_a_line(tmp_path):
    """A line longer than MAX_PARTIAL, written in several appends and read after each (as the daemon
    follows it), whose tail is a complete forged failure line: the log stream counts the whole line as
    one oversized line (what `scan` does), no event names the forged address, nothing else is lost, and
    a position saved while inside it resumes at its start (a restart does not read its tail as a line)."""
    import asyncio

    from sipwarden.daemon.errors import StageErrors
    from sipwarden.daemon.logs import LogSources
    from sipwarden.sources.follow import MAX_PARTIAL

    log = tmp_path / "messages"
    log.write_text(_wrong_password(1, "203.0.113.1"))
    got: list = []
    src = LogSources([str(log)], "UTC", got.extend, StageErrors(), clock=lambda: 1_795_000_000.0)
    f = src.files[str(log)]
    f.open(None)

    async def append_and_drain(text: str) -> None:
        with open(log, "a") as w:
            w.write(text)
        src.read_all()
        while src._draining:  # the slices the loop comes back for
            await asyncio.sleep(0)

    async def follow() -> None:
        await append_and_drain("")
        start = f.offset
        # the over-long line's head over three appends, no newline: the follower cuts it just where it
        # ends, so its tail (the forged line) comes right after the cut
        for part in ("A" * (MAX_PARTIAL // 2), "A" * (MAX_PARTIAL // 2), "A"):
            await append_and_drain(part)
        assert f.position().offset == start  # inside the cut line: a restart reads it again from its start
        forged = _wrong_password(5, "203.0.113.66")
        await append_and_drain(forged[:40])
        await append_and_drain(forged[40:])  # the line's end: a complete failure line, at the cut
        await append_and_drain(_wrong_password(7, "203.0.113.7"))

    asyncio.run(follow())
    assert [e.ip for e in got] == ["203.0.113.1", "203.0.113.7"]
    assert [e.line for e in got] == [1, 3]  # the cut line is line 2, as in the file
    assert src.status()[0]["oversized"] == 1
    assert src.lines == 3
    assert f.offset == log.stat().st_size

    # a restart from a position saved inside the cut line: the whole line again, as one
    mid = tmp_path / "mid"
    mid.write_text(_wrong_password(1, "203.0.113.1") + "A" * (MAX_PARTIAL + 10))
    g = FollowedFile(str(mid))
    g.open()
    assert [len(t) for t in texts(g.read())] == [len(_wrong_password(1, "203.0.113.1")) - 1, MAX_PARTIAL + 10]
    pos = g.position()
    g.close()
    with open(mid, "a") as w:
        w.write(_wrong_password(5, "203.0.113.66") + _wrong_password(7, "203.0.113.7"))
    h = FollowedFile(str(mid))
    h.open(pos)
    lines = texts(h.read())
    assert len(lines) == 2 and len(lines[0]) > MAX_PARTIAL and "203.0.113.66" in lines[0]
    assert "203.0.113.7:" in lines[1]
