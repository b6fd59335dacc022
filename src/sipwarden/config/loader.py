"""The TOML file -> a checked Config: a bad value is a clear error naming the table, the key, what
was expected and what was found.

Types are checked from the dataclass annotations in schema.py, so a new setting is one line there;
what a value must also satisfy (a port, a table name a backend accepts, a Redis URL) is checked
by checks.py and fleet.py before anything starts.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from pathlib import Path

from ..addr import AddressSet
from .checks import check_ban_names, check_blocklists, check_wire, parse_http_listen
from .fleet import check_fleet
from .schema import Config, ConfigError, duration_seconds, masked, read_secret_file, redact_url


def _secret_files(cfg: Config) -> Config:
    """Fill `ami_secret` / `hep_password` from their `_file` settings (one or the other, not both)."""
    w, changes = cfg.wire, {}
    for key in ("ami_secret", "hep_password"):
        path = getattr(w, f"{key}_file")
        if not path:
            continue
        if getattr(w, key):
            raise ConfigError(f"wire.{key} and wire.{key}_file: give one or the other")
        changes[key] = read_secret_file(f"wire.{key}_file", path)
    return dataclasses.replace(cfg, wire=dataclasses.replace(w, **changes)) if changes else cfg


# float settings that are spans of time: they also take "90s", "10m", "1h30m", "7d", "2w"
DURATION_KEYS = re.compile(r"(time|window|findtime|interval|timeout)$")


def _coerce(where: str, typ: typing.Any, value: typing.Any) -> typing.Any:
    origin = typing.get_origin(typ)
    if typ is float and isinstance(value, str) and DURATION_KEYS.search(where):
        secs = duration_seconds(value)
        if secs is None:
            raise ConfigError(f"{where}: expected seconds or a span like 90s, 10m, 1h30m, 7d, got {value!r}")
        return secs
    if typ is bool:
        if isinstance(value, bool):
            return value
    elif typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif typ is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif typ is str:
        if isinstance(value, str):
            return value
    elif origin is tuple:
        (inner, _) = typing.get_args(typ)
        if isinstance(value, list):
            return tuple(_coerce(f"{where}[{i}]", inner, v) for i, v in enumerate(value))
    else:  # pragma: no cover - a setting with a type the loader does not know
        raise TypeError(typ)
    name = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(typ, "a list")
    raise ConfigError(f"{where}: expected {name}, got {masked(where, value)!r}")


def _section(name: str, cls: type, data: typing.Any) -> typing.Any:
    if not isinstance(data, dict):
        raise ConfigError(f"[{name}] must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"[{name}] unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    values = {k: _coerce(f"{name}.{k}", hints[k], v) for k, v in data.items()}
    obj = cls(**values)
    for f in dataclasses.fields(cls):
        v = getattr(obj, f.name)
        if isinstance(v, int | float) and not isinstance(v, bool) and v < 0:
            raise ConfigError(f"{name}.{f.name}: must not be negative, got {v}")
    return obj


def from_dict(data: dict) -> Config:
    hints = typing.get_type_hints(Config)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ConfigError(f"unknown table(s) {', '.join(unknown)}; known: {', '.join(sorted(hints))}")
    cfg = _secret_files(Config(**{k: _section(k, hints[k], v) for k, v in data.items()}))
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    """ConfigError for the first value no part of sipwarden could use (after the type checks)."""
    try:
        cfg.whitelist_set()
    except ValueError as e:
        raise ConfigError(f"whitelist.addresses: {e}") from None
    if cfg.ban.backend not in ("nftables", "ipset", "command", "dry-run"):
        raise ConfigError(f"ban.backend: expected nftables, ipset, command or dry-run, got {cfg.ban.backend!r}")
    if cfg.ban.backend == "command" and not cfg.ban.command:
        raise ConfigError("ban.command: required when ban.backend = \"command\"")
    check_ban_names(cfg.ban)
    for p in cfg.ban.ports:
        if not 0 < p < 65536:
            raise ConfigError(f"ban.ports: {p} is not a port number")
    d = cfg.detect
    try:
        AddressSet(d.registrations_from)
    except ValueError as e:
        raise ConfigError(f"detect.registrations_from: {e}") from None
    for k in ("compromise_failures", "bruteforce_maxretry", "enumeration_accounts", "enumeration_maxretry", "tollfraud_maxretry",
              "call_maxretry", "flood_challenges", "flood_failures", "distributed_sources", "subnet_sources",
              "stale_factor", "max_tracked"):
        if getattr(d, k) < 1:
            raise ConfigError(f"detect.{k}: must be at least 1, got {getattr(d, k)}")
    for k in ("findtime", "flood_window", "flood_burst_window", "distributed_window"):
        if getattr(d, k) <= 0:
            raise ConfigError(f"detect.{k}: must be a positive number of seconds, got {getattr(d, k)}")
    if not 0 <= d.login_grace <= d.findtime:
        raise ConfigError(f"detect.login_grace: must be 0 (off) or seconds up to findtime, got {d.login_grace}")
    if not 8 <= d.subnet_v4_prefix <= 32 or not 16 <= d.subnet_v6_prefix <= 128:
        raise ConfigError("detect.subnet_v4_prefix must be 8..32 and detect.subnet_v6_prefix 16..128")
    if d.wire_requests < 1 or d.wire_net_requests < 1 or d.wire_window <= 0:
        raise ConfigError("detect.wire_requests and wire_net_requests must be at least 1, wire_window positive")
    if not 0 < cfg.ban.unproven_factor <= 1:
        raise ConfigError(f"ban.unproven_factor: must be in (0, 1], got {cfg.ban.unproven_factor}")
    check_wire(cfg.wire)
    check_fleet(cfg.fleet)
    check_blocklists(cfg.blocklists)
    if cfg.http.listen:
        parse_http_listen(cfg.http.listen)
    if cfg.notify.digest_interval < 1 or cfg.notify.queue < 1 or cfg.notify.timeout <= 0:
        raise ConfigError("notify.digest_interval must be at least 1 s, notify.queue at least 1, notify.timeout positive")
    for u in cfg.notify.webhook:
        if not u.startswith(("http://", "https://")):
            raise ConfigError(f"notify.webhook: {redact_url(u)} is not an http:// or https:// URL")
    if cfg.log.timezone not in ("local", "UTC", "utc"):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            ZoneInfo(cfg.log.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"log.timezone: unknown time zone {cfg.log.timezone!r}") from None


def environment_problems(cfg: Config) -> list[str]:
    """What a valid config points at that is not there on this host (for `check-config`): watched
    logs that are missing or unreadable, capture interfaces that do not exist, a ban command that
    cannot run, a state dir that cannot be made. The daemon copes with each (it retries), but an
    operator wants to know now."""
    import os
    import shlex
    import shutil
    out = []
    for path in cfg.daemon.watch:
        if not os.path.exists(path):
            parent = os.path.dirname(path) or "."
            why = "missing (its directory exists: followed once it appears)" if os.path.isdir(parent) else \
                f"missing, and so is its directory {parent}"
            out.append(f"daemon.watch: {path}: {why}")
        elif not os.access(path, os.R_OK):
            out.append(f"daemon.watch: {path}: not readable by this user (the daemon's user needs group adm "
                       "or asterisk)")
        elif os.path.isdir(path):
            out.append(f"daemon.watch: {path}: a directory; give the log files in it")
    for iface in cfg.wire.capture:
        if iface != "any" and not os.path.exists(f"/sys/class/net/{iface}"):
            out.append(f"wire.capture: no interface {iface!r} on this host")
    if cfg.ban.backend == "command":
        prog = shlex.split(cfg.ban.command)[0]
        if not (shutil.which(prog) if "/" not in prog else os.access(prog, os.X_OK)):
            out.append(f"ban.command: {prog}: not found or not executable")
    state = cfg.daemon.state_dir
    probe = state
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe.rstrip("/")) or "/"
    if os.path.exists(state) and not os.path.isdir(state):
        out.append(f"daemon.state_dir: {state}: not a directory")
    elif probe and not os.access(probe, os.W_OK | os.X_OK):
        out.append(f"daemon.state_dir: {state}: not writable by this user ({probe})")
    return out


def load(path: str | Path | None) -> Config:
    """Load a TOML file (None: all defaults). Raises ConfigError with the file name on any problem."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read: {e}") from None
    try:
        return from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None
