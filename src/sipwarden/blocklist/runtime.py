"""Blocklists at run time: fetch each source on an interval, keep the last good copy of each (in memory
and in the state dir, so a restart with the source down still has it), merge, take the whitelist
out, cap, and load the result into kernel sets of their own.

The kernel side (nftables): interval sets `bl4`/`bl6` in the daemon's table and a chain `blocklist`
hooked at prerouting just after the ban chain (priority raw + 1), dropping the same ports. The
lists are not bans: they are not in the store, not counted, not shared with the fleet, and the
reconciliation of bans never touches them. A refresh replaces a set's content in one transaction
(flush + add), so there is no moment without the list. Other backends keep the lists in memory
only (shown by `blocklist list`), with one warning at start.

Merging ~100k entries costs about a second of CPU: it runs in a worker thread, never on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..addr import AddressSet
from ..config import BanConfig, BlocklistsConfig
from .sources import Net, Parsed, kind_of, parse

log = logging.getLogger("sipwarden.blocklist")

CHAIN = "blocklist"
SETS = {4: "bl4", 6: "bl6"}
CHECK_EVERY = 30.0  # seconds between checks that the kernel still holds our sets (a wiped table)


class FetchError(Exception):
    """A source could not be read; the text is for the operator."""


@dataclass
class ListState:
    source: str
    nets: list[Net] = field(default_factory=list)
    fetched: float | None = None  # last good copy
    tried: float | None = None
    error: str | None = None  # last refresh's failure (the last good copy is still in force)
    skipped: int = 0
    format: str = ""

    def summary(self) -> dict:
        from ..events import iso
        return {"source": self.source, "entries": len(self.nets), "format": self.format,
                "fetched": iso(self.fetched) if self.fetched else None,
                "tried": iso(self.tried) if self.tried else None, "error": self.error, "skipped": self.skipped}


async def fetch(source: str, cfg: BlocklistsConfig) -> bytes:
    """The bytes of `source` (file or http(s) URL), refused beyond `max_bytes` or `timeout`."""
    if kind_of(source) == "file":
        path = source.removeprefix("file://")
        try:
            size = os.path.getsize(path)
            if size > cfg.max_bytes:
                raise FetchError(f"{size} bytes, over blocklists.max_bytes ({cfg.max_bytes})")
            return await asyncio.to_thread(Path(path).read_bytes)
        except OSError as e:
            raise FetchError(f"cannot read {path}: {e.strerror or e}") from None
    import httpx

    from .. import __version__

    async def get() -> bytes:
        async with httpx.AsyncClient(timeout=cfg.timeout, follow_redirects=True, max_redirects=3) as client, \
                client.stream("GET", source, headers={"User-Agent": f"sipwarden/{__version__}"}) as r:
            if r.status_code != 200:
                raise FetchError(f"HTTP {r.status_code}")
            buf = bytearray()
            async for chunk in r.aiter_bytes():
                buf += chunk
                if len(buf) > cfg.max_bytes:
                    raise FetchError(f"over blocklists.max_bytes ({cfg.max_bytes} bytes)")
            return bytes(buf)
    try:
        return await asyncio.wait_for(get(), cfg.timeout)
    except TimeoutError:
        raise FetchError(f"no complete answer within {cfg.timeout:g} s") from None
    except httpx.HTTPError as e:
        raise FetchError(f"{type(e).__name__}: {e}"[:300]) from None


def merge(lists: list[list[Net]], whitelist: AddressSet, cap: int) -> tuple[dict[int, list[Net]], int, int]:
    """All lists as one per family: whitelisted space cut out, overlaps collapsed, at most `cap`
    entries (sources in order). Returns (nets by family, entries dropped by the cap, cut by whitelist)."""
    wl: dict[int, list[Net]] = {4: [], 6: []}
    for n in whitelist.nets:
        wl[n.version].append(n)
    for a in whitelist.exact:
        n = ipaddress.ip_network(a)
        wl[n.version].append(n)
    wl_ints = {v: [(int(n.network_address), int(n.broadcast_address), n) for n in ns] for v, ns in wl.items()}
    out: dict[int, list[Net]] = {4: [], 6: []}
    cut = 0
    for nets in lists:
        for net in nets:
            lo, hi = int(net.network_address), int(net.broadcast_address)
            hits = [w for ws, we, w in wl_ints[net.version] if ws <= hi and we >= lo]
            if not hits:
                out[net.version].append(net)
                continue
            cut += 1
            pieces = [net]
            for w in hits:
                nxt: list[Net] = []
                for p in pieces:
                    if not p.overlaps(w):
                        nxt.append(p)
                    elif not p.subnet_of(w):  # type: ignore[arg-type]
                        nxt.extend(p.address_exclude(w))  # type: ignore[arg-type]
                pieces = nxt
            out[net.version].extend(pieces)
    merged = {v: _collapse(ns) for v, ns in out.items()}
    total = len(merged[4]) + len(merged[6])
    dropped = max(total - cap, 0)
    if dropped:
        keep4 = min(len(merged[4]), cap)
        merged = {4: merged[4][:keep4], 6: merged[6][:cap - keep4]}
    return merged, dropped, cut


def _collapse(nets: list[Net]) -> list[Net]:
    """Overlapping and adjacent networks merged (ipaddress.collapse_addresses, but on integers: 20x faster
    on 100k entries, which are mostly single addresses that stay as they are)."""
    spans = sorted((int(n.network_address), int(n.broadcast_address), n) for n in nets)
    out: list[Net] = []
    i = 0
    while i < len(spans):
        lo, hi, first = spans[i]
        j = i + 1
        while j < len(spans) and spans[j][0] <= hi + 1:
            hi = max(hi, spans[j][1])
            j += 1
        if j == i + 1 or hi == int(first.broadcast_address):
            out.append(first)  # alone, or everything after it lies inside it
        else:
            cls = ipaddress.IPv4Address if first.version == 4 else ipaddress.IPv6Address
            out.extend(ipaddress.summarize_address_range(cls(lo), cls(hi)))
        i = j
    return out


class NftSets:
    """The blocklist sets and chain in the daemon's nftables table."""

    def __init__(self, ban: BanConfig) -> None:
        from ..enforce.nftables import NftablesEnforcer
        self.enforcer = NftablesEnforcer(ban)
        self.table = ban.table
        ports = ", ".join(str(p) for p in sorted(set(ban.ports)))
        self.match = f"meta l4proto {{ udp, tcp }} th dport {{ {ports} }} " if ports else ""

    def script(self, merged: dict[int, list[Net]]) -> str:
        t = self.table
        lines = [f"add table inet {t}",
                 f"add set inet {t} bl4 {{ type ipv4_addr; flags interval; }}",
                 f"add set inet {t} bl6 {{ type ipv6_addr; flags interval; }}",
                 f"add chain inet {t} {CHAIN} {{ type filter hook prerouting priority raw + 1; policy accept; }}",
                 f"flush chain inet {t} {CHAIN}",
                 f"add rule inet {t} {CHAIN} ip saddr @bl4 {self.match}counter drop comment \"sipwarden blocklist\"",
                 f"add rule inet {t} {CHAIN} ip6 saddr @bl6 {self.match}counter drop comment \"sipwarden blocklist\""]
        for fam, name in SETS.items():
            lines.append(f"flush set inet {t} {name}")
            nets = merged.get(fam, [])
            for i in range(0, len(nets), 5000):
                lines.append(f"add element inet {t} {name} {{ {', '.join(map(str, nets[i:i + 5000]))} }}")
        return "\n".join(lines) + "\n"

    def load(self, merged: dict[int, list[Net]]) -> None:
        from ..enforce.base import EnforceError
        rc, err = self.enforcer.runner.text(self.script(merged))
        if rc != 0:
            raise EnforceError(f"nftables: loading blocklists failed: {err.strip()[:1000]}")

    def present(self) -> bool:
        rc, _out, _err = self.enforcer.runner.list_chain(self.table, CHAIN)
        return rc == 0

    def close(self) -> None:
        self.enforcer.close()


class Blocklists:
    def __init__(self, cfg: BlocklistsConfig, ban: BanConfig, whitelist: AddressSet, state_dir: Path) -> None:
        self.cfg = cfg
        self.whitelist = whitelist
        self.dir = state_dir / "blocklists"
        self.lists = {s: ListState(s) for s in cfg.sources}
        self.kernel: NftSets | None = NftSets(ban) if ban.backend == "nftables" else None
        self.entries = {4: 0, 6: 0}
        self.dropped = self.cut = 0
        self.loaded: float | None = None
        self.kernel_error: str | None = None
        self.refreshes = 0
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self._backend = ban.backend

    def _warn_backend(self) -> None:
        if self.cfg.sources and self.kernel is None:
            log.warning("blocklists: the %s backend has no sets for them; they are kept for `blocklist list` and "
                        "export only (use the nftables backend to enforce them)", self._backend)

    def _cache(self, source: str) -> Path:
        return self.dir / (hashlib.sha256(source.encode()).hexdigest()[:16] + ".txt")

    def load_cache(self) -> None:
        """The last good copy of each source from the state dir (so a restart needs no download)."""
        index = {}
        with contextlib.suppress(OSError, ValueError):
            index = json.loads((self.dir / "index.json").read_text())
        for s, st in self.lists.items():
            try:
                p = parse(self._cache(s).read_bytes())
                st.nets, st.format = p.nets, p.format
            except (OSError, ValueError):
                pass
            meta = index.get(s) if isinstance(index, dict) else None
            if isinstance(meta, dict):
                for k in ("fetched", "tried"):
                    if isinstance(meta.get(k), int | float):
                        setattr(st, k, float(meta[k]))
                if isinstance(meta.get("error"), str):
                    st.error = meta["error"][:300]
                if isinstance(meta.get("skipped"), int):
                    st.skipped = meta["skipped"]

    def _save_cache(self, st: ListState | None) -> None:
        """The last good copy of `st` (None: only the index: when each was fetched/tried, last error)."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            if st is not None:
                tmp = self._cache(st.source).with_suffix(".tmp")
                tmp.write_text("".join(f"{n}\n" for n in st.nets))
                tmp.replace(self._cache(st.source))
            index = {s: {"fetched": x.fetched, "tried": x.tried, "error": x.error, "skipped": x.skipped}
                     for s, x in self.lists.items()}
            (self.dir / "index.json").write_text(json.dumps(index))
        except OSError as e:
            log.error("blocklists: cannot keep a copy of %s in %s: %s", st.source if st else "the index", self.dir, e)

    async def refresh(self, only_due: bool = False) -> dict:
        """Fetch every source (or only those due), then merge and load; a failed source keeps its
        last good list. Returns the summary `blocklist list` shows."""
        async with self._lock:
            now = time.time()
            for s, st in self.lists.items():
                if only_due and st.fetched and now - st.fetched < self.cfg.interval:
                    continue
                st.tried = now
                try:
                    data = await fetch(s, self.cfg)
                    p: Parsed = await asyncio.to_thread(parse, data)
                    if not p.nets and p.skipped:
                        raise FetchError(f"no address in it ({p.skipped} line(s) that are not one)")
                except (FetchError, ValueError) as e:
                    if st.error != str(e):
                        log.error("blocklists: refreshing %s failed: %s; keeping the last good list (%d entries)",
                                  s, e, len(st.nets))
                    st.error = str(e)
                    continue
                st.nets, st.skipped, st.format, st.fetched, st.error = p.nets, p.skipped, p.format, now, None
                log.info("blocklists: %s: %d entries (%s)%s", s, len(p.nets), p.format,
                         f", {p.skipped} line(s) skipped" if p.skipped else "")
                await asyncio.to_thread(self._save_cache, st)
            await asyncio.to_thread(self._save_cache, None)
            await self._load()
            self.refreshes += 1
            return self.status()

    async def _load(self) -> None:
        merged, self.dropped, self.cut = await asyncio.to_thread(
            merge, [st.nets for st in self.lists.values()], self.whitelist, self.cfg.max_entries)
        if self.dropped:
            log.error("blocklists: %d entries over blocklists.max_entries (%d) not loaded", self.dropped,
                      self.cfg.max_entries)
        self.entries = {v: len(n) for v, n in merged.items()}
        self._merged = merged
        if self.kernel is None:
            return
        try:
            await asyncio.to_thread(self.kernel.load, merged)
            self.loaded, self.kernel_error = time.time(), None
        except Exception as e:  # the firewall's trouble is reported, never fatal
            self.kernel_error = str(e)
            log.error("blocklists: %s", e)

    async def start(self) -> None:
        if not self.cfg.sources:
            return
        self._warn_backend()
        await asyncio.to_thread(self.load_cache)
        if any(st.nets for st in self.lists.values()):
            await self._load()  # the last good lists at once, downloads after
        self._task = asyncio.create_task(self._loop(), name="blocklists")

    async def _loop(self) -> None:
        last_check = time.monotonic()
        await self.refresh(only_due=True)
        while True:
            await asyncio.sleep(min(self.cfg.interval, CHECK_EVERY))
            try:
                if any(st.fetched is None or time.time() - st.fetched >= self.cfg.interval or st.error
                       for st in self.lists.values()):
                    await self.refresh(only_due=True)
                if self.kernel is not None and time.monotonic() - last_check >= CHECK_EVERY:
                    last_check = time.monotonic()
                    if not await asyncio.to_thread(self.kernel.present):
                        log.warning("blocklists: the kernel lost our sets (table wiped?); loading them again")
                        await self._load()
            except Exception:  # the loop must go on
                log.exception("blocklists: refresh failed; will retry")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.kernel is not None:
            self.kernel.close()

    def status(self) -> dict:
        from ..events import iso
        return {"sources": [st.summary() for st in self.lists.values()], "entries": sum(self.entries.values()),
                "entries_v4": self.entries[4], "entries_v6": self.entries[6], "dropped_over_cap": self.dropped,
                "whitelist_cut": self.cut, "max_entries": self.cfg.max_entries, "interval": self.cfg.interval,
                "loaded": iso(self.loaded) if self.loaded else None, "kernel_error": self.kernel_error,
                "enforced": self.kernel is not None}

    def metrics(self) -> list[tuple[str, str, float, bool]]:
        """(name, help, value, is_gauge) for /metrics (nothing when no list is configured)."""
        if not self.cfg.sources:
            return []
        return [("sipwarden_blocklist_entries", "blocklist entries in force (after merging)",
                 sum(self.entries.values()), True),
                ("sipwarden_blocklist_failed_sources", "sources whose last refresh failed (last good list kept)",
                 sum(1 for s in self.lists.values() if s.error), True),
                ("sipwarden_blocklist_refreshes", "blocklist refresh rounds", self.refreshes, False)]

    def addresses(self) -> list[str]:
        """What is in force (after merge), for export."""
        merged = getattr(self, "_merged", {4: [], 6: []})
        return [str(n) for v in (4, 6) for n in merged[v]]
