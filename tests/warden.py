"""The `sipwarden` command as the system tests drive it: one place for its path, control calls, and
waiting for and stopping a daemon."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

SIPWARDEN = str(Path(sys.executable).with_name("sipwarden"))


def ctl(state: Path | str, *args: str) -> dict | list | None:
    """`sipwarden ARGS --state-dir STATE --json`, parsed; None when the command failed or said nothing."""
    p = subprocess.run([SIPWARDEN, *args, "--state-dir", str(state), "--json"], capture_output=True, text=True,
                       timeout=20)
    if p.returncode != 0 or not p.stdout.strip():
        return None
    return json.loads(p.stdout)


def stop(proc: subprocess.Popen | None, timeout: float = 10) -> None:
    """SIGTERM a daemon and wait for it; SIGKILL if it does not go within `timeout`."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_daemon(cond: Callable[[], object], what: str, proc: subprocess.Popen | None, log: Path,
                timeout: float = 30, step: float = 0.05) -> float:
    """Poll `cond` until true (the seconds it took); fail at once if the daemon exited, or after `timeout`,
    with the tail of its log."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"daemon exited: {log.read_text()[-2000:]}")
        if cond():
            return time.monotonic() - t0
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}; daemon log:\n{log.read_text()[-3000:]}")
