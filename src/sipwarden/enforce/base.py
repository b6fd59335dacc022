"""The enforcement interface every backend implements, and the pure helpers they share.

The daemon only speaks `Enforcer`: it hands over whole lists (one kernel transaction per list, never
one process per address), and periodically asks the backend to `reconcile` the kernel with the store,
because tables get flushed by other tools, reboots, or an operator's `nft flush ruleset`.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, Protocol

from ..addr import normalize

log = logging.getLogger("sipwarden.enforce")

EXPIRY_TOLERANCE = 2.0  # seconds: kernels report remaining time in whole seconds


@dataclass(frozen=True)
class Ban:
    """One ban: an address or CIDR prefix, until `expires` (epoch seconds; None = permanent)."""

    ip: str
    expires: float | None = None
    comment: str = ""


class Wanted(dict):
    """What the kernel must hold (address -> expiry), and the comment (reason) of each, so bans that
    a reconcile puts back keep their reason. A plain dict works too (no comments)."""

    def __init__(self, expiries: dict[str, float | None] | None = None, comments: dict[str, str] | None = None):
        super().__init__(expiries or {})
        self.comments = comments or {}


class EnforceError(Exception):
    """The firewall could not be changed; the message is phrased for the operator."""


class Enforcer(Protocol):
    """What the daemon needs from a firewall backend. Every method is one batch."""

    name: str

    def setup(self) -> None:
        """Create own table/sets/rules; idempotent, never touches anything else."""

    def ban(self, bans: list[Ban], now: float) -> None:
        """Upsert all bans in one transaction; a re-ban sets the new expiry."""

    def unban(self, ips: list[str]) -> None:
        """Remove bans in one transaction; absent entries are not an error."""

    def list(self) -> dict[str, float | None]:
        """What is enforced now: address/prefix -> expiry epoch or None (permanent)."""

    def reconcile(self, wanted: dict[str, float | None], now: float) -> tuple[int, int]:
        """Make the enforced state equal to `wanted`; return (added or refreshed, removed)."""

    def teardown(self) -> None:
        """Remove everything this backend created."""


class Target(NamedTuple):
    """A ban target in canonical form: family 4|6, and whether it is a prefix (needs an interval set).
    A NamedTuple: bursts build tens of thousands of these."""

    key: str  # canonical text: "198.18.0.66" or "198.18.0.64/26"
    family: int
    prefix: bool
    addr: str  # the address, or the network address of a prefix
    plen: int


def parse_target(text: str) -> Target | None:
    """Canonicalise an address or prefix (host bits dropped; /32 and /128 become addresses)."""
    text = text.strip()
    if "/" in text:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return None
        if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped is not None:
            return None  # v4-mapped prefixes are ambiguous; callers must give v4 prefixes as v4
        if net.prefixlen == net.max_prefixlen:
            text = str(net.network_address)
        else:
            return Target(net.compressed, net.version, True, str(net.network_address), net.prefixlen)
    a = normalize(text)
    if a is None:
        return None
    v = 6 if ":" in a else 4
    return Target(a, v, False, a, 32 if v == 4 else 128)


_COMMENT_BAD = re.compile(r"[^A-Za-z0-9 _.,:=/@+%-]")


@lru_cache(maxsize=4096)
def sanitize_comment(text: str, limit: int = 64) -> str:
    """Keep comments inert in every firewall syntax: attacker text (user names, user agents) reaches
    here, and a quote, brace, semicolon or newline would break `nft list ruleset | nft -f -`."""
    return _COMMENT_BAD.sub("_", text)[:limit].strip()


def seconds_left(expires: float | None, now: float) -> int | None:
    """Whole seconds until expiry, at least 1 (None = permanent); 0 if already over."""
    if expires is None:
        return None
    left = expires - now
    return 0 if left <= 0 else max(1, math.ceil(left))


def split_bans(bans: list[Ban], now: float) -> tuple[dict[str, tuple[Target, int | None, str]], list[str]]:
    """Canonicalise and de-duplicate (last wins); bans already over become removals.
    Invalid targets are logged and skipped so one bad entry cannot block a whole batch."""
    live: dict[str, tuple[Target, int | None, str]] = {}
    over: list[str] = []
    for b in bans:
        t = parse_target(b.ip)
        if t is None:
            log.warning("not banning %r: not an IP address or prefix", b.ip)
            continue
        secs = seconds_left(b.expires, now)
        if secs == 0:
            live.pop(t.key, None)
            over.append(t.key)
            continue
        live[t.key] = (t, secs, sanitize_comment(b.comment))
    return live, over


def plan_reconcile(current: dict[str, float | None], wanted: dict[str, float | None],
                   now: float) -> tuple[list[Ban], list[str]]:
    """What to (re)add and what to remove so that `current` becomes `wanted`.

    An entry is re-added when missing, when its permanence differs, or when its expiry differs by
    more than the kernels' reporting granularity."""
    want: dict[str, float | None] = {}
    comments = getattr(wanted, "comments", {})
    why: dict[str, str] = {}
    for ip, exp in wanted.items():
        t = parse_target(ip)
        if t is None:
            log.warning("reconcile: ignoring %r: not an IP address or prefix", ip)
        elif exp is None or exp > now:
            want[t.key] = exp
            why[t.key] = comments.get(ip, "")
    add = []
    for key, exp in want.items():
        if key not in current:
            add.append(Ban(key, exp, why[key]))
            continue
        cur = current[key]
        if (cur is None) != (exp is None) or (
                cur is not None and exp is not None and abs(cur - exp) > EXPIRY_TOLERANCE):
            add.append(Ban(key, exp, why[key]))
    remove = [k for k in current if k not in want]
    return add, remove


class RememberedBans:
    """For backends that cannot ask the firewall what it holds (a user's script, dry run): what is
    banned is what this process banned, expiring by the clock."""

    bans: dict[str, float | None]

    def list(self) -> dict[str, float | None]:
        now = time.time()
        self.bans = {k: v for k, v in self.bans.items() if v is None or v > now}
        return dict(self.bans)

    def reconcile(self, wanted: dict[str, float | None], now: float) -> tuple[int, int]:
        add, remove = plan_reconcile(self.list(), wanted, now)
        self.unban(remove)  # type: ignore[attr-defined]
        self.ban(add, now)  # type: ignore[attr-defined]
        return len(add), len(remove)

