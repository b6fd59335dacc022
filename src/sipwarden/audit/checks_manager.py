"""The management planes: AMI (manager.conf), the HTTP server behind ARI and AMI-over-HTTP
(http.conf, ari.conf), and whether attacks are logged at all (logger.conf).

AMI defaults: enabled=no, bindaddr=0.0.0.0, port 5038. An AMI user with write=system/command/all
can run shell commands on the PBX. http.conf has no default bindaddr (without one it does not listen).
"""

from __future__ import annotations

from .conf import Section, is_true
from .model import Finding, Severity, rule
from .tree import Tree, header

AMI_BIND = rule("manager.bind-all", "AMI listens on all interfaces")
AMI_NO_ACL = rule("manager.user-no-acl", "AMI user without permit/deny")
AMI_PERMIT_ANY = rule("manager.permit-any", "AMI user permitted from any address")
AMI_WRITE = rule("manager.dangerous-write", "AMI user may run commands on the PBX")
SECURITY_LOG = rule("logger.security-off", "security events are not logged")
HTTP_EXPOSED = rule("http.exposed", "Asterisk HTTP server (ARI, AMI over HTTP) on all interfaces")

ANY_HOSTS = ("0.0.0.0", "::", "[::]", "")
ANY_NETS = ("0.0.0.0/0", "0.0.0.0/0.0.0.0", "::/0", "0.0.0.0/0.0.0.0.0")
DANGEROUS = ("all", "system", "command")


def _host(addr: str) -> str:
    addr = addr.strip()
    if addr.startswith("["):
        return addr[1:].split("]", 1)[0]
    return addr.split(":", 1)[0] if addr.count(":") == 1 else addr


def _users(tree: Tree) -> list[Section]:
    man = tree.get("manager")
    return [s for s in man.concrete() if s.name.lower() != "general"] if man else []


def check_manager(tree: Tree) -> list[Finding]:
    man = tree.get("manager")
    if man is None:
        return []
    g = man.section("general")
    if g is None or not is_true(g.value("enabled")):
        return []
    out: list[Finding] = []
    bind = g.get("bindaddr")
    everywhere = _host(bind.value if bind else "0.0.0.0") in ANY_HOSTS
    if everywhere:
        file, line = (bind.file, bind.line) if bind else (g.file, g.line)
        out.append(Finding(AMI_BIND, Severity.HIGH, file, line,
                           f"AMI is enabled and bound to {'bindaddr=' + bind.value if bind else 'all interfaces (bindaddr defaults to 0.0.0.0)'}"
                           f" port {g.value('port') or '5038'}",
                           "bindaddr=127.0.0.1",
                           "AMI is a plain-text login to the whole PBX; scanners sweep port 5038 for it."))
    for u in _users(tree):
        permits = u.all("permit")
        ruled = permits or u.all("deny") or u.all("acl")
        if not ruled:
            out.append(Finding(AMI_NO_ACL, Severity.HIGH if everywhere else Severity.LOW, u.file, u.line,
                               f"AMI user [{u.name}] has no permit/deny: it may log in from any address"
                               + (" that reaches port 5038" if everywhere else " that reaches the bind address"),
                               "deny=0.0.0.0/0.0.0.0   ; then permit=127.0.0.1/255.255.255.255",
                               "An ACL keeps a leaked or guessed AMI secret useless from outside."))
        for p in permits:
            if p.value.replace(" ", "") in ANY_NETS:
                out.append(Finding(AMI_PERMIT_ANY, Severity.HIGH if everywhere else Severity.MEDIUM, p.file, p.line,
                                   f"AMI user [{u.name}] permit={p.value}: every address is allowed",
                                   "permit=127.0.0.1/255.255.255.255   ; or your management host",
                                   "permit=0.0.0.0/0 undoes any deny before it."))
        w = u.get("write")
        if w is not None:
            perms = {x.strip().lower() for x in w.value.split(",")}
            bad = sorted(perms & set(DANGEROUS))
            if bad:
                exposed = everywhere and (not ruled or any(p.value.replace(" ", "") in ANY_NETS for p in permits))
                out.append(Finding(AMI_WRITE, Severity.HIGH if exposed else Severity.LOW, w.file, w.line,
                                   f"AMI user [{u.name}] write={w.value}: {'/'.join(bad)} lets it run CLI and shell "
                                   "commands (System, Originate to Local channels)",
                                   "write=call,reporting   ; only the classes this client needs",
                                   "Whoever holds this login runs commands as the asterisk user."))
    return out


def check_logger(tree: Tree) -> list[Finding]:
    log = tree.get("logger")
    if log is None:
        if "logger" in tree.expected:
            return [Finding(SECURITY_LOG, Severity.MEDIUM, "logger.conf", 0,
                            "no logger.conf: Asterisk's defaults log no security events",
                            "security => security   ; in [logfiles] of a new logger.conf",
                            "Without the security log, attacks (and sipwarden) see only half the evidence.")]
        return []
    channels = log.section("logfiles")
    for v in channels.values if channels else []:
        levels = {x.strip().lower() for x in v.value.split(",")}
        if "security" in levels or "*" in levels:
            return []
    file, line, _ = header(log, "logfiles")
    return [Finding(SECURITY_LOG, Severity.MEDIUM, file, line,
                    "no channel in [logfiles] logs the `security` level: failed logins and ACL hits go unrecorded",
                    "security => security",
                    "res_security_log's events carry the attacker's real address; without them attacks go "
                    "unseen and sipwarden works from the messages log alone.")]


def check_http(tree: Tree) -> list[Finding]:
    http = tree.get("http")
    if http is None:
        return []
    g = http.section("general")
    if g is None or not is_true(g.value("enabled")):
        return []
    exposed = []
    bind = g.get("bindaddr")
    if bind is not None and _host(bind.value) in ANY_HOSTS:
        exposed.append(bind)
    tls = g.get("tlsbindaddr")
    if is_true(g.value("tlsenable")) and tls is not None and _host(tls.value) in ANY_HOSTS:
        exposed.append(tls)
    if not exposed:
        return []
    what = []
    ari = tree.get("ari")
    ari_g = ari.section("general") if ari else None
    if ari_g is not None and is_true(ari_g.value("enabled", "yes")):
        what.append("ARI (full call control)")
    man = tree.get("manager")
    man_g = man.section("general") if man else None
    if man_g is not None and is_true(man_g.value("webenabled")):
        what.append("AMI over HTTP")
    sev = Severity.HIGH if what else Severity.MEDIUM
    v = exposed[0]
    return [Finding(HTTP_EXPOSED, sev, v.file, v.line,
                    f"the Asterisk HTTP server listens on all interfaces ({v.key}={v.value})"
                    + (f" and serves {' and '.join(what)}" if what else ""),
                    f"{v.key}=127.0.0.1" + (":8089" if v.key == "tlsbindaddr" else ""),
                    "ARI and AMI over HTTP are logins to the whole PBX; put them behind localhost or a VPN.")]


def check(tree: Tree) -> list[Finding]:
    return check_manager(tree) + check_logger(tree) + check_http(tree)
