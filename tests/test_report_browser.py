"""The report as a browser shows it: headless Debian Chromium renders it with no console error,
draws as many timeline bars as the data has points, toggles log scale, sorts tables, keeps
attacker text as text. Screenshots are kept (paths printed; `pytest -s` shows them)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from browser import chromium, console_errors, screenshot
from sipwarden.config import Config
from sipwarden.events import Event, Kind
from sipwarden.report import build, html
from sipwarden.report.aggregate import Aggregate
from warden import SIPWARDEN

pytestmark = pytest.mark.system
REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "asterisk20-attack"


def test_sample_report_renders(tmp_path):
    out = tmp_path / "report.html"
    subprocess.run([SIPWARDEN, "report", "--html", str(out), str(SAMPLE / "messages.gz"), str(SAMPLE / "security.gz")],
                   check=True, capture_output=True)
    doc = json.loads(out.read_text().split('id="sipwarden-report">', 1)[1].split("</script>", 1)[0])
    with chromium() as b:
        b.get(out.as_uri())
        assert console_errors(b) == []
        bars = b.find_elements("css selector", "#timeline svg.timeline g.pt")
        assert len(bars) == len(doc["timeline"]["points"]) > 20
        def heights() -> list[float]:  # drawn height of each bar (its coloured parts)
            return b.execute_script("return [...document.querySelectorAll('#timeline g.pt')].map(g => "
                                    "[...g.querySelectorAll('rect:not([fill=transparent])')]"
                                    ".reduce((a, r) => a + r.getBBox().height, 0))")
        totals = [sum(p[1:]) for p in doc["timeline"]["points"]]
        hs = heights()
        big, small = totals.index(max(totals)), totals.index(min(totals))
        assert hs[big] > 10 * hs[small]  # heights follow the counts
        assert len(b.find_elements("css selector", "#bans svg.bans g.pt")) == len(doc["bans"]["points"])
        text = b.find_element("tag name", "body").text
        for v in doc["verdicts"]:
            assert v["ip"] in text
        # hover shows the values of a bar
        from selenium.webdriver import ActionChains
        ActionChains(b).move_to_element(bars[len(bars) // 2]).perform()
        tip = b.find_element("id", "sw-tip")
        assert tip.is_displayed() and "total" in tip.text
        # log scale: a low bar grows relative to the highest one
        linear = hs[small] / hs[big]
        b.find_element("id", "logscale").click()
        hs = heights()
        assert hs[small] / hs[big] > 3 * linear
        assert len(b.find_elements("css selector", "#timeline svg.timeline g.pt")) == len(doc["timeline"]["points"])
        # sorting: click "events" in the sources table twice -> descending
        head = [th for th in b.find_elements("css selector", "#sources th") if th.text == "events"][0]
        head.click()
        head.click()
        col = [th.text for th in b.find_elements("css selector", "#sources th")].index("events")
        vals = [int(r.find_elements("tag name", "td")[col].text.replace(",", ""))
                for r in b.find_elements("css selector", "#sources tbody tr")]
        assert vals == sorted(vals, reverse=True) and len(vals) == len(doc["sources"])
        head.click()
        vals = [int(r.find_elements("tag name", "td")[col].text.replace(",", ""))
                for r in b.find_elements("css selector", "#sources tbody tr")]
        assert vals == sorted(vals)
        names = [e.text for e in b.find_elements("css selector", "#tollfraud .hbar text")]
        assert any(n in names for n in ("Israel", "Germany", "Afghanistan"))  # region codes named by the browser
        screenshot(b, tmp_path / "report.png")
        assert console_errors(b) == []


def test_hostile_text_stays_text_and_alerts_come_first(tmp_path):
    evil = '</script><img src=x onerror="window.__pwned=1"><b>x</b>'
    agg = Aggregate()
    for i in range(8):
        agg.feed(Event(1_794_960_000.0 + i, "203.0.113.66", Kind.AUTH_FAILED, account=evil))
        agg.feed(Event(1_794_960_000.0 + i, "203.0.113.67", Kind.CALL_REJECTED, target=evil + "0049160527915"))
    alert = {"ip": "203.0.113.66", "reason": "compromise", "at": "2026-11-18T00:00:09.000Z", "events": 9,
             "accounts": [evil], "first_seen": None, "last_seen": None, "counts": {}, "evidence": evil, "origins": []}
    doc = build.document(agg, [alert], {"step": 60, "points": [[1_794_960_000, 1, 0]]}, {"paths": ["x"]}, Config(),
                         {"lines": 16}, [{"check": "sip.allowguest", "severity": "high", "file": evil, "line": 1,
                                          "message": evil, "fix": evil, "why": ""}])
    out = tmp_path / "hostile.html"
    out.write_text(html.render(doc))
    with chromium() as b:
        b.get(out.as_uri())
        assert b.execute_script("return window.__pwned") is None
        assert b.find_elements("css selector", "img") == []
        assert [e for e in b.find_elements("css selector", "main b") if e.text == "x"] == []
        assert evil in b.find_element("id", "alerts").text
        sections = b.execute_script("return [...document.querySelectorAll('main > section')].map(s => s.id)")
        assert sections[0] == "alerts"
        assert console_errors(b) == []
        screenshot(b, tmp_path / "hostile.png")


def test_an_empty_log_renders_cleanly(tmp_path):
    (tmp_path / "empty.log").write_text("")
    out = tmp_path / "empty.html"
    subprocess.run([SIPWARDEN, "report", "--html", str(out), str(tmp_path / "empty.log")], check=True, capture_output=True)
    with chromium(1200, 900) as b:
        b.get(out.as_uri())
        assert console_errors(b) == []
        assert "no events in this period" in b.find_element("id", "timeline").text
        assert b.find_elements("css selector", "#timeline g.pt") == []
