"""SIP seen on the wire (pcap, HEP, live capture) turned into Events. Pure.

The address of an event is a transport address (IP header or HEP chunk): a request's source, or
a response's *destination* (the client the server answered). What a response says about its
client is read from its status and CSeq method, because the request it answers may not be in
view:

| response            | to        | event                                                 |
|---------------------|-----------|-------------------------------------------------------|
| 401 / 407           | any       | CHALLENGE_SENT (floods under alwaysauthreject=yes)    |
| 403                 | REGISTER  | AUTH_FAILED (chan_sip: wrong password)                |
| 404                 | REGISTER, OPTIONS, SUBSCRIBE, ... | UNKNOWN_ACCOUNT, account = To user |
| 403 / 404           | INVITE    | CALL_REJECTED, target = To user (the dialled number)  |
| 200                 | REGISTER  | AUTH_OK (the strongest sign of a real phone)          |
| anything else       |           | RESPONSE                                              |

The PBX itself must never be an event's address: `server_addrs` (configured, or learnt by
`ServerLearner`) are skipped on both sides.
"""

from __future__ import annotations

from collections import OrderedDict

from ..events import Event, Kind
from .fingerprints import SCANNER_NAMES, scanner_in
from .sip import SipMessage, WireFields, addr_user, cseq_method, digest_of
from .sip import _uri_user as uri_user

_new = tuple.__new__  # Event(...) through NamedTuple's keyword __new__ costs twice as much


def events_from_fields(f: WireFields, src: str, sport: int, dst: str, dport: int, t: float, transport: str,
                       origin: str, server_addrs: frozenset[str] = frozenset(), mark_digest: bool = False,
                       ) -> list[Event]:
    """Events one SIP message says about the client side of its exchange (none about servers), from
    the fields `wire_fields` / `message_fields` give (one mapping for both paths). With
    `mark_digest`, a request answering a challenge gets detail "digest"."""
    method, uri, status, reason, from_v, to_v, cseq_v, ua, auth = f
    if status is None:  # a request
        if src in server_addrs:
            return []
        fingerprint = request_fingerprint(ua, from_v)
        if auth is not None:
            account, _, answered = digest_of(auth)
        else:
            account, answered = None, False
        if not account:
            account = addr_user(from_v) if from_v is not None else None
        target = uri_user(uri) if method == "INVITE" and uri is not None else None
        return [_new(Event, (t, src, Kind.REQUEST, sport, transport, "SIP", account, target, method, ua, fingerprint,
                             "digest" if answered and mark_digest else None, origin, None, None))]
    if dst in server_addrs:
        return []
    cmethod = cseq_method(cseq_v) if cseq_v is not None else None
    kind = Kind.RESPONSE
    account = target = None
    if status in (401, 407):
        kind = Kind.CHALLENGE_SENT
        account = addr_user(from_v) if from_v is not None else None
    elif cmethod == "INVITE" and status in (403, 404):
        kind = Kind.CALL_REJECTED
        account = addr_user(from_v) if from_v is not None else None
        target = addr_user(to_v) if to_v is not None else None
    elif status == 403 and cmethod == "REGISTER":
        kind, account = Kind.AUTH_FAILED, addr_user(to_v) if to_v is not None else None
    elif status == 404 and cmethod is not None and cmethod != "ACK":
        kind, account = Kind.UNKNOWN_ACCOUNT, addr_user(to_v) if to_v is not None else None
    elif status == 200 and cmethod == "REGISTER":
        kind, account = Kind.AUTH_OK, addr_user(to_v) if to_v is not None else None
    detail = f"{status} {reason}".rstrip() if reason else str(status)
    return [_new(Event, (t, dst, kind, dport, transport, "SIP", account, target, cmethod, None, None, detail, origin,
                         None, None))]


def request_fingerprint(ua: str | None, from_v: str | None) -> str | None:
    """`scanner_in(ua) or scanner_in(from_v)`, with the usual answer (neither names a tool) found in
    one pass over both: a name cannot span the newline, and any hit asks `scanner_in` itself."""
    if ua and from_v:
        both = ua + "\n" + from_v
        low = both.lower()
        for name in SCANNER_NAMES:
            if name in low:
                break
        else:
            if "@1.1.1.1" not in both:
                return None
    return scanner_in(ua) or scanner_in(from_v)


class ServerLearner:
    """Learn which addresses are SIP servers (the PBX) from the traffic, so none is ever banned.

    A server is the side that answers: an address that sent final responses or challenges to
    `peers` distinct clients, each answering a request that client was seen sending to it.
    Clients answer too (a phone's 200 to the PBX's OPTIONS), but to one or two servers only.
    UDP can be forged, so learning is a safety net, not a whitelist: configure the PBX's
    addresses where known (a learnt "server" is only spared events, and an attacker would need
    to forge whole exchanges with several peers to be learnt). Pure and bounded: at most
    `max_tracked` request pairs and candidates are remembered, least recently seen first out;
    at most `max_servers` addresses are ever learnt.
    """

    def __init__(self, peers: int = 3, max_tracked: int = 4096, max_servers: int = 64,
                 known: frozenset[str] | set[str] = frozenset()) -> None:
        self.peers = peers
        self.max_tracked = max_tracked
        self.max_servers = max_servers
        self._servers: set[str] = set(known)
        self._frozen: frozenset[str] = frozenset(self._servers)
        self._asked: OrderedDict[tuple[str, str], None] = OrderedDict()  # (client, server) request seen
        self._cands: OrderedDict[str, set[str]] = OrderedDict()  # candidate server -> clients answered

    @property
    def servers(self) -> frozenset[str]:
        """The addresses known or learnt to be servers (pass as `server_addrs`)."""
        return self._frozen

    def observe(self, msg: SipMessage, src: str, dst: str) -> bool:
        """Account for one message; True if it made `src` a newly learnt server."""
        return self.observe_status(None if msg.is_request else (msg.status or 0), src, dst)

    def observe_status(self, status: int | None, src: str, dst: str) -> bool:
        """`observe` given only what it reads: the status (None for a request)."""
        if src in self._servers:
            return False
        if status is None:
            key = (src, dst)
            asked = self._asked
            if key in asked:
                asked.move_to_end(key)
            else:
                asked[key] = None
                if len(asked) > self.max_tracked:
                    asked.popitem(last=False)
            return False
        if status < 200 or (dst, src) not in self._asked:
            return False
        clients = self._cands.get(src)
        if clients is None:
            clients = self._cands[src] = set()
            if len(self._cands) > self.max_tracked:
                self._cands.popitem(last=False)
        else:
            self._cands.move_to_end(src)
        clients.add(dst)
        if len(clients) >= self.peers:
            return self._learn(src)
        return False

    def _learn(self, ip: str) -> bool:
        if len(self._servers) >= self.max_servers:
            return False
        self._servers.add(ip)
        self._frozen = frozenset(self._servers)
        self._cands.pop(ip, None)
        return True
