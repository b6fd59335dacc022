"""The ipset + iptables backend against the real kernel, inside a throw-away namespace lab."""

from __future__ import annotations

import shutil
import time

import pytest

import netns
from netns import ATK4, ATK6, LEGIT4, LEGIT6, SRV4, SRV6
from sipwarden.config import BanConfig
from sipwarden.enforce import Ban
from sipwarden.enforce.ipset import IpsetEnforcer

pytestmark = pytest.mark.system


@pytest.fixture
def topo():
    if (r := netns.unavailable()) is not None:
        pytest.skip(r)
    for prog in ("ipset", "iptables-restore", "ip6tables-restore"):
        if shutil.which(prog) is None and shutil.which(prog, path="/usr/sbin:/sbin") is None:
            pytest.skip(f"{prog} is not installed (scripts/bootstrap --system)")
    with netns.topology("ips") as t:
        yield t


def enforcer(topo, **cfg) -> IpsetEnforcer:
    e = IpsetEnforcer(BanConfig(**cfg), topo.srv)
    e.setup()
    return e


def test_ban_unban_v4_v6(topo):
    e = enforcer(topo)
    srv = topo.udp_listener()
    atk4, atk6 = topo.udp_client(topo.atk, ATK4), topo.udp_client(topo.atk, ATK6)
    legit4, legit6 = topo.udp_client(topo.legit, LEGIT4), topo.udp_client(topo.legit, LEGIT6)
    assert topo.delivered(srv, atk4, SRV4) == 3
    now = time.time()
    e.ban([Ban(ATK4, now + 60, 'x" flush\n'), Ban(ATK6, None)], now)
    assert topo.delivered(srv, atk4, SRV4) == 0
    assert topo.delivered(srv, atk6, SRV6) == 0
    assert topo.delivered(srv, legit4, SRV4) == 3
    assert topo.delivered(srv, legit6, SRV6) == 3
    listed = e.list()
    assert abs(listed[ATK4] - (now + 60)) <= 2 and listed[ATK6] is None
    e.ban([Ban(ATK4, now + 5)], now)  # re-ban sets the new (shorter) timeout
    assert abs(e.list()[ATK4] - (now + 5)) <= 2
    e.unban([ATK4, "198.18.0.99", "fd00::99", "10.0.0.0/8"])
    assert topo.delivered(srv, atk4, SRV4) == 3
    assert set(e.list()) == {ATK6}


def test_prefix_ban_and_expiry(topo):
    e = enforcer(topo)
    srv = topo.udp_listener()
    atk, legit = topo.udp_client(topo.atk, ATK4), topo.udp_client(topo.legit, LEGIT4)
    now = time.time()
    e.ban([Ban("198.18.0.64/26", now + 2), Ban("198.18.0.0/16", None)], now)  # overlaps are fine in ipset
    e.unban(["198.18.0.0/16"])
    assert topo.delivered(srv, atk, SRV4) == 0
    assert topo.delivered(srv, legit, SRV4) == 3
    deadline = time.monotonic() + 4
    while e.list() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert e.list() == {}
    assert topo.delivered(srv, atk, SRV4) == 3


def test_setup_idempotent_reconcile_and_teardown(topo):
    topo.run(topo.srv, ["iptables", "-t", "raw", "-A", "PREROUTING", "-s", "192.0.2.1", "-j", "ACCEPT"])
    e = enforcer(topo)
    e.setup()
    e.setup()
    raw = topo.run(topo.srv, ["iptables-save", "-t", "raw"]).stdout
    assert raw.count(f"-A PREROUTING -j {e.chain}") == 1 and raw.count("-j DROP") == 4
    assert "-A PREROUTING -s 192.0.2.1/32 -j ACCEPT" in raw
    srv = topo.udp_listener()
    atk = topo.udp_client(topo.atk, ATK4)
    now = time.time()
    wanted = {ATK4: now + 600, "fd00:5060::/64": None}
    e.ban([Ban("192.0.2.50", None)], now)
    assert e.reconcile(wanted, now) == (2, 1)
    assert set(e.list()) == set(wanted)
    assert topo.delivered(srv, atk, SRV4) == 0
    e.teardown()
    raw = topo.run(topo.srv, ["iptables-save", "-t", "raw"]).stdout
    assert e.chain not in raw and "-A PREROUTING -s 192.0.2.1/32 -j ACCEPT" in raw
    assert topo.run(topo.srv, ["ipset", "list", "-n"]).stdout.strip() == ""
    assert topo.delivered(srv, atk, SRV4) == 3


def test_ten_thousand_in_one_restore(topo):
    e = enforcer(topo)
    now = time.time()
    ips = [f"198.19.{i // 250}.{i % 250 + 1}" for i in range(10_000)]
    e.ban([Ban(ip, now + 600) for ip in ips], now)
    assert len(e.list()) == 10_000
