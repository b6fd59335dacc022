"""Blocklist sources: where a list comes from, how it is read, and what it holds. Parsing is pure.

Formats, recognised from the content: JSON (an object with an `ipaddress` array, as APIBAN
returns, or a bare array of strings), else plain text: one address or CIDR per line, `#` or `;`
comments, anything after the first blank on a line ignored (VoIPBL and most feeds). Lines that are
not addresses are counted and skipped; a list is never trusted to name a network wider than /8
(v4) or /32 (v6): such an entry is refused too (a typo or a poisoned list would cut the world off).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MIN_PREFIX = {4: 8, 6: 32}
Net = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class Parsed:
    nets: list[Net] = field(default_factory=list)
    skipped: int = 0  # lines that are not an address or a sane network
    format: str = "plain"


def _entry(text: str) -> Net | None:
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped is not None:
        v4 = net.network_address.ipv4_mapped
        net = ipaddress.ip_network(f"{v4}/{max(net.prefixlen - 96, 0)}", strict=False)
    if net.prefixlen < MIN_PREFIX[net.version]:
        return None
    return net


def parse(data: bytes) -> Parsed:
    """Addresses and networks in a list's bytes (see the module docstring)."""
    text = data.decode("utf-8", errors="replace")
    head = text.lstrip()[:1]
    if head in ("{", "["):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if doc is not None:
            return _parse_json(doc)
    out = Parsed()
    for line in text.splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        net = _entry(line.split()[0].split(",")[0])
        if net is None:
            out.skipped += 1
        else:
            out.nets.append(net)
    return out


def _parse_json(doc: object) -> Parsed:
    items = doc.get("ipaddress") if isinstance(doc, dict) else doc
    out = Parsed(format="json")
    if not isinstance(items, list):
        raise ValueError("JSON list without an `ipaddress` array")
    for it in items:
        net = _entry(it) if isinstance(it, str) else None
        if net is None:
            out.skipped += 1
        else:
            out.nets.append(net)
    return out


def kind_of(source: str) -> str:
    """'url' or 'file'."""
    scheme = urlsplit(source).scheme.lower()
    return "url" if scheme in ("http", "https") else "file"
