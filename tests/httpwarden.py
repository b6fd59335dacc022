"""A real `sipwarden run --http` for the HTTP, metrics, dashboard and notification tests: dry-run
backend, one watched log file, a token file, a free loopback port; started and stopped by the test."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

from warden import SIPWARDEN


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def failure(ip: str, account: str) -> str:
    """One chan_sip wrong-password line from `ip`, stamped now (as the PBX writes it)."""
    now = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    return (f"[{now}] NOTICE[2211] chan_sip.c: Registration from '<sip:{account}@pbx.example.com>' failed for "
            f"'{ip}:5060' - Wrong password\n")


class HttpWarden:
    def __init__(self, tmp: Path, extra_config: str = "", token: bool = True) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "messages"
        self.log.write_text("")
        self.token = secrets.token_urlsafe(24) if token else None
        conf = f'[http]\nlisten = "127.0.0.1:{self.port}"\n'
        if token:
            tf = tmp / "token"
            tf.write_text(self.token + "\n")
            tf.chmod(0o600)
            conf += f'token_file = "{tf}"\n'
        (tmp / "c.toml").write_text(conf + extra_config)
        self.stderr = tmp / "daemon.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> HttpWarden:
        self.proc = subprocess.Popen([SIPWARDEN, "run", "--config", str(self.tmp / "c.toml"), "--watch", str(self.log),
                                      "--backend", "dry-run", "--state-dir", str(self.tmp / "st")],
                                     stdout=subprocess.DEVNULL, stderr=open(self.stderr, "w"))  # noqa: SIM115
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                self.get("/api/v1/status")
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"daemon exited: {self.stderr.read_text()[-2000:]}") from None
                time.sleep(0.05)
        raise RuntimeError(f"no HTTP after 15 s: {self.stderr.read_text()[-2000:]}")

    def stop(self) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self.proc = None

    def append(self, text: str) -> None:
        with open(self.log, "a") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    def attack(self, ip: str, n: int = 6) -> None:
        self.append("".join(failure(ip, str(100 + k)) for k in range(n)))

    def request(self, method: str, path: str, body: bytes | dict | None = None, token: str | None = None,
                headers: dict | None = None) -> tuple[int, dict | str, dict]:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        h = dict(headers or {})
        if isinstance(body, dict):
            h.setdefault("Content-Type", "application/json")
        if token:
            h["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                code, raw, hdrs = r.status, r.read(), {k.lower(): v for k, v in r.headers.items()}
        except urllib.error.HTTPError as e:
            code, raw, hdrs = e.code, e.read(), {k.lower(): v for k, v in e.headers.items()}
        try:
            return code, json.loads(raw), hdrs
        except ValueError:
            return code, raw.decode(errors="replace"), hdrs

    def get(self, path: str, token: str | None = None) -> dict | str:
        code, doc, _ = self.request("GET", path, token=token)
        if code != 200:
            raise AssertionError(f"GET {path}: {code} {doc}")
        return doc

    def wait_for(self, cond, what: str, timeout: float = 5.0) -> float:  # noqa: ANN001
        """Seconds until cond() holds (AssertionError after timeout). A page element the dashboard
        re-rendered between finding it and reading it (selenium's stale element) is "not yet"."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            try:
                if cond():
                    return time.monotonic() - t0
            except Exception as e:
                if type(e).__name__ != "StaleElementReferenceException":
                    raise
            time.sleep(0.02)
        raise AssertionError(f"not within {timeout}s: {what}")

    def banned(self) -> set[str]:
        return {b["ip"] for b in self.get("/api/v1/bans")["bans"]}


def login(ip: str, account: str) -> str:
    """One security-log SuccessfulAuth from `ip` on `account`, stamped now."""
    now = datetime.now()
    tv = datetime.now().astimezone().strftime("%Y-%m-%dT%H:%M:%S.000%z")
    return (f"[{now.strftime('%b %d %H:%M:%S')}] SECURITY[20032] res_security_log.c: SecurityEvent=\"SuccessfulAuth\","
            f"EventTV=\"{tv}\",Severity=\"Informational\",Service=\"SIP\",EventVersion=\"1\",AccountID=\"{account}\","
            f"SessionID=\"0x7f73e800a040\",LocalAddress=\"IPV4/UDP/127.0.0.1/5060\","
            f"RemoteAddress=\"IPV4/UDP/{ip}/5061\",UsingPassword=\"1\"\n")


def unknown_account(ip: str, account: str) -> str:
    """One security-log InvalidAccountID from `ip` naming `account` (attacker text), stamped now."""
    now = datetime.now()
    tv = now.astimezone().strftime("%Y-%m-%dT%H:%M:%S.000%z")
    return (f"[{now.strftime('%b %d %H:%M:%S')}] SECURITY[20032] res_security_log.c: SecurityEvent=\"InvalidAccountID\","
            f"EventTV=\"{tv}\",Severity=\"Error\",Service=\"PJSIP\",EventVersion=\"1\",AccountID=\"{account}\","
            f"SessionID=\"7605\",LocalAddress=\"IPV4/UDP/127.0.0.1/5060\",RemoteAddress=\"IPV4/UDP/{ip}/5060\"\n")
