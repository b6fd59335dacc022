"""Log text for the stream tests: both entries of the one log stream, and a generator of hostile streams."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

from by_line import lf_lines
from conftest import ASTERISK20, DATA, FAIL2BAN_LOGS
from sipwarden.parsers.stream import MAX_LINE, LogStream
from sipwarden.timefmt import Clock


def by_line(text: str) -> list:
    """The events of `text` through the stream's line entry."""
    p = LogStream(Clock(2026), file="f")
    out = []
    for n, line in enumerate(lf_lines(iter([text])), 1):  # LF ends a line; a bare CR is data
        out.extend(p.feed_line(line, n))
    out.extend(p.close())
    return out


def in_chunks(text: str, size: int) -> list:
    """The events of `text` through the stream's chunk entry, `size` characters at a time."""
    b = LogStream(Clock(2026), file="f")
    out = []
    for i in range(0, len(text), size):
        out.extend(b.feed_chunk(text[i:i + size]))
    out.extend(b.close())
    return out


SEC = ('[2026-11-24 12:00:{s:02d}] SECURITY[1] res_security_log.c: SecurityEvent="{ev}",EventTV="2026-11-24T12:00:'
       '{s:02d}.000+0000",Severity="Error",Service="SIP",EventVersion="1",AccountID="{acct}",SessionID="0x1",'
       'LocalAddress="IPV4/UDP/127.0.0.1/5060",RemoteAddress="IPV4/UDP/10.0.0.{ip}/5060"{tail}')
MSG = ("[2026-11-24 12:00:{s:02d}] NOTICE[1] chan_sip.c: Registration from '<sip:{acct}@x>' failed for "
       "'10.1.0.{ip}:5060' - Wrong password")


def hostile_lines(rng: random.Random, n: int, bad: float) -> list[str]:
    """`n` lines: security events (some quoted, some split by a %0A), chan_sip failures (some forged
    inside), and with probability `bad` the things that make a chunk dirty (colours, dumps, empty
    messages, over-long lines, journald lines)."""
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


def hostile_text(rng: random.Random, seed: int, n: int) -> str:
    """A hostile stream as text: dense or sparse by `seed`, some with CRLF/CR, some without a last LF."""
    lines = hostile_lines(rng, n, 0.15 if seed % 3 == 0 else 0.01)  # dense, or sparse: chunk mode and lines mixed
    ends = ["\n"] * 200 + ["\r\n", "\r"] if seed % 4 == 1 else ["\n"]
    text = "".join(line + rng.choice(ends) for line in lines)
    if seed % 2:
        text = text.rstrip("\r\n")  # no newline after the last line
    return text


def mutate(rng: random.Random, line: str, bits: tuple[str, ...], drop: float = 0.3, most: int = 6) -> str:
    """`line` with 1-3 random cuts (up to `most` characters; probability `drop`) or insertions of `bits`."""
    for _ in range(rng.randrange(1, 4)):
        at = rng.randrange(len(line) + 1)
        if rng.random() < drop:
            line = line[:at] + line[at + rng.randrange(1, most):]
        else:
            line = line[:at] + rng.choice(bits) + line[at:]
    return line


def trigger_misses(seeds: tuple[str, ...], bits: tuple[str, ...], per_seed: int,
                   triggers: tuple[str, ...]) -> tuple[int, list[str]]:
    """Mutants of `seeds` read by the stream's careful line reading: how many gave an event, and
    those that did while holding none of `triggers` (lines the chunk mode would have skipped)."""
    from sipwarden.parsers.stream import read_line

    rng = random.Random(3)
    events, missed = 0, []
    for seed in seeds:
        for i in range(per_seed):
            line = seed if i == 0 else mutate(rng, seed, bits, drop=0.4, most=8)
            try:
                ev = read_line(line)
            except ValueError:
                continue
            if ev is not None:
                events += 1
                if not any(t in line for t in triggers):
                    missed.append(line)
    return events, missed


def corpus_files() -> list[Path]:
    """Real logs: fail2ban's Asterisk and FreeSWITCH samples, the Asterisk 20 runs, the lab's logs."""
    files = [FAIL2BAN_LOGS / "asterisk", FAIL2BAN_LOGS / "freeswitch"]
    files += sorted(ASTERISK20.glob("*/messages.gz")) + sorted(ASTERISK20.glob("*/security.gz"))
    files += sorted((DATA / "lab").glob("*.log"))
    assert all(f.is_file() for f in files), files
    return files


def text_of(path: Path) -> str:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return raw.decode("utf-8", errors="replace")
