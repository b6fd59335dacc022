"""The fleet's pure parts: the message format (what is refused), the settings (clear errors, no
password on the command line), and what a node's policy makes of another node's ban."""

from __future__ import annotations

import json

import pytest

from sipwarden.addr import AddressSet
from sipwarden.config import BanConfig, ConfigError, FleetConfig, from_dict
from sipwarden.config.fleet import check_fleet, read_password, redis_target
from sipwarden.daemon.fleet import verdict_of
from sipwarden.events import Event, Kind
from sipwarden.fleet import messages as m
from sipwarden.policy import Policy


def test_ban_round_trip_and_canonical_addresses():
    msg = m.BanMessage("ban", "pbx-1", "203.0.113.5", 100.0, "bruteforce", "5 wrong\npasswords", 700.0, False)
    back = m.decode_ban(m.encode_ban(msg))
    assert back == m.BanMessage("ban", "pbx-1", "203.0.113.5", 100.0, "bruteforce", "5 wrong passwords", 700.0, False)
    raw = json.loads(m.encode_ban(msg))
    raw["ip"] = "::ffff:203.0.113.5"
    assert m.decode_ban(json.dumps(raw)).ip == "203.0.113.5"
    raw["ip"] = "2001:db8::1/128"
    assert m.decode_ban(json.dumps(raw)).ip == "2001:db8::1"
    raw["ip"] = "198.51.100.7/24"
    assert m.decode_ban(json.dumps(raw)).ip == "198.51.100.0/24"
    un = m.decode_ban(m.encode_ban(m.BanMessage("unban", "pbx-1", "203.0.113.5", 5.0)))
    assert (un.kind, un.ip) == ("unban", "203.0.113.5")


@pytest.mark.parametrize("change, why", [
    ({"ip": "203.0.113.5 ; drop table"}, "ip"), ({"ip": 5}, "ip"), ({"reason": "evil"}, "reason"),
    ({"kind": "wipe"}, "kind"), ({"v": 2}, "version"), ({"node": ""}, "node"), ({"node": "a/b"}, "node"),
    ({"at": float("nan")}, "at"), ({"at": True}, "at"), ({"expires": "later"}, "expires"),
    ({"proven": "yes"}, "proven"), ({"ip": "0.0.0.0/0"}, "wider"), ({"ip": "2000::/3"}, "wider"), ({"evidence": ["x"]}, "evidence"), ({"evidence": "A" * 5000}, "oversized")])
def test_malformed_bans_are_refused_with_a_reason(change, why):
    d = {"v": 1, "kind": "ban", "node": "a", "ip": "203.0.113.5", "reason": "flood", "evidence": "", "expires": None,
         "at": 1.0}
    d.update(change)
    with pytest.raises(m.Malformed, match=why):
        m.decode_ban(json.dumps(d))


def test_event_rows_round_trip_and_bad_rows_are_skipped():
    ev = Event(123.4567, "2001:db8::5", Kind.UNKNOWN_ACCOUNT, transport="tcp", account="100", target="0049",
               origin="security")
    raw = m.encode_events("n1", [m.event_row(ev), [1, "203.0.113.1", "request"], [1, "x", "auth_failed"], 7])
    node, events, bad = m.decode_events(raw, "fleet:n1")
    assert node == "n1" and bad == 3
    assert events == [Event(123.457, "2001:db8::5", Kind.UNKNOWN_ACCOUNT, transport="tcp", account="100",
                            target="0049", origin="security", file="fleet:n1")]
    with pytest.raises(m.Malformed, match="500"):
        m.decode_events(m.encode_events("n1", [[1, "203.0.113.1", "auth_failed"]] * 501), "x")


def test_settings_errors_are_one_clear_line(tmp_path):
    ok = FleetConfig(redis="rediss://sw@redis.example:6380/2", node="pbx1")
    t = redis_target(ok)
    assert (t.tls, t.host, t.port, t.db, t.username) == (True, "redis.example", 6380, 2, "sw")
    for bad, msg in [("redis://:secret@h:6379/0", "password_file"), ("http://h/0", "redis://"),
                     ("redis://h:6379/x", "number"), ("redis://h:99999/0", "not a Redis URL")]:
        with pytest.raises(ConfigError, match=msg):
            check_fleet(FleetConfig(redis=bad, node="n"))
    with pytest.raises(ConfigError, match="fleet.node"):
        check_fleet(FleetConfig(redis="redis://h/0", node="bad name"))
    with pytest.raises(ConfigError, match="accept_reasons"):
        from_dict({"fleet": {"redis": "redis://h/0", "accept_reasons": ["bruteforce", "nope"]}})
    sent = redis_target(FleetConfig(redis="redis:///1", sentinels=("10.0.0.1:26379", "[2001:db8::1]")))
    assert sent.sentinels == (("10.0.0.1", 26379), ("2001:db8::1", 26379)) and sent.db == 1
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    assert read_password(FleetConfig(redis="redis://h/0", password_file=str(pw))) == "s3cret"
    with pytest.raises(ConfigError, match="cannot read"):
        read_password(FleetConfig(redis="redis://h/0", password_file=str(tmp_path / "missing")))


def test_another_nodes_ban_goes_through_this_nodes_policy():
    pol = Policy(BanConfig(bantime=600), AddressSet(["198.51.100.0/24"]))
    msg = m.BanMessage("ban", "a", "203.0.113.5", 1000.0, "bruteforce", "x", 1000.0 + 7 * 86400)
    d = pol.decide(verdict_of(msg, "a"), 0, False)
    assert d.ban and d.duration == 600  # our ladder, not the sender's week
    assert d.verdict.origins == ("fleet:a",) and d.verdict.evidence == "fleet ban from a: x"
    assert pol.decide(verdict_of(msg, "a"), 0, True).why == "already banned"
    wl = m.BanMessage("ban", "a", "198.51.100.7", 1000.0, "bruteforce", "x", None)
    d = pol.decide(verdict_of(wl, "a"), 0, False)
    assert not d.ban and d.why == "whitelisted"
    net = m.BanMessage("ban", "a", "198.51.0.0/16", 1000.0, "distributed", "x", None)
    assert pol.decide(verdict_of(net, "a"), 0, False).why == "whitelisted"  # overlaps the whitelist
    unproven = m.BanMessage("ban", "a", "203.0.113.6", 1000.0, "flood", "x", None, proven=False)
    assert pol.decide(verdict_of(unproven, "a"), 0, False).duration == 150


def test_the_outage_queue_is_bounded_and_loses_nothing_it_can_keep():
    from sipwarden.fleet.link import _Queue
    q = _Queue(3)
    for i in range(5):
        q.put(i)
    assert list(q.items) == [2, 3, 4] and q.dropped == 2  # the oldest go first, counted
    batch = q.take(2)
    assert batch == [2, 3] and list(q.items) == [4]
    q.put(5)
    q.give_back(batch)  # a failed send puts the batch back in front, within the bound
    assert list(q.items) == [3, 4, 5] and q.dropped == 3


def test_only_this_nodes_own_decisions_are_published():
    from sipwarden.daemon.bans import BanChange
    from sipwarden.daemon.fleet import publisher

    class Link:
        def __init__(self) -> None:
            self.sent: list[tuple] = []

        def share_ban(self, ip, reason, evidence, expires, at, proven):  # noqa: ANN001, ANN201
            self.sent.append(("ban", ip, reason, evidence, proven))

        def share_unban(self, ip, at):  # noqa: ANN001, ANN201
            self.sent.append(("unban", ip))

    link = Link()
    on = publisher(link)  # type: ignore[arg-type]
    on(BanChange("ban", "203.0.113.1", "bruteforce", 700.0, 100.0, "local", {"evidence": "5 wrong", "proven": False}))
    on(BanChange("ban", "203.0.113.2", "scanner", 700.0, 100.0, "fleet:other", {"evidence": "x"}))  # not echoed
    on(BanChange("ban", "203.0.113.3", "manual", None, 100.0, "operator", {"evidence": "by hand"}, manual=True))
    on(BanChange("unban", "203.0.113.1", "bruteforce", 700.0, 200.0, "operator"))
    on(BanChange("unban", "203.0.113.4", "bruteforce", 700.0, 200.0, "expired"))  # expiry is local
    on(BanChange("unban", "203.0.113.5", "bruteforce", 700.0, 200.0, "whitelist (reload)"))  # so is a whitelist
    on(BanChange("unban", "203.0.113.6", "bruteforce", 700.0, 200.0, "fleet:other"))  # not echoed
    on(BanChange("unban", "203.0.113.7", "bruteforce", 700.0, 200.0, "api"))
    assert link.sent == [("ban", "203.0.113.1", "bruteforce", "5 wrong", False),
                         ("ban", "203.0.113.3", "manual", "by hand", True),
                         ("unban", "203.0.113.1"), ("unban", "203.0.113.7")]


def test_fleet_events_count_in_event_time_whatever_the_clocks():
    """Node b's clock is 4 s ahead and its events arrive late and out of order: the window is event
    time, so 2 local + 3 remote failures within findtime are 5, and 5 is a ban."""
    from sipwarden.config import DetectConfig
    from sipwarden.detect.engine import Engine

    eng = Engine(DetectConfig(bruteforce_maxretry=5, findtime=600))
    ip = "203.0.113.9"
    local = [Event(1000.0, ip, Kind.AUTH_FAILED, account="100", origin="messages"),
             Event(1001.0, ip, Kind.AUTH_FAILED, account="101", origin="messages")]
    raw = m.encode_events("b", [m.event_row(Event(t, ip, Kind.AUTH_FAILED, account=f"2{i}", origin="messages"))
                                for i, t in enumerate((1006.0, 1004.0, 1005.0))])
    _, remote, bad = m.decode_events(raw, "fleet:b")
    assert bad == 0
    verdicts = eng.feed_many(remote) + eng.feed_many(local)  # the remote batch first: ahead of local time
    assert [v.ip for v in verdicts] == [ip] and verdicts[0].reason == "bruteforce"
    late = Engine(DetectConfig(bruteforce_maxretry=5, findtime=600))
    old = [Event(300.0, ip, Kind.AUTH_FAILED, account="x", origin="messages")] * 3  # 700 s before: out of window
    assert late.feed_many(old + local) == []
