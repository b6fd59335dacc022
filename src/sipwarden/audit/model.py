"""What an audit finds: a Finding with a stable check id, a severity, where, why, and the fix."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import IntEnum


class Severity(IntEnum):
    """Ordered so that `>=` answers "at least this bad" (the exit status gate)."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (one of {', '.join(str(s) for s in cls)})") from None


@dataclass(frozen=True)
class Finding:
    """One hole: `file:line` is the line to change (or the section to add it to); `fix` is the line to write."""

    check: str
    severity: Severity
    file: str
    line: int
    message: str
    fix: str
    why: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["severity"] = str(self.severity)
        return d


# check id -> one-line title; each checks module registers its own (SARIF rules need them).
RULES: dict[str, str] = {}


def rule(check: str, title: str) -> str:
    """Register a check id with its title and return the id (used as a module constant)."""
    RULES[check] = title
    return check


def mask(secret: str) -> str:
    """Enough of a secret to recognise it, never all of it: `qwerty` -> `q****y`."""
    n = len(secret)
    if n <= 2:
        return "*" * n
    if n <= 4:
        return secret[0] + "*" * (n - 1)
    return secret[0] + "*" * (n - 2) + secret[-1]


def order(findings: list[Finding]) -> list[Finding]:
    """Most severe first, then by check, file and line: stable output for humans and diffs."""
    return sorted(findings, key=lambda f: (-f.severity, f.check, f.file, f.line, f.message))


@dataclass(frozen=True)
class Landing:
    """Where calls from some class of caller enter the dialplan.

    kind: "guest" (unauthenticated caller, chan_sip allowguest / IAX2 guest), "anonymous" (PJSIP
    anonymous endpoint or an identify matching everyone), "noauth" (an account anyone can use),
    "trunk" (a provider, trusted by address). `file:line` is the setting that lets them land there.
    """

    kind: str
    who: str
    context: str
    file: str
    line: int
    fix: str
