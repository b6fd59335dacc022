"""`sipwarden firewall list|remove`: the kernel side of the bans, for an operator who checks it or
uninstalls. `remove` deletes what the configured backend made (nftables: the table; ipset: the sets
and the chain) and refuses while a daemon runs on the state dir (its reconcile would put it back)."""

from __future__ import annotations

import json

import click

from ..config import ConfigError, load
from .common import OperatorError, config_option, format_option


def _enforcer(config_path: str | None):  # noqa: ANN202
    from ..enforce import make_enforcer
    try:
        cfg = load(config_path)
    except ConfigError as e:
        raise OperatorError(str(e)) from None
    from ..enforce import EnforceError
    try:
        return cfg, make_enforcer(cfg.ban)
    except EnforceError as e:
        raise OperatorError(str(e)) from None


@click.group()
def firewall() -> None:
    """The kernel side of the bans (the configured backend)."""


@firewall.command("list")
@config_option
@format_option
def list_(config_path: str | None, as_json: bool) -> None:
    """What the firewall holds now: address or network, and seconds left (permanent: none)."""
    import time

    from ..enforce import EnforceError
    _, enf = _enforcer(config_path)
    try:
        held = enf.list()
    except EnforceError as e:
        raise click.ClickException(str(e)) from None
    now = time.time()
    rows = {ip: (None if exp is None else max(0, round(exp - now))) for ip, exp in sorted(held.items())}
    if as_json:
        click.echo(json.dumps([{"ip": ip, "seconds_left": left} for ip, left in rows.items()], indent=2))
        return
    from .common import print_table
    print_table(["address", "seconds left"], [[ip, "permanent" if left is None else str(left)]
                                              for ip, left in rows.items()])


@firewall.command()
@config_option
@click.option("--state-dir", default=None, envvar="SIPWARDEN_STATE_DIR",
              help="The daemon's state dir (or $SIPWARDEN_STATE_DIR): refused while a daemon runs there.")
def remove(config_path: str | None, state_dir: str | None) -> None:
    """Delete sipwarden's firewall objects (every ban in the kernel goes with them); the store is kept."""
    from ..daemon.client import request
    from ..enforce import EnforceError
    cfg, enf = _enforcer(config_path)
    state = state_dir or cfg.daemon.state_dir
    try:
        running = request(state, {"cmd": "status"}, timeout=2.0) is not None
    except (OSError, ValueError):
        running = False
    if running:
        raise OperatorError(f"a sipwarden daemon is running on {state}: stop it first (systemctl stop sipwarden), "
                            "or it puts the firewall back")
    try:
        enf.teardown()
    except EnforceError as e:
        raise click.ClickException(str(e)) from None
    what = {"nftables": f"table inet {cfg.ban.table}", "ipset": "the sipwarden ipsets and chain"}.get(
        cfg.ban.backend, f"the {cfg.ban.backend} bans")
    click.echo(f"removed {what} (nothing is left of it in the firewall)")
