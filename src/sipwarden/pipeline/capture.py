"""`sipwarden scan` over capture files (pcap, pcapng, gzip'd), alone or merged with logs.

Capture files are recognised by their magic bytes, not their names (sources/filetype.py). SIP is
found by content on any port; HEP datagrams inside a capture are opened. A capture holding both the raw SIP and
the HEP copy of the same messages (an agent mirroring to a collector on the captured host, as
in the Asterisk corpus) would count every message twice: when a capture holds raw SIP, its
HEP is skipped (and the summary says so); a capture with HEP only is read through its HEP.
The same packet intake (parsers/packets.py) as the daemon's wire sources turns them into
events (HEP through `PacketIntake.hep`, with `hep_password` checked when the config sets it); pipeline/scan.py merges them with the logs' in event time and runs the engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..addr import normalize
from ..config import Config
from ..events import Event
from ..parsers.packets import PacketIntake
from ..sources.logfile import SourceError
from ..sources.pcap import CaptureError, CaptureStats, read_capture


def intake_for(cfg: Config) -> PacketIntake:
    """The intake of an offline scan: the configured PBX addresses spared, more learnt from traffic;
    with `hep_password` set, a captured HEP datagram without that key is dropped, as live."""
    return PacketIntake(frozenset(a for a in (normalize(x) for x in cfg.wire.pbx_addresses) if a),
                        cfg.wire.hep_password)


def capture_events(path: str | Path, intake: PacketIntake | None = None, notes: list[str] | None = None,
                   ) -> Iterator[Event]:
    """Events of one capture: raw SIP if it has any, else the SIP inside its HEP (see the module
    docstring), through `intake` (a fresh one learning the PBX from the traffic if None). HEP
    datagrams go through `PacketIntake.hep` with their capture time as the receive time, as the
    live listener's do. What was read and skipped is appended to `notes`."""
    if intake is None:
        intake = PacketIntake()
    st = CaptureStats()
    c = intake.counters
    before = dict(c)
    raw = 0
    try:
        for t, src, sport, dst, dport, transport, payload in read_capture(path, hep=False, stats=st):
            raw += 1
            yield from intake.sip(payload, src, sport, dst, dport, t, transport, "wire")
        hep_st = CaptureStats()
        if raw:
            hep = sum(1 for _ in read_capture(path, sip=False, stats=hep_st))
            how = f"{raw} raw SIP messages" + (f"; {hep} HEP datagrams skipped (the same messages as HEP: raw SIP "
                                                "preferred)" if hep else "")
        else:
            for t, _src, _sport, _dst, _dport, _transport, datagram in read_capture(path, sip=False, stats=hep_st):
                yield from intake.hep(datagram, t)
            how = (f"{c['sip_messages'] - before['sip_messages']} SIP messages from HEP datagrams "
                   "(no raw SIP in the capture)")
    except CaptureError as e:
        raise SourceError(str(e)) from None
    errors = c["parse_errors"] - before["parse_errors"]
    skipped = [f"{n} {what}" for n, what in ((st.undecodable, "undecodable frames"), (st.fragments, "IP fragments"),
                                            (st.stream_errors + hep_st.stream_errors, "TCP framing errors"),
                                            (c["hep_rejected"] - before["hep_rejected"],
                                             "HEP datagrams without the hep_password key"),
                                            (errors, "unparseable SIP/HEP" if not raw else "unparseable SIP"))
               if n]
    if notes is not None:
        notes.append(f"{path}: {st.packets} packets, {how}" + (f"; skipped {', '.join(skipped)}" if skipped else ""))
