"""Fleet ban propagation: a ban on one node -> the address in the other nodes' kernel sets.

N sipwarden daemons (default 10), each in its own network namespace with its own nftables table,
and a real redis-server in another, on a bridge (198.18.1.0/24), all created and deleted here
(tests/fleet_lab.py). Node 1's watched log gets 5 wrong-password lines per attacker (a distinct
address in 198.19.0.0/16); node 1 bans it and publishes the ban; every other node applies it
through its own policy. Event sharing is off (`[fleet] share_events = false`) so the other nodes
ban only because of node 1's ban message, not by counting the same failures themselves.

Kernel set membership is observed event-driven: `nft monitor new elements` in every namespace (line
buffered), each line stamped on arrival with this process's clock. Latency of an address on node k
= its first "add element" on node k - its first "add element" on node 1 (so the figure is the
fleet's share: Redis, the other daemon, its policy, its kernel transaction; not node 1's detection).

Two phases: a steady 10 bans/s (--rate, --steady bans), then one burst of --burst bans (all lines
appended at once). Anchor: CrowdSec's bouncers poll the local API every 10 s by default
(`update_frequency: 10s`), so a decision reaches a bouncer after 0..10 s: p50 ~5 s, p99 ~9.9 s.

    sudo .venv/bin/python bench/fleet_propagation.py                    # 10 nodes, 100 @ 10/s, burst 10,000
    sudo .venv/bin/python bench/fleet_propagation.py --nodes 3 --steady 30 --burst 1000   # quick
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fleet_lab import FleetLab, failure  # noqa: E402

ANCHOR_POLL = 10.0  # CrowdSec bouncer update_frequency default, seconds
_ELEM = re.compile(r"^add element inet sipwarden ban4 \{ ([0-9.]+) ")


class Monitor:
    """`nft monitor new elements` in one namespace: first arrival time of each address."""

    def __init__(self, ns: str) -> None:
        self.seen: dict[str, float] = {}
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, "stdbuf", "-oL", "nft", "monitor", "new", "elements"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            t = time.monotonic()
            m = _ELEM.match(line)
            if m and m.group(1) not in self.seen:
                self.seen[m.group(1)] = t

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=5)


def attacker(i: int) -> str:
    return f"198.19.{i >> 8 & 255}.{i & 255}"


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs)) - 1))]


def wait_all(mons: list[Monitor], ips: list[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(all(ip in m.seen for ip in ips) for m in mons):
            return True
        time.sleep(0.05)
    return False


def measure(mons: list[Monitor], ips: list[str]) -> dict:
    origin, others = mons[0], mons[1:]
    lat = []
    missing = 0
    for ip in ips:
        t0 = origin.seen.get(ip)
        for m in others:
            t = m.seen.get(ip)
            if t0 is None or t is None:
                missing += 1
            else:
                lat.append(max(t - t0, 0.0))
    if not lat:
        return {"missing": missing}
    return {"bans": len(ips), "samples": len(lat), "missing": missing, "p50_ms": round(pct(lat, 50) * 1000, 1),
            "p99_ms": round(pct(lat, 99) * 1000, 1), "max_ms": round(max(lat) * 1000, 1),
            "mean_ms": round(statistics.fmean(lat) * 1000, 1),
            "anchor_p99_ms": ANCHOR_POLL * 0.99 * 1000, "ratio_p99": round(ANCHOR_POLL * 0.99 / pct(lat, 99), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--steady", type=int, default=100, help="bans at --rate")
    ap.add_argument("--burst", type=int, default=10_000)
    args = ap.parse_args()
    toml = ('[fleet]\nshare_events = false\nmax_bans_per_minute = 1000000\n'
            '[ban]\nbantime = 3600\nreconcile_interval = 3600\n')
    with tempfile.TemporaryDirectory(prefix="swfleetbench") as tmp:
        lab = FleetLab(Path(tmp), args.nodes, {i: toml for i in range(1, args.nodes + 1)})
        mons: list[Monitor] = []
        try:
            lab.up()
            for d in lab.nodes:
                d.start()
            mons = [Monitor(d.ns) for d in lab.nodes]
            time.sleep(1.0)
            origin = lab.nodes[0]
            out = {"nodes": args.nodes}
            # steady rate
            ips = [attacker(i) for i in range(args.steady)]
            t_next = time.monotonic()
            for k, ip in enumerate(ips):
                origin.append("".join(failure(ip, str(1000 + j)) for j in range(5)))
                t_next += 1.0 / args.rate
                time.sleep(max(t_next - time.monotonic(), 0))
                if k % 50 == 49:
                    print(f"  steady: {k + 1}/{len(ips)}", file=sys.stderr)
            wait_all(mons, ips, 10)
            out["steady"] = {"rate": args.rate, **measure(mons, ips)}
            print(json.dumps(out["steady"]), file=sys.stderr)
            # burst
            ips = [attacker(i) for i in range(args.steady, args.steady + args.burst)]
            text = "".join(failure(ip, str(1000 + j)) for ip in ips for j in range(5))
            t0 = time.monotonic()
            origin.append(text)
            ok = wait_all(mons, ips, 300)
            out["burst"] = {**measure(mons, ips), "all_nodes_complete_s": round(time.monotonic() - t0, 2)
                            if ok else None}
            last_origin = max((mons[0].seen.get(ip, 0) for ip in ips), default=0)
            out["burst"]["origin_banned_all_s"] = round(last_origin - t0, 2) if last_origin else None
            st = origin.ctl("status")["fleet"]
            out["origin_fleet"] = {k: st[k] for k in ("bans_shared", "malformed", "queue_dropped")}
            applied = [d.ctl("status")["fleet"]["bans_applied"] for d in lab.nodes[1:]]
            out["applied_per_node"] = applied
            print(json.dumps(out))
        finally:
            for m in mons:
                m.close()
            lab.down()


if __name__ == "__main__":
    main()
