"""The fixed-layout HEP v3 read gives exactly what the generic chunk walk gives (values or HepError),
on real agents' datagrams, generated layouts and hostile mutations of them."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipwarden.parsers import hep as hep_mod
from sipwarden.parsers.hep import HepError, HepPacket, check_auth_key, decode_hep, hep_fields, key_matches
from sipwarden.parsers.packets import PacketIntake

DATA = Path(__file__).parent / "data" / "asterisk20"
PROPS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SIP = b"REGISTER sip:127.0.0.1 SIP/2.0\r\nFrom: <sip:1001@127.0.0.1>\r\nTo: <sip:1001@127.0.0.1>\r\nCSeq: 1 REGISTER\r\n\r\n"


def outcome(data: bytes, fixed: bool) -> tuple:
    try:
        return ("ok", hep_fields(data, fixed=fixed))
    except HepError:
        return ("error",)


def same(data: bytes) -> tuple:
    fast, generic = outcome(data, True), outcome(data, False)
    assert fast == generic, data
    return fast


def fixed_layout_of(data: bytes) -> int | None:
    """Index of the fixed layout `data` takes, or None (generic walk)."""
    for i, (hs, want, _vs, size, _get) in enumerate(hep_mod._LAYOUTS):
        if size + 6 <= len(data) and hs.unpack_from(data, 6) == want:
            return i
    return None


def corpus_datagrams() -> list[bytes]:
    out = []
    for f in sorted(DATA.glob("*/hep.bin.gz")):
        data, pos = gzip.decompress(f.read_bytes()), 0
        while pos < len(data):
            (n,) = struct.unpack_from("!I", data, pos)
            out.append(data[pos + 4:pos + 4 + n])
            pos += 4 + n
    return out


CORPUS = corpus_datagrams()


def test_real_asterisk_datagrams_take_the_fixed_layout_and_agree():
    assert len(CORPUS) > 1000
    assert {fixed_layout_of(g) for g in CORPUS} == {0}  # res_hep's IPv4 order: what the benchmark measures
    for g in CORPUS:
        kind, f = same(g)
        assert kind == "ok" and f[3].startswith("127.") and f[5].startswith("127.")
    p = decode_hep(CORPUS[0])
    assert isinstance(p, HepPacket) and (p.auth_key, p.node_name) == ("devcorpus-hep", "pbx-dev")


def chunk(ctype: int, value: bytes, vendor: int = 0) -> bytes:
    return struct.pack("!HHH", vendor, ctype, 6 + len(value)) + value


def hep3(chunks: list[bytes]) -> bytes:
    body = b"".join(chunks)
    return b"HEP3" + struct.pack("!H", 6 + len(body)) + body


ORDERS = [(1, 2, 7, 8, 9, 10, 11, 12, 3, 4), (1, 2, 7, 8, 9, 10, 11, 12, 5, 6), (1, 2, 3, 4, 7, 8, 9, 10, 11, 12),
          (1, 2, 5, 6, 7, 8, 9, 10, 11, 12), (1, 2, 3, 4, 7, 8, 9, 10, 11, 12)]
SIZES = {1: 1, 2: 1, 3: 4, 4: 4, 5: 16, 6: 16, 7: 2, 8: 2, 9: 4, 10: 4, 11: 1, 12: 4}


@st.composite
def datagrams(draw) -> bytes:
    """An agent's datagram in one of the fixed orders (or a near miss), values and tail drawn."""
    order = list(draw(st.sampled_from(ORDERS)))
    if draw(st.booleans()):  # a near miss: two chunks swapped, one dropped or one duplicated
        i, j = draw(st.integers(0, 9)), draw(st.integers(0, 9))
        what = draw(st.sampled_from(["swap", "drop", "dup"]))
        if what == "swap":
            order[i], order[j] = order[j], order[i]
        elif what == "drop":
            del order[i]
        else:
            order.insert(j, order[i])
    chunks = []
    for t in order:
        size = SIZES[t]
        if t == 1:
            value = bytes([draw(st.sampled_from([2, 10, 0, 7]))])
        else:
            value = draw(st.binary(min_size=size, max_size=size))
        if draw(st.integers(0, 19)) == 0:  # a wrong length or a vendor's chunk of the same type
            value = draw(st.binary(max_size=20))
        vendor = 0x21 if draw(st.integers(0, 19)) == 0 else 0
        chunks.append(chunk(t, value, vendor))
    tail = draw(st.lists(st.sampled_from([14, 15, 16, 17, 19, 3, 7, 12, 99]), max_size=6))
    for t in tail:
        if t == 15:
            chunks.append(chunk(15, draw(st.sampled_from([SIP, b"", b"junk"]))))
        elif t == 16:
            chunks.append(chunk(16, draw(st.sampled_from([zlib.compress(SIP), b"x\x9cjunk"]))))
        else:
            chunks.append(chunk(t, draw(st.binary(max_size=SIZES.get(t, 24)))))
    if draw(st.booleans()):
        chunks.append(chunk(15, SIP))
    return hep3(chunks)


@PROPS
@given(datagrams())
def test_generated_layouts_agree(data):
    same(data)


@PROPS
@given(datagrams(), st.lists(st.tuples(st.integers(0, 200), st.binary(min_size=1, max_size=3)), min_size=1,
                             max_size=4), st.integers(0, 400))
def test_mutated_and_truncated_agree(data, edits, cut):
    b = bytearray(data)
    for pos, patch in edits:
        p = pos % len(b)
        b[p:p + len(patch)] = patch
    same(bytes(b))
    same(bytes(b[:cut]))
    short = data[:cut]  # a truncated datagram whose total length still claims the whole one
    same(short)
    if len(short) >= 6:
        same(short[:4] + struct.pack("!H", len(short)) + short[6:])


@PROPS
@given(st.sampled_from(CORPUS), st.lists(st.tuples(st.integers(0, 120), st.binary(min_size=1, max_size=3)),
                                         min_size=1, max_size=3))
def test_mutated_real_datagrams_agree(g, edits):
    b = bytearray(g)
    for pos, patch in edits:
        b[pos % len(b):pos % len(b) + len(patch)] = patch
    same(bytes(b))


def test_each_fixed_layout_is_taken_and_matches():
    for k, order in enumerate(ORDERS[:4]):
        vals = {1: b"\x02" if 3 in order else b"\x0a", 2: b"\x11", 3: bytes([127, 0, 1, 50]), 4: bytes([127, 0, 0, 1]),
                5: bytes(15) + b"\x02", 6: bytes(15) + b"\x01", 7: b"\x13\xc6", 8: b"\x13\xce", 9: b"\x6b\x05\xec\xb4",
                10: b"\x00\x07\xa1\x20", 11: b"\x01", 12: b"\x00\x00\x04\xd2"}
        g = hep3([chunk(t, vals[t]) for t in order] + [chunk(14, b"pw"), chunk(15, SIP)])
        assert fixed_layout_of(g) == k
        kind, f = same(g)
        assert kind == "ok" and f[4] == 5062 and f[6] == 5070 and f[9] == 1234 and f[10] == b"pw"
        assert f[3] == ("127.0.1.50" if 3 in order else "::2")


def test_intake_password_check_is_check_auth_key():
    g = hep3([chunk(1, b"\x02"), chunk(2, b"\x11"), chunk(7, b"\x13\xc6"), chunk(8, b"\x13\xc4"),
              chunk(9, b"\x6b\x05\xec\xb4"), chunk(10, b"\x00\x00\x00\x00"), chunk(11, b"\x01"),
              chunk(12, b"\x00\x00\x04\xd2"), chunk(3, bytes([127, 0, 1, 50])), chunk(4, bytes([127, 0, 0, 1])),
              chunk(14, b"s\xe9cret\x00"), chunk(15, SIP)])
    p = decode_hep(g)
    for expected in ("s\ufffdcret", "secret", "", None, "s\xe9cret"):
        assert key_matches(hep_fields(g)[10], expected) == check_auth_key(p, expected)
    assert PacketIntake(hep_password="secret").hep(g, 1.8e9) == []
    ok = PacketIntake(hep_password="s\ufffdcret")
    evs = ok.hep(g, 1.8e9)
    assert [(e.ip, e.method) for e in evs] == [("127.0.1.50", "REGISTER")]
    assert ok.counters["hep_packets"] == 1


@pytest.mark.parametrize("g", [b"", b"HEP3", b"HEP3\x00\x06", b"\x02\x10\x02\x11" + bytes(12)])
def test_small_inputs_agree(g):
    same(g)


def test_datagram_shorter_than_every_layout_is_still_read():
    g = hep3([chunk(3, bytes([127, 0, 1, 50])), chunk(4, bytes([127, 0, 0, 1])), chunk(7, b"\x13\xc6"),
              chunk(8, b"\x13\xc4"), chunk(15, b"")])
    assert len(g) < min(size for _h, _w, _v, size, _g in hep_mod._LAYOUTS)
    assert same(g)[0] == "ok"
