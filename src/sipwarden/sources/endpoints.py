"""`[ADDR:]PORT` / `HOST:PORT` texts of the wire options, parsed and checked once (config and CLI)."""

from __future__ import annotations

from ..addr import normalize


def parse_listen(text: str, default_host: str = "0.0.0.0") -> tuple[str, int]:
    """'9060' -> ('0.0.0.0', 9060); '127.0.0.1:9060'; '[::]:9060' -> ('::', 9060). Raises ValueError."""
    t = text.strip()
    if t.isdigit():
        return default_host, _port(t, text)
    return parse_hostport(t)


def parse_hostport(text: str) -> tuple[str, int]:
    """'HOST:PORT' or '[V6]:PORT' -> (host, port). A host name is kept as is. Raises ValueError."""
    t = text.strip()
    if t.startswith("["):
        host, sep, port = t[1:].partition("]:")
        if not sep:
            raise ValueError(f"{text!r}: expected [IPv6]:PORT")
        if normalize(host) is None:
            raise ValueError(f"{text!r}: {host!r} is not an IPv6 address")
    else:
        host, sep, port = t.rpartition(":")
        if not sep or not host or ":" in host:
            raise ValueError(f"{text!r}: expected HOST:PORT (IPv6 as [ADDR]:PORT)")
    return host, _port(port, text)


def _port(p: str, text: str) -> int:
    if not p.isdigit() or not 0 < int(p) < 65536:
        raise ValueError(f"{text!r}: {p!r} is not a port number")
    return int(p)


def check_wire(w) -> None:  # noqa: ANN001 - a config.WireConfig (imported lazily: no cycle)
    """Raise ConfigError naming the key for any unusable [wire] setting."""
    from ..config import ConfigError
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
