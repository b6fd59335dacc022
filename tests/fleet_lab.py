"""A fleet lab (root): a bridge namespace, a redis-server in its own namespace, and N sipwarden
daemons each in its own namespace with its own nftables table, all on 198.18.1.0/24. Nothing can
leave (no default route anywhere); everything is torn down by pid and name."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import time
from pathlib import Path

from netns import run
from redis_server import RedisServer
from warden import SIPWARDEN, ctl, stop, wait_daemon

REDIS_ADDR = "198.18.1.250"
_seq = itertools.count()


def failure(ip: str, user: str = "100") -> str:
    """An Asterisk wrong-password line stamped now (UTC: the daemons' configs say so)."""
    ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    return (f"[{ts}] NOTICE[2211] chan_sip.c: Registration from '<sip:{user}@pbx.example.com>' "
            f"failed for '{ip}:5060' - Wrong password\n")


class Daemon:
    def __init__(self, lab: FleetLab, i: int, extra_toml: str) -> None:
        self.lab = lab
        self.name = f"node{i}"
        self.ns = f"{lab.tag}n{i}"
        self.dir = lab.dir / self.name
        self.dir.mkdir()
        self.log = self.dir / "messages"
        self.log.write_text("")
        self.state = self.dir / "state"
        self.cfg = self.dir / "sipwarden.toml"
        self.cfg.write_text('[log]\ntimezone = "UTC"\n' + extra_toml)
        self.stderr = self.dir / "daemon.err"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        err = open(self.stderr, "a")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, SIPWARDEN, "run", "--config", str(self.cfg), "--watch", str(self.log),
             "--state-dir", str(self.state), "--fleet", f"redis://{REDIS_ADDR}:{self.lab.redis.port}/0",
             "--node", self.name], stdout=err, stderr=err)
        self.wait_for(lambda: (self.ctl("status") or {}).get("fleet", {}).get("connected") is True
                      or (self.lab.redis.proc is None and (self.ctl("status") or {}).get("running")),
                      "daemon up and joined the fleet")

    def stop(self) -> None:
        stop(self.proc)
        self.proc = None

    def ctl(self, *args: str):  # noqa: ANN201
        return ctl(self.state, *args)

    def append(self, text: str) -> None:
        with open(self.log, "a") as f:
            f.write(text)

    def banned(self, ip: str, setname: str = "ban4") -> bool:
        p = run(["nft", "get", "element", "inet", "sipwarden", setname, f"{{ {ip} }}"], ns=self.ns, check=False)
        return p.returncode == 0

    def wait_for(self, cond, what: str, timeout: float = 8.0) -> float:  # noqa: ANN001
        return wait_daemon(cond, f"{self.name}: {what}", self.proc, self.stderr, timeout, step=0.01)


class FleetLab:
    def __init__(self, tmp: Path, nodes: int = 3, extra_toml: dict[int, str] | None = None) -> None:
        self.tag = f"swf{os.getpid() % 10000}x{next(_seq)}"
        self.dir = tmp
        self.hub = f"{self.tag}hub"
        self.namespaces = [self.hub, f"{self.tag}r"] + [f"{self.tag}n{i}" for i in range(1, nodes + 1)]
        self.nodes: list[Daemon] = []
        self._extra = extra_toml or {}
        self._n = nodes
        self.redis: RedisServer

    def up(self) -> None:
        for ns in self.namespaces:
            run(["ip", "netns", "add", ns])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", self.hub, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", self.hub, "link", "set", "br0", "up"])
        addrs = {f"{self.tag}r": REDIS_ADDR} | {f"{self.tag}n{i}": f"198.18.1.{i}" for i in range(1, self._n + 1)}
        for k, (ns, addr) in enumerate(addrs.items()):
            run(["ip", "-n", self.hub, "link", "add", f"v{k}", "type", "veth", "peer", "name", "eth0", "netns", ns])
            run(["ip", "-n", self.hub, "link", "set", f"v{k}", "master", "br0", "up"])
            run(["ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0"])
            run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        self.redis = RedisServer(self.dir / "redis", host=REDIS_ADDR, ns=f"{self.tag}r").start()
        for i in range(1, self._n + 1):
            self.nodes.append(Daemon(self, i, self._extra.get(i, "")))

    def down(self) -> None:
        for d in self.nodes:
            with contextlib.suppress(Exception):  # keep tearing down
                d.stop()
        self.redis.stop()
        for ns in reversed(self.namespaces):
            run(["ip", "netns", "del", ns], check=False)
