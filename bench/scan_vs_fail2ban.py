#!/usr/bin/env python3
"""Benchmark: whole-process `sipwarden scan` vs Debian's `fail2ban-regex` (asterisk filter), same log, same run.

Generates (or reuses from bench/out/) a seeded Asterisk messages+security log with labels
(gen_asterisk_log.py), warms the page cache, then times under `/usr/bin/time -v`:

  sipwarden scan --format json LOG > out.json                                   (median of --runs)
  fail2ban-regex -r --print-no-missed LOG /etc/fail2ban/filter.d/asterisk.conf  (median of --f2b-runs)

and prints lines/s of each, the ratio (fail2ban is the anchor), and peak RSS of each. Accuracy
against the labels (not timed): fail2ban's matches (`-o '<ip>|<msg>'`) and sipwarden's
`scan --events`, per line kind. Memory series: sipwarden's peak RSS on growing logs (should stay flat).

  .venv/bin/python bench/scan_vs_fail2ban.py                # 1M lines, 3 sipwarden runs, memory series
  .venv/bin/python bench/scan_vs_fail2ban.py --quick        # 100k-line smoke run
  .venv/bin/python bench/scan_vs_fail2ban.py --pythonpath SNAP/src   # a pinned `git archive` snapshot
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from gen_asterisk_log import ATTACK_CATEGORIES, GEN_VERSION, KINDS, generate, read_labels

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
FILTER = "/etc/fail2ban/filter.d/asterisk.conf"
TIME = "/usr/bin/time"


def log_for(lines: int, seed: int, out_dir: Path) -> Path:
    """The generated log for (lines, seed, generator version), made once and cached under out_dir."""
    path = out_dir / f"asterisk-{lines}-s{seed}-v{GEN_VERSION}.log"
    summary = Path(str(path) + ".summary.json")
    if path.exists() and summary.exists():
        params = json.loads(summary.read_text())["params"]
        if params.get("lines") == lines and params.get("seed") == seed and params.get("version") == GEN_VERSION:
            return path
    t = time.perf_counter()
    print(f"generating {path.name} ...", file=sys.stderr, flush=True)
    generate(path, lines=lines, seed=seed)
    print(f"  done in {time.perf_counter() - t:.1f}s", file=sys.stderr, flush=True)
    return path


def warm(path: Path) -> None:
    """Read the file once so every timed run starts with it in the page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 20):
            pass


def timed(cmd: list[str], stdout: Path) -> dict:
    """Run `cmd` under /usr/bin/time -v; wall, cpu, peak RSS and the command's own stderr."""
    with tempfile.NamedTemporaryFile("r", suffix=".time", delete=False) as tf:
        tpath = tf.name
    try:
        with open(stdout, "w") as out:
            p = subprocess.run([TIME, "-v", "-o", tpath, *cmd], stdout=out, stderr=subprocess.PIPE, text=True)
        tv = Path(tpath).read_text()
    finally:
        os.unlink(tpath)
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", tv)
    assert m is not None, tv
    wall = int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", tv).group(1))  # type: ignore[union-attr]
    sys_ = float(re.search(r"System time \(seconds\): ([\d.]+)", tv).group(1))  # type: ignore[union-attr]
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", tv).group(1))  # type: ignore[union-attr]
    return {"wall": wall, "cpu": user + sys_, "rss_kb": rss, "stderr": p.stderr}


def run_sipwarden(exe: str, log: Path, out_dir: Path, runs: int) -> dict:
    """Median of `runs` whole-process `sipwarden scan --format json` runs."""
    rs = []
    for i in range(runs):
        r = timed([exe, "scan", "--format", "json", str(log)], out_dir / "sipwarden-verdicts.json")
        m = re.search(r"sipwarden: (\d+) lines, (\d+) events, (\d+) verdicts", r["stderr"])
        r.update(lines=int(m.group(1)), events=int(m.group(2)), verdicts=int(m.group(3))) if m else None
        rs.append(r)
        print(f"  sipwarden run {i + 1}/{runs}: {r['wall']:.2f}s, {r['rss_kb'] / 1024:.0f} MB", file=sys.stderr, flush=True)
    return _median(rs)


def run_fail2ban(exe: str, log: Path, out_dir: Path, runs: int) -> dict:
    """Median of `runs` `fail2ban-regex -r --print-no-missed` runs (the lab's timing command)."""
    rs = []
    for i in range(runs):
        out = out_dir / "fail2ban-regex.out"
        r = timed([exe, "-r", "--print-no-missed", str(log), FILTER], out)
        text = out.read_text()
        m = re.search(r"Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed", text)
        p = re.search(r"\[processed in ([\d.]+) sec\]", text)
        if m:
            r.update(lines=int(m.group(1)), matched=int(m.group(3)), missed=int(m.group(4)))
        if p:
            r["processed_s"] = float(p.group(1))
        rs.append(r)
        print(f"  fail2ban-regex run {i + 1}/{runs}: {r['wall']:.2f}s, {r['rss_kb'] / 1024:.0f} MB", file=sys.stderr, flush=True)
    return _median(rs)


def _median(rs: list[dict]) -> dict:
    walls = sorted(r["wall"] for r in rs)
    best = min(rs, key=lambda r: abs(r["wall"] - statistics.median(walls)))
    out = {k: v for k, v in best.items() if k != "stderr"}
    out.update(wall=statistics.median(walls), wall_min=walls[0], wall_max=walls[-1], runs=len(rs),
               rss_kb_max=max(r["rss_kb"] for r in rs))  # rss_kb: the median run's
    return out


def _line_keys(log: Path, labels: dict[int, tuple[str, str]]) -> dict[int, int]:
    """hash(line text) -> line number, for labelled lines (to place fail2ban's printed matches)."""
    keys: dict[int, int] = {}
    with open(log, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if n in labels:
                keys.setdefault(hash(line.rstrip("\n")), n)
    return keys


def accuracy(exe_sw: str, exe_f2b: str, log: Path, out_dir: Path) -> dict:
    """Per-kind agreement of both tools with the labels (untimed runs)."""
    labels = read_labels(str(log) + ".labels.tsv")
    per: dict[str, Counter] = {k: Counter() for k in KINDS}
    for kind, _ in labels.values():
        per[kind]["total"] += 1
    # fail2ban: one '<ip>|<line>' per matched line
    print("  accuracy: fail2ban-regex -o '<ip>|<msg>' ...", file=sys.stderr, flush=True)
    keys = _line_keys(log, labels)
    f2b_out = out_dir / "fail2ban-matches.txt"
    with open(f2b_out, "w") as fo:
        subprocess.run([exe_f2b, "-r", "-o", "<ip>|<msg>", str(log), FILTER], stdout=fo, check=True)
    f2b_fp = 0
    with open(f2b_out, encoding="utf-8") as f:
        for row in f:
            ip, sep, msg = row.rstrip("\n").partition("|")
            if not sep:
                continue
            n = keys.get(hash(msg))
            if n is None:
                f2b_fp += 1
                continue
            kind, true_ip = labels[n]
            per[kind]["f2b_ok" if ip == true_ip else "f2b_wrong_ip"] += 1
    del keys
    # sipwarden: the events it parsed, with their line numbers
    print("  accuracy: sipwarden scan --events --format json ...", file=sys.stderr, flush=True)
    sw_out = out_dir / "sipwarden-events.json"
    with open(sw_out, "w") as fo:
        subprocess.run([exe_sw, "scan", "--events", "--format", "json", str(log)], stdout=fo,
                       stderr=subprocess.DEVNULL, check=True)
    sw_unlabelled: Counter[str] = Counter()
    seen: set[int] = set()
    examples: dict[str, list] = {}
    with open(sw_out, encoding="utf-8") as f:
        for row in f:
            ev = json.loads(row)
            n = ev.get("line")
            if n not in labels:
                sw_unlabelled[ev["kind"]] += 1
                continue
            if n in seen:
                continue
            seen.add(n)
            kind, true_ip = labels[n]
            if ev.get("ip") != true_ip:
                per[kind]["sw_wrong_ip"] += 1
                examples.setdefault(kind, []).append((n, ev.get("ip"), ev["kind"]))
            elif ev["kind"] != KINDS[kind][2]:
                per[kind]["sw_wrong_kind"] += 1
                examples.setdefault(kind, []).append((n, ev.get("ip"), ev["kind"]))
            else:
                per[kind]["sw_ok"] += 1
    for n, (kind, _) in labels.items():
        if n not in seen:
            per[kind]["sw_missed"] += 1
            if len(examples.setdefault(kind, [])) < 3:
                examples[kind].append((n, None, None))
    return {"per_kind": {k: dict(v) for k, v in per.items() if v["total"]}, "f2b_unlabelled_matches": f2b_fp,
            "sw_unlabelled_events": dict(sw_unlabelled), "sw_examples": {k: v[:3] for k, v in examples.items()}}


def memory_series(exe: str, sizes: list[int], seed: int, out_dir: Path) -> list[dict]:
    """sipwarden's peak RSS and speed on logs of growing size (bounded state: RSS should stay flat)."""
    rows = []
    for n in sizes:
        log = log_for(n, seed, out_dir)
        warm(log)
        r = timed([exe, "scan", "--format", "json", str(log)], out_dir / "sipwarden-verdicts-mem.json")
        rows.append({"lines": n, "wall": r["wall"], "rss_kb": r["rss_kb"], "lines_per_s": n / r["wall"]})
        print(f"  memory {n:>9,} lines: {r['rss_kb'] / 1024:6.1f} MB  {n / r['wall']:>10,.0f} lines/s",
              file=sys.stderr, flush=True)
    return rows


def _commit() -> str:
    try:
        h = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                           check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"], capture_output=True,
                               text=True).stdout.strip()
        return h + ("+dirty-src" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _snapshot_commit(src: Path) -> str:
    """The commit of a `git archive` snapshot: a COMMIT file beside its src/ (written by hand)."""
    f = src.resolve().parent / "COMMIT"
    return f.read_text().strip() + " (snapshot)" if f.exists() else f"snapshot {src}"


def _fmt_kind_table(acc: dict) -> list[str]:
    rows = [f"  {'kind':34s} {'lines':>8s} {'f2b ok':>8s} {'f2b miss':>8s} {'f2b bad ip':>10s}"
            f" {'sw ok':>8s} {'sw miss':>8s} {'sw wrong':>8s}"]
    for kind, c in acc["per_kind"].items():
        cat = KINDS[kind][1]
        f2b_miss = c["total"] - c.get("f2b_ok", 0) - c.get("f2b_wrong_ip", 0)
        f2b_cols = (f"{c.get('f2b_ok', 0):8d} {f2b_miss:8d} {c.get('f2b_wrong_ip', 0):10d}" if cat == "failure"
                    else f"{'-':>8s} {'-':>8s} {'-':>10s}" if not c.get("f2b_ok") else f"{c['f2b_ok']:8d} (should not match)")
        rows.append(f"  {kind:34s} {c['total']:8d} {f2b_cols} {c.get('sw_ok', 0):8d} {c.get('sw_missed', 0):8d}"
                    f" {c.get('sw_wrong_ip', 0) + c.get('sw_wrong_kind', 0):8d}")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lines", type=int, default=1_000_000, help="lines in the compared log (default 1M)")
    p.add_argument("--quick", action="store_true", help="100k-line smoke run (small memory series, 1 run each)")
    p.add_argument("--seed", type=int, default=20261124)
    p.add_argument("--runs", type=int, default=3, help="sipwarden runs (median)")
    p.add_argument("--f2b-runs", type=int, default=1, help="fail2ban-regex runs (median); it is slow")
    p.add_argument("--memory-sizes", default="250000,500000,1000000,2000000",
                   help="comma-separated log sizes for the memory series ('' to skip)")
    p.add_argument("--no-memory", action="store_true", help="skip the memory series")
    p.add_argument("--no-accuracy", action="store_true", help="skip the (untimed) accuracy runs")
    p.add_argument("--out-dir", type=Path, default=BENCH / "out")
    p.add_argument("--sipwarden", default=str(REPO / ".venv/bin/sipwarden") if (REPO / ".venv/bin/sipwarden").exists()
                   else shutil.which("sipwarden") or "sipwarden")
    p.add_argument("--fail2ban-regex", dest="f2b", default=shutil.which("fail2ban-regex") or "/usr/bin/fail2ban-regex")
    p.add_argument("--pythonpath", type=Path, help="measure the sipwarden package in this directory (e.g. a"
                   " `git archive COMMIT src` snapshot's src/) instead of the installed one")
    a = p.parse_args(argv)
    if a.pythonpath:
        os.environ["PYTHONPATH"] = str(a.pythonpath.resolve()) + os.pathsep + os.environ.get("PYTHONPATH", "")
    if a.quick:
        a.lines = 100_000 if a.lines == 1_000_000 else a.lines
        a.runs = 1 if a.runs == 3 else a.runs
        if a.memory_sizes == p.get_default("memory_sizes"):
            a.memory_sizes = "50000,100000,200000"
    for tool in (TIME, a.sipwarden, a.f2b, FILTER):
        if not (Path(tool).exists() or shutil.which(tool)):
            raise SystemExit(f"missing: {tool} (scripts/bootstrap --system installs fail2ban and GNU time)")
    a.out_dir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)

    log = log_for(a.lines, a.seed, a.out_dir)
    summary = json.loads(Path(str(log) + ".summary.json").read_text())
    warm(log)
    print(f"timing on {log.name} ({log.stat().st_size / 1e6:.0f} MB)", file=sys.stderr, flush=True)
    sw = run_sipwarden(a.sipwarden, log, a.out_dir, a.runs)
    f2b = run_fail2ban(a.f2b, log, a.out_dir, a.f2b_runs)
    acc = None if a.no_accuracy else accuracy(a.sipwarden, a.f2b, log, a.out_dir)
    sizes = [] if a.no_memory or not a.memory_sizes else [int(x) for x in a.memory_sizes.split(",")]
    mem = memory_series(a.sipwarden, sizes, a.seed, a.out_dir) if sizes else []

    sw_lps, f2b_lps = a.lines / sw["wall"], a.lines / f2b["wall"]
    result = {
        "date": started.isoformat(timespec="seconds"),
        "commit": _snapshot_commit(a.pythonpath) if a.pythonpath else _commit(),
        "pythonpath": str(a.pythonpath) if a.pythonpath else None, "host": platform.node(),
        "cpus": os.cpu_count(), "python": platform.python_version(), "lines": a.lines, "seed": a.seed,
        "log": str(log), "log_mb": round(log.stat().st_size / 1e6, 1), "generator": summary,
        "sipwarden": sw, "fail2ban": f2b, "sipwarden_lines_per_s": sw_lps, "fail2ban_lines_per_s": f2b_lps,
        "ratio": sw_lps / f2b_lps, "accuracy": acc, "memory_series": mem,
    }
    res_path = a.out_dir / f"results-{a.lines}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    res_path.write_text(json.dumps(result, indent=1))

    fails = summary["categories"].get("failure", 0)
    attack = sum(summary["categories"].get(c, 0) for c in ATTACK_CATEGORIES)
    out = [
        "",
        f"== sipwarden scan vs fail2ban-regex (Debian, asterisk filter): {a.lines:,} lines, seed {a.seed} ==",
        f"   {result['date']}  commit {result['commit']}  {os.cpu_count()} cpus  python {result['python']}"
        f"  log {result['log_mb']} MB" + (f"\n   sipwarden from {a.pythonpath}" if a.pythonpath else ""),
        f"   log: {attack:,} attacker lines ({fails:,} failure lines), {summary['attackers_seen']} attackers"
        f" ({summary['attackers_seen_ipv6']} IPv6), {summary['categories'].get('legit', 0):,} legit-phone lines",
        "",
        f"  {'tool':16s} {'runs':>4s} {'wall s':>8s} {'(min-max)':>15s} {'lines/s':>10s} {'peak RSS':>10s}",
        f"  {'sipwarden scan':16s} {sw['runs']:4d} {sw['wall']:8.2f} {sw['wall_min']:7.2f}-{sw['wall_max']:<7.2f}"
        f" {sw_lps:10,.0f} {sw['rss_kb'] / 1024:7.1f} MB",
        f"  {'fail2ban-regex':16s} {f2b['runs']:4d} {f2b['wall']:8.2f} {f2b['wall_min']:7.2f}-{f2b['wall_max']:<7.2f}"
        f" {f2b_lps:10,.0f} {f2b['rss_kb'] / 1024:7.1f} MB",
        f"  ratio (sipwarden / fail2ban lines/s): {result['ratio']:.1f}x   (target >= 30x, aim 100x)",
        f"  sipwarden: {sw.get('events', '?'):,} events, {sw.get('verdicts', '?')} verdicts;"
        f"  fail2ban: {f2b.get('matched', 0):,} matched of {fails:,} failure lines"
        f" ({100 * (fails - f2b.get('matched', 0)) / max(fails, 1):.1f}% missed by count)",
    ]
    if acc:
        out += ["", "  accuracy against the labels (ok = right address; f2b is expected to match failures only):"]
        out += _fmt_kind_table(acc)
        tot = Counter()
        for kind, c in acc["per_kind"].items():
            if KINDS[kind][1] == "failure":
                tot.update({k: v for k, v in c.items()})
        out.append(f"  failures: fail2ban ok {tot['f2b_ok']:,}/{tot['total']:,}"
                   f" (missed {tot['total'] - tot['f2b_ok'] - tot['f2b_wrong_ip']:,}, wrong ip {tot['f2b_wrong_ip']:,});"
                   f" sipwarden ok {tot['sw_ok']:,} (missed {tot['sw_missed']:,},"
                   f" wrong {tot['sw_wrong_ip'] + tot['sw_wrong_kind']:,})")
        out.append(f"  fail2ban matches on unlabelled lines: {acc['f2b_unlabelled_matches']};"
                   f" sipwarden events on unlabelled lines: {sum(acc['sw_unlabelled_events'].values())}")
    if mem:
        out += ["", "  memory series (sipwarden scan, whole process):"]
        for r in mem:
            out.append(f"  {r['lines']:>11,} lines  peak RSS {r['rss_kb'] / 1024:7.1f} MB  {r['lines_per_s']:>10,.0f} lines/s")
        lo, hi = min(r["rss_kb"] for r in mem), max(r["rss_kb"] for r in mem)
        out.append(f"  RSS growth over a {mem[-1]['lines'] // max(mem[0]['lines'], 1)}x larger log: {hi / lo:.2f}x")
    out.append(f"\n  results: {res_path}")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
