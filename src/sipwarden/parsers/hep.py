"""HEP (Homer Encapsulation Protocol) v3, v2 and v1 datagrams decoded from bytes. Pure, bounded.

HEP is how a PBX or proxy (Asterisk res_hep, Kamailio siptrace, OpenSIPS) mirrors the SIP it
sends and receives. The capture agent writes the real socket addresses into dedicated chunks,
so those — not the Via/From inside the payload — are the addresses sipwarden trusts. The
datagram itself arrives over UDP and can be forged like any UDP: accept it only from known
agents, and check the shared password (`check_auth_key`) when one is configured.

v3: `HEP3`, u16 total length, then chunks of (u16 vendor, u16 type, u16 length incl. the 6-byte
chunk header, value). v1/v2: a fixed header (version, header length, family, protocol, ports,
addresses; v2 adds u32 seconds, u32 microseconds, u16 capture id, in the agent's byte order —
little-endian in captagent/Kamailio on x86, which is what is assumed here) then the payload.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter

from ..addr import normalize

MAX_HEP = 65535 + 6  # one UDP datagram
MAX_PAYLOAD = 65536  # decompressed payload cap (chunk 16)
_PROTOS = {6: "tcp", 17: "udp", 132: "sctp"}
AF_INET, AF_INET6 = 2, 10


class HepError(ValueError):
    """Not a HEP datagram this decoder accepts (junk, truncated, inconsistent lengths, no addresses)."""


@dataclass(frozen=True, slots=True)
class HepPacket:
    """One decoded HEP datagram. Addresses are the capture agent's socket addresses."""

    version: int
    family: int  # 2 = IPv4, 10 = IPv6 (as HEP writes them)
    proto: str  # "udp", "tcp", "sctp" or "ip<N>" for others
    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    ts: float | None  # seconds since the epoch, from the agent; None if the datagram has none
    proto_type: int | None  # 1 = SIP
    capture_id: int | None
    auth_key: str | None  # attacker-visible on the wire; compare with check_auth_key
    payload: bytes
    correlation_id: str | None  # usually the Call-ID: attacker text
    node_name: str | None


def is_hep(data: bytes) -> bool:
    """Does `data` start like a HEP datagram (v3 magic, or a plausible v1/v2 header)?"""
    if data[:4] == b"HEP3":
        return True
    return len(data) >= 4 and data[0] in (1, 2) and data[1] in (16, 28, 40) and data[2] in (AF_INET, AF_INET6)


def decode_hep(data: bytes) -> HepPacket:
    """Decode one HEP datagram, or raise HepError. Never raises anything else."""
    f = hep_fields(data)
    return HepPacket(f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], _opt_text(f[10]), f[11],
                     _opt_text(f[12]), _opt_text(f[13]))


HepFields = tuple  # HepPacket's fields in its order, auth key / correlation id / node name still raw bytes


def hep_fields(data: bytes, fixed: bool = True) -> HepFields:
    """`decode_hep` without the HepPacket (the daemon's hot path: no object per datagram, the
    attacker's text chunks left undecoded). Raises HepError and nothing else. `fixed=False`
    walks every chunk (the reference the fixed-layout read is tested against)."""
    try:
        if data[:4] == b"HEP3":
            return _v3(data, _LAYOUTS if fixed else ())
        if data[:1] in (b"\x01", b"\x02"):
            return _v12(data)
    except HepError:
        raise
    except Exception as e:  # defence in depth: hostile input must not escape as another type
        raise HepError(f"undecodable HEP: {type(e).__name__}") from None
    raise HepError("not HEP (no HEP3 magic, no v1/v2 header)")


def check_auth_key(pkt: HepPacket, expected: str | None) -> bool:
    """True if no password is configured, or the datagram carries exactly it (constant-time)."""
    return key_matches(pkt.auth_key, expected)


def key_matches(auth_key: str | bytes | None, expected: str | None) -> bool:
    """`check_auth_key` on the auth key chunk itself (text, or the raw chunk `hep_fields` gives)."""
    if not expected:
        return True
    if auth_key is None:
        return False
    if isinstance(auth_key, bytes):
        auth_key = _text(auth_key)
    return hmac.compare_digest(auth_key.encode("utf-8", "surrogateescape"), expected.encode())


def _text(v: bytes) -> str:
    return v.rstrip(b"\x00").decode("utf-8", "replace")


def _opt_text(v: bytes | None) -> str | None:
    return None if v is None else _text(v)


# --- HEP v3 -------------------------------------------------------------------------------------
# The generic decoder walks the chunks one by one in Python (a dozen per datagram: half the cost
# of the whole wire path). Agents write their fixed-size chunks in one order every time, so for
# the orders below one struct call checks all their chunk headers (vendor 0, type, length) and a
# second reads their values; the rest (auth key, correlation id, node name, payload, anything
# else) is walked by the same loop as before, starting with what the fixed part set. A datagram
# whose headers differ in any byte takes the generic walk from the first chunk, so the result is
# the generic one by construction (tests/test_hep.py checks it on generated and mutated datagrams).
_FIXED = {1: "B", 2: "B", 3: "4s", 4: "4s", 5: "16s", 6: "16s", 7: "H", 8: "H", 9: "I", 10: "I", 11: "B", 12: "I"}
_SIZE = {"B": 1, "H": 2, "I": 4, "4s": 4, "16s": 16}
_FIELDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)  # chunk types in the order _walk takes their values


Layout = tuple[struct.Struct, tuple[bytes, ...], struct.Struct, int, Callable[[tuple], tuple]]


def _layout(types: tuple[int, ...]) -> Layout:
    """(header struct, expected headers, value struct, bytes covered, getter of _walk's values from
    the value tuple with a None appended)."""
    hdr, val, want = "!", "!", []
    for t in types:
        size = _SIZE[_FIXED[t]]
        hdr += f"6s{size}x"
        val += f"6x{_FIXED[t]}"
        want.append(struct.pack("!HHH", 0, t, 6 + size))
    hs, vs = struct.Struct(hdr), struct.Struct(val)
    return hs, tuple(want), vs, hs.size, itemgetter(*(types.index(t) if t in types else -1 for t in _FIELDS))


_LAYOUTS = tuple(_layout(t) for t in (
    (1, 2, 7, 8, 9, 10, 11, 12, 3, 4),  # Asterisk res_hep, IPv4
    (1, 2, 7, 8, 9, 10, 11, 12, 5, 6),  # Asterisk res_hep, IPv6
    (1, 2, 3, 4, 7, 8, 9, 10, 11, 12),  # Kamailio siptrace / sipcapture, IPv4
    (1, 2, 5, 6, 7, 8, 9, 10, 11, 12),  # Kamailio, IPv6
))


_NONE = (None,)
_CHUNK = struct.Struct("!HHH")
_ntop, _AF4 = socket.inet_ntop, socket.AF_INET


def _v3(data: bytes, layouts: tuple[Layout, ...]) -> HepFields:
    n = len(data)
    if n < 6:
        raise HepError("truncated HEP3 header")
    if n > MAX_HEP:
        raise HepError("HEP3 datagram too large")
    (total,) = struct.unpack_from("!H", data, 4)
    if total != n:
        raise HepError(f"HEP3 total length {total} != datagram length {n}")
    for hs, want, vs, size, values in layouts:
        if size + 6 <= total and hs.unpack_from(data, 6) == want:
            family, proto_n, src4, dst4, src6, dst6, sport, dport, sec, usec, ptype, capid = values(
                vs.unpack_from(data, 6) + _NONE)
            pos = 6 + size
            break
    else:
        family = proto_n = src4 = dst4 = src6 = dst6 = sport = dport = sec = usec = ptype = capid = None
        pos = 6
    # the chunks from `pos` on (all of them, or those after a fixed layout), then the checks every
    # datagram passes
    auth = corr = node = None
    payload: bytes | None = None
    unpack = struct.unpack_from
    header = _CHUNK.unpack_from
    while pos < total:
        if pos + 6 > total:
            raise HepError("truncated chunk header")
        vendor, ctype, clen = header(data, pos)
        if clen < 6 or pos + clen > total:
            raise HepError(f"chunk {ctype} length {clen} runs past the datagram")
        v = data[pos + 6:pos + clen]
        pos += clen
        if vendor != 0:
            continue  # vendor chunks (e.g. Kamailio's) carry nothing we trust
        if ctype == 15:  # the variable chunks first: every datagram has them after the fixed part
            payload = v
            continue
        if ctype == 14:
            auth = v
            continue
        if ctype == 17:
            corr = v
            continue
        if ctype == 19:
            node = v
            continue
        if ctype == 16:
            payload = _inflate(v)
            continue
        lv = len(v)
        if ctype == 1 and lv == 1:
            family = v[0]
        elif ctype == 2 and lv == 1:
            proto_n = v[0]
        elif ctype == 3 and lv == 4:
            src4 = v
        elif ctype == 4 and lv == 4:
            dst4 = v
        elif ctype == 5 and lv == 16:
            src6 = v
        elif ctype == 6 and lv == 16:
            dst6 = v
        elif ctype == 7 and lv == 2:
            (sport,) = unpack("!H", v)
        elif ctype == 8 and lv == 2:
            (dport,) = unpack("!H", v)
        elif ctype == 9 and lv == 4:
            (sec,) = unpack("!I", v)
        elif ctype == 10 and lv == 4:
            (usec,) = unpack("!I", v)
        elif ctype == 11 and lv == 1:
            ptype = v[0]
        elif ctype == 12 and lv in (2, 4):
            (capid,) = unpack("!H" if lv == 2 else "!I", v)
        elif ctype in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12):
            raise HepError(f"chunk {ctype} has the wrong length {lv}")
    if family == AF_INET or (family is None and src4 is not None):
        if src4 is None or dst4 is None:
            raise HepError("IPv4 HEP without source/destination address chunks")
        src, dst, family = _ntop(_AF4, src4), _ntop(_AF4, dst4), AF_INET  # canonical, 10x cheaper than ipaddress
    elif family == AF_INET6 or (family is None and src6 is not None):
        if src6 is None or dst6 is None:
            raise HepError("IPv6 HEP without source/destination address chunks")
        src, dst, family = _ip(src6), _ip(dst6), AF_INET6
    else:
        raise HepError(f"HEP without a usable address family ({family})")
    if sport is None or dport is None:
        raise HepError("HEP without port chunks")
    if payload is None:
        raise HepError("HEP without a payload chunk")
    ts = sec + (usec or 0) / 1e6 if sec is not None else None
    return (3, family, _proto(proto_n), src, sport, dst, dport, ts, ptype, capid, auth, payload, corr, node)


def _v12(data: bytes) -> HepFields:
    n = len(data)
    if n < 4:
        raise HepError("truncated HEP v1/v2 header")
    version, hlen, family, proto_n = data[0], data[1], data[2], data[3]
    alen = 4 if family == AF_INET else 16 if family == AF_INET6 else 0
    if not alen:
        raise HepError(f"HEP v{version} with unknown family {family}")
    base = 8 + 2 * alen
    want = base + (12 if version == 2 else 0)
    if hlen != want:
        raise HepError(f"HEP v{version} header length {hlen} != {want}")
    if n < hlen:
        raise HepError("truncated HEP v1/v2 header")
    if n > MAX_HEP:
        raise HepError("HEP datagram too large")
    sport, dport = struct.unpack_from("!HH", data, 4)
    src, dst = _ip(data[8:8 + alen]), _ip(data[8 + alen:base])
    ts = capid = None
    if version == 2:
        sec, usec, capid = struct.unpack_from("<IIH", data, base)
        ts = sec + usec / 1e6
    return (version, family, _proto(proto_n), src, sport, dst, dport, ts, 1, capid, None, data[hlen:], None, None)


def _ip(raw: bytes) -> str:
    if len(raw) == 4:  # the hot case: inet_ntop is canonical for IPv4 and 10x cheaper than ipaddress
        return socket.inet_ntop(socket.AF_INET, raw)
    a = normalize(str(ipaddress.ip_address(raw)))
    if a is None:  # pragma: no cover - ip_address output always normalises
        raise HepError("bad address")
    return a


def _proto(n: int | None) -> str:
    if n is None:
        return "udp"  # res_hep always sends chunk 2; a missing one is most likely UDP
    return _PROTOS.get(n, f"ip{n}")


def _inflate(v: bytes) -> bytes:
    d = zlib.decompressobj(zlib.MAX_WBITS | 32)  # zlib or gzip header
    try:
        out = d.decompress(v, MAX_PAYLOAD + 1)
    except zlib.error as e:
        raise HepError(f"bad compressed payload: {e}") from None
    if len(out) > MAX_PAYLOAD or d.unconsumed_tail:
        raise HepError("compressed payload too large")
    return out
