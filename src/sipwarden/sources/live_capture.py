"""Live SIP capture: an AF_PACKET socket with a classic BPF filter, read by its own thread (root).

The kernel filter keeps only IPv4/IPv6 UDP and TCP to or from the SIP ports (both directions:
the PBX's 401/403/404 answers are evidence too), so userspace sees a small share of a busy
link; with no ports configured it keeps all UDP/TCP and userspace keeps what looks like SIP.
The lab measured such a sniffer at about 110k packets/s on one core. Kernel drops come from
PACKET_STATISTICS (which resets on read, so they are summed) and are shown in `status`.

Link types: Ethernet and loopback are read raw (SOCK_RAW) with a filter that skips the 14-byte
header or an inline 802.1Q/802.1ad tag (18 bytes); every other link (tun, WireGuard, PPP, GRE...)
and the "any" device are read cooked (SOCK_DGRAM: the kernel hands over packets from the IP
header whatever the link) with a filter that starts at the IP header. On "any" each loopback packet
shows twice (out, then in): the kernel filter drops the outgoing copy.

A packet socket sees packets before nftables drops them, so a banned source's packets still
arrive here. sipwarden filters them in userspace: a packet from a source the engine has already
decided (banned) is counted and skipped (see `decided`). That was chosen over an nftables
`log group N` (NFLOG) rule after the ban rule because it needs no extra firewall rule, works
with every ban backend (ipset, command, cloud firewalls), and the daemon knows its bans anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable

from ..addr import normalize
from ..parsers.sip import SipParseError, StreamFramer, looks_like_sip
from .feeder import SocketFeeder
from .handshakes import Handshakes

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
SO_ATTACH_FILTER = 26
RCVBUF = 8 << 20
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
MAX_FLOWS = 4096

Packet = tuple[float, str, int, str, int, str, bytes]  # time, src, sport, dst, dport, transport, payload

# classic BPF opcodes
LD_H_ABS, LD_B_ABS, LDX_B_MSH, LD_H_IND = 0x28, 0x30, 0xB1, 0x48
JEQ_K, JSET_K, RET_K = 0x15, 0x45, 0x06


# link layouts: "ether" frames (Ethernet, loopback; a VLAN tag may still be inline), or "ip" packets
# that start at the IP header (cooked SOCK_DGRAM sockets: tun, WireGuard, PPP, GRE, the "any" device)
ETHER, COOKED = "ether", "ip"
ARPHRD_ETHER, ARPHRD_LOOPBACK = 1, 772
ETHER_VLAN = (0x8100, 0x88A8)  # 802.1Q, 802.1ad
PACKET_OUTGOING = 4
SKF_AD = 0xFFFFF000  # classic BPF ancillary data (SKF_AD_OFF): +4 pkttype, +28 hatype
LD_W_ABS, AND_K = 0x20, 0x54


def sip_filter(ports: tuple[int, ...] | list[int], link: str = ETHER,
               any_device: bool = False) -> list[tuple[int, int, int, int]]:
    """A classic BPF program for `link` (ETHER frames, VLAN-tagged or not, or COOKED packets that
    start at the IP header): IPv4/IPv6 UDP or TCP, unfragmented, with source or destination port in
    `ports` (any port when empty). `any_device`: also drop loopback's outgoing copies (the "any"
    capture sees each loopback packet twice). (code, jt, jf, k) tuples."""
    ports = list(dict.fromkeys(ports))

    def port_block(load_s: tuple, load_d: tuple) -> list[tuple]:
        # returns a block ending in "accept" / "drop" labels resolved below
        if not ports:
            return [("ACCEPT",)]
        out: list[tuple] = [load_s]
        out += [("JEQ_ACCEPT", p) for p in ports]
        out.append(load_d)
        out += [("JEQ_ACCEPT", p) for p in ports]
        out.append(("DROP",))
        return out

    def v4(b: int) -> list[tuple]:
        out = [(LD_B_ABS, 0, 0, b + 9), ("JPROTO",), (LD_H_ABS, 0, 0, b + 6), ("JSET_DROP", 0x1FFF),
               (LDX_B_MSH, 0, 0, b)]
        return out + port_block((LD_H_IND, 0, 0, b), (LD_H_IND, 0, 0, b + 2))

    def v6(b: int) -> list[tuple]:
        return [(LD_B_ABS, 0, 0, b + 6), ("JPROTO",)] + port_block((LD_H_ABS, 0, 0, b + 40), (LD_H_ABS, 0, 0, b + 42))

    head: list[tuple] = []
    if any_device:  # loopback's outgoing copy: skip (its incoming copy is the one kept)
        head += [(LD_W_ABS, 0, 0, SKF_AD + 4), ("JEQ_TO", PACKET_OUTGOING, "outgoing"), ("GOTO", "link")]
    if link == ETHER:
        blocks = [("link", [(LD_H_ABS, 0, 0, 12), ("JEQ_TO", 0x0800, "v4"), ("JEQ_TO", 0x86DD, "v6"),
                            ("JEQ_TO", ETHER_VLAN[0], "vlan"), ("JEQ_TO", ETHER_VLAN[1], "vlan"), ("DROP",)]),
                  ("vlan", [(LD_H_ABS, 0, 0, 16), ("JEQ_TO", 0x0800, "v4q"), ("JEQ_TO", 0x86DD, "v6q"), ("DROP",)]),
                  ("v4", v4(14)), ("v6", v6(14)), ("v4q", v4(18)), ("v6q", v6(18))]
    else:
        blocks = [("link", [(LD_B_ABS, 0, 0, 0), (AND_K, 0, 0, 0xF0), ("JEQ_TO", 0x40, "v4"), ("JEQ_TO", 0x60, "v6"),
                            ("DROP",)]),
                  ("v4", v4(0)), ("v6", v6(0))]
    if any_device:  # falls through into "link" (classic BPF jumps forward only)
        blocks.insert(0, ("outgoing", [(LD_W_ABS, 0, 0, SKF_AD + 28), ("JEQ_DROP", ARPHRD_LOOPBACK)]))
    flat: list[tuple] = []
    starts: dict[str, int] = {}
    for name, b in [("head", head), *blocks]:
        starts[name] = len(flat)
        flat += b
    return _relayout(flat, starts)


def link_of(iface: str) -> str:
    """How frames on `iface` look to a packet socket: ETHER for Ethernet and loopback (a link header
    the filter skips), COOKED for everything else (tun, WireGuard, PPP...: read through SOCK_DGRAM,
    which hands over packets from the IP header whatever the link) and for "any"."""
    if iface == "any":
        return COOKED
    try:
        with open(f"/sys/class/net/{iface}/type") as f:
            hatype = int(f.read().strip())
    except (OSError, ValueError):
        return ETHER  # no sysfs: the bind below names a missing interface clearly
    return ETHER if hatype in (ARPHRD_ETHER, ARPHRD_LOOPBACK) else COOKED


def _relayout(flat: list[tuple], starts: dict[str, int]) -> list[tuple[int, int, int, int]]:
    sizes = [3 if ins[0] == "JPROTO" else 1 for ins in flat]
    pos = [0]
    for s in sizes:
        pos.append(pos[-1] + s)
    real = {name: pos[i] for name, i in starts.items()}
    accept, drop = pos[-1], pos[-1] + 1
    prog: list[tuple[int, int, int, int]] = []
    for ins in flat:
        i = len(prog)
        op = ins[0]
        if isinstance(op, int):
            prog.append(ins)  # type: ignore[arg-type]
        elif op == "ACCEPT":
            prog.append((0x05, 0, 0, accept - i - 1))
        elif op == "DROP":
            prog.append((0x05, 0, 0, drop - i - 1))
        elif op == "JEQ_TO":
            prog.append((JEQ_K, real[ins[2]] - i - 1, 0, ins[1]))
        elif op == "JEQ_DROP":
            prog.append((JEQ_K, drop - i - 1, 0, ins[1]))
        elif op == "GOTO":
            prog.append((0x05, 0, 0, real[ins[1]] - i - 1))
        elif op == "JEQ_ACCEPT":
            prog.append((JEQ_K, accept - i - 1, 0, ins[1]))
        elif op == "JSET_DROP":
            prog.append((JSET_K, drop - i - 1, 0, ins[1]))
        elif op == "JPROTO":
            prog += [(JEQ_K, 2, 0, 17), (JEQ_K, 1, 0, 6), (0x05, 0, 0, drop - i - 3)]
    prog += [(RET_K, 0, 0, 0x40000), (RET_K, 0, 0, 0)]
    return prog


def attach_filter(sock: socket.socket, prog: list[tuple[int, int, int, int]]) -> None:
    import ctypes
    raw = b"".join(struct.pack("HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(raw)
    fprog = struct.pack("HL", len(prog), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


class Frames:
    """Frames of one link layout (ETHER: Ethernet, one VLAN tag allowed; COOKED: from the IP header)
    -> SIP payloads with their transport addresses. Pure and bounded: TCP is cut into messages per
    flow by StreamFramer (in arrival order: a live capture has no history), and labelled "tcp" only
    on connections whose handshake was seen (see Handshakes), else UNVERIFIED."""

    def __init__(self, link: str = ETHER) -> None:
        self.link = link
        self.flows: OrderedDict[tuple[str, int, str, int], StreamFramer] = OrderedDict()
        self.handshakes = Handshakes()
        self.stream_errors = 0

    def packets(self, frame: bytes, t: float) -> list[Packet]:
        if self.link == ETHER:
            if len(frame) < 34:
                return []
            b, et = 14, (frame[12] << 8) | frame[13]
            if et in ETHER_VLAN and len(frame) >= 38:
                b, et = 18, (frame[16] << 8) | frame[17]
            version = 4 if et == 0x0800 else 6 if et == 0x86DD else 0
        else:
            b = 0
            version = frame[0] >> 4 if frame else 0
        if version == 4 and len(frame) >= b + 20:
            ihl = (frame[b] & 0x0F) * 4
            proto = frame[b + 9]
            if (struct.unpack_from("!H", frame, b + 6)[0] & 0x3FFF) or ihl < 20:
                return []  # fragments are not reassembled
            src = socket.inet_ntop(socket.AF_INET, frame[b + 12:b + 16])
            dst = socket.inet_ntop(socket.AF_INET, frame[b + 16:b + 20])
            l4 = b + ihl
        elif version == 6 and len(frame) >= b + 40:
            proto = frame[b + 6]
            src = normalize(socket.inet_ntop(socket.AF_INET6, frame[b + 8:b + 24])) or ""
            dst = normalize(socket.inet_ntop(socket.AF_INET6, frame[b + 24:b + 40])) or ""
            l4 = b + 40
        else:
            return []
        if len(frame) < l4 + 8:
            return []
        sport, dport = struct.unpack_from("!HH", frame, l4)
        if proto == 17:
            payload = frame[l4 + 8:]
            return [(t, src, sport, dst, dport, "udp", payload)] if looks_like_sip(payload) else []
        if proto != 6 or len(frame) < l4 + 20:
            return []
        off = (frame[l4 + 12] >> 4) * 4
        flags = frame[l4 + 13]
        data = frame[l4 + off:]
        key = (src, sport, dst, dport)
        hs = self.handshakes
        if flags & 0x10:  # ACK set: the SYN-ACK or the final ACK of a handshake
            seq, ack = struct.unpack_from("!II", frame, l4 + 4)
            hs.segment(key, flags, seq, ack)
        fr = self.flows.get(key)
        if fr is None:
            if not data or not looks_like_sip(data):
                if flags & 0x05:
                    hs.end(key)
                return []
            fr = self.flows[key] = StreamFramer()
            if len(self.flows) > MAX_FLOWS:
                self.flows.popitem(last=False)
        else:
            self.flows.move_to_end(key)
        out: list[Packet] = []
        for item in fr.feed_raw(data) if data else ():
            if isinstance(item, SipParseError):
                self.stream_errors += 1
            else:
                out.append((t, src, sport, dst, dport, hs.transport(key), item))
        if flags & 0x05:  # FIN or RST
            self.flows.pop(key, None)
            hs.end(key)
        return out


class Capture(SocketFeeder):
    """One interface captured by its own thread; batches of SIP packets reach `deliver` on the loop."""

    def __init__(self, iface: str, ports: tuple[int, ...], loop: asyncio.AbstractEventLoop,
                 deliver: Callable[[list[Packet]], None], decided: Callable[[str], bool] | None = None) -> None:
        self.iface = iface
        self.link = link_of(iface)
        self.decided = decided
        self.frames = Frames(self.link)
        self.kernel_drops = 0
        self.kernel_packets = 0
        self.skipped_banned = 0
        self._stats_lock = threading.Lock()
        kind = socket.SOCK_RAW if self.link == ETHER else socket.SOCK_DGRAM  # DGRAM: the kernel strips the link
        s = socket.socket(socket.AF_PACKET, kind, socket.htons(ETH_P_ALL))
        try:
            # the filter matches the socket's layout; attached before bind: nothing unfiltered is queued
            attach_filter(s, sip_filter(ports, self.link, any_device=iface == "any"))
            try:
                s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
            except OSError:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            if iface != "any":  # an unbound packet socket sees every interface
                s.bind((iface, 0))
        except OSError:
            s.close()
            raise
        super().__init__(s, loop, deliver, f"capture-{iface}")

    def decode(self, frame: bytes, now: float) -> list[Packet]:
        try:
            return self.frames.packets(frame, now)
        except (ValueError, IndexError, struct.error):
            return []

    def keep(self, batch: list[Packet]) -> list[Packet]:
        decided = self.decided
        if decided is None:
            return batch
        kept = [p for p in batch if not decided(p[1])]  # a banned source's packets never reached the PBX
        self.skipped_banned += len(batch) - len(kept)
        return kept

    def drops(self) -> int:
        """Packets the kernel dropped so far (socket queue full), summed over reads."""
        with self._stats_lock:
            with contextlib.suppress(OSError):
                packets, dropped = struct.unpack("II", self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
                self.kernel_packets += packets
                self.kernel_drops += dropped
            return self.kernel_drops

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.drops()  # the last kernel figures before the socket goes
        self.sock.close()
