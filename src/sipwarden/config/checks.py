"""Checks of single settings beyond their type: what a part of sipwarden would refuse later (a
port, a table name a backend accepts, a listen address), said at load time in one line.
Pure; imports only the schema and `addr`, so every layer can use them (the CLI checks its own
options with the same functions)."""

from __future__ import annotations

import ipaddress
import re
import shlex
from urllib.parse import urlsplit

from ..addr import normalize, parse_hostport, parse_listen
from .schema import BanConfig, BlocklistsConfig, ConfigError, WireConfig


def check_ban_names(cfg: BanConfig) -> None:
    """What the configured backend would refuse later, said at config time: its table/set names and
    its command line (ConfigError). Builds nothing and touches no firewall."""
    if cfg.backend == "nftables" and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,30}", cfg.table):
        raise ConfigError(f"ban.table: {cfg.table!r} is not a valid nftables table name "
                           "(letters, digits, underscore; starts with a letter; at most 31 characters)")
    if cfg.backend == "ipset" and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,22}", cfg.table):
        raise ConfigError(f"ban.table: {cfg.table!r} is not usable as an ipset/iptables name "
                           "(letters, digits, underscore; at most 23 characters)")
    if cfg.backend == "command":
        try:
            argv = shlex.split(cfg.command)
        except ValueError as e:
            raise ConfigError(f"ban.command: cannot split {cfg.command!r}: {e}") from None
        if not argv:
            raise ConfigError("ban.command: required when ban.backend = \"command\"")


def check_wire(w: WireConfig) -> None:
    """Raise ConfigError naming the key for any unusable [wire] setting."""
    try:
        for h in w.hep:
            parse_listen(h)
        if w.ami:
            parse_hostport(w.ami)
    except ValueError as e:
        raise ConfigError(f"wire: {e}") from None
    if w.ami and not (w.ami_user and w.ami_secret):
        raise ConfigError("wire.ami_user and wire.ami_secret: required when wire.ami is set")
    if any(c in w.ami_user + w.ami_secret for c in "\r\n"):
        raise ConfigError("wire.ami_user / ami_secret: must not contain line breaks")
    for a in w.pbx_addresses:
        if normalize(a) is None:
            raise ConfigError(f"wire.pbx_addresses: {a!r} is not an IP address")
    for p in w.capture_ports:
        if not 0 < p < 65536:
            raise ConfigError(f"wire.capture_ports: {p} is not a port number")
    if w.ami_ping <= 0:
        raise ConfigError("wire.ami_ping: must be a positive number of seconds")


def check_blocklists(cfg: BlocklistsConfig) -> None:
    """Raise ConfigError naming the key for any unusable [blocklists] setting."""
    for s in cfg.sources:
        scheme = urlsplit(s).scheme.lower()
        if scheme not in ("", "http", "https", "file") and not (len(scheme) == 1 and s[1:2] == ":"):
            raise ConfigError(f"blocklists.sources: {s!r}: a file path or an http(s) URL")
        if not s.strip():
            raise ConfigError("blocklists.sources: an empty entry")
    if cfg.sources and cfg.interval < 60:
        raise ConfigError(f"blocklists.interval: at least 60 seconds (lists are published hourly), got {cfg.interval:g}")
    if cfg.max_entries < 1 or cfg.max_bytes < 1 or cfg.timeout <= 0:
        raise ConfigError("blocklists.max_entries, max_bytes and timeout must be positive")


def parse_http_listen(text: str) -> tuple[str, int]:
    """'127.0.0.1:9180', '[::1]:9180', 'localhost:9180', ':9180' (loopback) -> (host, port)."""
    t = text.strip()
    host, sep, port = t.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"http.listen: {text!r} is not ADDR:PORT (e.g. 127.0.0.1:9180 or [::1]:9180)")
    host = host.strip("[]") or "127.0.0.1"
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ConfigError(f"http.listen: {host!r} is not an IP address (or localhost)") from None
    return host, int(port)
