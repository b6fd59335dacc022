"""What a report shows, reduced from events as they stream by: pure, no clock, no I/O.

A day of a busy log is millions of events; the page needs a few thousand numbers. `Aggregate`
keeps bounded state per event (time buckets per kind, a per-source line, per-account and
per-dialled-number counters, each capped) and `document()` turns it into the report's JSON. The
daemon's dashboard draws the same shapes (`timeline_doc`, `bans_doc`) from its store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..events import Event, Kind, iso

# Bucket widths (seconds), each a multiple of the one before, so counts can be merged upwards.
STEPS = (1, 2, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 86400, 604800)
MAX_POINTS = 1500  # buckets on a chart: a day at 60 s, so a 15-minute flood is 15 bars
_FINE_LIMIT = 20_000  # buckets held while reading before they are merged into wider ones
MAX_SOURCES_KEPT = 200_000  # sources tracked while reading (a spoofed flood has millions)
MAX_SOURCES_SHOWN = 1000  # rows of the top sources table (every verdict's address is added)
MAX_ACCOUNTS_KEPT = 100_000
MAX_ACCOUNTS_SHOWN = 200
MAX_NUMBERS_KEPT = 100_000
ACCOUNTS_PER_SOURCE = 20  # accounts remembered per source (the count goes on)
ALERT_REASONS = frozenset({"compromise"})  # verdict reasons shown above everything else

# What an account-bearing event says about the account: the PBX knows it, or it does not.
_SLOT = {Kind.AUTH_FAILED: 0, Kind.ACL_FAILED: 0, Kind.UNKNOWN_ACCOUNT: 1, Kind.AUTH_OK: 2}


def pick_step(span: float, at_least: int = 1) -> int:
    """The narrowest bucket width in STEPS, at least `at_least`, that draws `span` seconds in MAX_POINTS bars."""
    for s in STEPS:
        if s >= at_least and span / s <= MAX_POINTS:
            return s
    return STEPS[-1]


@dataclass
class _Source:
    events: int = 0
    first: float | None = None
    last: float | None = None
    accounts: set[str] = field(default_factory=set)
    accounts_tried: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


class Aggregate:
    """Feed events in (any order); read the report's tables and series out."""

    def __init__(self) -> None:
        self.step = STEPS[0]
        self.buckets: dict[int, dict[str, int]] = {}
        self.kinds: dict[str, int] = {}
        self.sources: dict[str, _Source] = {}
        self.sources_dropped = 0  # events of sources beyond MAX_SOURCES_KEPT
        self.accounts: dict[str, list[int]] = {}  # account -> [wrong password/ACL, unknown, logins, other]
        self.numbers: dict[str, int] = {}  # dialled number -> rejected calls
        self.events = 0
        self.untimed = 0
        self.first: float | None = None
        self.last: float | None = None

    def feed_many(self, events: Iterable[Event]) -> None:
        for ev in events:
            self.feed(ev)

    def feed(self, ev: Event) -> None:
        """Account for one event. Kept flat and on tuple indexes: it runs once per event of the log."""
        self.events += 1
        t, ip, kind = ev[0], ev[1], ev[2]
        kinds = self.kinds
        kinds[kind] = kinds.get(kind, 0) + 1
        if t is None:
            self.untimed += 1
        else:
            if self.first is None or t < self.first:
                self.first = t
            if self.last is None or t > self.last:
                self.last = t
            step = self.step
            b = int(t) // step * step
            row = self.buckets.get(b)
            if row is None:
                row = self.buckets[b] = {}
                if len(self.buckets) > _FINE_LIMIT:
                    self._widen()
                    step = self.step
                    row = self.buckets.setdefault(int(t) // step * step, {})
            row[kind] = row.get(kind, 0) + 1
        account = ev[6]
        if ip is not None:
            src = self.sources.get(ip)
            if src is None:
                if len(self.sources) >= MAX_SOURCES_KEPT:
                    self.sources_dropped += 1
                else:
                    src = self.sources[ip] = _Source()
            if src is not None:
                src.events += 1
                sk = src.kinds
                sk[kind] = sk.get(kind, 0) + 1
                if t is not None:
                    if src.first is None or t < src.first:
                        src.first = t
                    if src.last is None or t > src.last:
                        src.last = t
                if account and account not in src.accounts:
                    if len(src.accounts) < ACCOUNTS_PER_SOURCE:
                        src.accounts.add(account)
                    src.accounts_tried += 1
        if account:
            acc = self.accounts.get(account)
            if acc is None and len(self.accounts) < MAX_ACCOUNTS_KEPT:
                acc = self.accounts[account] = [0, 0, 0, 0]
            if acc is not None:
                acc[_SLOT.get(kind, 3)] += 1
        if kind is Kind.CALL_REJECTED and ev[7]:
            target = ev[7]
            n = self.numbers.get(target)
            if n is not None or len(self.numbers) < MAX_NUMBERS_KEPT:
                self.numbers[target] = (n or 0) + 1

    def _widen(self) -> None:
        """Merge the buckets into the next wider width until few enough remain."""
        while len(self.buckets) > _FINE_LIMIT // 2:
            self.step = STEPS[min(STEPS.index(self.step) + 1, len(STEPS) - 1)]
            merged: dict[int, dict[str, int]] = {}
            for b, row in self.buckets.items():
                into = merged.setdefault(b // self.step * self.step, {})
                for k, n in row.items():
                    into[k] = into.get(k, 0) + n
            self.buckets = merged
            if self.step == STEPS[-1]:
                break

    # --- read out -------------------------------------------------------------------------------

    def timeline(self) -> dict:
        """Events per bucket stacked by kind: {step, kinds, points: [[t, n_kind0, n_kind1, ...]]}.

        Only buckets with events are listed (a quiet night costs nothing); `t` is epoch seconds."""
        span = (self.last - self.first) if self.first is not None and self.last is not None else 0
        step = pick_step(span, self.step)
        rows: dict[int, dict[str, int]] = {}
        for b, row in self.buckets.items():
            into = rows.setdefault(b // step * step, {})
            for k, n in row.items():
                into[k] = into.get(k, 0) + n
        return timeline_doc(step, ((b, str(k), n) for b, row in rows.items() for k, n in row.items()))

    def source_rows(self, verdicts: list[dict]) -> list[dict]:
        """The top sources by events, then verdicts' addresses not among them (up to twice the rows)."""
        by_ip = {v["ip"]: v for v in verdicts}
        top = sorted(self.sources.items(), key=lambda kv: -kv[1].events)[:MAX_SOURCES_SHOWN]
        shown = {ip for ip, _ in top}
        room = MAX_SOURCES_SHOWN * 2 - len(top)  # every verdict also has its own row in the verdicts table
        top += [(ip, self.sources.get(ip, _Source())) for ip in by_ip if ip not in shown][:max(room, 0)]
        rows = []
        for ip, s in top:
            v = by_ip.get(ip)
            rows.append({
                "ip": ip,
                "reason": v["reason"] if v else None,
                "events": s.events if s.events else (v["events"] if v else 0),
                "accounts": s.accounts_tried if s.events else len(v["accounts"]) if v else 0,
                "sample_accounts": sorted(s.accounts)[:5] if s.events else (v["accounts"][:5] if v else []),
                "first_seen": iso(s.first) if s.first is not None else (v or {}).get("first_seen"),
                "last_seen": iso(s.last) if s.last is not None else (v or {}).get("last_seen"),
                "evidence": ("unproven" if v.get("proven") is False else "proven") if v else None,
                "kinds": {str(k): n for k, n in sorted(s.kinds.items(), key=lambda kv: -kv[1])},
            })
        return rows

    def account_rows(self) -> list[dict]:
        """Top accounts by events. `status`: the PBX judged it existing (a wrong password, an ACL
        refusal, a login) or unknown ("no matching peer"); "unjudged" when only challenged."""
        top = sorted(self.accounts.items(), key=lambda kv: -sum(kv[1]))[:MAX_ACCOUNTS_SHOWN]
        return [{"account": a, "status": "existing" if c[0] or c[2] else "unknown" if c[1] else "unjudged",
                 "known_failures": c[0], "unknown_failures": c[1], "logins": c[2], "total": sum(c)} for a, c in top]


def timeline_doc(step: int, rows: Iterable[tuple[float, str, int]]) -> dict:
    """(bucket start, kind, count) rows -> the timeline shape the charts draw (kinds by volume)."""
    per: dict[float, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for b, k, n in rows:
        row = per.setdefault(b, {})
        row[k] = row.get(k, 0) + n
        totals[k] = totals.get(k, 0) + n
    kinds = sorted(totals, key=lambda k: -totals[k])
    points = [[int(b) if float(b).is_integer() else b, *(per[b].get(k, 0) for k in kinds)] for b in sorted(per)]
    return {"step": step, "kinds": kinds, "points": points}


def bans_doc(step: int, bans: Iterable[float], unbans: Iterable[float]) -> dict:
    """Ban and unban times -> {step, points: [[t, bans, unbans]]} for the bans chart."""
    per: dict[int, list[int]] = {}
    for i, times in enumerate((bans, unbans)):
        for t in times:
            b = int(t // step * step)
            per.setdefault(b, [0, 0])[i] += 1
    return {"step": step, "points": [[b, *per[b]] for b in sorted(per)]}
