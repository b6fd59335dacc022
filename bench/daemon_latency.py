"""Ban latency of the live daemon against fail2ban-server: deciding log line written -> address in
the kernel set.

A writer appends realistic Asterisk `messages` lines (benign traffic plus chan_sip / PJSIP
authentication failures) to a watched log at a fixed rate (20, 2,000 and 10,000 lines/s by
default). Every attacker (a distinct address in its own /24, trying its own account) sends exactly
5 failures, spread through the stream; the time right after its 5th (deciding) line is written is
recorded. Both daemons run inside network namespaces this script creates and deletes, each with
its own nftables table:

- sipwarden: `sipwarden run --backend nftables` (table `inet swlat<pid>`, set `ban4`);
- anchor: Debian's fail2ban-server 1.0.2 (`filter = asterisk`, `action = nftables`, pyinotify,
  maxretry 5, findtime 600), private config dir, socket, pid file and database under a temp dir.

Kernel set membership is observed event-driven: a separate stamper process reads
`nft -j monitor new elements` inside the namespace and stamps each new element with
CLOCK_MONOTONIC (shared with the writer), so the resolution is the netlink delivery plus a pipe
read (well under 1 ms), not a polling period. Latency = first "add element" of the address -
write time of its deciding line. An attacker not in the set within `--cap` seconds of its deciding
line counts as a miss (infinite latency for the percentiles).

At rates <= `--concurrent-max-rate` (default 100 lines/s: both daemons idle) both daemons follow
the same file at once in two namespaces; at higher rates they run one after the other on the same
pre-generated lines (re-stamped with the current time). Each run first bans one warm-up address
(not measured: fail2ban creates its table on the first ban).

    sudo .venv/bin/python bench/daemon_latency.py            # 500 attackers, 20/2,000/10,000 lines/s
    sudo .venv/bin/python bench/daemon_latency.py --quick    # 100 attackers, shorter streams
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
SIPWARDEN = ROOT / ".venv" / "bin" / "sipwarden"
MAXRETRY = 5
SRV = "198.18.0.1"
WARMUP_IP = "10.255.255.1"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --- lab plumbing -----------------------------------------------------------------------------

def sh(argv: list[str], ns: str | None = None, check: bool = True, timeout: float = 30,
       input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `argv` (inside namespace `ns` when given) and capture its output."""
    full = ["ip", "netns", "exec", ns, *argv] if ns else argv
    p = subprocess.run(full, capture_output=True, text=True, timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(full)} -> rc {p.returncode}: {p.stderr.strip()}")
    return p


@contextlib.contextmanager
def netns(tag: str) -> Iterator[str]:
    """A fresh network namespace (loopback up), deleted afterwards whatever happens."""
    name = f"swlat{os.getpid()}-{tag}"
    sh(["ip", "netns", "add", name])
    try:
        sh(["ip", "-n", name, "link", "set", "lo", "up"])
        yield name
    finally:
        sh(["ip", "netns", "del", name], check=False)


def stop_process(p: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds."""
    if p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of `pid` (0 if gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kb(pid: int, key: str) -> int:
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM); 0 if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def need_root() -> None:
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces, nftables): sudo .venv/bin/python " + " ".join(sys.argv))
    for tool in ("ip", "nft", "fail2ban-server", "fail2ban-client"):
        if shutil.which(tool) is None:
            sys.exit(f"needs {tool}")


def on_sigterm(_sig: int, _frame: object) -> None:
    raise KeyboardInterrupt  # unwind through every `finally`: daemons stopped, namespaces deleted


# --- kernel set stamper (separate process: its clock reads are not delayed by the writer) -------

def stamper_main(ns: str, out: str) -> None:
    """Append `monotonic<TAB>table<TAB>set<TAB>address` for every element added in `ns`."""
    p = subprocess.Popen(["ip", "netns", "exec", ns, "nft", "-j", "monitor", "new", "elements"],
                         stdout=subprocess.PIPE)
    assert p.stdout is not None
    signal.signal(signal.SIGTERM, lambda *_: (p.terminate(), sys.exit(0)))
    with open(out, "a", buffering=1) as f:
        f.write("ready\n")
        for raw in p.stdout:
            t = time.monotonic()
            try:
                el = json.loads(raw)["add"]["element"]
            except (ValueError, KeyError, TypeError):
                continue
            for item in el.get("elem", {}).get("set", []):
                val = item.get("elem", {}).get("val") if isinstance(item, dict) else item
                if isinstance(val, dict):  # a prefix (network ban)
                    val = "{}/{}".format(val.get("prefix", {}).get("addr"), val.get("prefix", {}).get("len"))
                f.write(f"{t:.6f}\t{el.get('table')}\t{el.get('name')}\t{val}\n")


class Stamper:
    """Runs `stamper_main` for one namespace and collects first-seen times per address."""

    def __init__(self, ns: str, path: Path) -> None:
        self.path = path
        self.seen: dict[str, float] = {}
        self._offset = 0
        self.proc = subprocess.Popen([str(PYTHON), __file__, "--_stamp", ns, str(path)])
        deadline = time.monotonic() + 10
        while not (path.exists() and path.read_text().startswith("ready")):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"nft monitor did not start in {ns}")
            time.sleep(0.02)
        time.sleep(0.1)  # let `nft monitor` subscribe after printing nothing

    def poll(self) -> dict[str, float]:
        with open(self.path) as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind("\n") + 1
        self._offset += len(data[:end].encode())
        for line in data[:end].splitlines():
            parts = line.split("\t")
            if len(parts) == 4:
                self.seen.setdefault(parts[3], float(parts[0]))
        return self.seen

    def close(self) -> None:
        stop_process(self.proc, 3)


# --- the log lines ------------------------------------------------------------------------------

def attacker_ip(i: int) -> str:
    """Attacker `i`: a distinct address in its own /24 (no subnet-wide detector can decide first)."""
    return f"10.{i // 256 % 256}.{i % 256}.{1 + (i * 37) % 254}"


def failure_body(rng: random.Random, ip: str, account: str) -> str:
    """One authentication failure (every form counted by fail2ban's asterisk filter and sipwarden)."""
    port = rng.choice((5060, 5060, 5061, rng.randrange(1024, 65535)))
    k = rng.randrange(3)
    if k == 0:
        return (f"NOTICE[{rng.randrange(1000, 9999)}] chan_sip.c: Registration from '\"{account}\" "
                f"<sip:{account}@{SRV}>' failed for '{ip}:{port}' - Wrong password")
    method = rng.choice(("REGISTER", "REGISTER", "INVITE"))
    callid = f"{rng.getrandbits(64):016x}"
    if k == 1:
        return (f"NOTICE[{rng.randrange(1000, 9999)}]: res_pjsip/pjsip_distributor.c:676 log_failed_request: "
                f"Request '{method}' from '\"{account}\" <sip:{account}@{SRV}>' failed for '{ip}:{port}' "
                f"(callid: {callid}) - Failed to authenticate")
    return (f"NOTICE[{rng.randrange(1000, 9999)}] res_pjsip/pjsip_distributor.c: Request '{method}' from "
            f"'<sip:{account}@{SRV}>' failed for '{ip}:{port}' (callid: {callid}) - Failed to authenticate")


def benign_body(rng: random.Random) -> str:
    """One line of an ordinary PBX day (calls, registrations, RTP noise)."""
    ext = rng.randrange(1001, 1060)
    lan = f"192.168.10.{rng.randrange(2, 250)}"
    chan = f"PJSIP/{ext}-{rng.getrandbits(32):08x}"
    c = f"[C-{rng.getrandbits(28):08x}]"
    k = rng.randrange(8)
    if k == 0:
        return (f"VERBOSE[{rng.randrange(1000, 9999)}]{c} pbx.c:     -- Executing [{ext + 1}@from-internal:1] "
                f"Dial(\"{chan}\", \"PJSIP/{ext + 1},30\") in new stack")
    if k == 1:
        return (f"VERBOSE[{rng.randrange(1000, 9999)}] res_pjsip_registrar.c:     -- Added contact "
                f"'sip:{ext}@{lan}:5060;ob' to AOR '{ext}' with expiration of 300 seconds")
    if k == 2:
        return f"VERBOSE[{rng.randrange(1000, 9999)}]{c} pbx.c:   == Channel '{chan}' hung up (cause 16)"
    if k == 3:
        return f"WARNING[{rng.randrange(1000, 9999)}] res_rtp_asterisk.c: RTP Read too short ({rng.randrange(1, 12)} bytes) from {lan}:{rng.randrange(10000, 20000)}"
    if k == 4:
        return f"VERBOSE[{rng.randrange(1000, 9999)}]{c} app_dial.c:     -- {chan} is ringing"
    if k == 5:
        return f"VERBOSE[{rng.randrange(1000, 9999)}]{c} bridge_channel.c:     -- Channel {chan} joined 'simple_bridge' basic-bridge <{rng.getrandbits(64):016x}>"
    if k == 6:
        return f"VERBOSE[{rng.randrange(1000, 9999)}] res_pjsip/pjsip_configuration.c: Endpoint {ext} is now Reachable"
    return f"NOTICE[{rng.randrange(1000, 9999)}] res_pjsip_pubsub.c: Subscription for {ext} from {lan} renewed"


@dataclass
class Stream:
    """Pre-generated lines (without their timestamp) and, per attacker, the index of its deciding line."""
    bodies: list[str]
    deciding: dict[int, str] = field(default_factory=dict)  # line index -> attacker address

    @property
    def attackers(self) -> list[str]:
        return list(self.deciding.values())


def build_stream(n_attackers: int, n_lines: int, seed: int) -> Stream:
    """`n_lines` lines, `MAXRETRY` failures of each attacker at random places, the rest benign."""
    rng = random.Random(seed)
    n_fail = n_attackers * MAXRETRY
    n_lines = max(n_lines, n_fail)
    slots = sorted(rng.sample(range(n_lines), n_fail))
    who = [i for i in range(n_attackers) for _ in range(MAXRETRY)]
    rng.shuffle(who)
    at = dict(zip(slots, who, strict=True))
    sent = [0] * n_attackers
    s = Stream([])
    for n in range(n_lines):
        i = at.get(n)
        if i is None:
            s.bodies.append(benign_body(rng))
            continue
        ip = attacker_ip(i)
        s.bodies.append(failure_body(rng, ip, str(2000 + i)))
        sent[i] += 1
        if sent[i] == MAXRETRY:
            s.deciding[n] = ip
    return s


class Stamp:
    """`[Mon DD HH:MM:SS] ` of the current second (UTC), cached per second."""

    def __init__(self) -> None:
        self._sec = -1
        self._text = ""

    def __call__(self) -> str:
        now = time.time()
        sec = int(now)
        if sec != self._sec:
            t = time.gmtime(sec)
            self._sec, self._text = sec, f"[{MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}] "
        return self._text


def write_stream(path: Path, stream: Stream, rate: float) -> tuple[dict[str, float], float]:
    """Append the stream at `rate` lines/s, one write(2) per line (as Asterisk's logger does).
    Returns the monotonic time right after each deciding line was written, and the achieved rate."""
    stamp = Stamp()
    decided: dict[str, float] = {}
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        bodies, deciding, n = stream.bodies, stream.deciding, len(stream.bodies)
        t0 = time.monotonic()
        i = 0
        while i < n:
            due = min(n, int((time.monotonic() - t0) * rate) + 1)
            while i < due:
                os.write(fd, (stamp() + bodies[i] + "\n").encode())
                ip = deciding.get(i)
                if ip is not None:
                    decided[ip] = time.monotonic()
                i += 1
            wait = t0 + i / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        took = time.monotonic() - t0
    finally:
        os.close(fd)
    return decided, n / took if took > 0 else float("inf")


def append_lines(path: Path, bodies: list[str]) -> float:
    """Append lines at once (warm-up); returns the monotonic time after the write."""
    stamp = Stamp()
    with open(path, "a") as f:
        f.write("".join(stamp() + b + "\n" for b in bodies))
    return time.monotonic()


# --- the daemons --------------------------------------------------------------------------------

class Daemon:
    """One daemon under test, in its own namespace, following `log`."""

    name = "?"
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def set_size(self) -> int:
        """Addresses in the daemon's ban set now (a cross-check of the monitor)."""
        raise NotImplementedError

    def log_tail(self) -> str:
        raise NotImplementedError


class Sipwarden(Daemon):
    name = "sipwarden"

    def __init__(self, ns: str, log: Path, tmp: Path, backend: str = "nftables", detect: str = "") -> None:
        self.ns, self.log, self.tmp = ns, log, tmp
        self.table = f"swlat{os.getpid()}"
        self.state = tmp / "sw-state"
        self.err = tmp / "sipwarden.err"
        self.cfg = tmp / "sipwarden.toml"
        self.cfg.write_text(f'[log]\ntimezone = "UTC"\n[ban]\nbackend = "{backend}"\nbantime = 3600\n'
                            f'table = "{self.table}"\n' + (f"[detect]\n{detect}\n" if detect else ""))

    def start(self) -> None:
        err = open(self.err, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, str(SIPWARDEN), "run", "--config", str(self.cfg), "--watch",
             str(self.log), "--state-dir", str(self.state)], stdout=err, stderr=err)
        err.close()
        deadline = time.monotonic() + 30
        while (self.status() or {}).get("running") is not True:
            if not self.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sipwarden did not start:\n{self.log_tail()}")
            time.sleep(0.1)

    def status(self) -> dict | None:
        p = subprocess.run([str(SIPWARDEN), "status", "--state-dir", str(self.state), "--json"],
                           capture_output=True, text=True, timeout=60)
        try:
            return json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else None
        except ValueError:
            return None

    def set_size(self) -> int:
        p = sh(["nft", "-j", "list", "set", "inet", self.table, "ban4"], ns=self.ns, check=False)
        return _count_elems(p.stdout)

    def log_tail(self) -> str:
        return self.err.read_text(errors="replace")[-3000:] if self.err.exists() else ""


class Fail2ban(Daemon):
    """Debian's fail2ban-server with a private config dir (filter.d/action.d linked to /etc's)."""

    name = "fail2ban"
    TABLE = "f2bbench"
    SET = "addr-set-asterisk"

    def __init__(self, ns: str, log: Path, tmp: Path, backend: str = "pyinotify") -> None:
        self.ns, self.log, self.tmp = ns, log, tmp
        d = tmp / "f2b"
        self.conf = d / "conf"
        self.conf.mkdir(parents=True)
        for sub in ("filter.d", "action.d"):
            (self.conf / sub).symlink_to(Path("/etc/fail2ban") / sub)
        self.sock, self.pid, self.logfile = d / "f2b.sock", d / "f2b.pid", d / "fail2ban.log"
        (self.conf / "fail2ban.conf").write_text(
            f"[Definition]\nloglevel = INFO\nlogtarget = {self.logfile}\nsyslogsocket = auto\n"
            f"socket = {self.sock}\npidfile = {self.pid}\nallowipv6 = auto\ndbfile = {d / 'f2b.sqlite3'}\n"
            "dbmaxmatches = 10\ndbpurgeage = 1d\n")
        (self.conf / "jail.conf").write_text(
            "[DEFAULT]\nignoreself = false\nignoreip =\nusedns = no\nmaxretry = 5\nfindtime = 600\n"
            f"bantime = 3600\nbackend = {backend}\n\n[asterisk]\nenabled = true\nfilter = asterisk\n"
            f"logpath = {log}\nlogtimezone = UTC\n"
            f'action = nftables[name=asterisk, port="5060,5061", protocol=udp, table={self.TABLE}, '
            "blocktype=drop]\n")

    def start(self) -> None:
        out = open(self.tmp / "f2b" / "server.out", "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "fail2ban-server", "-c", str(self.conf), "-f", "-x",
             "-s", str(self.sock), "-p", str(self.pid)], stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.monotonic() + 60
        while self.client("status", "asterisk").returncode != 0:
            if not self.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"fail2ban-server did not start:\n{self.log_tail()}")
            time.sleep(0.2)

    def client(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["fail2ban-client", "-s", str(self.sock), *args], capture_output=True,
                              text=True, timeout=60)

    def stop(self) -> None:
        if self.alive():
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                self.client("stop")
        super().stop()

    def set_size(self) -> int:
        p = sh(["nft", "-j", "list", "set", "inet", self.TABLE, self.SET], ns=self.ns, check=False)
        return _count_elems(p.stdout)

    def log_tail(self) -> str:
        return self.logfile.read_text(errors="replace")[-3000:] if self.logfile.exists() else ""


def _count_elems(nft_json: str) -> int:
    try:
        for obj in json.loads(nft_json)["nftables"]:
            if "set" in obj:
                return len(obj["set"].get("elem", []))
    except (ValueError, KeyError, TypeError):
        pass
    return 0


# --- one measured run ---------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (values may hold inf for misses)."""
    v = sorted(values)
    return v[max(0, math.ceil(q * len(v)) - 1)]


@dataclass
class Result:
    daemon: str
    rate: float
    achieved: float
    lines: int
    attackers: int
    banned: int
    late: int  # banned, but after the cap
    p50: float
    p99: float
    max: float
    cpu_s: float
    rss_peak_mb: float
    in_set_at_end: int
    concurrent: bool
    raw: list[tuple[float, float | None]] = field(default_factory=list)  # (deciding write, latency)


def run_once(kinds: list[str], stream: Stream, rate: float, cap: float, tmp: Path) -> list[Result]:
    """Start the daemons of `kinds` (each in its own namespace), write the stream, measure."""
    log = tmp / "messages"
    log.write_text("")
    with contextlib.ExitStack() as stack:
        daemons: list[tuple[Daemon, Stamper]] = []
        for k in kinds:
            ns = stack.enter_context(netns(k))
            sub = tmp / k
            sub.mkdir()
            d: Daemon = Sipwarden(ns, log, sub) if k == "sipwarden" else Fail2ban(ns, log, sub)
            stamper = Stamper(ns, sub / "stamps.tsv")
            stack.callback(stamper.close)
            stack.callback(d.stop)
            d.start()
            daemons.append((d, stamper))
        # warm-up: one address banned by every daemon before the clock starts
        append_lines(log, [failure_body(random.Random(n), WARMUP_IP, "9999") for n in range(MAXRETRY)])
        deadline = time.monotonic() + 60
        while not all(WARMUP_IP in s.poll() for _, s in daemons):
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {d.name}\n{d.log_tail()}" for d, _ in daemons)
                raise RuntimeError(f"warm-up ban never reached the kernel set\n{tails}")
            time.sleep(0.05)
        cpu0 = {d.name: proc_cpu(d.proc.pid) for d, _ in daemons if d.proc}
        t_first = time.monotonic()
        decided, achieved = write_stream(log, stream, rate)
        last = max(decided.values())
        while time.monotonic() < last + cap:
            if all(set(decided) <= s.poll().keys() for _, s in daemons):
                break
            time.sleep(0.05)
        time.sleep(0.2)
        out = []
        for d, s in daemons:
            seen = s.poll()
            assert d.proc is not None
            lat = [(seen[ip] - t) if ip in seen and seen[ip] - t <= cap else math.inf
                   for ip, t in decided.items()]
            got = [x for x in lat if x != math.inf]
            out.append(Result(
                daemon=d.name, rate=rate, achieved=round(achieved, 1), lines=len(stream.bodies),
                attackers=len(decided), banned=len(got),
                late=sum(1 for ip in decided if ip in seen and seen[ip] - decided[ip] > cap),
                p50=pct(lat, 0.50), p99=pct(lat, 0.99), max=max(lat),
                cpu_s=round(proc_cpu(d.proc.pid) - cpu0[d.name], 2),
                rss_peak_mb=round(proc_status_kb(d.proc.pid, "VmHWM") / 1024, 1),
                in_set_at_end=d.set_size() - 1, concurrent=len(kinds) > 1,
                raw=[(round(t - t_first, 4), None if x == math.inf else round(x, 5))
                     for (t, x) in zip(decided.values(), lat, strict=True)]))
        return out


# --- report -------------------------------------------------------------------------------------

def ms(x: float) -> str:
    return "timeout" if x == math.inf else f"{x * 1000:,.1f}"


def ratio(anchor: float, ours: float) -> str:
    if anchor == math.inf:
        return "> cap"
    if ours == math.inf:
        return "n/a"
    return f"{anchor / ours:,.1f}x" if ours > 0 else "inf"


def report(results: list[Result], cap: float) -> None:
    print(f"\n{'rate/s':>7} {'daemon':<10} {'achieved':>9} {'attackers':>9} {'banned':>7} {'p50 ms':>9} "
          f"{'p99 ms':>9} {'max ms':>9} {'cpu s':>6} {'rss MB':>7}")
    for r in results:
        print(f"{r.rate:>7g} {r.daemon:<10} {r.achieved:>9,.0f} {r.attackers:>9} {r.banned:>7} {ms(r.p50):>9} "
              f"{ms(r.p99):>9} {ms(r.max):>9} {r.cpu_s:>6} {r.rss_peak_mb:>7}"
              + ("  (concurrent)" if r.concurrent else ""))
    print(f"\nratio fail2ban / sipwarden (same run; a miss = not banned within {cap:g} s):")
    targets = {2000: 0.050, 10000: 0.250}
    for rate in sorted({r.rate for r in results}):
        sw = next((r for r in results if r.rate == rate and r.daemon == "sipwarden"), None)
        fb = next((r for r in results if r.rate == rate and r.daemon == "fail2ban"), None)
        if sw is None or fb is None:
            continue
        line = f"  {rate:>7g} lines/s: p50 {ratio(fb.p50, sw.p50)}, p99 {ratio(fb.p99, sw.p99)}"
        if fb.banned < fb.attackers:
            line += f" (fail2ban missed {fb.attackers - fb.banned}, {fb.late} of them late)"
        if rate in targets:
            ok = sw.p99 <= targets[rate] and fb.p99 >= 10 * sw.p99
            line += f"; target sipwarden p99 <= {targets[rate] * 1000:g} ms and >= 10x: {'met' if ok else 'NOT met'}"
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="100 attackers, 5 s streams (about 2 minutes)")
    ap.add_argument("--attackers", type=int, help="attackers per rate (default 500; --quick 100)")
    ap.add_argument("--rates", default="20,2000,10000", help="lines/s, comma-separated")
    ap.add_argument("--seconds", type=float, help="length of a high-rate stream (default 10; --quick 5)")
    ap.add_argument("--cap", type=float, help="seconds to wait for a ban (default 30; --quick 15)")
    ap.add_argument("--concurrent-max-rate", type=float, default=100,
                    help="rates up to this run both daemons at once on one file")
    ap.add_argument("--daemons", default="sipwarden,fail2ban")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--_stamp", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._stamp:
        stamper_main(*a._stamp)
        return
    need_root()
    signal.signal(signal.SIGTERM, on_sigterm)
    attackers = a.attackers or (100 if a.quick else 500)
    seconds = a.seconds or (5.0 if a.quick else 10.0)
    cap = a.cap or (15.0 if a.quick else 30.0)
    kinds = [k for k in a.daemons.split(",") if k]
    results: list[Result] = []
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="swlat") as tmpdir:
        for n, rate in enumerate(float(x) for x in a.rates.split(",")):
            # at least rate*seconds lines; at low rates the failures make up to 85 % of the stream
            stream = build_stream(attackers, max(int(rate * seconds), int(attackers * MAXRETRY / 0.85)),
                                  a.seed + n)
            groups = [kinds] if rate <= a.concurrent_max_rate else [[k] for k in kinds]
            for g in groups:
                tmp = Path(tmpdir) / f"r{n}-{'-'.join(g)}"
                tmp.mkdir()
                print(f"{rate:g} lines/s, {len(stream.bodies):,} lines, {attackers} attackers: "
                      f"{' + '.join(g)} ...", flush=True)
                res = run_once(g, stream, rate, cap, tmp)
                for r in res:
                    print(f"  {r.daemon}: banned {r.banned}/{r.attackers}, p50 {ms(r.p50)} ms, "
                          f"p99 {ms(r.p99)} ms (achieved {r.achieved:,.0f} lines/s)", flush=True)
                results.extend(res)
    report(results, cap)
    print(f"\nkernel set observed with `nft -j monitor new elements` in a separate stamper process "
          f"(event-driven, sub-ms resolution); total {time.monotonic() - t_start:.0f} s")
    if a.json:
        rows = [{k: (None if v == math.inf else v) for k, v in r.__dict__.items()} for r in results]
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
