"""Which captured TCP connections proved a round trip: their handshake was seen completing. Pure.

Shared by live capture (sources/live_capture.py) and capture files (sources/pcap.py): a segment of
such a connection is transport "tcp" (a stream: its source is proven, docs/architecture.md, "Trust
rules"), any other TCP segment UNVERIFIED.
"""

from __future__ import annotations

from collections import OrderedDict

MAX_HANDSHAKES = 65_536  # connections tracked per table (awaiting the final ACK / proven); oldest dropped
UNVERIFIED = "tcp-unverified"  # TCP whose handshake was not seen: not a STREAM transport (detect/state.py)


class Handshakes:
    """TCP connections whose handshake was seen completing, so their segments prove a round trip. Pure.

    A packet socket (or a capture) sees segments before the kernel's TCP stack drops them: one
    forged segment carrying a request proves nothing. Rule: a SYN-ACK from B to A with initial
    sequence number S, then a segment from A to B acknowledging exactly S+1 (the final ACK, or
    the first request, which carries the same ACK since SIP clients speak first). S is chosen
    by B's stack and sent to A's address, so only a host receiving at A's address (or on the
    path) can know it; a wrong guess drops the pending entry. The connection is then proven in
    both directions. A SYN-ACK alone is not enough: a forged SYN makes the server send one.
    Connections seen mid-stream stay unproven (the safe side). On a capture host that is not
    an endpoint (router, mirror port), an attacker whose forged packets cross that link can
    forge both halves. Both tables are bounded: a SYN flood only evicts pending entries.
    """

    __slots__ = ("pending", "proven")

    def __init__(self) -> None:
        self.pending: OrderedDict[tuple[str, int, str, int], int] = OrderedDict()  # ACKer's key -> S+1
        self.proven: OrderedDict[tuple[str, int, str, int], None] = OrderedDict()

    def segment(self, key: tuple[str, int, str, int], flags: int, seq: int, ack: int) -> None:
        """Note one segment's handshake part (`key` is src, sport, dst, dport)."""
        if flags & 0x12 == 0x12:  # SYN-ACK: the peer must acknowledge seq+1
            pk = (key[2], key[3], key[0], key[1])
            pending = self.pending
            pending[pk] = (seq + 1) & 0xFFFFFFFF
            pending.move_to_end(pk)
            if len(pending) > MAX_HANDSHAKES:
                pending.popitem(last=False)
        elif flags & 0x10 and self.pending:
            want = self.pending.pop(key, None)
            if want is not None and want == ack:
                proven = self.proven
                proven[key] = None
                if len(proven) > MAX_HANDSHAKES:
                    proven.popitem(last=False)

    def transport(self, key: tuple[str, int, str, int]) -> str:
        """"tcp" for a segment of a connection whose handshake was seen, else UNVERIFIED."""
        proven = self.proven
        if key not in proven:
            key = (key[2], key[3], key[0], key[1])
            if key not in proven:
                return UNVERIFIED
        proven.move_to_end(key)
        return "tcp"

    def end(self, key: tuple[str, int, str, int]) -> None:
        """Forget a connection (FIN or RST either way)."""
        for k in (key, (key[2], key[3], key[0], key[1])):
            self.proven.pop(k, None)
            self.pending.pop(k, None)
