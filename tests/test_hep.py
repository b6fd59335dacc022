"""HEP v3/v2 decoding: fields, trusted addresses, and junk/truncation -> HepError only."""

from __future__ import annotations

import struct

import pytest

from sipwarden.parsers.hep import HepError, check_auth_key, decode_hep, is_hep

SIP = b"OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 6.6.6.6:5060\r\nContent-Length: 0\r\n\r\n"


def chunk(ctype: int, value: bytes, vendor: int = 0) -> bytes:
    return struct.pack("!HHH", vendor, ctype, 6 + len(value)) + value


def hep3(*chunks: bytes) -> bytes:
    body = b"".join(chunks)
    return b"HEP3" + struct.pack("!H", 6 + len(body)) + body


def v4_chunks(payload: bytes = SIP) -> list[bytes]:
    return [chunk(1, b"\x02"), chunk(2, b"\x11"), chunk(3, bytes([127, 0, 1, 50])), chunk(4, bytes([127, 0, 0, 1])),
            chunk(7, struct.pack("!H", 5062)), chunk(8, struct.pack("!H", 5070)),
            chunk(9, struct.pack("!I", 1795550532)), chunk(10, struct.pack("!I", 500000)), chunk(11, b"\x01"),
            chunk(12, struct.pack("!I", 1234)), chunk(14, b"devcorpus-hep"), chunk(15, payload),
            chunk(17, b"1-2@h"), chunk(19, b"pbx-dev"), chunk(99, b"vendor", vendor=0x0021)]


def test_v3_fields():
    p = decode_hep(hep3(*v4_chunks()))
    assert (p.version, p.family, p.proto, p.src_ip, p.src_port, p.dst_ip, p.dst_port) == (
        3, 2, "udp", "127.0.1.50", 5062, "127.0.0.1", 5070)
    assert p.ts == pytest.approx(1795550532.5) and p.proto_type == 1 and p.capture_id == 1234
    assert (p.auth_key, p.correlation_id, p.node_name, p.payload) == ("devcorpus-hep", "1-2@h", "pbx-dev", SIP)
    assert check_auth_key(p, "devcorpus-hep") and not check_auth_key(p, "other") and check_auth_key(p, None)


def test_v3_ipv6_and_tcp():
    a6 = bytes(15) + b"\x01"
    p = decode_hep(hep3(chunk(1, b"\x0a"), chunk(2, b"\x06"), chunk(5, bytes(16)[:-1] + b"\x02"), chunk(6, a6),
                        chunk(7, b"\x13\xc4"), chunk(8, b"\x13\xc4"), chunk(15, SIP)))
    assert (p.family, p.proto, p.src_ip, p.dst_ip, p.ts) == (10, "tcp", "::2", "::1", None)


def test_v3_compressed_payload():
    import zlib
    p = decode_hep(hep3(*v4_chunks()[:-4], chunk(16, zlib.compress(SIP))))
    assert p.payload == SIP


def test_v2():
    hdr = struct.pack("!BBBBHH", 2, 28, 2, 17, 5062, 5060) + bytes([127, 0, 1, 20]) + bytes([127, 0, 0, 1])
    hdr += struct.pack("<IIH", 1795550532, 250000, 7) + b"\x00\x00"
    p = decode_hep(hdr + SIP)
    assert (p.version, p.src_ip, p.src_port, p.dst_port, p.capture_id, p.payload) == (2, "127.0.1.20", 5062, 5060, 7, SIP)
    assert p.ts == pytest.approx(1795550532.25) and is_hep(hdr + SIP)


@pytest.mark.parametrize("data", [
    b"", b"HEP", b"HEP3\x00", b"junk at all", b"\x05\x00\x00",
    hep3(*v4_chunks())[:-1],  # truncated: total length no longer matches
    hep3(*v4_chunks()) + b"x",  # trailing garbage
    b"HEP3\x00\x0c" + struct.pack("!HHH", 0, 1, 200),  # chunk runs past the total
    b"HEP3\x00\x0c" + struct.pack("!HHH", 0, 1, 3),  # chunk shorter than its own header
    hep3(*[c for c in v4_chunks() if c[3] != 3]),  # no source address
    hep3(*[c for c in v4_chunks() if c[3] != 15]),  # no payload
    hep3(*v4_chunks()[:-4], chunk(16, b"not zlib")),
    hep3(chunk(1, b"\x02\x02")),  # family with the wrong length
    struct.pack("!BBBBHH", 2, 99, 2, 17, 1, 1),  # v2 with a bad header length
])
def test_junk_is_hep_error(data):
    with pytest.raises(HepError):
        decode_hep(data)


def test_payload_inside_is_never_the_address():
    p = decode_hep(hep3(*v4_chunks()))
    assert "6.6.6.6" in p.payload.decode() and p.src_ip == "127.0.1.50"
