"""The vocabulary every part of sipwarden speaks: Event, Verdict, Decision.

Events are facts about one source address, produced by pure parsers; verdicts are a
detector's conclusion about a source; decisions are what policy makes of a verdict.
All are frozen so they can be shared between the engine, the store and the CLI.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple


class Kind(StrEnum):
    """What an event says about its source. The names are the plain words operators use."""

    AUTH_FAILED = "auth_failed"  # a known account, wrong credentials (a password guess)
    UNKNOWN_ACCOUNT = "unknown_account"  # "no matching peer/endpoint": enumeration evidence
    ACL_FAILED = "acl_failed"  # rejected by an ACL / not allowed to register
    CALL_REJECTED = "call_rejected"  # call to an extension that does not exist / unauthenticated call
    CHALLENGE_SENT = "challenge_sent"  # the PBX challenged a request (floods show only as these)
    AUTH_OK = "auth_ok"  # a successful authentication: the strongest sign of a real phone
    BAD_REQUEST = "bad_request"  # malformed request the PBX dropped
    REQUEST = "request"  # a request seen on the wire
    RESPONSE = "response"  # a response seen on the wire
    SCANNER = "scanner"  # a known attack-tool fingerprint
    TAMPER = "tamper"  # attacker text mimics the line's structure: no address is trusted


# detail of chan_sip's FailedACL for a call to a missing extension: a rejected call that says not who called
NO_EXTENSION_MATCH = "FailedACL: no_extension_match"

# Kinds that count as a failure when counting volume from a source.
FAILURE_KINDS = frozenset(
    {Kind.AUTH_FAILED, Kind.UNKNOWN_ACCOUNT, Kind.ACL_FAILED, Kind.CALL_REJECTED, Kind.BAD_REQUEST}
)


class Event(NamedTuple):
    """One observed fact about one source.

    A NamedTuple rather than a frozen dataclass: just as immutable, but about five times cheaper
    to build, and a busy log yields hundreds of thousands of these per second.

    `ip` is only ever taken from a socket-derived field (docs/architecture.md, "Trust rules");
    it is None for lines that carry no trustworthy address (e.g. TAMPER).
    `time` is seconds since the epoch (UTC), or None when the line carried no time
    (journald); sources fill it in from the stream.
    """

    time: float | None
    ip: str | None
    kind: Kind
    port: int | None = None
    transport: str | None = None
    service: str | None = None  # SIP, PJSIP, IAX2, AMI, FreeSWITCH, ...
    account: str | None = None  # account / user tried (attacker text: data only)
    target: str | None = None  # dialled number for call attempts (attacker text)
    method: str | None = None
    user_agent: str | None = None
    fingerprint: str | None = None  # a known attack tool recognised in this request (see fingerprints.py)
    detail: str | None = None  # the reason text the PBX gave
    origin: str | None = None  # which evidence: messages, security, ami, wire, ...
    file: str | None = None
    line: int | None = None

    def to_dict(self) -> dict:
        d = {
            "time": iso(self.time) if self.time is not None else None,
            "ip": self.ip,
            "kind": str(self.kind),
        }
        for name in ("port", "transport", "service", "account", "target", "method", "user_agent", "fingerprint", "detail",
                     "origin", "file", "line"):
            v = getattr(self, name)
            if v is not None:
                d[name] = v
        return d


class Reason(StrEnum):
    COMPROMISE = "compromise"  # logged in after many failures, or after being judged an attacker: a cracked account
    CANARY = "canary"  # touched an account no phone uses ([detect] canary_accounts)
    OUTSIDER = "outsider"  # registered or authenticated from outside [detect] registrations_from
    BRUTEFORCE = "bruteforce"
    ENUMERATION = "enumeration"
    FLOOD = "flood"
    SCANNER = "scanner"
    TOLLFRAUD = "tollfraud"
    DISTRIBUTED = "distributed"
    MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The engine's conclusion from its detectors' findings: `ip` (an address, or a prefix like
    198.18.0.0/24) attacks.

    `at` is the time of the deciding event, so offline scans and the daemon agree.
    """

    ip: str
    reason: Reason
    at: float
    events: int
    accounts: tuple[str, ...] = ()
    first_seen: float | None = None
    last_seen: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    evidence: str = ""  # a one-line human explanation
    origins: tuple[str, ...] = ()  # which evidence sources were used
    proven: bool = True  # False: only UDP first packets, no round trip (could be forged; see detect/state.py)
    numbers: tuple[str, ...] = ()  # numbers dialled (toll fraud), apart from the accounts tried

    def to_dict(self) -> dict:
        d = {
            "ip": self.ip,
            "reason": str(self.reason),
            "at": iso(self.at),
            "events": self.events,
            "accounts": list(self.accounts),
            "first_seen": iso(self.first_seen) if self.first_seen is not None else None,
            "last_seen": iso(self.last_seen) if self.last_seen is not None else None,
            "counts": dict(self.counts),
            "evidence": self.evidence,
            "origins": list(self.origins),
            "numbers": list(self.numbers),
            "proven": self.proven,
        }
        return d


@dataclass(frozen=True, slots=True)
class Decision:
    """What policy makes of a verdict: ban `ip` for `duration` seconds (None = permanent), or not."""

    verdict: Verdict
    ban: bool
    duration: float | None = None
    why: str = ""  # e.g. "whitelisted", "already banned", "repeat offender x3"


@lru_cache(maxsize=4096)
def iso(t: float) -> str:
    """ISO 8601 in UTC with an explicit offset: unambiguous across hosts. Cached: a flood's verdicts
    and bans share a few distinct times (log times are whole seconds), and a ban formats three."""
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
