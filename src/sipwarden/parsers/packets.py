"""SIP and HEP payloads -> Events, with the counters `status` shows: the one path of every packet
(the daemon's HEP listener and live capture, `scan` over capture files). Pure: time is an argument.

One intake serves every network source of a daemon (HEP over UDP and TCP, live capture), so the
PBX learnt from one source (ServerLearner) is spared in all of them. Addresses come only from
the IP header or HEP's address chunks, never from the SIP text (docs/architecture.md, "Trust
rules"). Nothing a packet contains raises out of here: junk is counted.
"""

from __future__ import annotations

from ..events import Event
from .hep import HepError, hep_fields, key_matches
from .sip import SipParseError, message_fields, parse_datagram, wire_fields
from .sip_events import ServerLearner, events_from_fields

FUTURE_SLACK = 60.0  # a HEP time further ahead of ours than this is replaced by ours


class PacketIntake:
    """Payloads in, events out; the PBX's addresses (configured and learnt) are never an event's."""

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
            version, _fam, proto, src, sport, dst, dport, ts, ptype, _cap, auth, payload, _c, _n = hep_fields(datagram)
        except HepError:
            self.counters["parse_errors"] += 1
            return []
        if self.hep_password and not key_matches(auth, self.hep_password):
            self.counters["hep_rejected"] += 1
            return []
        self.counters["hep_packets"] += 1
        if ptype not in (1, None):  # RTCP, logs, ...: not SIP
            return []
        t = ts if ts is not None and ts <= now + FUTURE_SLACK else now
        return self.sip(payload, src, sport, dst, dport, t, proto, "hep")
