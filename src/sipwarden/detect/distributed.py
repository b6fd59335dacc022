"""Distributed guessing: many sources against one account, or many failing sources in one /24 or /64.

Neither is visible per source, so these detectors keep tables of their own and find against other
sources (`Finding.peers`) or a network (`Finding.net`). A network that a successful login came from
is never judged as a whole (an office NAT range with real phones in it: `Context.ok_nets`).
"""

from __future__ import annotations

from ..events import Event, Reason
from .detector import Finding
from .state import Context, Source

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


def _sweep(table: dict[str, dict[str, float]], t: float, span: float) -> None:
    for k in [k for k, seen in table.items() if max(seen.values(), default=0.0) < t - span]:
        del table[k]
    if len(table) >= MAX_KEYS:  # still full of live keys: forget the oldest half
        for k in list(table)[: MAX_KEYS // 2]:
            del table[k]


class DistributedAccount:
    """`distributed_sources` or more sources failing passwords (AUTH_FAILED) on one account within
    `distributed_window`: finds against all of them the first time, then against each new one."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.by_account: dict[str, dict[str, float]] = {}
        self.flagged_accounts: dict[str, set[str]] = {}  # account -> sources already found against

    def observe(self, src: Source, ev: Event, t: float) -> Finding | None:
        account = ev.account
        if account is None or account in src.ok_accounts:
            return None
        cfg = self.ctx.cfg
        ip = src.ip
        seen = self.by_account.get(account)
        if seen is None:
            if len(self.by_account) >= MAX_KEYS:
                _sweep(self.by_account, t, cfg.distributed_window)
            seen = self.by_account[account] = {}
        if _recent(seen, ip, t, cfg.distributed_window, cfg.distributed_sources) < cfg.distributed_sources:
            return None
        flagged = self.flagged_accounts.get(account)
        if flagged is None:
            if len(self.flagged_accounts) >= MAX_KEYS:
                self.flagged_accounts.clear()
            flagged = self.flagged_accounts[account] = set(seen)
            peers = tuple(flagged)
        elif ip in flagged:
            return None
        else:
            flagged.add(ip)
            peers = (ip,)
        return Finding(Reason.DISTRIBUTED, f"one of {cfg.distributed_sources} or more sources guessing account "
                                           f"{account}", peers=peers)

    def forget(self, ip: str) -> None:
        for flagged in self.flagged_accounts.values():
            flagged.discard(ip)


class DistributedNet:
    """`subnet_sources` or more distinct failing sources in one /24 or /64 within `findtime`."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.by_net: dict[str, dict[str, float]] = {}
        self.flagged_nets: set[str] = set()

    def observe(self, src: Source, ev: Event, t: float) -> Finding | None:
        ctx = self.ctx
        net = ctx.net_of(src.ip)
        if net in self.flagged_nets or net in ctx.ok_nets:
            return None
        cfg = ctx.cfg
        seen = self.by_net.get(net)
        if seen is None:
            if len(self.by_net) >= MAX_KEYS:
                _sweep(self.by_net, t, cfg.findtime)
            seen = self.by_net[net] = {}
        if _recent(seen, src.ip, t, cfg.findtime, cfg.subnet_sources) < cfg.subnet_sources:
            return None
        if len(self.flagged_nets) >= MAX_KEYS:
            self.flagged_nets.clear()  # forgetting lets a still-active network be flagged again
        self.flagged_nets.add(net)
        del self.by_net[net]
        return Finding(Reason.DISTRIBUTED, f"{cfg.subnet_sources} or more failing sources in {net}", net=net)

    def forget(self, ip: str) -> None:
        self.flagged_nets.discard(ip)
