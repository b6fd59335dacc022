"""Hostile or broken configuration text never crashes the reader or any check."""

from __future__ import annotations

import io
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sipwarden.audit import run_checks
from sipwarden.audit.conf import parse
from sipwarden.audit.model import Finding, Severity
from sipwarden.audit.report import to_sarif, to_text
from sipwarden.audit.tree import KINDS, Tree

PIECES = ["[general]", "[x](!)", "[y](x,z)", "[a](+)", "type=endpoint", "type=friend", "type=identify",
          "type=auth", "type=transport", "bind=0.0.0.0", "match=0.0.0.0/0", "endpoint=y", "auth=", "secret=",
          "password=1234", "host=dynamic", "insecure=invite", "context=y", "include => y", "#include x.conf",
          "exten => _X.,1,Dial(SIP/t/${EXTEN})", "same => n,Goto(y,${EXTEN},1)", "exten => _.,1,Gosub(",
          "Macro(", ";--", "--;", "\\;", "=>", "+=", "enabled=yes", "write=all", "(", ")", "${", "}", "\x00"]

lines = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=12)), max_size=20).map(
    lambda xs: "\n".join(xs))


@settings(max_examples=60, deadline=None)
@given(text=lines, kind=st.sampled_from(KINDS))
def test_any_text_as_any_file_gives_findings_not_exceptions(text, kind):
    tree = Tree(root=Path("/nonexistent"), confs={kind: parse(text, f"{kind}.conf")})
    found = run_checks(tree)
    assert all(isinstance(f, Finding) and f.line >= 0 for f in found)
    to_sarif(found)


def test_colour_on_a_terminal_plain_otherwise():
    f = [Finding("sip.allowguest", Severity.HIGH, "sip.conf", 3, "allowguest=yes [general]", "allowguest=no")]
    plain, colour = io.StringIO(), io.StringIO()
    to_text(f, plain, "/etc/asterisk", colour=False)
    to_text(f, colour, "/etc/asterisk", colour=True)
    assert "\x1b[" not in plain.getvalue() and "\x1b[" in colour.getvalue()
    assert "allowguest=yes [general]" in plain.getvalue()      # rich markup in messages is escaped
