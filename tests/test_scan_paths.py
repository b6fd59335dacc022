"""The log stream's chunk entry (what `scan` and the daemon feed) and its line entry
(`LogStream.feed_line`) must give the very same events, including for split, injected and malformed
input; and `scan`'s parallel path the same as one stream over the whole file."""

from __future__ import annotations

import contextlib
import gzip
import random
from pathlib import Path

import pytest

from conftest import ASTERISK20, DATA, FAIL2BAN_LOGS
from sipwarden import scan as scan_mod
from sipwarden.config import Config
from sipwarden.parsers.stream import MAX_LINE, LogStream
from sipwarden.scan import file_events, file_events_by_line
from sipwarden.sources.logfile import lf_lines, open_log
from sipwarden.timefmt import Clock


def _text(path: Path) -> str:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return raw.decode("utf-8", errors="replace")


def by_line(text: str) -> list:
    p = LogStream(Clock(2026), file="f")
    out = []
    for n, line in enumerate(lf_lines(iter([text])), 1):  # LF ends a line; a bare CR is data
        out.extend(p.feed_line(line, n))
    out.extend(p.close())
    return out


def in_bulk(text: str, size: int) -> list:
    b = LogStream(Clock(2026), file="f")
    out = []
    for i in range(0, len(text), size):
        out.extend(b.feed_chunk(text[i:i + size]))
    out.extend(b.close())
    return out


def _corpus() -> list[Path]:
    files = [FAIL2BAN_LOGS / "asterisk", FAIL2BAN_LOGS / "freeswitch"]
    files += sorted(ASTERISK20.glob("*/messages.gz")) + sorted(ASTERISK20.glob("*/security.gz"))
    files += sorted((DATA / "lab").glob("*.log"))
    assert all(f.is_file() for f in files), files
    return files


def test_corpus_same_events_both_paths() -> None:
    files = _corpus()
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


@pytest.mark.parametrize("size", [1, 7, 100, 997, 1 << 16])
def test_corpus_chunk_boundaries(size: int) -> None:
    for f in _corpus():
        text = _text(f)
        if size < 100 and len(text) > 300_000:
            text = text[:300_000]
        assert in_bulk(text, size) == by_line(text), (f, size)


SEC = ('[2026-11-24 12:00:{s:02d}] SECURITY[1] res_security_log.c: SecurityEvent="{ev}",EventTV="2026-11-24T12:00:'
       '{s:02d}.000+0000",Severity="Error",Service="SIP",EventVersion="1",AccountID="{acct}",SessionID="0x1",'
       'LocalAddress="IPV4/UDP/127.0.0.1/5060",RemoteAddress="IPV4/UDP/10.0.0.{ip}/5060"{tail}')
MSG = ("[2026-11-24 12:00:{s:02d}] NOTICE[1] chan_sip.c: Registration from '<sip:{acct}@x>' failed for "
       "'10.1.0.{ip}:5060' - Wrong password")


def _hostile_lines(rng: random.Random, n: int, bad: float) -> list[str]:
    out = []
    for _ in range(n):
        s, ip = rng.randrange(60), rng.randrange(1, 30)
        r = rng.random()
        if r < 0.3:
            out.append(SEC.format(s=s, ev=rng.choice(("ChallengeSent", "InvalidPassword", "SuccessfulAuth")),
                                  acct=rng.choice(("100", 'x"', "y")), ip=ip,
                                  tail=rng.choice(("", ',Challenge="ab"', ',ACLName="a"'))))
        elif r < 0.45:
            out.append(MSG.format(s=s, acct=rng.choice(("100", "a' failed for '6.6.6.6' - Wrong password")), ip=ip))
        elif r < 0.45 + bad / 2:  # a %0A split: the event's head, then the rest on its own line(s)
            whole = SEC.format(s=s, ev="InvalidAccountID", acct="a", ip=ip, tail="")
            cut = rng.randrange(60, len(whole) - 5)
            out.extend([whole[:cut], whole[cut:]])
        elif r < 0.45 + bad:
            out.append(rng.choice(("", "continued text", "\x1b[31m" + MSG.format(s=s, acct="1", ip=ip) + "\x1b[0m",
                                   f"[2026-11-24 12:00:{s:02d}] VERBOSE[1] chan_sip.c: ", "<--- SIP read from UDP:1.2.3.4:5 --->",
                                   "<------------->", f"[2026-11-24 12:00:{s:02d}] VERBOSE[1] res_pjsip_logger.c: <--- "
                                   f"Received SIP request ({rng.randrange(1, 400)} bytes) from UDP:1.2.3.4:5 --->",
                                   "x" * (MAX_LINE + rng.randrange(-2, 3)), "Nov 24 12:00:01 host asterisk[1]: hi")))
        else:
            out.append(f"[2026-11-24 12:00:{s:02d}] VERBOSE[1] pbx.c: -- Executing something {ip}")
    return out


@pytest.mark.parametrize("seed", range(12))
def test_hostile_stream_same_events(seed: int) -> None:
    rng = random.Random(seed)
    lines = _hostile_lines(rng, 1000, 0.15 if seed % 3 == 0 else 0.01)  # dense, or sparse: bulk and line mixed
    ends = ["\n"] * 200 + ["\r\n", "\r"] if seed % 4 == 1 else ["\n"]
    text = "".join(line + rng.choice(ends) for line in lines)
    if seed % 2:
        text = text.rstrip("\r\n")  # no newline after the last line
    want = by_line(text)
    for size in (rng.randrange(1, 50), rng.randrange(50, 3000), 1 << 20):
        assert in_bulk(text, size) == want, size


# The multi-process path (scan.py: a forked worker parses the second range of a big plain file).

def _parallel(path: Path, share: float, monkeypatch: pytest.MonkeyPatch) -> tuple[list, dict]:
    monkeypatch.setattr(scan_mod, "MAIN_SHARE", share)
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
    for f in _corpus():
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
    lines = _hostile_lines(rng, 3000, 0.15 if seed % 3 == 0 else 0.01)
    ends = ["\n"] * 200 + ["\r\n", "\r"] if seed % 4 == 1 else ["\n"]
    text = "".join(line + rng.choice(ends) for line in lines)
    if seed % 2:
        text = text.rstrip("\r\n")
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


# The in-place readers of the busy `messages` formats (asterisk.PLAIN, used by the bulk path) must
# return what the careful parsers return whenever they answer at all.
_PLAIN_SEEDS = (
    "[Nov 23 19:00:03] NOTICE[2211]: chan_sip.c:28468 handle_request_register: Registration from "
    "'\"2001\" <sip:2001@203.0.113.5>' failed for '26.36.253.95:49111' - Wrong password",
    "[Nov 23 19:00:00] NOTICE[1234] chan_sip.c: Registration from '\"00972599580679\" "
    "<sip:00972599580679@203.0.113.5>' failed for '2001:db8:f347:5938::cd0d' - No matching peer found",
    "[Nov 23 21:52:47] NOTICE[24501] res_pjsip/pjsip_distributor.c: Request 'INVITE' from '\"9999\" "
    "<sip:9999@203.0.113.5>' failed for '196.76.144.225:61545' (callid: 5f86419b-25bd@203.0.113.5) - "
    "No matching endpoint found after 39 tries in 927.152 ms",
    "[Nov 23 21:52:47] NOTICE[24501] res_pjsip/pjsip_distributor.c: Request from '<sip:a@b>' failed for "
    "'[2001:db8::1]:5060' (callid: x) - Failed to authenticate",
    "[Nov 23 19:00:00] NOTICE[2211][C-00000101]: chan_sip.c:26029 handle_request_invite: Call from '' "
    "(93.145.224.200:26588) to extension '90114972131231' rejected because extension not found in context "
    "'default'.",
    "[Nov 23 19:00:03] NOTICE[19388]: res_pjsip_session.c:3998 new_invite: anonymous: Call "
    "(UDP:93.165.212.35:45453) to extension '9011' rejected because extension not found in context 'from-external'.",
    "[Nov 23 19:00:02] NOTICE[2211]: res_pjsip_session.c:2337 new_invite: Call from 'anonymous' "
    "(WSS:2001:db8::7:5061) to extension '0' rejected because extension not found in context 'default'",
)
_PLAIN_BITS = ("'", '"', " ", "(", ")", ") - ", "' failed for '6.6.6.6' (callid: ", "' failed for '", "Request ",
               "Request 'X' from '", ":", "UDP:", "WS:", "[", "]", "\t", "\u00a0", "²", "٣", " after 3 tries in 1 ms",
               " after 3 tries in .. ms", "' - Wrong password", ") to extension '", "1.2.3.4", "::1", ".", "'.",
               "' rejected because extension not found in context '", "Registration from '", "\x0b", "\u2028")


def test_plain_readers_agree_with_careful_parsers() -> None:
    from sipwarden.parsers.asterisk import PLAIN
    from sipwarden.parsers.prefix import body
    from sipwarden.parsers.stream import pick

    rng = random.Random(7)
    answered = 0
    for seed in _PLAIN_SEEDS:
        for i in range(3000):
            line = seed
            for _ in range(0 if i == 0 else rng.randrange(1, 4)):
                at = rng.randrange(len(line) + 1)
                if rng.random() < 0.3:
                    line = line[:at] + line[at + rng.randrange(1, 6):]
                else:
                    line = line[:at] + rng.choice(_PLAIN_BITS) + line[at:]
            line = body(line)  # parsers read the message text after the line's prefix
            if line is None:
                continue
            for fn in pick(line):
                fast = PLAIN.get(fn)
                if fast is None:
                    continue
                try:
                    want = fn(line)
                except ValueError:  # the careful parser fails: the fast one may not answer
                    with contextlib.suppress(ValueError):
                        assert fast(line) is False, line
                    continue
                got = fast(line)
                if got is not False:
                    answered += 1
                    assert got == want, line
    assert answered > 2500  # mutations that break the line prefix leave no message text to read


@pytest.mark.parametrize("seed", range(6))
def test_plain_formats_same_events(seed: int) -> None:
    rng = random.Random(100 + seed)
    bits = [b for b in _PLAIN_BITS if b != "²"]  # int("4²") fails in addr._port: both paths raise ValueError
    lines = []
    for n in range(1500):
        line = rng.choice(_PLAIN_SEEDS)
        if rng.random() < 0.3:
            at = rng.randrange(len(line))
            line = line[:at] + rng.choice(bits) + line[at:]
        lines.append(line.replace("19:00:0", f"19:{n // 60 % 60:02d}:{n % 60:02d}"[:-1]))
    text = "\n".join(lines) + "\n"
    want = by_line(text)
    assert len(want) > 1000
    for size in (rng.randrange(50, 3000), 1 << 20):
        assert in_bulk(text, size) == want, size


_FS_SEEDS = (
    "2013-12-31 17:39:54.767815 [WARNING] sofia_reg.c:1533 SIP auth failure (REGISTER) on sofia profile 'internal' "
    "for [1000@192.168.2.51] from ip 81.94.202.251",
    "2013-12-31 17:39:54.767815 [WARNING] sofia_reg.c:1478 SIP auth challenge (INVITE) on sofia profile 'external' "
    "for [00972@1.2.3.4] from ip 5.6.7.8",
    "2013-12-31 17:39:54.767815 [WARNING] sofia_reg.c:2531 Can't find user [1000@192.168.2.51] from 81.94.202.251",
    "2013-12-31 17:39:54.767815 [DEBUG] sofia_reg.c:1599 IP 5.6.7.8 Rejected by register acl \"domains\"",
    "2013-12-31 17:39:54 [WARNING] SOFIA: Can't find user [x@y] from 9.9.9.9",
)


def test_triggers_cover_every_event_line() -> None:
    """A line holding none of TRIGGERS (what the bulk path skips) never gives the line API an event."""
    from sipwarden.parsers.stream import TRIGGERS, read_line

    rng = random.Random(3)
    bits = ("sofia", "SOFIA", "ailed", " ", "'", "[", "]", "profile", "user", "acl", "failed", "Can't", "from ip")
    events = 0
    for seed in _FS_SEEDS + _PLAIN_SEEDS:
        for i in range(2000):
            line = seed
            for _ in range(0 if i == 0 else rng.randrange(1, 4)):
                at = rng.randrange(len(line) + 1)
                if rng.random() < 0.4:
                    line = line[:at] + line[at + rng.randrange(1, 8):]
                else:
                    line = line[:at] + rng.choice(bits) + line[at:]
            try:
                ev = read_line(line)
            except ValueError:
                continue
            if ev is not None:
                events += 1
                assert any(t in line for t in TRIGGERS), line
    assert events > 5000


def test_freeswitch_same_events() -> None:
    rng = random.Random(5)
    lines = [rng.choice(_FS_SEEDS + ("2013-12-31 17:39:55 [NOTICE] sofia.c: nothing here",)) for _ in range(800)]
    text = "\n".join(lines) + "\n"
    want = by_line(text)
    assert len(want) > 500
    for size in (997, 1 << 20):
        assert in_bulk(text, size) == want


@pytest.mark.parametrize("text", [
    "", "no marks\n", "<--- SIP read\n", "x <--- Received SIP request\n", "<sip:100@203.0.113.5>\n" * 3 + "<--- y\n",
    "<" * 5000 + "--- \n", "<" * 5000 + "-- \n", "<sip:a@b>" * 2000 + "\n<--- z\n", "<sip:a@b>" * 2000 + "\n",
    "text <---", "text <--- ", "<-<--- ", "<<--- ",
])
def test_dump_mark_search_is_the_substring_test(text: str) -> None:
    """The bulk reader finds "<--- " through "<" (fast); with many "<" it falls back: same answer either way."""
    from sipwarden.parsers.stream import has_dump_mark

    assert has_dump_mark(text) == ("<--- " in text)
    assert has_dump_mark("[t] VERBOSE[1] x.c: " + text) == ("<--- " in text)
