"""SIP and HEP payloads -> Events, with the counters `status` shows. Pure: time is an argument.

One intake serves every wire source of a daemon (HEP over UDP and TCP, live capture), so the
PBX learnt from one source (ServerLearner) is spared in all of them. Addresses come only from
the IP header or HEP's address chunks, never from the SIP text (see DESIGN.md trust rules).
Nothing a packet contains raises out of here: junk is counted.
"""

from __future__ import annotations

from ..events import Event
from ..parsers.hep import HepError, check_auth_key, decode_hep
from ..parsers.sip import SipParseError, message_fields, parse_datagram, wire_fields
from ..parsers.wire import ServerLearner, events_from_fields

FUTURE_SLACK = 60.0  # a HEP time further ahead of ours than this is replaced by ours


class WireIntake:
    def __init__(self, pbx: frozenset[str] | set[str] = frozenset(), hep_password: str = "",
                 learn: bool = True) -> None:
        self.learner = ServerLearner(known=frozenset(pbx)) if learn else None
        self.servers = frozenset(pbx)
        self.hep_password = hep_password
        self.counters = {"hep_packets": 0, "hep_rejected": 0, "sip_messages": 0, "parse_errors": 0}

    def sip(self, payload: bytes, src: str, sport: int, dst: str, dport: int, t: float, transport: str,
            origin: str = "wire") -> list[Event]:
        """Events of one SIP message seen between src and dst (either direction)."""
        f = wire_fields(payload)  # the common message without building a SipMessage
        if f is None:
            try:
                f = message_fields(parse_datagram(payload))
            except SipParseError:
                self.counters["parse_errors"] += 1
                return []
        self.counters["sip_messages"] += 1
        learner = self.learner
        if learner is not None and learner.observe_status(f[2], src, dst):
            self.servers = learner.servers
        return events_from_fields(f, src, sport, dst, dport, t, transport, origin, self.servers, True)

    def hep(self, datagram: bytes, now: float) -> list[Event]:
        """Events of one HEP datagram; `now` is the receive time (used when HEP carries none)."""
        try:
            pkt = decode_hep(datagram)
        except HepError:
            self.counters["parse_errors"] += 1
            return []
        if not check_auth_key(pkt, self.hep_password):
            self.counters["hep_rejected"] += 1
            return []
        self.counters["hep_packets"] += 1
        if pkt.proto_type not in (1, None):  # RTCP, logs, ...: not SIP
            return []
        t = pkt.ts if pkt.ts is not None and pkt.ts <= now + FUTURE_SLACK else now
        return self.sip(pkt.payload, pkt.src_ip, pkt.src_port, pkt.dst_ip, pkt.dst_port, t, pkt.proto, "hep")
