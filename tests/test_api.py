"""The daemon's HTTP side against a real `sipwarden run --http` (dry-run firewall): API, auth,
bounds, Prometheus text checked with prometheus-client's own parser, OpenAPI, refusing to start."""

from __future__ import annotations

import socket
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import Request

from httpwarden import HttpWarden, free_port
from sipwarden.api.app import Api
from warden import SIPWARDEN


@pytest.fixture
def warden(tmp_path):
    w = HttpWarden(tmp_path).start()
    yield w
    w.stop()


def metrics(w: HttpWarden) -> dict[tuple[str, tuple], float]:
    out = {}
    for fam in text_string_to_metric_families(w.get("/metrics")):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_attack_is_banned_listed_counted(warden):
    warden.attack("203.0.113.44")
    warden.wait_for(lambda: "203.0.113.44" in warden.banned(), "the attacker in /api/v1/bans", 2.0)
    warden.wait_for(lambda: metrics(warden).get(("sipwarden_ban_latency_seconds_count", ())) == 1,
                    "the ban's latency observed once the kernel has it", 2.0)
    m = metrics(warden)
    assert m[("sipwarden_bans_total", (("origin", "local"), ("reason", "bruteforce")))] == 1
    assert m[("sipwarden_active_bans", ())] == 1
    assert m[("sipwarden_events_total", (("kind", "auth_failed"),))] == 6
    assert m[("sipwarden_lines_total", ())] == 6
    assert m[("sipwarden_verdicts_total", (("reason", "bruteforce"),))] == 1
    assert m[("sipwarden_firewall_up", ())] == 1
    assert m[("sipwarden_errors_total", (("stage", "engine"),))] == 0
    assert m[("sipwarden_ban_latency_seconds_count", ())] == 1
    assert 0 < m[("sipwarden_ban_latency_seconds_sum", ())] < 1.0
    assert ("sipwarden_wire_hep_packets_total", ()) in m  # the wire counters are there (0 without sources)
    tl = warden.get("/api/v1/timeline?since=-3600")
    assert tl["kinds"] == ["auth_failed"] and sum(p[1] for p in tl["points"]) == 6
    ev = warden.get("/api/v1/events?limit=4")["events"]
    assert len(ev) == 4 and {e["ip"] for e in ev} == {"203.0.113.44"} and ev[-1]["account"] == "105"
    bl = warden.get("/api/v1/bans/timeline?since=-3600")
    assert sum(p[1] for p in bl["points"]) == 1
    rep = warden.get("/api/v1/report?since=-3600")
    assert rep["verdicts"][0]["ip"] == "203.0.113.44" and rep["summary"]["events"] == 6
    assert rep["sources"][0]["accounts"] == 6 and rep["accounts"][0]["status"] == "existing"
    st = warden.get("/api/v1/status")
    assert st["running"] and st["http"]["token"] is True and st["notify"]["sent"] == 0
    out = subprocess.run([SIPWARDEN, "status", "--state-dir", str(warden.tmp / "st")], capture_output=True,
                         text=True).stdout
    assert f"http: http://127.0.0.1:{warden.port}/ (writes need the token)" in out


def test_writes_need_the_right_token(warden):
    ban = {"ip": "203.0.113.99", "for": "1h", "reason": "manual"}
    for token in (None, "wrong-" + warden.token, warden.token[:-1], warden.token + "x"):
        code, doc, hdrs = warden.request("POST", "/api/v1/bans", ban, token=token)
        assert code == 401 and "Bearer" in hdrs.get("www-authenticate", "")
    code, _, _ = warden.request("POST", "/api/v1/bans", ban, headers={"Authorization": warden.token})  # no scheme
    assert code == 401
    assert "203.0.113.99" not in warden.banned()
    code, doc, _ = warden.request("POST", "/api/v1/bans", ban, token=warden.token)
    assert code == 201 and doc["ban"]["ip"] == "203.0.113.99" and doc["ban"]["manual"]
    assert "203.0.113.99" in warden.banned()
    assert warden.request("DELETE", "/api/v1/bans/203.0.113.99")[0] == 401
    assert "203.0.113.99" in warden.banned()
    code, doc, _ = warden.request("DELETE", "/api/v1/bans/203.0.113.99", token=warden.token)
    assert code == 200 and doc["lifted"] is True
    assert "203.0.113.99" not in warden.banned()
    assert warden.request("DELETE", "/api/v1/bans/203.0.113.99", token=warden.token)[0] == 404
    code, doc, _ = warden.request("POST", "/api/v1/bans", {"ip": "2001:db8::/48", "for": 60}, token=warden.token)
    assert code == 201 and "2001:db8::/48" in warden.banned()
    assert warden.request("DELETE", "/api/v1/bans/2001:db8::/48", token=warden.token)[0] == 200
    m = metrics(warden)
    assert m[("sipwarden_bans_total", (("origin", "api"), ("reason", "manual")))] == 2
    assert m[("sipwarden_unbans_total", (("by", "api"),))] == 2
    log = warden.stderr.read_text()
    assert warden.token not in log and warden.token[:-1] not in log  # never logged, right or wrong


def test_bad_requests_are_refused_clearly(warden):
    t = warden.token
    cases = [
        ({"ip": "not-an-ip"}, 400), ({"ip": "203.0.113.5", "for": "soon"}, 400), ({"ip": "203.0.113.5", "for": -5}, 400),
        ({"ip": "203.0.113.5", "extra": 1}, 400), ({"ip": "0.0.0.0/0"}, 400), ({}, 400),
    ]
    for body, want in cases:
        code, doc, _ = warden.request("POST", "/api/v1/bans", body, token=t)
        assert code == want and doc["error"], (body, code, doc)
    code, _, _ = warden.request("POST", "/api/v1/bans", b"ip=203.0.113.5", token=t,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert code == 415  # a form post is not JSON: refused
    code, _, _ = warden.request("POST", "/api/v1/bans", b"{nope", token=t, headers={"Content-Type": "application/json"})
    assert code == 400
    big = b'{"ip": "203.0.113.5", "reason": "' + b"x" * 20000 + b'"}'
    code, _, _ = warden.request("POST", "/api/v1/bans", big, token=t, headers={"Content-Type": "application/json"})
    assert code == 413
    # chunked (no Content-Length): the bound holds while it arrives
    with socket.create_connection(("127.0.0.1", warden.port), timeout=5) as s:
        s.sendall(b"POST /api/v1/bans HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + t.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(10):
            s.sendall(b"1000\r\n" + b" " * 4096 + b"\r\n")
        s.sendall(b"0\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 413")
    assert warden.request("GET", "/api/v1/events?limit=abc")[0] == 400
    assert warden.banned() == set()
    assert warden.proc.poll() is None


def test_no_cors(warden):
    code, _, hdrs = warden.request("GET", "/api/v1/bans", headers={"Origin": "https://evil.example"})
    assert code == 200 and not any(k.lower().startswith("access-control-") for k in hdrs)
    code, _, hdrs = warden.request("OPTIONS", "/api/v1/bans", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert code == 405 and not any(k.lower().startswith("access-control-") for k in hdrs)


def test_openapi_lists_every_route(warden):
    doc = warden.get("/api/v1/openapi.json")
    assert doc["openapi"].startswith("3.")
    assert {"/api/v1/status", "/api/v1/bans", "/api/v1/bans/{ip}", "/api/v1/events", "/api/v1/timeline",
            "/api/v1/bans/timeline", "/api/v1/report", "/metrics", "/"} <= set(doc["paths"])
    assert doc["paths"]["/api/v1/bans"]["post"]["security"] == [{"bearer": []}]


def _req(host: str, method: str = "GET", auth: str | None = None, path: str = "/api/v1/bans") -> Request:
    headers = [(b"authorization", auth.encode())] if auth else []
    return Request({"type": "http", "method": method, "path": path, "headers": headers, "client": (host, 40000),
                    "query_string": b""})


@pytest.mark.parametrize("host,auth,ok", [
    ("127.0.0.1", None, True), ("::1", None, True), ("127.8.9.1", None, True), ("::ffff:127.0.0.1", None, True),
    ("192.0.2.5", None, False), ("2001:db8::5", None, False), ("192.0.2.5", "Bearer wrong-token-0123456789", False),
    ("192.0.2.5", "Bearer right-token-0123456789", True)])
def test_reads_open_only_on_loopback(host, auth, ok):
    api = Api(None, None, "right-token-0123456789", 1000, 6)
    assert (api.access(_req(host, auth=auth)) is None) is ok
    assert api.access(_req(host, path="/")) is None  # the dashboard shell holds no data
    assert api.access(_req("127.0.0.1", "POST")) is not None  # loopback does not make a write free


def test_writes_refused_without_a_token_file(tmp_path):
    w = HttpWarden(tmp_path, token=False).start()
    try:
        code, doc, _ = w.request("POST", "/api/v1/bans", {"ip": "203.0.113.5"}, token="anything-at-all-0123")
        assert code == 401 and "token_file" in doc["error"]
        assert w.banned() == set()
    finally:
        w.stop()


def _run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "m").touch()
    return subprocess.run([SIPWARDEN, "run", "--watch", str(tmp_path / "m"), "--backend", "dry-run", "--state-dir",
                           str(tmp_path / "st"), *args], capture_output=True, text=True, timeout=20)


def test_refuses_to_start_beyond_loopback_without_a_token(tmp_path):
    p = _run(tmp_path, "--http", f"0.0.0.0:{free_port()}")
    assert p.returncode != 0 and "without http.token_file" in p.stderr and "Traceback" not in p.stderr
    tf = tmp_path / "token"
    tf.write_text("a-long-enough-token-0123456789\n")
    tf.chmod(0o644)
    (tmp_path / "c.toml").write_text(f'[http]\ntoken_file = "{tf}"\n')
    p = _run(tmp_path, "--config", str(tmp_path / "c.toml"), "--http", f"0.0.0.0:{free_port()}")
    assert p.returncode != 0 and "chmod 600" in p.stderr and "a-long-enough" not in p.stderr
    p = _run(tmp_path, "--http", "127.0.0.1:99999")
    assert p.returncode != 0 and "not ADDR:PORT" in p.stderr


def test_port_in_use_is_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        p = _run(tmp_path, "--http", f"127.0.0.1:{s.getsockname()[1]}")
    assert p.returncode != 0 and "cannot listen" in p.stderr and "Traceback" not in p.stderr
