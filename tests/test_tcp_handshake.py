"""Captured TCP proves a round trip only with its handshake: a forged lone segment (which the
kernel drops but a packet socket sees) names a victim, so its source stays unproven. Live
(Frames) and offline (read_capture) alike."""

from __future__ import annotations

import dpkt
import pytest

from sipwarden.detect.engine import Engine
from sipwarden.parsers.packets import PacketIntake
from sipwarden.sources import handshakes
from sipwarden.sources.handshakes import UNVERIFIED, Handshakes
from sipwarden.sources.live_capture import Frames
from sipwarden.sources.pcap import read_capture

PBX, VICTIM = "198.51.100.1", "203.0.113.5"
REGISTER = (b"REGISTER sip:pbx SIP/2.0\r\nVia: SIP/2.0/TCP 203.0.113.5\r\nFrom: <sip:1001@pbx>\r\n"
            b"To: <sip:1001@pbx>\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n")
ANSWER = (b"SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/TCP 203.0.113.5\r\nFrom: <sip:1001@pbx>\r\n"
          b"To: <sip:1001@pbx>\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n")
S = dpkt.tcp.TH_SYN
A = dpkt.tcp.TH_ACK
PA = dpkt.tcp.TH_PUSH | A


def seg(src: str, sport: int, dst: str, dport: int, flags: int, seq: int, ack: int, data: bytes = b"") -> bytes:
    tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, data=data)
    ip = dpkt.ip.IP(src=bytes(map(int, src.split("."))), dst=bytes(map(int, dst.split("."))), p=6, data=tcp)
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=0x0800, data=ip))


def handshake(port: int, ack_guess: int | None = None) -> list[bytes]:
    """SYN, SYN-ACK (server ISN 5000), final ACK (or a guessed one), REGISTER, the PBX's 401."""
    ack = 5001 if ack_guess is None else ack_guess
    return [seg(VICTIM, port, PBX, 5060, S, 100, 0), seg(PBX, 5060, VICTIM, port, S | A, 5000, 101),
            seg(VICTIM, port, PBX, 5060, A, 101, ack), seg(VICTIM, port, PBX, 5060, PA, 101, ack, REGISTER),
            seg(PBX, 5060, VICTIM, port, PA, 5001, 101 + len(REGISTER), ANSWER)]


def forged(port: int) -> list[bytes]:
    """One segment, no handshake: what an attacker sends from the victim's address."""
    return [seg(VICTIM, port, PBX, 5060, PA, 777, 999, REGISTER)]


def live(frames: list[bytes]) -> list[tuple]:
    f = Frames()
    return [p for i, fr in enumerate(frames) for p in f.packets(fr, 1000.0 + i / 100)]


def offline(frames: list[bytes], tmp_path) -> list[tuple]:
    path = tmp_path / "c.pcap"
    with open(path, "wb") as fh:
        w = dpkt.pcap.Writer(fh)
        for i, fr in enumerate(frames):
            w.writepkt(fr, ts=1000.0 + i / 100)
    return list(read_capture(path))


def verdicts(packets: list[tuple]) -> list:
    """Feed the packets, then a UDP flood from the same source: the flood's verdict tells whether
    the TCP part proved the source."""
    intake, e = PacketIntake(pbx={PBX}), Engine()
    out = []
    for t, src, sport, dst, dport, tr, payload in packets:
        for ev in intake.sip(payload, src, sport, dst, dport, t, tr, "capture"):
            out += e.feed(ev)
    for i in range(30):
        for ev in intake.sip(REGISTER, VICTIM, 5060, PBX, 5060, 1001 + i / 30, "udp", "capture"):
            out += e.feed(ev)
    return [(v.ip, v.proven) for v in out]


@pytest.mark.parametrize("read", ["live", "offline"])
def test_forged_lone_segment_is_not_proof(read, tmp_path):
    frames = [fr for p in range(40000, 40003) for fr in forged(p)]
    pkts = live(frames) if read == "live" else offline(frames, tmp_path)
    assert [(p[1], p[5], p[6]) for p in pkts] == [(VICTIM, UNVERIFIED, REGISTER)] * 3  # still seen as requests
    assert verdicts(pkts) == [(VICTIM, False)]


@pytest.mark.parametrize("read", ["live", "offline"])
def test_seen_handshake_is_proof(read, tmp_path):
    frames = handshake(40000)
    pkts = live(frames) if read == "live" else offline(frames, tmp_path)
    assert [(p[1], p[5], p[6]) for p in pkts] == [(VICTIM, "tcp", REGISTER), (PBX, "tcp", ANSWER)]
    assert verdicts(pkts) == [(VICTIM, True)]


@pytest.mark.parametrize("read", ["live", "offline"])
def test_forged_syn_then_data_is_not_proof(read, tmp_path):
    """A forged SYN makes the PBX send a real SYN-ACK (to the victim): the attacker cannot know its
    sequence number, so a guessed final ACK or data without it proves nothing."""
    syn_ack_only = handshake(40001)[:2] + forged(40001)
    for frames in (handshake(40000, ack_guess=4242)[:4], syn_ack_only):
        pkts = live(frames) if read == "live" else offline(frames, tmp_path)
        assert [p[5] for p in pkts] == [UNVERIFIED]
        assert verdicts(pkts) == [(VICTIM, False)]


def test_mid_stream_reset_and_bounds(monkeypatch):
    h = Handshakes()
    k = (VICTIM, 40000, PBX, 5060)
    assert h.transport(k) == UNVERIFIED  # mid-stream: unproven
    h.segment((PBX, 5060, VICTIM, 40000), S | A, 5000, 101)
    h.segment(k, A, 101, 5001)
    assert h.transport(k) == h.transport((PBX, 5060, VICTIM, 40000)) == "tcp"
    h.end((PBX, 5060, VICTIM, 40000))
    assert h.transport(k) == UNVERIFIED and not h.pending
    monkeypatch.setattr(handshakes, "MAX_HANDSHAKES", 4)
    for p in range(10):  # a SYN-ACK flood fills only the pending table
        h.segment((PBX, 5060, VICTIM, p), S | A, p, 0)
    assert len(h.pending) == 4 and list(h.pending)[0] == (VICTIM, 6, PBX, 5060)
    for p in range(6, 10):
        h.segment((VICTIM, p, PBX, 5060), A, 0, p + 1)
    assert len(h.proven) == 4 and not h.pending
    h.segment((PBX, 5060, VICTIM, 1), S | A, 0, 0)
    h.segment((VICTIM, 1, PBX, 5060), A, 0, 1)
    assert len(h.proven) == 4 and h.transport((VICTIM, 6, PBX, 5060)) == UNVERIFIED
