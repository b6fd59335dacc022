"""`systemctl reload` (SIGHUP) and the sd_notify protocol, against the real daemon (dry-run backend)
with a real datagram socket standing in for systemd's NOTIFY_SOCKET."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from warden import SIPWARDEN

A, B, C = "203.0.113.5", "203.0.113.6", "198.51.100.7"


def failures(ip: str, n: int, start: int = 0) -> str:
    ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    return "".join(f"[{ts}] NOTICE[1] chan_sip.c: Registration from '<sip:{100 + start + i}@x>' failed for "
                   f"'{ip}:5060' - Wrong password\n" for i in range(n))


def ctl(state: Path, *args: str):  # noqa: ANN201
    p = subprocess.run([SIPWARDEN, *args, "--state-dir", str(state), "--format", "json"], capture_output=True,
                       text=True, timeout=20)
    return json.loads(p.stdout) if p.stdout.strip() else None


def wait(cond, what: str, proc: subprocess.Popen, err: Path, timeout: float = 30) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not cond():
        assert proc.poll() is None, err.read_text()
        assert time.monotonic() < deadline, f"timed out: {what}\n{err.read_text()[-3000:]}"
        time.sleep(0.05)


def test_sighup_reloads_thresholds_whitelist_bantime_keeps_state_and_notifies(tmp_path):
    log, state, cfg, err = tmp_path / "messages", tmp_path / "state", tmp_path / "c.toml", tmp_path / "d.err"
    log.write_text("")
    cfg.write_text('[log]\ntimezone = "UTC"\n[ban]\nbackend = "dry-run"\nbantime = 600\n'
                   '[whitelist]\nhost_addresses = false\n')
    notify_path = str(tmp_path / "notify")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(notify_path)
    srv.settimeout(30)
    env = {**os.environ, "NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "400000"}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([SIPWARDEN, "run", "--config", str(cfg), "--watch", str(log), "--state-dir", str(state)],
                            stdout=open(err, "w"), stderr=subprocess.STDOUT, env=env)  # noqa: SIM115
    got: list[str] = []

    def until(word: str) -> str:
        while True:
            msg = srv.recv(4096).decode()
            got.append(msg)
            if word in msg.split("\n"):
                return msg

    try:
        ready = until("READY=1")
        assert "STATUS=ok;" in ready or "STATUS=starting;" in ready, ready
        until("WATCHDOG=1")  # pinged while the loop turns (every WATCHDOG_USEC/2)
        until("WATCHDOG=1")
        with open(log, "a") as f:
            f.write(failures(A, 3))
        ctl(state, "ban", C, "--for", "1h")
        ctl(state, "ban", B, "--for", "1h")
        wait(lambda: (ctl(state, "status") or {}).get("lines") == 3, "3 lines read", proc, err)
        assert {b["ip"] for b in ctl(state, "bans")} == {B, C}
        # the new config: a lower threshold, a longer ban, C whitelisted
        cfg.write_text('[log]\ntimezone = "UTC"\n[detect]\nbruteforce_maxretry = 3\n'
                       '[ban]\nbackend = "dry-run"\nbantime = 3600\n'
                       f'[whitelist]\nhost_addresses = false\naddresses = ["{C}"]\n')
        proc.send_signal(signal.SIGHUP)
        until("RELOADING=1")
        until("READY=1")
        wait(lambda: "reloaded the config" in err.read_text(), "the reload log line", proc, err)
        bans = {b["ip"]: b for b in ctl(state, "bans")}
        assert set(bans) == {B}, bans  # B kept; C lifted (now whitelisted)
        assert f"lifted (now whitelisted): {C}" in err.read_text()
        # A's three failures were kept: one more reaches the new threshold of 3 (a fresh engine would need 3)
        with open(log, "a") as f:
            f.write(failures(A, 1, start=3))
        wait(lambda: A in {b["ip"] for b in ctl(state, "bans")}, "A banned under the new threshold", proc, err)
        a = next(b for b in ctl(state, "bans") if b["ip"] == A)
        assert 3500 < _seconds(a) <= 3600  # the new bantime
        # a broken config is refused; the daemon runs on with the last good one
        cfg.write_text("[detect]\nbruteforce_maxretry = 'x'\n")
        proc.send_signal(signal.SIGHUP)
        wait(lambda: "reload refused, the running config is kept" in err.read_text(), "the refusal", proc, err)
        assert proc.poll() is None and len(ctl(state, "bans")) == 2
        proc.send_signal(signal.SIGTERM)
        until("STOPPING=1")
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        srv.close()
    assert "Traceback" not in err.read_text()


def _seconds(ban: dict) -> float:
    from datetime import datetime
    start = datetime.fromisoformat(ban["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(ban["expires"].replace("Z", "+00:00"))
    return (end - start).total_seconds()
