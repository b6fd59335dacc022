"""Blocklists in the kernel (root): the daemon in a network namespace loads a list served over HTTP
into its own interval sets; the listed attacker's packets are dropped, a whitelisted address on the
list still passes, nothing is counted as a ban; a refresh while the server fails keeps the list; a
50k-entry list loads; `blocklist list|refresh` and `bans --format plain` work from the CLI."""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
import time

import pytest

from netns import ATK4, ATK4_EXTRA, LEGIT4, SRV4, topology, unavailable
from warden import SIPWARDEN, ctl

pytestmark = [pytest.mark.system, pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))]

BODY = {"ok": f"{ATK4}\n{LEGIT4}\n# comment\n".encode(), "fail": None}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = BODY["ok"]
        if body is None:
            self.send_error(503)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a) -> None:  # noqa: ANN002
        pass


def test_blocklists_in_the_kernel(tmp_path):
    # the daemon runs in srv: the list is served on srv's loopback, from a socket made inside srv
    import socket

    from netns import socket_in
    BODY["ok"] = f"{ATK4}\n{LEGIT4}\n# comment\n".encode()
    with topology("swb") as topo:
        sock = socket_in(topo.srv, socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        srv.socket.close()
        srv.socket = sock
        srv.server_address = sock.getsockname()
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{srv.server_address[1]}/list"
        big = tmp_path / "big.txt"
        big.write_text("".join(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}\n" for i in range(0, 100_000, 2)))
        table = "swbl"
        cfg = tmp_path / "sw.toml"
        cfg.write_text(f'[ban]\ntable = "{table}"\n[whitelist]\naddresses = ["{LEGIT4}"]\n'
                       f'[blocklists]\nsources = ["{url}", "{big}"]\ninterval = 60\n')
        state = tmp_path / "state"
        log = tmp_path / "messages"
        log.write_text("")
        err = open(tmp_path / "daemon.err", "w")  # noqa: SIM115
        proc = subprocess.Popen(["ip", "netns", "exec", topo.srv, SIPWARDEN, "run", "--config", str(cfg), "--watch",
                                 str(log), "--state-dir", str(state)], stdout=err, stderr=err)
        try:
            listener = topo.udp_listener()
            atk = topo.udp_client(topo.atk, ATK4)
            other = topo.udp_client(topo.atk, ATK4_EXTRA[0])
            legit = topo.udp_client(topo.legit, LEGIT4)
            deadline = time.monotonic() + 20
            info = None
            while time.monotonic() < deadline:
                r = ctl(state, "blocklist", "list", "--config", str(cfg))
                if r and r["entries"] >= 50_001 and (r["loaded"] or r["kernel_error"]):
                    info = r
                    break
                time.sleep(0.2)
            assert info is not None, (tmp_path / "daemon.err").read_text()[-2000:]
            assert info["entries_v4"] == 50_001 and info["kernel_error"] is None  # ATK4 + 50k; LEGIT4 whitelisted
            got = topo.nft_cmd("get", "element", "inet", table, "bl4", f"{{ {ATK4} }}", check=False)
            assert got.returncode == 0
            assert topo.nft_cmd("get", "element", "inet", table, "bl4", f"{{ {LEGIT4} }}", check=False).returncode != 0
            assert topo.delivered(listener, atk, SRV4, 3) == 0
            assert topo.delivered(listener, legit, SRV4, 3) == 3
            assert topo.delivered(listener, other, SRV4, 3) == 3
            assert ctl(state, "bans") == []  # lists are not bans
            assert ctl(state, "status")["active_bans"] == 0

            # the server fails: a refresh keeps the last good list, and says so
            BODY["ok"] = None
            p = subprocess.run([SIPWARDEN, "blocklist", "refresh", "--config", str(cfg), "--state-dir", str(state),
                                "--json"], capture_output=True, text=True, timeout=60)
            assert p.returncode == 1
            src = next(s for s in json.loads(p.stdout)["sources"] if s["source"] == url)
            assert src["error"] == "HTTP 503" and src["entries"] == 2
            assert topo.delivered(listener, atk, SRV4, 3) == 0

            # the server comes back with another list: the set is replaced in one transaction
            BODY["ok"] = f"{ATK4_EXTRA[0]}\n".encode()
            p = subprocess.run([SIPWARDEN, "blocklist", "refresh", "--config", str(cfg), "--state-dir", str(state)],
                               capture_output=True, text=True, timeout=60)
            assert p.returncode == 0, p.stdout + p.stderr
            assert topo.delivered(listener, atk, SRV4, 3) == 3
            assert topo.delivered(listener, other, SRV4, 3) == 0

            # our bans exported as a list another host can import
            subprocess.run([SIPWARDEN, "ban", "203.0.113.77", "--state-dir", str(state)], check=True,
                           capture_output=True, timeout=20)
            p = subprocess.run([SIPWARDEN, "bans", "--format", "plain", "--state-dir", str(state)], capture_output=True,
                               text=True, timeout=20)
            assert p.stdout.splitlines()[1:] == ["203.0.113.77"]
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            srv.shutdown()
