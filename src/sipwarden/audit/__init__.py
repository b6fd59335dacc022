"""`sipwarden audit`: find the Asterisk settings that let attackers in, and say how to close them.

    from sipwarden.audit import audit
    findings = audit("/etc/asterisk")          # list[Finding], most severe first

Pure: reads configuration files, returns data. Rendering lives in report.py, the CLI in cli/audit.py.
"""

from __future__ import annotations

import os

from . import checks_dialplan, checks_manager, checks_pjsip, checks_secrets, checks_sip
from .conf import Problem
from .model import Finding, Severity, order, rule
from .tree import AuditError, Tree, load_tree

__all__ = ["AuditError", "Finding", "Severity", "Tree", "audit", "load_tree", "run_checks"]

CHECKS = (checks_sip.check, checks_pjsip.check, checks_secrets.check, checks_dialplan.check, checks_manager.check)

UNREAD = rule("conf.unread", "a configuration line the auditor could not follow")


def _problem(p: Problem) -> Finding:
    return Finding(UNREAD, Severity.INFO, p.file, p.line, p.message,
                   "; check this line: what the auditor could not read, Asterisk may read differently",
                   "Settings in a file the audit could not follow are settings nobody checked.")


def run_checks(tree: Tree) -> list[Finding]:
    """Every check over a loaded tree, most severe first."""
    found: list[Finding] = []
    for check in CHECKS:
        found.extend(check(tree))
    for conf in tree.confs.values():
        found.extend(_problem(p) for p in conf.problems)
    return order(found)


def audit(path: str | os.PathLike[str]) -> list[Finding]:
    """Audit an Asterisk config directory or one file. Raises AuditError if PATH cannot be read."""
    return run_checks(load_tree(path))
