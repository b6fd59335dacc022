"""Detector trust (issue 8, classes 8-11): ordinary set-ups never banned, memory bounds that keep the
evidence, a cracked account raised as `compromise`, and what the operator declares."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import parse_lines
from sipwarden.config import ConfigError, DetectConfig, from_dict
from sipwarden.detect import distributed as distributed_mod
from sipwarden.detect import wire as wire_mod
from sipwarden.detect.engine import Engine
from sipwarden.events import Event, Kind, Reason

OFFICE = "198.51.100.20"
TRUNK = "198.51.100.30"
GUESSER = "203.0.113.50"


def _reg(t: int, ip: str, acct: str, reason: str = "Wrong password") -> str:
    return (f"[Nov 24 10:{t // 60:02d}:{t % 60:02d}] NOTICE[1] chan_sip.c: Registration from '<sip:{acct}@pbx>' "
            f"failed for '{ip}:5060' - {reason}")


def _ok(t: int, ip: str, acct: str) -> str:
    return (f'[Nov 24 10:{t // 60:02d}:{t % 60:02d}] SECURITY[1] res_security_log.c: SecurityEvent="SuccessfulAuth",'
            f'EventTV="2026-11-24T10:{t // 60:02d}:{t % 60:02d}.000+0000",Severity="Informational",Service="SIP",'
            f'EventVersion="1",AccountID="{acct}",SessionID="0x1",LocalAddress="IPV4/UDP/10.0.0.1/5060",'
            f'RemoteAddress="IPV4/UDP/{ip}/5060",UsingPassword="1"')


def verdicts(lines: list[str], cfg: DetectConfig | None = None) -> list:
    evs = sorted(parse_lines(lines), key=lambda e: e.time or 0)
    eng = Engine(cfg or DetectConfig())
    eng.feed_many(evs)
    return eng.report()


# --- class 8: legitimate set-ups ---------------------------------------------------------------

def test_class8_nat_office_after_a_password_change_is_not_banned():
    lines = [_ok(0, OFFICE, "2001"), _ok(1, OFFICE, "2002")]
    t = 10
    for phone in range(101, 109):  # eight phones, each fails once and logs in soon after
        lines.append(_reg(t, OFFICE, str(phone)))
        lines.append(_ok(t + 20, OFFICE, str(phone)))
        t += 3
    assert verdicts(lines) == []


def test_class8_nat_office_failing_before_any_login_is_not_banned():
    lines = [_reg(10 + i, OFFICE, str(100 + i)) for i in range(4)]
    lines += [_ok(20 + i, OFFICE, str(100 + i)) for i in range(4)]
    lines += [_reg(30 + i, OFFICE, str(200 + i)) for i in range(4)]
    lines += [_ok(40 + i, OFFICE, str(200 + i)) for i in range(4)]
    assert verdicts(lines) == []


def test_class8_but_a_guesser_is_still_banned():
    assert [v.ip for v in verdicts([_reg(i, GUESSER, "2000") for i in range(5)])] == [GUESSER]


@pytest.mark.parametrize("shape", [
    "[Nov 24 10:00:{s:02d}] NOTICE[1] chan_sip.c: Call from 'provider' ({ip}:5060) to extension '{n}' rejected "
    "because extension not found in context 'from-trunk'.",
    "[Nov 24 10:00:{s:02d}] NOTICE[1] res_pjsip_session.c: provider: Call (UDP:{ip}:5060) to extension '{n}' "
    "rejected because extension not found in context 'from-trunk'.",
    "[Nov 24 10:00:{s:02d}] NOTICE[1] res_pjsip_session.c:2337 new_invite: Call from 'provider' (UDP:{ip}:5060) to "
    "extension '{n}' rejected because extension not found in context 'from-trunk'.",
])
def test_class8_provider_trunk_to_unassigned_dids_is_not_toll_fraud(shape):
    lines = []
    for s, n in enumerate(["+493012345678", "004930123456", "4930999999", "+14155550100", "0049301", "99"] * 3):
        lines.append(shape.format(s=s, ip=TRUNK, n=n))
        lines.append(f'[Nov 24 10:00:{s:02d}] SECURITY[1] res_security_log.c: SecurityEvent="FailedACL",EventTV='
                     f'"2026-11-24T10:00:{s:02d}.000+0000",Severity="Error",Service="SIP",EventVersion="1",'
                     f'AccountID="{n}",SessionID="0x2",LocalAddress="IPV4/UDP/10.0.0.1/5060",'
                     f'RemoteAddress="IPV4/UDP/{TRUNK}/5060",ACLName="no_extension_match"')
    assert verdicts(lines) == []


def test_class8_anonymous_caller_to_international_numbers_is_toll_fraud():
    lines = [f"[Nov 24 10:00:0{s}] NOTICE[1] chan_sip.c: Call from '' ({GUESSER}:5060) to extension "
             f"'00972599580679' rejected because extension not found in context 'default'." for s in range(2)]
    assert [(v.ip, v.reason) for v in verdicts(lines)] == [(GUESSER, Reason.TOLLFRAUD)]


def test_class8_freeswitch_challenges_without_visible_successes_ban_nobody():
    lines = [f"2026-11-24 10:00:{s % 60:02d}.000000 [WARNING] sofia_reg.c:1842 SIP auth challenge (REGISTER) on sofia "
             f"profile 'internal' for [10{s % 9}@pbx] from ip {OFFICE}" for s in range(120)]
    assert verdicts(lines) == []


def test_class8_asterisk_challenge_flood_is_still_seen():
    lines = [f'[Nov 24 10:00:{s:02d}] SECURITY[1] res_security_log.c: SecurityEvent="ChallengeSent",EventTV='
             f'"2026-11-24T10:00:{s:02d}.000+0000",Severity="Informational",Service="SIP",EventVersion="1",'
             f'AccountID="100",SessionID="0x2",LocalAddress="IPV4/UDP/10.0.0.1/5060",'
             f'RemoteAddress="IPV4/UDP/{GUESSER}/5060",Challenge="{s:08x}"' for s in range(40)]
    assert [(v.ip, v.reason) for v in verdicts(lines)] == [(GUESSER, Reason.FLOOD)]


# --- class 9: bounds ---------------------------------------------------------------------------

def _ev(t: float, ip: str, kind: Kind = Kind.AUTH_FAILED, **kw) -> Event:
    return Event(t, ip, kind, origin=kw.pop("origin", "messages"), **kw)


def test_class9_spoofed_flood_past_max_tracked_keeps_the_slow_guesser():
    cfg = DetectConfig(max_tracked=2000)
    eng = Engine(cfg)
    found = []
    for i in range(5):  # one wrong password every 100 s, between waves of one-packet spoofed sources
        found += eng.feed(_ev(i * 100.0, GUESSER, account="2000"))
        for j in range(30_000):
            found += eng.feed(_ev(i * 100.0 + j / 1000, f"2001:db8:{i:x}:{j // 65536:x}::{j % 65536:x}",
                                  Kind.CHALLENGE_SENT, transport="udp", origin="security"))
        assert len(eng.sources) <= cfg.max_tracked + 1
    assert [v.ip for v in found] == [GUESSER]


def test_class9_engine_drives_past_every_bound_and_never_raises(monkeypatch):
    monkeypatch.setattr(wire_mod, "MAX_NETS", 50)
    monkeypatch.setattr(wire_mod, "MAX_PENDING", 50)
    monkeypatch.setattr(distributed_mod, "MAX_KEYS", 50)
    cfg = DetectConfig(max_tracked=100)
    eng = Engine(cfg)
    t = 0.0
    for i in range(3000):  # distinct /24s on the wire, digest answers pending, accounts, networks
        t += 0.001
        ip = f"10.{i // 256 % 256}.{i % 256}.1"
        eng.feed(Event(t, ip, Kind.REQUEST, method="REGISTER", account=f"a{i}", detail="digest", origin="wire"))
        eng.feed(Event(t, ip, Kind.REQUEST, method="INVITE", account=f"b{i}", target="0044123456789", origin="wire"))
        eng.feed(_ev(t, ip, account=f"c{i}"))
        eng.feed(_ev(t, f"10.200.{i % 256}.{i // 256 % 250 + 1}", Kind.UNKNOWN_ACCOUNT, account=f"d{i}"))
        eng.feed(_ev(t, ip, Kind.AUTH_OK, account=f"c{i}"))
    assert eng.errors == 0
    d = eng.detectors
    assert len(d["wire_net"].nets) <= 50 and len(d["rechallenged"].pending) <= 50
    assert len(d["distributed_account"].by_account) <= 50 and len(d["distributed_net"].by_net) <= 50
    assert len(eng.sources) <= cfg.max_tracked + 1


def test_class9_a_bug_costs_one_event_never_an_exception(monkeypatch):
    eng = Engine(DetectConfig())

    def boom(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("bug")

    monkeypatch.setattr(eng, "_detect", boom)
    assert eng.feed(_ev(1.0, GUESSER)) == []
    assert eng.errors == 1


# --- class 10: compromise ----------------------------------------------------------------------

def test_class10_login_after_many_failures_is_compromise_ranked_first():
    lines = [_reg(i, "203.0.113.60", str(i), "No matching peer found") for i in range(6)]  # an enumerator first
    lines += [_reg(10 + i, GUESSER, "2000") for i in range(67)]
    lines += [_ok(90, GUESSER, "2000")]
    vs = verdicts(lines)
    assert [(v.ip, v.reason) for v in vs] == [(GUESSER, Reason.COMPROMISE), ("203.0.113.60", Reason.ENUMERATION)]
    v = vs[0]
    assert v.accounts[0] == "2000" and v.counts["failures_before"] == 67
    assert "first success 2026-11-24T10:01:30" in v.evidence


def test_class10_typo_then_login_is_not_compromise():
    assert verdicts([_reg(0, OFFICE, "2000"), _reg(5, OFFICE, "2000"), _ok(9, OFFICE, "2000")]) == []


def test_class10_compromise_survives_the_sweep_with_its_evidence():
    eng = Engine(DetectConfig(max_tracked=10))
    for i in range(6):
        eng.feed(_ev(float(i), GUESSER, account="2000"))
    out = eng.feed(_ev(7.0, GUESSER, Kind.AUTH_OK, account="2000"))
    assert [v.reason for v in out] == [Reason.COMPROMISE]
    for i in range(50):  # a flood past max_tracked, then an hour later: the guesser is swept as idle
        eng.feed(_ev(8.0 + i, f"192.0.2.{i + 1}", Kind.CHALLENGE_SENT))
    assert GUESSER in eng.sources  # decided sources are the last to be evicted
    eng.feed(_ev(10_000.0, "192.0.2.200", Kind.CHALLENGE_SENT))
    eng._sweep()
    assert GUESSER not in eng.sources
    kept = {v.ip: v for v in eng.report()}[GUESSER]
    assert kept.reason is Reason.COMPROMISE and kept.counts["failures_before"] == 6


# --- class 11: what the operator knows ---------------------------------------------------------

def test_class11_registrations_from_and_canaries():
    cfg = DetectConfig(registrations_from=("198.51.100.0/24",), canary_accounts=("admin", "1000"))
    lines = [_reg(0, "192.0.2.9", "2000"), _reg(1, OFFICE, "admin"), _reg(2, OFFICE, "2001"),
             "[Nov 24 10:00:03] NOTICE[1] chan_sip.c: Call from '' (192.0.2.10:5060) to extension '1000' "
             "rejected because extension not found in context 'default'."]
    got = [(v.ip, v.reason) for v in verdicts(lines, cfg)]
    assert got == [("192.0.2.9", Reason.OUTSIDER), (OFFICE, Reason.CANARY), ("192.0.2.10", Reason.CANARY)]


def test_class11_off_by_default_and_whitelist_wins():
    assert verdicts([_reg(0, "192.0.2.9", "admin")]) == []
    cfg = DetectConfig(registrations_from=("198.51.100.0/24",), canary_accounts=("admin",))
    from sipwarden.addr import AddressSet
    eng = Engine(cfg, AddressSet(["192.0.2.9"]))
    eng.feed_many(parse_lines([_reg(0, "192.0.2.9", "admin")]))
    assert eng.report() == []


def test_class11_config_checks():
    cfg = from_dict({"detect": {"registrations_from": ["10.0.0.0/8"], "canary_accounts": ["admin"]}})
    assert cfg.detect.canary_accounts == ("admin",)
    with pytest.raises(ConfigError, match="registrations_from"):
        from_dict({"detect": {"registrations_from": ["not-a-net"]}})
    assert dataclasses.asdict(DetectConfig())["registrations_from"] == ()
