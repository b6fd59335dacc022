#!/usr/bin/env python3
"""Bans per second in one burst: sipwarden's nftables backend vs the fail2ban-style anchor.

The anchor is what fail2ban's nftables action does: one `nft add element` process per address.
It is measured on ANCHOR_N addresses (default 500) and its rate extrapolated; sipwarden bans
N addresses (default 10,000) in one batch, through libnftables and through `nft -j -f -`.
Everything runs inside a network namespace this script creates and deletes (root needed).

    sudo .venv/bin/python bench/ban_burst.py [N] [ANCHOR_N] [REPS]
"""

from __future__ import annotations

import ipaddress
import json
import os
import statistics
import subprocess
import sys
import time

from sipwarden.config import BanConfig
from sipwarden.enforce import Ban
from sipwarden.enforce.nftables import NftablesEnforcer, _has_libnftables

ANCHOR = """
import subprocess, sys, time
t0 = time.perf_counter()
for ip in sys.argv[2:]:
    subprocess.run(["nft", "add", "element", "inet", sys.argv[1], "ban4", "{ %s timeout 600s }" % ip], check=True)
print(time.perf_counter() - t0)
"""


def addresses(n: int) -> list[str]:
    base = int(ipaddress.IPv4Address("198.18.0.0"))
    return [str(ipaddress.IPv4Address(base + 1 + i)) for i in range(n)]  # 198.18.0.0/15 holds 131072


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    anchor_n = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    if os.geteuid() != 0:
        print("ban_burst: needs root (it creates a network namespace)", file=sys.stderr)
        return 2
    ns = f"swbench{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        cfg = BanConfig()
        ips = addresses(n)
        results: dict[str, float] = {}

        # anchor: one process per address, like fail2ban's actionban
        e = NftablesEnforcer(cfg, ns, use_lib=False)
        e.setup()
        ts = []
        for _ in range(reps):
            e.teardown()
            e.setup()
            # the loop runs inside the namespace, so each `nft` is spawned directly, as fail2ban does
            p = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", ANCHOR, cfg.table,
                                *ips[:anchor_n]], check=True, capture_output=True, text=True)
            ts.append(float(p.stdout))
            assert len(e.list()) == anchor_n
        results["anchor: 1 nft process per address"] = anchor_n / statistics.median(ts)

        runners = [("sipwarden nftables, libnftables (1 batch)", True)] if _has_libnftables() else []
        runners.append(("sipwarden nftables, nft -j -f - (1 batch)", False))
        for label, lib in runners:
            e = NftablesEnforcer(cfg, ns, use_lib=lib)
            ts = []
            for _ in range(reps):
                e.teardown()
                e.setup()
                now = time.time()
                bans = [Ban(ip, now + 600, "bruteforce") for ip in ips]
                t0 = time.perf_counter()
                e.ban(bans, now)
                ts.append(time.perf_counter() - t0)
                assert len(e.list()) == n
            # a re-ban burst of the same addresses (upsert path: every element exists)
            now = time.time()
            t0 = time.perf_counter()
            e.ban([Ban(ip, now + 1200) for ip in ips], now)
            reban = time.perf_counter() - t0
            results[label] = n / statistics.median(ts)
            results[label.replace("(1 batch)", "re-ban (1 batch)")] = n / reban
            e.close()

        anchor = results["anchor: 1 nft process per address"]
        for label, rate in results.items():
            print(json.dumps({"method": label, "n": anchor_n if label.startswith("anchor") else n,
                              "bans_per_s": round(rate), "ratio_vs_anchor": round(rate / anchor, 1)}))
        best = max(v for k, v in results.items() if "re-ban" not in k and not k.startswith("anchor"))
        print(f"# {n} bans: {n / best * 1000:.0f} ms in one batch vs {n / anchor:.1f} s extrapolated for "
              f"one process per address; target >= 10,000 bans/s: {'met' if best >= 10_000 else 'NOT met'}")
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
