#!/usr/bin/env python3
"""End to end through the live daemon (nftables backend in a network namespace): log lines written
-> every attacker's address in the kernel set. Two workloads, as in issue 9:

- burst: 2,000 attackers x 5 lines (10,000 lines) appended in one write; target: all in the kernel
  <= 250 ms after the write;
- botnet: 20,000 attackers x 5 lines (100,000 lines) appended in one write; target >= 25,000 lines/s
  (lines / time until all 20,000 are in the kernel).

Each attacker has its own /24 (no network verdicts). The kernel set is read every 20 ms (`nft -j
list set`, inside the namespace). Anchor, measured in the same run: `sipwarden scan` over the same
lines (parse + detect only, no ban path): the ratio says what the daemon's ban path and I/O cost.

    sudo .venv/bin/python bench/daemon_throughput.py [--runs 3] [--profile OUT.svg] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIPWARDEN = ROOT / ".venv" / "bin" / "sipwarden"
TABLE = "sipwarden"


def lines(base: int, count: int, ts: str) -> str:
    out = []
    for n in range(count):
        ip = f"{base}.{n // 250}.{n % 250}.7"
        for k in range(5):
            out.append(f"{ts} NOTICE[2211] chan_sip.c: Registration from '<sip:{300 + k}@pbx.example.com>' "
                       f"failed for '{ip}:5060' - No matching peer found\n")
    return "".join(out)


def in_kernel(ns: str, prefix: str) -> int:
    p = subprocess.run(["ip", "netns", "exec", ns, "nft", "-j", "list", "set", "inet", TABLE, "ban4"],
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        return 0
    n = 0
    for obj in json.loads(p.stdout).get("nftables", []):
        for e in obj.get("set", {}).get("elem", []):
            v = e["elem"]["val"] if isinstance(e, dict) else e
            if isinstance(v, str) and v.startswith(prefix):
                n += 1
    return n


def until_banned(ns: str, log: Path, text: str, prefix: str, want: int, limit: float) -> tuple[float, int]:
    t0 = time.monotonic()
    with open(log, "a") as f:
        f.write(text)
    while True:
        n = in_kernel(ns, prefix)
        el = time.monotonic() - t0
        if n >= want or el > limit:
            return el, n
        time.sleep(0.02)


def scan_rate(path: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(SIPWARDEN), "scan", "--format", "json", str(path)], capture_output=True, check=True)
    n = path.read_text().count("\n")
    return n / (time.perf_counter() - t0)


def one_run(args: argparse.Namespace, run: int) -> dict:
    ns = f"swtp{os.getpid()}r{run}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
    tmp = Path(tempfile.mkdtemp(prefix="swtp"))
    log = tmp / "messages"
    log.write_text("")
    err = open(tmp / "daemon.log", "w")  # noqa: SIM115
    d = subprocess.Popen(["ip", "netns", "exec", ns, str(SIPWARDEN), "run", "--watch", str(log), "--backend",
                          "nftables", "--state-dir", str(tmp / "st")], stdout=err, stderr=err)
    spy = None
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "table", "inet", TABLE],
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("no nftables table 10 s after start")
            time.sleep(0.1)
        time.sleep(0.5)
        ts = time.strftime("[%Y-%m-%d %H:%M:%S]")
        burst, botnet = lines(100, 2000, ts), lines(101, 20000, ts)
        if args.profile:
            spy = subprocess.Popen(["/tmp/pyspy/bin/py-spy", "record", "--threads", "-r", "250", "--format", "raw", "-o",
                                    f"{args.profile}.{run}.txt", "--pid", str(child_pid(d.pid))],
                                   env={**os.environ, "PYTHONPATH": "/tmp/pyspy"},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        b, bn = until_banned(ns, log, burst, "100.", 2000, 10)
        time.sleep(0.5)
        f, fn = until_banned(ns, log, botnet, "101.", 20000, 60)
        with open(tmp / "botnet.log", "w") as fh:
            fh.write(botnet)
        return {"burst_ms": b * 1000, "burst_banned": bn, "botnet_s": f, "botnet_banned": fn,
                "botnet_lines_per_s": 100_000 / f, "scan_lines_per_s": scan_rate(tmp / "botnet.log")}
    finally:
        if spy is not None:
            spy.send_signal(2)
            spy.wait(timeout=30)
        d.terminate()
        d.wait(timeout=30)
        err.close()
        subprocess.run(["ip", "netns", "del", ns])
        if args.keep:
            print(f"kept {tmp}")
        else:
            subprocess.run(["rm", "-rf", str(tmp)])


def child_pid(pid: int) -> int:
    """`ip netns exec` execs the program in place: same pid."""
    return pid


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", help="py-spy flame graph prefix (py-spy at /tmp/pyspy)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs (daemon log)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespace, nftables)")
    res = [one_run(args, i) for i in range(args.runs)]
    print(f"{'run':>3} {'burst ms':>9} {'banned':>7} {'botnet s':>9} {'banned':>7} {'lines/s':>9} "
          f"{'scan lines/s':>13} {'daemon/scan':>12}")
    for i, r in enumerate(res):
        print(f"{i + 1:>3} {r['burst_ms']:>9.0f} {r['burst_banned']:>7} {r['botnet_s']:>9.2f} {r['botnet_banned']:>7} "
              f"{r['botnet_lines_per_s']:>9,.0f} {r['scan_lines_per_s']:>13,.0f} "
              f"{r['botnet_lines_per_s'] / r['scan_lines_per_s']:>12.2f}")
    mb = statistics.median(r["burst_ms"] for r in res)
    mr = statistics.median(r["botnet_lines_per_s"] for r in res)
    print(f"median: burst {mb:.0f} ms (target <= 250), botnet {mr:,.0f} lines/s (target >= 25,000); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
