"""The report's data document, from logs/captures (read as `scan` reads them) or from the daemon's store.

Both paths feed one `Aggregate`; the verdicts are the same objects `scan --format json` prints
(`Verdict.to_dict()` of the same scan run), so the page and the command line never disagree.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable, Iterator

from ..config import Config, duration_seconds
from ..events import Event, Kind, Verdict, iso
from ..policy import Policy
from .aggregate import ALERT_REASONS, Aggregate, bans_doc, pick_step
from .destinations import by_country

FORMAT = 1  # version of the document's shape; bump when a field changes meaning


class ReportError(Exception):
    """A report that cannot be made, phrased for the operator."""


def parse_time(text: str | None, tz: dt.tzinfo, now: float) -> float | None:
    """'2026-11-24', '2026-11-24 20:00[:00]' (in `tz` unless it names a zone), epoch seconds, or
    a span back from now ('2h', '7d', '90m')."""
    if text is None:
        return None
    t = text.strip()
    span = duration_seconds(t) if t[-1:].lower() in ("s", "m", "h", "d", "w") else None  # a bare number is a time
    if span is not None:
        return now - span
    if re.fullmatch(r"\d{9,}(\.\d+)?", t):
        return float(t)
    try:
        d = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise ReportError(f"{text!r} is not a time: use 2026-11-24, '2026-11-24 20:00', epoch seconds "
                          "or a span back from now like 2h or 7d") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=tz)
    return d.timestamp()


def _within(t: float | None, since: float | None, until: float | None) -> bool:
    return t is not None and (since is None or t >= since) and (until is None or t < until)


def document(agg: Aggregate, verdicts: list[dict], bans: dict, source: dict, cfg: Config,
             summary: dict, audit: list[dict] | None) -> dict:
    """Assemble the page's data island from the aggregate and the verdicts."""
    alerts = [v for v in verdicts if v["reason"] in ALERT_REASONS]
    return {
        "format": FORMAT,
        "generated": iso(time.time()),
        "source": source,
        "first": iso(agg.first) if agg.first is not None else None,
        "last": iso(agg.last) if agg.last is not None else None,
        "summary": {**summary, "events": agg.events, "sources": len(agg.sources) + (1 if agg.sources_dropped else 0),
                    "verdicts": len(verdicts), "alerts": len(alerts),
                    "kinds": {str(k): n for k, n in agg.kinds.items()},
                    "accounts": len(agg.accounts), "untimed_events": agg.untimed},
        "alerts": alerts,
        "verdicts": verdicts,
        "timeline": agg.timeline(),
        "bans": bans,
        "sources": agg.source_rows(verdicts),
        "accounts": agg.account_rows(),
        "tollfraud": by_country(agg.numbers, tuple(cfg.detect.tollfraud_prefixes)),
        "audit": audit,
    }


def simulated_bans(verdicts: list[Verdict], cfg: Config, step: int) -> dict:
    """Bans and their ends as the daemon's policy would have made them from these verdicts."""
    policy = Policy(cfg.ban, cfg.whitelist_set())
    until: dict[str, float | None] = {}
    offences: dict[str, int] = {}
    starts, ends = [], []
    for v in sorted(verdicts, key=lambda v: v.at):
        end = until.get(v.ip, 0.0)
        d = policy.decide(v, offences.get(v.ip, 0), end is None or end > v.at)
        if not d.ban:
            continue
        offences[v.ip] = offences.get(v.ip, 0) + 1
        starts.append(v.at)
        until[v.ip] = None if d.duration is None else v.at + d.duration
        if d.duration is not None:
            ends.append(v.at + d.duration)
    doc = bans_doc(step, starts, ends)
    doc["simulated"] = True
    return doc


def from_logs(paths: tuple[str, ...], cfg: Config, since: float | None = None, until: float | None = None,
              audit: list[dict] | None = None, inputs: tuple[list, list[str]] | None = None) -> dict:
    """Read logs and captures exactly as `scan` does; aggregate the events in [since, until).
    `inputs`: what pipeline.scan.open_inputs gave for `paths` (opened here if None)."""
    from ..pipeline.scan import open_inputs, run  # the one reading path `scan` and `explain` use

    logs, captures = inputs if inputs is not None else open_inputs(paths, cfg)
    agg = Aggregate()
    feed = agg.feed
    if since is None and until is None:
        on_event = feed
    else:
        def on_event(ev: Event) -> None:
            if _within(ev.time, since, until):
                feed(ev)
    result = run(logs, cfg, on_event, captures)
    kept = [v for v in result.verdicts if since is None and until is None or _within(v.at, since, until)]
    verdicts = [v.to_dict() for v in kept]
    step = agg.timeline()["step"]
    bans = simulated_bans(kept, cfg, step)
    summary = {"lines": result.lines, "tamper_events": result.engine.tamper}
    source = {"paths": list(paths), "since": iso(since) if since else None, "until": iso(until) if until else None}
    return document(agg, verdicts, bans, source, cfg, summary, audit)


def store_events(store, since: float | None, until: float | None) -> Iterator[Event]:  # noqa: ANN001
    """The store's event history in [since, until) as Events (kinds this version does not know are skipped)."""
    for r in store.events_between(since, until):  # (time, ip, kind, port, ..., fingerprint, origin, detail, file, line)
        try:
            kind = Kind(r[2])
        except ValueError:
            continue
        yield Event(r[0], r[1], kind, *r[3:11], detail=r[12], origin=r[11], file=r[13], line=r[14])


def from_store(store, cfg: Config, since: float | None = None, until: float | None = None,  # noqa: ANN001
               audit: list[dict] | None = None) -> dict:
    """The daemon's history: events it kept, and the bans it made, in [since, until)."""
    agg = Aggregate()
    agg.feed_many(store_events(store, since, until))
    lo = since if since is not None else float("-inf")
    hi = until if until is not None else float("inf")
    now = time.time()
    starts, ends, verdicts = [], [], []
    for b in store.bans_between(since, until):
        if lo <= b.start < hi:
            starts.append(b.start)
            v = b.evidence
            if not b.manual and isinstance(v, dict) and v.get("ip") and v.get("reason"):
                verdicts.append(v)
        end = b.ended if b.ended is not None else b.expires
        if end is not None and lo <= end < hi and end <= now:
            ends.append(end)
    first = min([agg.first or now, *starts]) if (starts or agg.first) else now
    last = max([agg.last or first, *ends, *starts])
    step = max(agg.timeline()["step"], pick_step(last - first))
    bans = bans_doc(step, starts, ends)
    bans["simulated"] = False
    summary = {"lines": None, "tamper_events": agg.kinds.get(Kind.TAMPER, 0), "bans": len(starts)}
    source = {"state_dir": str(store.path.parent), "since": iso(since) if since else None,
              "until": iso(until) if until else None}
    return document(agg, verdicts, bans, source, cfg, summary, audit)


def audit_findings(confdir: str) -> list[dict]:
    from ..audit import AuditError, audit
    try:
        return [f.to_dict() for f in audit(confdir)]
    except (AuditError, OSError) as e:
        raise ReportError(f"--audit {confdir}: {e}") from None


def verdict_dicts(verdicts: Iterable[Verdict]) -> list[dict]:
    return [v.to_dict() for v in verdicts]
