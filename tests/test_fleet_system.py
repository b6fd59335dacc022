"""Three sipwarden daemons, each in its own network namespace with its own nftables table, and a real
redis-server in a fourth: bans propagate to the others' kernels, failures are counted fleet-wide, a
node's whitelist wins over the fleet, unbans propagate, malformed entries written with redis-cli
are counted and ignored, Redis killed mid-run (local bans go on; the outage's bans reach the others
when it is back), and a restarted node replays what it missed."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from fleet_lab import FleetLab, failure
from netns import unavailable as netns_unavailable
from redis_server import unavailable as redis_unavailable
from warden import SIPWARDEN

_why = netns_unavailable() or redis_unavailable()
pytestmark = [pytest.mark.system, pytest.mark.skipif(_why is not None, reason=str(_why))]


@pytest.fixture
def lab(tmp_path):
    lab = FleetLab(tmp_path, 3, {3: '[whitelist]\naddresses = ["203.0.113.80"]\n'})
    try:
        lab.up()
        for d in lab.nodes:
            d.start()
        yield lab
    finally:
        lab.down()


def test_fleet_of_three(lab):
    n1, n2, n3 = lab.nodes
    # 1. a ban decided on node1 is in node2's and node3's kernels within 1 s
    n1.append("".join(failure("203.0.113.50", str(200 + k)) for k in range(6)))
    n1.wait_for(lambda: n1.banned("203.0.113.50"), "node1's own ban")
    took = n1.wait_for(lambda: n2.banned("203.0.113.50") and n3.banned("203.0.113.50"), "propagation", 3)
    assert took < 1.0, f"propagation took {took:.3f} s"
    b2 = {b["ip"]: b for b in n2.ctl("bans")}
    assert b2["203.0.113.50"]["evidence"]["origins"] == ["fleet:node1"]

    # 2. 2 failures on each node: 6 in the fleet, over 5: banned everywhere
    for d in lab.nodes:
        d.append(failure("203.0.113.60", "301") + failure("203.0.113.60", "302"))
    n1.wait_for(lambda: all(d.banned("203.0.113.60") for d in lab.nodes), "fleet-wide count", 3)
    # ...while 4 in the fleet are not enough
    for d in (n1, n2):
        d.append(failure("203.0.113.61", "301") + failure("203.0.113.61", "302"))
    time.sleep(1.0)
    assert not any(d.banned("203.0.113.61") for d in lab.nodes)

    # ...and the distributed detector sees the fleet: 5 failing sources of one /24, spread over 3 nodes
    for d, last in ((n1, (1, 2)), (n2, (3, 4)), (n3, (5,))):
        d.append("".join(failure(f"198.51.100.{k}", "777") for k in last))
    n1.wait_for(lambda: all(d.banned("198.51.100.0/24", "net4") for d in lab.nodes), "fleet-wide /24 ban", 3)

    # 3. node3's whitelist wins over the fleet
    n1.append("".join(failure("203.0.113.80", str(400 + k)) for k in range(6)))
    n1.wait_for(lambda: n1.banned("203.0.113.80") and n2.banned("203.0.113.80"), "ban on node1/node2")
    time.sleep(1.0)
    assert not n3.banned("203.0.113.80")

    # 4. an operator's unban on node2 is lifted everywhere
    assert n2.ctl("unban", "203.0.113.50")["lifted"] is True
    n1.wait_for(lambda: not n1.banned("203.0.113.50") and not n3.banned("203.0.113.50"), "unban propagated", 3)

    # 5. malformed entries (written with redis-cli) are counted and ignored; the nodes go on
    r = lab.redis
    r.cli("XADD", "sipwarden:bans", "*", "m", "garbage")
    r.cli("XADD", "sipwarden:bans", "*", "m", json.dumps({"v": 1, "kind": "ban", "node": "evil", "ip": "0.0.0.0/0",
                                                            "reason": "flood", "at": 1, "expires": None}))
    r.cli("XADD", "sipwarden:events", "*", "m", stdin="A" * 300_000)
    n1.wait_for(lambda: n1.ctl("status")["fleet"]["malformed"] >= 3, "malformed counted")
    assert n2.ctl("status")["fleet"]["malformed"] >= 3
    assert not any(d.banned("0.0.0.0/0", "net4") for d in lab.nodes)

    # 6. fleet status shows the three nodes
    p = subprocess.run([SIPWARDEN, "fleet", "status", "--json", "--state-dir", str(n1.state)], capture_output=True,
                       text=True, timeout=20)
    st = json.loads(p.stdout)
    assert [n["node"] for n in st["nodes"]] == ["node1", "node2", "node3"] and st["connected"] is True
    assert st["bans_shared"] >= 3 and st["bans_received"] >= 1

    # 7. Redis killed: node1 still bans at once; when Redis is back the ban reaches the others
    r.stop()
    time.sleep(0.5)
    n1.append("".join(failure("203.0.113.70", str(500 + k)) for k in range(6)))
    local = n1.wait_for(lambda: n1.banned("203.0.113.70"), "local ban with Redis down", 3)
    assert local < 1.0
    assert all(d.proc.poll() is None for d in lab.nodes)
    assert n1.ctl("status")["fleet"]["connected"] is False
    r.start()
    n1.wait_for(lambda: n2.banned("203.0.113.70") and n3.banned("203.0.113.70"), "outage ban after Redis", 10)
    err = n1.stderr.read_text()
    assert err.count("fleet: lost Redis") == 1 and err.count("is back after") == 1

    # 8. node3 down while node1 bans: at its restart it replays what it missed
    n3.stop()
    n1.append("".join(failure("203.0.113.90", str(600 + k)) for k in range(6)))
    n1.wait_for(lambda: n2.banned("203.0.113.90"), "ban on node2")
    n3.start()
    n3.wait_for(lambda: n3.banned("203.0.113.90"), "replayed ban on node3", 5)
    assert "203.0.113.90" in {b["ip"] for b in n3.ctl("bans")}
