"""HEP inside capture files takes the daemon's one HEP path (PacketIntake.hep): the same events
offline as live for the same datagrams, the same FUTURE_SLACK rule against future timestamps, the
same hep_password check when the config sets one."""

from __future__ import annotations

import socket
from pathlib import Path

import dpkt

from sipwarden.config import from_dict
from sipwarden.parsers.hep import decode_hep
from sipwarden.parsers.packets import FUTURE_SLACK, PacketIntake
from sipwarden.pipeline.capture import capture_events, intake_for
from sipwarden.sources.pcap import read_capture
from test_wire_sources import PASSWORD, hep_datagrams

RUN = "dev2_alwaysauthreject_yes"


def write_hep_pcap(path: Path, grams: list[tuple[float, bytes]]) -> Path:
    """A capture of HEP datagrams (udp to 9060 on 127.0.0.1) at the given capture times
    (nanosecond pcap: dpkt reads its times as Decimal, which must come out as floats)."""
    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_RAW, nano=True)
        for t, g in grams:
            udp = dpkt.udp.UDP(sport=40000, dport=9060, data=g)
            udp.ulen = len(udp)
            ip = dpkt.ip.IP(src=socket.inet_aton("127.0.0.1"), dst=socket.inet_aton("127.0.0.1"), p=17, data=udp)
            ip.len = len(ip)
            w.writepkt(bytes(ip), ts=t)
    return path


def at_hep_time(grams: list[bytes], shift: float = 0.0) -> list[tuple[float, bytes]]:
    """Each datagram captured at its own HEP time + `shift` (a capture time to the microsecond)."""
    return [(round(decode_hep(g).ts + shift, 6), g) for g in grams]


def received(pcap: Path) -> list[tuple[float, bytes]]:
    """(capture time, datagram) as the capture holds them: what a live listener would have received."""
    out = [(t, g) for t, _s, _sp, _d, _dp, tr, g in read_capture(pcap, sip=False) if tr == "hep"]
    assert all(type(t) is float for t, _g in out)
    return out


def live(grams: list[tuple[float, bytes]], intake: PacketIntake) -> list:
    """The daemon's HEP listener path: each datagram to PacketIntake.hep at its receive time."""
    return [e for t, g in grams for e in intake.hep(g, t)]


def test_offline_and_live_give_the_same_events(tmp_path):
    # Half captured at their HEP time, half with the HEP clock an hour ahead of the capture's.
    grams = hep_datagrams(RUN)
    half = len(grams) // 2
    timed = at_hep_time(grams[:half]) + at_hep_time(grams[half:], -3600.0)
    pcap = write_hep_pcap(tmp_path / "hep.pcap", timed)
    offline_intake, live_intake = PacketIntake(), PacketIntake()
    offline = list(capture_events(pcap, offline_intake))
    expected = live(received(pcap), live_intake)
    assert len(expected) > 1000
    assert offline == expected
    assert offline_intake.counters == live_intake.counters
    assert offline_intake.counters["hep_packets"] == len(grams)


def test_future_hep_time_is_replaced_offline_as_live(tmp_path):
    grams = hep_datagrams(RUN)[:200]
    ahead = at_hep_time(grams, -(FUTURE_SLACK + 3600.0))  # the agent's clock an hour too far ahead
    pcap = write_hep_pcap(tmp_path / "future.pcap", ahead)
    events = list(capture_events(pcap))
    assert events
    got = received(pcap)
    assert {e.time for e in events} <= {t for t, _g in got}  # the capture's time, not HEP's future one
    assert not {e.time for e in events} & {decode_hep(g).ts for _t, g in got}
    assert events == live(got, PacketIntake())
    # Within the slack HEP's own time stands, offline as live.
    near = at_hep_time(grams, -(FUTURE_SLACK - 1.0))
    pcap = write_hep_pcap(tmp_path / "near.pcap", near)
    events = list(capture_events(pcap))
    hep_times = {decode_hep(g).ts for g in grams}
    assert events and {e.time for e in events} <= hep_times
    assert events == live(received(pcap), PacketIntake())


def test_hep_password_from_the_config_is_checked_offline(tmp_path):
    grams = hep_datagrams(RUN)[:300]
    pcap = write_hep_pcap(tmp_path / "hep.pcap", at_hep_time(grams))
    notes: list[str] = []
    wrong = intake_for(from_dict({"wire": {"hep_password": "not-the-agent-key"}}))
    assert list(capture_events(pcap, wrong, notes)) == []
    assert wrong.counters["hep_rejected"] == len(grams)
    assert f"skipped {len(grams)} HEP datagrams without the hep_password key" in notes[0]
    right = intake_for(from_dict({"wire": {"hep_password": PASSWORD}}))
    unset = intake_for(from_dict({}))
    events = list(capture_events(pcap, right))
    assert events and events == list(capture_events(pcap, unset))  # no password configured: nothing checked
    assert right.counters["hep_rejected"] == 0
