"""The engine: events in (in event-time order), verdicts out. No clock, no I/O.

`scan` over yesterday's log and the live daemon run the same engine on the same events, so they
reach the same verdicts at the same event. Memory is bounded: at most `max_tracked` sources are
remembered (least recently seen forgotten first), and idle sources are swept as time advances.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..addr import AddressSet
from ..config import DetectConfig
from ..events import FAILURE_KINDS, Event, Kind, Reason, Verdict
from . import bruteforce, enumeration, flood, tollfraud
from .distributed import Distributed
from .state import MAX_ACCOUNTS_KEPT, NO_ACCOUNTS_TRIED, Source
from .wire import WireDetector

SWEEP_EVERY = 8192  # events between sweeps of idle sources


class Engine:
    def __init__(self, cfg: DetectConfig | None = None, whitelist: AddressSet | None = None) -> None:
        self.cfg = cfg or DetectConfig()
        self.whitelist = whitelist or AddressSet()
        self.sources: dict[str, Source] = {}
        self.distributed = Distributed(self.cfg)
        self.wire = WireDetector(self.cfg)  # requests seen on the wire; evidence strength
        self.verdicts: dict[str, Verdict] = {}  # first verdict per address or network
        self.tamper = 0
        self.events = 0
        self.now = 0.0  # newest event time seen
        self._idle = max(self.cfg.findtime, self.cfg.flood_window, self.cfg.distributed_window)
        self._until_sweep = SWEEP_EVERY

    def feed_many(self, events: Iterable[Event]) -> list[Verdict]:
        out: list[Verdict] = []
        for ev in events:
            out.extend(self.feed(ev))
        return out

    def feed(self, ev: Event) -> list[Verdict]:
        """Account for one event; return the verdicts it decides (usually none).

        Kept flat (no per-event helper calls): it runs once per event, and most events come from
        sources already decided, which only add to their figures.
        """
        self.events += 1
        ip = ev[1]
        if ip is None:
            if ev[2] is Kind.TAMPER:
                self.tamper += 1
            return []
        t = ev[0]
        if t is None:
            t = self.now
        elif t > self.now:
            self.now = t
        wl = self.whitelist
        if (wl.exact or wl.nets) and ip in wl:
            return []
        src = self.sources.get(ip)
        if src is None:
            src = self.sources[ip] = Source(ip, t)
            if len(self.sources) > self.cfg.max_tracked:
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
        acct = ev[6] or ev[7]
        if acct is not None:  # Source.tried, inlined
            accounts = src.accounts
            if accounts is NO_ACCOUNTS_TRIED:
                src.accounts = [acct]
            elif len(accounts) < MAX_ACCOUNTS_KEPT and acct not in accounts:
                accounts.append(acct)
        self._until_sweep -= 1
        if self._until_sweep <= 0:
            self._sweep()
        if src.verdict is not None:  # decided: later events only add to its figures
            return []
        return self._detect(src, ev, t)

    def _detect(self, src: Source, ev: Event, t: float) -> list[Verdict]:
        cfg = self.cfg
        kind = ev.kind
        if kind is Kind.REQUEST:
            return self.wire.request(self, src, ev, t)
        found: list[tuple[Reason, str]] = self.wire.note(src, ev, t)
        if kind is Kind.AUTH_OK:
            if ev.account is not None:
                src.login(ev.account)
            flood.answered(src, ev.origin)
            self.distributed.login(src.ip, t)
            return []
        if kind is Kind.CHALLENGE_SENT:
            why = flood.challenge(src, ev.origin, t, cfg)
            if why:
                found.append((Reason.FLOOD, why))
        elif kind is Kind.AUTH_FAILED or kind is Kind.ACL_FAILED or kind is Kind.BAD_REQUEST:
            why = bruteforce.observe(src, ev, t, cfg)
            if why:
                found.append((Reason.BRUTEFORCE, why))
        elif kind is Kind.UNKNOWN_ACCOUNT:
            why = enumeration.observe(src, ev, t, cfg)
            if why:
                found.append((Reason.ENUMERATION, why))
        elif kind is Kind.CALL_REJECTED:
            why = tollfraud.observe(src, ev, t, cfg)
            if why:
                found.append((Reason.TOLLFRAUD, why))
        if ev.fingerprint is not None and cfg.fingerprints:
            found.insert(0, (Reason.SCANNER, f"attack tool fingerprint: {ev.fingerprint}"))
        if kind in FAILURE_KINDS:
            why = flood.burst(src, ev.origin, t, cfg)
            if why:
                found.append((Reason.FLOOD, why))
        out: list[Verdict] = []
        if found and src.verdict is None:
            reason, why = found[0]
            src.verdict = self.wire.strength(src, src.to_verdict(reason, t, why))
            self.verdicts.setdefault(src.ip, src.verdict)
            out.append(src.verdict)
        if kind is Kind.AUTH_FAILED and ev.account is not None and ev.account not in src.ok_accounts:
            out.extend(self._distributed_account(ev.account, src.ip, t))
        if kind in FAILURE_KINDS:
            net = self.distributed.net_failure(src.ip, t)
            if net is not None and net not in self.whitelist:
                v = self.wire.strength(src, src.to_verdict(
                    Reason.DISTRIBUTED, t, f"{self.cfg.subnet_sources} or more failing sources in {net}", ip=net))
                self.verdicts.setdefault(net, v)
                out.append(v)
        return out

    def _distributed_account(self, account: str, ip: str, t: float) -> list[Verdict]:
        ips = self.distributed.account_failure(account, ip, t)
        if not ips:
            return []
        out = []
        for other in ips:
            s = self.sources.get(other)
            if s is None or s.verdict is not None or account in s.ok_accounts:
                continue
            s.verdict = self.wire.strength(s, s.to_verdict(
                Reason.DISTRIBUTED, t, f"one of {self.cfg.distributed_sources} or more sources guessing account {account}"))
            self.verdicts.setdefault(other, s.verdict)
            out.append(s.verdict)
        return out

    def source(self, ip: str) -> Source | None:
        return self.sources.get(ip)

    def forget(self, ip: str) -> None:
        """Drop what is known about `ip` (its ban ended or was lifted): it starts again from zero,
        so a source that comes back after its ban is judged afresh and can be banned again."""
        self.sources.pop(ip, None)
        self.verdicts.pop(ip, None)
        self.distributed.forget(ip)
        self.wire.flagged_nets.discard(ip)

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
            keep = int(self.cfg.max_tracked * 0.75)
            by_age = sorted(sources.items(), key=lambda kv: kv[1].last)
            gone = [ip for ip, _ in by_age[: len(sources) - keep]]
        for ip in gone:
            s = sources.pop(ip)
            if s.verdict is not None:
                self.verdicts[ip] = self.final(s)
        self._until_sweep = max(SWEEP_EVERY, len(sources))

    def final(self, s: Source) -> Verdict:
        """The source's first verdict with its figures brought up to date (for reports)."""
        v = s.verdict
        assert v is not None
        return self.wire.strength(s, s.to_verdict(v.reason, v.at, v.evidence))

    def report(self) -> list[Verdict]:
        """Every verdict so far, one per address or network, with final figures, by deciding time."""
        out = dict(self.verdicts)
        for ip, s in self.sources.items():
            first = out.get(ip)
            if s.verdict is not None and first is not None:
                out[ip] = self.wire.strength(s, s.to_verdict(first.reason, first.at, first.evidence))
        return sorted(out.values(), key=lambda v: (v.at, v.ip))
