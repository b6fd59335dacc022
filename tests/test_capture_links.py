"""Live capture on every link type a PBX has, on real interfaces in network namespaces (root): a tun
device (raw IP, no link header: what WireGuard and PPP look like too), a VLAN trunk on a veth, and
the cooked "any" capture (which must not count loopback's packets twice). Each run is the daemon
(`--capture IFACE`, dry-run backend) banning a REGISTER flood it can only have seen on that link."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from netns import ATK4, SRV4, run, socket_in, topology, unavailable
from sipwarden.enforce.nsexec import enter_netns
from warden import SIPWARDEN, stop

pytestmark = [pytest.mark.system, pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))]

TUN_SRV, TUN_ATK = "198.19.0.1", "198.19.0.66"
VLAN_SRV, VLAN_ATK = "198.19.100.1", "198.19.100.66"
TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000


def register(n: int, src: str, dst: str) -> bytes:
    return (f"REGISTER sip:{dst} SIP/2.0\r\nVia: SIP/2.0/UDP {src}:5062;branch=z9hG4bK{n}\r\n"
            f"From: <sip:{100 + n}@{dst}>;tag={n}\r\nTo: <sip:{100 + n}@{dst}>\r\nCall-ID: {n}@{src}\r\n"
            f"CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n").encode()


def ipv4_udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, socket.inet_aton(src),
                      socket.inet_aton(dst))
    csum = sum(struct.unpack("!10H", hdr))
    csum = (csum & 0xFFFF) + (csum >> 16)
    hdr = hdr[:10] + struct.pack("!H", ~((csum & 0xFFFF) + (csum >> 16)) & 0xFFFF) + hdr[12:]
    return hdr + udp


class CaptureDaemon:
    def __init__(self, ns: str, iface: str, tmp: Path) -> None:
        self.state, self.err = tmp / f"st-{iface}", tmp / f"{iface}.err"
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, SIPWARDEN, "run", "--capture", iface, "--backend",
                                      "dry-run", "--state-dir", str(self.state)],
                                     stdout=open(self.err, "w"), stderr=subprocess.STDOUT)  # noqa: SIM115

    def ctl(self, *args: str):  # noqa: ANN201
        p = subprocess.run([SIPWARDEN, *args, "--state-dir", str(self.state), "--format", "json"],
                           capture_output=True, text=True, timeout=20)
        return json.loads(p.stdout) if p.stdout.strip() else None

    def wait(self, cond, what: str, timeout: float = 30) -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while not cond():
            assert self.proc.poll() is None, self.err.read_text()
            assert time.monotonic() < deadline, f"timed out: {what}\n{self.err.read_text()[-2000:]}"
            time.sleep(0.05)

    def banned(self) -> set[str]:
        return {b["ip"] for b in self.ctl("bans") or []}

    def wire(self) -> dict:
        return (self.ctl("status") or {}).get("wire", {})

    def __enter__(self) -> CaptureDaemon:
        self.wait(lambda: (self.ctl("status") or {}).get("health") == "ok", "the daemon capturing")
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        stop(self.proc)
        assert "Traceback" not in self.err.read_text()


def open_tun(ns: str, name: str) -> int:
    """The tun device's queue, opened from inside its namespace (a thread that setns'd there)."""
    box: list = []

    def go() -> None:
        try:
            enter_netns(ns)
            fd = os.open("/dev/net/tun", os.O_RDWR)
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
            box.append(fd)
        except BaseException as e:
            box.append(e)
    t = threading.Thread(target=go)
    t.start()
    t.join()
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def test_capture_on_a_tun_device_raw_ip(tmp_path):
    with topology("swtun") as topo:
        run(["ip", "-n", topo.srv, "tuntap", "add", "dev", "tun0", "mode", "tun"])
        run(["ip", "-n", topo.srv, "addr", "add", f"{TUN_SRV}/24", "dev", "tun0"])
        run(["ip", "-n", topo.srv, "link", "set", "tun0", "up"])
        assert Path(f"/proc/{os.getpid()}").exists()
        fd = open_tun(topo.srv, "tun0")
        try:
            with CaptureDaemon(topo.srv, "tun0", tmp_path) as d:
                for n in range(40):  # what the far end of a VPN sends: raw IP packets, no link header
                    os.write(fd, ipv4_udp(TUN_ATK, TUN_SRV, 5062, 5060, register(n, TUN_ATK, TUN_SRV)))
                d.wait(lambda: TUN_ATK in d.banned(), "the flood seen on tun0 banned")
                w = d.wire()  # packets after the ban are skipped (judged already), not parsed: both were seen
                assert w["sip_messages"] + w["capture_skipped_banned"] >= 30, w
        finally:
            os.close(fd)


def test_capture_on_a_vlan_trunk(tmp_path):
    """A veth trunk carrying 802.1Q-tagged frames (VLAN 100), captured on the trunk itself. The far end
    writes the tagged frames through a packet socket, as a switch's trunk port delivers them (this also
    works where the kernel has no 8021q module for `ip link add ... type vlan`)."""
    with topology("swvl") as topo:
        run(["ip", "-n", topo.srv, "link", "add", "trunk0", "type", "veth", "peer", "name", "trunk1", "netns",
             topo.atk])
        run(["ip", "-n", topo.srv, "link", "set", "trunk0", "up"])
        run(["ip", "-n", topo.atk, "link", "set", "trunk1", "up"])
        box: list = []

        def make() -> None:
            enter_netns(topo.atk)
            box.append(socket.socket(socket.AF_PACKET, socket.SOCK_RAW))
        t = threading.Thread(target=make)
        t.start()
        t.join()
        raw = box[0]
        raw.bind(("trunk1", 0))
        head = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x66" + struct.pack("!HHH", 0x8100, 100, 0x0800)
        with CaptureDaemon(topo.srv, "trunk0", tmp_path) as d:
            try:
                for n in range(40):
                    raw.send(head + ipv4_udp(VLAN_ATK, VLAN_SRV, 5062, 5060, register(n, VLAN_ATK, VLAN_SRV)))
            finally:
                raw.close()
            d.wait(lambda: VLAN_ATK in d.banned(), "the flood seen on the VLAN trunk banned")


def test_capture_any_counts_loopback_once_and_sees_the_lab(tmp_path):
    with topology("swany") as topo, CaptureDaemon(topo.srv, "any", tmp_path) as d:
        lo = socket_in(topo.srv, socket.AF_INET)
        try:
            for n in range(10):
                lo.sendto(register(n, "127.0.0.1", "127.0.0.1"), ("127.0.0.1", 5060))
        finally:
            lo.close()
        d.wait(lambda: d.wire().get("sip_messages", 0) >= 10, "the loopback requests")
        time.sleep(0.5)
        assert d.wire()["sip_messages"] == 10  # not 20: loopback's outgoing copy is filtered in the kernel
        atk = socket_in(topo.atk, socket.AF_INET)
        atk.bind((ATK4, 5062))
        try:
            for n in range(40):
                atk.sendto(register(n, ATK4, SRV4), (SRV4, 5060))
        finally:
            atk.close()
        d.wait(lambda: ATK4 in d.banned(), "the flood seen through 'any' banned")
