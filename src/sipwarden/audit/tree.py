"""An Asterisk configuration directory (or one file) read into the files the checks need."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .conf import Conf, Section, read

# the files whose settings decide who gets in and what they can reach
KINDS = ("sip", "pjsip", "iax", "manager", "extensions", "logger", "http", "ari", "modules", "acl")


class AuditError(Exception):
    """The path cannot be audited (missing, unreadable, nothing Asterisk in it)."""


@dataclass
class Tree:
    """The parsed configuration: `confs['sip']` is sip.conf with its includes, and so on."""

    root: Path
    confs: dict[str, Conf] = field(default_factory=dict)
    expected: tuple[str, ...] = ()   # kinds whose absence means something (a whole directory was read)

    def get(self, kind: str) -> Conf | None:
        return self.confs.get(kind)

    def loaded(self, module: str) -> bool:
        """False when modules.conf says `noload => module` (then its config is inert)."""
        mods = self.get("modules")
        if mods is None:
            return True
        for s in mods.concrete():
            for v in s.all("noload"):
                if v.value.strip().lower() in (module, module + ".so"):
                    return False
        return True


def kind_of(name: str) -> str | None:
    """`sip.conf` and `sip.conf.alwaysauthreject_yes` are both chan_sip configs."""
    stem = name.split(".conf", 1)[0] if ".conf" in name else None
    return stem if stem in KINDS else None


def load_tree(path: str | os.PathLike[str]) -> Tree:
    """Read PATH: a directory (each known file in it) or a single file (audited as what its name says)."""
    p = Path(path)
    if not p.exists():
        raise AuditError(f"{p}: no such file or directory")
    if p.is_dir():
        if not os.access(p, os.R_OK | os.X_OK):
            raise AuditError(f"{p}: directory is not readable")
        tree = Tree(root=p, expected=KINDS)
        for kind in KINDS:
            f = p / f"{kind}.conf"
            if f.is_file():
                tree.confs[kind] = read(f, p)
        if not tree.confs:
            raise AuditError(f"{p}: no Asterisk configuration files here (sip.conf, pjsip.conf, extensions.conf, ...)")
        return tree
    if not os.access(p, os.R_OK):
        raise AuditError(f"{p}: file is not readable")
    kind = kind_of(p.name)
    if kind is None:
        raise AuditError(f"{p.name}: not a file name Asterisk reads (expected one of "
                         f"{', '.join(k + '.conf' for k in KINDS)})")
    tree = Tree(root=p.parent)
    tree.confs[kind] = read(p, p.parent)
    return tree


def header(conf: Conf, section: str) -> tuple[str, int, Section | None]:
    """Where a missing setting belongs: the section's header, else the top of the file."""
    s = conf.section(section)
    if s is not None:
        return s.file, s.line, s
    return conf.file, 1, None
