"""Rough edges of the command line an operator meets: partial inputs, check-config's look at the host,
backend names checked at config time, `explain` on a network, one JSON shape per answer."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
from pathlib import Path

from conftest import ASTERISK20
from warden import SIPWARDEN

DEV1 = ASTERISK20 / "dev1_alwaysauthreject_no"


def sw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SIPWARDEN, *args], capture_output=True, text=True, timeout=120)


def verdicts(stdout: str) -> dict[str, dict]:
    return {d["ip"]: d for d in map(json.loads, stdout.splitlines())}


def test_scan_truncated_gz_and_unreadable_file_give_the_rest_and_status_3(tmp_path):
    whole = verdicts(sw("scan", "--format", "json", str(DEV1 / "security.gz")).stdout)
    data = (DEV1 / "messages.gz").read_bytes()
    trunc = tmp_path / "messages.gz"
    trunc.write_bytes(data[: len(data) // 2])  # a rotated file copied while being written
    r = sw("scan", "--format", "json", str(trunc), str(DEV1 / "security.gz"), str(tmp_path / "gone.log"))
    assert r.returncode == 3, r.stderr
    got = verdicts(r.stdout)
    assert set(whole) <= set(got)  # everything the readable file shows, and what the first half adds
    assert f"NOT READ: {trunc}: read error: Compressed file ended" in r.stderr
    assert f"NOT READ: {tmp_path / 'gone.log'}: No such file or directory" in r.stderr
    half = gzip.decompress(data)[: 1000]
    assert half  # the readable part of the truncated file was scanned: its lines are counted
    lines = int(re.search(r"sipwarden: (\d+) lines", r.stderr).group(1))
    full_sec = int(re.search(r"sipwarden: (\d+) lines", sw("scan", str(DEV1 / "security.gz")).stderr).group(1))
    assert lines > full_sec
    r = sw("scan", str(tmp_path / "gone.log"), str(tmp_path / "gone2.log"))
    assert r.returncode == 2 and "none of the inputs could be read" in r.stderr
    if os.geteuid() != 0:  # root reads anything; the permission case is for a plain user
        locked = tmp_path / "locked.log"
        locked.write_text("x\n")
        locked.chmod(0)
        r = sw("scan", str(locked), str(DEV1 / "security.gz"))
        assert r.returncode == 3 and "permission denied" in r.stderr


def test_check_config_looks_at_the_host(tmp_path):
    log = tmp_path / "messages"
    log.write_text("")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[daemon]\nwatch = ["{log}", "{tmp_path}/nodir/security", "{tmp_path}/missing"]\n'
                   f'state_dir = "{tmp_path}/state"\n[wire]\ncapture = ["nosuchif0"]\n')
    r = sw("check-config", "--config", str(cfg), "--format", "json")
    assert r.returncode == 1, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and set(doc) == {"config", "ok", "problems", "settings"}
    problems = "\n".join(doc["problems"])
    assert f"{tmp_path}/nodir/security: missing, and so is its directory" in problems
    assert f"{tmp_path}/missing: missing (its directory exists" in problems
    assert "wire.capture: no interface 'nosuchif0'" in problems
    assert str(log) not in problems
    r = sw("check-config", "--config", str(cfg))
    assert r.returncode == 1 and "PROBLEM: daemon.watch" in r.stdout
    cfg.write_text(f'[daemon]\nwatch = ["{log}"]\nstate_dir = "{tmp_path}/state"\n')
    assert sw("check-config", "--config", str(cfg)).returncode == 0


def test_backend_names_are_checked_with_the_config(tmp_path):
    cfg = tmp_path / "c.toml"
    for text, words in [('[ban]\ntable = "sip-warden"\n', "not a valid nftables table name"),
                        ('[ban]\nbackend = "ipset"\ntable = "a_very_long_ipset_name_here"\n', "ipset/iptables name"),
                        ('[ban]\nbackend = "command"\ncommand = "fw \'unclosed"\n', "ban.command: cannot split")]:
        cfg.write_text(text)
        r = sw("check-config", "--config", str(cfg))
        assert r.returncode == 2 and words in r.stderr, (text, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1
    cfg.write_text('[ban]\nbackend = "command"\ncommand = "/nonexistent/fw-script ban"\n')
    r = sw("check-config", "--config", str(cfg))
    assert r.returncode == 1 and "ban.command: /nonexistent/fw-script: not found" in r.stdout


def test_explain_a_network():
    r = sw("explain", "--format", "json", "127.0.1.0/24", str(DEV1 / "messages.gz"), str(DEV1 / "security.gz"))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["network"] is True and doc["ip"] == "127.0.1.0/24" and doc["verdict"] is None
    inside = {v["ip"] for v in doc["addresses"]}
    assert {"127.0.1.20", "127.0.1.40"} <= inside and "127.0.1.10" not in inside  # a phone is not an attacker
    assert doc["events"] > 1000
    one = json.loads(sw("explain", "--json", "127.0.1.40", str(DEV1 / "security.gz")).stdout)
    assert set(one) == set(doc)  # the same keys for an address and a network
    assert one["network"] is False and one["addresses"] == [] and one["verdict"]["reason"] == "bruteforce"
    r = sw("explain", "not-an-ip", str(DEV1 / "security.gz"))
    assert r.returncode == 2 and "not an IP address or network" in r.stderr


def test_json_verdicts_have_the_same_keys_every_time(tmp_path):
    p = Path(tmp_path / "m.log")
    p.write_text("".join(f"[2026-11-24 19:29:{10 + i:02d}] NOTICE[1] chan_sip.c: Registration from "
                         f"'<sip:{100 + i}@x>' failed for '203.0.113.{i % 2 + 1}:5060' - Wrong password\n"
                         for i in range(12)))
    got = list(map(json.loads, sw("scan", "--json", str(p), str(DEV1 / "security.gz")).stdout.splitlines()))
    assert len(got) > 3
    keys = set(got[0])
    assert "proven" in keys and all(set(v) == keys for v in got)


def test_durations_in_the_config_as_on_the_command_line(tmp_path):
    from sipwarden.config import ConfigError, duration_seconds, load
    cfg = tmp_path / "c.toml"
    cfg.write_text('[ban]\nbantime = "1h"\nmaxtime = "2w"\nreconcile_interval = "30s"\n'
                   '[detect]\nfindtime = "10m"\nflood_window = "1m30s"\n')
    c = load(cfg)
    assert (c.ban.bantime, c.ban.maxtime, c.ban.reconcile_interval) == (3600, 14 * 86400, 30)
    assert (c.detect.findtime, c.detect.flood_window) == (600, 90)
    assert duration_seconds("1h30m") == 5400 and duration_seconds("1 hour") is None
    for text, words in [('[ban]\nbantime = "1 hour"\n', "ban.bantime: expected seconds or a span like"),
                        ('[ban]\nincrement = "2h"\n', "ban.increment: expected a number")]:
        cfg.write_text(text)
        try:
            load(cfg)
        except ConfigError as e:
            assert words in str(e)
        else:
            raise AssertionError(text)
    r = sw("ban", "192.0.2.1", "--for", "1 hour", "--state-dir", str(tmp_path))
    assert r.returncode == 2 and "'--for'" in r.stderr


def test_toll_fraud_verdict_keeps_dialled_numbers_apart_from_accounts():
    from sipwarden.detect.tollfraud import international
    got = verdicts(sw("scan", "--json", str(DEV1 / "messages.gz"), str(DEV1 / "security.gz")).stdout)
    fraud = got["127.0.1.32"]  # the INVITE flood to 9011..., 00..., +...: its "accounts" were the numbers
    assert fraud["reason"] == "tollfraud"
    prefixes = ("+", "00", "011", "9011", "900", "9000")
    assert len(fraud["numbers"]) >= 5 and all(international(n, prefixes) for n in fraud["numbers"])
    assert not [a for a in fraud["accounts"] if international(a, prefixes)], fraud["accounts"]
    assert got["127.0.1.20"]["numbers"] == [] and "100" in got["127.0.1.20"]["accounts"]  # svwar: accounts only
