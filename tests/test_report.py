"""`sipwarden report --html`: the data document (pure aggregation), the page shell, the command."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from sipwarden.config import Config
from sipwarden.events import Event, Kind
from sipwarden.report import build, html
from sipwarden.report.aggregate import MAX_POINTS, Aggregate, pick_step
from sipwarden.report.destinations import by_country, destination
from sipwarden.store.sqlite import Store
from warden import SIPWARDEN

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "asterisk20-attack"
T0 = 1_794_960_000.0  # 2026-11-18 00:00 UTC


def island(text: str) -> dict:
    m = re.search(r'<script type="application/json" id="sipwarden-report">(.*?)</script>', text, re.S)
    assert m, "no data island"
    return json.loads(m[1])


def ev(t: float, ip: str, kind: Kind, **kw) -> Event:
    return Event(t, ip, kind, **kw)


def test_a_day_is_drawn_in_minutes_and_a_15_minute_flood_is_a_spike():
    agg = Aggregate()
    for m in range(24 * 60):  # one quiet event a minute all day
        agg.feed(ev(T0 + m * 60 + 5, "192.0.2.1", Kind.AUTH_OK, account="100"))
    flood_start = T0 + 10 * 3600
    for i in range(15 * 60 * 20):  # 20/s for 15 minutes
        agg.feed(ev(flood_start + i / 20, "203.0.113.9", Kind.UNKNOWN_ACCOUNT, account=str(i % 500)))
    tl = agg.timeline()
    assert tl["step"] == 60 and len(tl["points"]) <= MAX_POINTS
    assert sum(sum(p[1:]) for p in tl["points"]) == agg.events  # nothing lost by widening
    col = tl["kinds"].index("unknown_account") + 1
    spike = [p for p in tl["points"] if p[col]]
    assert len(spike) == 15 and all(p[col] == 1200 for p in spike)
    quiet = [sum(p[1:]) for p in tl["points"] if not p[col]]
    assert max(quiet) == 1


def test_step_choice():
    assert pick_step(900) == 1
    assert pick_step(86400) == 60
    assert pick_step(30 * 86400) == 1800
    assert pick_step(10, at_least=30) == 30


def test_sources_accounts_and_every_verdict_listed():
    agg = Aggregate()
    for i in range(6):
        agg.feed(ev(T0 + i, "203.0.113.5", Kind.AUTH_FAILED, account="3000"))
        agg.feed(ev(T0 + i, "203.0.113.6", Kind.UNKNOWN_ACCOUNT, account=f"x{i}"))
    agg.feed(ev(T0 + 9, "192.0.2.7", Kind.AUTH_OK, account="3000"))
    verdicts = [{"ip": "203.0.113.5", "reason": "bruteforce", "events": 6, "accounts": ["3000"]},
                {"ip": "198.51.100.0/24", "reason": "distributed", "events": 40, "accounts": [], "proven": False}]
    rows = {r["ip"]: r for r in agg.source_rows(verdicts)}
    assert rows["203.0.113.5"]["reason"] == "bruteforce" and rows["203.0.113.5"]["events"] == 6
    assert rows["203.0.113.6"]["accounts"] == 6 and rows["203.0.113.6"]["reason"] is None
    assert rows["198.51.100.0/24"]["evidence"] == "unproven"  # a verdict with no event of its own still shows
    acc = {a["account"]: a for a in agg.account_rows()}
    assert acc["3000"]["status"] == "existing" and acc["3000"]["known_failures"] == 6 and acc["3000"]["logins"] == 1
    assert acc["x1"]["status"] == "unknown"


@pytest.mark.parametrize("number,code", [("900097248272173", "IL"), ("9011370275464279", "LT"),
                                         ("0049160527915", "DE"), ("+225604125003", "CI"),
                                         ("0118805830760902", "BD"), ("+12845550100", "VG")])
def test_destination_country(number, code):
    assert destination(number)[0] == code


def test_destination_unknown_is_not_guessed():
    assert destination("100") is None and destination("anonymous") is None
    doc = by_country({"0049160527915": 3, "1234": 2})
    assert doc["countries"][0]["code"] == "DE" and doc["countries"][0]["calls"] == 3
    assert doc["unknown"]["calls"] == 2


def test_island_cannot_close_its_script_element():
    doc = {"verdicts": [], "x": "</script><script>alert(1)</script> & \u2028"}
    text = html.render({**_minimal(), **doc})
    body = text.split('id="sipwarden-report">', 1)[1].split("</script>", 1)[0]
    assert "<" not in body and json.loads(body)["x"] == doc["x"]


def _minimal() -> dict:
    return build.document(Aggregate(), [], {"step": 60, "points": []}, {"paths": []}, Config(), {}, None)


def test_compromise_verdicts_are_alerts():
    v = {"ip": "203.0.113.7", "reason": "compromise", "at": "2026-11-18T00:00:00.000Z", "events": 9,
         "accounts": ["3000"], "evidence": "login after 8 wrong passwords"}
    doc = build.document(Aggregate(), [v], {"step": 60, "points": []}, {"paths": []}, Config(), {}, None)
    assert doc["alerts"] == [v] and doc["summary"]["alerts"] == 1


def test_report_verdicts_are_scans(tmp_path):
    """The island's verdicts are exactly `scan --format json`'s objects, in the same order."""
    logs = [str(SAMPLE / "messages.gz"), str(SAMPLE / "security.gz")]
    scan = subprocess.run([SIPWARDEN, "scan", "--format", "json", *logs], capture_output=True, text=True, check=True)
    out = tmp_path / "r.html"
    p = subprocess.run([SIPWARDEN, "report", "--html", str(out), *logs], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    doc = island(out.read_text())
    assert doc["verdicts"] == [json.loads(line) for line in scan.stdout.splitlines()]
    assert len(doc["verdicts"]) >= 5
    assert doc["summary"]["lines"] > 10_000
    assert sum(sum(p[1:]) for p in doc["timeline"]["points"]) == doc["summary"]["events"]
    assert sum(p[1] for p in doc["bans"]["points"]) == len(doc["verdicts"])  # each verdict a first ban
    assert doc["tollfraud"]["countries"], "the sample's toll-fraud probe dials abroad"
    text = out.read_text()
    loads = re.findall(r"""(?:\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(|@import|fetch\(|XMLHttpRequest)""", text)
    assert not loads  # nothing is loaded: self-contained
    assert "default-src 'none'" in text  # and the browser is told to refuse any load


def test_report_of_a_capture_is_scans(tmp_path):
    cap = str(REPO / "tests" / "data" / "lab" / "kamailio_attack.pcapng.gz")
    scan = subprocess.run([SIPWARDEN, "scan", "--format", "json", cap], capture_output=True, text=True, check=True)
    out = tmp_path / "r.html"
    subprocess.run([SIPWARDEN, "report", "--html", str(out), cap], capture_output=True, text=True, check=True)
    doc = island(out.read_text())
    assert doc["verdicts"] == [json.loads(line) for line in scan.stdout.splitlines()] and doc["verdicts"]
    assert "request" in doc["timeline"]["kinds"]  # wire requests are drawn too


def test_since_until_narrow_the_report(tmp_path):
    logs = [str(SAMPLE / "messages.gz"), str(SAMPLE / "security.gz")]
    whole = build.from_logs(tuple(logs), Config())
    times = [p[0] for p in whole["timeline"]["points"]]
    mid = times[len(times) // 2]
    part = build.from_logs(tuple(logs), Config(), since=mid)
    assert 0 < part["summary"]["events"] < whole["summary"]["events"]
    assert all(p[0] >= mid for p in part["timeline"]["points"])
    assert len(part["verdicts"]) < len(whole["verdicts"])


def test_report_from_the_daemon_store(tmp_path):
    state = tmp_path / "st"
    with Store(state / "sipwarden.db") as store:
        store.add_events([ev(T0 + i, "203.0.113.5", Kind.AUTH_FAILED, account="3000") for i in range(30)]
                         + [ev(T0 + 100 + i, "203.0.113.6", Kind.CALL_REJECTED, target="0049160527915")
                            for i in range(3)])
        verdict = {"ip": "203.0.113.5", "reason": "bruteforce", "at": "x", "events": 5, "accounts": ["3000"]}
        store.add_ban("203.0.113.5", "bruteforce", verdict, T0 + 5, T0 + 605)
        store.add_ban("198.51.100.1", "manual", {"ip": "198.51.100.1", "reason": "manual"}, T0 + 7, None, manual=True)
        store.expire(T0 + 700)
    out = tmp_path / "r.html"
    p = subprocess.run([SIPWARDEN, "report", "--html", str(out), "--state-dir", str(state)], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    doc = island(out.read_text())
    assert doc["verdicts"] == [verdict]  # manual bans are not verdicts
    assert sum(p[1] for p in doc["bans"]["points"]) == 2 and sum(p[2] for p in doc["bans"]["points"]) == 1
    assert doc["summary"]["events"] == 33
    assert doc["tollfraud"]["countries"][0]["code"] == "DE"


def test_store_history_reads_back_the_same_events(tmp_path):
    evs = [Event(T0 + i, "203.0.113.5", Kind.CALL_REJECTED, 5060 + i, "udp", "SIP", f"acct{i}", f"00972{i}", "INVITE",
                 "friendly-scanner", "sipvicious", f"detail {i}", "messages", "/var/log/asterisk/messages", 10 + i)
           for i in range(5)]
    with Store(tmp_path / "s.db") as store:
        store.add_events(evs)
        assert list(build.store_events(store, None, None)) == evs
        assert list(build.store_events(store, T0 + 1, T0 + 3)) == evs[1:3]
        assert len(list(store.events_between(None, None, page=2))) == 5  # paged reads lose nothing
        store.add_ban("203.0.113.5", "tollfraud", {}, T0, T0 + 10)
        store.add_ban("203.0.113.6", "tollfraud", {}, T0 + 100, None)
        assert [b.ip for b in store.bans_between(T0 + 20, T0 + 200)] == ["203.0.113.6"]
        assert [b.ip for b in store.bans_between(T0 + 5, T0 + 50)] == ["203.0.113.5"]


def test_operator_mistakes_are_one_line(tmp_path):
    for args, words in ((["--since", "yesterdayish", str(SAMPLE / "messages.gz")], "not a time"),
                        ([str(tmp_path / "missing.log")], "missing.log"),
                        (["--state-dir", str(tmp_path / "nothing")], "no daemon history"),
                        (["--since", "2026-11-25", "--until", "2026-11-24", str(SAMPLE / "messages.gz")], "later")):
        p = subprocess.run([SIPWARDEN, "report", "--html", str(tmp_path / "r.html"), *args], capture_output=True,
                           text=True)
        assert p.returncode != 0 and words in p.stderr and "Traceback" not in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1


def test_audit_findings_in_the_report(tmp_path):
    conf = tmp_path / "asterisk"
    conf.mkdir()
    (conf / "sip.conf").write_text("[general]\nallowguest=yes\nalwaysauthreject=no\n\n[100]\ntype=friend\n"
                                   "host=dynamic\nsecret=1234\n")
    out = tmp_path / "r.html"
    p = subprocess.run([SIPWARDEN, "report", "--html", str(out), "--audit", str(conf), str(SAMPLE / "messages.gz")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    checks = {f["check"] for f in island(out.read_text())["audit"]}
    assert {"sip.allowguest", "secret.dictionary"} <= checks
    assert "1234" not in json.dumps(island(out.read_text())["audit"])  # secrets stay masked
