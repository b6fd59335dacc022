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
