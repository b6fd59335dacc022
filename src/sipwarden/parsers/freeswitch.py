"""FreeSWITCH sofia_reg lines. The address is always the last thing FreeSWITCH writes on the line,
after the attacker's `[user@domain]`, so it is read anchored at the end."""

from __future__ import annotations

import re

from ..addr import split_hostport
from ..events import Event, Kind

_AUTH = re.compile(r"SIP auth (?P<what>failure|challenge) \((?P<method>[A-Z]+)\) on sofia profile '[^']*' "
                   r"for \[(?P<user>.*)\] from ip (?P<addr>\S+)\s*$")
_NOUSER = re.compile(r"Can't find user \[(?P<user>.*)\] from (?P<addr>\S+)\s*$")
_REGACL = re.compile(r"IP (?P<addr>\S+) Rejected by register acl")


def _account(user: str) -> str | None:
    return user.rpartition("@")[0] or user or None


def sofia(msg: str) -> Event | None:
    m = _AUTH.search(msg)
    if m is not None:
        hp = split_hostport(m.group("addr"), False)
        if hp is None:
            return None
        kind = Kind.AUTH_FAILED if m.group("what") == "failure" else Kind.CHALLENGE_SENT
        return Event(None, hp[0], kind, port=hp[1], service="FreeSWITCH", method=m.group("method"),
                     account=_account(m.group("user")), detail="SIP auth " + m.group("what"))
    m = _NOUSER.search(msg)
    if m is not None:
        hp = split_hostport(m.group("addr"), False)
        return Event(None, hp[0], Kind.UNKNOWN_ACCOUNT, port=hp[1], service="FreeSWITCH",
                     account=_account(m.group("user")), detail="Can't find user") if hp else None
    m = _REGACL.search(msg)
    if m is not None:
        hp = split_hostport(m.group("addr"), False)
        return Event(None, hp[0], Kind.ACL_FAILED, port=hp[1], service="FreeSWITCH",
                     detail="Rejected by register acl") if hp else None
    return None
