"""What an operator meets in the first hour: one daemon per state dir, health in `status`, `ban` that
says when the kernel did not take it, secrets kept out of sight, state/config from the environment,
one line and status 2 for a mistake, piped tables that keep addresses whole."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from warden import SIPWARDEN, stop

V6 = "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1234"


def sw(*args: str, env: dict | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SIPWARDEN, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


class Daemon:
    def __init__(self, tmp: Path, *extra: str, prefix: list[str] | None = None, name: str = "d") -> None:
        self.log = tmp / "messages"
        if not self.log.exists():
            self.log.write_text("")
        self.state = tmp / "state"
        self.err = tmp / f"{name}.err"
        argv = [*(prefix or []), SIPWARDEN, "run", "--watch", str(self.log), "--state-dir", str(self.state), *extra]
        self.proc = subprocess.Popen(argv, stdout=open(self.err, "w"), stderr=subprocess.STDOUT)  # noqa: SIM115

    def wait_socket(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not (self.state / "control.sock").exists():
            assert self.proc.poll() is None, self.err.read_text()
            assert time.monotonic() < deadline, self.err.read_text()
            time.sleep(0.05)

    def stop(self) -> None:
        stop(self.proc)


@pytest.fixture
def daemons():
    started: list[Daemon] = []
    yield started
    for d in started:
        d.stop()


def test_second_daemon_on_the_same_state_dir_refuses_and_the_first_still_answers(tmp_path, daemons):
    first = Daemon(tmp_path, "--backend", "dry-run")
    daemons.append(first)
    first.wait_socket()
    sock_inode = (first.state / "control.sock").stat().st_ino
    second = Daemon(tmp_path, "--backend", "dry-run", name="second")
    daemons.append(second)
    assert second.proc.wait(30) == 2
    msg = second.err.read_text()
    assert f"another sipwarden (pid {first.proc.pid}) is running on state dir {first.state}" in msg
    assert "Traceback" not in msg and len(msg.strip().splitlines()) == 1
    assert (first.state / "control.sock").stat().st_ino == sock_inode  # its socket untouched
    r = sw("status", "--state-dir", str(first.state), "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["pid"] == first.proc.pid
    # the lock goes with the process: after a stop a new daemon starts at once
    first.stop()
    third = Daemon(tmp_path, "--backend", "dry-run", name="third")
    daemons.append(third)
    third.wait_socket()


def test_status_exit_codes_and_missing_state_dir(tmp_path, daemons):
    r = sw("status", "--state-dir", str(tmp_path / "no-such-dir"))
    assert r.returncode == 2 and "state dir" in r.stderr and "does not exist" in r.stderr and not r.stdout
    r = sw("bans", "--state-dir", str(tmp_path / "no-such-dir"))
    assert r.returncode == 2
    (tmp_path / "state").mkdir()
    r = sw("status", "--state-dir", str(tmp_path / "state"))
    assert r.returncode == 3 and "not running" in r.stdout and "0 bans in the store" in r.stdout
    d = Daemon(tmp_path, "--backend", "dry-run")
    daemons.append(d)
    d.wait_socket()
    r = sw("status", "--state-dir", str(d.state))
    assert r.returncode == 0 and r.stdout.startswith("sipwarden running"), r.stdout
    assert "0 active bans; 0 lines, 0 events, 0 verdicts" in r.stdout
    for name in ("sipwarden.db", "daemon.lock", "control.sock"):  # the daemon's alone, whatever the caller's umask
        assert (d.state / name).stat().st_mode & 0o077 == 0, name


def test_environment_names_state_dir_and_config(tmp_path, daemons):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[ban]\nbackend = "dry-run"\n')
    d = Daemon(tmp_path, "--config", str(cfg))
    daemons.append(d)
    d.wait_socket()
    env = {"SIPWARDEN_STATE_DIR": str(d.state), "SIPWARDEN_CONFIG": str(cfg)}
    r = sw("status", "--format", "json", env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["backend"] == "dry-run"
    r = sw("ban", "192.0.2.77", "--for", "1h", env=env)
    assert r.returncode == 0, r.stderr
    assert "192.0.2.77" in sw("bans", env=env).stdout
    # an operator's ban and unban are counted like the others
    st = json.loads(sw("status", "--format", "json", env=env).stdout)
    assert (st["bans"]["bans"], st["bans"]["unbans"], st["active_bans"]) == (1, 0, 1)
    assert sw("unban", "192.0.2.77", env=env).returncode == 0
    st = json.loads(sw("status", "--format", "json", env=env).stdout)
    assert (st["bans"]["bans"], st["bans"]["unbans"], st["active_bans"]) == (1, 1, 0)
    r = sw("unban", "192.0.2.77", env=env)
    assert r.returncode == 0 and "was not banned" in r.stdout
    assert json.loads(sw("status", "--format", "json", env=env).stdout)["bans"]["unbans"] == 1
    bad = {"SIPWARDEN_CONFIG": str(tmp_path / "missing.toml")}
    r = sw("check-config", env=bad)
    assert r.returncode == 2 and "missing.toml: no such file" in r.stderr


@pytest.mark.system
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("capsh") or not shutil.which("nft"),
                    reason="needs root, capsh and nft")
def test_dead_firewall_is_degraded_and_ban_fails(tmp_path, daemons):
    """nftables backend without CAP_NET_ADMIN: nft is refused; nothing anywhere is changed."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[ban]\nbackend = "nftables"\ntable = "swdead{os.getpid()}"\n')
    port = free_tcp_port()
    d = Daemon(tmp_path, "--config", str(cfg), "--http", f"127.0.0.1:{port}",
               prefix=["capsh", "--drop=cap_net_admin", "--", "-c", 'exec "$0" "$@"'])
    daemons.append(d)
    d.wait_socket()
    deadline = time.monotonic() + 30
    while True:
        r = sw("status", "--state-dir", str(d.state), "--format", "json")
        doc = json.loads(r.stdout)
        if doc["health"] != "starting" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert r.returncode == 1 and doc["health"] == "degraded", doc
    assert any(p.startswith("firewall (nftables)") for p in doc["problems"])
    text = sw("status", "--state-dir", str(d.state))
    assert text.returncode == 1 and "DEGRADED" in text.stdout and "PROBLEM: firewall" in text.stdout
    r = sw("ban", "192.0.2.99", "--state-dir", str(d.state))
    assert r.returncode == 1 and "firewall was NOT updated" in r.stderr
    assert "192.0.2.99" in sw("bans", "--state-dir", str(d.state)).stdout  # kept, applied when it works
    import urllib.request
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert "sipwarden_healthy 0.0" in metrics and "sipwarden_firewall_up 0.0" in metrics
    assert "Traceback" not in d.err.read_text()


def test_check_config_masks_secrets_and_reads_secret_files(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[wire]\nami = "127.0.0.1:5038"\nami_user = "secmon"\nami_secret = "Sup3rS3cretAMI"\n'
                   'hep_password = "Hep5ecretX"\n')
    r = sw("check-config", "--config", str(cfg))
    assert r.returncode == 0 and "Sup3rS3cretAMI" not in r.stdout + r.stderr and "Hep5ecretX" not in r.stdout
    assert 'ami_secret = "********"' in r.stdout and 'ami_user = "secmon"' in r.stdout
    # a wrong type names the key, never the value
    cfg.write_text('[wire]\nami_secret = 12345678\n')
    r = sw("check-config", "--config", str(cfg))
    assert r.returncode == 2 and "12345678" not in r.stderr and "wire.ami_secret" in r.stderr
    # secrets from files
    sec = tmp_path / "ami.secret"
    sec.write_text("FromFile99\n")
    sec.chmod(0o600)
    cfg.write_text(f'[wire]\nami = "127.0.0.1:5038"\nami_user = "secmon"\nami_secret_file = "{sec}"\n')
    r = sw("check-config", "--config", str(cfg))
    assert r.returncode == 0 and "FromFile99" not in r.stdout and f'ami_secret_file = "{sec}"' in r.stdout
    from sipwarden.config import load
    assert load(cfg).wire.ami_secret == "FromFile99"
    cfg.write_text(f'[wire]\nami_secret = "x"\nami_secret_file = "{sec}"\n')
    r = sw("check-config", "--config", str(cfg))
    assert r.returncode == 2 and "give one or the other" in r.stderr
    cfg.write_text(f'[wire]\nhep_password_file = "{tmp_path / "nope"}"\n')
    r = sw("check-config", "--config", str(cfg))
    assert r.returncode == 2 and "wire.hep_password_file: cannot read" in r.stderr


def free_tcp_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port() -> int:
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_secret_on_the_command_line_warns_and_file_option_does_not(tmp_path, daemons):
    sec = tmp_path / "hep.key"
    sec.write_text("K3yFromFile\n")
    d = Daemon(tmp_path, "--backend", "dry-run", "--hep", f"127.0.0.1:{free_port()}", "--hep-password", "Visible1")
    daemons.append(d)
    d.wait_socket()
    d.stop()
    out = d.err.read_text()
    assert "warning: --hep-password on the command line is visible" in out and "--hep-password-file" in out
    assert "Visible1" not in out  # neither echoed back nor logged
    d2 = Daemon(tmp_path, "--backend", "dry-run", "--hep", f"127.0.0.1:{free_port()}", "--hep-password-file", str(sec),
                name="d2")
    daemons.append(d2)
    d2.wait_socket()
    d2.stop()
    assert "warning" not in d2.err.read_text() and "K3yFromFile" not in d2.err.read_text()
    r = sw("run", "--watch", str(d.log), "--state-dir", str(d.state), "--backend", "dry-run",
           "--hep-password", "a", "--hep-password-file", str(sec))
    assert r.returncode == 2 and "give one or the other" in r.stderr


def test_operator_mistakes_are_one_line_and_status_2(tmp_path):
    (tmp_path / "log").write_text("")
    (tmp_path / "afile").write_text("")
    mistakes = [  # (argv, words): a state dir that cannot be, a log that is a directory, no such config
        (["run", "--watch", str(tmp_path / "log"), "--state-dir", str(tmp_path / "afile" / "state"),
          "--backend", "dry-run"], "Not a directory"),
        (["scan", str(tmp_path)], "not a regular file"),
        (["status", "--config", str(tmp_path / "nope.toml")], "no such file"),
        (["ban", "192.0.2.1", "--for", "soon", "--state-dir", str(tmp_path)], "'--for'"),
    ]
    if os.geteuid() != 0:  # root ignores modes: the permission case is for a plain user
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        mistakes.append((["run", "--watch", str(tmp_path / "log"), "--state-dir", str(ro / "state"), "--backend",
                          "dry-run"], "Permission denied"))
    for argv, words in mistakes:
        p = sw(*argv)
        assert p.returncode == 2, (argv, p.stderr)
        assert "Traceback" not in p.stderr and words in p.stderr, (argv, p.stderr)
        assert len([x for x in p.stderr.strip().splitlines()
                    if x.strip() and not x.startswith(("Usage:", "Try ", "sipwarden: NOT READ:"))]) == 1, p.stderr


def test_piped_tables_keep_addresses_whole(tmp_path):
    log = tmp_path / "messages"
    log.write_text("".join(
        f"[2026-11-24 19:29:{10 + i:02d}] NOTICE[1] chan_sip.c: Registration from '<sip:{100 + i}@x>' failed for "
        f"'[{V6}]:5060' - Wrong password\n" for i in range(6)))
    r = sw("scan", str(log), env={"COLUMNS": "40"})
    assert r.returncode == 0
    line = next(x for x in r.stdout.splitlines() if V6 in x)
    assert line.split()[0] == V6 and "bruteforce" in line.split()
    assert "│" not in r.stdout  # plain columns for a pipe, no box drawing
