"""The fleet and the blocklists on the daemon's HTTP side: `GET /api/v1/blocklist.txt` exports our bans
in the plain format the blocklist importer reads, and /metrics carries the fleet's and the
blocklists' counters (a real daemon, a real redis-server on 127.0.0.1, prometheus-client's parser)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from httpwarden import HttpWarden
from redis_server import RedisServer, unavailable
from sipwarden.blocklist.sources import parse

pytestmark = [pytest.mark.system, pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))]


def test_blocklist_export_and_fleet_metrics(tmp_path):
    redis = RedisServer(tmp_path / "redis").start()
    lst = tmp_path / "list.txt"
    lst.write_text("203.0.113.128/28\n198.51.100.9\n")  # not the host's (its addresses are whitelisted)
    w = HttpWarden(tmp_path, f'[fleet]\nredis = "{redis.url}"\nnode = "h1"\n'
                             f'[blocklists]\nsources = ["{lst}"]\n')
    try:
        w.start()
        w.attack("203.0.113.44")
        w.wait_for(lambda: "203.0.113.44" in w.banned(), "the ban")
        text = w.get("/api/v1/blocklist.txt")
        assert isinstance(text, str) and text.startswith("# sipwarden bans")
        assert [str(n) for n in parse(text.encode()).nets] == ["203.0.113.44/32"]

        def m() -> dict[str, float]:
            return {s.name: s.value for fam in text_string_to_metric_families(w.get("/metrics")) for s in fam.samples}
        w.wait_for(lambda: m().get("sipwarden_fleet_bans_shared_total") == 1, "the share counted")
        # the list is fetched by its own task at start: a fast daemon bans before it is read
        w.wait_for(lambda: m().get("sipwarden_blocklist_entries") == 2, "the blocklist read")
        got = m()
        assert got["sipwarden_fleet_connected"] == 1 and got["sipwarden_fleet_malformed_total"] == 0
        assert got["sipwarden_blocklist_entries"] == 2 and got["sipwarden_blocklist_failed_sources"] == 0
        assert redis.cli("XLEN", "sipwarden:bans").stdout.strip() == "1"
    finally:
        w.stop()
        redis.stop()
