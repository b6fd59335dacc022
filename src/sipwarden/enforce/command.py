"""A backend for firewalls sipwarden cannot program itself (cloud security groups, hardware
firewalls, an API): it runs the operator's program once per address,
`<command> ban <ip> <seconds|0>` and `<command> unban <ip>` (0 = permanent).

The program gets an argv list (never a shell: addresses are checked, but comments never reach it).
A failing or hanging call is logged and does not stop the others; `list()` is what this process
believes it has banned, since the remote side cannot be asked.
"""

from __future__ import annotations

import shlex
import subprocess

from ..config import BanConfig
from .base import Ban, EnforceError, RememberedBans, log, parse_target, split_bans
from .nsexec import ns_argv


class CommandEnforcer(RememberedBans):
    name = "command"

    def __init__(self, cfg: BanConfig, netns: str | None = None, timeout: float | None = None) -> None:
        try:
            self.argv = shlex.split(cfg.command)
        except ValueError as e:
            raise EnforceError(f"ban.command: cannot split {cfg.command!r}: {e}") from None
        if not self.argv:
            raise EnforceError("ban.command: required when ban.backend = \"command\"")
        self.netns = netns
        self.timeout = timeout if timeout is not None else cfg.command_timeout
        self.bans: dict[str, float | None] = {}
        self.failures = 0  # calls that failed since start, for status output

    def _call(self, *args: str) -> bool:
        argv = ns_argv(self.netns, [*self.argv, *args])
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout,
                               stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            log.error("ban.command: %s not found", self.argv[0])
        except PermissionError:
            log.error("ban.command: %s is not executable", self.argv[0])
        except subprocess.TimeoutExpired:
            log.error("ban.command: `%s` did not finish within %.0f s", shlex.join(argv), self.timeout)
        else:
            if p.returncode == 0:
                return True
            log.error("ban.command: `%s` exited with %d: %s", shlex.join(argv), p.returncode,
                      (p.stderr or p.stdout).strip()[:500])
        self.failures += 1
        return False

    def setup(self) -> None:
        pass

    def ban(self, bans: list[Ban], now: float) -> None:
        live, over = split_bans(bans, now)
        self.unban(over)
        for key, (_t, secs, _comment) in live.items():
            if self._call("ban", key, str(secs or 0)):
                self.bans[key] = None if secs is None else now + secs

    def unban(self, ips: list[str]) -> None:
        for ip in ips:
            t = parse_target(ip)
            if t is None:
                log.warning("not unbanning %r: not an IP address or prefix", ip)
            elif self._call("unban", t.key):
                self.bans.pop(t.key, None)

    def teardown(self) -> None:
        self.unban(list(self.bans))
