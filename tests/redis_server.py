"""A real redis-server for tests: started on a free port (on 127.0.0.1, or inside a network namespace),
stopped (or killed mid-test, to play an outage) by pid."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


def unavailable() -> str | None:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        return "needs redis-server and redis-cli (Debian redis-server; scripts/bootstrap --system)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, workdir: Path, host: str = "127.0.0.1", port: int | None = None, ns: str | None = None,
                 password: str | None = None, args: tuple[str, ...] = (), cli_args: tuple[str, ...] = ()) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port or free_port()
        self.ns = ns
        self.password = password
        self.args = args  # more redis-server options (TLS, ...)
        self.cli_args = cli_args  # and what redis-cli then needs (--tls, --cacert, ...)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def _wrap(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *argv] if self.ns else argv

    def start(self) -> RedisServer:
        argv = ["redis-server", "--bind", self.host, "--port", str(self.port), "--save", "", "--appendonly", "no",
                "--protected-mode", "no", "--dir", str(self.dir)]
        if self.password:
            argv += ["--requirepass", self.password]
        argv += list(self.args)
        log = open(self.dir / "redis.log", "a")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(self._wrap(argv), stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.cli("ping", check=False).stdout.strip() in ("PONG", "NOAUTH Authentication required."):
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited: {(self.dir / 'redis.log').read_text()[-1000:]}")
            time.sleep(0.05)
        raise AssertionError("redis-server did not answer within 10 s")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()  # an outage, not a shutdown: no goodbye to the clients
            self.proc.wait(timeout=10)
            self.proc = None

    def cli(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """redis-cli ARGS; with `stdin`, it is the command's last argument (`-x`: no size limit of argv)."""
        argv = ["redis-cli", "-h", self.host, "-p", str(self.port), *self.cli_args] + (["-x"] if stdin is not None else [])
        if self.password:
            argv += ["--no-auth-warning", "-a", self.password]
        p = subprocess.run(self._wrap([*argv, *args]), input=stdin, capture_output=True, text=True,
                           timeout=20)
        if check and p.returncode != 0:
            raise AssertionError(f"redis-cli {' '.join(args)}: {p.stderr}")
        return p
