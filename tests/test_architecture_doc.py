"""docs/architecture.md stays true to the tree: every module or package it names exists, every
module of the package is named in it (its concept table, its layers), the sections docstrings cite
exist, and nothing in the repository points at a design document outside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "sipwarden"
DOC = ROOT / "docs" / "architecture.md"
PATH = re.compile(r"`([a-z_]+(?:/[a-z_]+)*(?:\.pyx?|/))`")


def _named(text: str) -> set[str]:
    """Paths the page names, relative to src/sipwarden ('parsers/stream.py', 'cli/'); a bare module
    name in a table cell after one with its package ('security.py' after 'parsers/asterisk.py') is
    resolved in that package."""
    out = set()
    for line in text.splitlines():
        package = ""
        for p in PATH.findall(line):
            if "/" in p.rstrip("/"):
                package = p.rsplit("/", 1)[0] + "/"
                out.add(p)
            elif p.endswith("/"):
                out.add(p)
            elif package and not (SRC / p).exists():
                out.add(package + p)
            else:
                out.add(p)
    return out


def _exists(p: str) -> bool:
    if (SRC / p).exists() or (ROOT / p).exists():
        return True
    return "/" not in p and any(SRC.rglob(p))  # a bare module name in prose about its package


def test_every_path_the_page_names_exists() -> None:
    assert sorted(p for p in _named(DOC.read_text(encoding="utf-8")) if not _exists(p)) == []


def test_every_module_is_on_the_page() -> None:
    named = _named(DOC.read_text(encoding="utf-8"))
    dirs = {p.rstrip("/") for p in named if p.endswith("/")}
    unnamed = []
    for f in sorted(SRC.rglob("*.py")):
        rel = f.relative_to(SRC).as_posix()
        if f.name in ("__init__.py", "__main__.py") or rel in named:
            continue
        if rel.count("/") == 0 or rel.rsplit("/", 1)[0] not in dirs:
            unnamed.append(rel)
    assert unnamed == [], "name these in docs/architecture.md (or their package)"


def test_cited_sections_exist_and_no_outside_design_doc() -> None:
    sections = {m.group(1) for m in re.finditer(r"^#+ (.+)$", DOC.read_text(encoding="utf-8"), re.M)}
    cited, outside = set(), []
    for base in ("src", "tests", "bench", "scripts", "packaging", "docs"):
        for f in (ROOT / base).rglob("*"):
            if not f.is_file() or f.suffix not in (".py", ".pyx", ".md", ".toml", ".service", ""):
                continue
            text = f.read_text(encoding="utf-8", errors="replace")
            cited |= {" ".join(c.split()) for c in re.findall(r'architecture\.md, "([^"]+)"', text)}
            if "DESIGN.md" in text and f != Path(__file__):
                outside.append(str(f.relative_to(ROOT)))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "DESIGN.md" not in readme
    assert outside == []
    assert cited and cited <= sections, cited - sections
