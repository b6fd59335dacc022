"""BanService: the one ban path. Automatic bans (the engine's verdicts), the control socket's and
the offline CLI's manual bans, and later the API's and the fleet's, all go through here:

    policy (whitelist, escalation, unproven evidence) -> active bans in memory -> kernel + store
                                                       -> listeners (the outputs)

What policy needs (is it banned now? how many bans before?) is answered from memory, loaded from
the store at start and kept in step with it: the event loop never waits for SQLite or the kernel.
The kernel and the store are written by their own worker threads, in the order given here.

Listeners are called on the event loop with each change (a BanChange) and must not block: the ban
log, notifications, metrics, the dashboard and fleet publishing are outputs, never ban paths.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..addr import AddressSet
from ..config import Config
from ..enforce import Ban
from ..enforce.base import Wanted, parse_target
from ..events import Decision, Reason, Verdict
from ..policy import Policy
from ..store.sqlite import BanRecord
from .errors import StageErrors
from .journal import Journal
from .kernel import Kernel

log = logging.getLogger("sipwarden")


@dataclass(frozen=True, slots=True)
class BanChange:
    """One ban or unban, as the outputs see it."""

    kind: str  # "ban" | "unban"
    ip: str
    reason: str
    expires: float | None  # None: permanent (for an unban: the expiry the ban had)
    at: float
    origin: str  # "local", "operator", "fleet:NODE", ...; for an unban: who or what ended it ("expired")
    evidence: dict = field(default_factory=dict)  # the verdict (Verdict.to_dict()) for a ban
    manual: bool = False
    duration: float | None = None  # seconds banned (None: permanent)
    why: str = ""  # policy's words: "first ban", "repeat offender (3rd ban)", ...
    offence: int = 0


Listener = Callable[[BanChange], None]


def whitelist(cfg: Config) -> AddressSet:
    """The configured whitelist plus, unless turned off, the host's own addresses."""
    wl = cfg.whitelist_set()
    if cfg.whitelist.host_addresses:
        from ..sources.hostaddrs import host_addresses
        for a in host_addresses():
            wl.add(a)
    return wl


class BanService:
    def __init__(self, policy: Policy, journal: Journal, kernel: Kernel, errors: StageErrors,
                 clock: Callable[[], float] = time.time) -> None:
        self.policy = policy
        self.journal = journal
        self.kernel = kernel
        self.errors = errors
        self.clock = clock
        self.listeners: list[Listener] = []
        self._active: dict[str, BanRecord] = {}
        self._expiry: list[tuple[float, str]] = []  # heap; stale entries skipped when popped
        self._offences: dict[str, int] = {}
        self.counts = {"verdicts": 0, "bans": 0, "unbans": 0, "refused": 0}

    # -- start -----------------------------------------------------------------------------------

    def load(self, now: float, restore: bool = True) -> list[BanRecord]:
        """Take the store's active bans and offence counts into memory and (`restore`) put the bans
        back into the kernel (one batch). Returns the active bans."""
        st = self.journal.store
        active = st.active_bans(now)
        self._offences = st.offence_counts()
        for r in active:
            self._remember(r)
        if restore:
            self.kernel.ban([Ban(r.ip, r.expires, r.reason) for r in active], now)
        return active

    # -- the contract ----------------------------------------------------------------------------

    def apply(self, verdicts: Iterable[Verdict], now: float, origin: str = "local") -> list[BanRecord]:
        """Automatic bans: each verdict through policy; the bans decided go to the kernel and the store
        as one batch each. Returns the new bans."""
        decisions: list[Decision] = []
        decide = self.policy.decide
        for v in verdicts:
            self.counts["verdicts"] += 1
            try:
                # a compromise (a cracked account) replaces the source's ban: a longer one, and an
                # alert to the outputs, even when it is banned already for what it did before
                d = decide(v, self._offences.get(v.ip, 0),
                           self.is_banned(v.ip, now) and v.reason != Reason.COMPROMISE)
            except Exception:
                self.errors.record("policy", f"deciding on {v.ip}")
                continue
            if d.ban:
                decisions.append(d)
            else:
                self.counts["refused"] += 1
                if d.why != "already banned":
                    log.info("no ban for %s (%s): %s", v.ip, v.reason, d.why)
        return self._ban(decisions, now, origin, manual=False)

    def manual(self, ip: str, duration: float | None, reason: str = "manual", force: bool = False,
               origin: str = "operator", now: float | None = None) -> BanRecord:
        """An operator's (or the API's) ban; ValueError, phrased for the operator, when refused."""
        now = self.clock() if now is None else now
        d = self.policy.manual(ip, duration, reason, force=force, at=now)
        return self._ban([d], now, origin, manual=True)[0]

    def unban(self, ip: str, by: str = "operator", now: float | None = None) -> bool:
        """Lift the ban of `ip` now (kernel and store); True if it was banned. The kernel is asked
        to lift it even when it was not (an operator's way to clear a stray entry)."""
        now = self.clock() if now is None else now
        target = self.target(ip)
        rec = self._active.pop(target, None)
        lifted = rec is not None and (rec.expires is None or rec.expires > now)
        self.kernel.unban([target])
        self.journal.lift(target, now, by)
        if rec is not None:
            self._changed([self._unban_change(rec, now, by)])
        return lifted

    @staticmethod
    def target(ip: str) -> str:
        """`ip` as bans are keyed: the canonical address or network."""
        t = parse_target(ip)
        return t.key if t is not None else ip.strip()

    def active(self, now: float | None = None) -> list[BanRecord]:
        """Bans in force, oldest first."""
        now = self.clock() if now is None else now
        return sorted((r for r in self._active.values() if r.expires is None or r.expires > now),
                      key=lambda r: r.start)

    def count(self, now: float) -> int:
        """How many bans are in force (for status: no sorting)."""
        return sum(1 for r in self._active.values() if r.expires is None or r.expires > now)

    def is_banned(self, ip: str, now: float) -> bool:
        r = self._active.get(ip)
        return r is not None and (r.expires is None or r.expires > now)

    def offences(self, ip: str) -> int:
        return self._offences.get(ip, 0)

    def wanted(self, now: float) -> Wanted:
        """What the kernel must hold: every active ban, its expiry and its reason (the comment)."""
        live = {ip: r for ip, r in self._active.items() if r.expires is None or r.expires > now}
        return Wanted({ip: r.expires for ip, r in live.items()}, {ip: r.reason for ip, r in live.items()})

    def expire(self, now: float) -> list[str]:
        """End the bans whose time is up (kernel timeouts did it already where the backend has them)."""
        ended: list[BanRecord] = []
        heap = self._expiry
        while heap and heap[0][0] <= now:
            exp, ip = heapq.heappop(heap)
            r = self._active.get(ip)
            if r is not None and r.expires == exp:
                del self._active[ip]
                ended.append(r)
        if ended:
            ips = [r.ip for r in ended]
            self.kernel.unban(ips)
            self.journal.expire(now)
            self._changed([self._unban_change(r, r.expires or now, "expired") for r in ended])
        return [r.ip for r in ended]

    def reconcile(self, now: float) -> None:
        """Make the kernel equal to the bans in memory (periodically, and after the firewall failed)."""
        self.kernel.reconcile(self.wanted(now), now)

    def status(self) -> dict:
        return {"active": len(self._active), **self.counts}

    # -- inside ----------------------------------------------------------------------------------

    def _remember(self, r: BanRecord) -> None:
        self._active[r.ip] = r
        if r.expires is not None:
            heapq.heappush(self._expiry, (r.expires, r.ip))

    def _ban(self, decisions: list[Decision], now: float, origin: str, manual: bool) -> list[BanRecord]:
        if not decisions:
            return []
        records: list[BanRecord] = []
        changes: list[BanChange] = []
        offences = self._offences
        for d in decisions:
            v = d.verdict
            expires = now + d.duration if d.duration is not None else None
            n = offences.get(v.ip, 0) + 1
            offences[v.ip] = n
            evidence = v.to_dict()
            reason = str(v.reason)
            r = BanRecord(v.ip, reason, evidence, now, expires, manual, n)
            self._remember(r)
            records.append(r)
            changes.append(BanChange("ban", v.ip, reason, expires, now, origin, evidence, manual, d.duration,
                                     d.why, n))
        self.counts["bans"] += len(records)
        self.kernel.ban([Ban(r.ip, r.expires, r.reason) for r in records], now)  # the kernel first
        self.journal.bans(records)
        self._changed(changes)
        return records

    def _unban_change(self, r: BanRecord, at: float, by: str) -> BanChange:
        self.counts["unbans"] += 1
        return BanChange("unban", r.ip, r.reason, r.expires, at, by, r.evidence, r.manual, None, by, r.offence)

    def _changed(self, changes: list[BanChange]) -> None:
        for fn in self.listeners:
            for c in changes:
                try:
                    fn(c)
                except Exception:  # one broken output must not stop the others, nor the ban
                    self.errors.record("output", f"{getattr(fn, '__qualname__', fn)} on {c.kind} {c.ip}")
