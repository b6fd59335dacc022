"""The control socket's client side: what `sipwarden status|bans|ban|unban` (and tests) send to a
running daemon. One JSON request per line, one JSON reply per line."""

from __future__ import annotations

import json
import os
import socket

from . import SOCKET_NAME


def request(state_dir: str, req: dict, timeout: float = 5.0) -> dict | None:
    """Send one request to a running daemon; None if none is listening there."""
    return send(state_dir, json.dumps(req).encode() + b"\n", timeout)


def send(state_dir: str, data: bytes, timeout: float = 5.0) -> dict | None:
    """Send raw bytes to the control socket and read one JSON reply (None: no daemon there)."""
    path = os.path.join(state_dir, SOCKET_NAME)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        return None
    try:
        s.sendall(data)
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    return json.loads(buf) if buf else None
