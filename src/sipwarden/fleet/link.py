"""The node's link to the fleet: publish this node's bans and failure events, apply the others'.

Why Redis streams: a stream is an append-only log with server-assigned ids, so a node records the
last id it applied (in its own store) and, after a restart or an outage, reads on from there:
nothing is missed and nothing is applied twice. Pub/sub would lose whatever is published while a
node is away; a set of keys would lose the order and the unbans. Streams are trimmed to
`stream_maxlen` entries (approximately, which is cheap), so Redis memory stays bounded.

Keys (`prefix` = fleet.prefix): `prefix:bans` (bans and unbans), `prefix:events` (failure events,
batched), `prefix:nodes` (hash: node -> heartbeat JSON).

Nothing here blocks the daemon: `share_*` only append to bounded queues and wake the writer; the
reader applies what it reads through the host's one ban path. With Redis gone the queues fill
(oldest dropped beyond the bound, counted), local protection goes on, and the link reconnects with
capped exponential backoff, logging one line when it loses Redis and one when it has it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..config import FleetConfig
from ..config.fleet import RedisTarget
from ..events import Event
from . import messages as m

log = logging.getLogger("sipwarden.fleet")

BLOCK_MS = 1000  # XREAD waits at most this long for new entries
READ_COUNT = 5000  # entries per XREAD
HEARTBEAT = 2.0  # seconds between heartbeats (and saves of the stream positions)
BACKOFF_FIRST, BACKOFF_CAP = 0.2, 4.0  # reconnect delays: doubling from the first up to the cap
EVENTS_QUEUE_FACTOR = 5  # events held while Redis is away = queue_max * this
WRITE_BATCH = 10_000  # ban changes per pipelined round trip
META_BANS, META_EVENTS = "fleet.bans_id", "fleet.events_id"


class Host(Protocol):
    """What the link needs from the daemon: the one ban path, detection, the store's meta."""

    def fleet_ban(self, node: str, bans: list[m.BanMessage], now: float) -> int:
        """Apply `bans` from `node` through policy; return how many were applied."""

    def fleet_unban(self, node: str, ip: str, now: float) -> bool: ...

    def fleet_events(self, events: list[Event]) -> None: ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...


@dataclass
class Counters:
    bans_shared: int = 0  # bans and unbans this node published
    events_shared: int = 0
    bans_received: int = 0  # ban messages from other nodes read
    bans_applied: int = 0  # ...of which applied here (policy said ban)
    unbans_applied: int = 0
    events_received: int = 0
    refused_reason: int = 0  # not in accept_reasons
    refused_expired: int = 0
    refused_wide: int = 0  # networks wider than this node's own network bans
    capped: int = 0  # over max_bans_per_minute: logged, not applied
    malformed: int = 0  # entries that are not valid fleet messages (incl. oversized)
    queue_dropped: int = 0  # shares dropped because the queue was full during an outage
    reconnects: int = 0
    trimmed_gaps: int = 0  # times bans were trimmed from the stream before this node read them
    host_errors: int = 0  # the daemon failed to apply something (logged with its traceback)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Queue:
    """A bounded FIFO that drops (and counts) its oldest items beyond `limit`."""

    limit: int
    items: deque = field(default_factory=deque)
    dropped: int = 0

    def put(self, item: Any) -> None:
        if len(self.items) >= self.limit:
            self.items.popleft()
            self.dropped += 1
        self.items.append(item)

    def take(self, n: int) -> list:
        return [self.items.popleft() for _ in range(min(n, len(self.items)))]

    def give_back(self, batch: list) -> None:
        """Put an unsent batch back in front (the newest still win if over the limit)."""
        room = max(self.limit - len(self.items), 0)
        self.dropped += max(len(batch) - room, 0)
        self.items.extendleft(reversed(batch[len(batch) - room:] if room < len(batch) else batch))


def _id_ms(sid: str) -> int:
    try:
        return int(sid.split("-", 1)[0])
    except ValueError:
        return 0


def _later(a: str, b: str) -> str:
    """The later of two stream ids."""
    def key(s: str) -> tuple[int, int]:
        ms, _, seq = s.partition("-")
        return (int(ms) if ms.isdigit() else 0, int(seq) if seq.isdigit() else 0)
    return a if key(a) >= key(b) else b


def make_client(target: RedisTarget, password: str | None, cfg: FleetConfig, read_timeout: float) -> Any:
    """A redis-py asyncio client for `target` (Sentinel-aware); no hidden retries: the link decides."""
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    kw: dict[str, Any] = {"db": target.db, "password": password, "username": target.username,
                          "socket_connect_timeout": 3.0, "socket_timeout": read_timeout,
                          "retry": Retry(NoBackoff(), 0), "health_check_interval": 0}
    if target.tls:
        kw["ssl"] = True
        if cfg.ca_file:
            kw["ssl_ca_certs"] = cfg.ca_file
    if target.sentinels:
        from redis.asyncio.sentinel import Sentinel
        skw = {"password": password, "socket_connect_timeout": 3.0, "socket_timeout": 3.0}
        return Sentinel(list(target.sentinels), sentinel_kwargs=skw, **kw).master_for(target.service)
    return Redis(host=target.host, port=target.port, **kw)


class FleetLink:
    def __init__(self, cfg: FleetConfig, target: RedisTarget, node: str, password: str | None, host: Host,
                 decided: Callable[[str], bool] | None = None, window: float = 3600.0,
                 clock: Callable[[], float] = time.time, widest: tuple[int, int] = (24, 64)) -> None:
        self.cfg = cfg
        self.target = target
        self.node = node
        self.password = password
        self.host = host
        self.decided = decided  # a source the engine already judged: its events need not travel
        self.window = window  # how far back the event stream is replayed at start (detector windows)
        self.clock = clock
        self.widest = {4: widest[0], 6: widest[1]}  # never apply a network ban wider than this node would decide
        self.keys = {k: f"{cfg.prefix}:{k}" for k in ("bans", "events", "nodes")}
        self.counters = Counters()
        self.bans_q = _Queue(cfg.queue_max)
        self.events_q = _Queue(cfg.queue_max * EVENTS_QUEUE_FACTOR)
        self.connected = False
        self.down_since: float | None = None
        self.last_error: str | None = None
        self.lag_ms: float | None = None  # receive time - stream time of the last entry applied
        self.peers: dict[str, dict] = {}  # from the nodes hash, refreshed with each heartbeat
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._minute = (0, 0)  # (minute number, fleet bans applied in it)
        self._capped_logged = -1
        self._known: dict[str, float] = {}  # ip -> expiry of fleet bans already handled (duplicates skip)
        self.bans_id = host.get_meta(META_BANS) or "0"
        saved_events = host.get_meta(META_EVENTS) or "0"
        self.events_id = _later(saved_events, f"{int((clock() - window) * 1000)}-0")
        self._saved = (self.bans_id, self.events_id)
        self._own_prefixes = tuple(m.encode_ban(m.BanMessage(k, node, "0.0.0.0", 0.0)).split(b'"ip"')[0]
                                   for k in ("ban", "unban"))

    # --- outputs of the daemon (called on the event loop; never block) ---------------------------

    def share_ban(self, ip: str, reason: str, evidence: str, expires: float | None, at: float,
                  proven: bool = True) -> None:
        self.bans_q.put(m.encode_ban(m.BanMessage("ban", self.node, ip, at, reason, evidence, expires, proven)))
        self._known[ip] = expires if expires is not None else float("inf")
        self._wake.set()

    def share_unban(self, ip: str, at: float) -> None:
        self.bans_q.put(m.encode_ban(m.BanMessage("unban", self.node, ip, at)))
        self._known.pop(ip, None)
        self._wake.set()

    def share_events(self, events: list[Event]) -> None:
        """Queue this node's own evidence for fleet-wide counting (remote and decided sources skipped)."""
        if not self.cfg.share_events:
            return
        decided = self.decided
        now = None
        for ev in events:
            if ev.ip is None or ev.kind not in m.SHARED_KINDS or (ev.file or "").startswith("fleet:"):
                continue
            if decided is not None and decided(ev.ip):
                continue
            if ev.time is None:
                now = now or self.clock()
                ev = ev._replace(time=now)
            self.events_q.put(m.event_row(ev))
        if self.events_q.items:
            self._wake.set()

    # --- life cycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name="fleet")

    async def stop(self, flush_timeout: float = 1.0) -> None:
        """Send what is queued if Redis is there (briefly), save the stream positions, disconnect."""
        if self.connected and (self.bans_q.items or self.events_q.items):
            deadline = time.monotonic() + flush_timeout
            while (self.bans_q.items or self.events_q.items) and self.connected and time.monotonic() < deadline:
                self._wake.set()
                await asyncio.sleep(0.02)
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # never hang a shutdown on Redis
                await asyncio.wait_for(self._task, 3.0)
        self._save_positions()

    # --- the connection -------------------------------------------------------------------------

    async def _supervise(self) -> None:
        delay = BACKOFF_FIRST
        first = True
        while not self._stop.is_set():
            writer = make_client(self.target, self.password, self.cfg, read_timeout=5.0)
            reader = make_client(self.target, self.password, self.cfg, read_timeout=BLOCK_MS / 1000 + 5.0)
            try:
                await writer.ping()
                await self._check_trimmed(writer)
                self._up(first)
                first = False
                delay = BACKOFF_FIRST
                tasks = [asyncio.create_task(c) for c in (self._read(reader), self._write(writer),
                                                          self._heartbeat(writer))]
                try:
                    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                finally:
                    for t in tasks:
                        t.cancel()
                    # their errors are collected, never our own cancellation (stop() must end this task)
                    await asyncio.gather(*tasks, return_exceptions=True)
                for t in done:
                    if t.exception() is not None:
                        raise t.exception()  # type: ignore[misc]
            except asyncio.CancelledError:
                raise
            except Exception as e:  # RedisError, OSError, a bad reply: the link goes down, never the daemon
                self._down(e, first)
                first = False
            finally:
                for c in (writer, reader):
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(c.aclose(), 1.0)
            if self._stop.is_set():
                break
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
            delay = min(delay * 2, BACKOFF_CAP)

    async def _check_trimmed(self, r: Any) -> None:
        """Say so when the bans this node has not read yet were trimmed away (it was gone for longer
        than `stream_maxlen` bans): it then starts from the oldest entry still there."""
        if self.bans_id == "0":
            return
        first = await r.xrange(self.keys["bans"], count=1)
        if not first:
            return
        sid = first[0][0].decode() if isinstance(first[0][0], bytes) else str(first[0][0])
        if _later(sid, self.bans_id) == sid and sid != self.bans_id and _id_ms(sid) > _id_ms(self.bans_id):
            self.counters.trimmed_gaps += 1
            log.error("fleet: bans published between stream ids %s and %s were trimmed before this node read "
                      "them (away longer than fleet.stream_maxlen = %d entries); they are not applied here",
                      self.bans_id, sid, self.cfg.stream_maxlen)

    def _up(self, first: bool) -> None:
        self.connected = True
        self.last_error = None
        if self.down_since is not None:
            queued = len(self.bans_q.items)
            log.warning("fleet: Redis at %s is back after %.1f s; sending %d queued ban change(s)",
                        self.target.describe(), self.clock() - self.down_since, queued)
            self.counters.reconnects += 1
        elif first:
            log.info("fleet: node %s joined the fleet at %s (bans from stream id %s)", self.node,
                     self.target.describe(), self.bans_id)
        self.down_since = None

    def _down(self, e: Exception, first: bool) -> None:
        self.last_error = f"{type(e).__name__}: {e}"[:300]
        if self.connected or first:
            log.error("fleet: %s Redis at %s (%s); local detection and bans go on, shares are queued "
                      "(at most %d), reconnecting", "lost" if self.connected else "cannot reach",
                      self.target.describe(), self.last_error, self.cfg.queue_max)
            self.down_since = self.clock()
        self.connected = False

    # --- writer -----------------------------------------------------------------------------------

    async def _write(self, r: Any) -> None:
        maxlen = self.cfg.stream_maxlen
        while True:
            await self._wake.wait()
            self._wake.clear()
            # No gathering delay: a turn's bans are all queued by the time the writer runs, and every
            # await here can cost a whole loop turn while the daemon reads a backlog.
            while self.bans_q.items or self.events_q.items:
                bans = self.bans_q.take(WRITE_BATCH)
                rows = self.events_q.take(m.MAX_BATCH * 20)
                pipe = r.pipeline(transaction=False)
                for data in bans:
                    pipe.xadd(self.keys["bans"], {"m": data}, maxlen=maxlen, approximate=True)
                for i in range(0, len(rows), m.MAX_BATCH):
                    pipe.xadd(self.keys["events"], {"m": m.encode_events(self.node, rows[i:i + m.MAX_BATCH])},
                              maxlen=maxlen, approximate=True)
                try:
                    await pipe.execute()
                except BaseException:
                    self.events_q.give_back(rows)
                    self.bans_q.give_back(bans)
                    raise
                self.counters.bans_shared += len(bans)
                self.counters.events_shared += len(rows)

    # --- reader -----------------------------------------------------------------------------------

    async def _read(self, r: Any) -> None:
        kb, ke = self.keys["bans"], self.keys["events"]
        while True:
            streams = {kb: self.bans_id}
            if self.cfg.share_events and not self.cfg.publish_only:
                streams[ke] = self.events_id
            reply = await r.xread(streams, count=READ_COUNT, block=BLOCK_MS)
            for name, entries in reply or []:
                key = name.decode() if isinstance(name, bytes) else name
                if key == kb:
                    self._on_bans(entries)
                elif key == ke:
                    self._on_events(entries)

    def _on_bans(self, entries: list) -> None:
        now = self.clock()
        by_node: dict[str, list[m.BanMessage]] = {}
        own = self._own_prefixes
        for sid, fields in entries:
            sid = sid.decode() if isinstance(sid, bytes) else sid
            self.bans_id = sid
            try:
                raw = _field(fields)
                if raw.startswith(own):  # our own, as we wrote it: not worth decoding (a burst is 10k)
                    continue
                msg = m.decode_ban(raw)
            except m.Malformed as e:
                self._malformed("bans", sid, e)
                continue
            if msg.node == self.node:  # our own, coming back: never applied twice
                continue
            self.counters.bans_received += 1
            self.lag_ms = max(now * 1000 - _id_ms(sid), 0.0)
            if self.cfg.publish_only:
                continue
            if msg.kind == "unban":
                self._flush_bans(by_node, now)
                by_node = {}
                self._known.pop(msg.ip, None)
                if self._host("unban", self.host.fleet_unban, msg.node, msg.ip, now):
                    self.counters.unbans_applied += 1
                continue
            if "/" in msg.ip and self._too_wide(msg.ip):
                self.counters.refused_wide += 1
                log.warning("fleet: not applying %s from %s: wider than this node's own network bans (/%d, /%d)",
                            msg.ip, msg.node, self.widest[4], self.widest[6])
                continue
            if self.cfg.accept_reasons and msg.reason not in self.cfg.accept_reasons:
                self.counters.refused_reason += 1
                continue
            if msg.expires is not None and msg.expires <= now:
                self.counters.refused_expired += 1
                continue
            known = self._known.get(msg.ip)
            if known is not None and known > now:  # applied (or decided here) already
                continue
            by_node.setdefault(msg.node, []).append(msg)
        self._flush_bans(by_node, now)

    def _too_wide(self, net: str) -> bool:
        addr, _, plen = net.partition("/")
        return int(plen) < self.widest[6 if ":" in addr else 4]

    def _flush_bans(self, by_node: dict[str, list[m.BanMessage]], now: float) -> None:
        minute = int(now // 60)
        if self._minute[0] != minute:
            self._minute = (minute, 0)
        cap = self.cfg.max_bans_per_minute
        for node, msgs in by_node.items():
            room = cap - self._minute[1]
            take, over = msgs[:max(room, 0)], msgs[max(room, 0):]
            if over:
                self.counters.capped += len(over)
                if self._capped_logged != minute:
                    self._capped_logged = minute
                    log.error("fleet: more than %d fleet bans this minute (fleet.max_bans_per_minute); %d from %s "
                              "and any more this minute are logged and counted, not applied (first: %s)",
                              cap, len(over), node, over[0].ip)
                for msg in over:
                    log.info("fleet: not applied (over the per-minute cap): %s from %s (%s)", msg.ip, node, msg.reason)
            if not take:
                continue
            applied = self._host("ban", self.host.fleet_ban, node, take, now) or 0
            self.counters.bans_applied += applied
            self._minute = (minute, self._minute[1] + applied)
            for msg in take:
                self._known[msg.ip] = msg.expires if msg.expires is not None else float("inf")
        if len(self._known) > 4 * self.cfg.max_bans_per_minute + 1000:
            self._known = {ip: exp for ip, exp in self._known.items() if exp > now}

    def _on_events(self, entries: list) -> None:
        batch: list[Event] = []
        for sid, fields in entries:
            sid = sid.decode() if isinstance(sid, bytes) else sid
            self.events_id = sid
            try:
                raw = _field(fields)
                node, events, bad = m.decode_events(raw, "fleet:?")
            except m.Malformed as e:
                self._malformed("events", sid, e)
                continue
            if node == self.node:  # never echo our own events back into our detectors
                continue
            if bad:
                self.counters.malformed += bad
            src = f"fleet:{node}"
            batch.extend(ev._replace(file=src) for ev in events)
        if batch:
            self.counters.events_received += len(batch)
            batch.sort(key=lambda e: e.time or 0.0)
            self._host("events", self.host.fleet_events, batch)

    def _host(self, what: str, fn: Callable, *args: Any) -> Any:
        """Hand over to the daemon; its failure is its own (counted there, logged here), never the link's."""
        try:
            return fn(*args)
        except Exception:
            self.counters.host_errors += 1
            log.exception("fleet: applying a fleet %s failed", what)
            return None

    def _malformed(self, stream: str, sid: str, e: m.Malformed) -> None:
        self.counters.malformed += 1
        if self.counters.malformed <= 10 or self.counters.malformed % 1000 == 0:
            log.warning("fleet: ignored malformed entry %s in %s: %s (%d so far)", sid, stream, e,
                        self.counters.malformed)

    # --- heartbeat, positions, status -------------------------------------------------------------

    async def _heartbeat(self, r: Any) -> None:
        while True:
            now = self.clock()
            beat = {"at": round(now, 3), "lag_ms": self.lag_ms,
                    "queued": len(self.bans_q.items), **self.counters.as_dict(),
                    "publish_only": self.cfg.publish_only}
            await r.hset(self.keys["nodes"], self.node, json.dumps(beat))
            raw = await r.hgetall(self.keys["nodes"])
            peers = {}
            for k, v in (raw or {}).items():
                name = k.decode(errors="replace") if isinstance(k, bytes) else str(k)
                try:
                    doc = json.loads(v)
                except ValueError:
                    continue
                if isinstance(doc, dict) and m.NODE.match(name):
                    peers[name] = doc
            self.peers = peers
            await asyncio.to_thread(self._save_positions)  # SQLite: never on the loop
            await asyncio.sleep(HEARTBEAT)

    def _save_positions(self) -> None:
        cur = (self.bans_id, self.events_id)
        if cur != self._saved:
            self.host.set_meta(META_BANS, self.bans_id)
            self.host.set_meta(META_EVENTS, self.events_id)
            self._saved = cur

    def metrics(self) -> list[tuple[str, str, float, bool]]:
        """(name, help, value, is_gauge) for /metrics."""
        c = self.counters
        out = [("sipwarden_fleet_connected", "1 while this node is connected to the fleet's Redis", int(self.connected),
                True),
               ("sipwarden_fleet_nodes", "nodes seen in the fleet (heartbeats)", len(self.peers), True),
               ("sipwarden_fleet_queued", "ban changes waiting for Redis", len(self.bans_q.items), True),
               ("sipwarden_fleet_lag_seconds", "receive time - stream time of the last fleet ban applied",
                (self.lag_ms or 0.0) / 1000, True),
               ("sipwarden_fleet_queue_dropped", "shares dropped while Redis was away (queue full)",
                self.bans_q.dropped + self.events_q.dropped, False)]
        docs = {"bans_shared": "ban changes this node published", "events_shared": "events this node published",
                "bans_received": "ban changes read from other nodes", "bans_applied": "fleet bans applied here",
                "unbans_applied": "fleet unbans applied here", "events_received": "events read from other nodes",
                "refused_reason": "fleet bans refused: reason not accepted", "refused_expired": "fleet bans already over",
                "refused_wide": "fleet network bans wider than this node's own",
                "capped": "fleet bans over max_bans_per_minute (not applied)",
                "malformed": "malformed fleet entries ignored", "reconnects": "reconnections to Redis",
                "trimmed_gaps": "bans trimmed from the stream before this node read them",
                "host_errors": "fleet changes the daemon failed to apply"}
        out += [(f"sipwarden_fleet_{k}", docs[k], v, False) for k, v in c.as_dict().items() if k in docs]
        return out

    def status(self) -> dict:
        """The `fleet` section of `status`: this node, its link, and every node seen in Redis."""
        now = self.clock()
        nodes = []
        for name, doc in sorted(self.peers.items()):
            at = doc.get("at")
            age = round(now - at, 1) if isinstance(at, int | float) else None
            nodes.append({"node": name, "last_heartbeat": m.iso_or_none(at), "heartbeat_age": age,
                          "lag_ms": doc.get("lag_ms"), "bans_shared": doc.get("bans_shared"),
                          "bans_received": doc.get("bans_received"), "bans_applied": doc.get("bans_applied"),
                          "queued": doc.get("queued"), "self": name == self.node})
        return {"node": self.node, "redis": self.target.describe(), "connected": self.connected,
                "down_since": m.iso_or_none(self.down_since), "last_error": self.last_error,
                "lag_ms": self.lag_ms, "queued_bans": len(self.bans_q.items),
                "queued_events": len(self.events_q.items), "bans_stream_id": self.bans_id,
                "publish_only": self.cfg.publish_only, "accept_reasons": list(self.cfg.accept_reasons),
                "max_bans_per_minute": self.cfg.max_bans_per_minute,
                **self.counters.as_dict(), "queue_dropped": self.bans_q.dropped + self.events_q.dropped,
                "nodes": nodes}


def _field(fields: Any) -> bytes:
    if not isinstance(fields, dict) or len(fields) != 1:
        raise m.Malformed("entry must have exactly one field, m")
    v = fields.get(b"m", fields.get("m"))
    if v is None:
        raise m.Malformed("entry has no field m")
    return v if isinstance(v, bytes) else str(v).encode()
