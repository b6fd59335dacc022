"""SIGHUP (`systemctl reload sipwarden`): read the config again and apply what can change while the
daemon runs: the whitelist, detector thresholds, ban durations (policy) and notifications. Bans,
offences, detector state and read positions are kept. A config that does not load is refused with
one log line and the running config stays. What needs a restart (sources, backend, table, state
dir, HTTP, fleet) is named in the log, not half-applied.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from ..config import Config
from .bans import whitelist

log = logging.getLogger("sipwarden")

# [ban] settings the policy reads on each decision; the others shape the firewall and need a restart.
POLICY_KEYS = ("bantime", "increment", "maxtime", "unproven_factor")
RESTART_TABLES = ("daemon", "wire", "http", "fleet", "blocklists")


async def reload(daemon, load: Callable[[], Config]) -> bool:  # noqa: ANN001 - a daemon.service.Daemon
    """Apply a fresh config to a running daemon. False (and nothing changed) if it does not load."""
    try:
        new = load()
    except Exception as e:  # ConfigError, or the CLI's one-line error: a reload never stops the daemon
        log.error("reload refused, the running config is kept: %s", getattr(e, "message", None) or e)
        return False
    old: Config = daemon.cfg
    later = [t for t in RESTART_TABLES if getattr(old, t, None) != getattr(new, t, None)]
    later += [f"ban.{f.name}" for f in dataclasses.fields(old.ban)
              if f.name not in POLICY_KEYS and getattr(old.ban, f.name) != getattr(new.ban, f.name)]
    ban = dataclasses.replace(old.ban, **{k: getattr(new.ban, k) for k in POLICY_KEYS})
    applied = dataclasses.replace(old, detect=new.detect, whitelist=new.whitelist, ban=ban,
                                  log=new.log, **({"notify": new.notify} if hasattr(new, "notify") else {}))
    wl = whitelist(applied)
    bans = daemon.bans
    bans.policy.cfg, bans.policy.whitelist = applied.ban, wl
    daemon.engine.reconfigure(applied.detect, wl)
    now = daemon.clock()
    lifted = [r.ip for r in bans.active(now) if "/" not in r.ip and r.ip in wl]
    for ip in lifted:  # a ban on an address the operator has just whitelisted ends now
        bans.unban(ip, by="whitelist (reload)")
    outputs = getattr(daemon, "outputs", None)
    if outputs is not None and getattr(old, "notify", None) != getattr(applied, "notify", None):
        await outputs.renotify(applied.notify)
    daemon.cfg = applied
    kept = bans.count(now)
    log.info("reloaded the config: whitelist %d entr%s, thresholds and ban times applied; %d ban%s kept%s%s",
             len(applied.whitelist.addresses), "y" if len(applied.whitelist.addresses) == 1 else "ies",
             kept, "" if kept == 1 else "s", f"; lifted (now whitelisted): {', '.join(lifted)}" if lifted else "",
             f"; changed but needs a restart: {', '.join(later)}" if later else "")
    return True
