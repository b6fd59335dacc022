"""What the engine remembers about one source address, and how it turns into a Verdict."""

from __future__ import annotations

from ..events import Event, Reason, Verdict
from .window import KeyedWindow, Window

MAX_ACCOUNTS_KEPT = 25  # evidence keeps the first accounts tried; counts keep the total


class Source:
    """Per-source evidence. Windows are created lazily: most sources only ever do one thing."""

    __slots__ = ("ip", "first", "last", "total", "counts", "accounts", "ok_accounts", "origins",
                 "verdict", "win")

    def __init__(self, ip: str, t: float) -> None:
        self.ip = ip
        self.first = t
        self.last = t
        self.total = 0
        self.counts: dict[str, int] = {}
        self.accounts: list[str] = []
        self.ok_accounts: set[str] = set()
        self.origins: set[str] = set()
        self.verdict: Verdict | None = None
        # Windows by (what, origin). The same failure is often reported twice (messages and
        # security log): counting per origin and deciding on the strongest one avoids counting it twice.
        self.win: dict[tuple[str, str | None], Window | KeyedWindow] = {}

    def window(self, name: str, origin: str | None, span: float) -> Window:
        w = self.win.get((name, origin))
        if w is None:
            w = self.win[(name, origin)] = Window(span)
        return w  # type: ignore[return-value]

    def keyed(self, name: str, origin: str | None, span: float) -> KeyedWindow:
        w = self.win.get((name, origin))
        if w is None:
            w = self.win[(name, origin)] = KeyedWindow(span)
        return w  # type: ignore[return-value]

    def note(self, ev: Event, t: float) -> None:
        self.total += 1
        if t > self.last:
            self.last = t
        elif t < self.first:
            self.first = t
        counts = self.counts
        kind = ev.kind
        counts[kind] = counts.get(kind, 0) + 1
        self.origins.add(ev.origin)
        acct = ev.account or ev.target
        if acct is not None and len(self.accounts) < MAX_ACCOUNTS_KEPT and acct not in self.accounts:
            self.accounts.append(acct)

    def to_verdict(self, reason: Reason, at: float, evidence: str, ip: str | None = None) -> Verdict:
        return Verdict(ip=ip or self.ip, reason=reason, at=at, events=self.total, accounts=tuple(self.accounts),
                       first_seen=self.first, last_seen=self.last, counts={str(k): v for k, v in self.counts.items()},
                       evidence=evidence, origins=tuple(sorted(o for o in self.origins if o)))
