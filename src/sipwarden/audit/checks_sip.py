"""chan_sip (sip.conf): guests, account enumeration, peers open to the world, unauthenticated INVITEs.

Defaults matter more than settings here: chan_sip's `allowguest` defaults to yes (guests land in
[general] `context`, itself `default` when unset), `alwaysauthreject` defaults to yes only from
Asterisk 1.8 on (no in 1.4/1.6). chan_sip is deprecated since Asterisk 17 and gone from 21.
"""

from __future__ import annotations

from .conf import Conf, Section, is_false, is_true
from .model import Finding, Landing, Severity, rule
from .tree import Tree, header

ALLOWGUEST = rule("sip.allowguest", "chan_sip accepts calls from unauthenticated guests")
AUTHREJECT = rule("sip.alwaysauthreject", "chan_sip tells attackers which accounts exist")
NO_SECRET = rule("sip.peer-no-secret", "chan_sip account without a password")
NO_ACL = rule("sip.peer-no-acl", "chan_sip account reachable from any address")
INSECURE = rule("sip.insecure-dynamic", "insecure=invite/port on an account not locked to an address")
CONTEXT = rule("sip.context-default", "chan_sip context left to its default")
NOT_LOADED = rule("sip.not-loaded", "sip.conf present but chan_sip is not loaded")
DEPRECATED = rule("sip.chan-sip-removed", "chan_sip is deprecated and removed from Asterisk 21")

PEER_TYPES = ("peer", "friend", "user")
NOT_PEERS = ("general", "authentication")


def peers(conf: Conf) -> list[Section]:
    """The accounts: concrete sections that are not [general]/[authentication]."""
    return [s for s in conf.concrete() if s.name.lower() not in NOT_PEERS and (s.type in PEER_TYPES)]


def is_dynamic(peer: Section) -> bool:
    host = (peer.value("host") or "dynamic").strip().lower()
    return host == "dynamic" or peer.type == "user"


def general_context(conf: Conf) -> str:
    g = conf.section("general")
    return (g.value("context") if g else None) or "default"


def landings(tree: Tree) -> list[Landing]:
    conf = tree.get("sip")
    if conf is None or not tree.loaded("chan_sip"):
        return []
    out = []
    g = conf.section("general")
    guest = g.get("allowguest") if g else None
    if guest is None or not is_false(guest.value):
        file, line, _ = (guest.file, guest.line, None) if guest else header(conf, "general")
        out.append(Landing("guest", "chan_sip guests (allowguest)", general_context(conf), file, line,
                           "allowguest=no"))
    for p in peers(conf):
        ctx = p.value("context") or general_context(conf)
        if not (p.value("secret") or p.value("md5secret") or p.value("remotesecret")) and is_dynamic(p):
            out.append(Landing("noauth", f"chan_sip account [{p.name}] (no secret)", ctx, p.file, p.line,
                               "secret=<a random secret of 16+ characters>"))
        elif not is_dynamic(p):
            out.append(Landing("trunk", f"chan_sip trunk [{p.name}] (host={p.value('host')})", ctx,
                               *_where(p, "context"), "context=from-trunk"))
    return out


def _where(s: Section, key: str) -> tuple[str, int]:
    v = s.get(key)
    return (v.file, v.line) if v else (s.file, s.line)


def check(tree: Tree) -> list[Finding]:
    conf = tree.get("sip")
    if conf is None:
        return []
    if not tree.loaded("chan_sip"):
        return [Finding(NOT_LOADED, Severity.INFO, conf.file, 1,
                        "sip.conf is present but modules.conf has `noload => chan_sip.so`: its settings are inert",
                        "; nothing to change (delete sip.conf to avoid confusion)")]
    out: list[Finding] = []
    g = conf.section("general")
    gfile, gline, _ = header(conf, "general")
    ctx = general_context(conf)

    guest = g.get("allowguest") if g else None
    if guest is None:
        out.append(Finding(ALLOWGUEST, Severity.HIGH, gfile, gline,
                           f"allowguest is not set: chan_sip defaults to yes, so any unauthenticated caller "
                           f"may call into context [{ctx}]",
                           "allowguest=no",
                           "Unauthenticated INVITEs are the first thing toll-fraud scanners try; with guests "
                           "allowed they run the dialplan of the guest context without any password."))
    elif not is_false(guest.value):
        out.append(Finding(ALLOWGUEST, Severity.HIGH, guest.file, guest.line,
                           f"allowguest={guest.value}: any unauthenticated caller may call into context [{ctx}]",
                           "allowguest=no",
                           "Unauthenticated INVITEs are the first thing toll-fraud scanners try; with guests "
                           "allowed they run the dialplan of the guest context without any password."))

    reject = g.get("alwaysauthreject") if g else None
    why = ("With alwaysauthreject=no chan_sip answers an unknown account differently from a wrong "
           "password, so svwar-style scanners list every extension and then guess their passwords.")
    if reject is None:
        out.append(Finding(AUTHREJECT, Severity.LOW, gfile, gline,
                           "alwaysauthreject is not set: the default is yes from Asterisk 1.8 on, but no on 1.4/1.6 "
                           "(account enumeration); say it explicitly",
                           "alwaysauthreject=yes", why))
    elif not is_true(reject.value):
        out.append(Finding(AUTHREJECT, Severity.HIGH, reject.file, reject.line,
                           f"alwaysauthreject={reject.value}: unknown accounts are answered differently from "
                           "wrong passwords, so scanners learn which extensions exist",
                           "alwaysauthreject=yes", why))

    accounts = peers(conf)
    no_ctx = [p.name for p in accounts if p.value("context") is None]
    if (g is None or g.get("context") is None) and (no_ctx or guest is None or not is_false(guest.value)):
        who = f"accounts {', '.join(no_ctx[:8])}{' ...' if len(no_ctx) > 8 else ''} and guests" if no_ctx else "guests"
        out.append(Finding(CONTEXT, Severity.MEDIUM if no_ctx else Severity.LOW, gfile, gline,
                           f"[general] sets no context: {who} land in [default], the sample dialplan's demo context",
                           "context=unauthenticated   ; a context with only `exten => _.,1,Hangup()`",
                           "A context you never chose is a context you never audited; the samples route "
                           "[default] to demo extensions and, on many installs, to outbound routes."))

    for p in accounts:
        dynamic = is_dynamic(p)
        has_secret = p.value("secret") or p.value("md5secret") or p.value("remotesecret")
        if dynamic and not has_secret:
            out.append(Finding(NO_SECRET, Severity.CRITICAL, p.file, p.line,
                               f"[{p.name}] (type={p.type}, host=dynamic) has no secret: anyone can register "
                               f"and call as {p.name} into context [{p.value('context') or ctx}]",
                               "secret=<a random secret of 16+ characters>",
                               "chan_sip accepts REGISTER and INVITE without a challenge for an account with no secret."))
        if not (p.all("permit") or p.all("deny") or p.all("acl")):
            out.append(Finding(NO_ACL, Severity.LOW, p.file, p.line,
                               f"[{p.name}] has no permit/deny: a stolen or guessed password works from anywhere",
                               "deny=0.0.0.0/0.0.0.0   ; then permit=<your phones' network>/<mask>",
                               "An address ACL turns a leaked password from a bill into a log line."))
        ins = p.get("insecure")
        if ins is not None and dynamic:
            flags = {f.strip().lower() for f in ins.value.split(",")}
            if flags & {"invite", "port", "very"}:
                sev = Severity.HIGH if flags & {"invite", "very"} else Severity.MEDIUM
                out.append(Finding(INSECURE, sev, ins.file, ins.line,
                                   f"[{p.name}] has insecure={ins.value} but is not locked to an address "
                                   "(host=dynamic): calls matched to it skip authentication",
                                   "insecure=no   ; insecure=invite only on trunks with a fixed host=",
                                   "insecure=invite means 'do not challenge INVITEs'; on a peer whose address is "
                                   "whatever registered last, that is a call anybody can make."))
    if accounts or g is not None:
        out.append(Finding(DEPRECATED, Severity.INFO, conf.file, 1,
                           "chan_sip is deprecated since Asterisk 17 and removed from Asterisk 21: this config "
                           "stops working on upgrade and gets no security fixes",
                           "; migrate to PJSIP (contrib/scripts/sip_to_pjsip/sip_to_pjsip.py) and noload => chan_sip.so",
                           "Unmaintained SIP stacks keep their bugs."))
    return out
