"""Distributed guessing: many sources against one account, or many failing sources in one /24 or /64.

Neither is visible per source. A network that a successful login came from is never banned as a
whole (an office NAT range with real phones in it).
"""

from __future__ import annotations

from ..addr import network_of
from ..config import DetectConfig
from .window import KeyedWindow

MAX_KEYS = 100_000  # accounts / networks tracked at once


class Distributed:
    def __init__(self, cfg: DetectConfig) -> None:
        self.cfg = cfg
        self.by_account: dict[str, KeyedWindow] = {}
        self.by_net: dict[str, KeyedWindow] = {}
        self.ok_nets: dict[str, float] = {}  # network -> last successful login seen from it
        self.flagged_nets: set[str] = set()
        self.flagged_accounts: dict[str, set[str]] = {}  # account -> sources already reported

    def account_failure(self, account: str, ip: str, t: float) -> list[str] | None:
        """Record a failure; if the account is under distributed attack, return its sources not
        reported before (all of them the first time, then each new one)."""
        w = self.by_account.get(account)
        if w is None:
            if len(self.by_account) >= MAX_KEYS:
                self._sweep(self.by_account, t)
            w = self.by_account[account] = KeyedWindow(self.cfg.distributed_window)
        w.add(t, ip)
        if w.distinct < self.cfg.distributed_sources:
            return None
        seen = self.flagged_accounts.get(account)
        if seen is None:
            if len(self.flagged_accounts) >= MAX_KEYS:
                self.flagged_accounts.clear()
            seen = self.flagged_accounts[account] = set(w.keys)
            return list(seen)
        if ip in seen:
            return None
        seen.add(ip)
        return [ip]

    def net_of(self, ip: str) -> str:
        return network_of(ip, self.cfg.subnet_v4_prefix, self.cfg.subnet_v6_prefix)

    def net_failure(self, ip: str, t: float) -> str | None:
        """Record a failing source; return the network when enough distinct sources in it fail."""
        net = self.net_of(ip)
        if net in self.flagged_nets or net in self.ok_nets:
            return None
        w = self.by_net.get(net)
        if w is None:
            if len(self.by_net) >= MAX_KEYS:
                self._sweep(self.by_net, t)
            w = self.by_net[net] = KeyedWindow(self.cfg.findtime)
        w.add(t, ip)
        if w.distinct >= self.cfg.subnet_sources:
            self.flagged_nets.add(net)
            return net
        return None

    def login(self, ip: str, t: float) -> None:
        self.ok_nets[self.net_of(ip)] = t

    def _sweep(self, table: dict[str, KeyedWindow], t: float) -> None:
        for k in [k for k, w in table.items() if not w.items or w.items[-1][0] < t - w.span]:
            del table[k]
        if len(table) >= MAX_KEYS:  # still full of live keys: forget the oldest half
            for k in list(table)[: MAX_KEYS // 2]:
                del table[k]
