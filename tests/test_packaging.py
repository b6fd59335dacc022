"""The shipped systemd unit and the sd_notify protocol, without root."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess

import pytest

from conftest import REPO
from sipwarden.daemon import sdnotify

UNIT = REPO / "packaging" / "sipwarden.service"
needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")


def exposure(path: str) -> float:
    p = subprocess.run(["systemd-analyze", "security", "--offline=yes", path], capture_output=True, text=True,
                       timeout=60)
    m = re.search(r"exposure level for [^:]+: ([0-9.]+)", p.stdout)
    assert m, p.stdout + p.stderr
    return float(m.group(1))


@needs_analyze
def test_unit_exposure_at_most_2(tmp_path):
    assert exposure(str(UNIT)) <= 2.0
    # the bar bites: the unit with its hardening removed is rated far above it
    bare = "\n".join(line for line in UNIT.read_text().splitlines()
                     if not line.startswith(("Protect", "Private", "Restrict", "SystemCall", "Capability",
                                             "Ambient", "NoNew", "Memory", "Lock", "ProcSubset", "User=")))
    (tmp_path / "sipwarden.service").write_text(bare)
    assert exposure(str(tmp_path / "sipwarden.service")) > 5.0


def test_unit_names_only_net_admin_and_four_families():
    text = UNIT.read_text()
    assert re.search(r"^CapabilityBoundingSet=CAP_NET_ADMIN$", text, re.M)
    assert re.search(r"^RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK$", text, re.M)
    assert "AF_PACKET" not in text and "CAP_NET_RAW" not in text.split("[Service]")[1]
    drop = (REPO / "packaging" / "live-capture.conf").read_text()
    assert "CAP_NET_RAW" in drop and "AF_PACKET" in drop


def test_notify_sends_one_datagram(tmp_path, monkeypatch):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        assert sdnotify.notify("READY=1", "STATUS=watching 2 files")
        assert srv.recv(4096) == b"READY=1\nSTATUS=watching 2 files"
    monkeypatch.setenv("NOTIFY_SOCKET", f"@sw-test-{os.getpid()}")  # abstract name nobody listens on
    assert sdnotify.notify("READY=1") is False
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert sdnotify.notify("READY=1") is False


def test_watchdog_interval(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert sdnotify.watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # meant for another process
    assert sdnotify.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval() == 15.0
    monkeypatch.delenv("WATCHDOG_USEC")
    assert sdnotify.watchdog_interval() is None
