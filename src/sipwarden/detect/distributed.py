"""Distributed guessing: many sources against one account, or many failing sources in one /24 or /64.

Neither is visible per source. A network that a successful login came from is never banned as a
whole (an office NAT range with real phones in it).
"""

from __future__ import annotations

from ..addr import network_of
from ..config import DetectConfig

MAX_KEYS = 50_000  # accounts / networks tracked at once


def _recent(seen: dict[str, float], ip: str, t: float, span: float, need: int) -> int:
    """Record `ip` at `t` in a small {source: last time} table; return how many distinct sources
    were seen within `span`. The table never holds much more than `need` live entries: a flood of
    spoofed sources costs a few hundred bytes per account or network, not a window each."""
    seen[ip] = t
    if len(seen) < need:
        return len(seen)
    edge = t - span
    live = {k: v for k, v in seen.items() if v >= edge}
    if len(live) > 4 * need:  # keep the newest: they are the ones that can still add up
        live = dict(sorted(live.items(), key=lambda kv: kv[1])[-2 * need:])
    if len(live) != len(seen):
        seen.clear()
        seen.update(live)
    return len(live)


class Distributed:
    def __init__(self, cfg: DetectConfig) -> None:
        self.cfg = cfg
        self.by_account: dict[str, dict[str, float]] = {}
        self.by_net: dict[str, dict[str, float]] = {}
        self.ok_nets: dict[str, float] = {}  # network -> last successful login seen from it
        self.flagged_nets: set[str] = set()
        self.flagged_accounts: dict[str, set[str]] = {}  # account -> sources already reported

    def account_failure(self, account: str, ip: str, t: float) -> list[str] | None:
        """Record a failure; if the account is under distributed attack, return its sources not
        reported before (all of them the first time, then each new one)."""
        seen = self.by_account.get(account)
        if seen is None:
            if len(self.by_account) >= MAX_KEYS:
                self._sweep(self.by_account, t, self.cfg.distributed_window)
            seen = self.by_account[account] = {}
        cfg = self.cfg
        if _recent(seen, ip, t, cfg.distributed_window, cfg.distributed_sources) < cfg.distributed_sources:
            return None
        flagged = self.flagged_accounts.get(account)
        if flagged is None:
            if len(self.flagged_accounts) >= MAX_KEYS:
                self.flagged_accounts.clear()
            flagged = self.flagged_accounts[account] = set(seen)
            return list(flagged)
        if ip in flagged:
            return None
        flagged.add(ip)
        return [ip]

    def net_of(self, ip: str) -> str:
        return network_of(ip, self.cfg.subnet_v4_prefix, self.cfg.subnet_v6_prefix)

    def net_failure(self, ip: str, t: float) -> str | None:
        """Record a failing source; return the network when enough distinct sources in it fail."""
        net = self.net_of(ip)
        if net in self.flagged_nets or net in self.ok_nets:
            return None
        seen = self.by_net.get(net)
        if seen is None:
            if len(self.by_net) >= MAX_KEYS:
                self._sweep(self.by_net, t, self.cfg.findtime)
            seen = self.by_net[net] = {}
        if _recent(seen, ip, t, self.cfg.findtime, self.cfg.subnet_sources) >= self.cfg.subnet_sources:
            if len(self.flagged_nets) >= MAX_KEYS:
                self.flagged_nets.clear()  # forgetting lets a still-active network be flagged again
            self.flagged_nets.add(net)
            del self.by_net[net]
            return net
        return None

    def forget(self, ip_or_net: str) -> None:
        """A ban ended: the network (or the source, on every account) may be judged again."""
        self.flagged_nets.discard(ip_or_net)
        for flagged in self.flagged_accounts.values():
            flagged.discard(ip_or_net)

    def login(self, ip: str, t: float) -> None:
        if len(self.ok_nets) >= MAX_KEYS:
            self.ok_nets = dict(sorted(self.ok_nets.items(), key=lambda kv: kv[1])[MAX_KEYS // 2:])
        self.ok_nets[self.net_of(ip)] = t

    @staticmethod
    def _sweep(table: dict[str, dict[str, float]], t: float, span: float) -> None:
        for k in [k for k, seen in table.items() if max(seen.values(), default=0.0) < t - span]:
            del table[k]
        if len(table) >= MAX_KEYS:  # still full of live keys: forget the oldest half
            for k in list(table)[: MAX_KEYS // 2]:
                del table[k]
