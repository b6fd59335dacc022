"""Ban policy (pure): whitelist first, then already-banned, then the escalation ladder."""

from __future__ import annotations

import pytest

from sipwarden.addr import AddressSet
from sipwarden.config import BanConfig
from sipwarden.events import Reason, Verdict
from sipwarden.policy import Policy
from sipwarden.sources import hostaddrs

T0 = 1_767_225_600.0


def verdict(ip: str, reason: Reason = Reason.BRUTEFORCE) -> Verdict:
    return Verdict(ip=ip, reason=reason, at=T0, events=6)


@pytest.fixture
def policy() -> Policy:
    wl = AddressSet(["192.0.2.10", "10.0.0.0/8", "2001:db8:1::/48", "127.0.0.1", "::1"])
    return Policy(BanConfig(bantime=600, increment=2, maxtime=86400), wl)


# -- decide -------------------------------------------------------------------------------------

def test_first_ban(policy: Policy) -> None:
    v = verdict("203.0.113.5")
    d = policy.decide(v, offences=0, already_banned=False)
    assert (d.verdict, d.ban, d.duration, d.why) == (v, True, 600, "first ban")


@pytest.mark.parametrize(("offences", "duration", "why"), [
    (1, 1200, "repeat offender (2nd ban)"),
    (2, 2400, "repeat offender (3rd ban)"),
    (3, 4800, "repeat offender (4th ban)"),
    (7, 76800, "repeat offender (8th ban)"),
    (8, 86400, "repeat offender (9th ban), capped at 1d"),  # 153600 > maxtime
    (10, 86400, "repeat offender (11th ban), capped at 1d"),
    (21, 86400, "repeat offender (22nd ban), capped at 1d"),
    (5000, 86400, "repeat offender (5001st ban), capped at 1d"),  # 2.0 ** 5000 overflows a float
])
def test_escalation_ladder_and_cap(policy: Policy, offences: int, duration: float, why: str) -> None:
    d = policy.decide(verdict("203.0.113.5"), offences=offences, already_banned=False)
    assert d.ban and d.duration == duration and d.why == why


def test_ladder_without_increment_is_flat() -> None:
    p = Policy(BanConfig(bantime=300, increment=1, maxtime=3600), AddressSet())
    assert [p.duration(n) for n in range(4)] == [300, 300, 300, 300]


@pytest.mark.parametrize("ip", ["192.0.2.10", "10.20.30.40", "2001:db8:1:2::7", "127.0.0.1", "::1"])
def test_whitelisted_addresses_never_banned(policy: Policy, ip: str) -> None:
    d = policy.decide(verdict(ip, Reason.SCANNER), offences=5, already_banned=False)
    assert (d.ban, d.duration, d.why) == (False, None, "whitelisted")


@pytest.mark.parametrize("prefix", [
    "192.0.2.0/24",  # contains the whitelisted 192.0.2.10
    "10.1.0.0/16",  # inside 10/8
    "8.0.0.0/6",  # contains 10/8
    "2001:db8::/32",  # contains 2001:db8:1::/48
])
def test_prefix_verdict_overlapping_whitelist_is_not_banned(policy: Policy, prefix: str) -> None:
    d = policy.decide(verdict(prefix, Reason.DISTRIBUTED), offences=0, already_banned=False)
    assert not d.ban and d.why == "whitelisted"


def test_prefix_verdict_clear_of_whitelist_is_banned(policy: Policy) -> None:
    d = policy.decide(verdict("198.51.100.0/24", Reason.DISTRIBUTED), offences=0, already_banned=False)
    assert d.ban and d.duration == 600


def test_whitelist_wins_over_already_banned(policy: Policy) -> None:
    assert policy.decide(verdict("10.0.0.1"), 0, already_banned=True).why == "whitelisted"


def test_already_banned(policy: Policy) -> None:
    d = policy.decide(verdict("203.0.113.5"), offences=3, already_banned=True)
    assert (d.ban, d.duration, d.why) == (False, None, "already banned")


def test_garbage_verdict_address_is_refused(policy: Policy) -> None:
    d = policy.decide(verdict("not-an-ip"), offences=0, already_banned=False)
    assert not d.ban and "not an address" in d.why


def test_v4_mapped_v6_is_the_v4_address(policy: Policy) -> None:
    assert policy.decide(verdict("::ffff:192.0.2.10"), 0, False).why == "whitelisted"


# -- manual -------------------------------------------------------------------------------------

def test_manual_permanent(policy: Policy) -> None:
    d = policy.manual("203.0.113.5", None, "called our support line 40 times", at=T0)
    assert d.ban and d.duration is None and d.why == "permanent manual ban"
    assert d.verdict.ip == "203.0.113.5" and d.verdict.reason is Reason.MANUAL
    assert d.verdict.evidence == "called our support line 40 times" and d.verdict.at == T0


def test_manual_timed_and_not_capped(policy: Policy) -> None:
    d = policy.manual("2001:DB8:FFFF::0005", 30 * 86400, "abuse report")
    assert d.ban and d.duration == 30 * 86400 and d.why == "manual ban"  # operator's choice beats maxtime
    assert d.verdict.ip == "2001:db8:ffff::5"  # canonical form, one key per host


def test_manual_network(policy: Policy) -> None:
    assert policy.manual("198.51.100.7/24", 3600, "range").verdict.ip == "198.51.100.0/24"
    assert policy.manual("198.51.100.7/32", 3600, "host").verdict.ip == "198.51.100.7"
    with pytest.raises(ValueError, match="wider than /8"):
        policy.manual("0.0.0.0/0", None, "oops")
    assert policy.manual("64.0.0.0/2", None, "really", force=True).ban


@pytest.mark.parametrize("bad", ["", "999.1.1.1", "example.com", "1.2.3.4:5060", "10.0.0.0/33", "fe80::1%eth0x/"])
def test_manual_invalid_address(policy: Policy, bad: str) -> None:
    with pytest.raises(ValueError, match="not an IP address or network"):
        policy.manual(bad, 60, "x")


@pytest.mark.parametrize("duration", [0, -5, float("nan")])
def test_manual_invalid_duration(policy: Policy, duration: float) -> None:
    with pytest.raises(ValueError, match="positive number of seconds"):
        policy.manual("203.0.113.5", duration, "x")


@pytest.mark.parametrize("ip", ["10.9.9.9", "192.0.2.10", "192.0.2.0/28", "::1"])
def test_manual_whitelisted_needs_force(policy: Policy, ip: str) -> None:
    with pytest.raises(ValueError, match="whitelisted.*force"):
        policy.manual(ip, 60, "x")
    d = policy.manual(ip, 60, "x", force=True)
    assert d.ban and d.why == "manual ban (whitelist overridden)"


# -- host addresses -----------------------------------------------------------------------------

def test_host_addresses_include_loopback() -> None:
    got = hostaddrs.host_addresses()
    assert "127.0.0.1" in got and "::1" in got
    assert len(got) == len(set(got))
    AddressSet(got)  # every entry is a valid whitelist entry


def test_parse_ip_json() -> None:
    text = """[{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8},
    {"family":"inet6","local":"::1","prefixlen":128}]},
    {"ifindex":2,"ifname":"eth0","addr_info":[{"family":"inet","local":"192.0.2.2","prefixlen":24},
    {"family":"inet6","local":"2001:DB8::0002","prefixlen":64}]},
    {"ifindex":3,"ifname":"down0","addr_info":[]}, {"ifindex":4,"ifname":"odd"}]"""
    assert hostaddrs.parse_ip_json(text) == ["127.0.0.1", "::1", "192.0.2.2", "2001:db8::2"]
    assert hostaddrs.parse_ip_json("") == []


def test_parse_if_inet6() -> None:
    text = ("fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n"
            "fd000000000000000000000000000002 04 40 00 82     eth0\n"
            "00000000000000000000000000000001 01 80 10 80       lo\n"
            "garbage\n\n")
    assert hostaddrs.parse_if_inet6(text) == ["fe80::fc:ff:fe00:1", "fd00::2", "::1"]


def test_kernel_fallback_agrees_on_loopback() -> None:
    assert "127.0.0.1" in hostaddrs._from_kernel()
