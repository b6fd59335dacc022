"""Kernel (and remote) enforcement of bans: one interface, several backends.

`make_enforcer(cfg.ban)` gives the configured backend. `netns` runs every firewall change inside
that network namespace (tests and labs); the daemon passes None.
"""

from __future__ import annotations

from ..config import BanConfig
from .base import Ban, EnforceError, Enforcer

__all__ = ["Ban", "EnforceError", "Enforcer", "check_names", "make_enforcer"]


def check_names(cfg: BanConfig) -> None:
    """What the configured backend would refuse later, said at config time: its table/set names and
    its command line (EnforceError). Builds nothing and touches no firewall."""
    import re
    import shlex
    if cfg.backend == "nftables" and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,30}", cfg.table):
        raise EnforceError(f"ban.table: {cfg.table!r} is not a valid nftables table name "
                           "(letters, digits, underscore; starts with a letter; at most 31 characters)")
    if cfg.backend == "ipset" and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,22}", cfg.table):
        raise EnforceError(f"ban.table: {cfg.table!r} is not usable as an ipset/iptables name "
                           "(letters, digits, underscore; at most 23 characters)")
    if cfg.backend == "command":
        try:
            argv = shlex.split(cfg.command)
        except ValueError as e:
            raise EnforceError(f"ban.command: cannot split {cfg.command!r}: {e}") from None
        if not argv:
            raise EnforceError("ban.command: required when ban.backend = \"command\"")


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
