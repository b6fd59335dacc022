"""Where the HTTP side listens and with which token: checked before anything starts.

Rules: writes always need the bearer token; reads are open only to loopback clients; listening
beyond loopback without a token refuses to start. The token comes from a file that others cannot
read (it would be a password for banning anyone), and it is never logged.
"""

from __future__ import annotations

import ipaddress
import os
import stat

from ..config import ConfigError
from ..config.checks import parse_http_listen


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        a = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped is not None:
        a = a.ipv4_mapped
    return a.is_loopback


def read_token(path: str) -> str:
    """The token in `path` (surrounding whitespace stripped): refused if empty, short, or readable by others."""
    try:
        st = os.stat(path)
        with open(path, encoding="utf-8") as fh:
            token = fh.read().strip()
    except OSError as e:
        raise ConfigError(f"http.token_file: cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"http.token_file: {path} is not text") from None
    if st.st_mode & stat.S_IROTH:
        raise ConfigError(f"http.token_file: {path} is readable by every user (mode {stat.S_IMODE(st.st_mode):o}); "
                          f"chmod 600 {path}")
    if len(token) < 16 or any(c.isspace() for c in token):
        raise ConfigError(f"http.token_file: {path} must hold one token of at least 16 characters without spaces "
                          "(e.g. `head -c 24 /dev/urandom | base64`)")
    return token


def check(listen: str, token_file: str) -> tuple[str, int, str | None]:
    """(host, port, token) for the HTTP side, or ConfigError: beyond loopback only with a token."""
    host, port = parse_http_listen(listen)
    token = read_token(token_file) if token_file else None
    if token is None and not is_loopback(host):
        raise ConfigError(f"http.listen: refusing to serve on {host}:{port} (beyond loopback) without "
                          "http.token_file: anyone who reaches the port could read the attack data")
    return host, port, token
