"""The scan pipeline's compiled steps (pipeline/_accel.pyx) against their Python versions: the reorder
buffer gives the same (time, seq, event) sequence, the spool's columns the same records and events."""

from __future__ import annotations

import importlib
import marshal
import os
import random
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipwarden.events import Event, Kind
from sipwarden.pipeline import order, parallel


def _compiled():  # noqa: ANN202
    try:
        return importlib.import_module("sipwarden.pipeline._accel")
    except ImportError:
        return None


ACCEL = _compiled()
needs_accel = pytest.mark.skipif(ACCEL is None, reason="the compiled pipeline steps are not built here")


def test_compiled_steps_are_built_and_switchable() -> None:
    if os.environ.get("SIPWARDEN_NO_SKIP") == "1" or shutil.which("cc") or shutil.which("gcc"):
        assert ACCEL is not None, "sipwarden.pipeline._accel did not build: `pip install -e .` with a C compiler"
    pure = os.environ.get("SIPWARDEN_PURE", "") not in ("", "0")
    assert (order._ACCEL is None) == (pure or ACCEL is None)
    assert (parallel._ACCEL is None) == (pure or ACCEL is None)


def _ev(t: float | None, n: int, kind: Kind = Kind.AUTH_FAILED) -> Event:
    return Event(t, f"198.51.100.{n % 250}", kind, 5060 + n % 3, "udp", "SIP", str(n), None, "REGISTER", None, None,
                 "Wrong password", "messages", "f", n)


@needs_accel
@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(0, 200, allow_nan=False), st.sampled_from((0.0, 10.0, 10.5, 50.0))),
                max_size=300), st.sampled_from((0.0, 1.0, 30.0)))
def test_reorder_same_sequence(times: list, slack: float) -> None:
    evs = [_ev(t, i) for i, t in enumerate(times)]
    want = list(order._reorder_py(evs, slack))
    got = list(ACCEL.Reorder(iter(evs), slack))
    assert got == want
    assert [x[2] for x in got] == [x[2] for x in want] and all(a[2] is b[2] for a, b in zip(got, want, strict=True))


@needs_accel
def test_reorder_long_streams() -> None:
    rng = random.Random(4)
    t = 1.79e9
    evs = []
    for i in range(20000):  # a busy log: the security log's millisecond times interleaved with whole seconds
        t += rng.choice((0, 0.001, 0.5, 1))
        evs.append(_ev(None if i % 500 == 7 else t - rng.choice((0, 0, 0.9, 31, 400)), i))
    assert list(ACCEL.Reorder(evs, 30.0)) == list(order._reorder_py(evs, 30.0))


@needs_accel
def test_spool_columns_and_events() -> None:
    rng = random.Random(5)
    kinds = list(Kind)
    evs = [Event(rng.choice((None, 1.79e9 + i)), rng.choice((None, "203.0.113.9", "2001:db8::1")), rng.choice(kinds),
                 rng.choice((None, 5060)), "udp", "PJSIP", rng.choice((None, "acct", "é\n'")), None, "INVITE", None,
                 None, "detail", rng.choice(("messages", "security")), "f", i) for i in range(5000)]
    saved = parallel._ACCEL
    try:
        parallel._ACCEL = None
        want_cols = parallel._columns(evs)
        rec = marshal.loads(marshal.dumps(want_cols))
        want = parallel._events(rec, "/var/log/asterisk/messages", 1000)
        parallel._ACCEL = ACCEL
        assert parallel._columns(evs) == want_cols
        got = parallel._events(rec, "/var/log/asterisk/messages", 1000)
    finally:
        parallel._ACCEL = saved
    assert got == want and all(type(e) is Event for e in got)
    assert [e.line for e in got] == list(range(1000, 6000))
    with pytest.raises(ValueError):
        ACCEL.events([[(1.0, "x")], [0], [(None,) * 9], [1]], list(Kind), "f", 0)


@needs_accel
def test_malloc_keeps_chunk_buffers() -> None:
    """On glibc (Debian, CI) the scan's malloc tuning takes; elsewhere it says it did not."""
    import platform

    assert ACCEL.keep_buffers() is (platform.libc_ver()[0] == "glibc")


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400).map(lambda b: b.replace(b"\n", b"")) | st.lists(st.sampled_from(
    (b"a", b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\xe2\x82", b"\xf0\x9f", b"\x80", b"\xc0", b"\xff",
     b"\xed\xa0\x80", b"\xe0\x80")), max_size=200).map(b"".join), st.integers(1, 9))
def test_range_text_decodes_as_one_decoder(data: bytes, chunk: int) -> None:
    """The parallel scan's ranges decode read by read, cut characters carried: the text of one decoder."""
    import io

    saved = parallel.CHUNK
    parallel.CHUNK = chunk
    try:
        got = "".join(parallel._range_text(io.BytesIO(b"x\n" + data), 2, 2 + len(data)))
    finally:
        parallel.CHUNK = saved
    assert got == data.decode("utf-8", "replace")
