#!/usr/bin/env python3
"""`sipwarden report --html` on the 1M-line benchmark log: file size (target < 10 MB), wall time and
peak RSS, against `sipwarden scan --format json` on the same log in the same run (the anchor: the
report reads the log exactly as scan does, so the ratio is what drawing costs on top).

    .venv/bin/python bench/report_size.py [LINES=1000000] [RUNS=3]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from scan_vs_fail2ban import log_for, timed, warm

BENCH = Path(__file__).resolve().parent
EXE = str(Path(sys.executable).with_name("sipwarden"))


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    cache = Path(tempfile.gettempdir()) / "sipwarden-bench"
    cache.mkdir(exist_ok=True)
    log = log_for(lines, 20261124, cache)
    warm(log)
    out = cache / "report.html"
    scans, reports = [], []
    for _ in range(runs):
        scans.append(timed([EXE, "scan", "--format", "json", str(log)], cache / "scan.json"))
        reports.append(timed([EXE, "report", "--html", str(out), str(log)], cache / "report.out"))
    size = out.stat().st_size
    s = statistics.median(r["wall"] for r in scans)
    r = statistics.median(r["wall"] for r in reports)
    rss = statistics.median(r["rss_kb"] for r in reports) / 1024
    print(f"report of {lines:,} lines: {size / 2**20:.2f} MB ({'<' if size < 10 * 2**20 else '>='} 10 MB), "
          f"{r:.2f}s wall (median of {runs}), peak RSS {rss:.0f} MB; scan of the same log {s:.2f}s: "
          f"report/scan = {r / s:.2f}x")
    print(reports[-1]["stderr"].strip().splitlines()[-1])


if __name__ == "__main__":
    main()
