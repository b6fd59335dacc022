"""What the operator declared beats thresholds: a canary account touched, or a login attempted
from outside the networks phones register from. Both are off by default (empty lists); the
registry ranks them first, so their finding wins over any threshold's."""

from __future__ import annotations

from ..events import Event, Reason
from .detector import Finding
from .state import Context, Source


class Canary:
    """The first touch of an account (or dialled number) in `canary_accounts`, which no phone uses."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def observe(self, src: Source, ev: Event, t: float) -> Finding | None:
        canaries = self.ctx.canaries
        for acct in (ev.account, ev.target):
            if acct is not None and acct in canaries:
                return Finding(Reason.CANARY, f"touched canary account {acct}")
        return None


class Outsider:
    """A registration or authentication (not a call) from outside `registrations_from`."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def observe(self, src: Source, ev: Event, t: float) -> Finding | None:
        registrations = self.ctx.registrations
        if registrations is not None and ev.method != "INVITE" and src.ip not in registrations:
            return Finding(Reason.OUTSIDER, f"{ev.kind} from outside registrations_from")
        return None
