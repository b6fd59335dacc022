"""The audit samples the README shows: the weak config trips every kind of check, the hardened one none."""

from __future__ import annotations

import json
import subprocess

from conftest import REPO
from warden import SIPWARDEN


def audit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SIPWARDEN, "audit", *args], capture_output=True, text=True, timeout=60)


def test_weak_sample_shows_the_classic_holes():
    r = audit(str(REPO / "samples" / "asterisk-weak"), "--format", "json")
    assert r.returncode == 1
    checks = {f["check"]: f for f in json.loads(r.stdout)["findings"]}
    for check in ("dialplan.toll-fraud", "sip.allowguest", "sip.alwaysauthreject", "pjsip.anonymous-endpoint",
                  "secret.dictionary", "secret.equals-username", "manager.bind-all", "manager.dangerous-write",
                  "logger.security-off", "sip.insecure-dynamic"):
        assert check in checks, check
    assert checks["dialplan.toll-fraud"]["severity"] == "critical"
    assert "amp111" not in r.stdout and "1234'" not in r.stdout  # secrets only masked


def test_hardened_sample_has_no_finding_at_all():
    r = audit(str(REPO / "samples" / "asterisk-hardened"), "--min-severity", "info")
    assert r.returncode == 0 and "No findings." in r.stdout, r.stdout
