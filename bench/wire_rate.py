#!/usr/bin/env python3
"""Wire rates (issue 5): how many SIP messages one core parses and judges, and what the daemon's
HEP collector keeps up with live.

    .venv/bin/python bench/wire_rate.py offline [--capture PCAP] [--rounds N]
    .venv/bin/python bench/wire_rate.py live [--rate 20000] [--seconds 10]

offline: the capture's SIP payloads are loaded first (dpkt's reading is not what is measured), then
run through PacketIntake (parse + SIP->Event + PBX learning) and the Engine, `rounds` times with
the times shifted so windows behave as in one long capture. Prints msg/s for the full parser only,
the wire fast path only (`wire_fields`), full parser + events, the whole path as the daemon runs
it (fast path, learning, engine), and the whole path from the corpus HEP datagrams; each as wall
(`_msg_s`) and CPU (`_cpu_msg_s`, the per-core figure on a shared machine) rates. The anchor,
measured in the same run: the HEP path with the generic chunk walk instead of the fixed-layout read.

live: `sipwarden run --hep 127.0.0.1:PORT --backend dry-run` as a subprocess; a paced sender
replays the corpus HEP datagrams at `rate`/s for `seconds`; then the daemon's own counters
(hep_packets, kernel drops from /proc/net/udp, queue drops) are compared with what was sent, and
the daemon's CPU time while sending (all threads: receiver, loop, ...) gives messages per CPU second.
Nothing is silent: sent = counted + kernel drops + queue drops (+ anything still in flight).
Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "data" / "asterisk20" / "dev1_alwaysauthreject_no"
SIPWARDEN = str(Path(sys.executable).with_name("sipwarden"))


class _Clock:
    """Wall and CPU time of one stage: on a shared machine the wall rate says how busy the others
    were, the CPU rate (this process's own time) is the per-core figure."""

    def __init__(self, out: dict, name: str, n: int) -> None:
        self.out, self.name, self.n = out, name, n

    def __enter__(self) -> None:
        self.w, self.c = time.perf_counter(), time.process_time()

    def __exit__(self, *exc: object) -> None:
        w, c = time.perf_counter() - self.w, time.process_time() - self.c
        self.out[f"{self.name}_msg_s"] = round(self.n / w)
        self.out[f"{self.name}_cpu_msg_s"] = round(self.n / c)


def offline(capture: Path, rounds: int) -> dict:
    from functools import partial

    from sipwarden.detect.engine import Engine
    from sipwarden.parsers import hep as hep_mod
    from sipwarden.parsers import packets
    from sipwarden.parsers.packets import PacketIntake
    from sipwarden.parsers.sip import message_fields, parse_datagram, wire_fields
    from sipwarden.parsers.sip_events import events_from_fields
    from sipwarden.sources.pcap import read_capture

    pkts = list(read_capture(capture, hep=False))
    span = pkts[-1][0] - pkts[0][0] + 60
    n = len(pkts) * rounds
    out: dict = {"capture": str(capture), "messages": n}

    with _Clock(out, "parse_only", n):
        for _ in range(rounds):
            for p in pkts:
                parse_datagram(p[6])

    with _Clock(out, "fast_fields_only", n):
        for _ in range(rounds):
            for p in pkts:
                wire_fields(p[6])

    with _Clock(out, "parse_events", n):
        for r in range(rounds):
            off = r * span
            for t, src, sport, dst, dport, tr, payload in pkts:
                events_from_fields(message_fields(parse_datagram(payload)), src, sport, dst, dport, t + off, tr, "wire",
                                frozenset({"127.0.0.1"}))

    intake, engine = PacketIntake(frozenset({"127.0.0.1"})), Engine()
    sip, feed = intake.sip, engine.feed
    verdicts = 0
    with _Clock(out, "full_path", n):
        for r in range(rounds):
            off = r * span
            for t, src, sport, dst, dport, tr, payload in pkts:
                for ev in sip(payload, src, sport, dst, dport, t + off, tr):
                    verdicts += len(feed(ev))
    out["verdicts"] = verdicts

    grams = _hep_datagrams()
    ng = len(grams) * rounds
    out["hep_datagrams"] = ng

    def hep_path(name: str) -> None:
        intake, engine = PacketIntake(), Engine()
        hep, feed = intake.hep, engine.feed
        with _Clock(out, name, ng):
            for _ in range(rounds):
                for g in grams:
                    for ev in hep(g, 2e9):
                        feed(ev)

    # anchor, same run: every HEP chunk walked one by one (the decoder before the fixed-layout read)
    fast = getattr(packets, "hep_fields", None)  # None: a tree from before it (a "before" run)
    if fast is not None:
        packets.hep_fields = partial(hep_mod.hep_fields, fixed=False)  # type: ignore[assignment]
        try:
            hep_path("hep_generic_full_path")
        finally:
            packets.hep_fields = fast
    hep_path("hep_full_path")
    if fast is not None:
        out["hep_ratio_vs_generic_cpu"] = round(out["hep_full_path_cpu_msg_s"]
                                                / out["hep_generic_full_path_cpu_msg_s"], 2)
    out["target_100k_per_core"] = {k: out[f"{k}_cpu_msg_s"] >= 100_000 for k in ("full_path", "hep_full_path")}
    return out


def _hep_datagrams() -> list[bytes]:
    data = gzip.decompress((CORPUS / "hep.bin.gz").read_bytes())
    grams, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from("!I", data, pos)
        grams.append(data[pos + 4:pos + 4 + n])
        pos += 4 + n
    return grams


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
        t.bind(("127.0.0.1", 0))
        return t.getsockname()[1]


def _status(state: str, tries: int = 20) -> dict:
    """The daemon's status; retried while it is busy (its control socket answers between batches)."""
    for _ in range(tries):
        p = subprocess.run([SIPWARDEN, "status", "--json", "--state-dir", state], capture_output=True, text=True,
                           timeout=30)
        if p.returncode == 0 and p.stdout.strip():
            return json.loads(p.stdout)
        print(f"status: {p.stderr.strip()}", file=sys.stderr)
        time.sleep(0.5)
    raise RuntimeError("the daemon never answered status")


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def live(rate: int, seconds: float) -> dict:
    grams = _hep_datagrams()
    port = _free_port()
    tmp = tempfile.mkdtemp(prefix="sw-wire-bench-")
    cfg = Path(tmp) / "sw.toml"
    cfg.write_text('[ban]\nbackend = "dry-run"\n')
    err = open(Path(tmp) / "daemon.err", "w")  # noqa: SIM115
    proc = subprocess.Popen([SIPWARDEN, "run", "--config", str(cfg), "--state-dir", tmp, "--hep",
                             f"127.0.0.1:{port}"], stdout=err, stderr=err)
    try:
        deadline = time.monotonic() + 15
        while not (_status(tmp).get("running")):
            assert time.monotonic() < deadline and proc.poll() is None, "daemon did not start"
            time.sleep(0.1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        cpu0 = _cpu_seconds(proc.pid)
        sent, i = 0, 0
        start = time.perf_counter()
        tick = 0.001
        per_tick = rate * tick
        due = 0.0
        while True:
            el = time.perf_counter() - start
            if el >= seconds:
                break
            due = el * rate
            while sent < due:
                s.sendto(grams[i], ("127.0.0.1", port))
                i = (i + 1) % len(grams)
                sent += 1
            time.sleep(tick if per_tick >= 1 else 1 / rate)
        send_s = time.perf_counter() - start
        time.sleep(1.0)  # let the daemon finish what is queued
        cpu = _cpu_seconds(proc.pid) - cpu0  # before status: its query is not the wire path's work
        w = _status(tmp)["wire"]
        accounted = w["hep_packets"] + w["hep_rejected"] + w["parse_errors"]
        return {"rate_target": rate, "seconds": round(send_s, 2), "sent": sent, "sent_rate": round(sent / send_s),
                "counted": accounted, "kernel_drops": w["hep_udp_drops"], "queue_drops": w["hep_queue_drops"],
                "unaccounted": sent - accounted - w["hep_udp_drops"] - w["hep_queue_drops"],
                "daemon_cpu_s": round(cpu, 2), "daemon_msg_per_cpu_s": round(accounted / cpu) if cpu else None}
    finally:
        proc.terminate()
        proc.wait(10)
        err.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("offline")
    o.add_argument("--capture", type=Path, default=CORPUS / "capture.pcap.gz")
    o.add_argument("--rounds", type=int, default=10)
    v = sub.add_parser("live")
    v.add_argument("--rate", type=int, default=20_000)
    v.add_argument("--seconds", type=float, default=10.0)
    a = ap.parse_args()
    res = offline(a.capture, a.rounds) if a.cmd == "offline" else live(a.rate, a.seconds)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
