"""What kind of input a path is: a capture file (pcap or pcapng, gzip'd or not) or a log.

By the first bytes, not the name; on its own so that telling them apart costs `scan` of plain logs
nothing of the capture reader (dpkt, the SIP and HEP parsers).
"""

from __future__ import annotations

import gzip

PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
PCAP_MAGICS = frozenset({b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"})


def is_capture(path: str) -> bool:
    """Does `path` start like a pcap or pcapng file (possibly gzip'd)? False for stdin and logs."""
    if path == "-":
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            if head[:2] == b"\x1f\x8b":
                f.seek(0)
                try:
                    head = gzip.GzipFile(fileobj=f).read(4)
                except (OSError, EOFError):
                    return False
    except OSError:
        return False
    return head == PCAPNG_MAGIC or head in PCAP_MAGICS
