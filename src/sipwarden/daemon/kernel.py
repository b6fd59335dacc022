"""The firewall, driven from a worker thread: the event loop hands over ban and unban batches and
goes on; the thread applies each merged batch as one kernel transaction, in the order given.

When the firewall fails (no nft, no permission, a table someone deleted) the error is kept for
`status`, the batch is dropped, and the thread retries `setup` before the next batch (at most once
a second); the periodic reconcile then makes the kernel equal to the bans in memory again, so
nothing decided is lost. A full queue (the kernel far behind) is replaced by one reconcile, which
subsumes everything queued.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future

from ..enforce import Ban, EnforceError, Enforcer
from .errors import StageErrors
from .worker import OrderedWorker

log = logging.getLogger("sipwarden")

RETRY = 1.0  # seconds between setup attempts while the firewall fails
NOT_SET_UP = "not set up yet"  # the state before the first setup: neither up nor failing
MAX_QUEUED = 1024  # batches waiting for the kernel, at most


class Kernel:
    def __init__(self, make: Callable[[], Enforcer], backend: str, errors: StageErrors,
                 threaded: bool = True, clock: Callable[[], float] = time.time) -> None:
        self._make = make
        self.backend = backend
        self.errors = errors
        self.clock = clock
        self.enforcer: Enforcer | None = None
        self.error: str | None = NOT_SET_UP
        self._last_setup = float("-inf")
        self.applied = 0  # bans applied
        self.lifted = 0
        self.last_batch_ms = 0.0
        self.needs_reconcile = False  # a batch was dropped (error or overflow)
        self.worker = OrderedWorker("kernel", self._run, frozenset({"ban", "unban"}), threaded, MAX_QUEUED)

    # -- from the event loop ---------------------------------------------------------------------

    def ban(self, bans: list[Ban], now: float) -> None:
        if bans and not self.worker.submit("ban", (bans, now)):
            self.needs_reconcile = True

    def unban(self, ips: list[str]) -> None:
        if ips and not self.worker.submit("unban", ips):
            self.needs_reconcile = True

    def reconcile(self, wanted: dict[str, float | None], now: float, replace: bool = False) -> None:
        """Make the kernel equal to `wanted` (after everything queued before; `replace`: instead of it)."""
        self.needs_reconcile = False
        if replace or not self.worker.submit("reconcile", (wanted, now)):
            self.worker.replace_all("reconcile", (wanted, now))

    def setup(self) -> None:
        self.worker.submit("setup", None)

    def barrier(self) -> Future:
        return self.worker.barrier()

    def close(self) -> None:
        self.worker.close()
        closer = getattr(self.enforcer, "close", None)
        if closer is not None:
            try:
                closer()
            except Exception:  # stopping anyway
                self.errors.record("kernel", "closing the firewall backend")

    def status(self) -> dict:
        return {"backend": self.backend, "error": self.error, "queued": self.worker.pending(),
                "batches": self.worker.batches, "applied": self.applied, "lifted": self.lifted,
                "overflows": self.worker.overflows, "last_batch_ms": round(self.last_batch_ms, 1)}

    # -- on the worker thread --------------------------------------------------------------------

    def _ready(self, force: bool = False) -> bool:
        if self.error is None:
            return True
        now = time.monotonic()
        if not force and now - self._last_setup < RETRY:
            return False
        self._last_setup = now
        try:
            if self.enforcer is None:
                self.enforcer = self._make()
            self.enforcer.setup()
        except EnforceError as e:
            if self.error != str(e):
                log.error("firewall: %s; bans are recorded and will be applied when it works", e)
            self.error = str(e)
            return False
        if self.error != NOT_SET_UP:
            log.info("firewall available again (%s)", self.backend)
            self.needs_reconcile = True
        self.error = None
        return True

    def _run(self, kind: str, payloads: list) -> None:
        try:
            self._apply(kind, payloads)
        except Exception:  # a backend bug must not end the thread
            self.needs_reconcile = True
            self.errors.record("kernel", f"{kind} failed")

    def _apply(self, kind: str, payloads: list) -> None:
        if kind == "setup":
            self._ready(force=True)
            return
        if not self._ready():
            self.needs_reconcile = True
            return
        enf = self.enforcer
        assert enf is not None
        t0 = time.perf_counter()
        try:
            if kind == "ban":
                bans = [b for batch, _ in payloads for b in batch]
                enf.ban(bans, self.clock())  # expiries are absolute: time left counts from now
                self.applied += len(bans)
            elif kind == "unban":
                ips = [ip for batch in payloads for ip in batch]
                enf.unban(ips)
                self.lifted += len(ips)
            elif kind == "reconcile":
                wanted, _ = payloads[-1]
                added, removed = enf.reconcile(wanted, self.clock())
                if added or removed:
                    log.warning("reconciled the firewall with the store: %d ban(s) restored, %d stray removed",
                                added, removed)
        except EnforceError as e:
            self.errors.counts["kernel"] += 1
            self.needs_reconcile = True
            log.error("firewall: %s failed: %s; will retry", kind, e)
            self.error = str(e)
        self.last_batch_ms = (time.perf_counter() - t0) * 1000
