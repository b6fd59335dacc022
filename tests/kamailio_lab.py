"""Real parts for the end-to-end tests (root only), on top of tests/netns.py's topology.

- `Kamailio`: a Kamailio 5.6 registrar with digest auth (subscribers in SQLite, tests/data/kamailio/)
  in the srv namespace, optionally mirroring all its SIP as HEP v3 to sipwarden (siptrace); every
  request it handles is one `SIPGUARD ... ip=<src>` log line, so requests are counted per source.
- `peers()`: extra namespaces on srv's bridge, one per attacker: SIPVicious 0.3.8 ignores `-b`
  in svwar/svcrack, so a source address of its own needs a namespace of its own.
- `Sniffer`: an AF_PACKET tap on a peer's port of the bridge (in srv): kernel timestamps of every
  SIP datagram the peer sends, including those nftables then drops.
- `Sipwarden`: the daemon in srv, its nft set and control socket; `sipp()` and `sipvicious()`:
  the attack tools and the legitimate phone, always bounded in calls and time.

Everything started here is stopped by pid and every namespace deleted, whatever happens.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from netns import SRV4, SRV6, Topology, run
from netns import unavailable as netns_unavailable
from sipwarden.enforce.nsexec import enter_netns
from warden import SIPWARDEN, ctl

DATA = Path(__file__).with_name("data") / "kamailio"
BIN = Path(sys.executable).parent
KAM_MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
KAM_SQL = Path("/usr/share/kamailio/db_sqlite")
USERS = {"1001": "Zr7#pQ2v!xL9mK4w", "1002": "Vt8@nB3kLq6#yH1s", "2000": "1234"}
HEP_PORT = 9060
CLK_TCK = os.sysconf("SC_CLK_TCK")

_seq = itertools.count()


def unavailable() -> str | None:
    """Why the Kamailio lab cannot run here (None if it can)."""
    why = netns_unavailable()
    if why:
        return why
    for tool, pkg in (("kamailio", "kamailio"), ("sipp", "sip-tester"), ("sqlite3", "sqlite3"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return f"needs `{tool}` (Debian package {pkg}; scripts/bootstrap --system installs it)"
    for mod, pkg in (("db_sqlite.so", "kamailio-sqlite-modules"), ("siptrace.so", "kamailio")):
        if not (KAM_MODULES / mod).exists():
            return f"needs Kamailio's {mod} (Debian package {pkg})"
    if not (BIN / "sipvicious_svwar").exists():
        return "needs SIPVicious in the venv (pip install -e '.[test]')"
    return None


def daemon_has(option: str) -> bool:
    """Whether `sipwarden run` knows `option` (the wire sources land separately)."""
    p = subprocess.run([SIPWARDEN, "run", "--help"], capture_output=True, text=True, timeout=30)
    return option in p.stdout


# -- attacker namespaces ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Peer:
    """A namespace with one address on srv's bridge; `port` is its bridge port (in srv)."""

    name: str
    ns: str
    ip4: str
    port: str


@contextmanager
def peers(topo: Topology, addrs: dict[str, str]) -> Iterator[dict[str, Peer]]:
    """One namespace per name -> IPv4 address (198.18.0.0/24), on srv's bridge; deleted on exit."""
    made: list[Peer] = []
    try:
        for name, ip in addrs.items():
            n = next(_seq)
            p = Peer(name, f"{topo.srv.removesuffix('-srv')}-p{n}", ip, f"vp{n}")
            run(["ip", "netns", "add", p.ns])
            made.append(p)
            run(["ip", "-n", p.ns, "link", "set", "lo", "up"])
            run(["ip", "-n", topo.srv, "link", "add", p.port, "type", "veth", "peer", "name", "eth0", "netns", p.ns])
            run(["ip", "-n", topo.srv, "link", "set", p.port, "master", "br0", "up"])
            run(["ip", "-n", p.ns, "link", "set", "eth0", "up"])
            run(["ip", "-n", p.ns, "addr", "add", f"{ip}/24", "dev", "eth0"])
        yield {p.name: p for p in made}
    finally:
        for p in reversed(made):
            run(["ip", "netns", "del", p.ns], check=False)


# -- processes -------------------------------------------------------------------------------------

def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants, from /proc."""
    parent: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            parent[int(d)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(c for c, pp in parent.items() if pp == p)
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of `pids` (those still alive), in seconds."""
    total = 0
    for p in pids:
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(f[11]) + int(f[12])  # utime, stime (fields 14, 15)
    return total / CLK_TCK


def stop_process(proc: subprocess.Popen, tree: list[int] | None = None, timeout: float = 5) -> None:
    """SIGTERM, then SIGKILL after `timeout` to the process and the children it had."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    for p in tree or []:
        with suppress(ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGKILL)


def wait_for(cond: Callable[[], object], what: str, timeout: float, step: float = 0.02,
             diag: Callable[[], str] = lambda: "") -> float:
    """Poll `cond` until true; the time it became true. Fails with `what` and `diag()` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return time.time()
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{diag()}")


# -- Kamailio --------------------------------------------------------------------------------------

_SIPGUARD = re.compile(r"SIPGUARD (\w+) .*?\bip=(\S+)")


class Kamailio:
    """The registrar in srv; `hep_uri` (e.g. sip:127.0.0.1:9060) turns on HEP v3 mirroring."""

    def __init__(self, topo: Topology, workdir: Path, hep_uri: str | None = None,
                 hep_key: str | None = None) -> None:
        self.topo, self.dir = topo, workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.db, self.log = workdir / "kamailio.sqlite", workdir / "kamailio.log"
        self.defines = [f'DBURL="sqlite://{self.db}"', f'CTLSOCK="unix:{workdir / "ctl.sock"}"']
        if hep_uri:
            self.defines += ["WITH_HEP", f'HEP_URI="{hep_uri}"']
        if hep_key:
            self.defines.append(f'HEP_AUTH_KEY="{hep_key}"')
        self.proc: subprocess.Popen | None = None
        self.tree: list[int] = []

    def _argv(self, *extra: str) -> list[str]:
        argv = ["kamailio", "-f", str(DATA / "kamailio.cfg"), *extra]
        for d in self.defines:
            argv += ["-A", d]
        return argv

    def start(self) -> None:
        sql = "".join((KAM_SQL / f).read_text() for f in ("standard-create.sql", "auth_db-create.sql"))
        run(["sqlite3", str(self.db)], input=sql + (DATA / "users.sql").read_text())
        run(self._argv("-c"), ns=self.topo.srv)  # config check: a clear error instead of a dead process
        out = open(self.log, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.topo.srv,
                                      *self._argv("-DD", "-E", "-m", "64", "-M", "8")],
                                     stdout=out, stderr=out, cwd=self.dir)
        out.close()
        wait_for(lambda: self.proc.poll() is not None or "io_listen_loop" in self.text(), "Kamailio to listen",
                 10, diag=self.text)
        assert self.proc.poll() is None, f"Kamailio exited:\n{self.text()[-3000:]}"
        time.sleep(0.2)  # the workers fork right after the first listen loop starts
        self.tree = process_tree(self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, process_tree(self.proc.pid))
            self.proc = None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def requests(self) -> dict[str, int]:
        """Requests handled so far, per source address (one SIPGUARD line each)."""
        out: dict[str, int] = {}
        for m in _SIPGUARD.finditer(self.text()):
            out[m[2]] = out.get(m[2], 0) + 1
        return out

    def events(self, ip: str) -> list[str]:
        """The SIPGUARD event names logged for source `ip`, in order."""
        return [m[1] for m in _SIPGUARD.finditer(self.text()) if m[2] == ip]

    def cpu(self) -> float:
        """CPU seconds used so far by Kamailio's processes (all of them)."""
        return cpu_seconds(self.tree)

    def cpu_share(self, seconds: float) -> float:
        """Kamailio's CPU over the next `seconds`, as a fraction of one core."""
        c0, t0 = self.cpu(), time.monotonic()
        time.sleep(seconds)
        return (self.cpu() - c0) / (time.monotonic() - t0)


# -- a tap on a peer's bridge port -----------------------------------------------------------------

_ETH_P_ALL = 0x0003
_SO_TIMESTAMPNS = 35


class Sniffer:
    """Kernel timestamps of the SIP datagrams (UDP to 5060) `peer` sends, seen on its bridge port in
    srv, before nftables (ingress taps run first): what the attacker sent, banned or not."""

    def __init__(self, topo: Topology, peer: Peer) -> None:
        self.ip = socket.inet_aton(peer.ip4)
        self.times: list[float] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._err: list[BaseException] = []
        self._thread = threading.Thread(target=self._loop, args=(topo.srv, peer.port), daemon=True)
        self._thread.start()
        self._ready.wait(5)
        if self._err:
            raise self._err[0]

    def _loop(self, ns: str, ifname: str) -> None:
        try:
            enter_netns(ns)
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
            s.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            s.bind((ifname, 0))
            s.settimeout(0.05)
        except BaseException as e:  # handed to the constructor
            self._err.append(e)
            self._ready.set()
            return
        self._ready.set()
        with s:
            while not self._stop.is_set():
                try:
                    frame, anc, _flags, _addr = s.recvmsg(2048, 64)
                except (TimeoutError, OSError):
                    continue
                # Ethernet + IPv4 + UDP to 5060 from the peer
                if len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != 17 or frame[26:30] != self.ip:
                    continue
                ihl = (frame[14] & 0x0F) * 4
                if struct.unpack_from("!H", frame, 14 + ihl + 2)[0] != 5060:
                    continue
                t = time.time()
                for level, kind, data in anc:
                    if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                        sec, nsec = struct.unpack("qq", data[:16])
                        t = sec + nsec / 1e9
                self.times.append(t)

    def count(self, before: float | None = None) -> int:
        """Datagrams seen so far (only those stamped before `before`, if given)."""
        times = list(self.times)
        return len(times) if before is None else sum(1 for t in times if t < before)

    def first(self) -> float | None:
        return self.times[0] if self.times else None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


# -- sipwarden ---------------------------------------------------------------------------------------

class Sipwarden:
    """`sipwarden run` in srv with the given source options, banning into its own nft table."""

    def __init__(self, topo: Topology, workdir: Path, sources: list[str]) -> None:
        self.topo = topo
        self.table = f"swe2e{os.getpid()}x{next(_seq)}"
        self.state = workdir / "state"
        self.cfg = workdir / "sipwarden.toml"
        # reconcile runs every hour here: restart/reconcile have their own system tests, and these
        # tests read the drop counters (which reconcile keeps unless the table was damaged)
        self.cfg.write_text(f'[log]\ntimezone = "UTC"\n[ban]\ntable = "{self.table}"\nbantime = 600\n'
                            'reconcile_interval = 3600\n')
        self.err = workdir / "sipwarden.err"
        self.sources = sources
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        out = open(self.err, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.topo.srv, SIPWARDEN, "run", "--config",
                                      str(self.cfg), "--state-dir", str(self.state), *self.sources],
                                     stdout=out, stderr=out)
        out.close()
        wait_for(lambda: self.proc.poll() is not None or (self.ctl("status") or {}).get("running") is True,
                 "the sipwarden control socket", 15, step=0.1, diag=self.log)
        assert self.proc.poll() is None, f"sipwarden exited:\n{self.log()}"

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=10)
            self.proc = None
        # the daemon owns its table; drop it even if it died (the namespace goes anyway)
        self.topo.nft_cmd("delete", "table", "inet", self.table, check=False)

    def log(self) -> str:
        return self.err.read_text(errors="replace")[-4000:] if self.err.exists() else ""

    def ctl(self, *args: str) -> dict | list | None:
        return ctl(self.state, *args)

    def banned(self, ip: str) -> bool:
        """Whether `ip` is in the kernel's ban set now."""
        return self.topo.nft_cmd("get", "element", "inet", self.table, "ban4", f"{{ {ip} }}",
                                 check=False).returncode == 0

    def drops(self) -> int:
        """Packets dropped so far by the table's IPv4 ban rule (its counter)."""
        out = self.topo.nft_cmd("-j", "list", "chain", "inet", self.table, "prerouting").stdout
        total = 0
        for item in json.loads(out)["nftables"]:
            rule = item.get("rule")
            if rule and "@ban4" in json.dumps(rule["expr"]):
                total += sum(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
        return total

    def wait_banned(self, ip: str, timeout: float) -> float:
        """The time `ip` was first seen in the kernel set (polled every few ms)."""
        return wait_for(lambda: self.banned(ip), f"a kernel ban of {ip}", timeout, step=0.005, diag=self.log)


class BanWatch:
    """When each address first appeared in the daemon's kernel set ban4 (polled every few ms)."""

    def __init__(self, warden: Sipwarden, step: float = 0.005) -> None:
        self.warden, self.step = warden, step
        self.when: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        argv = ["ip", "netns", "exec", self.warden.topo.srv, "nft", "-j", "list", "set", "inet", self.warden.table,
                "ban4"]
        while not self._stop.is_set():
            p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            now = time.time()
            if p.returncode == 0:
                for item in json.loads(p.stdout)["nftables"]:
                    for e in (item.get("set") or {}).get("elem", []):
                        ip = e["elem"]["val"] if isinstance(e, dict) and "elem" in e else e
                        if isinstance(ip, str):
                            self.when.setdefault(ip, now)
            time.sleep(self.step)

    def wait(self, ip: str, timeout: float) -> float:
        wait_for(lambda: ip in self.when, f"a kernel ban of {ip}", timeout, diag=self.warden.log)
        return self.when[ip]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# -- tools -------------------------------------------------------------------------------------------

def sipp(ns: str, scenario: str, local_ip: str, *, service: str, rate: int, calls: int, seconds: float,
         password: str | None = None, workdir: Path, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """SIPp from `ns` to Kamailio (UDP), at most `calls` calls and `seconds` seconds."""
    argv = ["sipp", "-sf", str(DATA / "sipp" / scenario), f"{SRV4}:5060", "-i", local_ip, "-p", "5061",
            "-s", service, "-r", str(rate), "-m", str(calls), "-timeout", f"{seconds}s", "-nostdin", *extra]
    if password is not None:
        argv += ["-au", service, "-ap", password]
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True,
                          timeout=seconds + 15, cwd=workdir)


def sipp_successes(p: subprocess.CompletedProcess[str] | str) -> int:
    """Successful calls in SIPp's final statistics (the cumulative column)."""
    out = p if isinstance(p, str) else p.stdout
    m = re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", out)
    return int(m[-1]) if m else 0


def sipvicious(tool: str, ns: str, args: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """sipvicious_`tool` (svmap, svwar, svcrack) from `ns`; never with -R (it reports to the author)."""
    assert "-R" not in args and "--reportback" not in args
    return run([str(BIN / f"sipvicious_{tool}"), *args], ns=ns, check=False, timeout=timeout)


def hep_uri() -> str:
    return f"sip:127.0.0.1:{HEP_PORT}"


PBX = ["--pbx-address", SRV4, "--pbx-address", SRV6]


def options(src: str, seq: int, ua: str = "e2e-probe") -> bytes:
    """A well-formed OPTIONS from `src` (Kamailio logs one `SIPGUARD options` line for it)."""
    return (f"OPTIONS sip:{SRV4} SIP/2.0\r\nVia: SIP/2.0/UDP {src}:5099;branch=z9hG4bK-e2e{seq}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:probe@{src}>;tag=e2e{seq}\r\nTo: <sip:{SRV4}>\r\n"
            f"Call-ID: e2e-{seq}@{src}\r\nCSeq: {seq} OPTIONS\r\nUser-Agent: {ua}\r\nContent-Length: 0\r\n\r\n"
            ).encode()


def probe(topo: Topology, ns: str, src: str, n: int) -> None:
    """Send `n` OPTIONS to Kamailio from `src` in namespace `ns` (n bounded by the caller)."""
    sock = topo.udp_client(ns, src)
    for i in range(n):
        sock.sendto(options(src, i + 1), (SRV4, 5060))
        time.sleep(0.01)
