#!/usr/bin/env python3
"""SIP parse rate on real payloads, against the lab's minimal bytes-regex parse measured in the same run.

Anchor (shared/lab/README.md section 5): CPython recvfrom + a bytes-regex parse of the request/status
line and the From user reaches ~155k msg/s capacity on one core; the issue's goal is >= 100k msg/s
parse+detect. Absolute rates depend on the machine (and on what else runs on it), so the ratio to the
regex parse measured here, on the same payloads, is the figure to compare.

usage: bench/sip_parse_rate.py [CAPTURE ...]   (default: the Asterisk 20 corpus captures)
Prints one JSON line: messages, msg/s for each stage (median of --repeat runs), ratio to the regex parse.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

from sipwarden.detect.engine import Engine
from sipwarden.parsers.sip import message_fields, parse_datagram
from sipwarden.parsers.sip_events import events_from_fields
from sipwarden.sources.pcap import read_capture

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "asterisk20"
RE_REQ = re.compile(rb"^([A-Z]{3,10}) (\S+) SIP/2\.0\r?\n")
RE_RESP = re.compile(rb"^SIP/2\.0 (\d{3}) ")
RE_FROM_USER = re.compile(rb"\r?\n(?:From|f)[ \t]*:[^\r\n]*?<?sips?:([^@;>\s]+)@", re.I)


def regex_parse(data: bytes) -> tuple[bytes, bytes | None] | None:
    """The lab anchor's parse (sip_rx_bench.py), verbatim in behaviour."""
    m = RE_REQ.match(data)
    if m:
        method = m.group(1)
    else:
        m = RE_RESP.match(data)
        if not m:
            return None
        method = m.group(1)
    f = RE_FROM_USER.search(data)
    return method, (f.group(1) if f else None)


def rate(fn, items, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(items)
        runs.append(len(items) / (time.perf_counter() - t))
    return statistics.median(runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("captures", nargs="*")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    paths = a.captures or sorted(str(p) for p in CORPUS.glob("*/capture.pcap.gz"))
    if not paths:
        print("no captures given and no corpus found", file=sys.stderr)
        return 2
    packets = [p for path in paths for p in read_capture(path, hep=False)]
    payloads = [p[6] for p in packets]

    def regex(items):
        for d in items:
            regex_parse(d)

    def parse(items):
        for d in items:
            parse_datagram(d)

    def parse_fields(items):  # what the event mapping reads
        for d in items:
            m = parse_datagram(d)
            m.from_user, m.to_user, m.user_agent, m.cseq_method, m.auth_user  # noqa: B018

    def parse_events_detect(items):
        eng = Engine()
        for t, src, sport, dst, dport, tr, d in items:
            for ev in events_from_fields(message_fields(parse_datagram(d)), src, sport, dst, dport, t, tr, "wire",
                                      frozenset({"127.0.0.1"})):
                eng.feed(ev)

    r_regex = rate(regex, payloads, a.repeat)
    r_parse = rate(parse, payloads, a.repeat)
    r_fields = rate(parse_fields, payloads, a.repeat)
    r_full = rate(parse_events_detect, packets, a.repeat)
    print(json.dumps({
        "messages": len(payloads),
        "regex_minimal_msg_s": round(r_regex),
        "parse_datagram_msg_s": round(r_parse),
        "parse_plus_fields_msg_s": round(r_fields),
        "parse_events_detect_msg_s": round(r_full),
        "ratio_parse_to_regex": round(r_parse / r_regex, 3),
        "ratio_full_to_regex": round(r_full / r_regex, 3),
        "python": sys.version.split()[0],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
