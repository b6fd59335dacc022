"""The careful SIP path in one call, for tests: a parsed message through `message_fields` (not the
fast `wire_fields`) into the one SIP -> event mapping (parsers/sip_events.py)."""

from __future__ import annotations

from sipwarden.events import Event
from sipwarden.parsers.sip import SipMessage, message_fields
from sipwarden.parsers.sip_events import events_from_fields


def events_from_sip(msg: SipMessage, src: str, sport: int, dst: str, dport: int, t: float, transport: str,
                    origin: str, server_addrs: frozenset[str] = frozenset()) -> list[Event]:
    """Events one parsed SIP message says about the client side of its exchange."""
    return events_from_fields(message_fields(msg), src, sport, dst, dport, t, transport, origin, server_addrs)
