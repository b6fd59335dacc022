"""Uvicorn serving the API as a task of the daemon's own event loop.

The socket is bound here, before the daemon reports it started, so a port in use is one clear
error instead of uvicorn exiting the process; the daemon keeps its own signal handling (uvicorn's
would replace it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import uvicorn

from ..config import Config, ConfigError
from . import listen
from .app import Api, make_app

log = logging.getLogger("sipwarden")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # noqa: ANN201 - the daemon owns SIGTERM/SIGINT
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        s.listen(128)
        s.setblocking(False)
    except OSError as e:
        s.close()
        raise ConfigError(f"http.listen: cannot listen on {host}:{port}: {e.strerror or e}") from None
    return s


class HttpServer:
    def __init__(self, cfg: Config, listen_addr: str, daemon, metrics) -> None:  # noqa: ANN001
        host, port, token = listen.check(listen_addr, cfg.http.token_file)
        if host == "localhost":
            host = "127.0.0.1"
        self.host, self.port = host, port
        self.api = Api(daemon, metrics, token, cfg.http.max_body, cfg.http.dashboard_hours)
        self.sock = _bind(host, port)
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(make_app(self.api), log_level="warning", access_log=False, lifespan="off",
                                proxy_headers=False, server_header=False, timeout_keep_alive=5,
                                limit_concurrency=64, h11_max_incomplete_event_size=16384, ws="none")
        self.server = _Server(config)
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]), name="http")
        for _ in range(200):  # until it accepts (or failed)
            if self.server.started or self.task.done():
                break
            await asyncio.sleep(0.01)
        if self.task.done():
            self.task.result()
        where = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        log.info("HTTP API, metrics and dashboard on http://%s/ (writes %s)", where,
                 "need the bearer token" if self.api._token else "disabled: no http.token_file")

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            try:
                await asyncio.wait_for(self.task, 5)
            except (TimeoutError, asyncio.CancelledError):
                self.task.cancel()
            except Exception:  # stopping anyway
                log.exception("HTTP server stopped with an error")
        self.sock.close()

    def status(self) -> dict:
        return {"listen": f"{self.host}:{self.port}", **self.api.status_section()}
