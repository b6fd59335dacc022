"""`sipwarden run`: the daemon in the foreground (systemd's ExecStart), the config file with the
command line's options applied and checked by the same rules as the file."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sys

import click

from ..config import Config, ConfigError
from .common import OperatorError, config_option, load_config, state_dir_of, state_option


@click.command()
@config_option
@click.option("--watch", multiple=True, help="Log file to follow (repeatable). Adds to [daemon] watch.")
@click.option("--backend", type=click.Choice(["nftables", "ipset", "command", "dry-run"]), default=None,
              help="Firewall backend (default from config: nftables).")
@state_option
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
    from ..daemon.service import Daemon

    hep_password = _secret_option("--hep-password", hep_password, hep_password_file)
    ami_secret = _secret_option("--ami-secret", ami_secret, ami_secret_file)

    def build() -> Config:
        """The config file with the command line applied: at start, and again on SIGHUP (reload)."""
        cfg = load_config(config_path)
        if backend:
            cfg = dataclasses.replace(cfg, ban=dataclasses.replace(cfg.ban, backend=backend))
            try:
                from ..config import validate
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
    d = Daemon(cfg, state_dir_of(cfg, state_dir), paths, from_start=from_start, load_config=build)
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
            from ..api.listen import check
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
        from ..config.fleet import check_fleet, read_password
        check_fleet(f)
        if f.redis:
            read_password(f)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    return cfg


def _secret_option(name: str, value: str | None, path: str | None) -> str | None:
    """A secret from `--X-file` (read now), or from `--X` with a warning: argv is readable by every user."""
    from ..config import read_secret_file
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
        from ..config.checks import check_wire
        check_wire(w)
    except ConfigError as e:
        raise OperatorError(str(e)) from None
    return cfg
