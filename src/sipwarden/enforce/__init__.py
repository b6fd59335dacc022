"""Kernel (and remote) enforcement of bans: one interface, several backends.

`make_enforcer(cfg.ban)` gives the configured backend. `netns` runs every firewall change inside
that network namespace (tests and labs); the daemon passes None.
"""

from __future__ import annotations

from ..config import BanConfig
from .base import Ban, EnforceError, Enforcer

__all__ = ["Ban", "EnforceError", "Enforcer", "make_enforcer"]


def make_enforcer(cfg: BanConfig, netns: str | None = None) -> Enforcer:
    """The backend named by `cfg.backend` (nftables | ipset | command | dry-run)."""
    if cfg.backend == "nftables":
        from .nftables import NftablesEnforcer
        return NftablesEnforcer(cfg, netns)
    if cfg.backend == "ipset":
        from .ipset import IpsetEnforcer
        return IpsetEnforcer(cfg, netns)
    if cfg.backend == "command":
        from .command import CommandEnforcer
        return CommandEnforcer(cfg, netns)
    if cfg.backend == "dry-run":
        from .dryrun import DryRunEnforcer
        return DryRunEnforcer()
    raise EnforceError(f"ban.backend: unknown backend {cfg.backend!r} (nftables, ipset, command, dry-run)")
