"""Dialplan reachability: from where guests, anonymous callers and trunks land, can they dial out?

A guest or anonymous caller whose context reaches Dial() on a trunk with a number of its own
choosing is the toll-fraud path: the attacker calls premium numbers abroad on the operator's bill.
A provider trunk whose context can dial out lets anyone who forges the provider's address do the
same (and re-originate calls). The finding points at the setting that lets the caller land
there, and its message carries the whole chain down to the Dial line.
"""

from __future__ import annotations

from . import checks_pjsip, checks_sip
from .dialplan import build, reachable_extensions, toll_paths
from .model import Finding, Landing, Severity, rule
from .tree import Tree

TOLL_FRAUD = rule("dialplan.toll-fraud", "unauthenticated callers can dial out through a trunk")
TRUNK_OUT = rule("dialplan.trunk-dials-out", "calls from a trunk can dial out through a trunk")
GUEST_REACH = rule("dialplan.guest-reach", "unauthenticated callers reach internal extensions")


def iax_landings(tree: Tree) -> list[Landing]:
    """IAX2's guest user: a [guest] type=user without secret (the sample ships one)."""
    iax = tree.get("iax")
    if iax is None or not tree.loaded("chan_iax2"):
        return []
    out = []
    for s in iax.concrete():
        if s.type in ("user", "friend") and not (s.value("secret") or s.value("dbsecret") or s.value("inkeys")):
            out.append(Landing("guest", f"IAX2 user [{s.name}] (no secret)", s.value("context") or "default",
                               s.file, s.line, f"; delete [{s.name}] or give it secret=<16+ random characters>"))
    return out


def landings(tree: Tree) -> list[Landing]:
    return checks_sip.landings(tree) + checks_pjsip.landings(tree) + iax_landings(tree)


def check(tree: Tree) -> list[Finding]:
    ext = tree.get("extensions")
    if ext is None:
        return []
    plan = build(ext)
    out: list[Finding] = []
    for land in landings(tree):
        paths = toll_paths(plan, land.context)
        if paths:
            chain = "; ".join(p.describe() for p in paths)
            if land.kind == "trunk":
                out.append(Finding(TRUNK_OUT, Severity.HIGH, land.file, land.line,
                                   f"{land.who} lands in [{land.context}], which can dial out: {chain}",
                                   f"{land.fix}   ; a context with only your DIDs, no outbound routes",
                                   "Anyone who can pass for the provider (forged UDP source, a shared carrier "
                                   "platform) gets the outbound routes too."))
            else:
                out.append(Finding(TOLL_FRAUD, Severity.CRITICAL, land.file, land.line,
                                   f"{land.who} lands in [{land.context}], which dials any number out: {chain}",
                                   land.fix,
                                   "This is the toll-fraud path: unauthenticated calls to premium numbers abroad, "
                                   "billed to you, usually over a weekend."))
        elif land.kind in ("guest", "anonymous", "noauth") and land.context in plan.contexts:
            n = reachable_extensions(plan, land.context)
            if n:
                out.append(Finding(GUEST_REACH, Severity.LOW, land.file, land.line,
                                   f"{land.who} lands in [{land.context}], which has {n} extension patterns "
                                   "(no trunk reachable): unauthenticated calls can ring phones",
                                   land.fix,
                                   "Ghost calls and SPIT at night are how scanners test what they found."))
    return out
