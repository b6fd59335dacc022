"""The control commands (status, bans, ban, unban).

The control commands talk to the running daemon through its unix socket in the state dir; when
no daemon is running they work on the store (and the firewall) directly where that makes sense,
so an operator can still list, add or lift bans.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time

import click

from ..config import Config
from .common import (
    OperatorError,
    ask,
    config_option,
    format_option,
    load_config,
    print_table,
    state_dir_of,
    state_option,
)
from .common import plural as _n


def parse_duration(text: str | None) -> float | None:
    """`--for`: config.ban_duration (the same rule as the API's `for`), 10 minutes when not given."""
    from ..config import ban_duration
    if text is None:
        return 600.0
    try:
        return ban_duration(text)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="'--for'") from None


def _existing_state(cfg: Config, state_dir: str | None) -> str:
    """The state dir a client command reads: it must exist (a typo must not look like 'no bans')."""
    import os
    state = state_dir_of(cfg, state_dir)
    if not os.path.isdir(state):
        raise OperatorError(f"state dir {state} does not exist: give the daemon's --state-dir "
                            "(or set SIPWARDEN_STATE_DIR)")
    return state


def _store(state: str):  # noqa: ANN202
    import os

    from ..daemon import DB_NAME
    from ..store.sqlite import Store
    path = os.path.join(state, DB_NAME)
    if not os.path.exists(path):
        return None
    return Store(path)


@click.command()
@config_option
@state_option
@format_option
def status(config_path: str | None, state_dir: str | None, as_json: bool) -> None:
    """Is the daemon running and healthy, what is it watching, how many bans.

    Exit status: 0 running and healthy, 1 running but DEGRADED (e.g. the firewall refuses changes),
    3 not running, 2 an operator error (no such state dir, no permission).
    """
    cfg = load_config(config_path)
    state = _existing_state(cfg, state_dir)
    reply = ask(state, {"cmd": "status"})
    if reply is None:
        store = _store(state)
        reply = {"ok": True, "running": False, "health": "stopped", "problems": [], "state_dir": state,
                 "active_bans": len(store.active_bans(time.time())) if store else 0}
    reply.setdefault("health", "degraded" if reply.get("firewall_error") else "ok")
    reply.setdefault("problems", [f"firewall: {reply['firewall_error']}"] if reply.get("firewall_error") else [])
    code = 3 if not reply.get("running") else 1 if reply["health"] == "degraded" else 0
    if as_json:
        click.echo(json.dumps(reply, indent=2))
        sys.exit(code)
    if not reply.get("running"):
        n = reply["active_bans"]
        click.echo(f"sipwarden is not running (state dir {state}); {_n(n, 'ban')} in the store")
        sys.exit(code)
    head = {"ok": "running", "degraded": "DEGRADED", "starting": "starting"}.get(reply["health"], reply["health"])
    click.echo(f"sipwarden {head}, pid {reply['pid']}, up {reply['uptime']:.0f}s, backend {reply['backend']}")
    for problem in reply["problems"]:
        click.echo(f"  PROBLEM: {problem}")
    n = reply["active_bans"]
    click.echo(f"  {_n(n, 'active ban')}; {_n(reply['lines'], 'line')}, {_n(reply['events'], 'event')}, "
               f"{_n(reply['verdicts'], 'verdict')}, {_n(reply['tamper_events'], 'tamper event')}, "
               f"{_n(reply['tracked_sources'], 'source')} tracked")
    for f in reply["files"]:
        skipped = f", {_n(f['oversized'], 'oversized line')} skipped" if f.get("oversized") else ""
        click.echo(f"  {f['path']}: at byte {f['offset']}{skipped}" + (f" ({f['error']})" if f["error"] else ""))
    if reply.get("catching_up"):
        click.echo("  catching up: reading a backlog (merged across files by time)")
    errs = {k: v for k, v in (reply.get("errors") or {}).items() if v} if isinstance(reply.get("errors"), dict) else {}
    if errs:  # bugs met and survived (logged once each, with the traceback)
        click.echo("  errors by stage: " + ", ".join(f"{k} {v}" for k, v in errs.items()))
    fl = reply.get("fleet")
    if fl:
        click.echo(f"  fleet: node {fl['node']} at {fl['redis']}, "
                   + ("connected" if fl["connected"] else f"NOT CONNECTED ({fl['last_error']})")
                   + f", {_n(len(fl['nodes']), 'node')} seen; {fl['bans_shared']} shared, {fl['bans_received']} received, "
                   f"{fl['bans_applied']} applied, {fl['queued_bans']} queued")
    ht = reply.get("http")
    if isinstance(ht, dict) and "listen" in ht:
        click.echo(f"  http: http://{ht['listen']}/ (writes {'need the token' if ht['token'] else 'disabled: no token'}), "
                   f"{ht['requests']} requests, {ht['unauthorized']} refused")
    nt = reply.get("notify")
    if isinstance(nt, dict) and nt.get("destinations"):
        click.echo(f"  notify: {_n(len(nt['destinations']), 'destination')}; {nt['sent']} sent, {nt['failed']} failed, "
                   f"{nt['dropped']} dropped, {nt['queued']} queued")
    sys.exit(code)


@click.command()
@config_option
@state_option
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "plain"]), default=None,
              help="plain: one address or network per line (a blocklist other hosts can import).")
def bans(config_path: str | None, state_dir: str | None, as_json: bool, fmt: str | None) -> None:
    """List the bans in force."""
    as_json = as_json or fmt == "json"
    cfg = load_config(config_path)
    state = _existing_state(cfg, state_dir)
    reply = ask(state, {"cmd": "bans"})
    if reply is None:
        store = _store(state)
        items = [b.to_dict() for b in store.active_bans(time.time())] if store else []
    else:
        items = reply["bans"]
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    if fmt == "plain":
        from ..blocklist.export import plain
        click.echo(plain(items), nl=False)
        return
    if not items:
        click.echo("no active bans")
        return
    rows = []
    for b in items:
        ev = b.get("evidence") or {}
        why = str(ev.get("evidence", "")) if isinstance(ev, dict) else str(ev)
        rows.append([b["ip"], b["reason"], b["start"], b["expires"] or "permanent", str(b["offence"]), why])
    print_table(["address", "reason", "since", "until", "offence", "evidence"], rows)


@click.command()
@config_option
@state_option
@format_option
@click.option("--for", "duration", default=None, help="How long: seconds, 10m, 2h, 7d, or 'permanent' (default 10m).")
@click.option("--reason", default="manual", help="Why (kept with the ban).")
@click.option("--force", is_flag=True, help="Ban even a whitelisted address or a very wide network.")
@click.argument("ip")
def ban(config_path: str | None, state_dir: str | None, as_json: bool, duration: str | None, reason: str,
        force: bool, ip: str) -> None:
    """Ban an address or network by hand."""
    cfg = load_config(config_path)
    state = state_dir_of(cfg, state_dir)
    secs = parse_duration(duration)
    reply = ask(state, {"cmd": "ban", "ip": ip, "duration": secs, "reason": reason, "force": force})
    if reply is None:
        reply = _offline_ban(cfg, state, ip, secs, reason, force)
    _finish(reply, as_json, lambda r: f"banned {r['ban']['ip']} until {r['ban']['expires'] or 'forever'}")


@click.command()
@config_option
@state_option
@format_option
@click.argument("ip")
def unban(config_path: str | None, state_dir: str | None, as_json: bool, ip: str) -> None:
    """Lift a ban at once (kernel and store)."""
    cfg = load_config(config_path)
    state = state_dir_of(cfg, state_dir)
    reply = ask(state, {"cmd": "unban", "ip": ip})
    if reply is None:
        reply = _offline_unban(cfg, state, ip)
    _finish(reply, as_json, lambda r: f"unbanned {r['ip']}" if r["lifted"] else f"{r['ip']} was not banned")


def _finish(reply: dict, as_json: bool, text) -> None:  # noqa: ANN001
    if as_json:
        click.echo(json.dumps(reply, indent=2))
    if not reply.get("ok"):
        if not as_json:
            raise click.ClickException(reply.get("error", "failed"))
        sys.exit(1)
    if not as_json:
        click.echo(text(reply))
    if reply.get("firewall_error"):  # recorded, but the kernel does not have it: not a success
        if not as_json:
            click.echo(f"error: the firewall was NOT updated: {reply['firewall_error']} (the change is kept in the "
                       "store and applied when the firewall works)", err=True)
        sys.exit(1)


@contextlib.contextmanager
def _offline_bans(cfg: Config, state: str):  # noqa: ANN202
    """The daemon's BanService over the store and the firewall, without a daemon (no threads): the
    offline `ban` and `unban` take the same path as every other ban."""
    import os

    from ..daemon import DB_NAME
    from ..daemon.errors import StageErrors
    from ..daemon.service import ban_service
    from ..store.sqlite import Store, StoreError
    path = os.path.join(state, DB_NAME)
    try:
        os.makedirs(state, exist_ok=True)
        store = Store(path)
    except (OSError, StoreError) as e:
        raise OperatorError(str(e)) from None
    try:
        bans = ban_service(cfg, store, StageErrors(), threaded=False)
        bans.load(time.time(), restore=False)
        yield bans
    finally:
        store.close()


def _offline_ban(cfg: Config, state: str, ip: str, secs: float | None, reason: str, force: bool) -> dict:
    with _offline_bans(cfg, state) as bans:
        try:
            rec = bans.manual(ip, secs, reason, force=force)
        except ValueError as e:
            return {"ok": False, "error": str(e)}
        return {"ok": True, "ban": rec.to_dict(), "firewall_error": bans.kernel.error, "daemon": False}


def _offline_unban(cfg: Config, state: str, ip: str) -> dict:
    with _offline_bans(cfg, state) as bans:
        lifted = bans.unban(ip, by="operator")  # the firewall is cleared even if the store knew no ban
        return {"ok": True, "lifted": lifted, "ip": bans.target(ip), "firewall_error": bans.kernel.error,
                "daemon": False}
