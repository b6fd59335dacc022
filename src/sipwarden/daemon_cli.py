"""`sipwarden run` and the control commands (status, bans, ban, unban).

The control commands talk to the running daemon through its unix socket in the state dir; when
no daemon is running they work on the store (and the firewall) directly where that makes sense,
so an operator can still list, add or lift bans.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import sys
import time

import click

from .cli import OperatorError, config_option, format_option
from .cli import plural as _n
from .config import Config, ConfigError, load

DEFAULT_STATE = "/var/lib/sipwarden"
_state_opt = click.option("--state-dir", default=None, envvar="SIPWARDEN_STATE_DIR",
                          help=f"State directory (or $SIPWARDEN_STATE_DIR; default from config, else {DEFAULT_STATE}).")
_config_opt = config_option
_json_opt = format_option


def _cfg(path: str | None) -> Config:
    try:
        return load(path)
    except ConfigError as e:
        raise OperatorError(str(e)) from None


def _state(cfg: Config, state_dir: str | None) -> str:
    return state_dir or cfg.daemon.state_dir or DEFAULT_STATE


def parse_duration(text: str | None) -> float | None:
    """`--for`: config.ban_duration (the same rule as the API's `for`), 10 minutes when not given."""
    from .config import ban_duration
    if text is None:
        return 600.0
    try:
        return ban_duration(text)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="'--for'") from None


@click.command()
@_config_opt
@click.option("--watch", multiple=True, help="Log file to follow (repeatable). Adds to [daemon] watch.")
@click.option("--backend", type=click.Choice(["nftables", "ipset", "command", "dry-run"]), default=None,
              help="Firewall backend (default from config: nftables).")
@_state_opt
@click.option("--from-start", is_flag=True, help="Read files never seen before from the top, not from their end.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option("--hep", multiple=True, metavar="[ADDR:]PORT", help="Collect HEP on this port, UDP and TCP (repeatable; "
              "default address 0.0.0.0, IPv6 as [::]:9060).")
@click.option("--hep-password", default=None, metavar="SECRET", help="HEP auth key; other packets are counted and dropped "
              "(visible in `ps`: prefer --hep-password-file).")
@click.option("--hep-password-file", default=None, metavar="FILE", help="Read the HEP auth key from FILE (first line).")
@click.option("--capture", multiple=True, metavar="IFACE", help="Capture SIP live on this interface (repeatable; root).")
@click.option("--ami", default=None, metavar="HOST:PORT", help="Read security events from this Asterisk Manager Interface.")
@click.option("--ami-user", default=None, help="AMI user (read=security).")
@click.option("--ami-secret", default=None, help="AMI secret (visible in `ps`: prefer --ami-secret-file).")
@click.option("--ami-secret-file", default=None, metavar="FILE", help="Read the AMI secret from FILE (first line).")
@click.option("--pbx-address", multiple=True, metavar="ADDR", help="The PBX's own address (repeatable): never an "
              "attacker; also learnt from traffic.")
@click.option("--fleet", "fleet_url", default=None, metavar="redis://[user@]HOST:PORT/DB",
              help="Share bans and counts with other nodes through this Redis (rediss:// for TLS; the password "
              "goes in [fleet] password_file).")
@click.option("--node", default=None, metavar="NAME", help="This node's name in the fleet (default: host name).")
@click.option("--http", "http_listen", default=None, metavar="ADDR:PORT", help="Serve the API, /metrics and the "
              "dashboard here (e.g. 127.0.0.1:9180; beyond loopback only with [http] token_file).")
def run(config_path: str | None, watch: tuple[str, ...], backend: str | None, state_dir: str | None,
        from_start: bool, verbose: bool, hep: tuple[str, ...], hep_password: str | None,
        hep_password_file: str | None, capture: tuple[str, ...], ami: str | None, ami_user: str | None,
        ami_secret: str | None, ami_secret_file: str | None, pbx_address: tuple[str, ...],
        fleet_url: str | None, node: str | None, http_listen: str | None) -> None:
    """Run the daemon in the foreground (systemd-friendly): follow logs, ban attackers."""
    from .daemon.service import Daemon

    hep_password = _secret_option("--hep-password", hep_password, hep_password_file)
    ami_secret = _secret_option("--ami-secret", ami_secret, ami_secret_file)

    def build() -> Config:
        """The config file with the command line applied: at start, and again on SIGHUP (reload)."""
        cfg = _cfg(config_path)
        if backend:
            cfg = dataclasses.replace(cfg, ban=dataclasses.replace(cfg.ban, backend=backend))
            try:
                from .config import validate
                validate(cfg)
            except ConfigError as e:
                raise OperatorError(str(e)) from None
        cfg = _with_wire(cfg, hep, hep_password, capture, ami, ami_user, ami_secret, pbx_address)
        cfg = _with_fleet(cfg, fleet_url, node)
        return _with_http(cfg, http_listen)

    cfg = build()
    paths = list(dict.fromkeys(list(cfg.daemon.watch) + list(watch)))
    w = cfg.wire
    if not paths and not (w.hep or w.capture or w.ami):
        raise OperatorError("nothing to watch: give --watch PATH, --hep, --capture or --ami "
                            "(or [daemon] watch / [wire] in the config)")
    import os
    os.umask(0o077)  # the store, lock and socket are the daemon's alone (the unit's UMask= says the same)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    d = Daemon(cfg, _state(cfg, state_dir), paths, from_start=from_start, load_config=build)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(d.run())
    except ConfigError as e:  # found at start (e.g. the HTTP port is taken): one line, no traceback
        raise OperatorError(str(e)) from None


def _with_http(cfg: Config, listen: str | None) -> Config:
    """The config with `--http` applied; the listen address and token file checked now."""
    if listen is not None:
        cfg = dataclasses.replace(cfg, http=dataclasses.replace(cfg.http, listen=listen))
    if cfg.http.listen:
        try:
            from .api.listen import check
            check(cfg.http.listen, cfg.http.token_file)
        except ConfigError as e:
            raise click.ClickException(str(e)) from None
    return cfg


def _with_fleet(cfg: Config, url: str | None, node: str | None) -> Config:
    """The config with `--fleet`/`--node` applied, checked, and the password file readable."""
    f = dataclasses.replace(cfg.fleet, redis=url if url is not None else cfg.fleet.redis,
                            node=node if node is not None else cfg.fleet.node)
    cfg = dataclasses.replace(cfg, fleet=f)
    try:
        from .config.fleet import check_fleet, read_password
        check_fleet(f)
        if f.redis:
            read_password(f)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    return cfg


def _secret_option(name: str, value: str | None, path: str | None) -> str | None:
    """A secret from `--X-file` (read now), or from `--X` with a warning: argv is readable by every user."""
    from .config import read_secret_file
    if value is not None and path is not None:
        raise OperatorError(f"{name} and {name}-file: give one or the other")
    if path is not None:
        try:
            return read_secret_file(f"{name}-file", path)
        except ConfigError as e:
            raise OperatorError(str(e)) from None
    if value is not None:
        click.echo(f"warning: {name} on the command line is visible to every user of this host (ps, /proc); "
                   f"use {name}-file FILE or the config's {name.lstrip('-').replace('-', '_')}_file", err=True)
    return value


def _with_wire(cfg: Config, hep: tuple[str, ...], hep_password: str | None, capture: tuple[str, ...],
               ami: str | None, ami_user: str | None, ami_secret: str | None, pbx: tuple[str, ...]) -> Config:
    """The config with the wire options of `run` added (lists extend the config's, values replace)."""
    w = cfg.wire
    w = dataclasses.replace(
        w, hep=tuple(dict.fromkeys(w.hep + hep)), capture=tuple(dict.fromkeys(w.capture + capture)),
        pbx_addresses=tuple(dict.fromkeys(w.pbx_addresses + pbx)),
        hep_password=w.hep_password if hep_password is None else hep_password, ami=ami or w.ami,
        ami_user=w.ami_user if ami_user is None else ami_user,
        ami_secret=w.ami_secret if ami_secret is None else ami_secret)
    cfg = dataclasses.replace(cfg, wire=w)
    try:
        from .config.checks import check_wire
        check_wire(w)
    except ConfigError as e:
        raise OperatorError(str(e)) from None
    return cfg


def _ask(state: str, req: dict) -> dict | None:
    from .daemon.client import request
    try:
        return request(state, req)
    except (OSError, ValueError) as e:
        hint = " (run as root or as the daemon's user)" if isinstance(e, PermissionError) else ""
        raise OperatorError(f"control socket in {state}: {e.strerror if isinstance(e, OSError) else e}{hint}") from None


def _existing_state(cfg: Config, state_dir: str | None) -> str:
    """The state dir a client command reads: it must exist (a typo must not look like 'no bans')."""
    import os
    state = _state(cfg, state_dir)
    if not os.path.isdir(state):
        raise OperatorError(f"state dir {state} does not exist: give the daemon's --state-dir "
                            "(or set SIPWARDEN_STATE_DIR)")
    return state


def _store(state: str):  # noqa: ANN202
    import os

    from .daemon import DB_NAME
    from .store.sqlite import Store
    path = os.path.join(state, DB_NAME)
    if not os.path.exists(path):
        return None
    return Store(path)


@click.command()
@_config_opt
@_state_opt
@_json_opt
def status(config_path: str | None, state_dir: str | None, as_json: bool) -> None:
    """Is the daemon running and healthy, what is it watching, how many bans.

    Exit status: 0 running and healthy, 1 running but DEGRADED (e.g. the firewall refuses changes),
    3 not running, 2 an operator error (no such state dir, no permission).
    """
    cfg = _cfg(config_path)
    state = _existing_state(cfg, state_dir)
    reply = _ask(state, {"cmd": "status"})
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
        click.echo(f"  {f['path']}: at byte {f['offset']}" + (f" ({f['error']})" if f["error"] else ""))
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
@_config_opt
@_state_opt
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "plain"]), default=None,
              help="plain: one address or network per line (a blocklist other hosts can import).")
def bans(config_path: str | None, state_dir: str | None, as_json: bool, fmt: str | None) -> None:
    """List the bans in force."""
    as_json = as_json or fmt == "json"
    cfg = _cfg(config_path)
    state = _existing_state(cfg, state_dir)
    reply = _ask(state, {"cmd": "bans"})
    if reply is None:
        store = _store(state)
        items = [b.to_dict() for b in store.active_bans(time.time())] if store else []
    else:
        items = reply["bans"]
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    if fmt == "plain":
        from .blocklist.export import plain
        click.echo(plain(items), nl=False)
        return
    if not items:
        click.echo("no active bans")
        return
    from .cli import print_table
    rows = []
    for b in items:
        ev = b.get("evidence") or {}
        why = str(ev.get("evidence", "")) if isinstance(ev, dict) else str(ev)
        rows.append([b["ip"], b["reason"], b["start"], b["expires"] or "permanent", str(b["offence"]), why])
    print_table(["address", "reason", "since", "until", "offence", "evidence"], rows)


@click.command()
@_config_opt
@_state_opt
@_json_opt
@click.option("--for", "duration", default=None, help="How long: seconds, 10m, 2h, 7d, or 'permanent' (default 10m).")
@click.option("--reason", default="manual", help="Why (kept with the ban).")
@click.option("--force", is_flag=True, help="Ban even a whitelisted address or a very wide network.")
@click.argument("ip")
def ban(config_path: str | None, state_dir: str | None, as_json: bool, duration: str | None, reason: str,
        force: bool, ip: str) -> None:
    """Ban an address or network by hand."""
    cfg = _cfg(config_path)
    state = _state(cfg, state_dir)
    secs = parse_duration(duration)
    reply = _ask(state, {"cmd": "ban", "ip": ip, "duration": secs, "reason": reason, "force": force})
    if reply is None:
        reply = _offline_ban(cfg, state, ip, secs, reason, force)
    _finish(reply, as_json, lambda r: f"banned {r['ban']['ip']} until {r['ban']['expires'] or 'forever'}")


@click.command()
@_config_opt
@_state_opt
@_json_opt
@click.argument("ip")
def unban(config_path: str | None, state_dir: str | None, as_json: bool, ip: str) -> None:
    """Lift a ban at once (kernel and store)."""
    cfg = _cfg(config_path)
    state = _state(cfg, state_dir)
    reply = _ask(state, {"cmd": "unban", "ip": ip})
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

    from .daemon import DB_NAME
    from .daemon.errors import StageErrors
    from .daemon.service import ban_service
    from .store.sqlite import Store, StoreError
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
