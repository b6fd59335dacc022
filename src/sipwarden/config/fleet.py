"""`[fleet]` settings: the Redis address, this node's name, the password file. Checked at load time so
an operator's mistake is one clear line, not a traceback from the Redis client later."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..events import Reason
from .schema import ConfigError, FleetConfig, read_secret_file

NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class RedisTarget:
    """Where Redis is: one server (`host`, `port`) or Sentinels naming the master `service`."""

    tls: bool
    host: str
    port: int
    db: int
    username: str | None
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str = "mymaster"

    def describe(self) -> str:
        where = (",".join(f"{h}:{p}" for h, p in self.sentinels) + f" (sentinel {self.service})"
                 if self.sentinels else f"{self.host}:{self.port}")
        return f"{'rediss' if self.tls else 'redis'}://{where}/{self.db}"


def _hostport(text: str, default_port: int) -> tuple[str, int]:
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or str(default_port)
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, str(default_port)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"fleet: {text!r} is not HOST:PORT")
    return host, int(port)


def redis_target(cfg: FleetConfig) -> RedisTarget:
    """The Redis endpoint of `cfg` (ConfigError, phrased for the operator, if it is not usable)."""
    url = cfg.redis.strip()
    try:
        u = urlsplit(url)
        port = u.port
    except ValueError as e:
        raise ConfigError(f"fleet.redis: {url!r} is not a Redis URL: {e}") from None
    if u.scheme not in ("redis", "rediss"):
        raise ConfigError(f"fleet.redis: {url!r}: use redis://[user@]HOST:PORT/DB or rediss:// for TLS")
    if u.password is not None:
        raise ConfigError("fleet.redis: the URL carries a password; put it in a file and name it in "
                          "fleet.password_file (a command line is visible to every user of the host)")
    if u.query or u.fragment:
        raise ConfigError(f"fleet.redis: {url!r}: options in the URL are not supported")
    path = u.path.strip("/") or "0"
    if not path.isdigit():
        raise ConfigError(f"fleet.redis: {url!r}: the database must be a number (redis://HOST:PORT/0)")
    host = u.hostname or ""
    if not host and not cfg.sentinels:
        raise ConfigError(f"fleet.redis: {url!r} names no host")
    sentinels = tuple(_hostport(s, 26379) for s in cfg.sentinels)
    return RedisTarget(u.scheme == "rediss", host, port or 6379, int(path), unquote(u.username) if u.username else None,
                  sentinels, cfg.sentinel_service)


def node_name(cfg: FleetConfig) -> str:
    return cfg.node or socket.gethostname().split(".")[0] or "node"


def read_password(cfg: FleetConfig) -> str | None:
    """The password from `password_file` (first line, trailing newline dropped), or None."""
    return read_secret_file("fleet.password_file", cfg.password_file) if cfg.password_file else None


def check_fleet(cfg: FleetConfig) -> None:
    """Validate `[fleet]` (nothing to check when no Redis is configured)."""
    if not cfg.redis and not cfg.sentinels:
        return
    if cfg.sentinels and not cfg.redis:
        raise ConfigError("fleet.sentinels: also set fleet.redis (redis://[user@]/DB or rediss://) for the "
                          "database, user and TLS")
    redis_target(cfg)
    if not NODE_NAME.match(node_name(cfg)):
        raise ConfigError(f"fleet.node: {cfg.node!r}: letters, digits, '.', '_', '-', at most 64")
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", cfg.prefix):
        raise ConfigError(f"fleet.prefix: {cfg.prefix!r}: letters, digits, '.', '_', ':', '-'")
    if cfg.max_bans_per_minute < 1 or cfg.stream_maxlen < 100 or cfg.queue_max < 1:
        raise ConfigError("fleet.max_bans_per_minute and queue_max must be at least 1, stream_maxlen at least 100")
    known = {str(r) for r in Reason}
    for r in cfg.accept_reasons:
        if r not in known:
            raise ConfigError(f"fleet.accept_reasons: unknown reason {r!r}; known: {', '.join(sorted(known))}")
    if cfg.ca_file and not Path(cfg.ca_file).is_file():
        raise ConfigError(f"fleet.ca_file: {cfg.ca_file}: no such file")
