"""`sipwarden fleet status`: the nodes of the fleet, their heartbeats, lag and ban counts.

Asks the running daemon (it knows its own link and every node's last heartbeat); with no daemon
running, reads the heartbeats from Redis directly with the config's `[fleet]` settings."""

from __future__ import annotations

import json
import time

import click

from .common import ask, config_option, format_option, load_config, state_dir_of, state_option


@click.group()
def fleet() -> None:
    """The fleet of nodes sharing bans through Redis."""


@fleet.command()
@config_option
@state_option
@format_option
def status(config_path: str | None, state_dir: str | None, as_json: bool) -> None:
    """Nodes seen, their last heartbeat, lag, bans shared and received."""
    cfg = load_config(config_path)
    reply = ask(state_dir_of(cfg, state_dir), {"cmd": "status"})
    if reply is not None and reply.get("running"):
        info = reply.get("fleet")
        if info is None:
            raise click.ClickException("the daemon runs without a fleet (start it with --fleet redis://HOST:PORT/DB "
                                       "or set [fleet] redis)")
    else:
        info = _from_redis(cfg)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    state = "connected" if info.get("connected") else f"NOT CONNECTED ({info.get('last_error') or 'daemon not running'})"
    click.echo(f"fleet at {info['redis']}: {state}" + (f"; this node: {info['node']}" if info.get("node") else ""))
    if "bans_shared" in info:
        click.echo(f"  this node: {info['bans_shared']} ban change(s) shared, {info['bans_received']} received, "
                   f"{info['bans_applied']} applied, {info['capped']} over the cap, {info['malformed']} malformed, "
                   f"{info['queued_bans']} queued")
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text
    t = Table(header_style="bold")
    for c in ("node", "last heartbeat", "age (s)", "lag (ms)", "shared", "received", "applied", "queued"):
        t.add_column(c)
    for n in info.get("nodes", []):
        lag = n.get("lag_ms")
        t.add_row(*(Text(str(x)) for x in (n["node"] + (" (this)" if n.get("self") else ""), n["last_heartbeat"],
                                            n["heartbeat_age"], "-" if lag is None else f"{lag:.0f}",
                                            n["bans_shared"], n["bans_received"], n["bans_applied"], n["queued"])))
    Console().print(t)


def _from_redis(cfg) -> dict:  # noqa: ANN001
    from ..config import ConfigError
    from ..config.fleet import read_password, redis_target
    from ..fleet.messages import NODE, iso_or_none
    if not cfg.fleet.redis:
        raise click.ClickException("no fleet configured ([fleet] redis) and no daemon running")
    try:
        target, pw = redis_target(cfg.fleet), read_password(cfg.fleet)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    import redis
    kw = {"password": pw, "username": target.username, "db": target.db, "socket_timeout": 5,
          "socket_connect_timeout": 5, "ssl": target.tls}
    if target.sentinels:
        from redis.sentinel import Sentinel
        r = Sentinel(list(target.sentinels), sentinel_kwargs={"password": pw}, **kw).master_for(target.service)
    else:
        r = redis.Redis(host=target.host, port=target.port, **kw)
    try:
        raw = r.hgetall(f"{cfg.fleet.prefix}:nodes")
    except redis.RedisError as e:
        raise click.ClickException(f"fleet: cannot read {target.describe()}: {e}") from None
    now = time.time()
    nodes = []
    for k, v in sorted(raw.items()):
        name = k.decode(errors="replace")
        try:
            doc = json.loads(v)
        except ValueError:
            continue
        if not NODE.match(name) or not isinstance(doc, dict):
            continue
        at = doc.get("at")
        nodes.append({"node": name, "last_heartbeat": iso_or_none(at),
                      "heartbeat_age": round(now - at, 1) if isinstance(at, int | float) else None,
                      "lag_ms": doc.get("lag_ms"), "bans_shared": doc.get("bans_shared"),
                      "bans_received": doc.get("bans_received"), "bans_applied": doc.get("bans_applied"),
                      "queued": doc.get("queued"), "self": False})
    return {"redis": target.describe(), "connected": None, "nodes": nodes}
