"""Wire sources with real sockets on 127.0.0.1: the daemon (a subprocess, dry-run backend) fed the
Asterisk 20 corpus as HEP over UDP and TCP, hostile datagrams, the pure intake, and the listen-address parsers (addr.py)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ASTERISK20, DATA
from sipwarden.addr import parse_hostport, parse_listen
from sipwarden.config import ConfigError, from_dict
from sipwarden.parsers.packets import PacketIntake

SIPWARDEN = str(Path(sys.executable).with_name("sipwarden"))
PASSWORD = "devcorpus-hep"
# Attackers with HEP traffic in each run (HEP mirrors only PJSIP here: the chan_sip-only attackers
# .20, .21, .30 and dev1's .40 never appear in hep.bin; truth.json: hep_datagrams_about_this_ip).
HEP_ATTACKERS = {"dev1_alwaysauthreject_no": {"127.0.1.22", "127.0.1.23", "127.0.1.31", "127.0.1.32", "127.0.1.50"},
                 "dev2_alwaysauthreject_yes": {"127.0.1.22", "127.0.1.23", "127.0.1.31", "127.0.1.32", "127.0.1.40",
                                               "127.0.1.50"}}
LEGIT = {"127.0.1.10", "127.0.1.11", "127.0.1.12", "127.0.0.1"}


def hep_datagrams(run: str) -> list[bytes]:
    data = gzip.decompress((ASTERISK20 / run / "hep.bin.gz").read_bytes())
    out, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from("!I", data, pos)
        out.append(data[pos + 4:pos + 4 + n])
        pos += 4 + n
    return out


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (bounded tries)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise AssertionError("no free port")


class Daemon:
    def __init__(self, tmp: Path, *args: str) -> None:
        self.state = tmp / "state"
        self.err = tmp / "daemon.err"
        cfg = tmp / "sw.toml"
        cfg.write_text('[ban]\nbackend = "dry-run"\n')
        with open(self.err, "w") as err:
            self.proc = subprocess.Popen([SIPWARDEN, "run", "--config", str(cfg), "--state-dir", str(self.state),
                                          *args], stdout=err, stderr=err)
        self.wait(lambda: (self.ctl("status") or {}).get("running") is True, "control socket")

    def ctl(self, *args: str) -> dict | list | None:
        p = subprocess.run([SIPWARDEN, *args, "--state-dir", str(self.state), "--json"], capture_output=True,
                           text=True, timeout=20)
        return json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else None

    def wire(self) -> dict:
        return (self.ctl("status") or {}).get("wire", {})

    def bans(self) -> set[str]:
        return {b["ip"] for b in self.ctl("bans") or []}

    def wait(self, cond, what: str, timeout: float = 15.0) -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited: {self.err.read_text()[-2000:]}")
            if cond():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; daemon log:\n{self.err.read_text()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def daemon(tmp: Path, *args: str):  # noqa: ANN201
    d = Daemon(tmp, *args)
    try:
        yield d
    finally:
        d.stop()


def send_udp(port: int, datagrams: list[bytes], pace: int = 500) -> None:
    """Send on loopback, pausing 1 ms every `pace` datagrams (kind to the receive buffer)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i, d in enumerate(datagrams):
            s.sendto(d, ("127.0.0.1", port))
            if i % pace == pace - 1:
                time.sleep(0.001)


@pytest.mark.parametrize("run", ["dev1_alwaysauthreject_no", "dev2_alwaysauthreject_yes"])
def test_hep_udp_corpus_bans_attackers_only(tmp_path, run):
    grams = hep_datagrams(run)
    port = free_port()
    with daemon(tmp_path, "--hep", f"127.0.0.1:{port}", "--hep-password", PASSWORD) as d:
        send_udp(port, grams)
        d.wait(lambda: d.wire().get("hep_packets") == len(grams), "every datagram counted")
        w = d.wire()
        assert (w["hep_rejected"], w["parse_errors"], w["sip_messages"]) == (0, 0, len(grams))
        assert w["hep_udp_drops"] == 0 and w["hep_queue_drops"] == 0
        d.wait(lambda: d.bans() >= HEP_ATTACKERS[run], "attackers banned")
        assert not d.bans() & LEGIT
        assert not any("/" in ip for ip in d.bans())


def test_hep_password_junk_and_tcp(tmp_path):
    grams = hep_datagrams("dev2_alwaysauthreject_yes")
    forged = [g.replace(PASSWORD.encode(), b"devcorpus-XXX") for g in grams[:50]]
    assert all(len(f) == len(g) for f, g in zip(forged, grams, strict=False))
    junk = [b"", b"HEP3", b"HEP3\xff\xff" + b"\x00" * 40, b"\x02\x10\x02" + b"\xff" * 13, bytes(range(256)) * 4,
            b"INVITE sip:x SIP/2.0\r\n\r\n"]
    port = free_port()
    with daemon(tmp_path, "--hep", f"127.0.0.1:{port}", "--hep-password", PASSWORD) as d:
        send_udp(port, forged + junk)
        d.wait(lambda: d.wire().get("hep_rejected") == len(forged), "forged packets rejected")
        d.wait(lambda: d.wire().get("parse_errors") == len(junk), "junk counted")
        assert d.wire()["hep_packets"] == 0 and d.bans() == set()
        # the real stream over TCP, in odd-sized pieces, then a connection speaking junk
        blob = b"".join(grams)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            for i in range(0, len(blob), 7777):
                c.sendall(blob[i:i + 7777])
        d.wait(lambda: d.wire().get("hep_packets") == len(grams), "TCP HEP counted")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        d.wait(lambda: d.wire().get("parse_errors") == len(junk) + 1, "junk stream counted")
        d.wait(lambda: d.bans() >= HEP_ATTACKERS["dev2_alwaysauthreject_yes"], "attackers banned over TCP")
        assert not d.bans() & LEGIT
        assert d.proc.poll() is None


def test_intake_never_bans_the_pbx_and_marks_digests():
    reg = (b"REGISTER sip:pbx SIP/2.0\r\nVia: SIP/2.0/UDP 6.6.6.6\r\nFrom: <sip:1001@pbx>;tag=1\r\n"
           b"To: <sip:1001@pbx>\r\nCall-ID: a\r\nCSeq: 2 REGISTER\r\n"
           b'Authorization: Digest username="1001", realm="r", nonce="n", uri="sip:pbx", response="abc"\r\n\r\n')
    w = PacketIntake(frozenset({"10.0.0.1"}))
    (e,) = w.sip(reg, "203.0.113.7", 5060, "10.0.0.1", 5060, 1.0, "udp")
    assert (e.ip, e.detail) == ("203.0.113.7", "digest")
    assert w.sip(reg, "10.0.0.1", 5060, "203.0.113.7", 5060, 1.0, "udp") == []
    assert w.sip(b"\x00junk", "203.0.113.7", 5060, "10.0.0.1", 5060, 1.0, "udp") == []
    assert w.counters["parse_errors"] == 1


def test_listen_addresses_and_wire_config():
    assert parse_listen("9060") == ("0.0.0.0", 9060)
    assert parse_listen("127.0.0.1:9061") == ("127.0.0.1", 9061)
    assert parse_listen("[::]:9060") == ("::", 9060)
    assert parse_hostport("pbx.example:5038") == ("pbx.example", 5038)
    for bad in ("x", "99999", "::1:9060", "[zz]:1", "h:0", "\uff15\uff10\uff16\uff10", "9" * 5000):  # fullwidth digits
        with pytest.raises(ValueError, match="not|expected") as e:
            parse_listen(bad)
        assert len(str(e.value)) < 120  # one short line, whatever the operator typed
    cfg = from_dict({"wire": {"hep": ["0.0.0.0:9060", "[::]:9060"], "hep_password": "s", "capture": ["eth0"],
                              "ami": "127.0.0.1:5038", "ami_user": "u", "ami_secret": "p",
                              "pbx_addresses": ["192.0.2.1"]}})
    assert cfg.wire.hep == ("0.0.0.0:9060", "[::]:9060")
    for bad in ({"hep": ["nope"]}, {"ami": "h:1"}, {"pbx_addresses": ["x"]}, {"ami": "h:1", "ami_user": "u",
                                                                             "ami_secret": "a\r\nAction: x"}):
        with pytest.raises(ConfigError):
            from_dict({"wire": bad})


# --- sipwarden scan on capture files ---------------------------------------------------------------

CORPUS_ATTACKERS = {"127.0.1.20", "127.0.1.21", "127.0.1.22", "127.0.1.23", "127.0.1.30", "127.0.1.31",
                    "127.0.1.32", "127.0.1.40", "127.0.1.50"}


def scan(*args: str) -> tuple[dict[str, dict], str]:
    p = subprocess.run([SIPWARDEN, "scan", "--format", "json", *args], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return {d["ip"]: d for d in map(json.loads, p.stdout.splitlines())}, p.stderr


@pytest.mark.parametrize("run", ["dev1_alwaysauthreject_no", "dev2_alwaysauthreject_yes"])
def test_scan_corpus_capture_prefers_raw_sip(run):
    got, err = scan(str(ASTERISK20 / run / "capture.pcap.gz"))
    assert set(got) == CORPUS_ATTACKERS
    assert "HEP datagrams skipped (the same messages as HEP: raw SIP preferred)" in err
    assert got["127.0.1.31"].get("proven", True)  # TCP: a handshake proves the address
    assert got["127.0.1.30"]["proven"] is False  # a UDP flood with no round trip could be forged


def test_scan_lab_kamailio_capture_without_fingerprints(tmp_path):
    cfg = tmp_path / "nofp.toml"
    cfg.write_text("[detect]\nfingerprints = false\n")
    got, err = scan("--config", str(cfg), str(DATA / "lab" / "kamailio_attack.pcapng.gz"))
    assert set(got) == {"198.18.0.66", "198.18.0.67", "198.18.0.68", "198.18.0.69"}  # not .20 (legit), .1 (server)
    assert got["198.18.0.68"]["reason"] == "bruteforce"  # Kamailio re-challenges a wrong digest: paired
    assert got["198.18.0.69"]["reason"] == "flood"
    assert "1128 raw SIP messages" in err


def test_scan_hep_only_capture_and_mixed_with_logs(tmp_path):
    """A capture holding only HEP is read through it; logs and captures merge in one scan."""
    import dpkt

    from sipwarden.parsers.hep import decode_hep
    grams = hep_datagrams("dev2_alwaysauthreject_yes")
    pcap = tmp_path / "hep-only.pcap"
    with open(pcap, "wb") as f:
        w = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_RAW, nano=True)
        for g in grams:  # captured when the agent sent them (the HEP time), as on a real collector
            udp = dpkt.udp.UDP(sport=40000, dport=9060, data=g)
            udp.ulen = len(udp)
            ip = dpkt.ip.IP(src=socket.inet_aton("127.0.0.1"), dst=socket.inet_aton("127.0.0.1"), p=17, data=udp)
            ip.len = len(ip)
            w.writepkt(bytes(ip), ts=round(decode_hep(g).ts, 6))
    got, err = scan(str(pcap))
    assert set(got) == HEP_ATTACKERS["dev2_alwaysauthreject_yes"]
    assert f"{len(grams)} SIP messages from HEP datagrams" in err
    logs = ASTERISK20 / "dev2_alwaysauthreject_yes"
    got, _ = scan(str(pcap), str(logs / "messages.gz"), str(logs / "security.gz"))
    assert set(got) >= HEP_ATTACKERS["dev2_alwaysauthreject_yes"] and not set(got) & LEGIT


# --- the wire detector, pure ------------------------------------------------------------------------

def _req(t: float, ip: str, method: str = "REGISTER", account: str = "1001", digest: bool = False,
         transport: str = "udp", target: str | None = None):
    from sipwarden.events import Event, Kind
    return Event(t, ip, Kind.REQUEST, port=5060, transport=transport, method=method, account=account,
                 target=target, detail="digest" if digest else None, origin="wire")


def _resp(t: float, ip: str, kind, account: str = "1001"):
    from sipwarden.events import Event
    return Event(t, ip, kind, port=5060, transport="udp", method="REGISTER", account=account, origin="wire")


def test_wire_detector_phone_office_and_attackers():
    from sipwarden.detect.engine import Engine
    from sipwarden.events import Kind
    e = Engine()
    evs = []
    for i in range(200):  # a phone re-registering every 30 s for 100 minutes; 20 phones behind one NAT
        t = i * 30.0
        for p in range(20):
            ip, acct = "192.0.2.10", f"10{p:02d}"
            evs += [_req(t + p * 0.05, ip, account=acct), _resp(t + p * 0.05 + 0.01, ip, Kind.CHALLENGE_SENT, acct),
                    _req(t + p * 0.05 + 0.02, ip, account=acct, digest=True),
                    _resp(t + p * 0.05 + 0.03, ip, Kind.AUTH_OK, acct)]
    for ev in evs:
        assert e.feed(ev) == [], ev
    # a flood: 30 REGISTERs in a second
    out = [v for i in range(30) for v in e.feed(_req(7000 + i / 30, "203.0.113.5", account=str(i % 3)))]
    assert [(v.ip, v.reason, v.proven) for v in out] == [("203.0.113.5", "flood", False)]
    # the same over TCP is proven
    out = [v for i in range(30) for v in e.feed(_req(7000 + i / 30, "203.0.113.6", account="1", transport="tcp"))]
    assert [(v.ip, v.proven) for v in out] == [("203.0.113.6", True)]
    # one international INVITE is not enough, two are
    assert e.feed(_req(7100, "203.0.113.7", "INVITE", "x", target="0097250000000")) == []
    (v,) = e.feed(_req(7101, "203.0.113.7", "INVITE", "x", target="0097250000001"))
    assert v.reason == "tollfraud"


def test_wire_detector_stale_phone_and_network_flood():
    from sipwarden.config import DetectConfig
    from sipwarden.detect.engine import Engine
    from sipwarden.events import Kind
    e = Engine()
    ip = "192.0.2.20"
    e.feed(_req(0, ip)), e.feed(_resp(0.01, ip, Kind.CHALLENGE_SENT))
    e.feed(_req(0.02, ip, digest=True)), e.feed(_resp(0.03, ip, Kind.AUTH_OK))
    out = []
    for i in range(1, 8):  # the password changed: 7 re-challenged digests, 30 s apart (counted 1/4)
        t = i * 30.0
        out += e.feed(_req(t, ip)) + e.feed(_resp(t + 0.01, ip, Kind.CHALLENGE_SENT))
        out += e.feed(_req(t + 0.02, ip, digest=True)) + e.feed(_resp(t + 0.03, ip, Kind.CHALLENGE_SENT))
    assert out == []
    # 20 sources of one /24 at 20 requests/s each: no single source is a flood, the network is
    e = Engine(DetectConfig(wire_net_requests=300))
    out = [v for i in range(400) for v in e.feed(_req(i / 200, f"198.51.100.{i % 20}", account="1"))]
    nets = [v for v in out if "/" in v.ip]
    assert [v.ip for v in nets] == ["198.51.100.0/24"]


def test_policy_shortens_unproven_bans():
    from sipwarden.addr import AddressSet
    from sipwarden.config import BanConfig
    from sipwarden.events import Reason, Verdict
    from sipwarden.policy import Policy
    p = Policy(BanConfig(bantime=600, unproven_factor=0.25), AddressSet())
    assert p.decide(Verdict("203.0.113.1", Reason.FLOOD, 0, 1), 0, False).duration == 600
    d = p.decide(Verdict("203.0.113.1", Reason.FLOOD, 0, 1, proven=False), 0, False)
    assert d.duration == 150 and "unproven" in d.why


# --- AMI client against a tiny real AMI server ------------------------------------------------------

AMI_ATTACKERS = {"127.0.1.20", "127.0.1.21", "127.0.1.22", "127.0.1.30", "127.0.1.31", "127.0.1.32", "127.0.1.40",
                 "127.0.1.50"}


class AmiServer:
    """Asterisk-like enough: banner, a Login checked for user and secret, then the corpus stream.
    The first session is cut in the middle of the stream (to exercise reconnecting); later sessions
    send the rest, as a manager sends what happens after a reconnect."""

    def __init__(self, data: bytes, secret: str = "s3cret") -> None:
        body = data.split(b"\r\n", 1)[1]  # the corpus: banner, its own login response, then events
        self.events = body.split(b"\r\n\r\n", 1)[1]
        self.secret = secret
        self.cut = len(self.events) // 2
        self.sessions = 0
        self.logins: list[str] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line)
        self.logins.append(fields.get("Username", ""))
        if fields.get("Secret") != self.secret:
            writer.write(f"Response: Error\r\nActionID: {fields.get('ActionID')}\r\nMessage: Authentication "
                         "failed\r\n\r\n".encode())
            await writer.drain()
            writer.close()
            return
        writer.write(f"Response: Success\r\nActionID: {fields.get('ActionID')}\r\nMessage: Authentication "
                     "accepted\r\n\r\n".encode())
        part = self.events[:self.cut] if self.sessions == 1 else self.events[self.cut:]
        for i in range(0, len(part), 4096):
            writer.write(part[i:i + 4096])
            await writer.drain()
        if self.sessions == 1:
            writer.close()  # the manager restarts
            return
        with contextlib.suppress(ConnectionError):
            while await reader.read(4096):  # stay up, answer nothing (Pings are only written)
                pass
        writer.close()


def test_ami_client_logs_in_reconnects_and_finds_attackers():
    from sipwarden.detect.engine import Engine
    from sipwarden.sources.ami_client import AmiClient

    data = gzip.decompress((ASTERISK20 / "dev1_alwaysauthreject_no" / "ami.txt.gz").read_bytes())
    srv = AmiServer(data)
    engine = Engine()
    got: list = []

    def handle(events: list) -> None:
        got.extend(events)
        engine.feed_many(events)

    async def main() -> AmiClient:
        server = await asyncio.start_server(srv.serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        bad = AmiClient("127.0.0.1", port, "secmon", "wrong", handle, ping=1.0, backoff=0.05, max_backoff=0.2)
        task = asyncio.create_task(bad.run())
        deadline = time.monotonic() + 5
        while bad.errors < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        task.cancel()
        assert bad.connects == 0 and "login refused" in (bad.last_error or "")
        srv.sessions = 0
        client = AmiClient("127.0.0.1", port, "secmon", "s3cret", handle, ping=1.0, backoff=0.05, max_backoff=0.2)
        task = asyncio.create_task(client.run())
        deadline = time.monotonic() + 20
        while not (client.connects == 2 and client.connected and {v.ip for v in engine.report()} >= AMI_ATTACKERS):
            assert time.monotonic() < deadline, (client.connects, client.last_error, len(got))
            await asyncio.sleep(0.05)
        await asyncio.sleep(IDLE_WAIT)
        task.cancel()
        server.close()
        return client

    client = asyncio.run(main())
    assert srv.sessions == 2 and client.events == len(got) > 6000
    assert client.errors == 1  # the one cut session
    verdicts = {v.ip for v in engine.report()}
    assert verdicts >= AMI_ATTACKERS and not verdicts & LEGIT
    assert any(e.detail and "repeated RemoteAddress" in e.detail and e.ip == "127.0.1.50" for e in got)


IDLE_WAIT = 0.6  # a little more than ami_client.IDLE: the held-back last event is released


def test_daemon_reads_ami(tmp_path):
    import threading
    data = gzip.decompress((ASTERISK20 / "dev2_alwaysauthreject_yes" / "ami.txt.gz").read_bytes())
    srv = AmiServer(data)
    srv.sessions = 1  # one session with the whole stream
    srv.cut = 0
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict = {}

    async def up() -> None:
        box["server"] = await asyncio.start_server(srv.serve, "127.0.0.1", 0)
        started.set()

    t = threading.Thread(target=lambda: (loop.run_until_complete(up()), loop.run_forever()), daemon=True)
    t.start()
    assert started.wait(5)
    port = box["server"].sockets[0].getsockname()[1]
    want = {"127.0.1.21", "127.0.1.22", "127.0.1.30", "127.0.1.31", "127.0.1.32", "127.0.1.40", "127.0.1.50"}
    try:
        with daemon(tmp_path, "--ami", f"127.0.0.1:{port}", "--ami-user", "secmon", "--ami-secret", "s3cret") as d:
            d.wait(lambda: d.bans() >= want, "AMI attackers banned")
            w = d.wire()
            assert w["ami_connected"] is True and w["ami_events"] > 6000
            assert not d.bans() & LEGIT
    finally:
        loop.call_soon_threadsafe(loop.stop)
        t.join(5)


def test_capture_frames_parse_udp_tcp_and_skip_junk():
    from sipwarden.sources.live_capture import Frames, sip_filter
    eth = b"\x00" * 12
    msg = b"REGISTER sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n"

    def v4(proto: int, l4: bytes) -> bytes:
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0, socket.inet_aton("198.18.0.66"),
                          socket.inet_aton("198.18.0.1"))
        return eth + b"\x08\x00" + hdr + l4

    udp = struct.pack("!HHHH", 5062, 5060, 8 + len(msg), 0) + msg
    tcp = struct.pack("!HHIIBBHHH", 40000, 5060, 1, 0, 5 << 4, 0x18, 65535, 0, 0)
    f = Frames()
    assert f.packets(v4(17, udp), 1.0) == [(1.0, "198.18.0.66", 5062, "198.18.0.1", 5060, "udp", msg)]
    assert f.packets(v4(6, tcp + msg[:30]), 2.0) == []  # a message split across segments...
    assert f.packets(v4(6, tcp + msg[30:]), 2.1)[0][5:] == ("tcp-unverified", msg)  # ...is joined (no handshake)
    for junk in (b"", b"\x00" * 33, v4(17, b"\x00\x01"), eth + b"\x86\xdd" + b"\xff" * 60, v4(17, udp[:8] + b"junk")):
        assert f.packets(junk, 3.0) == []
    assert len(sip_filter([5060])) < len(sip_filter([5060, 5061])) and sip_filter([])[-1] == (6, 0, 0, 0)
