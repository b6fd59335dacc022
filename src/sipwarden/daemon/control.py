"""The control socket's server: a unix socket (mode 0600) in the state dir, one JSON request per
line: {"cmd": "status"|"bans"|"ban"|"unban", ...}. Bans and unbans go through BanService (the one
ban path); a reply to ban/unban is sent once the kernel has the change. A hostile or broken
request gets an error reply, never takes the daemon down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from .bans import BanService
from .errors import StageErrors

log = logging.getLogger("sipwarden")

REQUEST_TIMEOUT = 5.0
KERNEL_WAIT = 10.0  # seconds a ban/unban reply waits for the kernel at most


class ControlServer:
    def __init__(self, path: Path, bans: BanService, status: Callable[[], dict], errors: StageErrors) -> None:
        self.path = path
        self.bans = bans
        self.status = status
        self.errors = errors
        # more commands from other parts (blocklists, ...): name -> async handler(request) -> reply
        self.commands: dict[str, Callable[[dict], Awaitable[dict]]] = {}
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old_umask = os.umask(0o077)  # the socket is born owner-only: no window before a chmod
        try:
            self._server = await asyncio.start_unix_server(self._client, path=str(self.path))
        finally:
            os.umask(old_umask)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                line = await asyncio.wait_for(reader.readline(), timeout=REQUEST_TIMEOUT)
                req = json.loads(line)
                reply = await self.handle(req if isinstance(req, dict) else {})
            except (ValueError, TypeError, OverflowError) as e:  # junk, a >64 KiB line, Infinity
                reply = {"ok": False, "error": f"bad request: {e}"}
            except (TimeoutError, ConnectionError):
                return
            except Exception as e:  # a control request must never take the daemon down
                self.errors.record("control", "control request failed")
                reply = {"ok": False, "error": f"internal error: {e}"}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def handle(self, req: dict) -> dict:
        cmd = req.get("cmd")
        if isinstance(cmd, str) and cmd in self.commands:
            return await self.commands[cmd](req)
        if cmd == "status":
            return self.status()
        if cmd == "bans":
            return {"ok": True, "bans": [b.to_dict() for b in self.bans.active()]}
        if cmd == "ban":
            try:
                rec = self.bans.manual(str(req.get("ip", "")), req.get("duration"),
                                       str(req.get("reason") or "manual"), force=bool(req.get("force")))
            except ValueError as e:
                return {"ok": False, "error": str(e)}
            await self._kernel()
            return {"ok": True, "ban": rec.to_dict(), "firewall_error": self.bans.kernel.error}
        if cmd == "unban":
            target = self.bans.target(str(req.get("ip", "")))
            lifted = self.bans.unban(target, by="operator")
            if not lifted:
                log.warning("UNBAN %s (operator) - it was not banned", target)
            await self._kernel()
            return {"ok": True, "lifted": lifted, "ip": target, "firewall_error": self.bans.kernel.error}
        return {"ok": False, "error": f"unknown command {cmd!r} (status, bans, ban, unban)"}

    async def _kernel(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.wrap_future(self.bans.kernel.barrier()), KERNEL_WAIT)
