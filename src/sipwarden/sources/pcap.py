"""SIP from capture files (pcap / pcapng, optionally gzip'd): the I/O edge of the wire parsers.

Reading is dpkt's; everything after the link layer is ours and bounded: UDP payloads that look
like SIP are yielded as they are, TCP streams are cut into messages per flow (a minimal
reassembly: in-order segments, retransmissions trimmed, a gap restarts the flow at the next
message start; labelled "tcp" only on connections whose handshake the capture holds, else
"tcp-unverified": see handshakes.py), and HEP datagrams are yielded whole, with transport "hep" and the
capture's own time and addresses, for PacketIntake.hep to open (the one HEP path, as in the daemon's
listener: its key check, its future-time rule, its counters).

A capture holding both the raw traffic and its HEP copy (as the Asterisk corpus does) would
yield each exchanged message twice: pass `hep=False` or `sip=False` to pick one view.
"""

from __future__ import annotations

import gzip
import socket
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import dpkt

from ..addr import normalize
from ..parsers.hep import is_hep
from ..parsers.sip import SipParseError, StreamFramer, looks_like_sip
from .filetype import PCAP_MAGICS, PCAPNG_MAGIC
from .handshakes import Handshakes

HEP_PORT = 9060
MAX_FLOWS = 4096  # TCP flows reassembled at once; least recently active dropped first

Packet = tuple[float, str, int, str, int, str, bytes]  # time, src, sport, dst, dport, transport, payload
HEP = "hep"  # a Packet's transport when its payload is a whole HEP datagram (for PacketIntake.hep)



class CaptureError(Exception):
    """A capture file that cannot be read, phrased for the operator."""


class _Flow:
    __slots__ = ("framer", "next_seq")

    def __init__(self) -> None:
        self.framer = StreamFramer()
        self.next_seq: int | None = None


class CaptureStats:
    """What a read skipped, for `scan` to report (a silent skip would look like a quiet network)."""

    def __init__(self) -> None:
        self.packets = 0
        self.undecodable = 0  # link/IP layers dpkt could not read
        self.fragments = 0  # IP fragments (not reassembled)
        self.stream_errors = 0  # TCP framing errors (oversized or unframeable streams)


def read_capture(path: str | Path, *, hep: bool = True, sip: bool = True,
                 stats: CaptureStats | None = None) -> Iterator[Packet]:
    """Yield (time, src, sport, dst, dport, transport, payload) for each SIP message in a capture.

    `hep`: yield HEP datagrams (udp 9060 or a `HEP3` payload) whole, transport `HEP`, with the
    capture's time and UDP addresses (PacketIntake.hep opens them). `sip`: yield SIP carried
    directly over UDP/TCP.
    """
    st = stats if stats is not None else CaptureStats()
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in the finally below
    except OSError as e:
        raise CaptureError(f"cannot open capture {path}: {e.strerror}") from None
    try:
        raw = fh
        if fh.read(2) == b"\x1f\x8b":
            fh.seek(0)
            raw = gzip.GzipFile(fileobj=fh)  # type: ignore[assignment]
        else:
            fh.seek(0)
        try:
            magic = raw.read(4)
            raw.seek(0)
            if magic == PCAPNG_MAGIC:
                reader = dpkt.pcapng.Reader(raw)
            elif magic in PCAP_MAGICS:
                reader = dpkt.pcap.Reader(raw)
            else:
                raise CaptureError(f"{path}: not a pcap or pcapng file")
        except (ValueError, OSError, dpkt.dpkt.Error) as e:
            raise CaptureError(f"{path}: unreadable capture header: {e}") from None
        yield from _packets(reader, reader.datalink(), hep, sip, st)
    except (EOFError, OSError, gzip.BadGzipFile) as e:
        raise CaptureError(f"{path}: capture ends badly: {e}") from None
    finally:
        fh.close()


def _packets(reader: object, linktype: int, hep: bool, sip: bool, st: CaptureStats) -> Iterator[Packet]:
    flows: OrderedDict[tuple[str, int, str, int], _Flow] = OrderedDict()
    hs = Handshakes()
    for dts, frame in reader:  # type: ignore[attr-defined]
        st.packets += 1
        ts = float(dts)  # dpkt gives a Decimal for nanosecond pcaps: event times are floats
        try:
            ip = _network_layer(linktype, frame)
        except (dpkt.dpkt.Error, ValueError, IndexError, KeyError, TypeError, AttributeError):
            st.undecodable += 1
            continue
        if ip is None:
            continue
        if isinstance(ip, dpkt.ip.IP):
            if ip.mf or ip.offset:
                st.fragments += 1
                continue
            src, dst = socket.inet_ntop(socket.AF_INET, ip.src), socket.inet_ntop(socket.AF_INET, ip.dst)
        else:
            src = normalize(socket.inet_ntop(socket.AF_INET6, ip.src)) or ""
            dst = normalize(socket.inet_ntop(socket.AF_INET6, ip.dst)) or ""
        l4 = ip.data
        if isinstance(l4, dpkt.udp.UDP):
            payload = bytes(l4.data)
            if not payload:
                continue
            if l4.dport == HEP_PORT or l4.sport == HEP_PORT or payload[:4] == b"HEP3":
                if hep and is_hep(payload):
                    yield ts, src, l4.sport, dst, l4.dport, HEP, payload
                continue
            if sip and looks_like_sip(payload):
                yield ts, src, l4.sport, dst, l4.dport, "udp", payload
        elif isinstance(l4, dpkt.tcp.TCP) and sip:
            yield from _tcp(flows, hs, ts, src, dst, l4, st)


def _network_layer(linktype: int, frame: bytes) -> dpkt.ip.IP | dpkt.ip6.IP6 | None:
    if linktype == dpkt.pcap.DLT_EN10MB:
        pkt = dpkt.ethernet.Ethernet(frame).data
    elif linktype == dpkt.pcap.DLT_LINUX_SLL:
        pkt = dpkt.sll.SLL(frame).data
    elif linktype == 276:  # LINKTYPE_LINUX_SLL2
        pkt = dpkt.sll2.SLL2(frame).data
    elif linktype in (dpkt.pcap.DLT_NULL, dpkt.pcap.DLT_LOOP):
        pkt = dpkt.loopback.Loopback(frame).data
    elif linktype in (dpkt.pcap.DLT_RAW, 12, 14, 228, 229):  # raw IP (value differs by platform)
        v = frame[0] >> 4 if frame else 0
        pkt = dpkt.ip.IP(frame) if v == 4 else dpkt.ip6.IP6(frame) if v == 6 else None
    else:
        return None
    return pkt if isinstance(pkt, dpkt.ip.IP | dpkt.ip6.IP6) else None


def _tcp(flows: OrderedDict[tuple[str, int, str, int], _Flow], hs: Handshakes, ts: float, src: str, dst: str,
         tcp: dpkt.tcp.TCP, st: CaptureStats) -> Iterator[Packet]:
    key = (src, tcp.sport, dst, tcp.dport)
    data = bytes(tcp.data)
    flags = tcp.flags
    if flags & dpkt.tcp.TH_ACK:
        hs.segment(key, flags, tcp.seq, tcp.ack)
    flow = flows.get(key)
    if flow is None:
        if not (flags & dpkt.tcp.TH_SYN) and not (data and looks_like_sip(data)):
            if flags & (dpkt.tcp.TH_FIN | dpkt.tcp.TH_RST):
                hs.end(key)
            return  # mid-stream and not at a message start: wait for one
        flow = flows[key] = _Flow()
        if len(flows) > MAX_FLOWS:
            flows.popitem(last=False)
    else:
        flows.move_to_end(key)
    seq = tcp.seq
    if tcp.flags & dpkt.tcp.TH_SYN:
        flow.next_seq = (seq + 1) & 0xFFFFFFFF
    elif data:
        if flow.next_seq is not None:
            diff = (seq - flow.next_seq) & 0xFFFFFFFF
            if diff >= 0x80000000:  # retransmission / overlap: keep only the new bytes
                behind = 0x100000000 - diff
                data = data[behind:]
                seq = flow.next_seq
            elif diff:  # a gap: what was missed cannot be framed; restart at a message start
                flow.framer = StreamFramer()
                if not looks_like_sip(data):
                    flow.next_seq = (seq + len(data)) & 0xFFFFFFFF
                    data = b""
        if data:
            flow.next_seq = (seq + len(data)) & 0xFFFFFFFF
            for item in flow.framer.feed_raw(data):
                if isinstance(item, SipParseError):
                    st.stream_errors += 1
                else:
                    yield ts, src, tcp.sport, dst, tcp.dport, hs.transport(key), item
    if flags & (dpkt.tcp.TH_FIN | dpkt.tcp.TH_RST):
        flows.pop(key, None)
        hs.end(key)
