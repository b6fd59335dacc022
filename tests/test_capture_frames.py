"""Frames of each link layout a live capture reads (pure): Ethernet, an inline VLAN tag, raw IP."""

from __future__ import annotations

import socket
import struct

from sipwarden.sources.live_capture import COOKED, ETHER, Frames, sip_filter

MSG = b"REGISTER sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n"


def ip4() -> bytes:
    udp = struct.pack("!HHHH", 5062, 5060, 8 + len(MSG), 0) + MSG
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, socket.inet_aton("198.18.0.66"),
                       socket.inet_aton("198.18.0.1")) + udp


def ip6() -> bytes:
    udp = struct.pack("!HHHH", 5062, 5060, 8 + len(MSG), 0) + MSG
    return (struct.pack("!IHBB", 6 << 28, len(udp), 17, 64) + socket.inet_pton(socket.AF_INET6, "fd00::66")
            + socket.inet_pton(socket.AF_INET6, "fd00::1") + udp)


def test_every_layout_gives_the_same_packet():
    want4 = [(1.0, "198.18.0.66", 5062, "198.18.0.1", 5060, "udp", MSG)]
    want6 = [(1.0, "fd00::66", 5062, "fd00::1", 5060, "udp", MSG)]
    mac = b"\x00" * 12
    assert Frames(ETHER).packets(mac + b"\x08\x00" + ip4(), 1.0) == want4
    assert Frames(ETHER).packets(mac + b"\x81\x00\x00\x64\x08\x00" + ip4(), 1.0) == want4  # 802.1Q, VLAN 100
    assert Frames(ETHER).packets(mac + b"\x88\xa8\x00\x64\x86\xdd" + ip6(), 1.0) == want6  # 802.1ad
    assert Frames(COOKED).packets(ip4(), 1.0) == want4  # tun, WireGuard, PPP, "any"
    assert Frames(COOKED).packets(ip6(), 1.0) == want6
    assert Frames(ETHER).packets(ip4(), 1.0) == []  # a raw IP packet read as Ethernet is junk, not a guess
    for junk in (b"", b"\x45", b"\x60" + b"\x00" * 10, b"\x00" * 60):
        assert Frames(COOKED).packets(junk, 1.0) == []


def test_filters_differ_by_layout_and_jump_forward_only():
    for prog in (sip_filter([5060], ETHER), sip_filter([5060], COOKED), sip_filter([5060], COOKED, any_device=True),
                 sip_filter([], ETHER, any_device=True)):
        for i, (code, jt, jf, k) in enumerate(prog):
            if code == 0x05:  # ja: forward, inside the program
                assert 0 <= k < len(prog) - i - 1
            elif code & 0x07 == 0x05:  # conditional jumps
                assert i + 1 + max(jt, jf) < len(prog)
        assert prog[-2][0] == 0x06 and prog[-1] == (0x06, 0, 0, 0)
    assert sip_filter([5060], ETHER) != sip_filter([5060], COOKED)
