#!/usr/bin/env python3
"""Benchmark: does each format's fast reader pay? The log stream's chunk mode over the benchmark log,
with every fast reader (the anchor), without each one in turn, and with none (careful parsers only).

The readers are switched at the stream's seams (`stream.read_message`, `stream.read_security`), the
same runs interleaved; CPU seconds (process time) of `feed_chunk`+`close` over the decoded text held
in memory (no I/O, no engine), the minimum of --runs, and the ratio to the anchor measured in the
same run. Every variant must give the very events of the anchor (checked). Then, per reader, the
lines of the log it reads: its time and its careful parser's on exactly those (min of --runs), in
microseconds per line and seconds over the log: what it saves where it answers.

  .venv/bin/python bench/fast_readers.py                        # 1M lines (made once under bench/out/)
  .venv/bin/python bench/fast_readers.py --lines 200000 --runs 5
  .venv/bin/python bench/fast_readers.py --log PATH             # any log
"""

from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

from scan_vs_fail2ban import log_for

from sipwarden.events import Event
from sipwarden.parsers import asterisk, stream
from sipwarden.parsers.security import parse_security_body
from sipwarden.parsers.stream import LogStream
from sipwarden.timefmt import Clock

BENCH = Path(__file__).resolve().parent
CHUNK = 1 << 20  # what `scan` feeds


def careful_security(body: str, k: int, e: int) -> tuple | None:
    ev = parse_security_body(body[k:e])
    return ev[:13] if ev is not None else None


def message_reader(plain: dict) -> Callable[[str], Event | None]:
    """`stream.read_message` with only the fast readers in `plain`."""
    return functools.partial(stream.read_message, fast_readers=plain)


def variants() -> dict[str, tuple[Callable, Callable]]:
    out = {"all fast readers": (message_reader(asterisk.PLAIN), stream.read_security)}
    for fn, fast in asterisk.PLAIN.items():
        out[f"without {fast.__name__}"] = (message_reader({k: v for k, v in asterisk.PLAIN.items() if k is not fn}),
                                           stream.read_security)
    out["without security.parse_plain"] = (message_reader(asterisk.PLAIN), careful_security)
    out["careful parsers only"] = (message_reader({}), careful_security)
    return out


def run(text: str, read_message: Callable, read_security: Callable) -> tuple[float, str, int]:
    saved = stream.read_message, stream.read_security
    stream.read_message, stream.read_security = read_message, read_security
    try:
        gc.collect()
        s = LogStream(Clock(2026), file="bench")
        events: list = []
        t = time.process_time()
        for i in range(0, len(text), CHUNK):
            events += s.feed_chunk(text[i:i + CHUNK])
        events += s.close()
        cpu = time.process_time() - t
    finally:
        stream.read_message, stream.read_security = saved
    return cpu, hashlib.md5(repr(events).encode()).hexdigest(), len(events)


def per_reader(text: str, runs: int) -> None:
    """Each fast reader against its careful parser on the lines of `text` it answers."""
    from sipwarden.parsers.prefix import body
    from sipwarden.parsers.security import parse_plain

    msgs: dict[Callable, list[str]] = {fn: [] for fn in asterisk.PLAIN}
    secs: list[tuple[str, int, int]] = []
    for line in text.split("\n"):
        if "SecurityEvent=" in line:
            k = line.find("SecurityEvent=")
            if parse_plain(line, k, len(line)) is not False:
                secs.append((line, k, len(line)))
            continue
        msg = body(line)
        if msg is None:
            continue
        for fn in stream.pick(msg):
            fast = asterisk.PLAIN.get(fn)
            if fast is not None and fast(msg) is not False:
                msgs[fn].append(msg)
                break

    def best(f: Callable[[], object]) -> float:
        out = []
        for _ in range(runs):
            t = time.process_time()
            f()
            out.append(time.process_time() - t)
        return min(out)

    rows = [(fast.__name__, fn.__name__, len(msgs[fn]), best(lambda f=fast, m=msgs[fn]: [f(x) for x in m]),
             best(lambda f=fn, m=msgs[fn]: [f(x) for x in m])) for fn, fast in asterisk.PLAIN.items()]
    rows.append(("security.parse_plain", "parse_security_body", len(secs),
                 best(lambda: [parse_plain(a, k, e) for a, k, e in secs]),
                 best(lambda: [careful_security(a, k, e) for a, k, e in secs])))
    for fast, careful, n, tf, tc in rows:
        if n:
            print(f"{fast:32s} {n:7d} lines  {tf / n * 1e6:5.2f} us/line vs {careful} {tc / n * 1e6:5.2f}: "
                  f"x{tc / tf:4.2f}, {tc - tf:+.2f} s saved over the log")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20261124)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--log", type=Path, help="a log to read instead of the generated one")
    ap.add_argument("--per-reader-only", action="store_true", help="only the per-reader table")
    args = ap.parse_args()
    out_dir = BENCH / "out"
    out_dir.mkdir(exist_ok=True)
    log = args.log or log_for(args.lines, args.seed, out_dir)
    text = log.read_bytes().decode("utf-8", "replace")
    print(f"{log.name}: {text.count(chr(10))} lines, {len(text) / 1e6:.0f} M characters; min of {args.runs} "
          "interleaved runs, CPU s of the stream's chunk mode", file=sys.stderr)
    if args.per_reader_only:
        per_reader(text, args.runs)
        return 0
    vs = variants()
    cpu: dict[str, list[float]] = {k: [] for k in vs}
    digest: dict[str, str] = {}
    for _ in range(args.runs):
        for name, (rm, rs) in vs.items():
            c, d, n = run(text, rm, rs)
            cpu[name].append(c)
            digest[name] = d
    anchor = min(cpu["all fast readers"])
    for name in vs:
        best = min(cpu[name])
        same = "same events" if digest[name] == digest["all fast readers"] else "EVENTS DIFFER"
        print(f"{name:42s} {best:6.2f} s  x{best / anchor:5.2f} of the anchor ({best - anchor:+.2f} s)  {same}")
    per_reader(text, args.runs)
    return 0 if len(set(digest.values())) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
