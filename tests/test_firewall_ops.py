"""Operator-side firewall work in a network namespace: bans a reconcile puts back keep their reason
(the nftables comment), and `sipwarden firewall list|remove` for an operator who checks or uninstalls."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from netns import ATK4, ATK6, topology, unavailable
from sipwarden.config import BanConfig
from sipwarden.enforce.base import Wanted
from sipwarden.enforce.nftables import NftablesEnforcer
from warden import SIPWARDEN

pytestmark = [pytest.mark.system, pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))]


def comments(topo, table: str, setname: str) -> dict[str, str]:
    out = json.loads(topo.nft_cmd("-j", "list", "set", "inet", table, setname).stdout)
    found = {}
    for obj in out["nftables"]:
        for e in obj.get("set", {}).get("elem", []):
            if isinstance(e, dict) and "elem" in e:
                found[str(e["elem"]["val"])] = e["elem"].get("comment", "")
    return found


def test_reconcile_restores_bans_with_their_reason():
    with topology("nfc") as topo:
        e = NftablesEnforcer(BanConfig(table=f"swc{os.getpid()}"), topo.srv)
        topo._closers.append(e.close)
        e.setup()
        now = time.time()
        wanted = Wanted({ATK4: now + 600, ATK6: None}, {ATK4: "bruteforce", ATK6: "tollfraud"})
        topo.nft_cmd("delete", "table", "inet", e.table)
        assert e.reconcile(wanted, now) == (2, 0)
        assert comments(topo, e.table, "ban4") == {ATK4: "bruteforce"}
        assert comments(topo, e.table, "ban6") == {ATK6: "tollfraud"}
        assert e.reconcile({ATK4: now + 600, ATK6: None}, now) == (0, 0)  # a plain dict still works


def test_daemon_reconcile_keeps_comment_and_firewall_remove(tmp_path):
    table = f"swrm{os.getpid()}"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[log]\ntimezone = "UTC"\n[ban]\ntable = "{table}"\nreconcile_interval = 1.0\n'
                   f'[daemon]\nstate_dir = "{tmp_path / "st"}"\n')
    log = tmp_path / "messages"
    log.write_text("")
    with topology("nfr") as topo:
        def sw(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["ip", "netns", "exec", topo.srv, SIPWARDEN, *args], capture_output=True,
                                  text=True, timeout=30)
        err = open(tmp_path / "d.err", "w")  # noqa: SIM115
        proc = subprocess.Popen(["ip", "netns", "exec", topo.srv, SIPWARDEN, "run", "--config", str(cfg), "--watch",
                                 str(log)], stdout=err, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while sw("status", "--config", str(cfg)).returncode != 0:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "d.err").read_text()
                time.sleep(0.1)
            ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
            with open(log, "a") as f:
                f.write("".join(f"[{ts}] NOTICE[1] chan_sip.c: Registration from '<sip:{100 + i}@x>' failed for "
                                f"'{ATK4}:5060' - Wrong password\n" for i in range(5)))
            deadline = time.monotonic() + 30
            while comments(topo, table, "ban4") != {ATK4: "bruteforce"}:
                assert time.monotonic() < deadline, (tmp_path / "d.err").read_text()
                time.sleep(0.1)
            topo.nft_cmd("delete", "table", "inet", table)
            deadline = time.monotonic() + 30
            while topo.nft_cmd("list", "set", "inet", table, "ban4", check=False).returncode != 0 \
                    or ATK4 not in comments(topo, table, "ban4"):
                assert time.monotonic() < deadline, (tmp_path / "d.err").read_text()
                time.sleep(0.1)
            assert comments(topo, table, "ban4") == {ATK4: "bruteforce"}  # the reason came back with it
            listed = json.loads(sw("firewall", "list", "--config", str(cfg), "--format", "json").stdout)
            assert [x["ip"] for x in listed] == [ATK4] and 0 < listed[0]["seconds_left"] <= 600
            r = sw("firewall", "remove", "--config", str(cfg))
            assert r.returncode == 2 and "daemon is running" in r.stderr
            assert topo.nft_cmd("list", "table", "inet", table, check=False).returncode == 0
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
            err.close()
        r = sw("firewall", "remove", "--config", str(cfg))
        assert r.returncode == 0 and f"removed table inet {table}" in r.stdout
        assert topo.nft_cmd("list", "table", "inet", table, check=False).returncode != 0
        r = sw("firewall", "remove", "--config", str(cfg))  # again: nothing to remove is fine
        assert r.returncode == 0
