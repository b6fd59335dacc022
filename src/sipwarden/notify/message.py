"""What a notification says: pure, no I/O. The digest is built here from ban changes."""

from __future__ import annotations

import socket
from collections import Counter
from dataclasses import dataclass, field

from ..events import iso

URGENT_REASONS = frozenset({"compromise"})
TOP_SOURCES = 10  # sources named in a digest


@dataclass(frozen=True)
class Message:
    kind: str  # "compromise" | "digest" | "firewall" | "lifecycle"
    title: str
    text: str
    data: dict = field(default_factory=dict)

    def payload(self) -> dict:
        """The webhook body: `text` is what Slack and Mattermost show; the rest is for machines."""
        return {"text": f"*{self.title}*\n{self.text}" if self.text else f"*{self.title}*", "kind": self.kind,
                "title": self.title, "host": HOST, "data": self.data}


HOST = socket.gethostname()


def _clean(text: object, limit: int = 80) -> str:
    """Attacker text in a message: no control characters or markup-ish breaks, bounded."""
    s = "".join(c if c.isprintable() else "?" for c in str(text))
    return s if len(s) <= limit else s[: limit - 1] + "…"


def compromise(c) -> Message:  # noqa: ANN001 - a daemon.bans.BanChange
    ev = c.evidence or {}
    accounts = ", ".join(_clean(a, 40) for a in (ev.get("accounts") or [])[:5])
    return Message("compromise", f"sipwarden on {HOST}: account compromised from {c.ip}",
                   f"{_clean(ev.get('evidence') or c.reason, 300)}"
                   + (f"\naccounts: {accounts}" if accounts else "")
                   + f"\nbanned {('until ' + iso(c.expires)) if c.expires else 'permanently'}; change the "
                     "password(s) now and check the calls made",
                   {"ip": c.ip, "reason": c.reason, "at": iso(c.at), "expires": iso(c.expires) if c.expires else None,
                    "evidence": ev})


class Digest:
    """Ban changes gathered between two digests."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.bans: Counter[str] = Counter()
        self.unbans = 0
        self.sources: dict[str, tuple[str, int, str]] = {}  # ip -> (reason, events, evidence), bounded
        self.first: float | None = None
        self.last: float | None = None

    def __bool__(self) -> bool:
        """Worth sending: new bans (ended ones are only told along with them)."""
        return bool(self.bans)

    def add(self, c) -> None:  # noqa: ANN001
        self.first = c.at if self.first is None else min(self.first, c.at)
        self.last = c.at if self.last is None else max(self.last, c.at)
        if c.kind != "ban":
            self.unbans += 1
            return
        self.bans[c.reason] += 1
        events = int((c.evidence or {}).get("events") or 0)
        if len(self.sources) < TOP_SOURCES or events > min(s[1] for s in self.sources.values()):
            self.sources[c.ip] = (c.reason, events, _clean((c.evidence or {}).get("evidence") or "", 120))
            if len(self.sources) > TOP_SOURCES:
                del self.sources[min(self.sources, key=lambda ip: self.sources[ip][1])]

    def message(self) -> Message:
        n = sum(self.bans.values())
        by_reason = ", ".join(f"{r} {k}" for r, k in self.bans.most_common())
        top = sorted(self.sources.items(), key=lambda kv: -kv[1][1])
        lines = [f"{n} ban(s): {by_reason}"]
        if self.unbans:
            lines.append(f"{self.unbans} ban(s) ended since the last digest")
        if top:
            lines.append("top sources:")
            lines += [f"  {ip}  {reason}, {events} events  {why}" for ip, (reason, events, why) in top]
        return Message("digest", f"sipwarden on {HOST}: {n} new ban(s)", "\n".join(lines),
                       {"bans": n, "by_reason": dict(self.bans), "unbans": self.unbans,
                        "top_sources": [{"ip": ip, "reason": r, "events": e} for ip, (r, e, _) in top],
                        "from": iso(self.first) if self.first is not None else None,
                        "to": iso(self.last) if self.last is not None else None})


def firewall(error: str | None, backend: str) -> Message:
    if error is None:
        return Message("firewall", f"sipwarden on {HOST}: firewall working again ({backend})",
                       "bans are applied again; the kernel was reconciled with every ban in force",
                       {"up": True, "backend": backend})
    return Message("firewall", f"sipwarden on {HOST}: FIREWALL FAILING ({backend})",
                   f"{_clean(error, 300)}\nbans are recorded and will be applied when it works",
                   {"up": False, "backend": backend, "error": error})


def lifecycle(what: str, detail: str = "") -> Message:
    return Message("lifecycle", f"sipwarden on {HOST} {what}", detail, {"event": what})


class Destination:
    """One place messages go. `send` raises on failure (the sender retries)."""

    name = "destination"

    async def send(self, m: Message) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    async def close(self) -> None:
        return None
