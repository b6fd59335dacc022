"""The optional compiled accelerators (`*.pyx`, built by `pip install` where a C compiler is), by one switch.

Each is a faster copy of a pure-Python step, held to it by tests; without it (no compiler at install
time, or SIPWARDEN_PURE=1 in the environment) the Python step runs: the same results, slower.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

PURE = os.environ.get("SIPWARDEN_PURE", "") not in ("", "0")  # SIPWARDEN_PURE=1: run the pure-Python steps


def load(name: str, force: bool = False) -> ModuleType | None:
    """The compiled module `name` (e.g. "sipwarden.parsers._accel"), or None: not built here, or PURE
    (`force`: whatever PURE says, as the tests that hold it equal to the Python step load it)."""
    if PURE and not force:
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
