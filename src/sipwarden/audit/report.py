"""Findings as text (grouped, coloured on a terminal), one JSON document, or SARIF 2.1.0."""

from __future__ import annotations

import json
from collections import Counter
from itertools import groupby
from typing import IO

from .. import __version__
from .model import RULES, Finding, Severity, order

COLOURS = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
SARIF_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
               Severity.LOW: "note", Severity.INFO: "note"}
# GitHub code scanning ranks security results by this number (CVSS-like, 0-10)
SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5",
                     Severity.LOW: "3.0", Severity.INFO: "0.0"}


def where(f: Finding) -> str:
    return f"{f.file}:{f.line}" if f.line > 0 else f.file


def summary(findings: list[Finding]) -> str:
    counts = Counter(f.severity for f in findings)
    parts = [f"{counts[s]} {s}" for s in sorted(counts, reverse=True)]
    noun = "finding" if len(findings) == 1 else "findings"
    return f"{len(findings)} {noun}" + (f": {', '.join(parts)}" if parts else "")


def to_json(findings: list[Finding]) -> str:
    return json.dumps({"findings": [f.to_dict() for f in order(findings)]}, indent=2)


def to_sarif(findings: list[Finding]) -> str:
    findings = order(findings)
    ids = sorted({f.check for f in findings})
    index = {c: i for i, c in enumerate(ids)}
    worst = {c: max(f.severity for f in findings if f.check == c) for c in ids}
    rules = []
    for c in ids:
        example = next(f for f in findings if f.check == c)
        rules.append({
            "id": c,
            "name": c.replace(".", "/"),
            "shortDescription": {"text": RULES.get(c, c)},
            "fullDescription": {"text": example.why or RULES.get(c, c)},
            "help": {"text": f"{example.why}\nFix: {example.fix}".strip()},
            "defaultConfiguration": {"level": SARIF_LEVEL[worst[c]]},
            "properties": {"tags": ["security", "asterisk"], "security-severity": SECURITY_SEVERITY[worst[c]]},
        })
    results = []
    for f in findings:
        loc: dict = {"artifactLocation": {"uri": f.file}}
        if f.line > 0:
            loc["region"] = {"startLine": f.line}
        results.append({
            "ruleId": f.check,
            "ruleIndex": index[f.check],
            "level": SARIF_LEVEL[f.severity],
            "message": {"text": f"{f.message}. Fix: {f.fix}"},
            "locations": [{"physicalLocation": loc}],
            "properties": {"severity": str(f.severity), "fix": f.fix},
        })
    doc = {
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {"name": "sipwarden-audit", "version": __version__,
                                "informationUri": "https://github.com/sipwarden/sipwarden", "rules": rules}},
            "results": results,
        }],
    }
    return json.dumps(doc, indent=2)


def to_text(findings: list[Finding], out: IO[str], root: str, colour: bool | None = None) -> None:
    """Most severe first, one block per check; each finding with file:line, message, fix."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(file=out, force_terminal=colour, no_color=colour is False, highlight=False,
                      soft_wrap=True)
    findings = order(findings)
    console.print(f"[bold]sipwarden audit[/bold] {escape(root)}")
    if not findings:
        console.print("No findings.")
        return
    for (sev, check), group in groupby(findings, key=lambda f: (f.severity, f.check)):
        items = list(group)
        style = COLOURS[sev]
        console.print()
        console.print(f"[{style}]{str(sev).upper():8}[/] [bold]{escape(check)}[/bold]  "
                      f"{escape(RULES.get(check, ''))}")
        if items[0].why:
            console.print(f"  [dim]why: {escape(items[0].why)}[/dim]")
        for f in items:
            console.print(f"  [bold]{escape(where(f))}[/bold]  {escape(f.message)}")
            console.print(f"      [green]fix:[/green] {escape(f.fix)}")
    console.print()
    console.print(f"[bold]{escape(summary(findings))}[/bold]")
