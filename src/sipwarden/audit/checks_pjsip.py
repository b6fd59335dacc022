"""PJSIP (pjsip.conf): who gets identified as what, and who is let in without a password.

PJSIP has no alwaysauthreject: a request matching no endpoint is challenged by an artificial
endpoint, so enumeration fails by design. What lets attackers in instead is identification: an
`anonymous` endpoint (picked when `anonymous` is in endpoint_identifier_order, the default
ip,username,anonymous), an `identify` whose match= covers the internet, or an endpoint without
`auth=` that anyone can claim by its name. Its unidentified_request_* counters run only when
`auth_username` is in endpoint_identifier_order (res_pjsip/pjsip_distributor.c).
"""

from __future__ import annotations

import ipaddress

from .conf import Conf, Section, is_true
from .model import Finding, Landing, Severity, rule
from .tree import Tree

ANONYMOUS = rule("pjsip.anonymous-endpoint", "PJSIP anonymous endpoint lets unknown callers in")
IDENTIFY_OPEN = rule("pjsip.identify-open", "PJSIP identify matches the whole internet")
NO_AUTH = rule("pjsip.endpoint-no-auth", "PJSIP endpoint anyone can use by name")
NO_ACL = rule("pjsip.endpoint-no-acl", "PJSIP endpoint trusted by address without an ACL")
OPTIONS = rule("pjsip.options-unauthenticated", "PJSIP answers OPTIONS without authentication")
BIND_ALL = rule("pjsip.transport-bind-all", "PJSIP transport on all interfaces and no ACL")
UNIDENTIFIED = rule("pjsip.unidentified-inactive", "PJSIP unidentified-request counters are not running")
NO_SUCH = rule("pjsip.alwaysauthreject", "alwaysauthreject is not a PJSIP option")

DEFAULT_ORDER = "ip,username,anonymous"
ACL_KEYS = ("acl", "permit", "deny", "contact_acl", "contact_permit", "contact_deny")
SECRET_HINT = "<a random secret of 16+ characters>"


def identifier_order(conf: Conf) -> tuple[list[str], Section | None]:
    g = next(iter(conf.of_type("global")), None)
    order = (g.value("endpoint_identifier_order") if g else None) or DEFAULT_ORDER
    return [o.strip().lower() for o in order.split(",") if o.strip()], g


def _broad(match: str) -> bool:
    """0.0.0.0/0, ::/0, or any network of /8 or wider: not a way to recognise one provider."""
    for item in match.split(","):
        item = item.strip().strip("[]")
        if not item:
            continue
        try:
            net = ipaddress.ip_network(item, strict=False)
        except ValueError:
            continue
        if net.prefixlen <= (8 if net.version == 4 else 16):
            return True
    return False


def _identifies(conf: Conf) -> dict[str, list[Section]]:
    out: dict[str, list[Section]] = {}
    for s in conf.of_type("identify"):
        ep = s.value("endpoint")
        if ep:
            out.setdefault(ep, []).append(s)
    return out


def _has_auth(ep: Section) -> bool:
    return any(v.value.strip() for v in ep.all("auth"))


def _by_name(ep: Section) -> bool:
    idb = (ep.value("identify_by") or "username,ip").lower()
    return "username" in idb or "auth_username" in idb


def landings(tree: Tree) -> list[Landing]:
    conf = tree.get("pjsip")
    if conf is None or not tree.loaded("res_pjsip"):
        return []
    out: list[Landing] = []
    order, _ = identifier_order(conf)
    idents = _identifies(conf)
    for ep in conf.of_type("endpoint"):
        ctx = ep.value("context") or "default"
        if ep.name == "anonymous" and "anonymous" in order:
            out.append(Landing("anonymous", "PJSIP [anonymous] endpoint", ctx, ep.file, ep.line,
                               "; delete the [anonymous] endpoint"))
            continue
        if _has_auth(ep):
            if ep.name in idents:
                out.append(Landing("trunk", f"PJSIP endpoint [{ep.name}] (identify)", ctx, ep.file, ep.line,
                                   "context=from-trunk"))
            continue
        open_ids = [i for i in idents.get(ep.name, []) if any(_broad(m.value) for m in i.all("match"))]
        if open_ids:
            out.append(Landing("anonymous", f"PJSIP endpoint [{ep.name}] (identify match covers the internet)",
                               ctx, open_ids[0].file, open_ids[0].line, "match=<your provider's addresses>"))
        elif ep.name in idents:
            out.append(Landing("trunk", f"PJSIP endpoint [{ep.name}] (identified by address)", ctx,
                               ep.file, ep.line, "context=from-trunk"))
        elif _by_name(ep):
            out.append(Landing("noauth", f"PJSIP endpoint [{ep.name}] (no auth)", ctx, ep.file, ep.line,
                               f"auth={ep.name}-auth"))
    return out


def check(tree: Tree) -> list[Finding]:
    conf = tree.get("pjsip")
    if conf is None or not tree.loaded("res_pjsip"):
        return []
    out: list[Finding] = []
    order, g = identifier_order(conf)
    idents = _identifies(conf)
    acls = conf.of_type("acl")
    acl_conf = tree.get("acl")

    for ep in conf.of_type("endpoint"):
        ctx = ep.value("context") or "default"
        has_acl = any(ep.all(k) for k in ACL_KEYS)
        if ep.name == "anonymous" and "anonymous" in order:
            out.append(Finding(ANONYMOUS, Severity.HIGH, ep.file, ep.line,
                               f"[anonymous] endpoint: every request that matches no other endpoint is accepted "
                               f"without authentication into context [{ctx}]",
                               "; delete the [anonymous] endpoint (or set context=anonymous-in with only Hangup())",
                               "res_pjsip_endpoint_identifier_anonymous hands unknown callers this endpoint; "
                               "scanners find it within minutes of the PBX going online."))
        elif not _has_auth(ep):
            open_ids = [i for i in idents.get(ep.name, []) if any(_broad(m.value) for m in i.all("match"))]
            if open_ids:
                m = next(v for v in open_ids[0].all("match") if _broad(v.value))
                out.append(Finding(IDENTIFY_OPEN, Severity.CRITICAL, m.file, m.line,
                                   f"identify [{open_ids[0].name}] match={m.value} maps much of the internet to "
                                   f"endpoint [{ep.name}], which has no auth: anyone can call into [{ctx}]",
                                   "match=<your provider's signalling addresses, e.g. 203.0.113.10/32>",
                                   "An identify match is the only credential of an endpoint without auth."))
            elif ep.name in idents:
                if not has_acl and not acls:
                    out.append(Finding(NO_ACL, Severity.LOW, ep.file, ep.line,
                                       f"[{ep.name}] is trusted by source address alone (identify, no auth) "
                                       "and has no acl/permit to back it",
                                       "acl=trunk-acl   ; with [trunk-acl] type=acl deny=0.0.0.0/0 permit=<provider>",
                                       "UDP source addresses can be forged; an ACL at least stops stray matches."))
            elif _by_name(ep):
                out.append(Finding(NO_AUTH, Severity.CRITICAL, ep.file, ep.line,
                                   f"[{ep.name}] has no auth= and no identify: anyone who sends From: "
                                   f"{ep.name} is identified as it and calls into [{ctx}] without a password",
                                   f"auth={ep.name}-auth   ; and a [{ep.name}-auth] type=auth section with a strong password",
                                   "PJSIP identifies by username first; without auth= nothing is challenged."))
        opt = ep.get("allow_unauthenticated_options")
        if opt is not None and is_true(opt.value):
            out.append(Finding(OPTIONS, Severity.LOW, opt.file, opt.line,
                               f"[{ep.name}] allow_unauthenticated_options=yes: scanners can probe it without a challenge",
                               "allow_unauthenticated_options=no",
                               "Unchallenged OPTIONS confirm that an endpoint exists (enumeration)."))

    if not acls and not (acl_conf and any(True for _ in acl_conf.concrete())):
        for t in conf.of_type("transport"):
            bind = t.get("bind")
            host = (bind.value if bind else "0.0.0.0").strip()
            if host.startswith("["):
                host = host[1:].split("]", 1)[0]
            elif host.count(":") == 1:
                host = host.split(":", 1)[0]
            if host in ("0.0.0.0", "::", ""):
                file, line = (bind.file, bind.line) if bind else (t.file, t.line)
                out.append(Finding(BIND_ALL, Severity.MEDIUM, file, line,
                                   f"transport [{t.name}] listens on all interfaces ({bind.value if bind else 'no bind'}) "
                                   "and pjsip.conf has no type=acl section",
                                   "bind=<the public address you mean, e.g. 203.0.113.5:5060>   "
                                   "; and [acl] type=acl deny=0.0.0.0/0.0.0.0 permit=<trusted networks>",
                                   "Every interface, every source: the whole internet can reach the SIP stack "
                                   "before any per-endpoint check."))

    counters = [v for k in ("unidentified_request_count", "unidentified_request_period",
                            "unidentified_request_prune_interval") if g is not None and (v := g.get(k))]
    if "auth_username" not in order:
        where = g.get("endpoint_identifier_order") if g else None
        file, line = ((where.file, where.line) if where else
                      (counters[0].file, counters[0].line) if counters else
                      (g.file, g.line) if g else (conf.file, 1))
        out.append(Finding(UNIDENTIFIED, Severity.LOW if counters else Severity.INFO, file, line,
                           f"endpoint_identifier_order={','.join(order)} lacks auth_username, so the "
                           f"unidentified_request_* counters never run"
                           + (" and the settings you wrote have no effect" if counters else ""),
                           "endpoint_identifier_order=ip,username,auth_username,anonymous",
                           "The distributor counts requests from unknown sources only when it identifies by "
                           "auth_username; otherwise each one is just logged."))
    for s in conf.concrete():
        v = s.get("alwaysauthreject")
        if v is not None and not v.inherited:
            out.append(Finding(NO_SUCH, Severity.INFO, v.file, v.line,
                               "alwaysauthreject is a chan_sip option; PJSIP ignores it (it always challenges "
                               "unknown users through an artificial endpoint)",
                               "; delete this line", "A setting that does nothing gives false comfort."))
    return out
