"""Each audit check firing on the hole it names, and staying quiet once the hole is closed."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipwarden.audit import Severity, audit
from sipwarden.audit.checks_secrets import common_passwords, weaknesses
from sipwarden.audit.model import mask

STRONG = "Vq7-hR2m!pX9zL4w"
STRONG2 = "Tt8#kW3n-yQ6vB1s"


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line that is exactly `needle`."""
    return text.splitlines().index(needle) + 1


def ids(findings, check: str | None = None):
    return [f for f in findings if check is None or f.check == check]


def one(findings, check: str):
    found = ids(findings, check)
    assert len(found) == 1, [(f.check, f.file, f.line, f.message) for f in findings]
    return found[0]


SAFE_PEER = f"[100]\ntype=friend\nhost=dynamic\ncontext=internal\nsecret={STRONG}\ndeny=0.0.0.0/0.0.0.0\npermit=10.0.0.0/255.0.0.0\n"


# --- the seed's case: allowguest and alwaysauthreject -------------------------------------------

def test_seed_missing_keys_are_defaults_and_findings(tmp_path):
    f = audit(tree(tmp_path, {"sip.conf": "[general]\ncontext=internal\n" + SAFE_PEER}))
    guest = one(f, "sip.allowguest")
    assert (guest.file, guest.line, guest.fix, guest.severity) == ("sip.conf", 1, "allowguest=no", Severity.HIGH)
    assert "defaults to yes" in guest.message
    rej = one(f, "sip.alwaysauthreject")
    assert (rej.line, rej.fix) == (1, "alwaysauthreject=yes")
    assert "1.8" in rej.message


def test_seed_bad_values_point_at_their_lines(tmp_path):
    f = audit(tree(tmp_path, {"sip.conf": "[general]\ncontext=internal\nallowguest=yes\nalwaysauthreject=no\n" + SAFE_PEER}))
    assert (one(f, "sip.allowguest").line, one(f, "sip.allowguest").severity) == (3, Severity.HIGH)
    assert (one(f, "sip.alwaysauthreject").line, one(f, "sip.alwaysauthreject").severity) == (4, Severity.HIGH)


def test_seed_fixed_gives_no_finding_for_either(tmp_path):
    f = audit(tree(tmp_path, {"sip.conf": "[general]\ncontext=internal\nallowguest=no\nalwaysauthreject=yes\n" + SAFE_PEER}))
    assert not ids(f, "sip.allowguest") and not ids(f, "sip.alwaysauthreject")


# --- chan_sip accounts -------------------------------------------------------------------------

GEN = "[general]\nallowguest=no\nalwaysauthreject=yes\ncontext=internal\n"


def test_peer_without_secret_and_acl(tmp_path):
    f = audit(tree(tmp_path, {"sip.conf": GEN + "[200]\ntype=friend\nhost=dynamic\n" + SAFE_PEER}))
    assert one(f, "sip.peer-no-secret").line == 5 and one(f, "sip.peer-no-secret").severity == Severity.CRITICAL
    assert [x.line for x in ids(f, "sip.peer-no-acl")] == [5]        # [100] has permit/deny


def test_insecure_only_matters_on_dynamic_peers(tmp_path):
    sip = GEN + SAFE_PEER + "insecure=port,invite\n" + \
        f"[trunk]\ntype=peer\nhost=203.0.113.7\ninsecure=port,invite\nsecret={STRONG2}\ncontext=from-trunk\ndeny=0.0.0.0/0\npermit=203.0.113.7\n"
    f = audit(tree(tmp_path, {"sip.conf": sip}))
    ins = one(f, "sip.insecure-dynamic")
    assert (ins.line, ins.severity) == (12, Severity.HIGH)


def test_context_default(tmp_path):
    f = audit(tree(tmp_path, {"sip.conf": "[general]\nallowguest=no\nalwaysauthreject=yes\n"
                                          f"[300]\ntype=friend\nhost=dynamic\nsecret={STRONG}\npermit=10.0.0.1\n"}))
    c = one(f, "sip.context-default")
    assert c.severity == Severity.MEDIUM and "300" in c.message and "[default]" in c.message
    f = audit(tree(tmp_path, {"sip.conf": GEN + SAFE_PEER}))
    assert not ids(f, "sip.context-default")


def test_chan_sip_noload_makes_sip_conf_inert(tmp_path):
    f = audit(tree(tmp_path, {"sip.conf": "[general]\nallowguest=yes\n[x]\ntype=friend\nhost=dynamic\n",
                              "modules.conf": "[modules]\nautoload=yes\nnoload => chan_sip.so\n"}))
    assert [x.check for x in f if x.check.startswith(("sip.", "secret."))] == ["sip.not-loaded"]


# --- PJSIP --------------------------------------------------------------------------------------

PJ_GLOBAL = "[global]\ntype=global\nendpoint_identifier_order=ip,username,auth_username\n"
PJ_ACL = "[acl]\ntype=acl\ndeny=0.0.0.0/0.0.0.0\npermit=10.0.0.0/8\n"
PJ_PHONE = f"[1001]\ntype=endpoint\ncontext=internal\nauth=1001-auth\naors=1001\n[1001]\ntype=aor\nmax_contacts=1\n[1001-auth]\ntype=auth\nusername=1001\npassword={STRONG}\n"


def test_pjsip_anonymous_endpoint(tmp_path):
    pj = "[anonymous]\ntype=endpoint\ncontext=public\n" + PJ_PHONE
    f = audit(tree(tmp_path, {"pjsip.conf": pj}))
    a = one(f, "pjsip.anonymous-endpoint")
    assert (a.line, a.severity) == (1, Severity.HIGH) and "[public]" in a.message
    # without `anonymous` in the identifier order the endpoint is never picked
    f = audit(tree(tmp_path, {"pjsip.conf": PJ_GLOBAL + pj}))
    assert not ids(f, "pjsip.anonymous-endpoint")


def test_pjsip_endpoint_without_auth_and_open_identify(tmp_path):
    pj = (PJ_GLOBAL + PJ_ACL + "[free]\ntype=endpoint\ncontext=internal\n"
          "[trunk]\ntype=endpoint\ncontext=from-trunk\n[trunk-id]\ntype=identify\nendpoint=trunk\nmatch=0.0.0.0/0\n"
          "[prov]\ntype=endpoint\ncontext=from-trunk\n[prov-id]\ntype=identify\nendpoint=prov\nmatch=203.0.113.7\n"
          + PJ_PHONE)
    f = audit(tree(tmp_path, {"pjsip.conf": pj}))
    assert one(f, "pjsip.endpoint-no-auth").line == line_of(pj, "[free]")   # anyone claiming "free"
    assert one(f, "pjsip.identify-open").line == line_of(pj, "match=0.0.0.0/0")
    assert not ids(f, "pjsip.endpoint-no-acl")                 # an ACL section exists
    pj = pj.replace(PJ_ACL, "")
    f = audit(tree(tmp_path, {"pjsip.conf": pj}))
    assert [x.line for x in ids(f, "pjsip.endpoint-no-acl")] == [line_of(pj, "[prov]")]  # trusted by address alone


def test_pjsip_unauthenticated_options_and_transport_bind(tmp_path):
    pj = ("[t]\ntype=transport\nprotocol=udp\nbind=0.0.0.0:5060\n[t6]\ntype=transport\nprotocol=udp\nbind=[::]:5060\n"
          "[tl]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:5070\n"
          + PJ_PHONE.replace("aors=1001\n", "aors=1001\nallow_unauthenticated_options=yes\n"))
    f = audit(tree(tmp_path, {"pjsip.conf": pj}))
    assert [x.line for x in ids(f, "pjsip.transport-bind-all")] == [4, 8]
    assert one(f, "pjsip.options-unauthenticated").line == 18
    f = audit(tree(tmp_path, {"pjsip.conf": pj + PJ_ACL}))
    assert not ids(f, "pjsip.transport-bind-all")


def test_pjsip_unidentified_counters_need_auth_username(tmp_path):
    f = audit(tree(tmp_path, {"pjsip.conf": "[global]\ntype=global\nunidentified_request_count=3\n" + PJ_PHONE}))
    u = one(f, "pjsip.unidentified-inactive")
    assert (u.line, u.severity) == (3, Severity.LOW) and "auth_username" in u.fix
    f = audit(tree(tmp_path, {"pjsip.conf": PJ_GLOBAL + "unidentified_request_count=3\n" + PJ_PHONE}))
    assert not ids(f, "pjsip.unidentified-inactive")


# --- secrets -----------------------------------------------------------------------------------

def test_weaknesses_each_reason():
    assert weaknesses("", ("1",))[0][0] == "secret.empty"
    assert weaknesses("amp111", ("admin",))[0][0] == "secret.dictionary"
    assert weaknesses("4711", ("4711",))[0][0] == "secret.equals-username"
    assert weaknesses("x7#Kp", ("u",))[0][0] == "secret.short"
    assert weaknesses("83920174615", ("u",))[0][0] == "secret.digits-only"
    assert weaknesses(STRONG, ("u",)) == []


def test_password_list_is_compact_and_has_the_famous_ones():
    words = common_passwords()
    assert 200 <= len(words) <= 1000
    assert {"amp111", "1234", "qwerty", "password"} <= words


def test_mask_never_shows_a_secret_whole():
    assert mask("qwerty") == "q****y"
    for s in ("", "a", "ab", "abc", "1234", "amp111", STRONG):
        assert len(mask(s)) == len(s) and (s == "" or mask(s) != s)


@pytest.mark.parametrize("conf, text, check, line", [
    ("sip.conf", GEN + "[100]\ntype=friend\nhost=dynamic\nsecret=100\n", "secret.equals-username", 8),
    ("sip.conf", GEN + "[100]\ntype=friend\nhost=dynamic\nsecret=qwerty\n", "secret.dictionary", 8),
    ("sip.conf", GEN + "[100]\ntype=friend\nhost=dynamic\nsecret=\n", "secret.empty", 8),
    ("pjsip.conf", PJ_PHONE.replace(STRONG, "a9#Zx"), "secret.short", 12),
    ("iax.conf", "[general]\n[trunk]\ntype=friend\nsecret=20260418377\n", "secret.digits-only", 4),
    ("manager.conf", "[general]\nenabled=yes\nbindaddr=127.0.0.1\n[admin]\nsecret=amp111\npermit=127.0.0.1\n",
     "secret.dictionary", 5),
])
def test_weak_secret_in_every_file(tmp_path, conf, text, check, line):
    f = audit(tree(tmp_path, {conf: text}))
    s = one(f, check)
    assert (s.file, s.line) == (conf, line)
    secret = text.splitlines()[line - 1].split("=", 1)[1]
    assert repr(mask(secret)) in s.message              # shown masked
    if check != "secret.equals-username":               # (saying it equals the name says it all)
        assert secret == "" or secret not in s.message
    assert s.fix.split("=")[0] in ("secret", "password")


def test_md5secret_of_a_common_password_is_found(tmp_path):
    import hashlib
    h = hashlib.md5(b"100:asterisk:1234").hexdigest()
    f = audit(tree(tmp_path, {"sip.conf": GEN + f"[100]\ntype=friend\nhost=dynamic\nmd5secret={h}\n"}))
    s = one(f, "secret.dictionary")
    assert s.line == 8 and "hash of" in s.message and "1234" not in s.message
    h = hashlib.md5(f"100:asterisk:{STRONG}".encode()).hexdigest()
    f = audit(tree(tmp_path, {"sip.conf": GEN + f"[100]\ntype=friend\nhost=dynamic\nmd5secret={h}\n"}))
    assert not [x for x in f if x.check.startswith("secret.")]


def test_reuse_across_accounts_but_not_one_account_in_two_stacks(tmp_path):
    sip = GEN + f"[1001]\ntype=friend\nhost=dynamic\nsecret={STRONG}\n[1002]\ntype=friend\nhost=dynamic\nsecret={STRONG}\n"
    f = audit(tree(tmp_path, {"sip.conf": sip, "pjsip.conf": PJ_PHONE}))
    r = one(f, "secret.reused")
    assert "2 accounts" in r.message and STRONG not in r.message
    f = audit(tree(tmp_path, {"sip.conf": sip.replace(f"[1002]\ntype=friend\nhost=dynamic\nsecret={STRONG}\n", "")}))
    assert not ids(f, "secret.reused")      # 1001 in sip.conf and pjsip.conf is one account


def test_weak_secret_from_a_template_in_an_included_file_points_there(tmp_path):
    f = audit(tree(tmp_path, {
        "sip.conf": GEN + "#include templates/*.conf\n#include sip_custom.conf\n",
        "templates/phone.conf": "; phones\n[phone](!)\ntype=friend\nhost=dynamic\nsecret=1234\ncontext=internal\n",
        "sip_custom.conf": "[4000](phone)\npermit=10.0.0.1\n",
    }))
    s = one(f, "secret.dictionary")
    assert (s.file, s.line) == ("templates/phone.conf", 5)
    assert "[4000]" in s.message


def test_block_commented_weak_secret_is_ignored(tmp_path):
    f = audit(tree(tmp_path, {"sip.conf": GEN + f"[100]\ntype=friend\nhost=dynamic\nsecret={STRONG}\n"
                                               ";-- old account\n[200]\ntype=friend\nsecret=1234\n--;\n"}))
    assert not [x for x in f if x.check.startswith("secret.")]
    assert "200" not in " ".join(x.message for x in f)


# --- AMI, logger, http ---------------------------------------------------------------------------

def test_manager_exposed(tmp_path):
    man = "[general]\nenabled=yes\nport=5038\n[admin]\nsecret=" + STRONG + "\nwrite=system,call\n[mon]\nsecret=" + STRONG2 + \
        "\ndeny=0.0.0.0/0.0.0.0\npermit=0.0.0.0/0.0.0.0\nread=all\n"
    f = audit(tree(tmp_path, {"manager.conf": man}))
    assert one(f, "manager.bind-all").line == 1                  # bindaddr defaults to 0.0.0.0
    assert one(f, "manager.user-no-acl").line == 4
    assert one(f, "manager.permit-any").line == 10
    w = one(f, "manager.dangerous-write")
    assert (w.line, w.severity) == (6, Severity.HIGH)
    f = audit(tree(tmp_path, {"manager.conf": man.replace("port=5038", "bindaddr=127.0.0.1")
                              .replace("permit=0.0.0.0/0.0.0.0", "permit=127.0.0.1/255.255.255.255")
                              .replace("write=system,call", "write=call\npermit=127.0.0.1")}))
    assert not [x for x in f if x.severity >= Severity.MEDIUM and x.check.startswith("manager.")]
    f = audit(tree(tmp_path, {"manager.conf": man.replace("enabled=yes", "enabled=no")}))
    assert not [x for x in f if x.check.startswith("manager.")]


def test_logger_security_channel(tmp_path):
    f = audit(tree(tmp_path, {"logger.conf": "[general]\n[logfiles]\nmessages => notice,warning,error\n"}))
    assert one(f, "logger.security-off").line == 2
    for line in ("security => security", "full => notice,warning,error,security", "all => *"):
        f = audit(tree(tmp_path, {"logger.conf": f"[general]\n[logfiles]\n{line}\n"}))
        assert not ids(f, "logger.security-off"), line


def test_http_exposing_ari(tmp_path):
    files = {"http.conf": "[general]\nenabled=yes\nbindaddr=0.0.0.0\nbindport=8088\n",
             "ari.conf": "[general]\nenabled=yes\n[app]\ntype=user\npassword=" + STRONG + "\n"}
    h = one(audit(tree(tmp_path, files)), "http.exposed")
    assert (h.line, h.severity, h.fix) == (3, Severity.HIGH, "bindaddr=127.0.0.1") and "ARI" in h.message
    files["http.conf"] = "[general]\nenabled=yes\nbindaddr=127.0.0.1\n"
    assert not ids(audit(tree(tmp_path, files)), "http.exposed")
