"""Notifications received by real local servers: a webhook (stdlib HTTP server) and mail (aiosmtpd)
through apprise; the digest counted right under a burst of 2,000 bans in a real daemon."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from httpwarden import HttpWarden, failure, free_port, login
from sipwarden.config import NotifyConfig
from sipwarden.daemon.bans import BanChange
from sipwarden.notify import Notifier
from sipwarden.notify.notifier import Destination
from sipwarden.notify.via_apprise import Apprise
from sipwarden.notify.webhook import Webhook


class Hook:
    """A webhook receiver on 127.0.0.1: keeps (time, JSON body); answers `fail` times 500 first."""

    def __init__(self, fail: int = 0, delay: float = 0.0) -> None:
        self.got: list[tuple[float, dict]] = []
        self.tries = 0
        self.fail = fail
        hook = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.tries += 1
                if delay:
                    time.sleep(delay)
                if hook.tries <= hook.fail:
                    self.send_response(500)
                    self.end_headers()
                    return
                hook.got.append((time.monotonic(), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a) -> None:  # noqa: ANN002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/SECRET-PART"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def kinds(self) -> list[str]:
        return [b["kind"] for _, b in self.got]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def change(ip: str, reason: str = "bruteforce", kind: str = "ban", events: int = 5) -> BanChange:
    return BanChange(kind, ip, reason, time.time() + 600, time.time(), "local",
                     {"ip": ip, "reason": reason, "events": events, "accounts": ["3000"], "evidence": f"{reason} seen"})


def wait(cond, timeout: float = 5.0) -> None:  # noqa: ANN001
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, "timed out"
        time.sleep(0.02)


async def _settle(cond, timeout: float = 5.0) -> None:  # noqa: ANN001
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, "timed out"
        await asyncio.sleep(0.02)


def test_compromise_at_once_bans_in_a_digest(hook):
    async def main() -> None:
        n = Notifier(NotifyConfig(digest_interval=60), [Webhook(hook.url, 5)])
        await n.start()
        await _settle(lambda: hook.kinds() == ["lifecycle"])
        t0 = time.monotonic()
        for i in range(3):
            n.on_change(change(f"203.0.113.{i + 1}"))
        n.on_change(change("203.0.113.77", "compromise"))
        await _settle(lambda: "compromise" in hook.kinds())
        assert time.monotonic() - t0 < 1.0 and "digest" not in hook.kinds()  # not held for the digest
        body = hook.got[-1][1]
        assert "203.0.113.77" in body["text"] and "compromised" in body["text"]  # Slack/Mattermost text
        await _settle(lambda: "digest" in hook.kinds())  # after the burst settles (COALESCE)
        digest = [b for _, b in hook.got if b["kind"] == "digest"][0]
        assert digest["data"]["bans"] == 3 and digest["data"]["by_reason"] == {"bruteforce": 3}
        n.on_change(change("203.0.113.1", kind="unban"))
        await asyncio.sleep(2.5)
        assert hook.kinds().count("digest") == 1  # an ended ban alone sends nothing...
        n.on_change(change("203.0.113.9"))
        await asyncio.sleep(2.5)
        assert hook.kinds().count("digest") == 1  # the next one waits for digest_interval
        await n.stop()
        assert hook.kinds()[-2:] == ["digest", "lifecycle"]  # pending digest flushed, then "stopped"
        last = [b for _, b in hook.got if b["kind"] == "digest"][-1]
        assert last["data"]["bans"] == 1 and last["data"]["unbans"] == 1  # ...it rides with the next one
        assert hook.got[-1][1]["data"]["event"] == "stopped"
    asyncio.run(main())


def test_retries_with_backoff_then_delivers():
    h = Hook(fail=2)
    try:
        async def main() -> dict:
            n = Notifier(NotifyConfig(backoff=0.05, retries=3), [Webhook(h.url, 5)])
            await n.start()
            await _settle(lambda: n.counts["sent"] == 1)
            await n.stop()
            return n.status()
        st = asyncio.run(main())
        assert h.tries >= 3 and st["failed"] == 0
    finally:
        h.close()


class Stuck(Destination):
    name = "stuck"

    async def send(self, m) -> None:  # noqa: ANN001
        await asyncio.sleep(3600)


def test_never_blocks_and_counts_drops():
    async def main() -> dict:
        n = Notifier(NotifyConfig(queue=3, timeout=30, retries=0), [Stuck()])
        await n.start()  # "started" is taken by the sender and hangs there
        await asyncio.sleep(0.05)
        t0 = time.perf_counter()
        for i in range(10):
            n.on_change(change(f"203.0.113.{i}", "compromise"))
        took = time.perf_counter() - t0
        st = n.status()
        t1 = time.monotonic()
        await n.stop()
        assert time.monotonic() - t1 < 5  # stop waits a bounded time for a stuck destination
        return {**st, "took": took}
    st = asyncio.run(main())
    assert st["took"] < 0.05
    assert st["queued"] == 3 and st["dropped"] == 7


def test_firewall_failure_and_recovery_once_each(hook):
    async def main() -> None:
        n = Notifier(NotifyConfig(), [Webhook(hook.url, 5)])
        await n.start()
        for err in (None, "nft: No such file", "nft: still broken", None, None):
            n.firewall(err, "nftables")
        await _settle(lambda: len(hook.got) == 3)
        await asyncio.sleep(0.2)
        await n.stop()
    asyncio.run(main())
    fw = [b for _, b in hook.got if b["kind"] == "firewall"]
    assert [b["data"]["up"] for b in fw] == [False, True]
    assert "FIREWALL FAILING" in fw[0]["text"] and "No such file" in fw[0]["text"]


def test_mail_through_apprise_to_a_local_smtp_server():
    from aiosmtpd.controller import Controller

    mails = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
            mails.append(envelope)
            return "250 OK"

    port = free_port()
    ctl = Controller(Handler(), hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        url = f"mailto://127.0.0.1:{port}?from=sipwarden@example.com&to=ops@example.com&mode=insecure"

        async def main() -> None:
            n = Notifier(NotifyConfig(), [Apprise(url)])
            await n.start()
            n.on_change(change("203.0.113.77", "compromise"))
            await _settle(lambda: len(mails) == 2, 15)  # apprise spaces requests to one server by 5.5 s
            await n.stop()
        asyncio.run(main())
        assert mails[1].rcpt_tos == ["ops@example.com"]
        text = mails[1].content.decode(errors="replace")
        assert "account compromised from 203.0.113.77" in text
    finally:
        ctl.stop()


@pytest.mark.system
def test_daemon_digest_counts_a_burst_of_2000_bans(tmp_path, hook):
    interval = 2
    w = HttpWarden(tmp_path, f'\n[notify]\nwebhook = ["{hook.url}"]\ndigest_interval = {interval}\n').start()
    try:
        wait(lambda: hook.kinds() == ["lifecycle"])
        for part in range(4):  # 4 x 500 over ~5 s: the burst spans several digest intervals
            lines = []
            for i in range(part * 500, part * 500 + 500):  # each its own /64 and account: nothing distributed
                ip = f"2001:db8:{i // 256:x}:{i % 256:x}::1"
                lines += [failure(f"[{ip}]", f"u{i}")] * 5
            w.append("".join(lines))
            time.sleep(1.2)
        wait(lambda: w.get("/api/v1/status")["bans"]["bans"] == 2000, 30)
        wait(lambda: sum(b["data"]["bans"] for _, b in hook.got if b["kind"] == "digest") >= 2000, 30)
        digests = [(t, b) for t, b in hook.got if b["kind"] == "digest"]
        assert sum(b["data"]["bans"] for _, b in digests) == 2000
        assert sum(b["data"]["by_reason"].get("bruteforce", 0) for _, b in digests) == 2000
        assert all(len(b["data"]["top_sources"]) <= 10 for _, b in digests)
        gaps = [b[0] - a[0] for a, b in zip(digests, digests[1:], strict=False)]
        assert all(g >= interval - 0.3 for g in gaps), gaps  # at most one digest per interval
        assert 2 <= len(digests) <= 5
        st = w.get("/api/v1/status")["notify"]
        assert st["dropped"] == 0 and st["failed"] == 0
    finally:
        assert w.stop() == 0
    assert hook.kinds()[-1] == "lifecycle" and hook.got[-1][1]["data"]["event"] == "stopped"
    assert "SECRET-PART" not in w.stderr.read_text()  # the webhook URL (a secret) is never logged


@pytest.mark.system
def test_daemon_sends_a_compromise_at_once(tmp_path, hook):
    """Six wrong passwords (a bruteforce ban), then a login on that account: the compromise replaces
    the ban and is sent at once, not held for the digest."""
    w = HttpWarden(tmp_path, f'\n[notify]\nwebhook = ["{hook.url}"]\ndigest_interval = 60\n').start()
    try:
        wait(lambda: hook.kinds() == ["lifecycle"])
        w.append("".join(failure("203.0.113.50", "3000") for _ in range(6)))
        wait(lambda: "203.0.113.50" in w.banned())
        t0 = time.monotonic()
        w.append(login("203.0.113.50", "3000"))
        wait(lambda: "compromise" in hook.kinds(), 3)
        assert time.monotonic() - t0 < 1.5
        body = [b for _, b in hook.got if b["kind"] == "compromise"][0]
        assert body["data"]["ip"] == "203.0.113.50" and "3000" in body["text"]
        bans = w.get("/api/v1/bans")["bans"]
        assert [(b["ip"], b["reason"], b["offence"]) for b in bans] == [("203.0.113.50", "compromise", 2)]
        wait(lambda: "digest" in hook.kinds(), 5)  # the first (bruteforce) ban, in a digest after the burst
        digest = [b for _, b in hook.got if b["kind"] == "digest"][0]
        assert digest["data"]["by_reason"] == {"bruteforce": 1}
    finally:
        w.stop()


@pytest.mark.system
def test_daemon_reports_its_firewall_failing(hook):
    """A daemon that may not touch the firewall (CAP_NET_ADMIN dropped, nftables backend) says so at once.
    (capsh as root rather than a switch to nobody: nobody cannot run the venv of a clone that lives under
    a private directory, such as a fresh clone in a mktemp dir.)"""
    import os
    import shutil
    import signal
    import subprocess
    import tempfile

    from warden import SIPWARDEN
    if os.geteuid() != 0 or not shutil.which("capsh"):
        pytest.skip("needs root and capsh (to drop CAP_NET_ADMIN)")
    d = tempfile.mkdtemp(prefix="sw-fw-")
    try:
        os.chmod(d, 0o777)
        log = os.path.join(d, "messages")
        open(log, "w").close()
        os.chmod(log, 0o666)
        conf = os.path.join(d, "c.toml")
        with open(conf, "w") as fh:
            fh.write(f'[notify]\nwebhook = ["{hook.url}"]\n[whitelist]\nhost_addresses = false\n')
        os.chmod(conf, 0o644)
        p = subprocess.Popen(["capsh", "--drop=cap_net_admin", "--", "-c", 'exec "$0" "$@"', SIPWARDEN, "run",
                              "--config", conf, "--watch", log, "--backend", "nftables", "--state-dir",
                              os.path.join(d, "st")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait(lambda: "firewall" in hook.kinds(), 10)
        finally:
            p.send_signal(signal.SIGTERM)
            _, err = p.communicate(timeout=15)
        fw = [b for _, b in hook.got if b["kind"] == "firewall"]
        assert len(fw) == 1 and fw[0]["data"]["up"] is False and "not permitted" in fw[0]["text"]
        assert hook.kinds()[0] == "lifecycle" and hook.kinds()[-1] == "lifecycle", hook.kinds()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_check_config_never_shows_notification_urls(tmp_path):
    import subprocess

    from warden import SIPWARDEN
    conf = tmp_path / "c.toml"
    conf.write_text('[notify]\nwebhook = ["https://hooks.example.com/services/T0/B0/XSECRETX"]\n'
                    'apprise = ["tgram://123456:BOTSECRET/987"]\n')
    out = subprocess.run([SIPWARDEN, "check-config", "--config", str(conf)], capture_output=True, text=True).stdout
    assert "hooks.example.com" in out and "XSECRETX" not in out and "BOTSECRET" not in out


def test_a_bad_apprise_url_is_one_line_and_stays_secret(tmp_path):
    import subprocess

    from warden import SIPWARDEN
    (tmp_path / "c.toml").write_text('[notify]\napprise = ["nosuchscheme://user:TOPSECRET@host/TOKENPART"]\n')
    (tmp_path / "m").touch()
    p = subprocess.run([SIPWARDEN, "run", "--config", str(tmp_path / "c.toml"), "--watch", str(tmp_path / "m"),
                        "--backend", "dry-run", "--state-dir", str(tmp_path / "st")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "apprise does not understand" in p.stderr.splitlines()[-1]
    assert "TOPSECRET" not in p.stderr and "TOKENPART" not in p.stderr and "Traceback" not in p.stderr
