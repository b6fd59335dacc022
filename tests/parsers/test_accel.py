"""The compiled chunk loop (parsers/_accel.pyx, `stream.ACCEL`) against the pure-Python one.

Both must give the very same events, line counts and clock state for any text: the log corpus,
hostile streams, mutated lines of the formats the compiled code reads itself, and timestamps
that make the clock work (year rollover, the repeated hour at the end of daylight saving, a
file's mtime bound). These tests build their own compiled reader, so they compare the two loops
whatever SIPWARDEN_PURE says; where a C compiler exists (CI has one) the build must have made it.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_asterisk import BITS as AST_BITS
from test_asterisk import OTHER_SEEDS as AST_OTHER
from test_asterisk import SEEDS as AST_SEEDS
from test_security import BITS as SEC_BITS
from test_security import SEEDS as SEC_SEEDS

from logtext import corpus_files, hostile_lines, text_of
from sipwarden.parsers import stream
from sipwarden.parsers.prefix import bracketed_match
from sipwarden.timefmt import Clock

ACCEL = stream._accelerator(force=True)  # the stream's own factory, built even under SIPWARDEN_PURE=1
needs_accel = pytest.mark.skipif(ACCEL is None, reason="the compiled reader is not built here (no C compiler)")


def test_compiled_reader_is_built_and_switchable() -> None:
    """Where a C compiler exists the install built the compiled reader (CI has one: a silent fallback
    there fails here); SIPWARDEN_PURE=1 makes the stream run without it."""
    if os.environ.get("SIPWARDEN_NO_SKIP") == "1" or shutil.which("cc") or shutil.which("gcc"):
        assert ACCEL is not None, "sipwarden.parsers._accel did not build: `pip install -e .` with Cython and a C compiler"
    if os.environ.get("SIPWARDEN_PURE", "") not in ("", "0"):
        assert stream.ACCEL is None
    else:
        assert (stream.ACCEL is None) == (ACCEL is None)


def _run(text: str, size: int, accel, clock: Clock | None = None) -> tuple:  # noqa: ANN001
    """Events, counters and the clock's end state of `text` fed in chunks of `size` (or the exception)."""
    saved = stream.ACCEL
    stream.ACCEL = accel
    clock = clock or Clock(2026)
    s = stream.LogStream(clock, file="f")
    out: list = []
    try:
        for i in range(0, len(text), size):
            out.extend(s.feed_chunk(text[i:i + size]))
        out.extend(s.close())
    except ValueError as e:  # a pure parser's own error on junk: the compiled loop must raise it too
        return ("raised", type(e))
    finally:
        stream.ACCEL = saved
    return out, s.lines, s.oversized, clock.year, clock.last, clock._last_month


# Quiet lines after the text: the chunk mode holds the last REACH characters back for the line entry.
_PAD = "[Nov 23 19:00:09] VERBOSE[1] pbx.c: -- Executing [s@default:1] NoOp(quiet)\n" * (stream.REACH // 60)


def same(text: str, sizes=(1 << 20,), clock=None) -> list:  # noqa: ANN001
    """Assert both loops agree on `text` (then quiet lines, so that all of it is read in chunk mode
    where it is clean); return the events."""
    text += _PAD
    want = _run(text, 1 << 20, None, clock() if clock else None)
    for size in sizes:
        got = _run(text, size, ACCEL, clock() if clock else None)
        assert got == want, size
    return want[0] if want[0] != "raised" else []


@needs_accel
def test_corpus_same_events() -> None:
    n = 0
    for f in corpus_files():
        n += len(same(text_of(f), (997, 1 << 16, 1 << 20)))
    assert n > 1000


@needs_accel
@pytest.mark.parametrize("seed", range(8))
def test_hostile_streams_same_events(seed: int) -> None:
    rng = random.Random(seed)
    lines = hostile_lines(rng, 1500, 0.15 if seed % 3 == 0 else 0.01)
    text = "".join(line + "\n" for line in lines)
    assert same(text, (rng.randrange(50, 3000), 1 << 20))


# Lines of the formats the compiled loop reads itself, and the prefixes it reads, mutated.
_SEC = ('[Nov 23 19:00:00] SECURITY[1237] res_security_log.c: SecurityEvent="{ev}",EventTV="2026-11-23T19:00:00.036+'
        '0000",Severity="Error",Service="{svc}",EventVersion="1",AccountID="{acct}",SessionID="0x7f",LocalAddress='
        '"IPV4/UDP/203.0.113.5/5060",RemoteAddress="IPV4/{tr}/198.51.100.{ip}/{port}"{tail}')
_SEC_SEEDS = tuple(_SEC.format(ev=ev, svc=svc, acct=acct, tr=tr, ip=ip, port=port, tail=tail)
                   for ev, tail in (("ChallengeSent", ',Challenge="1a2b"'), ("SuccessfulAuth", ',UsingPassword="1"'),
                                    ("InvalidAccountID", ""), ("InvalidAccountID", ',Module="x",SessionTV="y"'),
                                    ("ChallengeResponseFailed", ',Challenge="a",Response="b",ExpectedResponse=""'),
                                    ("InvalidPassword", ',Challenge="a",ReceivedChallenge="a",ReceivedHash="h"'),
                                    ("InvalidPassword", ""), ("InvalidPassword", ',Challenge="",ReceivedHash="h"'),
                                    ("InvalidPassword", ',Module="chan_sip",Challenge="c",ReceivedHash=""'),
                                    ("FailedACL", ',ACLName="no_extension_match"'),
                                    ("FailedACL", ',Module="no_extension_match",ACLName="x"'),
                                    ("FailedACL", ',ACLName="acl"'), ("RequestBadFormat", ',RequestType="x"'),
                                    ("SessionLimit", ""), ("Nonesuch", ""))
                   for svc, acct, tr, ip, port in (("PJSIP", "100", "UDP", 7, "5060"), ("SIP", "", "TCP", 8, "05061"),
                                                   ("AMI", "<unknown>", "WSS", 9, "0"), ("IAX2", "x", "TLS", 10, "99999")))
_OTHER_SEEDS = (
    "[Nov 23 19:00:26] NOTICE[29609]: manager.c:3005 authenticate: 104.57.64.168 tried to authenticate with "
    "nonexistent user 'cron'",
    "[Nov 23 19:00:44] WARNING[8447][C-00000120] Ext. s: \"Rejecting unknown SIP connection from 94.38.13.110:25183\"",
    "[Nov 23 19:04:04] NOTICE[19388] res_pjsip_session.c:  anonymous: Call (UDP:12.102.64.40:43420) to extension '06' "
    "rejected because extension not found in context 'from-external'.",
    "[Nov 23 19:00:01] NOTICE[20008] manager.c: 174.92.62.204 failed to authenticate as 'root'",
    "[Nov 23 19:00:01] NOTICE[20008] manager.c: 174.92.62.204:5038 failed to pass IP ACL as 'admin'  ",
    "[Nov 23 19:00:01] NOTICE[20008] manager.c: 174.92.62.204 failed to authenticate as 'root' x",
    "[Nov 23 19:00:01] NOTICE[20008] manager.c: 174.92.62.204 failed to authenticate as 'ro'ot'\x0c ",
    "[Nov 23 19:09:23] VERBOSE[2211] chan_sip.c: Registered SIP '101' at 198.51.100.12 port 506012",
    "[Nov 23 19:09:23] VERBOSE[2211] chan_sip.c: Registered SIP '101' at 198.51.100.12:5060 port 5060 \t",
    "[Nov 23 19:09:23] VERBOSE[2211] chan_sip.c: Registered SIP '101' at [2001:db8::1]:5060 x",
    "[Nov 23 19:00:44] WARNING[8447] Ext. s: \"Rejecting unknown SIP connection from [2001:db8::5]:5060\" x",
    "[Nov 23 19:00:44] WARNING[8447] Ext. s: Rejecting unknown SIP connection from 94.38.13.110\"\" ",
    "[Nov 23 19:00:44] WARNING[8447] Ext. s: \"Rejecting unknown SIP connection from 94.38.13.110:5060 \x1f",
    "[Nov 23 19:02:15] NOTICE[24501]: chan_iax2.c:8850 update_registry: No registration for peer '46683' (from 1.2.3.4)",
    "[Nov 23 19:09:23] VERBOSE[2211] chan_sip.c: Registered SIP '101' at 198.51.100.12:5061",
    "[Nov 23 19:00:00] VERBOSE[3980][C-00000100] bridge_channel.c: Channel PJSIP/125-00000100 joined 'simple_bridge'",
    "[Nov 23 19:00:01] VERBOSE[20023][C-00000101]: pbx.c:2946 pbx_extension_helper: Executing [154@from-internal:3] "
    "Set(\"PJSIP/144-00000101\", \"CDR(userfield)=out\") in new stack",
    "[Nov 23 19:00:01] NOTICE[1] chan_sip.c:  == Failed to authenticate device <sip:1@2>;tag=x",
    "[2026-11-24 12:00:01] NOTICE[1] x.c: Registration from '<sip:1@x>' failed for '10.1.0.1:5060' - Wrong password",
    "Nov 24 12:00:01 host asterisk[1]: NOTICE[1] chan_sip.c: Registration from '<sip:1@x>' failed for '10.1.0.1' - "
    "Wrong password",
)
_SEEDS = AST_SEEDS + AST_OTHER + SEC_SEEDS + _SEC_SEEDS + _OTHER_SEEDS
_BITS = tuple(dict.fromkeys(b for b in AST_BITS + SEC_BITS if b.isascii())) + (
    '"', ",", '",Challenge="', 'RemoteAddress="IPV4/UDP/6.6.6.6/1"', 'SecurityEvent="ChallengeSent",', " in ", ": ",
    "NOTICE", "[C-1a]", ":12", " -- ", "== ", "> ", "Ext. ", "[", "]", "\x1c", "\x0c", "\x7f", "0", "9", "/", "_",
    "IPV6", ":: ", "<unknown>", "SecurityEvent=", " failed to authenticate as '", " tried to ", "x: Call (",
    "Call from '", "' (", "authenticat", "IP ACL", "  ", "=", "Dec 31 23:59:5", "\u00e9", "\ufffd")


def _mutate(rng: random.Random, line: str, k: int) -> str:
    for _ in range(k):
        at = rng.randrange(len(line) + 1) if rng.random() < 0.8 else len(line)  # the tails decide a lot
        if rng.random() < 0.3:
            line = line[:at] + line[at + rng.randrange(1, 6):]
        else:
            line = line[:at] + rng.choice(_BITS) + line[at:]
    return line


@needs_accel
@pytest.mark.parametrize("seed", range(10))
def test_mutated_lines_same_events(seed: int) -> None:
    """Every seed line and thousands of mutants (of the prefix, the fields, the quoting) in one stream,
    so the compiled readers answer where they can and hand the rest to the pure readers."""
    rng = random.Random(1000 + seed)
    lines = []
    for n in range(3000):
        line = rng.choice(_SEEDS)
        if n % 4:
            line = _mutate(rng, line, rng.randrange(1, 4))
        lines.append(line.replace("19:00:0", f"19:{n // 60 % 60:02d}:{n % 60:02d}"[:-1], 1))
    text = "\n".join(lines) + "\n"
    assert len(same(text, (rng.randrange(200, 5000), 1 << 20))) > 500


@needs_accel
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_SEEDS), st.lists(st.tuples(st.integers(0, 400), st.sampled_from(_BITS)),
                                                            max_size=3)), min_size=1, max_size=40))
def test_property_same_events(parts: list) -> None:
    lines = []
    for seed, edits in parts:
        for at, bit in edits:
            at = at % (len(seed) + 1)
            seed = seed[:at] + bit + seed[at:]
        lines.append(seed)
    same("\n".join(lines) + "\n", (1 << 20, 300))


@needs_accel
@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(("[", "]", " ", "Nov 23 19:00:00", "NOTICE", "SECURITY", "DTMF", "[1]", "[12]",
                                 "WARNING", "ERROR", "VERBOSE", "DEBUG", "DEBU", "NOTIC", "D", "V",
                                 "[C-0a]", "[C-]", "[C-x]", ":", ": ", "  ", "chan_sip.c", ":123", " in ", "func",
                                 " x", "Ext. ", "\"", "'", "-- ", "==", "> ", ">", "a/b.c", "-", "_", "\t", "x" * 39,
                                 "SecurityEvent=")), max_size=14))
def test_prefix_reader_is_the_regex(parts: list) -> None:
    """The compiled line-prefix reader answers exactly as `prefix.bracketed_match`, or not at all."""
    from sipwarden.parsers._accel import prefix_end

    for line in ("".join(parts), "[Nov 23 19:00:00] " + "".join(parts), "[t] NOTICE[1] " + "".join(parts)):
        got = prefix_end(line, 0, len(line))
        m = bracketed_match(line, 0, len(line))
        assert got == (m.end() if m is not None else -1), line


@needs_accel
@pytest.mark.parametrize("stamp", ["x" * 39, "x" * 40, "x" * 41, "", "[", "]", "Nov 23 19:00:00"])
def test_prefix_reader_stamp_bounds(stamp: str) -> None:
    from sipwarden.parsers._accel import prefix_end

    line = f"[{stamp}] NOTICE[1] chan_sip.c: Registration"
    m = bracketed_match(line, 0, len(line))
    assert prefix_end(line, 0, len(line)) == (m.end() if m is not None else -1)


@needs_accel
@pytest.mark.parametrize("level", ["NOTICE", "WARNING", "ERROR", "SECURITY", "VERBOSE", "DEBUG", "DTMF", "DEBUGX",
                                   "NOTICE ", "TRACE", "D", ""])
@pytest.mark.parametrize("rest", ["[1] x.c: m", "[12][C-0000a1]: res_pjsip/x.c:12 in f: m", " [1]: x.c:1 f:  -- m",
                                  "[1] Ext. s: m", "[1] m", "[1]:m", "[] x.c: m"])
def test_prefix_reader_levels(level: str, rest: str) -> None:
    from sipwarden.parsers._accel import prefix_end

    line = f"[Nov 23 19:00:00] {level}{rest}"
    m = bracketed_match(line, 0, len(line))
    assert prefix_end(line, 0, len(line)) == (m.end() if m is not None else -1), line


_REG = "NOTICE[1] chan_sip.c: Registration from '<sip:1@x>' failed for '10.1.0.1:5060' - Wrong password"


@needs_accel
@pytest.mark.parametrize("stamps", [
    # the clock's month moved by a line it read the slow way, inside an hour the compiled loop remembers
    ["[Dec 31 23:59:50]", "[2027-01-01 00:00:01]", "[Dec 31 23:59:51]", "[Jan  1 00:00:02]", "[Jan  1 00:00:03]"],
    # minutes and seconds out of range after a good stamp of the same hour (the pure clock raises on the first)
    ["[Nov 23 19:00:00]", "[Nov 23 19:00:61]", "[Nov 23 19:00:02]"],
    ["[Nov 23 19:00:00]", "[Nov 23 19:60:00]"],
    ["[Nov 23 19:00:00]", "[Nov 23 19:0x:00]", "[Nov 23 19:00:0x]", "[Nov 23 19:00:03]"],
])
def test_clock_edges_same_times(stamps: list) -> None:
    text = "".join(f"{st} {_REG}\n" for st in stamps) + f"[Nov 23 19:00:09] {_REG}\n" * 5
    same(text, (1 << 20,))


@needs_accel
@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York"])
def test_timestamps_same_times(zone: str) -> None:
    """Year rollover, the repeated hour at the end of daylight saving, out-of-order lines, a file's
    mtime bound: the compiled loop's clock calls leave the clock as the pure loop's do."""
    rng = random.Random(zone)
    tz = dt.UTC if zone == "UTC" else ZoneInfo(zone)
    starts = [dt.datetime(2026, 12, 31, 23, 58, tzinfo=tz), dt.datetime(2026, 10, 25, 1, 58, tzinfo=tz),
              dt.datetime(2026, 11, 1, 0, 58, tzinfo=tz), dt.datetime(2026, 3, 29, 1, 59, tzinfo=tz)]
    for start in starts:
        lines = []
        t = start
        for n in range(1500):
            t += dt.timedelta(seconds=rng.choice((0, 0, 1, 1, 2, 7, -400 if n % 97 == 0 else 1)))
            stamp = f"[{t:%b} {t.day:2d} {t:%H:%M:%S}]" if rng.random() < 0.9 else f"[{t:%Y-%m-%d %H:%M:%S}]"
            line = rng.choice(_SEEDS)
            lines.append(stamp + line[line.find("]") + 1:] if line.startswith("[") else line)
        text = "\n".join(lines) + "\n"
        for not_after in (None, start.timestamp() + 600, start.timestamp() - 90000):
            evs = same(text, (4096, 1 << 20), clock=lambda na=not_after: Clock(2026, tz, na))
            assert len({e.time for e in evs}) > 200


_PREFIXES = ("", "[Nov 23 19:00:01] NOTICE[1] chan_sip.c: ", "[Nov 23 19:00:02] SECURITY[2]: res_security_log.c:0 f: ",
             "[Nov 23 19:00:03] WARNING[3][C-0a] Ext. s: ", "[Nov 23 19:00:04] VERBOSE[4] x.c:12 in f:  -- ")


@needs_accel
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_PREFIXES),
                          st.text(st.characters(min_codepoint=1, max_codepoint=127, blacklist_characters="\n\r\x1b"),
                                  max_size=300)), min_size=1, max_size=30))
def test_random_ascii_same_events(lines: list) -> None:
    """Any ASCII text after a usual prefix (or none): the compiled loop reads it as the pure one, and
    never reads past a line."""
    same("".join(p + t + "\n" for p, t in lines), (1 << 20, 200))


def test_scan_summary_names_the_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """`scan`'s summary line says which loop read the logs, and why the slow one when it was not asked for."""
    from sipwarden import compiled
    from sipwarden.cli.scan import _reader

    assert _reader(True) == "compiled log reader"
    monkeypatch.setattr(compiled, "PURE", False)
    assert "not built at install" in _reader(False)
    monkeypatch.setattr(compiled, "PURE", True)
    assert _reader(False) == "pure-Python log reader (SIPWARDEN_PURE)"


_LATIN = ("\u00e9", "\u00fc", "\u00a0", "\u00aa", "\u00b5", "\u00ff", "M\u00fcller")


@needs_accel
@pytest.mark.parametrize("seed", range(4))
def test_latin1_text_same_events(seed: int) -> None:
    """A text with characters above ASCII but within Latin-1 (a display name, a file name) is read by the
    compiled loop, each such line by the Python readers: the same events. (\\xa0 is a blank to `re`,
    \\xaa and \\xb5 are word characters: the C readers must not see them.)"""
    rng = random.Random(2000 + seed)
    lines = []
    for n in range(2000):
        line = rng.choice(_SEEDS)
        if n % 3 == 0:
            at = rng.randrange(len(line) + 1) if rng.random() < 0.7 else rng.randrange(min(40, len(line)) + 1)
            line = line[:at] + rng.choice(_LATIN) + line[at:]
        elif n % 3 == 1:
            line = _mutate(rng, line, 1).replace("\ufffd", "\u00ff")
        lines.append(line)
    text = "\n".join(lines) + "\n"
    assert not text.isascii() and max(text) <= "\u00ff"
    assert len(same(text, (rng.randrange(500, 5000), 1 << 20))) > 500


@needs_accel
@settings(max_examples=600, deadline=None)
@given(st.text(alphabet="ab'f )", max_size=40), st.text(alphabet="ab'f )", min_size=1, max_size=5),
       st.integers(0, 45), st.integers(0, 45))
def test_substring_search_is_str_find(text: str, needle: str, s: int, e: int) -> None:
    """The C search every compiled reader uses answers as `str.find`."""
    from sipwarden.parsers._accel import find_in

    if 0 <= s <= e <= len(text):
        assert find_in(text, needle, s, e) == text.find(needle, s, e)


@needs_accel
def test_substring_search_edges() -> None:
    from sipwarden.parsers._accel import find_in

    assert find_in("abc'x", "'y", 0, 5) == -1  # its first byte at the last place it fits, the rest differs
    assert find_in("abc'y", "'y", 0, 5) == 3
    assert find_in("xx' failed", "' failed for '", 0, 10) == -1  # longer than the text
    assert find_in("abc", "c", 3, 3) == -1


_LONG_PORT_LINES = (
    "[Nov 23 19:00:01] NOTICE[1] chan_sip.c: Registration from '<sip:1@x>' failed for '10.1.0.1:{p}' - Wrong password",
    "[Nov 23 19:00:01] NOTICE[1] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from '<sip:1@x>' failed for "
    "'10.1.0.2:{p}' (callid: x) - No matching endpoint found",
    "[Nov 23 19:00:01] NOTICE[1] chan_sip.c: Call from '' (10.1.0.3:{p}) to extension '1' rejected because extension "
    "not found in context 'x'.",
    "[Nov 23 19:00:01] VERBOSE[1] chan_sip.c: Registered SIP '101' at 10.1.0.4:{p}",
    "[Nov 23 19:00:01] NOTICE[1] manager.c: 10.1.0.5:{p} failed to authenticate as 'x'",
    "[Nov 23 19:00:01] WARNING[1] Ext. s: Rejecting unknown SIP connection from [2001:db8::6]:{p}",
    '[Nov 23 19:00:01] SECURITY[1] res_security_log.c: SecurityEvent="InvalidAccountID",EventTV="2026-11-23T19:00:01'
    '.036+0000",Severity="Error",Service="PJSIP",EventVersion="1",AccountID="1",SessionID="0x7f",LocalAddress="IPV4/'
    'UDP/203.0.113.5/5060",RemoteAddress="IPV4/UDP/198.51.100.7/{p}"',
)


@pytest.mark.parametrize("port, want", [("0" * 5000 + "5060", 5060), ("9" * 5000, None), ("0" * 30 + "1", 1),
                                        ("1" * 30, None), ("65536", None), ("0" * 40, None)])
def test_long_port_numbers_read_on_both_loops(port: str, want: int | None) -> None:
    """A port of thousands of digits (past int()'s 4,300-digit limit) is no port: it never raises out
    of the pure readers (it ended the scan with a traceback) and both loops read the line alike, the
    sender kept; leading zeros count for nothing, as int() reads them."""
    text = "".join(line.format(p=port) + "\n" for line in _LONG_PORT_LINES) + _PAD
    pure = _run(text, 1 << 20, None)
    assert pure[0] != "raised"
    assert [(e.ip, e.port) for e in pure[0]] == [(f"10.1.0.{i}", want) for i in range(1, 6)] + [
        ("2001:db8::6", want), ("198.51.100.7", want)]
    if ACCEL is not None:
        assert _run(text, 1 << 20, ACCEL) == pure
        assert _run(text, 4096, ACCEL) == pure


@pytest.mark.parametrize("count", ["9" * 5000, "9" * 12, "70000"])
def test_packet_dump_byte_count_is_bounded(count: str) -> None:
    """A PJSIP dump header's byte count past what any SIP packet holds (MAX_DUMP) skips MAX_DUMP bytes,
    as a chan_sip dump without its end line does: a count of thousands of digits raised int()'s
    ValueError out of the stream (the scan ended with a traceback), and a twelve-digit one hid every
    later line of the log. Both loops alike."""
    header = (f"[Nov 23 19:00:00] VERBOSE[1] res_pjsip_logger.c: <--- Received SIP request ({count} bytes) from "
              "UDP:203.0.113.9:5060 --->\n")
    packet = "REGISTER sip:x SIP/2.0\nFrom: <sip:1@x>\n" + "X-Pad: " + "x" * 70 + "\n" * 1
    quiet = "[Nov 23 19:00:01] VERBOSE[1] pbx.c: -- quiet\n" * (stream.MAX_DUMP // 40)
    reg = ("[Nov 23 19:00:02] NOTICE[1] chan_sip.c: Registration from '<sip:1@x>' failed for '198.51.100.3:5060' - "
           "Wrong password\n")
    text = header + packet + quiet + reg * 3
    pure = _run(text + _PAD, 1 << 20, None)
    assert pure[0] != "raised"
    assert [e.ip for e in pure[0]] == ["198.51.100.3"] * 3
    if ACCEL is not None:
        assert _run(text + _PAD, 4096, ACCEL) == pure


_ROUGH = ("\x00", "0" * 30 + "5060", "9" * 30, "65536", "00000", "\u00e9", "\u00a0", "\u00b5", "\u00ff", "\x85", "\n",
          "\n\n", "' - Wrong password", " port 99999", "[::1]:5060", ":", "'", '"', "\x1c")


@needs_accel
@pytest.mark.parametrize("seed", range(3))
def test_rough_text_same_events_at_any_cut(seed: int) -> None:
    """Mutants with NUL bytes, numbers of many digits, Latin-1 characters, empty lines, lines near
    MAX_LINE and a last line without its newline, fed in chunks cut anywhere (a few bytes to a whole
    file): the compiled loop gives the pure loop's events, line counts and clock at each cut size."""
    rng = random.Random(3000 + seed)
    for _ in range(12):
        lines = []
        for _ in range(rng.randrange(100, 400)):
            line = rng.choice(_SEEDS).replace("\ufffd", "\u00ff")
            for _ in range(rng.randrange(0, 4)):
                at = rng.randrange(len(line) + 1) if rng.random() < 0.7 else len(line)
                line = line[:at] + rng.choice(_ROUGH + _BITS[:40]) + line[at:]
            if rng.random() < 0.005:
                line += "x" * (stream.MAX_LINE - len(line) + rng.randrange(-2, 3))
            lines.append("" if rng.random() < 0.02 else line)
        text = "\n".join(lines) + (_PAD if rng.random() < 0.7 else "")
        if max(text) > "\u00ff":
            text = text.encode("latin-1", "replace").decode("latin-1")
        size = rng.choice((rng.randrange(1, 64), rng.randrange(64, 4096), 1 << 20))
        assert _run(text, size, ACCEL) == _run(text, size, None), size
