"""A backlog reaches the engine merged across files in event-time order, as `scan` merges them, so
the daemon decides what `scan` decides over the same logs (dry-run backend: no root needed).

The case that tells: a phone that logged in (security log) before its failures (messages). Read
file by file, its failures would come before its login and ban it; merged by time, they are a
stale password (a quarter each) and it stays unbanned, in `scan` and in the daemon alike.
"""

from __future__ import annotations

import json
import subprocess
import time

from warden import SIPWARDEN, ctl

DAY = "2026-11-24"


def sec(s: int, ev: str, acct: str, ip: str, tail: str = "") -> str:
    sev = "Informational" if ev == "SuccessfulAuth" else "Error"
    return (f'[{DAY} 12:00:{s:02d}] SECURITY[1] res_security_log.c: SecurityEvent="{ev}",EventTV="{DAY}T12:00:'
            f'{s:02d}.000+0000",Severity="{sev}",Service="SIP",EventVersion="1",AccountID="{acct}",SessionID="0x1",'
            f'LocalAddress="IPV4/UDP/127.0.0.1/5060",RemoteAddress="IPV4/UDP/{ip}/5060"{tail}\n')


def wrong_password(s: int, acct: str, ip: str) -> str:
    return (f"[{DAY} 12:00:{s:02d}] NOTICE[1] chan_sip.c: Registration from '<sip:{acct}@pbx>' failed for "
            f"'{ip}:5060' - Wrong password\n")


PHONE, GUESSER, ENUMERATOR = "198.51.100.20", "203.0.113.5", "203.0.113.6"


def logs(tmp) -> tuple:  # noqa: ANN001
    messages = tmp / "messages"
    security = tmp / "security"
    # the phone: logged in at :01, then its stale password fails 6 times (messages only)
    messages.write_text("".join([wrong_password(10 + i, "100", PHONE) for i in range(6)]
                                + [wrong_password(20 + i, "200", GUESSER) for i in range(5)]))
    security.write_text("".join([sec(1, "SuccessfulAuth", "100", PHONE, ',UsingPassword="1"')]
                                + [sec(30 + i, "InvalidAccountID", f"u{i}", ENUMERATOR) for i in range(5)]))
    return messages, security


def test_run_from_start_bans_what_scan_finds(tmp_path):
    messages, security = logs(tmp_path)
    cfg = tmp_path / "sw.toml"
    cfg.write_text('[log]\ntimezone = "UTC"\n[ban]\nbackend = "dry-run"\n')
    out = subprocess.run([SIPWARDEN, "scan", "--config", str(cfg), "--format", "json", str(messages), str(security)],
                         capture_output=True, text=True, check=True).stdout
    scanned = {v["ip"] for v in _json_objects(out)}
    assert scanned == {GUESSER, ENUMERATOR}  # the phone is a stale password, not an attacker

    state = tmp_path / "state"
    p = subprocess.Popen([SIPWARDEN, "run", "--config", str(cfg), "--from-start", "--state-dir", str(state),
                          "--watch", str(messages), "--watch", str(security)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        st: dict = {}
        while time.monotonic() < deadline:
            st = ctl(state, "status") or {}
            if st.get("running") and not st.get("catching_up") and st.get("lines") == 17:
                break
            time.sleep(0.1)
        assert st.get("lines") == 17, st
        time.sleep(0.3)  # the turn's verdicts decided
        banned = {b["ip"] for b in ctl(state, "bans")}
    finally:
        p.terminate()
        p.wait(timeout=10)
    assert banned == scanned


def _json_objects(text: str) -> list[dict]:
    """`scan --format json` output: a JSON array, or one object per line."""
    text = text.strip()
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]
