"""systemd's readiness and watchdog protocol (sd_notify(3)): one datagram to $NOTIFY_SOCKET.

A few lines of the documented wire format instead of a binding to libsystemd: `READY=1` once the
daemon serves, `WATCHDOG=1` while its event loop turns, `STATUS=...` for `systemctl status`,
`RELOADING=1`/`STOPPING=1` around a reload or a stop. Without $NOTIFY_SOCKET (not under systemd,
or Type=simple) every call does nothing.
"""

from __future__ import annotations

import os
import socket


def notify(*states: str) -> bool:
    """Send `KEY=VALUE` lines to systemd; False when there is no notify socket or it is gone."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr or not states:
        return False
    if addr.startswith("@"):  # abstract namespace
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(addr)
            s.sendall("\n".join(states).encode("utf-8", "replace"))
    except OSError:
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between watchdog pings (half of WatchdogSec=, as sd_watchdog_enabled advises); None if off."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6
