"""Hostile bytes into the HEP decoder and the AMI stream: their own errors or values, nothing else."""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipwarden.events import Event
from sipwarden.parsers.ami import MAX_BUFFER, AmiStream, security_event
from sipwarden.parsers.hep import HepError, decode_hep

CORPUS = Path(__file__).parent / "corpus"
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _chunk(ctype: int, value: bytes) -> bytes:
    return struct.pack("!HHH", 0, ctype, 6 + len(value)) + value


_BODY = b"".join([_chunk(1, b"\x02"), _chunk(2, b"\x11"), _chunk(3, b"\x7f\x00\x01\x32"), _chunk(4, b"\x7f\x00\x00\x01"),
                  _chunk(7, b"\x13\xc4"), _chunk(8, b"\x13\xce"), _chunk(9, b"\x6b\x05\xec\xb4"),
                  _chunk(14, b"devcorpus-hep"), _chunk(15, b"OPTIONS sip:h SIP/2.0\r\n\r\n")])
HEP = b"HEP3" + struct.pack("!H", 6 + len(_BODY)) + _BODY
AMI = (b"Asterisk Call Manager/9.0.0\r\nEvent: InvalidAccountID\r\nEventTV: 2026-11-24T20:01:35.109+0000\r\n"
       b"Service: SIP\r\nAccountID: 7708\r\nRemoteAddress: IPV4/UDP/127.0.1.10/5061\r\n"
       b"LocalAddress: IPV4/UDP/127.0.0.1/5060\r\nRemoteAddress: IPV4/UDP/127.0.1.50/54635\r\n\r\n")
REAL_TAIL = b"\r\nLocalAddress: IPV4/UDP/127.0.0.1/5060\r\nRemoteAddress: IPV4/UDP/127.0.1.50/54635\r\n\r\n"


def hep_or_error(data: bytes) -> None:
    with contextlib.suppress(HepError):
        decode_hep(data)


@FAST
@given(st.binary(max_size=2048))
def test_hep_arbitrary_bytes(data):
    hep_or_error(data)
    hep_or_error(b"HEP3" + data)


@FAST
@given(st.lists(st.tuples(st.integers(0, 400), st.binary(min_size=1, max_size=4)), min_size=1, max_size=6))
def test_hep_mutated(edits):
    data = bytearray(HEP)
    for pos, chunk in edits:
        p = pos % len(data)
        data[p:p + len(chunk)] = chunk
    hep_or_error(bytes(data))


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.hep")), ids=lambda p: p.name)
def test_hep_kept_corpus(path):
    with pytest.raises(HepError):
        decode_hep(path.read_bytes())


def ami_all(data: bytes, step: int) -> list:
    s = AmiStream()
    msgs = []
    for i in range(0, len(data), step):
        msgs += s.feed(data[i:i + step])
        assert len(s._buf) <= MAX_BUFFER
    msgs += s.flush()
    for m in msgs:
        e = security_event(m)
        assert e is None or isinstance(e, Event)
    return msgs


@FAST
@given(st.binary(max_size=4096), st.integers(1, 512))
def test_ami_arbitrary_bytes(data, step):
    ami_all(data, step)


@FAST
@given(st.lists(st.tuples(st.integers(0, 400), st.binary(min_size=1, max_size=6)), max_size=6), st.integers(1, 64))
def test_ami_mutated(edits, step):
    data = bytearray(AMI)
    for pos, chunk in edits:
        p = pos % len(data)
        data[p:p + len(chunk)] = chunk
    msgs = ami_all(bytes(data), step)
    if REAL_TAIL in data:  # while what Asterisk wrote last is intact, the forged line before it never wins
        for m in msgs:
            e = security_event(m)
            assert e is None or e.ip != "127.0.1.10"


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.ami")), ids=lambda p: p.name)
def test_ami_kept_corpus(path):
    for m in ami_all(path.read_bytes(), 7):
        e = security_event(m)
        assert e is None or e.ip != "127.0.1.10"
