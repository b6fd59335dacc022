"""FreeSWITCH sofia lines (1.6-1.10) that name a failing source.

Each format is read at the start of the message text (`prefix.body`), never inside attacker text.
Where the attacker's `[user@domain]` comes first, the address is the last thing FreeSWITCH writes on
the line, so it is read anchored at the end.
"""

from __future__ import annotations

import re

from ..addr import split_hostport
from ..events import Event, Kind

_AUTH = re.compile(r"SIP auth (?P<what>failure|challenge) \((?P<method>[A-Z]+)\) on sofia profile '[^']*' "
                   r"for \[(?P<user>.*)\] from ip (?P<addr>[^\s\[\]]+)\s*$")
_NOUSER = re.compile(r"Can't find user \[(?P<user>.*)\] from (?P<addr>[^\s\[\]]+)\s*$")
_REGACL = re.compile(r"IP (?P<addr>[^\s\[\]\"]+) Rejected by (?P<what>register acl|acl|user acl) ")
_INCOMPLETE = re.compile(r"Can not do authorization without a complete header in REGISTER request from "
                         r"(?P<addr>[^\s\[\]]+)\s*$")


def _account(user: str) -> str | None:
    return user.rpartition("@")[0] or user or None


def sofia(msg: str) -> Event | None:
    if msg.startswith("SIP auth "):
        m = _AUTH.match(msg)
        if m is None:
            return None
        hp = split_hostport(m.group("addr"), False)
        if hp is None:
            return None
        kind = Kind.AUTH_FAILED if m.group("what") == "failure" else Kind.CHALLENGE_SENT
        return Event(None, hp[0], kind, port=hp[1], service="FreeSWITCH", method=m.group("method"),
                     account=_account(m.group("user")), detail="SIP auth " + m.group("what"))
    if msg.startswith("Can't find user ["):
        m = _NOUSER.match(msg)
        hp = split_hostport(m.group("addr"), False) if m else None
        return Event(None, hp[0], Kind.UNKNOWN_ACCOUNT, port=hp[1], service="FreeSWITCH",
                     account=_account(m.group("user")), detail="Can't find user") if hp else None
    if msg.startswith("IP "):
        m = _REGACL.match(msg)
        if m is None or "Falling back to Digest auth" in msg or "checking proxy ACLs now" in msg:
            return None  # an ACL miss FreeSWITCH answers with a challenge: not a failure yet
        hp = split_hostport(m.group("addr"), False)
        return Event(None, hp[0], Kind.ACL_FAILED, port=hp[1], service="FreeSWITCH",
                     detail="Rejected by " + m.group("what")) if hp else None
    if msg.startswith("Can not do authorization"):
        # a REGISTER without a complete To/From: no phone sends it, scanners do (answered with a challenge)
        m = _INCOMPLETE.match(msg)
        hp = split_hostport(m.group("addr"), True) if m else None
        return Event(None, hp[0], Kind.BAD_REQUEST, port=hp[1], service="FreeSWITCH", method="REGISTER",
                     detail="REGISTER without a complete header") if hp else None
    return None


# No fast reader (careful parser -> in-place reader, as asterisk.PLAIN): a fast reader is added only
# where bench/fast_readers.py shows it pays, and no benchmark log holds FreeSWITCH lines yet.
PLAIN: dict = {}

# The message starts `sofia` reads (the log stream dispatches by the first four characters, or these
# three for "IP ADDR Rejected by ...").
STARTS: dict[str, tuple] = {"SIP ": (sofia,), "Can'": (sofia,), "Can ": (sofia,), "IP ": (sofia,)}

# Words one of which every line `sofia` reads into an event holds (longer, so faster to search for
# than "sofia", which every FreeSWITCH line has); tests/parsers/test_freeswitch.py checks it.
TRIGGERS = ("sofia profile '", "Can't find user [", "Reject", "Can not do authorization")
