"""Toll-fraud reachability: from the contexts guests, anonymous callers and trunks land in."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipwarden.audit import Severity, audit
from sipwarden.audit.conf import parse
from sipwarden.audit.dialplan import build, open_ended, pattern_regex, toll_paths

STRONG = "Vq7-hR2m!pX9zL4w"

EXT = """[globals]
TRUNK=SIP/provider

[default]
include => outbound

[outbound]
exten => _9.,1,NoOp(out)
 same => n,Dial(${TRUNK}/${EXTEN:1})

[internal]
exten => _X.,1,Set(NUM=${EXTEN})
 same => n,Goto(dialout,s,1)

[dialout]
exten => s,1,Dial(PJSIP/${NUM}@trunk)

[viasub]
exten => _00.,1,Gosub(sub-out,s,1(${EXTEN}))

[sub-out]
exten => s,1,Dial(IAX2/prov/${ARG1})
 same => n,Return()

[viamacro]
exten => _X.,1,Macro(dialout,${EXTEN})

[macro-dialout]
exten => s,1,Dial(DAHDI/g0/${ARG1})

[local]
exten => _X.,1,Dial(Local/${EXTEN}@outbound)

[phones-only]
exten => _X.,1,Dial(SIP/${EXTEN})
exten => _XXX,1,Dial(PJSIP/${EXTEN},20)
exten => _00.,1,Hangup(21)

[fixed]
exten => _X.,1,Dial(SIP/provider/0800123456)
exten => 123,1,Dial(SIP/provider/${EXTEN})

[dynamic]
exten => _X.,1,Goto(${DEST},${EXTEN},1)
"""


@pytest.fixture(scope="module")
def plan():
    return build(parse(EXT, "extensions.conf"))


@pytest.mark.parametrize("start, last", [
    ("default", "Dial(${TRUNK}/${EXTEN:1})"),
    ("internal", "Dial(PJSIP/${NUM}@trunk)"),
    ("viasub", "Dial(IAX2/prov/${ARG1})"),
    ("viamacro", "Dial(DAHDI/g0/${ARG1})"),
    ("local", "Dial(${TRUNK}/${EXTEN:1})"),
])
def test_paths_to_a_trunk_with_the_callers_number(plan, start, last):
    paths = toll_paths(plan, start)
    assert paths, start
    assert paths[0].chain[0].startswith(f"[{start}]")
    assert paths[0].chain[-1].startswith(last)
    assert paths[0].dial.file == "extensions.conf" and EXT.splitlines()[paths[0].dial.line - 1].endswith(
        last.split("(", 1)[1])


@pytest.mark.parametrize("start", ["phones-only", "fixed", "dynamic", "outbound-missing", "sub-out"])
def test_no_path_when_the_number_is_not_the_callers_or_not_to_a_trunk(plan, start):
    assert toll_paths(plan, start) == []


def test_the_chain_names_the_include_and_the_pattern(plan):
    chain = toll_paths(plan, "default")[0].describe()
    assert chain == ("[default] include => outbound (extensions.conf:5) -> [outbound] _9. (extensions.conf:8) "
                     "-> Dial(${TRUNK}/${EXTEN:1}) (extensions.conf:9)")


def test_patterns():
    assert open_ended("_X.") and open_ended("_00.") and open_ended("_N!") and not open_ended("_XXXX")
    assert not open_ended("100")
    rx = pattern_regex("_9[1-3]NX.")
    assert rx.match("9245123") and not rx.match("9415") and not rx.match("924")
    assert pattern_regex("100") is None


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_guest_context_dialing_out_is_critical_and_points_at_allowguest(tmp_path):
    sip = f"[general]\ncontext=default\nallowguest=yes\nalwaysauthreject=yes\n[100]\ntype=friend\nhost=dynamic\nsecret={STRONG}\ncontext=internal\npermit=10.0.0.1\n"
    f = audit(tree(tmp_path, {"sip.conf": sip, "extensions.conf": EXT}))
    toll = [x for x in f if x.check == "dialplan.toll-fraud"]
    assert len(toll) == 1
    assert (toll[0].file, toll[0].line, toll[0].fix, toll[0].severity) == ("sip.conf", 3, "allowguest=no", Severity.CRITICAL)
    assert "include => outbound" in toll[0].message and "extensions.conf:9" in toll[0].message
    f = audit(tree(tmp_path, {"sip.conf": sip.replace("allowguest=yes", "allowguest=no")}))
    assert not [x for x in f if x.check == "dialplan.toll-fraud"]


def test_guest_context_without_trunk_only_reaches_phones(tmp_path):
    sip = "[general]\ncontext=phones-only\nalwaysauthreject=yes\n"
    f = audit(tree(tmp_path, {"sip.conf": sip, "extensions.conf": EXT}))
    assert not [x for x in f if x.check == "dialplan.toll-fraud"]
    reach = [x for x in f if x.check == "dialplan.guest-reach"]
    assert len(reach) == 1 and reach[0].severity == Severity.LOW and "3 extension" in reach[0].message


def test_pjsip_anonymous_and_trunk_landings(tmp_path):
    pj = ("[anonymous]\ntype=endpoint\ncontext=viasub\n"
          f"[prov]\ntype=endpoint\ncontext=internal\nauth=prov-auth\n[prov-auth]\ntype=auth\nusername=p\npassword={STRONG}\n"
          "[prov-id]\ntype=identify\nendpoint=prov\nmatch=203.0.113.7\n")
    f = audit(tree(tmp_path, {"pjsip.conf": pj, "extensions.conf": EXT}))
    toll = [x for x in f if x.check == "dialplan.toll-fraud"]
    assert [(x.line, x.severity) for x in toll] == [(1, Severity.CRITICAL)]
    assert "Gosub(sub-out,s,1(${EXTEN}))" in toll[0].message
    trunk = [x for x in f if x.check == "dialplan.trunk-dials-out"]
    assert [(x.line, x.severity) for x in trunk] == [(4, Severity.HIGH)]
    assert "Dial(PJSIP/${NUM}@trunk)" in trunk[0].message
