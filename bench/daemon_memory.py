"""Daemon memory under a flood of distinct (spoofed) sources, against fail2ban-server.

One PJSIP "No matching endpoint found" line per source, each source a distinct address in its own
/24 (scattered over 11.0.0.0-74.255.255.255, deterministic), appended to a watched log as fast as
the daemon takes them: the writer keeps at most `--backlog` unread bytes ahead of the daemon's read
offset (from /proc/PID/fdinfo), so what is measured is the daemon's own state, not a pile of
unread lines. One line per source decides nothing (no detector fires on a single unknown-account
failure, no /24 holds two sources): any ban is reported.

The daemon's RSS (/proc/PID/status VmRSS) is sampled every 50 ms; the peak is the kernel's VmHWM.
Lines/s = lines / (first write -> the daemon reports every line processed).

- sipwarden: `sipwarden run --backend nftables` inside a namespace this script creates (or
  `--backend dry-run`), fresh state dir (its SQLite event history included).
- anchor: Debian's fail2ban-server 1.0.2 (asterisk filter, nftables action, pyinotify) in its own
  namespace, private conf/socket/pid/db, fed the first `--anchor-sources` lines of the same stream
  (fail2ban is far slower; the default keeps a full run within ~10 minutes). The ratio compares
  peak RSS over those same first lines (sipwarden's from its samples).

    sudo .venv/bin/python bench/daemon_memory.py             # 1,000,000 sources (anchor 100,000)
    sudo .venv/bin/python bench/daemon_memory.py --quick     # 100,000 sources (anchor 20,000)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from daemon_latency import (  # noqa: E402 - sibling module
    SRV,
    Daemon,
    Fail2ban,
    Sipwarden,
    Stamp,
    need_root,
    netns,
    on_sigterm,
    proc_cpu,
    proc_status_kb,
)

SAMPLE = 0.05  # seconds between RSS samples
CHUNK = 2000  # lines per write(2) when feeding


def source_ip(i: int, bits: int) -> str:
    """Source `i` of 2**bits: a bijection onto /24s (odd multiplier), so no two share a /24."""
    p = (i * 0x9E3779B1) & ((1 << bits) - 1)
    return f"{11 + (p >> 16)}.{(p >> 8) & 255}.{p & 255}.{1 + (i * 7919) % 254}"


def flood_bodies(n: int) -> Iterator[str]:
    """`n` PJSIP unknown-endpoint lines (without timestamp), one per distinct source."""
    bits = max(20, (n - 1).bit_length())
    if bits > 22:
        raise SystemExit("at most 4,194,304 sources (distinct /24s in 11.0.0.0-74.255.255.255)")
    for i in range(n):
        ip = source_ip(i, bits)
        ext = 100 + (i * 31) % 9900
        yield (f"NOTICE[{1000 + i % 9000}] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from "
               f"'<sip:{ext}@{SRV}>' failed for '{ip}:{5060 + i % 7}' (callid: {i:x}{(i * 2654435761) & 0xffffffff:08x})"
               " - No matching endpoint found")


class ReadOffset:
    """How far `pid` has read `path`: the kernel offset of its descriptor on it (/proc/PID/fdinfo)."""

    def __init__(self, pid: int, path: Path) -> None:
        self.pid, self.path, self.fd = pid, str(path), None

    def __call__(self) -> int | None:
        if self.fd is not None:
            off = self._pos(self.fd)
            if off is not None:
                return off
        try:
            fds = os.listdir(f"/proc/{self.pid}/fd")
        except OSError:
            return None
        for fd in fds:
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{self.pid}/fd/{fd}") == self.path:
                    self.fd = fd
                    return self._pos(fd)
        return None

    def _pos(self, fd: str) -> int | None:
        try:
            with open(f"/proc/{self.pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("pos:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None


@dataclass
class Feed:
    daemon: str
    lines: int
    seconds: float = 0.0
    lines_per_s: float = 0.0
    peak_rss_mb: float = 0.0  # VmHWM at the end
    sampled_max_mb: float = 0.0
    start_rss_mb: float = 0.0
    cpu_s: float = 0.0
    bans: int | None = None
    tracked: int | None = None
    complete: bool = True
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, read offset, rss kB)
    ends: list[tuple[int, int]] = field(default_factory=list)  # (lines written, bytes written)

    def rss_upto(self, lines: int) -> float:
        """Max sampled RSS (MB) while the daemon had read at most the first `lines` lines."""
        limit = next((b for n, b in self.ends if n >= lines), None)
        vals = [r for _, off, r in self.samples if limit is None or off <= limit]
        return round(max(vals) / 1024, 1) if vals else 0.0


def feed(d: Daemon, log: Path, n: int, backlog: int, processed: Callable[[], int | None],
         stall: float, by_offset: bool = True) -> Feed:
    """Write `n` flood lines to `log`, at most `backlog` bytes ahead of what `d` has consumed (its
    read offset, or with `by_offset=False` the lines it reports processed, asked every 0.5 s:
    fail2ban opens the file only while reading); sample its RSS until it processed all."""
    assert d.proc is not None
    pid = d.proc.pid
    read_offset = ReadOffset(pid, log)
    done_lines, next_ask = 0, 0.0
    res = Feed(d.name, n, start_rss_mb=round(proc_status_kb(pid, "VmRSS") / 1024, 1))
    cpu0 = proc_cpu(pid)
    stamp = Stamp()
    gen = flood_bodies(n)
    written = size = 0
    next_sample = 0.0
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    t0 = time.monotonic()
    try:
        while written < n:
            now = time.monotonic()
            if by_offset:
                off = read_offset() or 0
            else:
                if now >= next_ask:
                    done_lines, next_ask = processed() or done_lines, now + 0.5
                off = next((b for k, b in reversed(res.ends) if k <= done_lines), 0)
            if now >= next_sample:
                res.samples.append((now - t0, off, proc_status_kb(pid, "VmRSS")))
                next_sample = now + SAMPLE
            if not d.alive():
                raise RuntimeError(f"{d.name} died:\n{d.log_tail()}")
            if backlog and size - off > backlog:
                time.sleep(0.001)
                continue
            ts = stamp()
            chunk = [ts + b + "\n" for b in _take(gen, min(CHUNK, n - written))]
            data = "".join(chunk).encode()
            os.write(fd, data)
            written += len(chunk)
            size += len(data)
            res.ends.append((written, size))
    finally:
        os.close(fd)
    # wait until every line is processed (or no progress for `stall` seconds)
    last, last_change, next_check = -1, time.monotonic(), 0.0
    while True:
        now = time.monotonic()
        if now >= next_sample:
            res.samples.append((now - t0, read_offset() or 0, proc_status_kb(pid, "VmRSS")))
            next_sample = now + SAMPLE
        if now >= next_check:
            done = processed()
            next_check = time.monotonic() + 0.25
            if done is not None and done >= n:
                break
            if done != last:
                last, last_change = done or 0, now
            elif now - last_change > stall:
                res.complete = False
                break
        time.sleep(0.01)
    res.seconds = round(time.monotonic() - t0, 2)
    res.lines_per_s = round(n / res.seconds)
    res.cpu_s = round(proc_cpu(pid) - cpu0, 1)
    res.peak_rss_mb = round(proc_status_kb(pid, "VmHWM") / 1024, 1)
    res.sampled_max_mb = round(max(r for _, _, r in res.samples) / 1024, 1)
    return res


def _take(it: Iterator[str], k: int) -> list[str]:
    return [next(it) for _ in range(k)]


def run_sipwarden(tmp: Path, n: int, backlog: int, backend: str, max_tracked: int | None) -> Feed:
    log = tmp / "messages"
    log.write_text("")
    with netns("mem") as ns:
        d = Sipwarden(ns, log, tmp, backend=backend,
                      detect=f"max_tracked = {max_tracked}" if max_tracked else "")
        try:
            d.start()

            def processed() -> int | None:
                st = d.status()
                return st.get("lines") if st else None

            res = feed(d, log, n, backlog, processed, stall=30)
            st = d.status() or {}
            res.bans, res.tracked = (st.get("bans") or {}).get("bans"), st.get("tracked_sources")
            store = st.get("store") or {}
            print(f"  store: {store.get('history_rows')} history rows written, {store.get('history_dropped')} dropped "
                  f"(the writer far behind), {store.get('queued')} writes queued; errors {st.get('errors')}")
            if backend == "nftables":
                res.bans = max(res.bans or 0, d.set_size())
            return res
        finally:
            d.stop()


def run_fail2ban(tmp: Path, n: int, backlog: int) -> Feed:
    log = tmp / "messages-f2b"
    log.write_text("")
    with netns("f2b") as ns:
        d = Fail2ban(ns, log, tmp)
        try:
            d.start()

            def processed() -> int | None:
                p = d.client("status", "asterisk")
                for line in p.stdout.splitlines():
                    if "Total failed:" in line:
                        return int(line.rsplit(":", 1)[1])
                return None

            res = feed(d, log, n, backlog, processed, stall=20, by_offset=False)
            p = d.client("status", "asterisk")
            for line in p.stdout.splitlines():
                if "Total banned:" in line:
                    res.bans = int(line.rsplit(":", 1)[1])
            return res
        finally:
            d.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="100,000 sources, anchor 20,000 (about 2 minutes)")
    ap.add_argument("--sources", type=int, help="distinct sources = lines (default 1,000,000; --quick 100,000)")
    ap.add_argument("--anchor-sources", type=int, help="lines fed to fail2ban (default 100,000; --quick 20,000; 0 = skip)")
    ap.add_argument("--backlog", type=int, default=1 << 20,
                    help="max unread bytes ahead of the daemon (default 1 MiB; 0 = write without pacing)")
    ap.add_argument("--max-tracked", type=int, help="sipwarden [detect] max_tracked (default: the daemon's)")
    ap.add_argument("--backend", default="nftables", choices=("nftables", "dry-run"))
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args()
    need_root()
    signal.signal(signal.SIGTERM, on_sigterm)
    n = a.sources or (100_000 if a.quick else 1_000_000)
    n_anchor = a.anchor_sources if a.anchor_sources is not None else (20_000 if a.quick else 100_000)
    n_anchor = min(n_anchor, n)
    results: list[Feed] = []
    with tempfile.TemporaryDirectory(prefix="swmem") as tmpdir:
        print(f"sipwarden ({a.backend}{f', max_tracked {a.max_tracked:,}' if a.max_tracked else ''}): "
              f"{n:,} distinct sources ...", flush=True)
        (Path(tmpdir) / "sw").mkdir()
        sw = run_sipwarden(Path(tmpdir) / "sw", n, a.backlog, a.backend, a.max_tracked)
        results.append(sw)
        fb = None
        if n_anchor:
            print(f"fail2ban-server: {n_anchor:,} distinct sources ...", flush=True)
            (Path(tmpdir) / "fb").mkdir()
            fb = run_fail2ban(Path(tmpdir) / "fb", n_anchor, a.backlog)
            results.append(fb)
    print(f"\n{'daemon':<10} {'sources':>10} {'seconds':>8} {'lines/s':>9} {'start MB':>9} {'peak MB':>8} "
          f"{'cpu s':>6} {'bans':>5} {'tracked':>8}")
    for r in results:
        print(f"{r.daemon:<10} {r.lines:>10,} {r.seconds:>8} {r.lines_per_s:>9,} {r.start_rss_mb:>9} "
              f"{r.peak_rss_mb:>8} {r.cpu_s:>6} {r.bans if r.bans is not None else '-':>5} "
              f"{r.tracked if r.tracked is not None else '-':>8}" + ("" if r.complete else "  INCOMPLETE (stalled)"))
    curve = ", ".join(f"{sw.rss_upto(n * k // 10):g}" for k in range(1, 11))
    print(f"\nsipwarden RSS (MB) by the time it had read 10 %, 20 %, ... 100 % of the lines: {curve}")
    print(f"sipwarden peak RSS {sw.peak_rss_mb} MB over {n:,} sources: target < 200 MB "
          f"{'met' if sw.peak_rss_mb < 200 else 'NOT met'}; {sw.lines_per_s:,} lines/s"
          + (f"; {sw.bans} ban(s) (none expected)" if sw.bans else "; no bans"))
    if fb is not None:
        sw_at = sw.rss_upto(n_anchor)
        print(f"same first {n_anchor:,} sources: peak RSS sipwarden {sw_at} MB vs fail2ban {fb.peak_rss_mb} MB "
              f"(fail2ban / sipwarden = {fb.peak_rss_mb / sw_at:.1f}x); lines/s sipwarden {sw.lines_per_s:,} "
              f"(whole run) vs fail2ban {fb.lines_per_s:,} ({sw.lines_per_s / fb.lines_per_s:.1f}x)")
    if a.json:
        Path(a.json).write_text(json.dumps([{k: v for k, v in r.__dict__.items() if k not in ("samples", "ends")}
                                            for r in results], indent=1))


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main()
