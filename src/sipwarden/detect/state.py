"""What the engine remembers about one source address, and how it turns into a Verdict."""

from __future__ import annotations

from ..events import Reason, Verdict
from .window import UNCAPPED, KeyedWindow, Window

MAX_ACCOUNTS_KEPT = 25  # evidence keeps the first accounts tried; counts keep the total
# Shared empty defaults: most sources of a spoofed flood never log in or try a second account.
NO_LOGINS: frozenset[str] = frozenset()
NO_ACCOUNTS_TRIED: list[str] = []  # never appended to: Source.tried replaces it


class Source:
    """Per-source evidence. Windows are created lazily: most sources only ever do one thing."""

    __slots__ = ("ip", "first", "last", "total", "counts", "accounts", "numbers", "ok_accounts", "origins",
                 "verdict", "win", "fails")

    def __init__(self, ip: str, t: float) -> None:
        self.ip = ip
        self.first = t
        self.last = t
        self.total = 0
        self.counts: dict[str, int] = {}
        self.accounts: list[str] = NO_ACCOUNTS_TRIED  # replaced by a list of its own on first use
        self.numbers: list[str] = NO_ACCOUNTS_TRIED  # numbers dialled (call targets), kept apart from accounts
        self.ok_accounts: set[str] | frozenset[str] = NO_LOGINS  # replaced by a set on first login
        self.origins: tuple[str, ...] = ()
        self.verdict: Verdict | None = None
        # Windows by (what, origin). The same failure is often reported twice (messages and
        # security log): counting per origin and deciding on the strongest one avoids counting it twice.
        self.win: dict[tuple[str, str | None], Window | KeyedWindow] = {}
        # wrong passwords per (origin, account) before a login on it (compromise evidence); None until one
        self.fails: dict[tuple[str | None, str], int] | None = None

    def window(self, name: str, origin: str | None, span: float, cap: int = UNCAPPED) -> Window:
        """The window `name` for evidence from `origin`; `cap`: the count that decides (no more
        timestamps than that are kept)."""
        w = self.win.get((name, origin))
        if w is None:
            w = self.win[(name, origin)] = Window(span, cap)
        return w  # type: ignore[return-value]

    def keyed(self, name: str, origin: str | None, span: float, cap: int = UNCAPPED) -> KeyedWindow:
        w = self.win.get((name, origin))
        if w is None:
            w = self.win[(name, origin)] = KeyedWindow(span, cap)
        return w  # type: ignore[return-value]

    def login(self, account: str) -> None:
        if self.ok_accounts is NO_LOGINS:
            self.ok_accounts = set()
        self.ok_accounts.add(account)  # type: ignore[union-attr]

    def failed(self, origin: str | None, account: str) -> None:
        fails = self.fails
        if fails is None:
            fails = self.fails = {}
        key = (origin, account)
        n = fails.get(key)
        if n is not None:
            fails[key] = n + 1
        elif len(fails) < MAX_ACCOUNTS_KEPT:
            fails[key] = 1

    def failures_on(self, account: str) -> int:
        """Wrong passwords on `account` (the strongest evidence source: each is reported once there)."""
        if not self.fails:
            return 0
        return max((n for (_, a), n in self.fails.items() if a == account), default=0)

    def tried(self, account: str) -> None:
        accounts = self.accounts
        if accounts is NO_ACCOUNTS_TRIED:
            self.accounts = [account]
        elif len(accounts) < MAX_ACCOUNTS_KEPT and account not in accounts:
            accounts.append(account)

    def to_verdict(self, reason: Reason, at: float, evidence: str, ip: str | None = None) -> Verdict:
        # A PBX often logs a call's dialled number as the "account" too (the security log's AccountID
        # of a failed INVITE): such a name is a number dialled, not an account guessed.
        numbers = self.numbers
        accounts = tuple(a for a in self.accounts if a not in numbers) if numbers else tuple(self.accounts)
        return Verdict(ip=ip or self.ip, reason=reason, at=at, events=self.total, accounts=accounts,
                       numbers=tuple(numbers),
                       first_seen=self.first, last_seen=self.last, counts={str(k): v for k, v in self.counts.items()},
                       evidence=evidence, origins=tuple(sorted(o for o in self.origins if o)))
