"""Asterisk `messages`-log lines that name an attacking source (chan_sip, PJSIP, IAX2, AMI, FreePBX).

Each function takes the message text (`prefix.body(line)`: what follows the line's time, level and
source file) and reads its format at the start of that text only, then returns an Event or None. Trust rules: the address is read only from the place Asterisk puts the
socket address; attacker text (To/From, Call-ID, peer names, dialled numbers) is kept as data.
Where attacker text sits after the address (PJSIP's Call-ID, dialled numbers), every reading is
checked and a line with two different plausible addresses becomes a TAMPER event.
"""

from __future__ import annotations

import re

from ..addr import normalize, port_number, split_hostport
from ..events import Event, Kind
from .fingerprints import scanner_in

_new = tuple.__new__  # an Event from a full tuple: the keyword constructor costs more than the parse (hot lines)

# chan_sip: Registration from '<To>' failed for 'ADDR' - REASON  (nothing attacker-made after ADDR)
_SIP_REG_TAIL = re.compile(r"' failed for '(?P<addr>[^']+)' - (?P<reason>[A-Za-z][A-Za-z /()-]*?)\s*$")
_SIP_REG_KINDS = {
    "Wrong password": Kind.AUTH_FAILED,
    "Username/auth name mismatch": Kind.AUTH_FAILED,
    "No matching peer found": Kind.UNKNOWN_ACCOUNT,
    "Device does not match ACL": Kind.ACL_FAILED,
    "Peer is not supposed to register": Kind.ACL_FAILED,
    "ACL error (permit/deny)": Kind.ACL_FAILED,
    "Not a local domain": Kind.ACL_FAILED,
}
_USER = re.compile(r"sips?:([^@;>'\" ]+)@")

# PJSIP distributor: Request ['M'] from 'FROM' failed for 'ADDR' (callid: CALLID) - REASON[ after N tries in T ms]
_PJ_HEAD = re.compile(r"Request (?:'(?P<method>[^ ]*?)' )?from '")  # any method token (extension methods too)
_PJ_CAND = re.compile(r"' failed for '(?P<addr>[^']+)' \(callid: ")
_PJ_REASON = re.compile(
    r"\) - (?P<reason>No matching endpoint found|Not match Endpoint ACL|Not match Endpoint Contact ACL|"
    r"Failed to authenticate|Error to authenticate)(?: after \d+ tries in [\d.]+ ms)?\s*$"
)
_PJ_KINDS = {
    "No matching endpoint found": Kind.UNKNOWN_ACCOUNT,
    "Not match Endpoint ACL": Kind.ACL_FAILED,
    "Not match Endpoint Contact ACL": Kind.ACL_FAILED,
    "Failed to authenticate": Kind.AUTH_FAILED,
    "Error to authenticate": Kind.AUTH_FAILED,
}
# The From part PJSIP prints is one name-addr: pjsip_name_addr_print writes `"display" <uri>` (the display
# name always in double quotes, whatever the request had) or `<uri>`. A reading whose From runs past it, or
# is shaped otherwise (an unquoted display name: forged text), is impossible.
_NAME_ADDR = re.compile(r'(?:"(?:[^"\\]|\\.)*" )?<[^<>]*>')

# Calls to missing extensions (chan_sip and res_pjsip_session, two layouts)
_CALL_CAND = re.compile(r"' \((?:(?P<tr>UDP|TCP|TLS|WSS?):)?(?P<addr>[^()\s]+)\) to extension '")
# res_pjsip_session (13.8+): "NAME: Call (T:ADDR) to extension '...": NAME is the endpoint or channel name
_CALL_NAMED = re.compile(r"[^\s'\"]+: Call \((?:(?P<tr>UDP|TCP|TLS|WSS?):)?(?P<addr>[^()\s]+)\) to extension '")
_CALL_TAIL = re.compile(r"(?P<ext>.*)' rejected because extension not found in context '(?P<ctx>[^'\n]*)'\.?\s*$",
                        re.S)  # the dialled number is URI-decoded: a reassembled one may hold newlines

_IAX_HOST = re.compile(r"Host (?P<addr>[^\s']+) failed (?P<what>to authenticate as|MD5 authentication for|RSA "
                       r"authentication with inkeys) (?P<acct>.*?)(?: \([^()]* != [^()]*\))?\s*$")
# chan_iax2 (authdebug): calls rejected (to a missing extension, or not allowed), peers denied registration
_IAX_REJECT = re.compile(r"Rejected (?:connect|dial) attempt from (?P<addr>[^\s,']+), (?:who was trying to reach "
                         r"'(?P<ext>.*)@[^@']*'|request '(?P<ext2>.*)@[^@']*' does not exist)\s*$")
_IAX_DENIED = re.compile(r"Host (?P<addr>[^\s']+) denied access to register peer '(?P<acct>.*)'\s*$")
_IAX_NOREG = re.compile(r"No registration for peer '(?P<acct>.*)' \(from (?P<addr>[^()\s]+)\)\s*$")
_AMI = re.compile(r"(?P<addr>[^\s']+) (?P<what>failed to authenticate as|tried to authenticate with nonexistent user|"
                  r"failed to pass IP ACL as) '(?P<acct>.*)'\s*$")
_HACK = re.compile(r"hacking attempt detected '(?P<addr>[^'\s]+)'\s*$")
_FREEPBX = re.compile(r"\"?Rejecting unknown SIP connection from (?P<addr>[^\s\"]+)\"?\s*$")
# 1.8+: "Registered SIP 'peer' at ADDR"; 1.4/1.6: "... at IP port N" (peer names come from the config)
_REGISTERED = re.compile(r"Registered SIP '(?P<acct>[^']*)' at (?P<addr>[^\s']+)(?: port (?P<port>\d{1,5}))?\s*$")
_DROPPING = re.compile(r"(?:sip_transport\.c )?Dropping \d+ bytes packet from (?P<tr>UDP|TCP|TLS|WSS?) (?P<addr>\S+) : ")


def _user(text: str) -> str | None:
    m = _USER.search(text)
    if m:
        return m.group(1)
    t = text.strip().strip('"')
    return t or None


def chan_sip_registration(msg: str) -> Event | None:
    """`Registration from '<To>' failed for 'ADDR' - REASON`: nothing of the attacker's follows ADDR."""
    if not msg.startswith("Registration from '"):
        return None
    i = msg.rfind("' failed for '")  # the last one: chan_sip writes nothing of the attacker's after it
    if i < 19:
        return None
    m = _SIP_REG_TAIL.match(msg, i)
    if m is None:
        return None
    kind = _SIP_REG_KINDS.get(m.group("reason"))
    if kind is None:  # not one of chan_sip's reasons: attacker text after the address, or a new format
        return Event(None, None, Kind.TAMPER, service="SIP", detail="unknown reason in Registration line")
    hp = split_hostport(m.group("addr"), False)
    if hp is None:
        return Event(None, None, Kind.TAMPER, service="SIP", detail="unreadable address in Registration line")
    return _new(Event, (None, hp[0], kind, hp[1], None, "SIP", _user(msg[19:i]), None, "REGISTER", None, None,
                        m.group("reason"), None, None, None))


def pjsip_distributor(msg: str) -> Event | None:
    """`Request ['METHOD'] from 'FROM' failed for 'ADDR' (callid: CALLID) - REASON`, any method."""
    h = _PJ_HEAD.match(msg)
    if h is None:
        return None
    readings = []
    cands = list(_PJ_CAND.finditer(msg, h.end()))
    if len(cands) == 1:  # one structure only: it is Asterisk's own, whatever the From looks like
        tail = _PJ_REASON.search(msg, cands[0].end())
        if tail is not None:
            readings.append((cands[0], tail))
        cands_left: list[re.Match] = []
    else:
        cands_left = cands
    for c in cands_left:
        tail = _PJ_REASON.search(msg, c.end())
        if tail is None:
            continue
        if _NAME_ADDR.fullmatch(msg, h.end(), c.start()):
            readings.append((c, tail))
    if not readings:
        return Event(None, None, Kind.TAMPER, service="PJSIP", detail="no consistent reading") if cands else None
    addrs = {r[0].group("addr") for r in readings}
    if len(addrs) > 1:
        return Event(None, None, Kind.TAMPER, service="PJSIP", detail=f"{len(addrs)} competing addresses")
    c, tail = readings[0]
    hp = split_hostport(c.group("addr"), True)
    if hp is None:
        return Event(None, None, Kind.TAMPER, service="PJSIP", detail="unreadable address")
    reason = tail.group("reason")
    frm = msg[h.end():c.start()]
    info = _FROM_SEEN.get(frm)
    if info is None:  # a scan repeats its From thousands of times
        if len(_FROM_SEEN) >= 4096:
            _FROM_SEEN.clear()
        info = _FROM_SEEN[frm] = (_user(frm), scanner_in(frm))
    return _new(Event, (None, hp[0], _PJ_KINDS[reason], hp[1], None, "PJSIP", info[0], None, h.group("method"), None,
                        info[1], reason, None, None, None))


_FROM_SEEN: dict[str, tuple[str | None, str | None]] = {}  # From -> (account, fingerprint)


def call_head(msg: str) -> bool:
    """Does `msg` start a call line whose dialled number goes on past the line (a decoded %0A)?"""
    return (msg.startswith("Call from '") or ": Call (" in msg) and ") to extension '" in msg and \
        call_rejected(msg) is None and (msg.startswith("Call from '") or _CALL_NAMED.match(msg) is not None)


def call_rejected(msg: str, head: int | None = None) -> Event | None:
    """`Call from 'X' (ADDR) to extension 'E' rejected ...` and `NAME: Call (T:ADDR) to extension ...`.

    `head`: a reassembled line (its dialled number held newlines): the address is on its first
    `head` characters, before the number, where chan_sip writes it."""
    readings = []
    if msg.startswith("Call from '"):
        for c in _CALL_CAND.finditer(msg, 10, head if head is not None else len(msg)):
            t = _CALL_TAIL.fullmatch(msg, c.end())
            if t is not None:
                readings.append((c, t))
    else:
        c = _CALL_NAMED.match(msg)
        t = _CALL_TAIL.fullmatch(msg, c.end()) if c is not None else None
        if t is not None:
            readings.append((c, t))
    if not readings:
        return None
    if len({r[0].group("addr") for r in readings}) > 1:
        return Event(None, None, Kind.TAMPER, service="SIP", detail="competing addresses in Call line")
    c, t = readings[0]
    hp = split_hostport(c.group("addr"), True)
    if hp is None:
        return Event(None, None, Kind.TAMPER, service="SIP", detail="unreadable address in Call line")
    tr = c.group("tr")
    named = not msg.startswith("Call from '")
    svc = "PJSIP" if tr or named else "SIP"
    caller = _caller(msg[:msg.index(": Call (")] if named else msg[11:c.start()])
    return _new(Event, (None, hp[0], Kind.CALL_REJECTED, hp[1], tr.lower() if tr else None, svc, caller, t.group("ext"),
                        "INVITE", None, None, f"extension not found in context '{t.group('ctx')}'", None, None, None))


def _caller(name: str) -> str | None:
    """The peer or endpoint the PBX identified the caller as, or None for a guest / anonymous call.

    chan_sip writes `S_OR(username, peername)`: both empty for a guest, a configured name for a
    matched peer; PJSIP writes the endpoint (or channel) name, "anonymous" when none matched.
    """
    if not name or name == "anonymous" or name.startswith("PJSIP/anonymous"):
        return None
    return name


def iax2(msg: str) -> Event | None:
    m = _IAX_HOST.match(msg)
    if m is not None:
        hp = split_hostport(m.group("addr"), False)
        acct = m.group("acct")
        if len(acct) >= 2 and acct[0] == acct[-1] == "'":
            acct = acct[1:-1]
        return Event(None, hp[0], Kind.AUTH_FAILED, port=hp[1], service="IAX2", account=acct,
                     detail="failed " + m.group("what").split(" ")[0]) if hp else None
    m = _IAX_NOREG.match(msg)
    if m is not None:
        hp = split_hostport(m.group("addr"), False)
        return Event(None, hp[0], Kind.UNKNOWN_ACCOUNT, port=hp[1], service="IAX2", account=m.group("acct"),
                     detail="No registration for peer") if hp else None
    m = _IAX_DENIED.match(msg)
    if m is not None:
        hp = split_hostport(m.group("addr"), False)
        return Event(None, hp[0], Kind.ACL_FAILED, port=hp[1], service="IAX2", account=m.group("acct"),
                     detail="denied access to register") if hp else None
    m = _IAX_REJECT.match(msg)
    if m is not None:
        hp = split_hostport(m.group("addr"), False)
        return Event(None, hp[0], Kind.CALL_REJECTED, port=hp[1], service="IAX2", target=m.group("ext") or
                     m.group("ext2"), method="NEW", detail="Rejected connect attempt") if hp else None
    return None


def manager(msg: str) -> Event | None:
    m = _AMI.match(msg)
    if m is None:
        return None
    hp = split_hostport(m.group("addr"), False)
    if hp is None:
        return None
    what = m.group("what")
    kind = Kind.ACL_FAILED if what.endswith("ACL as") else Kind.AUTH_FAILED if what.startswith("failed") else \
        Kind.UNKNOWN_ACCOUNT
    return Event(None, hp[0], kind, port=hp[1], service="AMI", account=m.group("acct"), detail=m.group("what"))


def hacking_attempt(msg: str) -> Event | None:
    m = _HACK.match(msg)
    hp = split_hostport(m.group("addr"), False) if m else None
    return Event(None, hp[0], Kind.BAD_REQUEST, port=hp[1], service="SIP", detail="hacking attempt detected") \
        if hp else None


def freepbx_rejecting(msg: str) -> Event | None:
    m = _FREEPBX.match(msg)
    hp = split_hostport(m.group("addr"), False) if m else None
    return Event(None, hp[0], Kind.CALL_REJECTED, port=hp[1], service="SIP",
                 detail="Rejecting unknown SIP connection") if hp else None


def registered(msg: str) -> Event | None:
    m = _REGISTERED.match(msg)
    if m is None:
        return None
    if m.group("port"):
        hp = split_hostport(m.group("addr"), False)
        if hp is not None:
            n = int(m.group("port"))
            hp = (hp[0], n if 0 < n < 65536 else None)
    else:
        hp = split_hostport(m.group("addr"), True)
    return _new(Event, (None, hp[0], Kind.AUTH_OK, hp[1], None, "SIP", m.group("acct"), None, "REGISTER", None, None,
                        "Registered", None, None, None)) if hp else None


def pjproject_dropping(msg: str) -> Event | None:
    m = _DROPPING.match(msg)
    hp = split_hostport(m.group("addr"), True) if m else None
    return Event(None, hp[0], Kind.BAD_REQUEST, port=hp[1], transport=m.group("tr").lower(), service="PJSIP",
                 detail="syntax error, packet dropped") if hp else None


# In-place readers for the three busiest `messages` formats (the log stream's chunk mode). Each returns what
# its careful parser above returns for the line, or False when the line is not of the plain shape
# (then the careful parser decides): they read only lines with one structure, so the trust decisions
# cannot differ.
_REJECTED = "' rejected because extension not found in context '"
_TO_SEEN: dict[str, str | None] = {}  # chan_sip To -> account


def _hostport(addr: str, port_expected: bool) -> tuple[str, int | None] | None:
    """`split_hostport(addr, port_expected)`, with the usual `v4:port` read without its branches."""
    h, sep, p = addr.partition(":")
    if sep and h[:1].isdigit() and p.isdecimal() and p.isascii():
        host = normalize(h)
        if host is None:
            return None
        return host, port_number(p)
    return split_hostport(addr, port_expected)


def chan_sip_registration_plain(msg: str) -> Event | None | bool:
    """`chan_sip_registration(msg)` for a line ending `failed for 'ADDR' - REASON` exactly, else False."""
    if not msg.startswith("Registration from '"):
        return False
    i = msg.rfind("' failed for '")
    if i < 19:
        return False
    a = i + 14
    q = msg.find("'", a)
    if q <= a or not msg.startswith("' - ", q):
        return False
    reason = msg[q + 4:]
    kind = _SIP_REG_KINDS.get(reason)
    if kind is None:
        return False
    hp = _hostport(msg[a:q], False)
    if hp is None:
        return False
    to = msg[19:i]
    acct = _TO_SEEN.get(to, False)
    if acct is False:
        if len(_TO_SEEN) >= 4096:
            _TO_SEEN.clear()
        acct = _TO_SEEN[to] = _user(to)
    return _new(Event, (None, hp[0], kind, hp[1], None, "SIP", acct, None, "REGISTER", None, None, reason, None, None,
                        None))


def pjsip_distributor_plain(msg: str) -> Event | None | bool:
    """`pjsip_distributor(msg)` for a line with one `failed for '` and one `Request ` head, else False."""
    if not msg.startswith("Request "):
        return False
    r = 0
    if msg.startswith("from '", r + 8):
        method = None
        h = r + 14
    elif msg.startswith("'", r + 8):
        mq = msg.find("' from '", r + 9)
        if mq <= r + 9:
            return False
        method = msg[r + 9:mq]
        if not (method.isascii() and method.isalpha() and method.isupper()):
            return False
        h = mq + 8
    else:
        return False
    c = msg.find("' failed for '", h)
    if c < 0 or msg.find("' failed for '", c + 1) >= 0:
        return False
    a = c + 14
    q = msg.find("'", a)
    if q <= a or not msg.startswith("' (callid: ", q):
        return False
    d = msg.rfind(") - ")
    if d < q + 11:
        return False
    reason = msg[d + 4:]
    kind = _PJ_KINDS.get(reason)
    if kind is None:  # REASON after N tries in T ms
        k = reason.find(" after ")
        kind = _PJ_KINDS.get(reason[:k]) if k > 0 else None
        if kind is None:
            return False
        n, sep, ms = reason[k + 7:].partition(" tries in ")
        if not (sep and n.isdecimal() and n.isascii() and ms.endswith(" ms") and ms[:-3].replace(".", "").isdecimal()
                and ms.isascii()):
            return False
        reason = reason[:k]
    hp = _hostport(msg[a:q], True)
    if hp is None:
        return False
    frm = msg[h:c]
    info = _FROM_SEEN.get(frm)
    if info is None:
        if len(_FROM_SEEN) >= 4096:
            _FROM_SEEN.clear()
        info = _FROM_SEEN[frm] = (_user(frm), scanner_in(frm))
    return _new(Event, (None, hp[0], kind, hp[1], None, "PJSIP", info[0], None, method, None, info[1], reason, None,
                        None, None))


def call_rejected_plain(msg: str) -> Event | None | bool:
    """`call_rejected(msg)` for a line with one `(ADDR) to extension '` and plain quoting, else False."""
    x = msg.find(") to extension '")
    if x < 0 or msg.find(") to extension '", x + 1) >= 0:
        return False
    o = msg.rfind("(", 0, x)
    if o < 0:
        return False
    named = not msg.startswith("Call from '")
    if named:
        j = msg.find(": Call (")
        if j <= 0 or j + 7 != o or any(c in msg[:j] for c in " '\"\t\n\r\x0b\x0c") or not msg[:j].isprintable():
            return False
    elif o < 12 or msg[o - 2:o] != "' ":
        return False
    inner = msg[o + 1:x]
    if not inner or ")" in inner or " " in inner or not inner.isascii() or not inner.isprintable():
        return False
    e = x + 16
    r = msg.find(_REJECTED, e)
    if r < 0 or msg.find("'", e, r) >= 0:
        return False
    ce = r + 51
    z = msg.find("'", ce)
    if z < 0 or msg[z:] not in ("'", "'."):
        return False
    tr = None
    addr = inner
    colon = inner.find(":")
    if colon > 0:
        head = inner[:colon]
        if head in ("UDP", "TCP", "TLS", "WS", "WSS"):
            tr = head
            addr = inner[colon + 1:]
            if not addr:
                return False
    hp = _hostport(addr, True)
    if hp is None:
        return False
    svc = "PJSIP" if tr or named else "SIP"
    caller = _caller(msg[:o - 7] if named else msg[11:o - 2])
    return _new(Event, (None, hp[0], Kind.CALL_REJECTED, hp[1], tr.lower() if tr else None, svc, caller, msg[e:r],
                        "INVITE", None, None, f"extension not found in context '{msg[ce:z]}'", None, None, None))


# careful parser -> its in-place fast reader (the log stream's chunk mode calls it first; False: read carefully).
# Only these three: they are most of a busy PBX's event lines, and bench/README.md shows what they save.
# tests/parsers/test_asterisk.py holds each identical to its careful parser.
PLAIN = {chan_sip_registration: chan_sip_registration_plain, pjsip_distributor: pjsip_distributor_plain,
         call_rejected: call_rejected_plain}

# The message starts (first four characters of the message text) each parser reads: the log stream
# dispatches by them (`stream.pick`). PJSIP's "ENDPOINT: Call (" and AMI's "ADDR failed to authenticate"
# start with a name or an address: the stream tries them wherever their phrase stands.
_CALL = (call_rejected,)
STARTS: dict[str, tuple] = {
    "Regi": (chan_sip_registration, registered), "Requ": (pjsip_distributor,), "Call": _CALL,
    "Host": (iax2,), "No r": (iax2,), "Reje": (freepbx_rejecting, iax2), '"Rej': (freepbx_rejecting,),
    "hack": (hacking_attempt,), "Drop": (pjproject_dropping,), "sip_": (pjproject_dropping,),
}

# Words one of which every line these parsers read into an event holds: the log stream's chunk mode
# reads only lines holding a trigger of some format (tests/parsers/test_asterisk.py checks it).
TRIGGERS = ("ailed", "extension not found", "Reject", "Registered SIP '", "tried to authenticate with nonexistent",
            "No registration for peer", "denied access to register", "hacking attempt", "bytes packet from")
