"""Which detectors the engine runs, on which event kinds, in which order.

The order is the rank of their findings: when one event gives several findings about its source,
the first wins (what the operator declared, then an attack tool's fingerprint, then thresholds).
Findings about other sources or a network come after all of these. Adding a detector is one module
(a class following `detector.Detector`) and one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from ..config import DetectConfig
from ..events import FAILURE_KINDS, Kind
from . import bruteforce, declared, distributed, enumeration, flood, scanner, tollfraud, wire
from .detector import Detector
from .state import Context

# A rejected call whose caller the PBX named (its own trunk or phone: `tollfraud.counts` is false)
# is routed apart: it is no evidence against its source, only a canary number dialled still counts.
CALLER_NAMED = "caller_named"

EVERY_KIND = frozenset(Kind)
# Events that are a login or an attempt at one (what `registrations_from` limits).
AUTH_KINDS = frozenset({Kind.AUTH_FAILED, Kind.UNKNOWN_ACCOUNT, Kind.ACL_FAILED, Kind.CHALLENGE_SENT, Kind.AUTH_OK})


def _always(cfg: DetectConfig) -> bool:
    return True


class Entry(NamedTuple):
    name: str
    make: Callable[[Context], Detector]
    kinds: frozenset[Kind | str]  # what it observes (a source's events of other kinds never reach it)
    enabled: Callable[[DetectConfig], bool] = _always  # false: turned off by the configuration, not run


REGISTRY: tuple[Entry, ...] = (
    Entry("canary", declared.Canary, (EVERY_KIND - {Kind.REQUEST}) | {CALLER_NAMED},
          lambda cfg: bool(cfg.canary_accounts)),
    Entry("outsider", declared.Outsider, AUTH_KINDS, lambda cfg: bool(cfg.registrations_from)),
    Entry("scanner", scanner.Scanner, EVERY_KIND - {Kind.AUTH_OK}, lambda cfg: cfg.fingerprints),
    Entry("rechallenged", wire.Rechallenged,
          frozenset({Kind.REQUEST, Kind.CHALLENGE_SENT, Kind.AUTH_OK, Kind.AUTH_FAILED})),
    Entry("bruteforce", bruteforce.Bruteforce, frozenset({Kind.AUTH_FAILED, Kind.ACL_FAILED, Kind.BAD_REQUEST})),
    Entry("enumeration", enumeration.Enumeration, frozenset({Kind.UNKNOWN_ACCOUNT})),
    Entry("tollfraud", tollfraud.Tollfraud, frozenset({Kind.CALL_REJECTED})),
    Entry("challenges", flood.Challenges, frozenset({Kind.CHALLENGE_SENT, Kind.AUTH_OK})),
    Entry("burst", flood.Burst, FAILURE_KINDS),
    Entry("wire_rate", wire.WireRate, frozenset({Kind.REQUEST})),
    Entry("wire_accounts", wire.WireAccounts, frozenset({Kind.REQUEST})),
    Entry("wire_tollfraud", wire.WireTollfraud, frozenset({Kind.REQUEST})),
    # findings about other sources and networks
    Entry("distributed_account", distributed.DistributedAccount, frozenset({Kind.AUTH_FAILED})),
    Entry("distributed_net", distributed.DistributedNet, FAILURE_KINDS),
    Entry("wire_net", wire.WireNet, frozenset({Kind.REQUEST})),
)
