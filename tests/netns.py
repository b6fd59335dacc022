"""A reusable network-namespace lab for system tests (root only), after the lab notes (topo.sh) the project was built from.

    srv    198.18.0.1/24   fd00:5060::1/64    bridge br0; the SIP side: listeners, firewall under test
    atk    198.18.0.66/24  fd00:5060::66/64   plus 198.18.0.67-.69 for extra attacker sources
    legit  198.18.0.20/24  fd00:5060::20/64

No namespace has a default route, so nothing can leave the lab; the root namespace's firewall and
interfaces are never touched (veth pairs are created directly inside the namespaces). Names carry
the pid and a counter, so parallel runs do not collide.

Traffic helpers work in-process: a socket is created by a short-lived thread that setns(2)'d into
the namespace, and a socket stays in the namespace it was created in, whichever thread uses it.

    with topology() as topo:
        with topo.udp_listener() as srv:            # counts datagrams per source on srv :5060, echoes
            c = topo.udp_client("atk", ATK4)
            assert topo.delivered(srv, c, SRV4, 3) == 3
            topo.nft("list ruleset")                # nft inside srv
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from sipwarden.enforce.nsexec import enter_netns

SRV4, SRV6 = "198.18.0.1", "fd00:5060::1"
ATK4, ATK6 = "198.18.0.66", "fd00:5060::66"
ATK4_EXTRA = ("198.18.0.67", "198.18.0.68", "198.18.0.69")
LEGIT4, LEGIT6 = "198.18.0.20", "fd00:5060::20"
SIP_PORT = 5060

_seq = itertools.count()


def unavailable() -> str | None:
    """Why the lab cannot run here (None if it can): a skip reason, never a hidden failure."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, nftables); CI runs as root"
    if shutil.which("ip") is None:
        return "needs iproute2 (`ip`)"
    return None


def run(argv: list[str], ns: str | None = None, input: str | None = None, check: bool = True,
        timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run a program, inside namespace `ns` when given; a failure shows the command and its stderr."""
    full = ["ip", "netns", "exec", ns, *argv] if ns else argv
    p = subprocess.run(full, input=input, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(full)} -> rc {p.returncode}: {p.stderr.strip()}")
    return p


def socket_in(ns: str, family: int, type: int = socket.SOCK_DGRAM) -> socket.socket:
    """A socket that lives in network namespace `ns`."""
    box: list[socket.socket | BaseException] = []

    def make() -> None:
        try:
            enter_netns(ns)
            box.append(socket.socket(family, type))
        except BaseException as e:  # handed to the caller
            box.append(e)

    t = threading.Thread(target=make)
    t.start()
    t.join()
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


class UdpListener:
    """Counts datagrams per source address (v4 and v6 on one socket) and echoes them back, so the
    flow is two-way and conntrack knows it."""

    def __init__(self, sock: socket.socket, echo: bool = True) -> None:
        self.sock = sock
        self.echo = echo
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                data, src = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            ip = src[0].removeprefix("::ffff:")
            with self._lock:
                self.counts[ip] += 1
            if self.echo:
                with suppress(OSError):
                    self.sock.sendto(data, src)

    def count(self, ip: str) -> int:
        with self._lock:
            return self.counts[ip]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


class Topology:
    """Three namespaces on one bridge; see the module docstring."""

    def __init__(self, prefix: str = "sw") -> None:
        tag = f"{prefix}{os.getpid()}x{next(_seq)}"
        self.srv, self.atk, self.legit = f"{tag}-srv", f"{tag}-atk", f"{tag}-legit"
        self.namespaces = (self.srv, self.atk, self.legit)
        self._closers: list = []

    def up(self) -> None:
        for ns in self.namespaces:
            run(["ip", "netns", "add", ns])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", self.srv, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", self.srv, "link", "set", "br0", "up"])
        for peer, name in ((self.atk, "v-atk"), (self.legit, "v-legit")):
            run(["ip", "-n", self.srv, "link", "add", name, "type", "veth", "peer", "name", "eth0", "netns", peer])
            run(["ip", "-n", self.srv, "link", "set", name, "master", "br0", "up"])
            run(["ip", "-n", peer, "link", "set", "eth0", "up"])
        run(["ip", "-n", self.srv, "addr", "add", f"{SRV4}/24", "dev", "br0"])
        run(["ip", "-n", self.srv, "addr", "add", f"{SRV6}/64", "dev", "br0", "nodad"])
        for a in (ATK4, *ATK4_EXTRA):
            run(["ip", "-n", self.atk, "addr", "add", f"{a}/24", "dev", "eth0"])
        run(["ip", "-n", self.atk, "addr", "add", f"{ATK6}/64", "dev", "eth0", "nodad"])
        run(["ip", "-n", self.legit, "addr", "add", f"{LEGIT4}/24", "dev", "eth0"])
        run(["ip", "-n", self.legit, "addr", "add", f"{LEGIT6}/64", "dev", "eth0", "nodad"])

    def down(self) -> None:
        for close in reversed(self._closers):
            with suppress(Exception):  # keep tearing down
                close()
        for ns in reversed(self.namespaces):
            run(["ip", "netns", "del", ns], check=False)

    # -- tools inside the lab ------------------------------------------------------------------

    def run(self, ns: str, argv: list[str], **kw) -> subprocess.CompletedProcess[str]:
        return run(argv, ns=ns, **kw)

    def nft(self, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`nft -f -` with `script`, inside srv."""
        return run(["nft", "-f", "-"], ns=self.srv, input=script, check=check)

    def nft_cmd(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(["nft", *args], ns=self.srv, check=check)

    # -- traffic ------------------------------------------------------------------------------

    def udp_listener(self, port: int = SIP_PORT, echo: bool = True) -> UdpListener:
        """A dual-stack UDP counter on srv:`port`, closed with the topology."""
        s = socket_in(self.srv, socket.AF_INET6)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind(("::", port))
        listener = UdpListener(s, echo)
        self._closers.append(listener.close)
        return listener

    def udp_client(self, ns: str, src: str) -> socket.socket:
        """A UDP socket in `ns` bound to `src` (an ephemeral port: one flow), closed with the topology."""
        s = socket_in(ns, socket.AF_INET6 if ":" in src else socket.AF_INET)
        s.bind((src, 0))
        s.setblocking(False)
        self._closers.append(s.close)
        return s

    @staticmethod
    def send(sock: socket.socket, dst: str, n: int, port: int = SIP_PORT, interval: float = 0.0) -> None:
        """Send `n` small SIP-looking datagrams, `interval` seconds apart (bounded by n)."""
        for i in range(n):
            sock.sendto(b"OPTIONS sip:probe@%s SIP/2.0\r\nCSeq: %d OPTIONS\r\n\r\n" % (dst.encode(), i), (dst, port))
            if interval:
                time.sleep(interval)

    def delivered(self, listener: UdpListener, sock: socket.socket, dst: str, n: int = 3,
                  port: int = SIP_PORT, interval: float = 0.0, wait: float = 0.3) -> int:
        """Send `n` datagrams from `sock` and return how many reached `listener` (waits at most
        `wait` seconds after the last one: the lab's path is a bridge, delivery takes microseconds)."""
        src = sock.getsockname()[0]
        before = listener.count(src)
        self.send(sock, dst, n, port, interval)
        deadline = time.monotonic() + wait
        while listener.count(src) - before < n and time.monotonic() < deadline:
            time.sleep(0.005)
        return listener.count(src) - before


@contextmanager
def topology(prefix: str = "sw") -> Iterator[Topology]:
    """The lab, torn down (sockets, threads, namespaces) whatever happens."""
    topo = Topology(prefix)
    try:
        topo.up()
        yield topo
    finally:
        topo.down()
