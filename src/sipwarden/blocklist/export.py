"""Our bans as a blocklist other hosts can import (the plain format `[blocklists]` reads). Pure."""

from __future__ import annotations

from ..events import iso


def plain(bans: list[dict], now: float | None = None) -> str:
    """One address or network per line, sorted, under a `#` header (comments are skipped by readers)."""
    import time
    head = f"# sipwarden bans, {iso(now if now is not None else time.time())}, {len(bans)} entries\n"
    ips = sorted({str(b["ip"]) for b in bans}, key=_order)
    return head + "".join(f"{ip}\n" for ip in ips)


def _order(ip: str) -> tuple[int, int, int]:
    import ipaddress
    try:
        n = ipaddress.ip_network(ip, strict=False)
    except ValueError:
        return (9, 0, 0)
    return (n.version, int(n.network_address), n.prefixlen)
