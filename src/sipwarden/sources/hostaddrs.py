"""The host's own addresses, so the daemon never bans itself (a forged UDP source set to our own
address must not cut the PBX off from itself).

`ip -j addr` (iproute2) lists every address of every interface; where it is missing, IPv6 comes
from /proc/net/if_inet6 and IPv4 from the SIOCGIFADDR ioctl (one primary address per interface).
Loopback is always included. The parsers are pure and tested on canned text.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import socket
import struct
import subprocess
from pathlib import Path

from ..addr import normalize

ALWAYS = ("127.0.0.1", "::1")
SIOCGIFADDR = 0x8915


def parse_ip_json(text: str) -> list[str]:
    """Addresses in `ip -j addr` output (a JSON list of interfaces with `addr_info`)."""
    out = []
    for link in json.loads(text or "[]"):
        for info in link.get("addr_info", ()) if isinstance(link, dict) else ():
            a = normalize(str(info.get("local", ""))) if isinstance(info, dict) else None
            if a is not None:
                out.append(a)
    return out


def parse_if_inet6(text: str) -> list[str]:
    """Addresses in /proc/net/if_inet6: the first column is 32 hex digits, no colons."""
    out = []
    for line in text.splitlines():
        fields = line.split()
        if not fields or len(fields[0]) != 32:
            continue
        h = fields[0]
        a = normalize(":".join(h[i:i + 4] for i in range(0, 32, 4)))
        if a is not None:
            out.append(a)
    return out


def _from_ip_command() -> list[str] | None:
    try:
        r = subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0:
        return None
    try:
        return parse_ip_json(r.stdout)
    except (ValueError, AttributeError):
        return None


def _from_kernel() -> list[str]:
    out: list[str] = []
    with contextlib.suppress(OSError):
        out.extend(parse_if_inet6(Path("/proc/self/net/if_inet6").read_text()))
    try:
        names = [name for _, name in socket.if_nameindex()]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return out
    with s:
        for name in names:
            try:
                res = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
            except OSError:  # interface without an IPv4 address
                continue
            out.append(socket.inet_ntoa(res[20:24]))
    return out


def host_addresses() -> list[str]:
    """Every address of this host (canonical text, sorted, loopback included)."""
    found = _from_ip_command()
    if found is None:
        found = _from_kernel()
    return sorted(set(found) | set(ALWAYS), key=lambda a: (":" in a, a))
