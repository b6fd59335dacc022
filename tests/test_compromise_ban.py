"""Class 10 (issue 8): a cracked account flows through the one ban path: the engine's `compromise`
verdict is banned even when its source is banned already, kept in the store with its evidence (what
`sipwarden bans` shows), and logged first in rank (ERROR, its own line even in a flood)."""

from __future__ import annotations

import logging
import time

from sipwarden.config import BanConfig, Config, WhitelistConfig
from sipwarden.daemon.banlog import BanLog
from sipwarden.daemon.errors import StageErrors
from sipwarden.daemon.service import ban_service
from sipwarden.detect.engine import Engine
from sipwarden.events import Event, Kind
from sipwarden.store.sqlite import Store

T0 = float(int(time.time()))
IP = "203.0.113.66"


def test_compromise_is_banned_stored_and_logged_first(tmp_path, caplog):
    cfg = Config(ban=BanConfig(backend="dry-run", maxtime=86400.0),
                 whitelist=WhitelistConfig(host_addresses=False))
    store = Store(tmp_path / "sw.db")
    s = ban_service(cfg, store, StageErrors(), threaded=False, clock=lambda: T0)
    s.kernel.setup()
    s.listeners.append(BanLog(per_second=0))  # a flood: every ordinary ban is summed up, not a compromise
    eng = Engine(cfg.detect)
    try:
        with caplog.at_level(logging.WARNING, logger="sipwarden"):
            for i in range(67):
                s.apply(eng.feed(Event(T0 + i, IP, Kind.AUTH_FAILED, account="2000", origin="messages")), T0 + i)
            assert [b.reason for b in store.active_bans(T0 + 70)] == ["bruteforce"]
            s.apply(eng.feed(Event(T0 + 70, IP, Kind.AUTH_OK, account="2000", origin="security")), T0 + 70)
        active = store.active_bans(T0 + 71)
        assert [(b.ip, b.reason) for b in active] == [(IP, "compromise")]
        ev = active[0].evidence
        assert ev["accounts"][0] == "2000" and ev["counts"]["failures_before"] == 67
        assert "first success" in ev["evidence"] and active[0].expires == T0 + 70 + 86400
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1 and errors[0].getMessage().startswith(f"COMPROMISE {IP}: logged into account 2000")
    finally:
        s.kernel.close()
        s.journal.close()
        store.close()


def _logs(tmp_path):
    sec = tmp_path / "security"
    line = ('[Nov 24 10:01:30] SECURITY[1] res_security_log.c: SecurityEvent="SuccessfulAuth",EventTV="2026-11-24T10:01:'
            '30.000+0000",Severity="Informational",Service="SIP",EventVersion="1",AccountID="2000",SessionID="0x1",'
            f'LocalAddress="IPV4/UDP/10.0.0.1/5060",RemoteAddress="IPV4/UDP/{IP}/5060",UsingPassword="1"\n')
    sec.write_text(line)
    msgs = tmp_path / "messages"
    msgs.write_text("".join(f"[Nov 24 10:00:{i:02d}] NOTICE[1] chan_sip.c: Registration from '<sip:{i}@pbx>' failed "
                            f"for '192.0.2.{i + 1}:5060' - No matching peer found\n" for i in range(3)) +
                    "".join(f"[Nov 24 10:00:{10 + i:02d}] NOTICE[1] chan_sip.c: Registration from '<sip:2000@pbx>' "
                            f"failed for '{IP}:5060' - Wrong password\n" for i in range(40)))
    return str(sec), str(msgs)


def test_scan_and_explain_rank_compromise_first(tmp_path):
    import json

    from click.testing import CliRunner

    from sipwarden.cli import main
    sec, msgs = _logs(tmp_path)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[detect]\ncanary_accounts = ["admin"]\nregistrations_from = ["10.0.0.0/8"]\n[log]\ntimezone = "UTC"\n')
    r = CliRunner().invoke(main, ["scan", "--config", str(cfg), "--format", "json", msgs, sec])
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert rows[0]["ip"] == IP and rows[0]["reason"] == "compromise" and len(rows) == 4  # three outsiders after it
    assert f"COMPROMISED account 2000 from {IP} after 40 failed attempts" in r.stderr
    r = CliRunner().invoke(main, ["explain", "--config", str(cfg), IP, msgs, sec])
    lines = r.stdout.splitlines()
    assert lines[1].startswith(f"  COMPROMISED: account 2000 from {IP} after 40 failed attempts, first success "
                               "2026-11-24 10:01:30 UTC")
    assert "  registrations_from: outside: 41 login attempts from here; the first one is a ban" in lines
    assert "  canary_accounts: none of admin touched" in lines
    utc = tmp_path / "utc.toml"
    utc.write_text('[log]\ntimezone = "UTC"\n')
    doc = json.loads(CliRunner().invoke(main, ["explain", "--config", str(utc), "--format", "json", IP, msgs, sec]).stdout)
    assert doc["compromise"] == {"account": "2000", "source": IP, "failures_before": 40,
                                 "first_success": "2026-11-24T10:01:30.000Z"}
    assert doc["operator_rules"] == {}  # off by default


def test_a_login_while_banned_elsewhere_is_compromise():
    """The daemon tells the engine what is banned (by this node, an operator or the fleet)."""
    eng = Engine()
    banned = {"198.51.100.9"}
    eng.banned = lambda ip, t: ip in banned
    assert eng.feed(Event(T0, "198.51.100.8", Kind.AUTH_OK, account="100", origin="security")) == []
    out = eng.feed(Event(T0, "198.51.100.9", Kind.AUTH_OK, account="100", origin="security"))
    assert [(v.ip, str(v.reason)) for v in out] == [("198.51.100.9", "compromise")]
    assert "while banned" in out[0].evidence
