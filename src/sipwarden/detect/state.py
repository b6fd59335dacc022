"""What the engine remembers: about one source (`Source`), and what every detector may read
besides it (`Context`). A source's verdict is made here, in `Source.to_verdict`, the one place
its evidence strength (`proven`) is applied.

Evidence strength: UDP can be forged, so a source whose evidence is all first packets (no round
trip) could be a victim whose address an attacker uses. A source is *proven* once it used a stream
transport (TCP/TLS/WS needs a handshake; captured TCP whose handshake was not seen arrives as
"tcp-unverified", not a stream), or the PBX judged credentials from it (AUTH_FAILED / AUTH_OK: a
digest answer needs the PBX's nonce). Log evidence that names no transport counts as proven
(nothing to tell). Verdicts on unproven sources carry `proven=False`; policy shortens their bans
(`ban.unproven_factor`).
"""

from __future__ import annotations

from ..addr import AddressSet, network_of
from ..config import DetectConfig
from ..events import Event, Kind, Reason, Verdict
from .window import UNCAPPED, KeyedWindow, Window

MAX_ACCOUNTS_KEPT = 25  # evidence keeps the first accounts tried; counts keep the total
MAX_LOGIN_NETS = 50_000  # networks remembered for a successful login, least recent dropped first
# Shared empty defaults: most sources of a spoofed flood never log in or try a second account.
NO_LOGINS: frozenset[str] = frozenset()
NO_ACCOUNTS_TRIED: list[str] = []  # never appended to: Source.tried replaces it

STREAM = frozenset({"tcp", "tls", "ws", "wss", "sctp", "TCP", "TLS", "WS", "WSS", "SCTP"})
WIRE_ORIGINS = frozenset({"wire", "hep", "capture"})  # evidence from packets, not from the PBX's logs
_PROVING = (Kind.AUTH_OK, Kind.AUTH_FAILED)


def proves(ev: Event) -> bool:
    """Does `ev` show a round trip with its source (so its address is not forged)?"""
    tr = ev[4]
    return tr in STREAM or ev[2] in _PROVING or (tr is None and ev[12] not in WIRE_ORIGINS)


class Source:
    """Per-source evidence. Windows are created lazily: most sources only ever do one thing."""

    __slots__ = ("ip", "first", "last", "total", "counts", "accounts", "numbers", "ok_accounts", "origins",
                 "verdict", "win", "fails", "proven", "digest")

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
        self.proven = False  # a round trip was seen (see `proves`): its verdicts are `proven`
        self.digest = False  # it answered a challenge with a digest on the wire (a phone, not a prober)

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
        """A verdict with this source's figures and evidence strength (`ip`: a network judged on them)."""
        # A PBX often logs a call's dialled number as the "account" too (the security log's AccountID
        # of a failed INVITE): such a name is a number dialled, not an account guessed.
        numbers = self.numbers
        accounts = tuple(a for a in self.accounts if a not in numbers) if numbers else tuple(self.accounts)
        return Verdict(ip=ip or self.ip, reason=reason, at=at, events=self.total, accounts=accounts,
                       numbers=tuple(numbers),
                       first_seen=self.first, last_seen=self.last, counts={str(k): v for k, v in self.counts.items()},
                       evidence=evidence, origins=tuple(sorted(o for o in self.origins if o)), proven=self.proven)


class Context:
    """What every detector may read besides its source: the thresholds, the operator's lists, and
    the networks real phones logged in from (never judged as a whole). One per engine; a config
    reload (`configure`) replaces the thresholds and lists and keeps the networks."""

    __slots__ = ("cfg", "whitelist", "canaries", "registrations", "ok_nets")

    def __init__(self, cfg: DetectConfig, whitelist: AddressSet) -> None:
        self.ok_nets: dict[str, float] = {}  # network -> last successful login seen from it
        self.configure(cfg, whitelist)

    def configure(self, cfg: DetectConfig, whitelist: AddressSet) -> None:
        self.cfg = cfg
        self.whitelist = whitelist
        self.canaries = frozenset(cfg.canary_accounts)
        self.registrations = AddressSet(cfg.registrations_from) if cfg.registrations_from else None

    def net_of(self, ip: str) -> str:
        """The /24 or /64 (by the configured prefixes) that `ip` is judged in with its neighbours."""
        return network_of(ip, self.cfg.subnet_v4_prefix, self.cfg.subnet_v6_prefix)

    def logged_in(self, ip: str, t: float) -> None:
        """A successful login from `ip` at `t`: its network has real phones in it."""
        if len(self.ok_nets) >= MAX_LOGIN_NETS:
            self.ok_nets = dict(sorted(self.ok_nets.items(), key=lambda kv: kv[1])[MAX_LOGIN_NETS // 2:])
        cfg = self.cfg
        self.ok_nets[network_of(ip, cfg.subnet_v4_prefix, cfg.subnet_v6_prefix)] = t
