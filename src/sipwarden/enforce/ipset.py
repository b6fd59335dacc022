"""Fallback backend for hosts that manage their firewall with iptables: ipset sets plus DROP rules
in the raw table's PREROUTING (before conntrack), through a chain of our own.

Sets (names from cfg.table): `<t>-ban4`/`<t>-ban6` (hash:ip), `<t>-net4`/`<t>-net6` (hash:net, so
prefixes may overlap), all with per-element timeouts (0 = permanent) and comments. Every batch is
one `ipset restore -exist` process: `-exist` makes a re-add refresh the timeout and a delete of an
absent entry a no-op, so upserts and unbans need no listing first.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import time

from ..config import BanConfig
from .base import Ban, EnforceError, parse_target, plan_reconcile, split_bans
from .nsexec import ns_argv

MAXELEM = 1 << 20
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,22}$")


class IpsetEnforcer:
    name = "ipset"

    def __init__(self, cfg: BanConfig, netns: str | None = None) -> None:
        if not _NAME.match(cfg.table):
            raise EnforceError(f"ban.table: {cfg.table!r} is not usable as an ipset/iptables name "
                               "(letters, digits, underscore; at most 23 characters)")
        self.cfg = cfg
        self.netns = netns
        self.chain = cfg.table
        self.sets = {(4, False): f"{cfg.table}-ban4", (6, False): f"{cfg.table}-ban6",
                     (4, True): f"{cfg.table}-net4", (6, True): f"{cfg.table}-net6"}

    # -- processes ---------------------------------------------------------------------------

    def _run(self, argv: list[str], stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        prog = shutil.which(argv[0]) or shutil.which(argv[0], path="/usr/sbin:/sbin")
        if prog is None:
            pkg = "ipset" if argv[0] == "ipset" else "iptables"
            raise EnforceError(f"ipset backend: `{argv[0]}` was not found; install the {pkg} package "
                               "or choose another ban.backend")
        try:
            p = subprocess.run(ns_argv(self.netns, [prog, *argv[1:]]), input=stdin, capture_output=True,
                               text=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise EnforceError(f"ipset backend: `{argv[0]}` did not finish within 60 s") from None
        if check and p.returncode != 0:
            err = p.stderr.strip()
            if "not permitted" in err or "Permission denied" in err:
                raise EnforceError(f"ipset backend: `{shlex.join(argv[:4])}`: not permitted "
                                   f"(run as root or grant CAP_NET_ADMIN): {err}")
            raise EnforceError(f"ipset backend: `{shlex.join(argv[:4])}` failed: {err[:2000]}")
        return p

    def _restore(self, lines: list[str]) -> None:
        if lines:
            self._run(["ipset", "restore", "-exist"], "\n".join(lines) + "\n")

    # -- setup -------------------------------------------------------------------------------

    def _rules(self, fam: int) -> str:
        ports = ",".join(str(p) for p in sorted(set(self.cfg.ports)))
        out = ["*raw", f":{self.chain} - [0:0]"]  # with --noflush: creates or flushes our chain only
        for prefix in (False, True):
            match = f"-m set --match-set {self.sets[fam, prefix]} src"
            if ports:
                out += [f"-A {self.chain} -p {proto} -m multiport --dports {ports} {match} -j DROP"
                        for proto in ("udp", "tcp")]
            else:
                out.append(f"-A {self.chain} {match} -j DROP")
        return "\n".join([*out, "COMMIT", ""])

    def setup(self) -> None:
        self._restore([f"create {self.sets[fam, prefix]} {'hash:net' if prefix else 'hash:ip'} "
                       f"family {'inet' if fam == 4 else 'inet6'} timeout 0 comment maxelem {MAXELEM}"
                       for (fam, prefix) in self.sets])
        for fam, tool in ((4, "iptables"), (6, "ip6tables")):
            self._run([f"{tool}-restore", "--noflush"], self._rules(fam))
            jump = ["-t", "raw", "-C", "PREROUTING", "-j", self.chain]
            if self._run([tool, *jump], check=False).returncode != 0:
                self._run([tool, "-t", "raw", "-I", "PREROUTING", "1", "-j", self.chain])

    def teardown(self) -> None:
        for tool in ("iptables", "ip6tables"):
            for _ in range(10):  # bounded: remove every jump we may have inserted
                if self._run([tool, "-t", "raw", "-D", "PREROUTING", "-j", self.chain], check=False).returncode:
                    break
            self._run([tool, "-t", "raw", "-F", self.chain], check=False)
            self._run([tool, "-t", "raw", "-X", self.chain], check=False)
        for name in self.sets.values():
            self._run(["ipset", "destroy", name], check=False)

    # -- elements ----------------------------------------------------------------------------

    def ban(self, bans: list[Ban], now: float) -> None:
        live, over = split_bans(bans, now)
        lines = [f"del {self.sets[t.family, t.prefix]} {t.key}" for t in map(parse_target, over) if t]
        for t, secs, comment in live.values():
            c = f' comment "{comment}"' if comment else ""  # sanitised: no quotes or backslashes
            lines.append(f"add {self.sets[t.family, t.prefix]} {t.key} timeout {secs or 0}{c}")
        self._restore(lines)

    def unban(self, ips: list[str]) -> None:
        self._restore([f"del {self.sets[t.family, t.prefix]} {t.key}" for t in map(parse_target, ips) if t])

    def list(self) -> dict[str, float | None]:
        now = time.time()
        found: dict[str, float | None] = {}
        for name in self.sets.values():
            p = self._run(["ipset", "save", name], check=False)
            if p.returncode != 0:
                if "does not exist" in p.stderr:
                    continue
                raise EnforceError(f"ipset backend: listing {name} failed: {p.stderr.strip()}")
            for line in p.stdout.splitlines():
                if not line.startswith("add "):
                    continue
                words = shlex.split(line)
                t = parse_target(words[2])
                if t is None:
                    continue
                secs = int(words[words.index("timeout") + 1]) if "timeout" in words else 0
                found[t.key] = now + secs if secs else None
        return found

    def reconcile(self, wanted: dict[str, float | None], now: float) -> tuple[int, int]:
        self.setup()
        add, remove = plan_reconcile(self.list(), wanted, now)
        self.unban(remove)
        self.ban(add, now)
        return len(add), len(remove)
