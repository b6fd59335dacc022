"""The notifier: ban-path listener and daemon hooks in, per-destination queues out (see __init__)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from ..config import NotifyConfig
from . import message as msg
from .message import URGENT_REASONS, Destination, Digest, Message

log = logging.getLogger("sipwarden")

COALESCE = 2.0  # seconds a first ban waits for the rest of its burst before a digest goes out
MAX_BACKOFF = 60.0
STOP_GRACE = 3.0  # seconds at stop for the queues to empty (the "stopped" message)


class _Sender:
    """A destination's bounded queue and the task that empties it."""

    def __init__(self, dest: Destination, cfg: NotifyConfig, counts: dict) -> None:
        self.dest = dest
        self.cfg = cfg
        self.counts = counts
        self.queue: asyncio.Queue[Message] = asyncio.Queue(cfg.queue)
        self.task: asyncio.Task | None = None
        self.last_error: str | None = None

    def put(self, m: Message) -> None:
        try:
            self.queue.put_nowait(m)
        except asyncio.QueueFull:
            self.counts["dropped"] += 1

    async def run(self) -> None:
        while True:
            m = await self.queue.get()
            try:
                await self._deliver(m)
            finally:
                self.queue.task_done()

    async def _deliver(self, m: Message) -> None:
        delay = self.cfg.backoff
        for attempt in range(self.cfg.retries + 1):
            try:
                await asyncio.wait_for(self.dest.send(m), self.cfg.timeout)
                self.counts["sent"] += 1
                self.last_error = None
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:  # any failure of a destination: retry, never crash the daemon
                self.last_error = f"{type(e).__name__}: {e}"[:200]
                if attempt == self.cfg.retries:
                    break
                log.debug("notify %s: %s failed (%s); retry in %.1fs", self.dest.name, m.kind, self.last_error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
        self.counts["failed"] += 1
        log.warning("notify %s: could not send a %s message after %d tries (%s)", self.dest.name, m.kind,
                    self.cfg.retries + 1, self.last_error)


class Notifier:
    def __init__(self, cfg: NotifyConfig, destinations: list[Destination],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.clock = clock
        self.counts = {"sent": 0, "failed": 0, "dropped": 0, "compromise": 0, "digests": 0}
        self.senders = [_Sender(d, cfg, self.counts) for d in destinations]
        self.digest = Digest()
        self._last_digest = float("-inf")
        self._flush: asyncio.TimerHandle | None = None
        self._firewall_error: str | None = None
        self._started = False

    # -- inputs ----------------------------------------------------------------------------------

    def on_change(self, c) -> None:  # noqa: ANN001 - a daemon.bans.BanChange (a BanService listener)
        """Never blocks: a compromise goes to the queues now, everything else into the digest."""
        if not self.senders:
            return
        if c.kind == "ban" and c.reason in URGENT_REASONS:
            self.counts["compromise"] += 1
            self.publish(msg.compromise(c))
            return
        self.digest.add(c)
        if c.kind != "ban":  # ends of bans ride along with the next digest: expiries alone are noise
            return
        if self._flush is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop (tools): the next flush_digest() sends it
            wait = max(COALESCE, self._last_digest + self.cfg.digest_interval - self.clock())
            self._flush = loop.call_later(wait, self.flush_digest)

    def firewall(self, error: str | None, backend: str) -> None:
        """Call with the firewall's current error (None: working); only changes are sent."""
        if error == self._firewall_error or (error is not None and self._firewall_error is not None):
            self._firewall_error = error
            return
        self._firewall_error = error
        self.publish(msg.firewall(error, backend))

    def publish(self, m: Message) -> None:
        for s in self.senders:
            s.put(m)

    def flush_digest(self) -> None:
        self._flush = None
        if not self.digest:
            return
        self._last_digest = self.clock()
        self.counts["digests"] += 1
        self.publish(self.digest.message())
        self.digest.clear()

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, detail: str = "") -> None:
        for s in self.senders:
            s.task = asyncio.create_task(s.run(), name=f"notify-{s.dest.name}")
        self._started = True
        self.publish(msg.lifecycle("started", detail))

    async def stop(self, detail: str = "") -> None:
        """Send what is pending (the digest, then 'stopped'), waiting at most STOP_GRACE seconds."""
        if not self._started:
            return
        if self._flush is not None:
            self._flush.cancel()
        self.flush_digest()
        self.publish(msg.lifecycle("stopped", detail))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(s.queue.join() for s in self.senders)), STOP_GRACE)
        for s in self.senders:
            if s.task is not None:
                s.task.cancel()
        for s in self.senders:
            if s.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await s.task
            with contextlib.suppress(Exception):
                await s.dest.close()
        self._started = False

    def status(self) -> dict:
        return {**self.counts, "queued": sum(s.queue.qsize() for s in self.senders),
                "digest_pending": sum(self.digest.bans.values()) + self.digest.unbans,
                "destinations": [{"name": s.dest.name, "queued": s.queue.qsize(), "last_error": s.last_error}
                                 for s in self.senders]}


def from_config(cfg: NotifyConfig) -> Notifier:
    """A notifier with the configured destinations (none: it does nothing)."""
    dests: list[Destination] = []
    if cfg.webhook:
        from .webhook import Webhook
        dests += [Webhook(u, cfg.timeout) for u in cfg.webhook]
    if cfg.apprise:
        from .via_apprise import Apprise
        dests += [Apprise(u) for u in cfg.apprise]  # one each: a retry must not re-send to the others
    return Notifier(cfg, dests)
