"""Known attack-tool fingerprints (User-Agent values, SIPVicious's default From).

A fingerprint never supplies an address: it only says that the request whose socket address
we already trust came from an attack tool, which no real phone claims to be.
"""

from __future__ import annotations

import re

SCANNER_NAMES = ("friendly-scanner", "sipvicious", "sipcli", "vaxsipuseragent", "pplsip", "sundayddr", "iwar",
                 "sivus", "sip-scan", "sipsak", "smap", "voipbuster", "vaxipuseragent", "cafe-scanner")
_SCANNER = re.compile("|".join(re.escape(n) for n in SCANNER_NAMES), re.IGNORECASE)
_SIPVICIOUS_FROM = re.compile(r"@1\.1\.1\.1(?:[:;>]|$)")


def scanner_in(text: str | None) -> str | None:
    """The tool name if `text` (a User-Agent, display name or From) carries a scanner fingerprint."""
    if not text:
        return None
    m = _SCANNER.search(text)
    if m:
        return m.group(0).lower()
    if _SIPVICIOUS_FROM.search(text):
        return "sipvicious (From @1.1.1.1)"
    return None
