"""Policy: what to do about a verdict. Pure: no clock, no I/O; the daemon supplies the facts
(how often this source was banned before, whether it is banned now) from the store.

Rules, in order:
1. Whitelisted sources are never banned, whatever the evidence (UDP sources can be forged, and
   banning a trunk or the host itself is worse than any attack). A prefix verdict is refused if
   it overlaps anything whitelisted.
2. A source already banned is left alone (no ban re-issued, no offence counted), unless the new
   verdict is `compromise`: a cracked account is banned again, for `maxtime`, so the store and
   `sipwarden bans` show it with its evidence.
3. Otherwise ban for `bantime * increment ** offences`, capped at `maxtime`, like fail2ban's
   `bantime.increment`: repeat offenders stay out longer, and automatic bans always expire.
4. A verdict on unproven evidence (UDP with no round trip: the source could be forged) is
   banned for `unproven_factor` of that: long enough to stop a flood, short for a framed victim.
"""

from __future__ import annotations

import ipaddress

from .addr import AddressSet, normalize
from .config import BanConfig
from .events import Decision, Reason, Verdict

MAX_MANUAL = 10 * 365 * 86400.0  # longer than ten years: say permanent instead

# Operator bans broader than these are almost surely typos (0.0.0.0/0 bans the world).
MIN_PREFIX = {4: 8, 6: 16}


class Policy:
    def __init__(self, cfg: BanConfig, whitelist: AddressSet) -> None:
        self.cfg = cfg
        self.whitelist = whitelist

    def duration(self, offences: int) -> float:
        """Ban length after `offences` earlier bans: bantime * increment ** offences, at most maxtime."""
        return min(self._uncapped(offences), self.cfg.maxtime)

    def _uncapped(self, offences: int) -> float:
        try:
            return self.cfg.bantime * self.cfg.increment ** max(offences, 0)
        except OverflowError:  # a very long ladder: the cap applies anyway
            return float("inf")

    def decide(self, verdict: Verdict, offences: int, already_banned: bool) -> Decision:
        """Decide on a detector's verdict. `offences` = earlier bans of this source."""
        target = _canonical(verdict.ip)
        if target is None:  # the engine never produces one; refuse rather than ban garbage
            return Decision(verdict, False, None, "not an address or network")
        if target in self.whitelist:
            return Decision(verdict, False, None, "whitelisted")
        if verdict.reason is Reason.COMPROMISE:
            return Decision(verdict, True, self.cfg.maxtime, "compromised account")
        if already_banned:
            return Decision(verdict, False, None, "already banned")
        d = self.duration(offences)
        why = "first ban" if offences <= 0 else f"repeat offender ({_ordinal(offences + 1)} ban)"
        if self._uncapped(offences) > self.cfg.maxtime:
            why += f", capped at {_span(self.cfg.maxtime)}"
        if not verdict.proven:  # UDP first packets only: the address could be forged (detect/state.py)
            d *= self.cfg.unproven_factor
            why += f", unproven UDP evidence (x{self.cfg.unproven_factor:g})"
        return Decision(verdict, True, d, why)

    def manual(self, ip: str, duration: float | None, reason: str, *, force: bool = False,
               at: float = 0.0) -> Decision:
        """An operator's ban of `ip` (address or network) for `duration` seconds (None = permanent).

        Raises ValueError, phrased for the operator, for an invalid address, a non-positive
        duration, an implausibly wide network, or a whitelisted target unless `force`. `at` is
        the time recorded on the verdict (the caller's clock: this module reads none)."""
        target = _canonical(ip)
        if target is None:
            raise ValueError(f"{ip!r} is not an IP address or network")
        if duration is not None and not (isinstance(duration, int | float) and 0 < duration < MAX_MANUAL):
            raise ValueError(f"ban duration must be a positive number of seconds under ten years (or permanent), "
                             f"got {duration!r}")
        if "/" in target:
            net = ipaddress.ip_network(target)
            if net.prefixlen < MIN_PREFIX[net.version] and not force:
                raise ValueError(f"{target} is wider than /{MIN_PREFIX[net.version]}; use force to ban it anyway")
        if target in self.whitelist and not force:
            raise ValueError(f"{target} is whitelisted (own address, trunk or configured whitelist); "
                             "use force to ban it anyway")
        verdict = Verdict(ip=target, reason=Reason.MANUAL, at=at, events=0, evidence=reason)
        how = "permanent manual ban" if duration is None else "manual ban"
        if force and target in self.whitelist:
            how += " (whitelist overridden)"
        return Decision(verdict, True, duration, how)


def _canonical(text: str) -> str | None:
    """Address or network in canonical form (a /32 or /128 is the address), or None."""
    text = text.strip()
    if "/" not in text:
        return normalize(text)
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    if net.prefixlen == net.max_prefixlen:
        return normalize(str(net.network_address))
    return str(net)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
