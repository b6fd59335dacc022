"""The default backend: one nftables table of our own, bans as set elements with per-element timeouts.

Layout of `table inet <cfg.table>`:
- sets ban4/ban6 (`flags timeout`) for addresses, net4/net6 (`flags interval, timeout`) for prefixes;
  a permanent ban is an element without a timeout.
- chain `prerouting`, hooked at priority raw (-300): before conntrack, so a ban also cuts a UDP
  "flow" conntrack already knows, and banned floods never cost a conntrack entry.
- optional first line (cfg.ratelimit > 0): per-source rate limit on SIP packets to the protected
  ports (UDP datagrams, TCP SYNs) through dynamic sets rl4/rl6, so a flood is clipped before
  userspace has decided anything.

Element changes are built as JSON commands (comments are JSON strings, and sanitised on top, so
attacker text cannot change the syntax) and go through the libnftables binding when importable,
else through one `nft -j -f -` process per batch.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
import time
from typing import Any

from ..config import BanConfig
from .base import Ban, EnforceError, Target, log, parse_target, plan_reconcile, split_bans
from .nsexec import NetnsWorker, ns_argv

ADDR_SETS = {4: "ban4", 6: "ban6"}
NET_SETS = {4: "net4", 6: "net6"}
RL_TIMEOUT = "10s"  # an idle source's rate-limit state is forgotten after this
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,30}$")
_ABSENT = "No such file or directory"


def _fail(what: str, err: str) -> EnforceError:
    err = err.strip()
    if "Operation not permitted" in err or "Permission denied" in err:
        return EnforceError(f"nftables: {what}: not permitted (run as root or grant CAP_NET_ADMIN): {err}")
    return EnforceError(f"nftables: {what} failed: {err[:2000]}")


class _LibRunner:
    """libnftables through Debian's python3-nftables (ctypes); one context, on the netns thread."""

    kind = "libnftables"

    def __init__(self, netns: str | None) -> None:
        self.worker = NetnsWorker(netns)
        self._nft: Any = None

    def _ctx(self) -> Any:
        if self._nft is None:
            from nftables import Nftables
            try:
                self._nft = Nftables()
            except OSError as e:
                raise EnforceError(f"nftables: cannot load libnftables: {e}") from None
        return self._nft

    def _text(self, script: str) -> tuple[int, str]:
        nft = self._ctx()
        nft.set_json_output(False)
        rc, _out, err = nft.cmd(script)
        return rc, err

    def _json(self, cmds: list[dict]) -> tuple[int, str]:
        rc, _out, err = self._ctx().json_cmd({"nftables": cmds})
        return rc, err

    def _list(self, table: str, name: str) -> tuple[int, Any, str]:
        return self._ctx().json_cmd({"nftables": [{"list": {"set": {"family": "inet", "table": table,
                                                                     "name": name}}}]})

    def _list_chain(self, table: str, name: str) -> tuple[int, Any, str]:
        return self._ctx().json_cmd({"nftables": [{"list": {"chain": {"family": "inet", "table": table,
                                                                       "name": name}}}]})

    def list_chain(self, table: str, name: str) -> tuple[int, Any, str]:
        return self.worker.run(self._list_chain, table, name)

    def text(self, script: str) -> tuple[int, str]:
        return self.worker.run(self._text, script)

    def json(self, cmds: list[dict]) -> tuple[int, str]:
        return self.worker.run(self._json, cmds)

    def list_set(self, table: str, name: str) -> tuple[int, Any, str]:
        return self.worker.run(self._list, table, name)

    def close(self) -> None:
        self.worker.close()


class _CliRunner:
    """The `nft` program: one process per batch (never per address)."""

    kind = "nft"

    def __init__(self, netns: str | None, program: str = "nft") -> None:
        self.netns = netns
        self.program = program

    def _run(self, args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        nft = shutil.which(self.program) or shutil.which(self.program, path="/usr/sbin:/sbin")
        if nft is None:
            raise EnforceError("nftables: the `nft` program was not found; install the nftables package "
                               "or choose another ban.backend (ipset, command, dry-run)")
        try:
            return subprocess.run(ns_argv(self.netns, [nft, *args]), input=stdin, capture_output=True,
                                  text=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise EnforceError("nftables: `nft` did not finish within 60 s") from None

    def text(self, script: str) -> tuple[int, str]:
        p = self._run(["-f", "-"], script)
        return p.returncode, p.stderr

    def json(self, cmds: list[dict]) -> tuple[int, str]:
        p = self._run(["-j", "-f", "-"], json.dumps({"nftables": cmds}))
        return p.returncode, p.stderr

    def list_set(self, table: str, name: str) -> tuple[int, Any, str]:
        p = self._run(["-j", "list", "set", "inet", table, name])
        return p.returncode, (json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else ""), p.stderr

    def list_chain(self, table: str, name: str) -> tuple[int, Any, str]:
        p = self._run(["-j", "list", "chain", "inet", table, name])
        return p.returncode, (json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else ""), p.stderr

    def close(self) -> None:
        pass


def _has_libnftables() -> bool:
    try:
        import nftables  # noqa: F401
    except ImportError:
        return False
    return True


def _elem_val(t: Target) -> Any:
    return {"prefix": {"addr": t.addr, "len": t.plen}} if t.prefix else t.addr


def _parse_elem(e: Any, now: float) -> tuple[str, float | None] | None:
    """One element of `nft -j list set` output -> (canonical key, expiry epoch or None)."""
    attrs: dict = {}
    if isinstance(e, dict) and "elem" in e:
        attrs = e["elem"]
        e = attrs.get("val")
    if isinstance(e, dict) and "prefix" in e:
        text = f"{e['prefix']['addr']}/{e['prefix']['len']}"
    elif isinstance(e, dict) and "range" in e:  # not written by us; report as the covering range start
        text = str(e["range"][0])
    elif isinstance(e, str):
        text = e
    else:
        return None
    t = parse_target(text)
    if t is None:
        return None
    if "timeout" in attrs:
        return t.key, now + float(attrs.get("expires", attrs["timeout"]))
    return t.key, None


class NftablesEnforcer:
    """Bans in `table inet <cfg.table>`; see the module docstring for the layout."""

    name = "nftables"

    def __init__(self, cfg: BanConfig, netns: str | None = None, use_lib: bool | None = None) -> None:
        if not _NAME.match(cfg.table):
            raise EnforceError(f"ban.table: {cfg.table!r} is not a valid nftables table name "
                               "(letters, digits, underscore; starts with a letter)")
        self.cfg = cfg
        self.table = cfg.table
        self.netns = netns
        if use_lib is None:
            use_lib = _has_libnftables()
        self.runner: _LibRunner | _CliRunner = _LibRunner(netns) if use_lib else _CliRunner(netns)

    # -- ruleset ---------------------------------------------------------------------------------

    def ruleset(self) -> str:
        """The nft script `setup` applies: additive statements plus a flush of our own chain, so it
        is idempotent, keeps existing set elements, and never names another table."""
        t = self.table
        ports = ", ".join(str(p) for p in sorted(set(self.cfg.ports)))
        match = f"meta l4proto {{ udp, tcp }} th dport {{ {ports} }} " if ports else ""
        lines = [
            f"add table inet {t}",
            f"add set inet {t} ban4 {{ type ipv4_addr; flags timeout; }}",
            f"add set inet {t} ban6 {{ type ipv6_addr; flags timeout; }}",
            f"add set inet {t} net4 {{ type ipv4_addr; flags interval, timeout; }}",
            f"add set inet {t} net6 {{ type ipv6_addr; flags interval, timeout; }}",
            f"add chain inet {t} prerouting {{ type filter hook prerouting priority raw; policy accept; }}",
            f"flush chain inet {t} prerouting",
            f"add rule inet {t} prerouting ip saddr @ban4 {match}counter drop comment \"sipwarden ban\"",
            f"add rule inet {t} prerouting ip6 saddr @ban6 {match}counter drop comment \"sipwarden ban\"",
            f"add rule inet {t} prerouting ip saddr @net4 {match}counter drop comment \"sipwarden ban\"",
            f"add rule inet {t} prerouting ip6 saddr @net6 {match}counter drop comment \"sipwarden ban\"",
        ]
        if self.cfg.ratelimit > 0:
            rate = f"limit rate over {int(self.cfg.ratelimit)}/second"
            udp = f"udp dport {{ {ports} }}" if ports else "meta l4proto udp"
            tcp = (f"tcp dport {{ {ports} }}" if ports else "meta l4proto tcp") + " tcp flags & (syn | ack) == syn"
            for fam, sel, typ in ((4, "ip", "ipv4_addr"), (6, "ip6", "ipv6_addr")):
                lines.append(f"add set inet {t} rl{fam} {{ type {typ}; size 65535; flags dynamic, timeout; "
                             f"timeout {RL_TIMEOUT}; }}")
                for m in (udp, tcp):
                    lines.append(f"add rule inet {t} prerouting {m} update @rl{fam} {{ {sel} saddr {rate} }} "
                                 f"counter drop comment \"sipwarden ratelimit\"")
        return "\n".join(lines) + "\n"

    def setup(self) -> None:
        rc, err = self.runner.text(self.ruleset())
        if rc != 0:
            raise _fail(f"creating table inet {self.table}", err)

    def teardown(self) -> None:
        rc, err = self.runner.text(f"delete table inet {self.table}\n")
        if rc != 0 and _ABSENT not in err:
            raise _fail(f"deleting table inet {self.table}", err)

    # -- elements --------------------------------------------------------------------------------

    def _el(self, op: str, setname: str, elems: list[Any]) -> dict:
        return {op: {"element": {"family": "inet", "table": self.table, "name": setname, "elem": elems}}}

    def _apply(self, cmds: list[dict], what: str) -> None:
        if not cmds:
            return
        rc, err = self.runner.json(cmds)
        if rc != 0:
            raise _fail(what, err)

    def _list_set(self, name: str, now: float) -> dict[str, float | None] | None:
        """Elements of one of our sets; None if the table or set does not exist."""
        rc, out, err = self.runner.list_set(self.table, name)
        if rc != 0:
            if _ABSENT in err:
                return None
            raise _fail(f"listing set {name}", err)
        found: dict[str, float | None] = {}
        for obj in (out or {}).get("nftables", []):
            for e in obj.get("set", {}).get("elem", []):
                kv = _parse_elem(e, now)
                if kv:
                    found[kv[0]] = kv[1]
        return found

    def list(self) -> dict[str, float | None]:
        now = time.time()
        found: dict[str, float | None] = {}
        for name in (*ADDR_SETS.values(), *NET_SETS.values()):
            found.update(self._list_set(name, now) or {})
        return found

    def _final(self, items: list[tuple[Target, int | None, str]]) -> list[dict]:
        out = []
        for t, secs, comment in items:
            e: dict[str, Any] = {"val": _elem_val(t)}
            if secs is not None:
                e["timeout"] = secs
            if comment:
                e["comment"] = comment
            out.append({"elem": e})
        return out

    def _upsert(self, setname: str, items: list[tuple[Target, int | None, str]]) -> list[dict]:
        """add(1 s) + delete + add(real): a portable upsert in one transaction. On kernel 6.1 re-adding
        an element does not refresh its timeout, and `delete` of an absent element aborts a batch."""
        if not items:
            return []
        keys = [_elem_val(t) for t, _, _ in items]
        return [self._el("add", setname, [{"elem": {"val": k, "timeout": 1}} for k in keys]),
                self._el("delete", setname, keys),
                self._el("add", setname, self._final(items))]

    def _prefix_plan(self, fam: int, items: list[tuple[Target, int | None, str]],
                     now: float) -> tuple[list[dict], list[dict]]:
        """Interval sets refuse overlapping elements (and the refusal aborts the batch), so: a new
        prefix inside an existing broader one is skipped (already enforced), and existing prefixes
        inside a new broader one are deleted first. Existing equal prefixes are deleted and re-added
        (nft 1.0.6 fails an add(1 s)+delete+add of an interval after another interval's delete in
        one batch, so the address-set upsert is not used here). Returns (deletes, adds)."""
        current = self._list_set(NET_SETS[fam], now) or {}
        occupied: dict[Any, str] = {ipaddress.ip_network(k): k for k in current}
        accepted: dict[Any, tuple[Target, int | None, str]] = {}
        delete: list[Any] = []
        for t, secs, comment in sorted(items, key=lambda x: x[0].plen):  # broadest first
            net = ipaddress.ip_network(t.key)
            if net in occupied:  # re-ban: replace
                delete.append(_elem_val(t))
                del occupied[net]
                accepted[net] = (t, secs, comment)
                continue
            cover = next((o for o in [*occupied, *accepted] if net.subnet_of(o)), None)
            if cover is not None:
                log.info("ban %s: already inside banned prefix %s", t.key, cover)
                continue
            for o in [o for o in occupied if o.subnet_of(net)]:
                log.info("ban %s replaces the narrower banned prefix %s", t.key, o)
                sub = parse_target(occupied.pop(o))
                if sub is not None:
                    delete.append(_elem_val(sub))
            accepted[net] = (t, secs, comment)
        dels = [self._el("delete", NET_SETS[fam], delete)] if delete else []
        adds = [self._el("add", NET_SETS[fam], self._final(list(accepted.values())))] if accepted else []
        return dels, adds

    def ban(self, bans: list[Ban], now: float) -> None:
        live, over = split_bans(bans, now)
        if over:
            self.unban(over)
        for attempt in (1, 2):
            cmds: list[dict] = []
            for fam in (4, 6):
                cmds += self._upsert(ADDR_SETS[fam], [v for v in live.values() if v[0].family == fam
                                                      and not v[0].prefix])
            for fam in (4, 6):
                nets = [v for v in live.values() if v[0].family == fam and v[0].prefix]
                if nets:
                    dels, ups = self._prefix_plan(fam, nets, now)
                    cmds = dels + cmds + ups
            try:
                self._apply(cmds, f"banning {len(live)} address(es)")
                return
            except EnforceError:
                # a prefix we planned to replace may have expired between listing and the batch
                if attempt == 2 or not any(v[0].prefix for v in live.values()):
                    raise

    def unban(self, ips: list[str]) -> None:
        targets = {t.key: t for t in map(parse_target, ips) if t is not None}
        if not targets:
            return
        for attempt in (1, 2):
            cmds: list[dict] = []
            for fam in (4, 6):
                addrs = [t.addr for t in targets.values() if t.family == fam and not t.prefix]
                if addrs:  # add-then-delete: absent addresses are not an error, and no race
                    cmds.append(self._el("add", ADDR_SETS[fam], [{"elem": {"val": a, "timeout": 1}} for a in addrs]))
                    cmds.append(self._el("delete", ADDR_SETS[fam], addrs))
                nets = [t for t in targets.values() if t.family == fam and t.prefix]
                if nets:  # interval sets: delete only what is there (an add could overlap)
                    present = self._list_set(NET_SETS[fam], time.time()) or {}
                    gone = [_elem_val(t) for t in nets if t.key in present]
                    if gone:
                        cmds.append(self._el("delete", NET_SETS[fam], gone))
            rc, err = self.runner.json(cmds) if cmds else (0, "")
            if rc == 0:
                return
            if _ABSENT in err and self._list_set(ADDR_SETS[4], time.time()) is None:
                return  # our table is gone: nothing is banned
            if attempt == 2:
                raise _fail(f"unbanning {len(targets)} address(es)", err)

    def _intact(self) -> bool:
        """Are our chain's rules all there? (Checked before re-running `setup`, whose chain flush
        would reset the drop counters operators and tests read.)"""
        try:
            rc, out, _err = self.runner.list_chain(self.table, "prerouting")
        except EnforceError:
            return False
        if rc != 0 or not isinstance(out, dict):
            return False
        rules = [x for x in out.get("nftables", []) if "rule" in x]
        expected = sum(1 for line in self.ruleset().splitlines() if line.startswith("add rule "))
        return len(rules) == expected and all(self._list_set(n, 0.0) is not None
                                              for n in (*ADDR_SETS.values(), *NET_SETS.values()))

    def reconcile(self, wanted: dict[str, float | None], now: float) -> tuple[int, int]:
        if not self._intact():
            self.setup()  # recreates a wiped table or flushed chain
        add, remove = plan_reconcile(self.list(), wanted, now)
        if remove:
            self.unban(remove)
        if add:
            self.ban(add, now)
        return len(add), len(remove)

    def close(self) -> None:
        self.runner.close()
