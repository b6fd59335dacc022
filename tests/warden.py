"""The `sipwarden` command as the system tests drive it: one place for its path and control calls."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SIPWARDEN = str(Path(sys.executable).with_name("sipwarden"))


def ctl(state: Path | str, *args: str) -> dict | list | None:
    """`sipwarden ARGS --state-dir STATE --json`, parsed; None when the command failed or said nothing."""
    p = subprocess.run([SIPWARDEN, *args, "--state-dir", str(state), "--json"], capture_output=True, text=True,
                       timeout=20)
    if p.returncode != 0 or not p.stdout.strip():
        return None
    return json.loads(p.stdout)
