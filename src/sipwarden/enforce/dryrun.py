"""A backend that changes nothing: it logs what it would do and remembers it, so `sipwarden run`
can be tried on a production PBX and `bans` still shows what would be enforced."""

from __future__ import annotations

from .base import Ban, RememberedBans, log, parse_target, split_bans

LOG_EACH = 20  # a batch larger than this is logged as one line


class DryRunEnforcer(RememberedBans):
    name = "dry-run"

    def __init__(self) -> None:
        self.bans: dict[str, float | None] = {}
        self.log: list[tuple[str, str, float | None]] = []  # (action, key, expiry): what would have run

    def setup(self) -> None:
        log.info("dry-run: no firewall changes will be made")

    def ban(self, bans: list[Ban], now: float) -> None:
        live, over = split_bans(bans, now)
        self.unban(over)
        for key, (_t, secs, comment) in live.items():
            exp = None if secs is None else now + secs
            self.bans[key] = exp
            self.log.append(("ban", key, exp))
            if len(live) <= LOG_EACH:
                log.info("dry-run: would ban %s for %s (%s)", key, "ever" if secs is None else f"{secs}s", comment)
        if len(live) > LOG_EACH:  # a flood: one line, not thousands
            log.info("dry-run: would ban %d addresses (%s, ...)", len(live), ", ".join(list(live)[:3]))

    def unban(self, ips: list[str]) -> None:
        for ip in ips:
            t = parse_target(ip)
            if t is not None and self.bans.pop(t.key, 0) != 0:
                self.log.append(("unban", t.key, None))
                log.info("dry-run: would unban %s", t.key)

    def teardown(self) -> None:
        self.bans.clear()
