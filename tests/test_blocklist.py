"""Blocklists: parsing (VoIPBL-style plain, APIBAN-style JSON), merging (whitelist wins, cap), and
the runtime against a local HTTP server (a good list, a failing one, a huge one, a slow one), with
the kernel sets in a network namespace; `bans --format plain` reads back as a blocklist."""

from __future__ import annotations

import asyncio
import http.server
import ipaddress
import json
import threading
from pathlib import Path

import pytest

from sipwarden.addr import AddressSet
from sipwarden.blocklist.export import plain
from sipwarden.blocklist.runtime import Blocklists, merge
from sipwarden.blocklist.sources import parse
from sipwarden.config import BanConfig, BlocklistsConfig, ConfigError
from sipwarden.config.checks import check_blocklists

VOIPBL = b"""# VoIPBL Blacklist - voipbl.org
# Last updated 2026-11-30
203.0.113.0/24
198.51.100.7
198.51.100.7/32 extra words
not-an-ip
0.0.0.0/0
2001:db8:1::/48 ; a comment
::ffff:192.0.2.9
"""


def net(s: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(s)


def test_plain_lists_parse_like_voipbl_publishes_them():
    p = parse(VOIPBL)
    assert p.format == "plain"
    assert [str(n) for n in p.nets] == ["203.0.113.0/24", "198.51.100.7/32", "198.51.100.7/32", "2001:db8:1::/48",
                                        "192.0.2.9/32"]
    assert p.skipped == 2  # not-an-ip, and 0.0.0.0/0 (a list never bans the world)


def test_json_lists_parse_like_apiban_returns_them():
    p = parse(json.dumps({"ipaddress": ["203.0.113.5", "2001:db8::5", "junk", 7], "ID": "1234"}).encode())
    assert p.format == "json" and [str(n) for n in p.nets] == ["203.0.113.5/32", "2001:db8::5/128"]
    assert p.skipped == 2
    assert [str(n) for n in parse(b'["198.51.100.1"]').nets] == ["198.51.100.1/32"]
    with pytest.raises(ValueError, match="ipaddress"):
        parse(b'{"nothing": 1}')


def test_merge_cuts_whitelisted_space_collapses_and_caps():
    lists = [[net("198.51.100.0/24"), net("203.0.113.5/32")], [net("203.0.113.0/24"), net("2001:db8::/48")]]
    merged, dropped, cut = merge(lists, AddressSet(["198.51.100.10", "2001:db8::/64"]), 100)
    m4 = merged[4]
    assert not any(ipaddress.ip_address("198.51.100.10") in n for n in m4)  # the whitelist wins
    assert any(ipaddress.ip_address("198.51.100.11") in n for n in m4)  # the rest of the /24 stays
    assert net("203.0.113.0/24") in m4 and net("203.0.113.5/32") not in m4  # collapsed into the /24
    assert not any(n.overlaps(net("2001:db8::/64")) for n in merged[6]) and merged[6]
    assert dropped == 0 and cut == 2
    many = [[net(f"10.{i // 256}.{i % 256}.1/32") for i in range(0, 2000, 2)]]
    merged, dropped, _ = merge(many, AddressSet(), 300)
    assert len(merged[4]) == 300 and dropped == 700


def test_config_errors():
    with pytest.raises(ConfigError, match="http"):
        check_blocklists(BlocklistsConfig(sources=("ftp://x/list",)))
    with pytest.raises(ConfigError, match="interval"):
        check_blocklists(BlocklistsConfig(sources=("/tmp/x",), interval=5))


def test_export_is_importable():
    text = plain([{"ip": "203.0.113.9"}, {"ip": "198.51.100.0/24"}, {"ip": "2001:db8::1"}, {"ip": "198.51.100.200"}],
                 now=0)
    assert text.splitlines()[1:] == ["198.51.100.0/24", "198.51.100.200", "203.0.113.9", "2001:db8::1"]
    assert [str(n) for n in parse(text.encode()).nets] == ["198.51.100.0/24", "198.51.100.200/32", "203.0.113.9/32",
                                                           "2001:db8::1/128"]


class Lists(http.server.BaseHTTPRequestHandler):
    """/good (plain), /json (APIBAN shape), /fail (500 after the first success), /huge, /html, /slow."""

    fail = False

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/good":
            body = b"203.0.113.0/25\n198.51.100.7\n"
        elif self.path == "/json":
            body = json.dumps({"ipaddress": ["192.0.2.44", "2001:db8:5::1"]}).encode()
        elif self.path == "/fail":
            if Lists.fail:
                self.send_error(500)
                return
            body = b"192.0.2.99\n"
        elif self.path == "/huge":
            body = b"192.0.2.1\n" * 200_000  # 2 MB: over the test's max_bytes
        elif self.path == "/html":
            body = b"<html><body>maintenance</body></html>\n"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a) -> None:  # noqa: ANN002
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Lists)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    Lists.fail = False
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_refresh_keeps_the_last_good_list_and_refuses_huge_and_junk(server, tmp_path: Path):
    local = tmp_path / "local.txt"
    local.write_text("# mine\n192.0.2.200\n")
    cfg = BlocklistsConfig(sources=(f"{server}/good", f"{server}/json", f"{server}/fail", f"{server}/huge",
                                    f"{server}/html", str(local), f"{server}/missing"), max_bytes=1 << 20, timeout=5)

    async def go() -> None:
        b = Blocklists(cfg, BanConfig(backend="dry-run"), AddressSet(["198.51.100.7"]), tmp_path / "state")
        st = await b.refresh()
        by = {s["source"].rsplit("/", 1)[-1]: s for s in st["sources"]}
        assert by["good"]["entries"] == 2 and by["good"]["error"] is None
        assert by["json"]["entries"] == 2 and by["json"]["format"] == "json"
        assert by["fail"]["entries"] == 1
        assert "max_bytes" in by["huge"]["error"] and by["huge"]["entries"] == 0
        assert "no address" in by["html"]["error"]
        assert "404" in by["missing"]["error"]
        assert by["local.txt"]["entries"] == 1
        # whitelist wins: 198.51.100.7 is listed by /good but not in force
        assert "198.51.100.7/32" not in b.addresses() and "203.0.113.0/25" in b.addresses()
        Lists.fail = True
        st = await b.refresh()
        fail = next(s for s in st["sources"] if s["source"].endswith("/fail"))
        assert fail["error"] == "HTTP 500" and fail["entries"] == 1  # the last good list stays
        assert "192.0.2.99/32" in b.addresses()
        # a restart with the source still failing starts from the copy kept in the state dir
        b2 = Blocklists(cfg, BanConfig(backend="dry-run"), AddressSet(), tmp_path / "state")
        b2.load_cache()
        await b2._load()
        assert "192.0.2.99/32" in b2.addresses()
        kept = {x["source"].rsplit("/", 1)[-1]: x for x in b2.status()["sources"]}
        assert kept["fail"]["error"] == "HTTP 500" and kept["fail"]["fetched"] and kept["good"]["error"] is None
    asyncio.run(go())


def test_lists_are_refreshed_on_their_interval(server, tmp_path: Path):
    Lists.fail = False
    cfg = BlocklistsConfig(sources=(f"{server}/fail",), interval=0.2, timeout=5)  # below the config's floor: a test

    async def go() -> None:
        b = Blocklists(cfg, BanConfig(backend="dry-run"), AddressSet(), tmp_path / "state")
        await b.start()
        for _ in range(100):
            if b.refreshes >= 1:
                break
            await asyncio.sleep(0.02)
        assert b.addresses() == ["192.0.2.99/32"]
        Lists.fail = True
        n = b.refreshes
        for _ in range(100):
            if b.refreshes >= n + 2:
                break
            await asyncio.sleep(0.05)
        assert b.refreshes >= n + 2 and b.status()["sources"][0]["error"] == "HTTP 500"
        assert b.addresses() == ["192.0.2.99/32"]  # still the last good list
        await b.stop()
    asyncio.run(go())
