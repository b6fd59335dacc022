"""The engine: events in (in event-time order), verdicts out. No clock, no I/O.

`scan` over yesterday's log and the live daemon run the same engine on the same events, so they
reach the same verdicts at the same event. Memory is bounded: at most `max_tracked` sources are
remembered, and idle sources are swept as time advances. Over the bound, the sources with the least
evidence go first (a probation tier: a single event, then unproven UDP, then the rest by age), so
a flood of spoofed one-packet sources cannot push out a slow guesser with real failures. No input
makes the engine raise: an unexpected error on one event is counted (`errors`) and the event dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from operator import attrgetter

from ..addr import AddressSet
from ..config import DetectConfig
from ..events import Event, Kind, Reason, Verdict, iso
from . import bruteforce, tollfraud
from .detector import Detector, Finding, Forgets, TakesBack
from .registry import CALLER_NAMED, REGISTRY, Entry
from .state import MAX_ACCOUNTS_KEPT, NO_ACCOUNTS_TRIED, Context, Source, proves

SWEEP_EVERY = 8192  # events between sweeps of idle sources
# Bound once for the per-event paths: on Python 3.11 each `Kind.X` is a ~50 ns lookup on the enum class.
_TAMPER, _AUTH_OK, _AUTH_FAILED, _CALL_REJECTED = Kind.TAMPER, Kind.AUTH_OK, Kind.AUTH_FAILED, Kind.CALL_REJECTED
_COMPROMISE = Reason.COMPROMISE
_LAST = attrgetter("last")
_Observe = Callable[[Source, Event, float], "Finding | None"]


class Engine:
    def __init__(self, cfg: DetectConfig | None = None, whitelist: AddressSet | None = None,
                 registry: tuple[Entry, ...] = REGISTRY) -> None:
        # thresholds and whitelist (`cfg`, `whitelist`), and what the detectors read besides the source
        self.ctx = Context(cfg or DetectConfig(), whitelist or AddressSet())
        self.registry = registry
        self.detectors: dict[str, Detector] = {e.name: e.make(self.ctx) for e in registry}
        self._route: dict[Kind | str, tuple[_Observe, ...]] = {}  # event kind -> its detectors' observe
        self._on_login: tuple[Callable[[Source, Event, float], None], ...] = ()
        self._route_detectors()
        self.sources: dict[str, Source] = {}
        self.verdicts: dict[str, Verdict] = {}  # first verdict per address or network
        self.tamper = 0
        self.errors = 0  # events an unexpected error dropped (never raised to the caller)
        # Is this address banned right now (by this node, an operator or the fleet)? The daemon sets it
        # from its ban service: a login from a banned address is a cracked account. None in scans.
        self.banned: Callable[[str, float], bool] | None = None
        self.now = 0.0  # newest event time seen
        # Sources whose bruteforce verdict waits for logins (bruteforce.spread): ip -> (due, evidence)
        self._pending: dict[str, tuple[float, str]] = {}
        self._due = float("inf")  # the earliest due time in _pending
        self._idle = max(self.cfg.findtime, self.cfg.flood_window, self.cfg.distributed_window)
        self._until_sweep = SWEEP_EVERY

    @property
    def cfg(self) -> DetectConfig:
        return self.ctx.cfg

    @property
    def whitelist(self) -> AddressSet:
        return self.ctx.whitelist

    def _route_detectors(self) -> None:
        """Which enabled detectors observe which kinds, in registry order (the rank of their findings)."""
        on = [e for e in self.registry if e.enabled(self.cfg)]
        kinds = {k for e in self.registry for k in e.kinds}
        self._route = {k: tuple(self.detectors[e.name].observe for e in on if k in e.kinds) for k in kinds}
        self._on_login = tuple(d.login for e in on if isinstance(d := self.detectors[e.name], TakesBack))

    def reconfigure(self, cfg: DetectConfig, whitelist: AddressSet) -> None:
        """New thresholds and whitelist (a config reload); what is known about each source is kept."""
        self.ctx.configure(cfg, whitelist)
        self._route_detectors()
        self._idle = max(cfg.findtime, cfg.flood_window, cfg.distributed_window)

    def feed_many(self, events: Iterable[Event]) -> list[Verdict]:
        out: list[Verdict] = []
        for ev in events:
            out.extend(self.feed(ev))
        return out

    def feed(self, ev: Event) -> list[Verdict]:
        """Account for one event; return the verdicts it decides (usually none). Never raises.

        Kept flat (no per-event helper calls): it runs once per event, and most events come from
        sources already decided, which only add to their figures.
        """
        try:
            ip = ev[1]
            if ip is None:
                if ev[2] is _TAMPER:
                    self.tamper += 1
                return []
            t = ev[0]
            if t is None:
                t = self.now
            elif t > self.now:
                self.now = t
                if t >= self._due:  # a verdict that waited for logins is due: decide it first
                    return self._release(t) + self.feed(ev)
            wl = self.ctx.whitelist
            if (wl.exact or wl.nets) and ip in wl:
                return []
            src = self.sources.get(ip)
            if src is None:
                src = self.sources[ip] = Source(ip, t)
                if len(self.sources) > self.ctx.cfg.max_tracked:
                    self._sweep(force=True)
            # what every event adds to its source's figures
            src.total += 1
            if t > src.last:
                src.last = t
            elif t < src.first:
                src.first = t
            counts = src.counts
            kind = ev[2]
            counts[kind] = counts.get(kind, 0) + 1
            origin = ev[12]
            if origin not in src.origins:
                src.origins += (origin,)
            acct = ev[6]
            if acct is not None:  # Source.tried, inlined
                accounts = src.accounts
                if accounts is NO_ACCOUNTS_TRIED:
                    src.accounts = [acct]
                elif len(accounts) < MAX_ACCOUNTS_KEPT and acct not in accounts:
                    accounts.append(acct)
            target = ev[7]
            if target is not None:  # numbers dialled: kept apart from the accounts
                numbers = src.numbers
                if numbers is NO_ACCOUNTS_TRIED:
                    src.numbers = [target]
                elif len(numbers) < MAX_ACCOUNTS_KEPT and target not in numbers:
                    numbers.append(target)
            self._until_sweep -= 1
            if self._until_sweep <= 0:
                self._sweep()
            v = src.verdict
            if v is not None:  # decided: later events only add to its figures...
                if kind is _AUTH_OK and ev[6] is not None and v.reason is not _COMPROMISE and v.proven:
                    return self._compromise(src, ev, t, f"after being judged an attacker ({v.reason})")
                fails = src.fails
                if fails is not None and kind is _AUTH_FAILED:  # ...and the failures a login would follow
                    key = (origin, ev[6])
                    n = fails.get(key)
                    if n is not None:
                        fails[key] = n + 1
                return []
            return self._detect(src, ev, t)
        except Exception:  # noqa: BLE001 - a bug must cost one event, never the daemon
            self.errors += 1
            return []

    def _detect(self, src: Source, ev: Event, t: float) -> list[Verdict]:
        """Run the detectors the registry routes `ev`'s kind to; make verdicts of their findings."""
        if not src.proven and proves(ev):
            src.proven = True
        kind = ev[2]
        if kind is _AUTH_FAILED:
            acct = ev[6]
            if acct is not None and acct not in src.ok_accounts:
                src.failed(ev[12], acct)  # compromise evidence: a login on that account would follow it
        elif kind is _CALL_REJECTED and not tollfraud.counts(ev):
            kind = CALLER_NAMED
        found: list[Finding] | None = None
        for observe in self._route.get(kind, ()):
            f = observe(src, ev, t)
            if f is not None:
                if found is None:
                    found = [f]
                else:
                    found.append(f)
        if kind is _AUTH_OK:  # a cracked account, or a phone whose evidence the detectors take back
            account = ev[6]
            if account is not None:
                if (src.fails and src.failures_on(account) >= self.ctx.cfg.compromise_failures
                        and account not in src.ok_accounts):
                    return self._compromise(src, ev, t, "")
                if self.banned is not None and self.banned(src.ip, t):
                    return self._compromise(src, ev, t, "while banned")
            for login in self._on_login:
                login(src, ev, t)
            if account is not None:
                src.login(account)
            self.ctx.logged_in(src.ip, t)
        if found is None:
            return []
        if kind is _AUTH_FAILED and self.ctx.cfg.login_grace > 0 and not src.ok_accounts:
            self._grace(src, ev, t, found)
        return self._judge(src, found, t, ev[6])

    def _grace(self, src: Source, ev: Event, t: float, found: list[Finding]) -> None:
        """Failures each on another account, paced like phones (`bruteforce.spread`): the verdict waits
        `login_grace` for logins that take them back (an office NAT after a password change), unless
        more accounts failed than an office re-logs at once. Its finding is taken out while it waits."""
        cfg = self.cfg
        i = next((i for i, f in enumerate(found) if f.reason is Reason.BRUTEFORCE), None)
        if i is None or not bruteforce.spread(src, ev[12], cfg):
            return
        if len(src.fails or ()) >= cfg.bruteforce_maxretry * cfg.stale_factor:
            self._pending.pop(src.ip, None)  # more accounts than an office re-logs at once: decide
            return
        why = found.pop(i).why
        if src.ip not in self._pending:  # already waiting: the grace is not extended
            due = t + cfg.login_grace
            self._pending[src.ip] = (due, f"{why}, each on another account, none logged into within "
                                          f"{cfg.login_grace:g}s")
            self._due = min(self._due, due)

    def _judge(self, src: Source, found: list[Finding], t: float, account: str | None = None) -> list[Verdict]:
        """Verdicts of an undecided source's findings: the first about it decides it; then each
        network found (judged on the source's figures) and each peer (on its own, unless it logged
        into `account`). The first verdict on an address or network stands."""
        out: list[Verdict] = []
        for f in found:
            if f.net is None and not f.peers:
                if src.verdict is None:
                    v = src.verdict = src.to_verdict(f.reason, t, f.why)
                    self.verdicts.setdefault(src.ip, v)
                    out.append(v)
                break
        for f in found:
            if f.net is not None:
                if f.net not in self.whitelist:
                    v = src.to_verdict(f.reason, t, f.why, ip=f.net)
                    self.verdicts.setdefault(f.net, v)
                    out.append(v)
            elif f.peers:
                for ip in f.peers:
                    s = self.sources.get(ip)
                    if s is None or s.verdict is not None or (account is not None and account in s.ok_accounts):
                        continue
                    v = s.verdict = s.to_verdict(f.reason, t, f.why)
                    self.verdicts.setdefault(ip, v)
                    out.append(v)
        return out

    def _release(self, t: float) -> list[Verdict]:
        """Decide the waiting bruteforce verdicts due by `t`: those whose failures logins did not take back."""
        out: list[Verdict] = []
        for ip, (due, why) in list(self._pending.items()):
            if due > t:
                continue
            del self._pending[ip]
            src = self.sources.get(ip)
            if src is None or src.verdict is not None:
                continue
            if bruteforce.still_guilty(src) >= self.cfg.bruteforce_maxretry:
                out.extend(self._judge(src, [Finding(Reason.BRUTEFORCE, why)], min(due, self.now)))
        self._due = min((d for d, _ in self._pending.values()), default=float("inf"))
        return out

    def _compromise(self, src: Source, ev: Event, t: float, why: str) -> list[Verdict]:
        """A login that follows failures (or a ban): the account is probably cracked. Ranks above
        every other verdict, replaces the source's earlier one, and is kept with its evidence."""
        account = ev.account or ""
        n = src.failures_on(account)
        src.login(account)
        why = f"after {n} failed attempts on it" + (f" and {why}" if why else "")
        base = src.to_verdict(Reason.COMPROMISE, t, f"logged into account {account} {why} (first success {iso(t)})")
        counts = dict(base.counts)
        counts["failures_before"] = n
        v = dataclasses.replace(base, accounts=(account,) + tuple(a for a in base.accounts if a != account),
                                counts=counts)
        src.verdict = v
        self.verdicts[src.ip] = v
        return [v]

    def source(self, ip: str) -> Source | None:
        return self.sources.get(ip)

    def forget(self, ip: str) -> None:
        """Drop what is known about `ip` (its ban ended or was lifted): it starts again from zero,
        so a source that comes back after its ban is judged afresh and can be banned again."""
        self.sources.pop(ip, None)
        self.verdicts.pop(ip, None)
        self._pending.pop(ip, None)
        for d in self.detectors.values():
            if isinstance(d, Forgets):
                d.forget(ip)

    def _sweep(self, force: bool = False) -> None:
        """Forget sources idle for longer than every window: they can no longer trigger anything.

        Runs after as many events as there are sources (amortised O(1) per event). When the
        table is over `max_tracked` even so (a flood of distinct, spoofed sources), the least
        recently seen are forgotten. A decided source leaves its final figures in `verdicts`.
        """
        sources = self.sources
        edge = self.now - self._idle
        gone = [ip for ip, s in sources.items() if s.last < edge]
        if force and len(sources) - len(gone) > self.cfg.max_tracked * 0.9:
            drop = len(sources) - int(self.cfg.max_tracked * 0.75)
            # Probation first (evidence 0), oldest first. In a spoofed flood it holds nearly every
            # source, so only it is sorted (on `last` alone, in C); the same order as the full sort.
            failed, ok = Kind.AUTH_FAILED, Kind.AUTH_OK
            probation = [s for s in sources.values() if s.total <= 1 and s.verdict is None
                         and failed not in s.counts and ok not in s.counts]
            if len(probation) >= drop:
                probation.sort(key=_LAST)
                gone = [s.ip for s in probation[:drop]]
            else:
                by_evidence = sorted(sources.items(), key=lambda kv: (_evidence(kv[1]), kv[1].last))
                gone = [ip for ip, _ in by_evidence[:drop]]
        for ip in gone:
            s = sources.pop(ip)
            if s.verdict is not None:
                self.verdicts[ip] = self.final(s)
        self._until_sweep = max(SWEEP_EVERY, len(sources))

    def final(self, s: Source, v: Verdict | None = None) -> Verdict:
        """Verdict `v` (default: the source's own) with the source's figures brought up to date (for reports)."""
        v = s.verdict if v is None else v
        assert v is not None
        out = s.to_verdict(v.reason, v.at, v.evidence)
        if v.reason is Reason.COMPROMISE:
            out = dataclasses.replace(out, accounts=v.accounts, counts={**out.counts, **v.counts})
        return out

    def report(self) -> list[Verdict]:
        """Every verdict so far, one per address or network, with final figures: compromised accounts
        first, then by deciding time. Verdicts still waiting for logins are decided (the input ended)."""
        if self._pending:
            self._release(float("inf"))
        out = dict(self.verdicts)
        for ip, s in self.sources.items():
            first = out.get(ip)
            if s.verdict is not None and first is not None:
                out[ip] = self.final(s, first)
        return sorted(out.values(), key=lambda v: (v.reason is not Reason.COMPROMISE, v.at, v.ip))


def _evidence(s: Source) -> int:
    """How much would be lost by forgetting `s`: 0 a single event (probation), 1 more events but no
    round trip, 2 proven, 3 a failed or successful login (the PBX judged its credentials: real
    failures on real accounts), 4 decided (its verdict is kept anyway, its figures are not)."""
    if s.verdict is not None:
        return 4
    counts = s.counts
    if Kind.AUTH_FAILED in counts or Kind.AUTH_OK in counts:
        return 3
    if s.total <= 1:
        return 0
    return 2 if s.proven else 1
