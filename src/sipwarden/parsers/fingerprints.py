"""Known attack-tool fingerprints (User-Agent values, SIPVicious's default From).

A fingerprint never supplies an address: it only says that the request whose socket address
we already trust came from an attack tool, which no real phone claims to be.
"""

from __future__ import annotations

import re

SCANNER_NAMES = ("friendly-scanner", "sipvicious", "sipcli", "vaxsipuseragent", "pplsip", "sundayddr", "iwar",
                 "sivus", "sip-scan", "sipsak", "smap", "voipbuster", "vaxipuseragent", "cafe-scanner")
_SIPVICIOUS_FROM = re.compile(r"@1\.1\.1\.1(?:[:;>\s\"']|$)")


def scanner_in(text: str | None) -> str | None:
    """The tool name if `text` (a User-Agent, display name or From) carries a scanner fingerprint."""
    if not text:
        return None
    low = text.lower()  # plain substring tests: an alternation regex is ten times slower here
    for name in SCANNER_NAMES:
        if name in low:
            return name
    if "@1.1.1.1" in text and _SIPVICIOUS_FROM.search(text):
        return "sipvicious (From @1.1.1.1)"
    return None
