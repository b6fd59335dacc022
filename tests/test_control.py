"""The control socket of a real daemon (dry-run backend, no root needed): hostile requests get a
clear error and never take the daemon down; the socket is private; manual bans are checked."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from sipwarden.daemon.client import send
from warden import SIPWARDEN


@pytest.fixture
def daemon(tmp_path):
    log = tmp_path / "messages"
    log.write_text("")
    state = tmp_path / "state"
    cfg = tmp_path / "c.toml"
    cfg.write_text('[whitelist]\naddresses = ["192.0.2.0/24"]\n[wire]\npbx_addresses = ["198.51.100.7"]\n')
    p = subprocess.Popen([SIPWARDEN, "run", "--config", str(cfg), "--backend", "dry-run", "--watch", str(log),
                          "--state-dir", str(state)], stderr=subprocess.PIPE, text=True)
    sock = state / "control.sock"
    deadline = time.monotonic() + 10
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield state, sock
    finally:
        p.terminate()
        p.wait(timeout=10)


def raw(sock: Path, data: bytes) -> dict:
    reply = send(str(sock.parent), data, timeout=10)
    assert reply is not None, "no daemon on the control socket"
    return reply


def test_hostile_requests_get_errors_and_the_daemon_lives(daemon):
    state, sock = daemon
    assert stat.S_IMODE(os.stat(sock).st_mode) & 0o077 == 0  # the owner (root) only
    for data in (b"not json\n", b"[1,2]\n", b'{"cmd": "reboot"}\n', b"x" * 200_000 + b"\n",
                 b'{"cmd": "ban", "ip": "203.0.113.5", "duration": Infinity}\n',
                 b'{"cmd": "ban", "ip": "203.0.113.5", "duration": 1e308}\n',
                 b'{"cmd": "ban", "ip": "not-an-ip"}\n', b'{"cmd": "ban", "ip": "0.0.0.0/0"}\n'):
        reply = raw(sock, data)
        assert reply["ok"] is False and reply["error"], (data[:40], reply)
    assert raw(sock, b'{"cmd": "status"}\n')["running"] is True


def test_whitelisted_and_pbx_addresses_need_force(daemon):
    state, sock = daemon
    for ip in ("192.0.2.9", "198.51.100.7"):
        reply = raw(sock, json.dumps({"cmd": "ban", "ip": ip, "duration": 60}).encode() + b"\n")
        assert reply["ok"] is False and "whitelisted" in reply["error"]
    ok = raw(sock, json.dumps({"cmd": "ban", "ip": "203.0.113.5", "duration": None}).encode() + b"\n")
    assert ok["ok"] is True and ok["ban"]["permanent"] is True
    bans = raw(sock, b'{"cmd": "bans"}\n')["bans"]
    assert [b["ip"] for b in bans] == ["203.0.113.5"]


def test_offline_ban_and_unban_take_the_same_path(tmp_path):
    """No daemon: `ban`/`unban` work on the store through BanService (offences counted the same way)."""
    from warden import ctl
    state = tmp_path / "state"
    cfg = tmp_path / "c.toml"
    cfg.write_text('[ban]\nbackend = "dry-run"\n[whitelist]\naddresses = ["192.0.2.0/24"]\n')
    first = ctl(state, "ban", "203.0.113.5", "--for", "1h", "--config", str(cfg))
    assert first["ok"] and first["daemon"] is False and first["ban"]["offence"] == 1
    assert ctl(state, "ban", "192.0.2.9", "--config", str(cfg)) is None  # whitelisted: refused (exit 1)
    again = ctl(state, "ban", "203.0.113.5", "--config", str(cfg))
    assert again["ban"]["offence"] == 2  # a replaced ban is an offence, as in the daemon
    assert [b["ip"] for b in ctl(state, "bans", "--config", str(cfg))] == ["203.0.113.5"]
    off = ctl(state, "unban", "203.0.113.5", "--config", str(cfg))
    assert off["lifted"] is True and ctl(state, "bans", "--config", str(cfg)) == []
    assert ctl(state, "unban", "203.0.113.5", "--config", str(cfg))["lifted"] is False
