"""Class 7 (issue 8): `timezone = "local"` follows the zone's rules (daylight saving), not today's
offset; lines across a change keep their order, in a scan and in the daemon's line parser."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sipwarden.config import from_dict
from sipwarden.parsers.stream import LogStream
from sipwarden.pipeline.scan import run
from sipwarden.sources.logfile import open_log
from sipwarden.timefmt import Clock, tz_from_name

BERLIN = ZoneInfo("Europe/Berlin")


def _utc(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%m-%d %H:%M:%S")


def test_local_is_the_zone_with_its_rules(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    tz = tz_from_name("local")
    c = Clock(2026, tz)
    assert _utc(c.line_time("[Jul  1 12:00:00] NOTICE[1] x.c: a")) == "07-01 10:00:00"  # CEST, whatever today is
    assert _utc(c.line_time("[Dec  1 12:00:00] NOTICE[1] x.c: a")) == "12-01 11:00:00"  # CET


def test_lines_across_the_autumn_change_stay_in_order():
    p = LogStream(Clock(2026, BERLIN))  # the daemon's stream: the change happens while it runs
    stamps = ["01:50:00", "02:20:00", "02:50:00", "02:05:00", "02:35:00", "03:10:00"]  # 02:xx twice
    times = [p.clock.line_time(f"[Oct 25 {s}] NOTICE[1] x.c: a") for s in stamps]
    assert times == sorted(times)
    assert [_utc(t) for t in times] == ["10-24 23:50:00", "10-25 00:20:00", "10-25 00:50:00", "10-25 01:05:00",
                                        "10-25 01:35:00", "10-25 02:10:00"]


def test_spring_change_has_no_gap_in_event_time():
    c = Clock(2026, BERLIN)
    a = c.line_time("[Mar 29 01:59:59] NOTICE[1] x.c: a")
    b = c.line_time("[Mar 29 03:00:00] NOTICE[1] x.c: a")
    assert b - a == 1


def test_winter_log_read_in_summer_messages_and_security_log_line_up(tmp_path, monkeypatch):
    """A phone logs in (security log, EventTV with its own +0100), then fails on its stale password
    (messages, local time): read with the zone's rules the failures come after the login and count a
    quarter; read with summer's offset (what "today's offset" gave in July) they come an hour before
    it, count in full, and the phone is banned."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    ip = "198.51.100.80"
    sec = tmp_path / "security"
    sec.write_text('[Dec  1 12:30:00] SECURITY[1] res_security_log.c: SecurityEvent="SuccessfulAuth",EventTV="2026-12-'
                   '01T12:30:00.000+0100",Severity="Informational",Service="SIP",EventVersion="1",AccountID="2000",'
                   f'SessionID="0x1",LocalAddress="IPV4/UDP/10.0.0.1/5060",RemoteAddress="IPV4/UDP/{ip}/5060",'
                   'UsingPassword="1"\n')
    msgs = tmp_path / "messages"
    msgs.write_text("".join(f"[Dec  1 12:3{i}:30] NOTICE[1] chan_sip.c: Registration from '<sip:2000@pbx>' failed "
                            f"for '{ip}:5060' - Wrong password\n" for i in range(8)))
    logs = [str(sec), str(msgs)]
    assert run([open_log(p) for p in logs], from_dict({"log": {"timezone": "local"}})).verdicts == []
    summer = from_dict({"log": {"timezone": "Etc/GMT-2"}})  # a fixed +02:00
    assert [v.ip for v in run([open_log(p) for p in logs], summer).verdicts] == [ip]
