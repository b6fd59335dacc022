"""The nftables backend against the real kernel, inside a throw-away namespace lab (tests/netns.py).

Every firewall change happens inside the lab's srv namespace (the enforcer's `netns` argument);
the root namespace's firewall is never touched.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import sys
import time

import pytest

import netns
from netns import ATK4, ATK6, LEGIT4, LEGIT6, SRV4, SRV6
from sipwarden.config import BanConfig
from sipwarden.enforce import Ban, EnforceError, make_enforcer
from sipwarden.enforce.nftables import NftablesEnforcer, _has_libnftables

pytestmark = pytest.mark.system

RUNNERS = ["libnftables", "nft"]


def _skip_reason(runner: str = "nft") -> str | None:
    if (r := netns.unavailable()) is not None:
        return r
    if shutil.which("nft") is None and shutil.which("nft", path="/usr/sbin:/sbin") is None:
        return "the nft program is not installed (apt-get install nftables; scripts/bootstrap --system)"
    if runner == "libnftables" and not _has_libnftables():
        return "python3-nftables is not importable in this venv (run scripts/bootstrap)"
    return None


@pytest.fixture
def topo():
    if (r := _skip_reason()) is not None:
        pytest.skip(r)
    with netns.topology("nft") as t:
        yield t


def enforcer(topo, runner: str = "libnftables", **cfg) -> NftablesEnforcer:
    if (r := _skip_reason(runner)) is not None:
        pytest.skip(r)
    e = NftablesEnforcer(BanConfig(**cfg), topo.srv, use_lib=runner == "libnftables")
    topo._closers.append(e.close)
    e.setup()
    return e


def counter_packets(topo, family: str, table: str, chain: str) -> int:
    out = json.loads(topo.nft_cmd("-j", "list", "chain", family, table, chain).stdout)
    total = 0
    for obj in out["nftables"]:
        for expr in obj.get("rule", {}).get("expr", []):
            if "counter" in expr:
                total += expr["counter"]["packets"]
    return total


@pytest.mark.parametrize("runner", RUNNERS)
def test_ban_drops_attacker_keeps_legit_v4_v6(topo, runner):
    e = enforcer(topo, runner)
    srv = topo.udp_listener()
    clients = {ip: topo.udp_client(ns, ip) for ns, ip in
               ((topo.atk, ATK4), (topo.atk, ATK6), (topo.legit, LEGIT4), (topo.legit, LEGIT6))}
    dst = {ATK4: SRV4, LEGIT4: SRV4, ATK6: SRV6, LEGIT6: SRV6}
    for ip, c in clients.items():
        assert topo.delivered(srv, c, dst[ip]) == 3, f"{ip} cannot reach the server before any ban"
    now = time.time()
    e.ban([Ban(ATK4, now + 60, "bruteforce"), Ban(ATK6, now + 60, "scanner")], now)
    assert topo.delivered(srv, clients[ATK4], SRV4) == 0
    assert topo.delivered(srv, clients[ATK6], SRV6) == 0
    assert topo.delivered(srv, clients[LEGIT4], SRV4) == 3
    assert topo.delivered(srv, clients[LEGIT6], SRV6) == 3
    listed = e.list()
    assert set(listed) == {ATK4, ATK6}
    assert all(abs(listed[ip] - (now + 60)) <= 2 for ip in (ATK4, ATK6))
    # another port is not protected (ports = 5060, 5061 by default)
    other = topo.udp_listener(port=5080)
    assert topo.delivered(other, clients[ATK4], SRV4, port=5080) == 3


def test_ban_cuts_a_flow_conntrack_already_knows(topo):
    # a typical host firewall in another table: conntrack active, established traffic accepted
    topo.nft("table inet hostfw {\n chain input { type filter hook input priority filter; policy accept;"
             " ct state established counter accept; }\n}\n")
    e = enforcer(topo)
    srv = topo.udp_listener()
    c = topo.udp_client(topo.atk, ATK4)  # one socket = one 5-tuple = one conntrack entry
    assert topo.delivered(srv, c, SRV4, 5, interval=0.01) == 5
    assert counter_packets(topo, "inet", "hostfw", "input") >= 3, "conntrack did not see an established flow"
    e.ban([Ban(ATK4, None)], time.time())
    assert topo.delivered(srv, c, SRV4, 5) == 0
    assert counter_packets(topo, "inet", e.table, "prerouting") >= 5


@pytest.mark.parametrize("runner", RUNNERS)
def test_prefix_ban(topo, runner):
    e = enforcer(topo, runner)
    srv = topo.udp_listener()
    atk, atk67, legit = (topo.udp_client(topo.atk, ATK4), topo.udp_client(topo.atk, "198.18.0.67"),
                         topo.udp_client(topo.legit, LEGIT4))
    now = time.time()
    e.ban([Ban("198.18.0.64/26", now + 60), Ban("fd00:5060::/120", now + 60)], now)
    assert topo.delivered(srv, atk, SRV4) == 0
    assert topo.delivered(srv, atk67, SRV4) == 0
    assert topo.delivered(srv, legit, SRV4) == 3  # .20 is outside .64/26
    assert topo.delivered(srv, topo.udp_client(topo.atk, ATK6), SRV6) == 0  # ::66 inside ::/120
    assert set(e.list()) == {"198.18.0.64/26", "fd00:5060::/120"}
    e.unban(["198.18.0.64/26"])
    assert topo.delivered(srv, atk, SRV4) == 3


def test_overlapping_prefixes_do_not_abort_the_batch(topo):
    e = enforcer(topo)
    now = time.time()
    e.ban([Ban("198.18.0.64/26", now + 60), Ban("10.1.0.0/16", None)], now)
    # broader prefix replaces the narrower one; a prefix inside a banned one is already enforced
    e.ban([Ban("198.18.0.0/24", now + 120), Ban("10.1.2.0/24", now + 10), Ban("192.0.2.7", None)], now)
    listed = e.list()
    assert set(listed) == {"198.18.0.0/24", "10.1.0.0/16", "192.0.2.7"}
    assert abs(listed["198.18.0.0/24"] - (now + 120)) <= 2 and listed["10.1.0.0/16"] is None
    # re-banning an existing prefix replaces its expiry
    e.ban([Ban("10.1.0.0/16", now + 30)], now)
    assert abs(e.list()["10.1.0.0/16"] - (now + 30)) <= 2


def test_expiry(topo):
    e = enforcer(topo)
    srv = topo.udp_listener()
    c = topo.udp_client(topo.atk, ATK4)
    now = time.time()
    e.ban([Ban(ATK4, now + 2)], now)
    assert topo.delivered(srv, c, SRV4) == 0
    deadline = time.monotonic() + 4
    while ATK4 in e.list() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ATK4 not in e.list(), "a 2 s ban was still in the kernel after 4 s"
    assert topo.delivered(srv, c, SRV4) == 3


def test_reban_sets_the_new_timeout_both_ways(topo):
    e = enforcer(topo)
    now = time.time()
    e.ban([Ban(ATK4, now + 5)], now)
    e.ban([Ban(ATK4, now + 3600)], now)
    assert abs(e.list()[ATK4] - (now + 3600)) <= 2
    e.ban([Ban(ATK4, now + 30)], now)  # shorter: a plain re-add would keep 3600 on some kernels
    assert abs(e.list()[ATK4] - (now + 30)) <= 2
    e.ban([Ban(ATK4, None)], now)
    assert e.list()[ATK4] is None
    e.ban([Ban(ATK4, now + 30)], now)
    assert abs(e.list()[ATK4] - (now + 30)) <= 2
    e.ban([Ban(ATK4, now - 1)], now)  # already over: removed
    assert ATK4 not in e.list()


def test_permanent_ban_has_no_timeout(topo):
    e = enforcer(topo)
    e.ban([Ban(ATK4, None, "operator"), Ban(ATK6, None)], time.time())
    assert e.list() == {ATK4: None, ATK6: None}
    out = json.loads(topo.nft_cmd("-j", "list", "set", "inet", e.table, "ban4").stdout)
    elems = [o["set"] for o in out["nftables"] if "set" in o][0]["elem"]
    assert len(elems) == 1 and "timeout" not in json.dumps(elems)


@pytest.mark.parametrize("runner", RUNNERS)
def test_unban_lifts_at_once_and_absent_is_fine(topo, runner):
    e = enforcer(topo, runner)
    srv = topo.udp_listener()
    a, b = topo.udp_client(topo.atk, ATK4), topo.udp_client(topo.atk, "198.18.0.68")
    now = time.time()
    e.ban([Ban(ATK4, now + 600), Ban("198.18.0.68", now + 600), Ban(ATK6, None)], now)
    assert topo.delivered(srv, a, SRV4) == 0
    e.unban([ATK4, "198.18.0.99", "fd00:5060::99", "10.0.0.0/8", "not an address"])
    assert topo.delivered(srv, a, SRV4) == 3
    assert topo.delivered(srv, b, SRV4) == 0
    assert set(e.list()) == {"198.18.0.68", ATK6}
    e.unban([ATK4])  # again: absent now
    e.unban([])


def test_setup_is_idempotent_and_leaves_other_tables_alone(topo):
    other = ("table ip keepme {\n set allow { type ipv4_addr; elements = { 192.0.2.1 } }\n"
             " chain input { type filter hook input priority 0; policy accept; ip saddr @allow counter accept; }\n}\n")
    topo.nft(other)
    before = topo.nft_cmd("list", "table", "ip", "keepme").stdout
    e = enforcer(topo)
    now = time.time()
    e.ban([Ban(ATK4, now + 600)], now)
    e.setup()
    e.setup()
    ruleset = topo.nft_cmd("list", "table", "inet", e.table).stdout
    assert ruleset.count('comment "sipwarden ban"') == 4, ruleset  # no duplicated rules
    assert "hook prerouting priority raw" in ruleset
    assert ATK4 in e.list(), "setup dropped existing bans"
    assert topo.nft_cmd("list", "table", "ip", "keepme").stdout == before
    e.teardown()
    e.teardown()
    assert topo.nft_cmd("list", "table", "inet", e.table, check=False).returncode != 0
    assert topo.nft_cmd("list", "table", "ip", "keepme").stdout == before
    assert e.list() == {}


def test_reconcile_restores_a_wiped_table_and_removes_extras(topo):
    e = enforcer(topo)
    srv = topo.udp_listener()
    c = topo.udp_client(topo.atk, ATK4)
    now = time.time()
    wanted = {ATK4: now + 600, ATK6: None, "198.51.100.0/24": now + 300}
    e.ban([Ban(ip, exp) for ip, exp in wanted.items()], now)
    topo.nft_cmd("delete", "table", "inet", e.table)
    assert topo.delivered(srv, c, SRV4) == 3  # the wipe lifted the ban
    assert e.list() == {}
    assert e.reconcile(wanted, now) == (3, 0)
    assert topo.delivered(srv, c, SRV4) == 0
    listed = e.list()
    assert set(listed) == set(wanted) and listed[ATK6] is None
    e.ban([Ban("192.0.2.9", None)], now)
    assert e.reconcile(wanted, now) == (0, 1)
    assert set(e.list()) == set(wanted)
    assert e.reconcile(wanted, now) == (0, 0)


def test_reconcile_of_an_intact_table_keeps_the_drop_counters(topo):
    e = enforcer(topo)
    srv = topo.udp_listener()
    c = topo.udp_client(topo.atk, ATK4)
    now = time.time()
    e.ban([Ban(ATK4, now + 600)], now)
    assert topo.delivered(srv, c, SRV4, 5) == 0
    before = counter_packets(topo, "inet", e.table, "prerouting")
    assert before >= 5
    assert e.reconcile({ATK4: now + 600}, now) == (0, 0)
    assert counter_packets(topo, "inet", e.table, "prerouting") == before  # no flush: counters kept
    topo.nft_cmd("flush", "chain", "inet", e.table, "prerouting")  # rules gone, sets still there
    assert topo.delivered(srv, c, SRV4, 3) == 3
    e.reconcile({ATK4: now + 600}, now)
    assert topo.delivered(srv, c, SRV4, 3) == 0


def test_ratelimit_clips_a_burst_not_a_slow_client(topo):
    e = enforcer(topo, ratelimit=20)
    srv = topo.udp_listener()
    atk4, atk6 = topo.udp_client(topo.atk, ATK4), topo.udp_client(topo.atk, ATK6)
    legit = topo.udp_client(topo.legit, LEGIT4)
    got4 = topo.delivered(srv, atk4, SRV4, 200)
    got6 = topo.delivered(srv, atk6, SRV6, 200)
    assert got4 < 60 and got6 < 60, (got4, got6)  # burst 5 + 20/s over the ~10 ms the burst takes
    assert got4 >= 1 and got6 >= 1  # a limit, not a ban
    assert topo.delivered(srv, legit, SRV4, 5, interval=0.1) == 5
    assert e.list() == {}  # rate-limit state is not a ban


@pytest.mark.parametrize("runner", RUNNERS)
def test_hostile_comment_cannot_break_anything(topo, runner):
    topo.nft("table ip keepme {\n chain c { }\n}\n")
    e = enforcer(topo, runner)
    evil = 'x" } ; flush ruleset\n add table ip evil { chain c { } }\r\n\'{$v}\\ #' + "é" * 200
    now = time.time()
    e.ban([Ban(ATK4, now + 600, evil), Ban("198.18.0.128/25", None, evil)], now)
    assert set(e.list()) == {ATK4, "198.18.0.128/25"}
    tables = topo.nft_cmd("list", "tables").stdout
    assert "keepme" in tables and "evil" not in tables
    dump = topo.nft_cmd("list", "ruleset").stdout
    for bad in ('flush ruleset"', "\r", "{$v}", "\\"):
        assert bad not in dump
    # the dump must still be valid nft syntax (operators back up and restore with it)
    assert topo.run(topo.srv, ["nft", "-c", "-f", "-"], input=dump, check=False).returncode == 0


def test_ten_thousand_bans_in_one_batch(topo):
    e = enforcer(topo)
    base = int(ipaddress.IPv4Address("198.18.1.0"))
    ips = [str(ipaddress.IPv4Address(base + i)) for i in range(10_000)]
    now = time.time()
    t0 = time.perf_counter()
    e.ban([Ban(ip, now + 600, "bench") for ip in ips], now)
    took = time.perf_counter() - t0
    listed = e.list()
    assert len(listed) == 10_000 and set(listed) == set(ips)
    e.unban(ips[:5000])
    assert len(e.list()) == 5000
    print(f"10k bans in one batch: {took * 1000:.0f} ms", file=sys.stderr)


def test_missing_nft_program_is_a_clear_error(topo):
    e = NftablesEnforcer(BanConfig(), topo.srv, use_lib=False)
    e.runner.program = "nft-does-not-exist"  # type: ignore[union-attr]
    with pytest.raises(EnforceError, match="nftables package"):
        e.setup()


@pytest.mark.parametrize("runner", RUNNERS)
def test_not_permitted_is_a_clear_error(topo, runner):
    if (r := _skip_reason(runner)) is not None:
        pytest.skip(r)
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to drop CAP_NET_ADMIN")
    code = ("from sipwarden.config import BanConfig\nfrom sipwarden.enforce import EnforceError\n"
            "from sipwarden.enforce.nftables import NftablesEnforcer\n"
            f"e = NftablesEnforcer(BanConfig(), use_lib={runner == 'libnftables'})\n"
            "try:\n    e.setup()\nexcept EnforceError as x:\n    print('ERR', x)\n")
    p = topo.run(topo.srv, ["setpriv", "--bounding-set", "-net_admin", "--inh-caps", "-net_admin",
                            sys.executable, "-c", code])
    assert p.stdout.startswith("ERR") and "CAP_NET_ADMIN" in p.stdout, p.stdout + p.stderr


def test_invalid_table_name_and_make_enforcer(topo):
    with pytest.raises(EnforceError, match="table"):
        NftablesEnforcer(BanConfig(table="x; flush ruleset"))
    e = make_enforcer(BanConfig(table="sw_other"), netns=topo.srv)
    e.setup()
    e.ban([Ban(ATK4, None)], time.time())
    assert e.name == "nftables" and e.list() == {ATK4: None}
    assert "sw_other" in topo.nft_cmd("list", "tables").stdout
