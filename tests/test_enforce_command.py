"""The command backend (a real program, run once per address without a shell) and the dry-run backend."""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path

import pytest

from sipwarden.config import BanConfig
from sipwarden.enforce import Ban, EnforceError, make_enforcer
from sipwarden.enforce.command import CommandEnforcer
from sipwarden.enforce.dryrun import DryRunEnforcer

SCRIPT = """#!{py}
import json, sys, time
if "198.51.100.13" in sys.argv:
    sys.exit(3)
if "198.51.100.14" in sys.argv:
    time.sleep(5)
with open({log!r}, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
"""


@pytest.fixture
def fw(tmp_path: Path) -> tuple[Path, Path]:
    log = tmp_path / "calls.jsonl"
    prog = tmp_path / "cloud fw"  # a space in the path: argv, not a shell
    prog.write_text(SCRIPT.format(py=sys.executable, log=str(log)))
    os.chmod(prog, 0o755)
    return prog, log


def calls(log: Path) -> list[list[str]]:
    return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []


def test_command_argv_and_memory(fw, tmp_path):
    prog, log = fw
    marker = tmp_path / "pwned"
    e = make_enforcer(BanConfig(backend="command", command=f"'{prog}' --zone office"))
    assert isinstance(e, CommandEnforcer) and e.name == "command"
    now = time.time()
    e.ban([Ban("198.51.100.7", now + 600.2, f"$(touch {marker})"), Ban("2001:db8::1", None),
           Ban("198.51.100.0/24", now + 60), Ban("; touch x", now + 60)], now)
    assert calls(log) == [["--zone", "office", "ban", "198.51.100.7", "601"],
                          ["--zone", "office", "ban", "2001:db8::1", "0"],
                          ["--zone", "office", "ban", "198.51.100.0/24", "60"]]
    assert not marker.exists()
    listed = e.list()
    assert set(listed) == {"198.51.100.7", "2001:db8::1", "198.51.100.0/24"} and listed["2001:db8::1"] is None
    e.unban(["198.51.100.7"])
    assert calls(log)[-1] == ["--zone", "office", "unban", "198.51.100.7"]
    assert "198.51.100.7" not in e.list()
    assert e.reconcile({"2001:db8::1": None, "192.0.2.5": now + 30}, now) == (1, 1)
    assert set(e.list()) == {"2001:db8::1", "192.0.2.5"}


def test_command_failures_are_logged_not_raised(fw, caplog):
    prog, log = fw
    e = CommandEnforcer(BanConfig(backend="command", command=shlex.quote(str(prog)), command_timeout=0.5))
    now = time.time()
    t0 = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="sipwarden.enforce"):
        e.ban([Ban("198.51.100.13", now + 60), Ban("198.51.100.14", now + 60), Ban("198.51.100.15", now + 60)], now)
    assert time.monotonic() - t0 < 3  # the hanging call was killed after 0.5 s
    assert calls(log) == [["ban", "198.51.100.15", "60"]]
    assert set(e.list()) == {"198.51.100.15"}  # failed bans are not believed
    assert e.failures == 2
    assert "exited with 3" in caplog.text and "did not finish" in caplog.text
    missing = CommandEnforcer(BanConfig(backend="command", command="/nonexistent/fw"))
    missing.ban([Ban("192.0.2.1", None)], now)
    assert missing.list() == {} and missing.failures == 1


def test_command_config_errors():
    with pytest.raises(EnforceError):
        CommandEnforcer(BanConfig(backend="command", command="'unterminated"))
    with pytest.raises(EnforceError):
        CommandEnforcer(BanConfig(backend="command", command="  "))


def test_dry_run_records_only():
    e = make_enforcer(BanConfig(backend="dry-run"))
    assert isinstance(e, DryRunEnforcer)
    now = time.time()
    e.setup()
    e.ban([Ban("198.51.100.7", now + 60), Ban("198.51.100.8", now - 1), Ban("2001:db8::/64", None)], now)
    assert set(e.list()) == {"198.51.100.7", "2001:db8::/64"}
    e.unban(["198.51.100.7", "192.0.2.1"])
    assert e.list() == {"2001:db8::/64": None}
    assert [a for a, _, _ in e.log] == ["ban", "ban", "unban"]
    assert e.reconcile({"192.0.2.2": now + 10}, now) == (1, 1)
    assert set(e.list()) == {"192.0.2.2"}
    t = time.time()
    e.ban([Ban("192.0.2.3", t - 0.5)], t - 2)  # a 2 s ban decided 2 s ago: over by now
    time.sleep(0.05)
    assert "192.0.2.3" not in e.list()  # expired bans drop out of memory
