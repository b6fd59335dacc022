"""Wire inputs against real Asterisk 20 traffic: pcap, HEP and AMI agree with truth.json and the README.

Also the SIP -> Event mapping (parsers/sip_events.py) on small hand-made exchanges.
"""

from __future__ import annotations

import collections
import gzip
import json
import struct

import pytest

from careful_sip import events_from_sip
from conftest import ASTERISK20
from sipwarden.config import DetectConfig
from sipwarden.detect.engine import Engine
from sipwarden.events import Kind
from sipwarden.parsers.ami import AmiStream, security_event
from sipwarden.parsers.hep import decode_hep
from sipwarden.parsers.sip import parse_datagram
from sipwarden.parsers.sip_events import ServerLearner
from sipwarden.pipeline.capture import capture_events
from sipwarden.sources.pcap import CaptureStats, read_capture

RUNS = ["dev1_alwaysauthreject_no", "dev2_alwaysauthreject_yes"]
HEP_DATAGRAMS = {"dev1_alwaysauthreject_no": 3416, "dev2_alwaysauthreject_yes": 3584}
# (SuccessfulAuth, ChallengeSent, InvalidPassword, InvalidAccountID, ChallengeResponseFailed) as AMI carries them.
# The README's security-log figures (48 / 51 SuccessfulAuth) already include the AMI login itself
# (Service=AMI, also written to the security log), so AMI has the same counts, not one more.
AMI_COUNTS = {"dev1_alwaysauthreject_no": (48, 1880, 547, 4224, 99),
              "dev2_alwaysauthreject_yes": (51, 5018, 99, 1155, 132)}
ATTACKERS = {"127.0.1.20", "127.0.1.21", "127.0.1.22", "127.0.1.23", "127.0.1.30", "127.0.1.31", "127.0.1.32",
             "127.0.1.40", "127.0.1.50"}
LEGIT = {"127.0.1.10", "127.0.1.11", "127.0.1.12", "127.0.0.1"}


def run_dir(run):
    return ASTERISK20 / run


# --- the mapping, on hand-made messages -------------------------------------------------------------

def resp(status: int, reason: str, method: str, to_user: str = "1001") -> bytes:
    return (f"SIP/2.0 {status} {reason}\r\nVia: SIP/2.0/UDP 9.9.9.9:5060\r\nFrom: <sip:200@h>;tag=1\r\n"
            f"To: <sip:{to_user}@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n").encode()


@pytest.mark.parametrize("status, method, kind, account, target", [
    (401, "REGISTER", Kind.CHALLENGE_SENT, "200", None),
    (407, "INVITE", Kind.CHALLENGE_SENT, "200", None),
    (403, "REGISTER", Kind.AUTH_FAILED, "1001", None),
    (404, "REGISTER", Kind.UNKNOWN_ACCOUNT, "1001", None),
    (404, "OPTIONS", Kind.UNKNOWN_ACCOUNT, "1001", None),
    (404, "INVITE", Kind.CALL_REJECTED, "200", "1001"),
    (403, "INVITE", Kind.CALL_REJECTED, "200", "1001"),
    (200, "REGISTER", Kind.AUTH_OK, "1001", None),
    (200, "OPTIONS", Kind.RESPONSE, None, None),
    (486, "INVITE", Kind.RESPONSE, None, None),
])
def test_response_mapping(status, method, kind, account, target):
    (e,) = events_from_sip(parse_datagram(resp(status, "X", method)), "10.0.0.1", 5060, "203.0.113.5", 5062, 1.0,
                           "udp", "wire")
    assert (e.ip, e.port, e.kind, e.account, e.target, e.method) == ("203.0.113.5", 5062, kind, account, target, method)


def test_request_mapping_trusts_the_packet_not_the_text():
    raw = (b"INVITE sip:0097291909167@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.1.10:5061\r\n"
           b'From: "sipvicious" <sip:100@1.1.1.1>;tag=1\r\nTo: <sip:0097291909167@10.0.0.1>\r\nCall-ID: x\r\n'
           b"CSeq: 1 INVITE\r\nContact: <sip:100@127.0.1.10>\r\n\r\n")
    (e,) = events_from_sip(parse_datagram(raw), "203.0.113.9", 5070, "10.0.0.1", 5060, 2.0, "udp", "wire")
    assert (e.ip, e.kind, e.method, e.account, e.target) == ("203.0.113.9", Kind.REQUEST, "INVITE", "100",
                                                             "0097291909167")
    assert e.fingerprint is not None


def test_server_addresses_never_get_events():
    m = parse_datagram(resp(404, "Not Found", "REGISTER"))
    assert events_from_sip(m, "10.0.0.2", 5060, "10.0.0.1", 5060, 1.0, "udp", "wire", frozenset({"10.0.0.1"})) == []
    req = parse_datagram(b"OPTIONS sip:1001@10.0.0.5 SIP/2.0\r\nFrom: <sip:pbx@10.0.0.1>\r\n\r\n")
    assert events_from_sip(req, "10.0.0.1", 5060, "10.0.0.5", 5060, 1.0, "udp", "wire", frozenset({"10.0.0.1"})) == []


def test_server_learner():
    learner = ServerLearner(peers=3)
    req = parse_datagram(b"REGISTER sip:h SIP/2.0\r\nFrom: <sip:1@h>\r\n\r\n")
    ok = parse_datagram(resp(200, "OK", "REGISTER"))
    # an unsolicited response (no request seen from its peer) teaches nothing
    for i in range(5):
        assert not learner.observe(ok, "6.6.6.6", f"10.0.1.{i}")
    for i in range(3):
        learner.observe(req, f"10.0.0.{i + 10}", "10.0.0.1")
        learned = learner.observe(ok, "10.0.0.1", f"10.0.0.{i + 10}")
    assert learned and learner.servers == frozenset({"10.0.0.1"})
    # a phone answering its PBX's OPTIONS is not a server
    learner.observe(parse_datagram(b"OPTIONS sip:p SIP/2.0\r\n\r\n"), "10.0.0.1", "10.0.0.10")
    assert not learner.observe(ok, "10.0.0.10", "10.0.0.1") and "10.0.0.10" not in learner.servers


# --- the corpus -----------------------------------------------------------------------------------

@pytest.mark.parametrize("run", RUNS)
def test_every_request_in_the_pcap_parses(run):
    d = run_dir(run)
    truth = json.loads((d / "truth.json").read_text())
    st = CaptureStats()
    requests: collections.Counter[str] = collections.Counter()
    for _t, src, _sp, _dst, _dp, _tr, payload in read_capture(d / "capture.pcap.gz", hep=False, stats=st):
        m = parse_datagram(payload)  # every SIP payload parses: a SipParseError fails the test
        if m.is_request:
            requests[src] += 1
    assert (st.undecodable, st.fragments, st.stream_errors) == (0, 0, 0)
    for ip, src in truth["sources"].items():
        assert requests[ip] == src["requests_in_pcap"], ip
    assert set(requests) <= set(truth["sources"])  # the server sends no requests here


@pytest.mark.parametrize("run", RUNS)
def test_hep_stream_and_hep_in_pcap(run):
    d = run_dir(run)
    data = gzip.decompress((d / "hep.bin.gz").read_bytes())
    pos, pkts = 0, []
    while pos < len(data):
        (n,) = struct.unpack_from("!I", data, pos)
        pkts.append(decode_hep(data[pos + 4:pos + 4 + n]))
        pos += 4 + n
    assert len(pkts) == HEP_DATAGRAMS[run]
    assert all(p.src_ip.startswith("127.") and p.dst_ip.startswith("127.") for p in pkts)
    assert {(p.capture_id, p.auth_key, p.node_name) for p in pkts} == {(1234, "devcorpus-hep", "pbx-dev")}
    for p in pkts:
        m = parse_datagram(p.payload)
        assert p.correlation_id == m.call_id  # chunk 17 is the Call-ID as sent
    in_pcap = list(read_capture(d / "capture.pcap.gz", sip=False))
    assert len(in_pcap) == HEP_DATAGRAMS[run]
    assert {x[5] for x in in_pcap} == {"hep"}  # whole datagrams, for PacketIntake.hep
    assert {decode_hep(x[6]).proto for x in in_pcap} == {"udp", "tcp"}


@pytest.mark.parametrize("run", RUNS)
def test_ami_counts_and_injection(run):
    data = gzip.decompress((run_dir(run) / "ami.txt.gz").read_bytes())
    s = AmiStream()
    msgs = []
    for i in range(0, len(data), 4096):
        msgs += s.feed(data[i:i + 4096])
    msgs += s.flush()
    assert s.banner and s.banner.startswith("Asterisk Call Manager/") and s.errors == 0
    by = collections.Counter(m.name for m in msgs)
    assert (by["SuccessfulAuth"], by["ChallengeSent"], by["InvalidPassword"], by["InvalidAccountID"],
            by["ChallengeResponseFailed"]) == AMI_COUNTS[run]
    events = [e for e in map(security_event, msgs) if e is not None]
    assert not [e for e in events if e.ip == "127.0.1.10" and e.kind not in (Kind.AUTH_OK, Kind.CHALLENGE_SENT)]
    forged = [e for e in events if e.detail and "repeated RemoteAddress" in e.detail]
    assert len(forged) == 4 and {e.ip for e in forged} == {"127.0.1.50"}  # 7708: 2 via chan_sip, 2 via PJSIP
    assert not [e for e in events if e.kind is Kind.TAMPER]


@pytest.mark.parametrize("run", RUNS)
def test_wire_events_flag_attackers_only(run):
    events = sorted(capture_events(run_dir(run) / "capture.pcap.gz"), key=lambda e: e.time)
    assert not [e for e in events if e.ip == "127.0.0.1"]  # the PBX is learnt and never an event source
    engine = Engine()
    engine.feed_many(events)
    got = {v.ip for v in engine.report()}
    assert got >= ATTACKERS  # dev2's svwar (3 requests) and svmap (2) only through their fingerprints
    assert not got & LEGIT
    assert not any("/" in ip for ip in got)


def test_wire_evidence_without_fingerprints():
    """What the failure detectors alone make of dev1's wire events (fingerprints off)."""
    events = sorted(capture_events(run_dir("dev1_alwaysauthreject_no") / "capture.pcap.gz"),
                    key=lambda e: e.time)
    engine = Engine(DetectConfig(fingerprints=False))
    engine.feed_many(events)
    got = {v.ip for v in engine.report()}
    assert ATTACKERS - {"127.0.1.23"} <= got  # svmap's 2 OPTIONS only show as a fingerprint
    assert not got & LEGIT
