"""The Asterisk .conf reader: every construct the dialect has, and where each value came from."""

from __future__ import annotations

from pathlib import Path

from sipwarden.audit.conf import is_false, is_true, parse, read, strip_comments


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_sections_values_and_object_syntax_keep_their_lines():
    c = parse("[general]\ncontext = internal ; where phones go\n\n[ctx]\nexten => 100,1,Answer()\n")
    g = c.section("general")
    assert g is not None and g.line == 1
    v = g.get("context")
    assert (v.value, v.line, v.object) == ("internal", 2, False)
    e = c.section("ctx").get("exten")
    assert (e.value, e.line, e.object) == ("100,1,Answer()", 5, True)


def test_repeated_keys_are_all_kept_and_the_last_wins():
    s = parse("[p]\nallow=ulaw\nallow=alaw\nsecret=a\nsecret=b\n").section("p")
    assert [v.value for v in s.all("allow")] == ["ulaw", "alaw"]
    assert s.value("secret") == "b" and s.get("secret").line == 5


def test_plus_equals_appends_to_the_earlier_value():
    s = parse("[p]\nsetvar=A=1\nsetvar+=,B=2\nnew+=x\n").section("p")
    assert s.value("setvar") == "A=1,B=2"
    assert s.get("setvar").line == 3
    assert s.value("new") == "x"


def test_comments_block_comments_nested_and_escaped_semicolons():
    text = ("[a]\nx=1 ; trailing\n;-- a block\nsecret=hidden\n ;-- nested --;\nstill=hidden\n--;\n"
            "y=2 ;-- inline --; \nz=a\\;b\nw=3 ;-- opens\n--; v=4\n")
    s = parse(text).section("a")
    assert s.value("x") == "1"
    assert s.get("secret") is None and s.get("still") is None
    assert s.value("y") == "2"
    assert s.value("z") == "a;b"
    assert s.value("w") == "3" and s.value("v") == "4"


def test_strip_comments_carries_depth_across_lines():
    assert strip_comments("a ;-- b", 0) == ("a ", 1)
    assert strip_comments("c --; d", 1) == (" d", 0)
    assert strip_comments(";-- ;-- x --;", 0) == ("", 1)


def test_templates_and_multiple_inheritance_come_first_and_keep_their_origin():
    c = parse("[t1](!)\ntype=friend\ncontext=a\n[t2](!)\ncontext=b\nnat=no\n[100](t1,t2)\nsecret=s\n")
    assert c.section("t1") is None                      # templates are not accounts
    s = c.section("100")
    assert s.bases == ("t1", "t2")
    assert [(v.key, v.value, v.inherited) for v in s.values] == [
        ("type", "friend", True), ("context", "a", True), ("context", "b", True),
        ("nat", "no", True), ("secret", "s", False)]
    assert s.value("context") == "b" and s.get("context").line == 5
    assert s.type == "friend"


def test_same_name_sections_with_different_types_stay_apart():
    c = parse("[1001]\ntype=endpoint\nauth=1001\n[1001]\ntype=aor\nmax_contacts=1\n[1001]\ntype=auth\npassword=x\n")
    assert [s.type for s in c.named("1001")] == ["endpoint", "aor", "auth"]
    assert c.of_type("auth")[0].value("password") == "x"
    assert c.of_type("endpoint")[0].get("password") is None


def test_plus_header_adds_to_the_earlier_section():
    c = parse("[g]\na=1\n[other]\nb=2\n[g](+)\nc=3\n")
    assert len(c.named("g")) == 1
    assert c.section("g").value("c") == "3"


def test_include_relative_and_glob_report_the_included_file_and_line(tmp_path):
    write(tmp_path, {
        "sip.conf": "[general]\nallowguest=no\n#include sip_tpl.conf\n#include \"peers/*.conf\"\n",
        "sip_tpl.conf": "; templates\n[phone](!)\ntype=friend\nsecret=1234\n",
        "peers/a.conf": "[100](phone)\n",
        "peers/b.conf": "\n[200](phone)\nsecret=Good-Secret-xyz\n",
    })
    c = read(tmp_path / "sip.conf", tmp_path)
    assert c.files == ["sip.conf", "sip_tpl.conf", "peers/a.conf", "peers/b.conf"]
    s100 = c.section("100")
    assert (s100.file, s100.line) == ("peers/a.conf", 1)
    v = s100.get("secret")
    assert (v.value, v.file, v.line, v.inherited) == ("1234", "sip_tpl.conf", 4, True)
    v = c.section("200").get("secret")
    assert (v.file, v.line) == ("peers/b.conf", 3)
    assert c.problems == []


def test_include_continues_the_current_section(tmp_path):
    write(tmp_path, {"a.conf": "[general]\n#include more.conf\nx=1\n", "more.conf": "y=2\n"})
    g = read(tmp_path / "a.conf").section("general")
    assert g.value("y") == "2" and g.get("y").file == "more.conf"
    assert g.value("x") == "1"


def test_missing_include_is_a_problem_and_tryinclude_is_silent(tmp_path):
    write(tmp_path, {"a.conf": "[s]\n#tryinclude nope.conf\n#include gone.conf\n#exec /bin/echo\nnoequals\n"})
    probs = read(tmp_path / "a.conf").problems
    assert [(p.line, p.message.split(":")[0]) for p in probs] == [
        (3, "#include gone.conf"), (4, "#exec output is not audited"), (5, "line without '=' ignored")]


def test_include_loop_terminates(tmp_path):
    write(tmp_path, {"a.conf": "[s]\nx=1\n#include b.conf\n", "b.conf": "#include a.conf\ny=2\n"})
    c = read(tmp_path / "a.conf")
    assert c.section("s").value("y") == "2"
    assert any("loop" in p.message for p in c.problems)


def test_values_outside_sections_and_hostile_bytes_do_not_crash(tmp_path):
    (tmp_path / "x.conf").write_bytes(b"orphan=1\n[\xff\xfe]\nk=\x00v\n[unterminated\n=novalue\n")
    c = read(tmp_path / "x.conf")
    assert any("outside any" in p.message for p in c.problems)
    assert any("without ']'" in p.message for p in c.problems)


def test_booleans_follow_ast_true_and_ast_false():
    assert all(is_true(w) for w in ("yes", "Y", "true", "1", "on"))
    assert all(is_false(w) for w in ("no", "N", "false", "0", "off"))
    assert not is_true("nat") and not is_false("nat") and not is_true(None)
