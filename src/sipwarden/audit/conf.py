"""A reader for Asterisk's .conf dialect that remembers where every value came from.

Asterisk's own reader (main/config.c) is the reference: `[name](!)` templates, `[name](a,b)`
inheritance, `[name](+)` additions to an earlier section, `key = value` and `key => value`,
`key += value` (appended to the earlier value), `;` and nestable `;-- --;` comments with `\\;` as
a literal semicolon, `#include` / `#tryinclude` with globs, relative to the configuration directory.
Sections with the same name are kept apart (pjsip.conf names an endpoint, its aor and its auth
alike). Nothing is printed: problems (a missing include, a line without `=`) are returned as data,
so an auditor can report them with a file and line like any other finding.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MAX_INCLUDE_DEPTH = 16
MAX_FILE_BYTES = 16 * 1024 * 1024

TRUE_WORDS = frozenset({"yes", "true", "y", "t", "1", "on"})
FALSE_WORDS = frozenset({"no", "false", "n", "f", "0", "off"})


def is_true(text: str | None) -> bool:
    """Asterisk's ast_true(): what counts as an enabled boolean."""
    return text is not None and text.strip().lower() in TRUE_WORDS


def is_false(text: str | None) -> bool:
    """Asterisk's ast_false(): what counts as a disabled boolean."""
    return text is not None and text.strip().lower() in FALSE_WORDS


@dataclass(frozen=True)
class Value:
    """One `key = value` as Asterisk will see it, with the file and line it was written on."""

    key: str
    value: str
    file: str
    line: int
    object: bool = False      # written `key => value`
    inherited: bool = False   # copied from a template


@dataclass(frozen=True)
class Problem:
    """Something the reader could not follow (a missing include, a malformed line)."""

    file: str
    line: int
    message: str


@dataclass
class Section:
    """A `[name]` section: its effective values, inherited ones first, in the order Asterisk applies them."""

    name: str
    file: str
    line: int
    template: bool = False
    bases: tuple[str, ...] = ()
    values: list[Value] = field(default_factory=list)

    def all(self, key: str) -> list[Value]:
        """Every value of a repeatable key (allow=, permit=, include =>), in order."""
        k = key.lower()
        return [v for v in self.values if v.key == k]

    def get(self, key: str) -> Value | None:
        """The value in force for a single-valued key: the last one written wins."""
        found = self.all(key)
        return found[-1] if found else None

    def value(self, key: str, default: str | None = None) -> str | None:
        v = self.get(key)
        return v.value if v is not None else default

    @property
    def type(self) -> str | None:
        t = self.value("type")
        return t.lower() if t else None


@dataclass
class Conf:
    """One configuration file and everything it includes."""

    name: str
    file: str
    sections: list[Section] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def named(self, name: str) -> list[Section]:
        """All sections with this name (several in pjsip.conf), templates excluded."""
        return [s for s in self.sections if s.name == name and not s.template]

    def section(self, name: str) -> Section | None:
        found = self.named(name)
        return found[0] if found else None

    def of_type(self, kind: str) -> list[Section]:
        """The concrete (non-template) sections of a `type=` (pjsip objects, chan_sip peers)."""
        return [s for s in self.sections if not s.template and s.type == kind]

    def concrete(self) -> Iterator[Section]:
        return (s for s in self.sections if not s.template)


def strip_comments(line: str, depth: int) -> tuple[str, int]:
    """Remove `;` comments and `;-- --;` block comments from one line.

    `depth` is the block-comment nesting carried in from earlier lines; the new depth is returned.
    `\\;` is a literal semicolon, as in Asterisk.
    """
    if depth == 0 and ";" not in line:
        return line, 0
    out: list[str] = []
    i, n = 0, len(line)
    while i < n:
        if depth > 0:
            if line.startswith("--;", i):
                depth -= 1
                i += 3
            elif line.startswith(";--", i):
                depth += 1
                i += 3
            else:
                i += 1
            continue
        c = line[i]
        if c == "\\" and i + 1 < n and line[i + 1] == ";":
            out.append(";")
            i += 2
        elif c == ";":
            if line.startswith(";--", i):
                depth += 1
                i += 3
            else:
                break
        else:
            out.append(c)
            i += 1
    return "".join(out), depth


class _Reader:
    """Walks a file and its includes, building sections the way main/config.c does."""

    def __init__(self, confdir: Path, conf: Conf) -> None:
        self.confdir = confdir
        self.conf = conf
        self.current: Section | None = None
        self.stack: list[Path] = []

    def rel(self, path: Path) -> str:
        try:
            return os.path.relpath(path, self.confdir) if path.is_relative_to(self.confdir) else str(path)
        except ValueError:
            return str(path)

    def read_file(self, path: Path, at: Problem | None = None) -> None:
        real = path.resolve()
        if real in self.stack or len(self.stack) >= MAX_INCLUDE_DEPTH:
            if at is not None:
                self.conf.problems.append(Problem(at.file, at.line, f"include loop or too deep: {path.name}"))
            return
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_FILE_BYTES)
        except OSError as e:
            where = at or Problem(self.rel(path), 0, "")
            self.conf.problems.append(Problem(where.file, where.line, f"cannot read {path}: {e.strerror or e}"))
            return
        name = self.rel(path)
        self.conf.files.append(name)
        self.stack.append(real)
        try:
            self.feed(data.decode("utf-8", errors="replace"), name, path.parent)
        finally:
            self.stack.pop()

    def feed(self, text: str, name: str, here: Path | None) -> None:
        depth = 0
        for number, raw in enumerate(text.splitlines(), 1):
            line, depth = strip_comments(raw, depth)
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                self.directive(line, name, number, here)
            elif line.startswith("["):
                self.header(line, name, number)
            else:
                self.assignment(line, name, number)

    def directive(self, line: str, name: str, number: int, here: Path | None) -> None:
        word, _, arg = line[1:].partition(" ")
        word = word.strip().lower()
        arg = arg.strip().strip('"').strip("<>").strip()
        if word not in ("include", "tryinclude"):
            if word != "exec":
                self.conf.problems.append(Problem(name, number, f"unknown directive #{word}"))
            else:
                self.conf.problems.append(Problem(name, number, "#exec output is not audited"))
            return
        if not arg:
            self.conf.problems.append(Problem(name, number, f"#{word} without a file name"))
            return
        found = self.expand(arg, here)
        if not found and word == "include":
            self.conf.problems.append(Problem(name, number, f"#include {arg}: no such file"))
        for path in found:
            self.read_file(path, Problem(name, number, ""))

    def expand(self, pattern: str, here: Path | None) -> list[Path]:
        """Asterisk resolves relative includes against the config directory; try the including file's too."""
        bases = [Path(pattern)] if os.path.isabs(pattern) else [self.confdir / pattern]
        if here is not None and not os.path.isabs(pattern) and here.resolve() != self.confdir.resolve():
            bases.append(here / pattern)
        for base in bases:
            if glob.has_magic(str(base)):
                hits = sorted(Path(p) for p in glob.glob(str(base)) if os.path.isfile(p))
            else:
                hits = [base] if base.is_file() else []
            if hits:
                return hits
        return []

    def header(self, line: str, name: str, number: int) -> None:
        close = line.find("]")
        if close < 0:
            self.conf.problems.append(Problem(name, number, "section header without ']'"))
            return
        title = line[1:close].strip()
        rest = line[close + 1:].strip()
        template, append, bases = False, False, []
        if rest.startswith("(") and rest.endswith(")"):
            for opt in (o.strip() for o in rest[1:-1].split(",")):
                if opt == "!":
                    template = True
                elif opt == "+":
                    append = True
                elif opt:
                    bases.append(opt)
        if append:
            earlier = [s for s in self.conf.sections if s.name == title]
            if earlier:
                self.current = earlier[-1]
                return
        section = Section(title, name, number, template=template, bases=tuple(bases))
        for base in bases:
            tpl = self.find_template(base)
            if tpl is None:
                self.conf.problems.append(Problem(name, number, f"template [{base}] not defined before [{title}]"))
                continue
            section.values.extend(
                Value(v.key, v.value, v.file, v.line, v.object, inherited=True) for v in tpl.values
            )
        self.conf.sections.append(section)
        self.current = section

    def find_template(self, base: str) -> Section | None:
        named = [s for s in self.conf.sections if s.name == base]
        templates = [s for s in named if s.template]
        return (templates or named or [None])[-1]

    def assignment(self, line: str, name: str, number: int) -> None:
        eq = line.find("=")
        if eq <= 0:
            self.conf.problems.append(Problem(name, number, "line without '=' ignored"))
            return
        key, value = line[:eq], line[eq + 1:]
        obj = value.startswith(">")
        if obj:
            value = value[1:]
        add = key.endswith("+")
        if add:
            key = key[:-1]
        key, value = key.strip().lower(), value.strip()
        if self.current is None:
            self.conf.problems.append(Problem(name, number, f"'{key}' outside any [section] ignored"))
            return
        values = self.current.values
        if add:
            for i in range(len(values) - 1, -1, -1):
                if values[i].key == key:
                    values[i] = Value(key, values[i].value + value, name, number, values[i].object)
                    return
        values.append(Value(key, value, name, number, obj))


def read(path: str | os.PathLike[str], confdir: str | os.PathLike[str] | None = None) -> Conf:
    """Read one .conf file with its includes. Relative includes resolve against `confdir`.

    File names in the result are relative to `confdir` (default: the file's directory).
    """
    p = Path(path)
    root = Path(confdir) if confdir is not None else p.parent
    conf = Conf(name=p.name, file="")
    reader = _Reader(root, conf)
    conf.file = reader.rel(p)
    reader.read_file(p)
    return conf


def parse(text: str, name: str = "test.conf", confdir: str | os.PathLike[str] | None = None) -> Conf:
    """Parse text (includes resolve against `confdir` if given, else they are reported missing)."""
    conf = Conf(name=name, file=name, files=[name])
    reader = _Reader(Path(confdir) if confdir is not None else Path("/nonexistent-confdir"), conf)
    reader.feed(text, name, None)
    return conf
