"""The fleet link against a real redis-server on 127.0.0.1: what one node publishes, the others
apply (through their host's ban path), never their own; replay after a restart; malformed entries
written with redis-cli; the per-minute cap; accept-only-some-reasons and publish-only; an outage
(Redis killed, shares queued, sent when it is back, one log line each way)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time

import pytest

from redis_server import RedisServer, free_port, unavailable
from sipwarden.config import FleetConfig
from sipwarden.config.fleet import read_password, redis_target
from sipwarden.events import Event, Kind
from sipwarden.fleet.link import FleetLink

pytestmark = [pytest.mark.system, pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))]


class Node:
    """The daemon's side of the link, recording what the fleet asks of it."""

    def __init__(self, name: str, url: str, meta: dict | None = None, password: str | None = None,
                 clock=time.time, **kw) -> None:  # noqa: ANN001, ANN003
        self.meta: dict[str, str] = meta if meta is not None else {}
        self.bans: list[tuple[str, str, str, float | None]] = []
        self.unbans: list[tuple[str, str]] = []
        self.events: list[Event] = []
        cfg = FleetConfig(redis=url, node=name, **kw)
        self.link = FleetLink(cfg, redis_target(cfg), name, password, self, window=600, clock=clock)

    def fleet_ban(self, node, bans, now):  # noqa: ANN001, ANN201
        self.bans.extend((node, b.ip, b.reason, b.expires) for b in bans)
        return len(bans)

    def fleet_unban(self, node, ip, now):  # noqa: ANN001, ANN201
        self.unbans.append((node, ip))
        return True

    def fleet_events(self, events):  # noqa: ANN001, ANN201
        self.events.extend(events)

    def get_meta(self, key):  # noqa: ANN001, ANN201
        return self.meta.get(key)

    def set_meta(self, key, value):  # noqa: ANN001, ANN201
        self.meta[key] = value


async def until(cond, timeout: float = 3.0) -> float:  # noqa: ANN001
    """Seconds until cond() held; fails after `timeout`."""
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)
    return time.monotonic() - t0


async def linked(*nodes: Node, timeout: float = 3.0) -> None:
    """Start every node's link and wait until all are connected to Redis."""
    for n in nodes:
        await n.link.start()
    await until(lambda: all(n.link.connected for n in nodes), timeout)


@pytest.fixture
def redis(tmp_path):
    r = RedisServer(tmp_path / "redis").start()
    yield r
    r.stop()


def test_a_ban_reaches_the_other_node_at_once_and_never_comes_back(redis):
    async def go() -> None:
        a, b = Node("a", redis.url), Node("b", redis.url)
        await linked(a, b)
        now = time.time()
        a.link.share_ban("203.0.113.5", "bruteforce", "5 wrong passwords", now + 600, now)
        took = await until(lambda: b.bans)
        assert took < 1.0
        assert b.bans == [("a", "203.0.113.5", "bruteforce", pytest.approx(now + 600, abs=0.01))]
        a.link.share_unban("203.0.113.5", now)
        await until(lambda: b.unbans)
        assert b.unbans == [("a", "203.0.113.5")]
        await asyncio.sleep(0.2)
        assert a.bans == [] and a.unbans == []  # its own messages are not applied back
        assert a.link.counters.bans_shared == 2 and b.link.counters.bans_received == 2
        await a.link.stop()
        await b.link.stop()
    asyncio.run(go())


def test_events_are_counted_fleet_wide_but_never_echoed(redis):
    async def go() -> None:
        a, b = Node("a", redis.url), Node("b", redis.url)
        decided = {"198.51.100.9"}
        a.link.decided = decided.__contains__
        await linked(a, b)
        t = time.time() - 5  # a's clock: event time travels with the event
        evs = [Event(t, "203.0.113.60", Kind.AUTH_FAILED, transport="udp", account="1001", origin="messages"),
               Event(t + 1, "203.0.113.60", Kind.AUTH_FAILED, account="x" * 500, origin="messages"),
               Event(t, "198.51.100.9", Kind.AUTH_FAILED, origin="messages"),  # already decided on a
               Event(t, "203.0.113.61", Kind.REQUEST, origin="wire"),  # raw volume: not shipped
               Event(t, "203.0.113.62", Kind.AUTH_FAILED, origin="messages", file="fleet:c")]  # someone else's
        a.link.share_events(evs)
        await until(lambda: len(b.events) >= 2)
        await asyncio.sleep(0.2)
        assert [(e.ip, e.kind, e.time, e.file) for e in b.events] == [
            ("203.0.113.60", Kind.AUTH_FAILED, round(t, 3), "fleet:a"),
            ("203.0.113.60", Kind.AUTH_FAILED, round(t + 1, 3), "fleet:a")]
        assert b.events[0].account == "1001" and b.events[0].transport == "udp"
        assert len(b.events[1].account) == 128  # attacker text is cut
        assert a.events == []
        # what b receives it does not pass on (no echo between nodes either)
        b.link.share_events(b.events)
        await asyncio.sleep(0.2)
        assert a.events == []
        await a.link.stop()
        await b.link.stop()
    asyncio.run(go())


def test_a_restarted_node_replays_exactly_what_it_missed(redis):
    async def go() -> None:
        a, b = Node("a", redis.url), Node("b", redis.url)
        await linked(a, b)
        now = time.time()
        a.link.share_ban("203.0.113.1", "scanner", "", now + 600, now)
        await until(lambda: b.bans)
        await b.link.stop()  # saves its stream position in its store
        assert b.meta["fleet.bans_id"] != "0"
        for i in (2, 3, 4):
            a.link.share_ban(f"203.0.113.{i}", "bruteforce", "", now + 600, now)
        a.link.share_ban("203.0.113.9", "bruteforce", "", now - 1, now - 601)  # already over: not applied
        await until(lambda: a.link.counters.bans_shared == 5)
        b2 = Node("b", redis.url, meta=b.meta)
        await b2.link.start()
        await until(lambda: len(b2.bans) >= 3)
        await asyncio.sleep(0.2)
        assert [x[1] for x in b2.bans] == ["203.0.113.2", "203.0.113.3", "203.0.113.4"]
        assert b2.link.counters.refused_expired == 1
        # a brand-new node gets the fleet's bans still in force
        c = Node("c", redis.url)
        await c.link.start()
        await until(lambda: len(c.bans) >= 4)
        assert sorted(x[1] for x in c.bans) == [f"203.0.113.{i}" for i in (1, 2, 3, 4)]
        for n in (a, b2, c):
            await n.link.stop()
    asyncio.run(go())


def test_malformed_entries_written_with_redis_cli_are_counted_and_ignored(redis):
    async def go() -> None:
        b = Node("b", redis.url)
        await b.link.start()
        await until(lambda: b.link.connected)
        ok = '{"v":1,"kind":"ban","node":"a","ip":"203.0.113.7","reason":"flood","evidence":"","expires":null,"at":1}'
        junk = [("m", "not json"), ("x", ok), ("m", ok.replace("203.0.113.7", "203.0.113.7; rm -rf /")),
                ("m", ok.replace("flood", "pwned")), ("m", ok.replace('"v":1', '"v":9')),
                ("m", ok.replace('"node":"a"', '"node":"a b\\n"')), ("m", ok.replace("null", '"soon"')),
                ("m", ok.replace('"evidence":""', '"evidence":"' + "A" * 5000 + '"')),  # oversized
                ("m", "[1,2,3]"), ("m", ok.replace('"at":1', '"at":1e400'))]
        for f, v in junk:
            redis.cli("XADD", "sipwarden:bans", "*", f, v)
        redis.cli("XADD", "sipwarden:bans", "*", "m", ok)
        redis.cli("XADD", "sipwarden:events", "*", "m", '{"v":1,"node":"a","e":[[1,"not-an-ip","auth_failed"],'
                  '[1,"203.0.113.8","auth_failed"],[1,"203.0.113.8","tamper"],"x"]}')
        await until(lambda: b.bans and b.events)
        await asyncio.sleep(0.1)
        assert b.bans == [("a", "203.0.113.7", "flood", None)]
        assert [e.ip for e in b.events] == ["203.0.113.8"]
        assert b.link.counters.malformed == len(junk) + 3
        await b.link.stop()
    asyncio.run(go())


def test_per_minute_cap_accept_reasons_and_publish_only(redis):
    async def go() -> None:
        # the cap counts per minute of the node's clock: start that clock a second into a minute
        t0, m0 = (time.time() // 60) * 60 + 1, time.monotonic()
        a = Node("a", redis.url)
        capped = Node("b", redis.url, max_bans_per_minute=3, clock=lambda: t0 + time.monotonic() - m0)
        picky = Node("c", redis.url, accept_reasons=("tollfraud",))
        quiet = Node("d", redis.url, publish_only=True)
        nodes = (a, capped, picky, quiet)
        for n in nodes:
            await n.link.start()
        await until(lambda: all(n.link.connected for n in nodes))
        now = time.time()
        for i in range(5):
            a.link.share_ban(f"203.0.113.{i}", "bruteforce", "", now + 600, now)
        a.link.share_ban("203.0.113.99", "tollfraud", "", now + 600, now)
        a.link.share_ban("198.51.0.0/16", "distributed", "", now + 600, now)  # wider than anyone's /24
        await until(lambda: capped.link.counters.bans_received == 7 and picky.link.counters.bans_received == 7
                    and quiet.link.counters.bans_received == 7)
        assert capped.link.counters.refused_wide == 1 and picky.link.counters.refused_wide == 1
        assert [x[1] for x in capped.bans] == ["203.0.113.0", "203.0.113.1", "203.0.113.2"]
        assert capped.link.counters.capped == 3
        assert [x[1] for x in picky.bans] == ["203.0.113.99"] and picky.link.counters.refused_reason == 5
        assert quiet.bans == []
        quiet.link.share_ban("198.51.100.1", "scanner", "", now + 60, now)  # publish-only still publishes
        await until(lambda: any(x[1] == "198.51.100.1" for x in a.bans))
        for n in nodes:
            await n.link.stop()
    asyncio.run(go())


def test_outage_queues_shares_and_sends_them_when_redis_is_back(redis, caplog):
    async def go() -> None:
        a, b = Node("a", redis.url), Node("b", redis.url)
        await linked(a, b)
        redis.stop()
        await until(lambda: not a.link.connected and not b.link.connected, timeout=5)
        now = time.time()
        t0 = time.monotonic()
        for i in range(3):
            a.link.share_ban(f"203.0.113.{i}", "bruteforce", "", now + 600, now)  # returns at once
        assert time.monotonic() - t0 < 0.05
        assert a.link.status()["queued_bans"] == 3
        await asyncio.sleep(1.0)  # a few failed reconnects: still one log line
        redis.start()
        await until(lambda: len(b.bans) == 3, timeout=8)
        assert a.link.status()["queued_bans"] == 0
        await a.link.stop()
        await b.link.stop()
    with caplog.at_level(logging.INFO, logger="sipwarden.fleet"):
        asyncio.run(go())
    lost = [r for r in caplog.records if "lost Redis" in r.getMessage()]
    back = [r for r in caplog.records if "is back after" in r.getMessage()]
    assert len(lost) == 2 and len(back) == 2  # one each way, per node


def _pair_works(url: str, password: str | None = None, **kw) -> None:  # noqa: ANN003
    async def go() -> None:
        a, b = Node("a", url, password=password, **kw), Node("b", url, password=password, **kw)
        await linked(a, b, timeout=5)
        now = time.time()
        a.link.share_ban("203.0.113.5", "scanner", "", now + 60, now)
        await until(lambda: b.bans)
        await a.link.stop()
        await b.link.stop()
    asyncio.run(go())


def test_a_user_and_a_password_from_a_file(tmp_path):
    r = RedisServer(tmp_path / "redis", password="admin-pw").start()
    try:
        r.cli("ACL", "SETUSER", "fleet", "on", ">fleet-pw", "~sipwarden:*", "+@all")
        pw = tmp_path / "pw"
        pw.write_text("fleet-pw\n")
        url = f"redis://fleet@127.0.0.1:{r.port}/0"  # the nodes are "fleet", not the admin
        cfg = FleetConfig(redis=url, password_file=str(pw))
        _pair_works(url, read_password(cfg))

        async def wrong() -> None:
            n = Node("c", url, password="not-it")
            await n.link.start()
            await until(lambda: n.link.last_error is not None, timeout=5)
            assert not n.link.connected and "invalid username-password" in n.link.last_error
            await n.link.stop()
        asyncio.run(wrong())
    finally:
        r.stop()


def test_tls_with_a_private_ca(tmp_path):
    d = tmp_path / "tls"
    d.mkdir()
    def ssl(*args: str) -> None:  # noqa: E306
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
        "-subj", "/CN=sipwarden test CA")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.crt",
        "-days", "1", "-extfile", "ext")
    port = free_port()
    r = RedisServer(tmp_path / "redis", port=free_port(),
                    args=("--tls-port", str(port), "--tls-cert-file", str(d / "srv.crt"), "--tls-key-file",
                          str(d / "srv.key"), "--tls-ca-cert-file", str(d / "ca.crt"), "--tls-auth-clients", "no")).start()
    try:
        url = f"rediss://127.0.0.1:{port}/0"
        _pair_works(url, ca_file=str(d / "ca.crt"))

        async def untrusted() -> None:  # without our CA the server is not trusted: no connection
            n = Node("c", url)
            await n.link.start()
            await until(lambda: n.link.last_error is not None, timeout=5)
            assert not n.link.connected and "certificate" in n.link.last_error.lower()
            await n.link.stop()
        asyncio.run(untrusted())
    finally:
        r.stop()


def test_sentinel_names_the_master(tmp_path):
    r = RedisServer(tmp_path / "redis").start()
    sport = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {sport}\nbind 127.0.0.1\nsentinel monitor fleetmaster 127.0.0.1 {r.port} 1\n")
    log = open(tmp_path / "sentinel.log", "w")  # noqa: SIM115
    sentinel = subprocess.Popen(["redis-server", str(conf), "--sentinel"], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            p = subprocess.run(["redis-cli", "-p", str(sport), "SENTINEL", "get-master-addr-by-name", "fleetmaster"],
                               capture_output=True, text=True)
            if str(r.port) in p.stdout:
                break
            time.sleep(0.1)
        _pair_works("redis:///0", sentinels=(f"127.0.0.1:{sport}",), sentinel_service="fleetmaster")
        assert r.cli("XLEN", "sipwarden:bans").stdout.strip() == "1"  # it went to the master
    finally:
        sentinel.kill()
        sentinel.wait()
        r.stop()


def test_redis_down_at_start_is_one_line_and_the_node_joins_when_it_comes(tmp_path, caplog):
    port = free_port()
    r = RedisServer(tmp_path / "redis", port=port)

    async def go() -> None:
        n = Node("a", r.url)
        await n.link.start()
        await until(lambda: n.link.last_error is not None, timeout=5)
        now = time.time()
        n.link.share_ban("203.0.113.5", "scanner", "", now + 60, now)  # queued
        await asyncio.sleep(1.0)
        r.start()
        await until(lambda: n.link.connected, timeout=10)
        await until(lambda: n.link.counters.bans_shared == 1, timeout=5)
        await n.link.stop()
    try:
        with caplog.at_level(logging.INFO, logger="sipwarden.fleet"):
            asyncio.run(go())
        msgs = [rec.getMessage() for rec in caplog.records]
        assert sum("cannot reach Redis" in x for x in msgs) == 1 and sum("is back after" in x for x in msgs) == 1
        assert r.cli("XLEN", "sipwarden:bans").stdout.strip() == "1"
    finally:
        r.stop()


def test_a_node_away_longer_than_the_stream_holds_says_so(redis, caplog):
    async def go() -> None:
        a, b = Node("a", redis.url, stream_maxlen=100), Node("b", redis.url, stream_maxlen=100)
        await linked(a, b)
        now = time.time()
        a.link.share_ban("203.0.113.1", "scanner", "", now + 600, now)
        await until(lambda: b.bans)
        await b.link.stop()
        for i in range(1000):  # far more than the stream keeps
            a.link.share_ban(f"198.18.{i >> 8}.{i & 255}", "scanner", "", now + 600, now)
        await until(lambda: a.link.counters.bans_shared == 1001)
        b2 = Node("b", redis.url, meta=b.meta, stream_maxlen=100)
        await b2.link.start()
        await until(lambda: b2.link.connected and b2.bans)
        assert b2.link.counters.trimmed_gaps == 1
        assert 100 <= len(b2.bans) < 1000  # what is left of the stream, not all
        await a.link.stop()
        await b2.link.stop()
    with caplog.at_level(logging.INFO, logger="sipwarden.fleet"):
        asyncio.run(go())
    assert sum("were trimmed before this node read them" in r.getMessage() for r in caplog.records) == 1


def test_a_hung_redis_never_stalls_the_event_loop(redis):
    """Redis stopped (SIGSTOP: connections stay open, nothing answers): the loop keeps its pace while
    the link waits, and what was shared meanwhile arrives once Redis answers again."""
    import os
    import signal as sig

    async def go() -> None:
        a, b = Node("a", redis.url), Node("b", redis.url)
        await linked(a, b)
        gaps: list[float] = []

        async def ticker() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now
        tick = asyncio.create_task(ticker())
        assert redis.proc is not None
        os.kill(redis.proc.pid, sig.SIGSTOP)
        try:
            now = time.time()
            for i in range(3):
                a.link.share_ban(f"203.0.113.{i}", "bruteforce", "", now + 600, now)
            await asyncio.sleep(2.0)
            assert b.bans == []
        finally:
            os.kill(redis.proc.pid, sig.SIGCONT)
        await until(lambda: len(b.bans) == 3, timeout=15)
        tick.cancel()
        assert max(gaps) < 0.2, f"the loop stalled for {max(gaps):.3f} s"
        await a.link.stop()
        await b.link.stop()
    asyncio.run(go())
