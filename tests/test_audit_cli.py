"""`sipwarden audit`: formats, exit status as a deployment gate, and the real Asterisk 20 corpus."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ASTERISK20
from sipwarden.audit import Severity, audit
from sipwarden.cli import main

STRONG = "Vq7-hR2m!pX9zL4w"

HARDENED = {
    "sip.conf": f"""[general]
context=unauthenticated
allowguest=no
alwaysauthreject=yes
udpbindaddr=203.0.113.5:5060

[phone](!)
type=friend
host=dynamic
context=internal
deny=0.0.0.0/0.0.0.0
permit=10.20.0.0/255.255.0.0

[1001](phone)
secret={STRONG}
[1002](phone)
secret=Zr4$uM8c-eW1tY6q
""",
    "pjsip.conf": """[global]
type=global
endpoint_identifier_order=ip,username,auth_username
unidentified_request_count=5

[transport-udp]
type=transport
protocol=udp
bind=0.0.0.0:5070

[acl]
type=acl
deny=0.0.0.0/0.0.0.0
permit=10.20.0.0/255.255.0.0
permit=203.0.113.7

[2001]
type=endpoint
context=internal
auth=2001-auth
aors=2001
[2001]
type=aor
max_contacts=1
[2001-auth]
type=auth
username=2001
password=Kp2!nV7r-Hs5wQ9d

[provider]
type=endpoint
context=from-trunk
acl=acl
[provider-id]
type=identify
endpoint=provider
match=203.0.113.7
""",
    "extensions.conf": """[general]
static=yes
writeprotect=yes

[globals]
TRUNK=PJSIP/provider

[unauthenticated]
exten => _.,1,Hangup()

[from-trunk]
exten => 5551000,1,Dial(PJSIP/2001,30)

[internal]
exten => _XXXX,1,Dial(PJSIP/${EXTEN},30)
exten => _0NXXXXXXXX,1,Dial(${TRUNK}/${EXTEN})
exten => _00.,1,Hangup(21)
""",
    "manager.conf": """[general]
enabled=yes
bindaddr=127.0.0.1

[monitor]
secret=Jd6%wL2x-Rf9kT3m
deny=0.0.0.0/0.0.0.0
permit=127.0.0.1/255.255.255.255
read=security,call
write=
""",
    "logger.conf": "[general]\n[logfiles]\nmessages => notice,warning,error\nsecurity => security\n",
    "http.conf": "[general]\nenabled=yes\nbindaddr=127.0.0.1\n",
}

OPEN = {
    "sip.conf": "[general]\ncontext=default\n[100]\ntype=friend\nhost=dynamic\nsecret=100\n",
    "extensions.conf": "[default]\nexten => _X.,1,Dial(SIP/provider/${EXTEN})\n",
}


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def run(*args: str):
    return CliRunner().invoke(main, ["audit", *args])


def test_hardened_config_has_nothing_above_medium_and_exits_0(tmp_path):
    root = tree(tmp_path, HARDENED)
    found = audit(root)
    assert [f for f in found if f.severity > Severity.MEDIUM] == []
    r = run(str(root))
    assert r.exit_code == 0, r.output
    last = r.output.strip().splitlines()[-1]
    assert "finding" in last and "critical" not in last and "high" not in last


def test_open_config_gates_with_exit_1_and_min_severity_moves_the_gate(tmp_path):
    root = tree(tmp_path, OPEN)
    assert run(str(root)).exit_code == 1
    h = tmp_path / "hard"
    h.mkdir()
    tree(h, HARDENED)
    assert run(str(h), "--min-severity", "info").exit_code == 1       # info findings exist
    assert run(str(h), "--min-severity", "critical").exit_code == 0


def test_text_output_most_severe_first_with_fix_lines(tmp_path):
    r = run(str(tree(tmp_path, OPEN)))
    out = r.output
    assert "\x1b[" not in out                      # no colour codes when not a terminal
    assert out.index("CRITICAL") < out.index("HIGH") < out.index("INFO")
    assert "sip.conf:1" in out and "fix: allowguest=no" in out      # missing key: the [general] header
    assert "sip.conf:6" in out and "1**" in out                       # secret=100, masked
    assert "dialplan.toll-fraud" in out and "extensions.conf:2" in out


def test_json_document(tmp_path):
    r = run(str(tree(tmp_path, OPEN)), "--format", "json")
    doc = json.loads(r.stdout)
    f = doc["findings"]
    assert f and all(set(x) >= {"check", "severity", "file", "line", "message", "fix"} for x in f)
    assert [x["severity"] for x in f] == sorted((x["severity"] for x in f), key=lambda s: -Severity.parse(s))
    assert {x["file"] for x in f} <= {"sip.conf", "extensions.conf", "logger.conf"}   # relative to PATH
    assert any(x["check"] == "secret.equals-username" and x["line"] == 6 for x in f)


def test_sarif_document(tmp_path):
    r = run(str(tree(tmp_path, OPEN)), "--format", "sarif")
    doc = json.loads(r.stdout)
    assert doc["version"] == "2.1.0"
    run0 = doc["runs"][0]
    rules = [x["id"] for x in run0["tool"]["driver"]["rules"]]
    assert "sip.allowguest" in rules and len(rules) == len(set(rules))
    results = run0["results"]
    assert results
    for res in results:
        assert rules[res["ruleIndex"]] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note")
    toll = next(x for x in results if x["ruleId"] == "dialplan.toll-fraud")
    assert toll["level"] == "error"
    loc = toll["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "sip.conf" and loc["region"]["startLine"] == 1


def test_unreadable_or_missing_path_is_exit_2(tmp_path):
    r = run(str(tmp_path / "nope"))
    assert r.exit_code == 2 and "no such file" in r.output
    (tmp_path / "empty").mkdir()
    r = run(str(tmp_path / "empty"))
    assert r.exit_code == 2 and "no Asterisk configuration" in r.output
    (tmp_path / "notes.txt").write_text("x")
    assert run(str(tmp_path / "notes.txt")).exit_code == 2
    assert run(str(tmp_path), "--format", "yaml").exit_code == 2


def test_single_file_is_audited_as_its_name_says(tmp_path):
    p = tmp_path / "sip.conf.new"
    p.write_text("[general]\nallowguest=yes\n")
    r = run(str(p), "--format", "json")
    assert r.exit_code == 1
    assert any(x["check"] == "sip.allowguest" and x["file"] == "sip.conf.new" for x in json.loads(r.stdout)["findings"])


# --- the real Asterisk 20 configs the corpus was recorded with -----------------------------------

def test_corpus_finds_qwerty_and_alwaysauthreject():
    configs = ASTERISK20 / "configs"
    found = audit(configs)
    weak = [f for f in found if f.check == "secret.dictionary"]
    assert {(f.file, f.message.split(":")[0]) for f in weak} == {
        ("sip.conf", "sip.conf [3000]"), ("pjsip.conf", "pjsip.conf auth [3000-auth]")}
    pj = next(f for f in weak if f.file == "pjsip.conf")
    assert (configs / "pjsip.conf").read_text().splitlines()[pj.line - 1] == "password=qwerty"
    assert all("qwerty" not in f.message for f in found)
    rej = [f for f in found if f.check == "sip.alwaysauthreject"]
    assert len(rej) == 1 and rej[0].severity == Severity.HIGH
    assert (configs / "sip.conf").read_text().splitlines()[rej[0].line - 1] == "alwaysauthreject=no"
    assert not [f for f in found if f.check in ("sip.allowguest", "dialplan.toll-fraud", "manager.bind-all",
                                                 "logger.security-off")]


def test_corpus_alwaysauthreject_yes_variant_has_no_such_finding(tmp_path):
    configs = ASTERISK20 / "configs"
    for f in configs.glob("*.conf"):
        shutil.copy(f, tmp_path / f.name)
    shutil.copy(configs / "sip.conf.alwaysauthreject_yes", tmp_path / "sip.conf")
    found = audit(tmp_path)
    assert not [f for f in found if f.check == "sip.alwaysauthreject"]
    assert [f for f in found if f.check == "secret.dictionary"]          # the weak 3000 is still there
    single = audit(configs / "sip.conf.alwaysauthreject_yes")            # the file on its own, by name
    assert not [f for f in single if f.check == "sip.alwaysauthreject"]


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_corpus_cli_exit_1_in_every_format(fmt):
    r = run(str(ASTERISK20 / "configs"), "--format", fmt)
    assert r.exit_code == 1
    if fmt != "text":
        json.loads(r.stdout)
