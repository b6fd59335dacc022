"""The `sipwarden` command as an operator uses it: scan, --events, explain, check-config, errors."""

from __future__ import annotations

import gzip
import json

from click.testing import CliRunner

from conftest import ASTERISK20
from sipwarden.cli import main

ATTACK = "".join(
    f"[2026-11-24 19:29:{10 + i:02d}] NOTICE[1] chan_sip.c: Registration from '<sip:{100 + i}@h>' failed for "
    f"'203.0.113.9:5060' - No matching peer found\n" for i in range(6)
) + "[2026-11-24 19:30:00] VERBOSE[2] pbx.c: nothing to see\n"


def run(*args: str, input: str | None = None):  # noqa: ANN202
    r = CliRunner().invoke(main, list(args), input=input)
    return r


def test_scan_json_verdicts(tmp_path):
    log = tmp_path / "messages"
    log.write_text(ATTACK)
    r = run("scan", "--format", "json", str(log))
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 1
    v = rows[0]
    assert v["ip"] == "203.0.113.9" and v["reason"] == "enumeration"
    assert v["at"] == "2026-11-24T19:29:14.000Z"  # the 5th distinct account decides
    assert v["events"] == 6 and v["accounts"][:2] == ["100", "101"]


def test_scan_gzip_and_stdin_agree(tmp_path):
    gz = tmp_path / "messages.gz"
    with gzip.open(gz, "wt") as f:
        f.write(ATTACK)
    a = run("scan", "--format", "json", str(gz))
    b = run("scan", "--format", "json", "-", input=ATTACK)
    assert a.exit_code == b.exit_code == 0
    assert [json.loads(x)["ip"] for x in a.stdout.splitlines() if x.startswith("{")] == \
        [json.loads(x)["ip"] for x in b.stdout.splitlines() if x.startswith("{")] == ["203.0.113.9"]


def test_events_one_per_line_with_file_and_line(tmp_path):
    log = tmp_path / "messages"
    log.write_text(ATTACK)
    r = run("scan", "--events", "--format", "json", str(log))
    evs = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert [e["line"] for e in evs] == [1, 2, 3, 4, 5, 6]
    assert all(e["file"] == str(log) and e["ip"] == "203.0.113.9" and e["kind"] == "unknown_account" for e in evs)


def test_whitelist_hides_verdict_but_events_still_show(tmp_path):
    log = tmp_path / "messages"
    log.write_text(ATTACK)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[whitelist]\naddresses = ["203.0.113.0/24"]\n')
    r = run("scan", "--config", str(cfg), "--format", "json", str(log))
    assert [x for x in r.stdout.splitlines() if x.startswith("{")] == []
    r = run("scan", "--config", str(cfg), "--events", "--format", "json", str(log))
    assert len([x for x in r.stdout.splitlines() if x.startswith("{")]) == 6


def test_table_output_and_summary(tmp_path):
    log = tmp_path / "messages"
    log.write_text(ATTACK)
    r = run("scan", str(log))
    assert r.exit_code == 0
    assert "203.0.113.9" in r.stdout and "enumeration" in r.stdout
    assert "7 lines, 6 events, 1 verdict," in r.stderr


def test_explain(tmp_path):
    log = tmp_path / "messages"
    log.write_text(ATTACK)
    r = run("explain", "--json", "203.0.113.9", str(log))
    doc = json.loads(r.stdout)
    assert doc["verdict"]["reason"] == "enumeration" and doc["events"] == 6
    assert doc["by_origin"] == {"messages": 6}
    r = run("explain", "198.51.100.1", str(log))
    assert "nothing about this address" in r.stdout
    assert run("explain", "not-an-ip", str(log)).exit_code != 0


def test_clear_errors(tmp_path):
    r = run("scan", str(tmp_path / "missing.log"))
    assert r.exit_code == 2 and "missing.log" in r.output and "No such file" in r.output
    bad = tmp_path / "bad.toml"
    for text, words in [
        ("[detect]\nbruteforce_maxretry = 'five'\n", "detect.bruteforce_maxretry: expected an integer"),
        ("[detect]\nfindtime = -1\n", "must not be negative"),
        ("[detekt]\n", "unknown table(s) detekt"),
        ("[whitelist]\naddresses = ['300.1.2.3']\n", "not an address or network"),
        ("[ban]\nbackend = 'pf'\n", "ban.backend"),
        ("[log]\ntimezone = 'Mars/Olympus'\n", "unknown time zone"),
        ("not toml [", "not valid TOML"),
    ]:
        bad.write_text(text)
        r = run("check-config", "--config", str(bad))
        assert r.exit_code == 2 and words in r.output, (text, r.output)
    good = tmp_path / "good.toml"
    good.write_text("[detect]\nbruteforce_maxretry = 3\n")
    r = run("check-config", "--config", str(good))
    assert r.exit_code == 0 and "bruteforce_maxretry = 3" in r.output


def test_attacker_text_cannot_drive_the_terminal(tmp_path):
    log = tmp_path / "messages"
    evil = "[red]x[/red]\x1b[2J\x07"
    log.write_text("".join(
        f"[2026-11-24 19:29:{10 + i:02d}] NOTICE[1] chan_sip.c: Registration from '<sip:{evil}{i}@h>' failed for "
        f"'203.0.113.9:5060' - No matching peer found\n" for i in range(6)))
    r = run("scan", str(log))
    assert r.exit_code == 0
    assert "\x1b[2J" not in r.stdout and "\x07" not in r.stdout
    assert "[red]" in r.stdout  # shown as text, not taken as markup


def test_explain_reads_captures():
    cap = ASTERISK20 / "dev1_alwaysauthreject_no" / "capture.pcap.gz"
    r = run("explain", "--json", "127.0.1.23", str(cap))
    doc = json.loads(r.stdout)
    assert doc["verdict"]["reason"] == "scanner" and doc["by_origin"] == {"wire": doc["events"]}


def test_help_lists_every_command_without_importing_them():
    """`sipwarden --help` names every subcommand with its own one-line help, and loads none of their
    modules (start-up stays fast: no asyncio, daemon, auditor)."""
    import importlib
    import subprocess
    import sys

    from sipwarden.cli import COMMANDS
    for name, (ref, text) in COMMANDS.items():
        module, _, attr = ref.partition(":")
        cmd = getattr(importlib.import_module(module), attr)
        assert cmd.name == name
        assert text == cmd.get_short_help_str(limit=10_000), name
    assert set(main.commands) == set()  # every command comes through COMMANDS
    code = ("import sys\nfrom sipwarden.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith(('sipwarden.', 'asyncio'))), file=sys.stderr)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    for name in COMMANDS:
        assert f"  {name} " in p.stdout
    loaded = set(eval(p.stderr.strip().splitlines()[-1]))  # noqa: S307 - our own repr of a list of names
    assert loaded <= {"sipwarden.cli", "sipwarden.cli.common", "sipwarden.addr", "sipwarden.events"} | {
        f"sipwarden.config{m}" for m in ("", ".checks", ".fleet", ".loader", ".schema")}, loaded
