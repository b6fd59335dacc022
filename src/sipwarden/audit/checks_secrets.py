"""Passwords an attacker guesses first: empty, short, digits only, the account's own name, a common
word, or one reused on several accounts. Found in sip.conf (secret, md5secret), pjsip.conf auth
(password, md5_cred), iax.conf, manager.conf and ari.conf. Secrets are only ever shown masked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from .conf import Value, is_true
from .model import Finding, Severity, mask, rule
from .tree import Tree

EMPTY = rule("secret.empty", "empty password")
DICTIONARY = rule("secret.dictionary", "password from the list of common passwords")
USERNAME = rule("secret.equals-username", "password equal to the account name")
SHORT = rule("secret.short", "password shorter than 8 characters")
DIGITS = rule("secret.digits-only", "password made of digits only")
REUSED = rule("secret.reused", "one password on several accounts")

MIN_LENGTH = 8
FIX = "<a random secret of 16+ characters, e.g. `openssl rand -base64 18`>"


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list (package data), lower-cased."""
    text = resources.files("sipwarden").joinpath("data/common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(w.strip().lower() for w in text.splitlines() if w.strip() and not w.startswith("#"))


@dataclass(frozen=True)
class Credential:
    """One account's secret. `names` are what an attacker tries as the password first."""

    where: str          # "sip.conf [3000]" for messages
    identity: str       # the account, so the same extension in sip.conf and pjsip.conf is one account
    key: str            # secret / password / md5secret / md5_cred
    value: Value
    names: tuple[str, ...]
    md5_realm: str | None = None   # set when value is md5(user:realm:password)


def credentials(tree: Tree) -> list[Credential]:
    out: list[Credential] = []
    sip = tree.get("sip")
    if sip is not None and tree.loaded("chan_sip"):
        g = sip.section("general")
        realm = (g.value("realm") if g else None) or "asterisk"
        for s in sip.concrete():
            if s.name.lower() in ("general", "authentication"):
                continue
            names = tuple(n for n in (s.name, s.value("defaultuser"), s.value("username")) if n)
            for key in ("secret", "md5secret"):
                v = s.get(key)
                if v is not None:
                    out.append(Credential(f"sip.conf [{s.name}]", s.name, key, v, names,
                                          realm if key == "md5secret" else None))
    pj = tree.get("pjsip")
    if pj is not None and tree.loaded("res_pjsip"):
        users: dict[str, list[str]] = {}
        for ep in pj.of_type("endpoint"):
            for a in ep.all("auth"):
                for name in a.value.split(","):
                    users.setdefault(name.strip(), []).append(ep.name)
        g = next(iter(pj.of_type("global")), None)
        default_realm = (g.value("default_realm") if g else None) or "asterisk"
        for s in pj.of_type("auth"):
            user = s.value("username") or s.name
            names = tuple(dict.fromkeys([user, s.name, *users.get(s.name, [])]))
            kind = (s.value("auth_type") or "userpass").lower()
            if kind == "md5":
                v = s.get("md5_cred")
                if v is not None:
                    out.append(Credential(f"pjsip.conf auth [{s.name}]", user, "md5_cred", v, names,
                                          s.value("realm") or default_realm))
            elif kind in ("userpass", "digest", ""):
                v = s.get("password")
                if v is not None or s.name in users:
                    out.append(Credential(f"pjsip.conf auth [{s.name}]", user, "password",
                                          v or Value("password", "", s.file, s.line), names))
    iax = tree.get("iax")
    if iax is not None and tree.loaded("chan_iax2"):
        for s in iax.concrete():
            v = s.get("secret")
            if s.name.lower() != "general" and v is not None:
                names = tuple(n for n in (s.name, s.value("username")) if n)
                out.append(Credential(f"iax.conf [{s.name}]", s.name, "secret", v, names))
    man = tree.get("manager")
    if man is not None:
        g = man.section("general")
        if g is not None and (is_true(g.value("enabled")) or is_true(g.value("webenabled"))):
            for s in man.concrete():
                v = s.get("secret")
                if s.name.lower() != "general" and v is not None:
                    out.append(Credential(f"manager.conf [{s.name}]", f"ami:{s.name}", "secret", v, (s.name,)))
    ari = tree.get("ari")
    if ari is not None:
        g = ari.section("general")
        if g is not None and is_true(g.value("enabled", "yes")):
            for s in ari.of_type("user"):
                v = s.get("password")
                if v is not None and (s.value("password_format") or "plain").lower() == "plain":
                    out.append(Credential(f"ari.conf [{s.name}]", f"ari:{s.name}", "password", v, (s.name,)))
    return out


def _md5_plain(c: Credential) -> str | None:
    """Recover the password behind md5(user:realm:password) if it is a name or a common password."""
    target = c.value.value.strip().lower()
    for user in c.names:
        for guess in (*c.names, *common_passwords()):
            if hashlib.md5(f"{user}:{c.md5_realm}:{guess}".encode()).hexdigest() == target:
                return guess
    return None


def weaknesses(secret: str, names: tuple[str, ...]) -> list[tuple[str, Severity, str]]:
    """Every reason this secret is weak, worst first."""
    if secret == "":
        return [(EMPTY, Severity.CRITICAL, "is empty")]
    out = []
    low = secret.lower()
    lnames = {n.lower() for n in names if n}
    if low in lnames or any(low in (n + n, n[::-1]) for n in lnames):
        out.append((USERNAME, Severity.CRITICAL, "equals the account name"))
    if low in common_passwords():
        out.append((DICTIONARY, Severity.CRITICAL, "is in the list of common passwords"))
    if len(secret) < MIN_LENGTH:
        out.append((SHORT, Severity.HIGH, f"has only {len(secret)} characters"))
    if secret.isdigit():
        out.append((DIGITS, Severity.MEDIUM, "is digits only"))
    return out


def check(tree: Tree) -> list[Finding]:
    out: list[Finding] = []
    by_secret: dict[str, list[Credential]] = {}
    for c in credentials(tree):
        v = c.value
        if c.md5_realm is not None:
            plain = _md5_plain(c)
            if plain is None:
                continue
            found = weaknesses(plain, c.names)
            shown = f"hash of {mask(plain)!r}"
        else:
            found = weaknesses(v.value, c.names)
            shown = repr(mask(v.value))
            if v.value:
                by_secret.setdefault(v.value, []).append(c)
        if not found:
            continue
        check_id, sev, reason = found[0]
        also = [r for _, _, r in found[1:]]
        out.append(Finding(check_id, sev, v.file, v.line,
                           f"{c.where}: {c.key} {shown} {reason}" + (f" (also {', '.join(also)})" if also else ""),
                           f"{c.key}={FIX}",
                           "Scanners such as svcrack try the account name, digits and a short dictionary "
                           "first; a guessed SIP password is a phone bill, a guessed AMI one is the PBX."))
    for secret, creds in by_secret.items():
        accounts = sorted({c.identity for c in creds})
        if len(accounts) < 2:
            continue
        first = creds[0].value
        out.append(Finding(REUSED, Severity.HIGH, first.file, first.line,
                           f"one password ({mask(secret)!r}) is shared by {len(accounts)} accounts: "
                           + ", ".join(f"{c.where} ({c.value.file}:{c.value.line})" for c in creds),
                           f"{creds[0].key}={FIX}   ; a different one on each account",
                           "One cracked account then opens all the others."))
    return out
