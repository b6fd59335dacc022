"""The `sipwarden audit` command: exit status 1 when something at or above --min-severity is found."""

from __future__ import annotations

import sys

import click

from ..audit import AuditError, Severity
from ..audit import audit as run_audit
from ..audit.report import summary, to_json, to_sarif, to_text


class PathError(click.ClickException):
    """An unreadable PATH is a usage error (exit 2), not a finding (exit 1)."""

    exit_code = 2


@click.command("audit")
@click.argument("path", default="/etc/asterisk", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text", show_default=True)
@click.option("--min-severity", "min_severity", default="high", show_default=True,
              type=click.Choice([str(s) for s in Severity]),
              help="Exit 1 if anything this severe or worse is found; lower ones are still shown.")
def audit(path: str, fmt: str, min_severity: str) -> None:
    """Audit an Asterisk config directory (default /etc/asterisk) or one file for the settings that
    let attackers in: guests, enumeration, weak passwords, toll-fraud dialplan, open AMI/ARI.

    Exit status: 0 nothing at or above --min-severity, 1 found, 2 usage error or unreadable PATH.
    """
    try:
        findings = run_audit(path)
    except AuditError as e:
        raise PathError(str(e)) from None
    gate = Severity.parse(min_severity)
    if fmt == "json":
        click.echo(to_json(findings))
    elif fmt == "sarif":
        click.echo(to_sarif(findings))
    else:
        to_text(findings, sys.stdout, path, colour=None if sys.stdout.isatty() else False)
    failing = [f for f in findings if f.severity >= gate]
    if fmt != "text":
        click.echo(f"sipwarden audit: {summary(findings)}; {len(failing)} at or above {gate}", err=True)
    sys.exit(1 if failing else 0)
