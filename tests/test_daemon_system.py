"""The daemon end to end with real parts: nftables in a network namespace, a real log file, a real
SQLite store. An attacker namespace sends UDP to a listener in the server namespace; once its
failures are appended to the watched log its packets stop arriving, while a legitimate namespace
still gets through. Restarts, a wiped table, rotation and unban are exercised on the same lab."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from netns import ATK4, ATK4_EXTRA, LEGIT4, SRV4, topology, unavailable
from warden import SIPWARDEN, ctl, stop, wait_daemon

pytestmark = [pytest.mark.system, pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))]



def failure(ip: str, user: str = "100", when: float | None = None) -> str:
    """A chan_sip wrong-password line, stamped now in the daemon's (UTC) time zone."""
    ts = time.strftime("%b %e %H:%M:%S", time.gmtime(when or time.time()))
    return (f"[{ts}] NOTICE[2211] chan_sip.c: Registration from '\"{user}\" <sip:{user}@{SRV4}>' "
            f"failed for '{ip}:5060' - Wrong password\n")


class Lab:
    def __init__(self, topo, tmp: Path) -> None:  # noqa: ANN001
        self.topo = topo
        self.log = tmp / "messages"
        self.log.write_text("")
        self.state = tmp / "state"
        self.cfg = tmp / "sipwarden.toml"
        self.cfg.write_text('[log]\ntimezone = "UTC"\n[ban]\nreconcile_interval = 1.0\nbantime = 300\n'
                            f'table = "swtest{os.getpid()}"\n')
        self.table = f"swtest{os.getpid()}"
        self.proc: subprocess.Popen | None = None
        self.stderr = tmp / "daemon.err"

    def start(self) -> None:
        err = open(self.stderr, "a")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.topo.srv, SIPWARDEN, "run", "--config", str(self.cfg), "--watch",
             str(self.log), "--state-dir", str(self.state)], stdout=err, stderr=err)
        self.wait_for(lambda: (self.ctl("status") or {}).get("running") is True, "daemon control socket")

    def stop(self) -> None:
        stop(self.proc)
        self.proc = None

    def ctl(self, *args: str) -> dict | list | None:
        return ctl(self.state, *args)

    def append(self, text: str) -> None:
        with open(self.log, "a") as f:
            f.write(text)

    def in_kernel(self, ip: str) -> bool:
        p = self.topo.nft_cmd("get", "element", "inet", self.table, "ban4", f"{{ {ip} }}", check=False)
        return p.returncode == 0

    def wait_for(self, cond, what: str, timeout: float = 8.0) -> None:  # noqa: ANN001
        wait_daemon(cond, what, self.proc, self.stderr, timeout)


@pytest.fixture
def lab(tmp_path):
    with topology("swd") as topo:
        lab = Lab(topo, tmp_path)
        try:
            yield lab
        finally:
            lab.stop()


def test_ban_stops_attacker_legit_passes_and_survives_restart(lab):
    topo = lab.topo
    srv = topo.udp_listener()
    atk = topo.udp_client(topo.atk, ATK4)
    legit = topo.udp_client(topo.legit, LEGIT4)
    lab.start()
    assert topo.delivered(srv, atk, SRV4, 3) == 3  # before: the attacker reaches the PBX
    # a UDP "flow" conntrack already knows must be cut too: keep using the same socket
    lab.append("".join(failure(ATK4, user=str(100 + i)) for i in range(5)))
    lab.wait_for(lambda: lab.in_kernel(ATK4), "the ban in the kernel set")
    assert topo.delivered(srv, atk, SRV4, 5) == 0
    assert topo.delivered(srv, legit, SRV4, 3) == 3
    bans = lab.ctl("bans")
    assert [b["ip"] for b in bans] == [ATK4] and bans[0]["reason"] == "bruteforce"
    assert LEGIT4 not in [b["ip"] for b in bans]

    # restart: the ban is kept (and restored into the kernel if the table vanished meanwhile)
    lab.stop()
    topo.nft_cmd("delete", "table", "inet", lab.table)
    assert not lab.in_kernel(ATK4)
    lab.start()
    lab.wait_for(lambda: lab.in_kernel(ATK4), "the ban restored at start")
    assert topo.delivered(srv, atk, SRV4, 3) == 0

    # a wiped table comes back while the daemon runs (reconciliation)
    topo.nft_cmd("delete", "table", "inet", lab.table)
    lab.wait_for(lambda: lab.in_kernel(ATK4), "reconciliation to restore the table", timeout=6)
    assert topo.delivered(srv, atk, SRV4, 3) == 0

    # unban lifts the kernel ban at once
    reply = lab.ctl("unban", ATK4)
    assert reply["lifted"] is True
    assert not lab.in_kernel(ATK4)
    assert topo.delivered(srv, atk, SRV4, 3) == 3


def test_rotation_and_restart_lose_no_line_and_count_none_twice(lab):
    lab.start()
    a, b, c = ATK4_EXTRA
    # rename + create rotation: lines written just before the rename and after are both read
    lab.append("".join(failure(a) for _ in range(3)))
    time.sleep(0.3)
    os.rename(lab.log, str(lab.log) + ".1")
    lab.append("".join(failure(a) for _ in range(2)))
    lab.wait_for(lambda: lab.in_kernel(a), "a ban decided across a rename+create rotation")

    # copytruncate: the file is cut to zero in place and written again
    with open(lab.log, "r+") as f:
        f.truncate(0)
    lab.append("".join(failure(b) for _ in range(5)))
    lab.wait_for(lambda: lab.in_kernel(b), "a ban decided after copytruncate")

    # lines written while the daemon is down are read after the restart, and old lines are not re-read
    lab.append("".join(failure(c) for _ in range(4)))
    time.sleep(0.5)
    lab.stop()
    lab.start()
    time.sleep(0.5)
    assert not lab.in_kernel(c)  # 4 failures read before the stop; re-reading them would make 8
    lab.stop()
    lab.append(failure(c))
    lab.start()
    status = lab.ctl("status")
    assert status["running"] is True
    lab.wait_for(lambda: lab.ctl("status")["lines"] >= 1, "the line written while down")
    assert not lab.in_kernel(c)  # the engine starts afresh: 1 new failure is not a ban...
    lab.append("".join(failure(c) for _ in range(4)))
    lab.wait_for(lambda: lab.in_kernel(c), "...but 5 after the restart are")


def test_hostile_input_does_not_stop_the_daemon(lab):
    lab.start()
    lab.append("\x00\xff garbage \x1b[31m\n" + "A" * (10 << 20) + "\n" + failure(ATK4)[:40] + "\n")
    lab.append(b"\xc3\x28\xa0\xa1 not utf-8\n".decode("latin-1"))
    lab.append("".join(failure(ATK4) for _ in range(5)))
    lab.wait_for(lambda: lab.in_kernel(ATK4), "a ban after 10 MB of junk")
    assert lab.ctl("status")["running"] is True
