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
from .fingerprints import scanner_in
from .sip import SipMessage


def events_from_sip(msg: SipMessage, src: str, sport: int, dst: str, dport: int, t: float, transport: str,
                    origin: str, server_addrs: frozenset[str] = frozenset()) -> list[Event]:
    """Events one SIP message says about the client side of its exchange (none about servers)."""
    if msg.is_request:
        if src in server_addrs:
            return []
        method = msg.method
        fr = msg.from_addr
        fingerprint = scanner_in(msg.user_agent) or scanner_in(msg.header("from"))
        account = msg.auth_user or fr.user
        target = msg.uri_user if method == "INVITE" else None
        return [Event(t, src, Kind.REQUEST, port=sport, transport=transport, service="SIP", account=account,
                      target=target, method=method, user_agent=msg.user_agent, fingerprint=fingerprint,
                      origin=origin)]
    if dst in server_addrs:
        return []
    status = msg.status or 0
    cmethod = msg.cseq_method
    kind = Kind.RESPONSE
    account = target = None
    if status in (401, 407):
        kind, account = Kind.CHALLENGE_SENT, msg.from_user
    elif cmethod == "INVITE" and status in (403, 404):
        kind, account, target = Kind.CALL_REJECTED, msg.from_user, msg.to_user
    elif status == 403 and cmethod == "REGISTER":
        kind, account = Kind.AUTH_FAILED, msg.to_user
    elif status == 404 and cmethod is not None and cmethod != "ACK":
        kind, account = Kind.UNKNOWN_ACCOUNT, msg.to_user
    elif status == 200 and cmethod == "REGISTER":
        kind, account = Kind.AUTH_OK, msg.to_user
    return [Event(t, dst, kind, port=dport, transport=transport, service="SIP", account=account, target=target,
                  method=cmethod, detail=f"{status} {msg.reason or ''}".rstrip(), origin=origin)]


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
        if src in self._servers:
            return False
        if msg.is_request:
            key = (src, dst)
            asked = self._asked
            if key in asked:
                asked.move_to_end(key)
            else:
                asked[key] = None
                if len(asked) > self.max_tracked:
                    asked.popitem(last=False)
            return False
        status = msg.status or 0
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
