"""IP address shapes found in PBX output, normalised to one canonical text form.

Asterisk and FreeSWITCH write addresses as bare v4/v6, `v4:port`, `[v6]:port`, bare `v6:port`
(ambiguous on its face), and `IPV6/UDP/addr/port` in the security log. Everything is turned into
`ipaddress`'s canonical string (v4-mapped v6 becomes v4) so one host has one key.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# A v4 address already in canonical form (no leading zeros): `ipaddress` would return it as it is.
# Checked first, so a flood of a million distinct sources costs one regex match each instead of an
# `ipaddress` parse (and a cached one, one C-level lookup: `normalize` is cached in front).
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_V4_CANONICAL = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")


@lru_cache(maxsize=1 << 16)
def normalize(text: str) -> str | None:
    """Canonical form of a bare address, or None if `text` is not an IP address.

    Cached (a log names the same attackers over and over: a hit costs no Python call, the scan's
    hot path); a miss on a canonical v4 address costs one regex match, not an `ipaddress` parse."""
    if _V4_CANONICAL.fullmatch(text) is not None:
        return text
    return _normalize(text)


def _normalize(text: str) -> str | None:
    try:
        a = ipaddress.ip_address(text.strip("[] "))
    except ValueError:
        return None
    if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped is not None:
        return str(a.ipv4_mapped)
    return a.compressed


def split_hostport(text: str, port_expected: bool = True) -> tuple[str, int | None] | None:
    """Split `addr[:port]` in any of its shapes into (canonical address, port).

    A bare IPv6 address followed by `:port` cannot be told from an address on its face;
    when the field is known to carry a port (`port_expected`), the last group is the port.
    """
    text = text.strip()
    if not text:
        return None
    if text.startswith("["):  # [v6]:port or [v6]
        end = text.find("]")
        if end < 0:
            return None
        host = normalize(text[1:end])
        rest = text[end + 1:]
        if host is None:
            return None
        if rest.startswith(":") and rest[1:].isdigit():
            return host, port_number(rest[1:])
        return (host, None) if not rest else None
    colons = text.count(":")
    if colons == 0:  # bare v4
        host = normalize(text)
        return (host, None) if host else None
    if colons == 1:  # v4:port
        h, _, p = text.partition(":")
        host = normalize(h)
        if host is None or not p.isdigit():
            return None
        return host, port_number(p)
    # two or more colons: v6, maybe with a bare :port
    head, _, tail = text.rpartition(":")
    if port_expected and tail.isdigit() and len(tail) <= 5 and normalize(head) is not None:
        return normalize(head), port_number(tail)  # type: ignore[return-value]
    host = normalize(text)
    return (host, None) if host else None


def port_number(p: str) -> int | None:
    """The port that the digits `p` name (leading zeros count for nothing), or None: not ASCII digits, or
    out of 1-65535. Never int() on the whole text: an attacker's 5,000-digit port passes its digit limit."""
    if not (p.isascii() and p.isdigit()):  # "5²".isdigit() is True, int("5²") is not a port
        return None
    p = p.lstrip("0")
    n = int(p) if 0 < len(p) <= 5 else 0
    return n if 0 < n < 65536 else None


def parse_asterisk_addr(text: str) -> tuple[str, int | None, str | None] | None:
    """`IPV4/UDP/1.2.3.4/5060` -> (address, port, transport)."""
    parts = text.split("/")
    if len(parts) != 4 or parts[0] not in ("IPV4", "IPV6"):
        return None
    host = normalize(parts[2])
    if host is None:
        return None
    port = port_number(parts[3]) if parts[3].isdigit() else None
    return host, port, parts[1].lower()


@lru_cache(maxsize=1 << 16)
def network_of(ip: str, v4_prefix: int = 24, v6_prefix: int = 64) -> str:
    """The /24 (v4) or /64 (v6) network an address belongs to, for distributed-attack grouping."""
    if v4_prefix == 24 and _V4_CANONICAL.fullmatch(ip) is not None:  # the common case, without `ipaddress`
        return f"{ip[:ip.rfind('.')]}.0/24"
    if ":" in ip:
        return str(ipaddress.IPv6Network(f"{ip}/{v6_prefix}", strict=False))
    return str(ipaddress.IPv4Network(f"{ip}/{v4_prefix}", strict=False))


class AddressSet:
    """A set of addresses and CIDR networks (whitelists). Exact hits are O(1)."""

    def __init__(self, entries: list[str] | tuple[str, ...] = ()) -> None:
        self.exact: set[str] = set()
        self.nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for e in entries:
            self.add(e)

    def add(self, entry: str) -> None:
        """Add an address or network; raise ValueError with a clear message if it is neither."""
        entry = entry.strip()
        if "/" in entry:
            try:
                self.nets.append(ipaddress.ip_network(entry, strict=False))
            except ValueError as e:
                raise ValueError(f"not an address or network: {entry!r}") from e
            return
        n = normalize(entry)
        if n is None:
            raise ValueError(f"not an address or network: {entry!r}")
        self.exact.add(n)

    def __contains__(self, ip: object) -> bool:
        if not isinstance(ip, str):
            return False
        if "/" in ip:  # a prefix verdict: whitelisted if it overlaps anything protected
            try:
                net = ipaddress.ip_network(ip, strict=False)
            except ValueError:
                return False
            return any(n.version == net.version and n.overlaps(net) for n in self.nets) or any(
                ipaddress.ip_address(x) in net for x in self.exact if (":" in x) == (net.version == 6))
        if ip in self.exact:
            return True
        if not self.nets:
            return False
        a = ipaddress.ip_address(ip)
        return any(a in n for n in self.nets if n.version == a.version)

    def __len__(self) -> int:
        return len(self.exact) + len(self.nets)


# `[ADDR:]PORT` / `HOST:PORT` texts (the [wire] settings, `run --hep`): parsed and checked once.

def parse_listen(text: str, default_host: str = "0.0.0.0") -> tuple[str, int]:
    """'9060' -> ('0.0.0.0', 9060); '127.0.0.1:9060'; '[::]:9060' -> ('::', 9060). Raises ValueError."""
    t = text.strip()
    if t.isdigit():
        return default_host, _listen_port(t, text)
    return parse_hostport(t)


def parse_hostport(text: str) -> tuple[str, int]:
    """'HOST:PORT' or '[V6]:PORT' -> (host, port). A host name is kept as is. Raises ValueError."""
    t = text.strip()
    if t.startswith("["):
        host, sep, port = t[1:].partition("]:")
        if not sep:
            raise ValueError(f"{text!r}: expected [IPv6]:PORT")
        if normalize(host) is None:
            raise ValueError(f"{text!r}: {host!r} is not an IPv6 address")
    else:
        host, sep, port = t.rpartition(":")
        if not sep or not host or ":" in host:
            raise ValueError(f"{text!r}: expected HOST:PORT (IPv6 as [ADDR]:PORT)")
    return host, _listen_port(port, text)


def _listen_port(p: str, text: str) -> int:
    n = port_number(p)
    if n is None:
        raise ValueError(f"{text[:40]!r}: {p[:20]!r} is not a port number")
    return n
