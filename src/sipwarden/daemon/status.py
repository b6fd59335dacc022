"""`sipwarden status`: assembled from the sections each part contributes.

A part registers `add(name, fn)`; `fn()` returns its dict ("logs", "detection", "bans", "kernel",
"store", "wire", "errors", and later "http", "fleet", ...). A section that fails to report says so
instead of failing the whole status. The summary keys the CLI prints come first.
"""

from __future__ import annotations

from collections.abc import Callable


class Status:
    def __init__(self) -> None:
        self.sections: dict[str, Callable[[], object]] = {}

    def add(self, name: str, fn: Callable[[], object]) -> None:
        self.sections[name] = fn

    def report(self, summary: dict) -> dict:
        out = dict(summary)
        for name, fn in self.sections.items():
            try:
                out[name] = fn()
            except Exception as e:  # a broken section must not hide the others
                out[name] = {"error": f"{type(e).__name__}: {e}"}
        return out
