"""Attack-tool fingerprints: one request carrying a known tool's fingerprint (the parsers recognise
it, see parsers/fingerprints.py) is enough (`fingerprints`, on by default)."""

from __future__ import annotations

from ..events import Event, Reason
from .detector import Finding
from .state import Context, Source


class Scanner:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def observe(self, src: Source, ev: Event, t: float) -> Finding | None:
        fp = ev[10]
        return None if fp is None else Finding(Reason.SCANNER, f"attack tool fingerprint: {fp}")
