"""SIP messages from bytes: a small, bounded, I/O-free parser (h11-style: bytes in, frozen values out).

Everything in a SIP message is attacker text. This parser only *reads* it: the address to act on
comes from the transport (IP header, HEP chunk), never from Via/From/Contact. So the parser is
lenient where a PBX is lenient (LF-only lines, folded headers, compact names, odd spacing) and
strict where leniency would cost memory or hide structure: size and header-count caps, NUL bytes,
lines without a colon. Any failure is a `SipParseError`; no other exception escapes.

Speed matters (the wire goal is >= 100k messages/s parse+detect on one core), so the common path
is a single decode and a split, with the frequent header spellings resolved by one dict lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_MESSAGE = 65536  # bytes: a UDP datagram cannot be larger, and no honest TCP message is
MAX_HEADERS = 256  # header lines (after unfolding); 10,000 headers is an attack, not a phone
MAX_STREAM_BUFFER = MAX_MESSAGE  # bytes a TCP framer may hold while waiting for a message's end


class SipParseError(ValueError):
    """The bytes are not a SIP message this parser accepts. `reason` says why, for counters."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# RFC 3261 7.3.3 compact forms (and a few from later RFCs).
COMPACT = {
    "i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length", "c": "content-type",
    "f": "from", "s": "subject", "k": "supported", "t": "to", "v": "via", "o": "event", "r": "refer-to",
    "b": "referred-by", "x": "session-expires", "u": "allow-events", "a": "accept-contact",
    "j": "reject-contact", "d": "request-disposition", "y": "identity", "n": "identity-info",
}
_COMMON = ("Via", "From", "To", "Call-ID", "Call-Id", "CSeq", "Contact", "Max-Forwards", "User-Agent", "Server",
           "Content-Length", "Content-Type", "Expires", "Allow", "Supported", "Accept", "Authorization",
           "Proxy-Authorization", "WWW-Authenticate", "Proxy-Authenticate", "Date", "Record-Route", "Route",
           "Event", "Subject", "Organization", "Allow-Events", "Require", "Session-Expires", "Min-SE")
# Spelling as sent -> canonical lower-case name, pre-filled with the usual spellings (one lookup).
_CANON: dict[str, str] = {}
for _n in _COMMON:
    for _s in (_n, _n.lower(), _n.upper()):
        _CANON[_s] = _n.lower()
for _k, _v in COMPACT.items():
    _CANON[_k] = _CANON[_k.upper()] = _v
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_REQUEST_LINE = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]+) (\S+) SIP/2\.0")
_STATUS_LINE = re.compile(r"SIP/2\.0 ([1-6]\d\d)(?: (.*))?")
_DIGEST_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))')
_LOOKS_SIP = re.compile(rb"(?:[A-Z]{3,16} [^\s]{1,2048} SIP/2\.0\r?\n|SIP/2\.0 [1-6]\d\d[ \r\n])")
# `"display" <uri>params`, `display <uri>params` or a bare `uri;params` (RFC 3261 20.10, 25.1).
_NAME_ADDR = re.compile(
    r'[ \t]*(?:"([^"\\]*(?:\\.[^"\\]*)*)"[ \t]*<([^>]*)>|([^<"]*?)[ \t]*<([^>]*)>|([^;<>"]*))(.*)', re.S)
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:(?:([^@:>]*)(?::[^@>]*)?@)?(\[[^\]]*\]|[^:;?>]*)")
_TAG = re.compile(r";[ \t]*[Tt][Aa][Gg][ \t]*=[ \t]*([^;, \t]*)")
_STREAM_CL = re.compile(rb"(?:^|\n)[ \t]*(?:[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Ll][Ee][Nn][Gg][Tt][Hh]|[lL])[ \t]*:[ \t]*([^\r\n]*)")


@dataclass(frozen=True, slots=True)
class NameAddr:
    """A From/To/Contact value split up: `"display" <scheme:user@host:port;params>;tag=...`."""

    display: str | None
    uri: str
    user: str | None  # as sent (still %-escaped): attacker text, data only
    host: str | None
    tag: str | None


@dataclass(frozen=True, slots=True)
class Via:
    """The first Via value: what the client *claims* (NAT rewrites it; never a ban address)."""

    transport: str | None  # UDP, TCP, TLS, WS, ...
    host: str | None  # sent-by host
    port: int | None
    received: str | None
    rport: str | None  # None: absent; "": requested (flag); "40112": filled in by a server
    branch: str | None


_NO_VIA = Via(None, None, None, None, None, None)
_NO_ADDR = NameAddr(None, "", None, None, None)


@dataclass(frozen=True, slots=True)
class SipMessage:
    """One parsed SIP request or response. Every text field is attacker-controlled data.

    The message is validated as a whole when parsed (start line, every header line, sizes);
    the header-derived values below are properties worked out on first use and remembered,
    because a busy wire source reads only a few of them per message and parsing all of them
    eagerly would cost more than the rest of the pipeline. They never raise: a malformed
    From gives None fields, like a lenient PBX would.

    `headers` keeps every header in order as (canonical lower-case name, value), compact names
    expanded and folded lines joined.
    """

    is_request: bool
    method: str | None  # request method (None for a response: see cseq_method)
    uri: str | None
    status: int | None
    reason: str | None
    headers: tuple[tuple[str, str], ...]
    content_length: int | None
    body: bytes
    _first: dict[str, str] = field(repr=False, compare=False, hash=False)  # first value per header
    _memo: dict[str, object] = field(repr=False, compare=False, hash=False)

    def header(self, name: str) -> str | None:
        """First value of header `name` (any case, compact form allowed), or None."""
        return self._first.get(_canon(name))

    def header_all(self, name: str) -> list[str]:
        key = _canon(name)
        return [v for k, v in self.headers if k == key]

    @property
    def uri_user(self) -> str | None:
        return _uri_user(self.uri) if self.uri is not None else None

    @property
    def via(self) -> Via:
        v = self._memo.get("via")
        if v is None:
            raw = self._first.get("via")
            v = self._memo["via"] = _via(raw) if raw is not None else _NO_VIA
        return v  # type: ignore[return-value]

    @property
    def from_addr(self) -> NameAddr:
        return self._addr("from")

    @property
    def to_addr(self) -> NameAddr:
        return self._addr("to")

    def _addr(self, key: str) -> NameAddr:
        a = self._memo.get(key)
        if a is None:
            raw = self._first.get(key)
            a = self._memo[key] = _name_addr(raw) if raw is not None else _NO_ADDR
        return a  # type: ignore[return-value]

    @property
    def via_transport(self) -> str | None:
        return self.via.transport

    @property
    def via_host(self) -> str | None:
        return self.via.host

    @property
    def via_port(self) -> int | None:
        return self.via.port

    @property
    def via_received(self) -> str | None:
        return self.via.received

    @property
    def via_rport(self) -> str | None:
        return self.via.rport

    @property
    def via_branch(self) -> str | None:
        return self.via.branch

    @property
    def from_display(self) -> str | None:
        return self._addr("from").display

    @property
    def from_user(self) -> str | None:
        return self._addr("from").user

    @property
    def from_host(self) -> str | None:
        return self._addr("from").host

    @property
    def from_tag(self) -> str | None:
        return self._addr("from").tag

    @property
    def to_display(self) -> str | None:
        return self._addr("to").display

    @property
    def to_user(self) -> str | None:
        return self._addr("to").user

    @property
    def to_host(self) -> str | None:
        return self._addr("to").host

    @property
    def to_tag(self) -> str | None:
        return self._addr("to").tag

    @property
    def call_id(self) -> str | None:
        return self._first.get("call-id")

    @property
    def contact(self) -> str | None:
        """First Contact value, raw."""
        return self._first.get("contact")

    @property
    def cseq(self) -> int | None:
        return self._cseq()[0]

    @property
    def cseq_method(self) -> str | None:
        return self._cseq()[1]

    def _cseq(self) -> tuple[int | None, str | None]:
        c = self._memo.get("cseq")
        if c is None:
            raw = self._first.get("cseq")
            num = meth = None
            if raw is not None:
                n, _, m = raw.partition(" ")
                num = int(n) if n.isdigit() and len(n) <= 10 else None
                meth = m.strip().upper() or None
            c = self._memo["cseq"] = (num, meth)
        return c  # type: ignore[return-value]

    @property
    def user_agent(self) -> str | None:
        """User-Agent; for a response without one, Server."""
        ua = self._first.get("user-agent")
        if ua is None and not self.is_request:
            ua = self._first.get("server")
        return ua

    @property
    def auth_user(self) -> str | None:
        """username of Authorization (or Proxy-Authorization): the account being authenticated."""
        return self._digest()[0]

    @property
    def auth_realm(self) -> str | None:
        return self._digest()[1]

    @property
    def has_digest_response(self) -> bool:
        """Does the request answer a challenge (carry a non-empty response=)?"""
        return self._digest()[2]

    def _digest(self) -> tuple[str | None, str | None, bool]:
        d = self._memo.get("auth")
        if d is None:
            raw = self._first.get("authorization") or self._first.get("proxy-authorization")
            d = self._memo["auth"] = _digest(raw) if raw is not None else (None, None, False)
        return d  # type: ignore[return-value]


def _canon(name: str) -> str:
    c = _CANON.get(name)
    if c is not None:
        return c
    low = name.strip().lower()
    return COMPACT.get(low, low)


def looks_like_sip(data: bytes) -> bool:
    """Is this payload SIP, judged by content (a request or status line), on whatever port?"""
    return len(data) <= MAX_MESSAGE and _LOOKS_SIP.match(data) is not None


def parse_datagram(data: bytes) -> SipMessage:
    """Parse one whole SIP message (a UDP datagram or a framed TCP message).

    The body is what follows the blank line, cut to Content-Length when that is shorter; a
    message without a blank line is read as headers only (UDP senders that omit the last CRLF).
    """
    try:
        return _parse(data)
    except SipParseError:
        raise
    except Exception as e:  # defence in depth: hostile input must never escape as another type
        raise SipParseError(f"unparseable: {type(e).__name__}") from None


_FOLDED = object()  # marker: this line continues the previous header


def _header_name(name: str, sep: str) -> str | object:
    """Canonical name of a header spelled unusually; raises on lines that are no header."""
    if not sep:
        if name[:1] in (" ", "\t"):
            return _FOLDED
        raise SipParseError("header line without a colon")
    if name[:1] in (" ", "\t"):
        return _FOLDED
    stripped = name.rstrip(" \t")
    if _TOKEN.fullmatch(stripped) is None:
        raise SipParseError("bad header name")
    low = stripped.lower()
    return COMPACT.get(low, low)


def _parse(data: bytes) -> SipMessage:
    n = len(data)
    if n > MAX_MESSAGE:
        raise SipParseError("message too large")
    if n == 0:
        raise SipParseError("empty")
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        head_b, body = data[:end], data[end + 4:]
    else:
        end = data.find(b"\n\n")
        if end >= 0:
            head_b, body = data[:end], data[end + 2:]
        else:
            head_b, body = data.rstrip(b"\r\n"), b""
    if b"\x00" in head_b:
        raise SipParseError("NUL byte in headers")
    head = head_b.decode("utf-8", "replace")
    lines = head.split("\r\n")
    if len(lines) - 1 != head.count("\n"):  # LF-only or mixed line ends
        lines = head.replace("\r\n", "\n").split("\n")
    if len(lines) > MAX_HEADERS + 1:
        raise SipParseError("too many headers")
    first = lines[0]
    is_request = not first.startswith("SIP/2.0 ")
    method = uri = reason = None
    status = None
    if is_request:
        m = _REQUEST_LINE.fullmatch(first)
        if m is None:
            raise SipParseError("bad request line")
        method, uri = m.group(1).upper(), m.group(2)
    else:
        m = _STATUS_LINE.fullmatch(first)
        if m is None:
            raise SipParseError("bad status line")
        status, reason = int(m.group(1)), m.group(2) or ""

    headers: list[tuple[str, str]] = []
    append = headers.append
    canon = _CANON
    del lines[0]
    for line in lines:
        name, sep, value = line.partition(":")
        key = canon.get(name)
        if key is None:
            if not line:
                continue
            key = _header_name(name, sep)
            if key is _FOLDED:  # RFC 3261 7.3.1 line folding: joined with one space
                if not headers:
                    raise SipParseError("continuation before any header")
                k, v = headers[-1]
                headers[-1] = (k, f"{v} {line.strip()}")
                continue
        append((key, value.strip()))  # type: ignore[arg-type]
    first_of = dict(reversed(headers))
    content_length = None
    cl = first_of.get("content-length")
    if cl is not None:
        if not cl.isdigit() or len(cl) > 9:
            raise SipParseError("bad Content-Length")
        content_length = int(cl)
        if content_length < len(body):
            body = body[:content_length]
    return SipMessage(is_request, method, uri, status, reason, tuple(headers), content_length, body, first_of, {})


def _uri_user(uri: str) -> str | None:
    """User part of `sip:user[:password]@host...` (None if the URI has no user)."""
    m = _URI.match(uri)
    if m is None:
        return None
    if m.group(1) is None and uri[:4].lower() == "tel:":  # tel:+4930... : the number is the user
        return m.group(2) or None
    return m.group(1)


def _hostport(rest: str) -> tuple[str | None, int | None]:
    """`host[:port]` or `[v6]:port` (no params) -> (host, port)."""
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            return None, None
        host, tail = rest[1:close], rest[close + 1:]
        port = tail[1:] if tail.startswith(":") else ""
    else:
        host, _, port = rest.partition(":")
    p = int(port) if port.isdigit() and len(port) <= 5 else None
    return (host or None), p


def _name_addr(value: str) -> NameAddr:
    """Split a From/To/Contact value. Quoted display names may hold `<`, `;` and `\\"` escapes."""
    m = _NAME_ADDR.match(value)
    if m is None:  # cannot happen (the last branch matches anything); kept for safety
        return _NO_ADDR
    quoted, uri1, bare, uri2, spec, params = m.groups()
    if uri1 is not None:
        display, uri = quoted, uri1
    elif uri2 is not None:
        display, uri = (bare or None), uri2
    else:
        display, uri = None, spec.strip()
    t = _TAG.search(params) if params else None
    u = _URI.match(uri)
    user, host = (u.group(1), u.group(2).strip("[]") or None) if u is not None else (None, None)
    if user is None and host is not None and uri[:4].lower() == "tel:":
        user = host
    return NameAddr(display, uri, user, host, t.group(1) if t is not None else None)


def _via(value: str) -> Via:
    """Parse the first Via value (a header may carry several, comma-separated)."""
    comma = value.find(",")
    if comma >= 0:
        value = value[:comma]
    proto, _, rest = value.strip().partition(" ")
    parts = proto.split("/")
    transport = parts[2].strip().upper() if len(parts) == 3 else None
    sent_by, *params = rest.strip().split(";")
    host, port = _hostport(sent_by.strip())
    received = rport = branch = None
    for p in params:
        k, eq, val = p.partition("=")
        k = k.strip().lower()
        if k == "received":
            received = val.strip()
        elif k == "rport":
            rport = val.strip() if eq else ""
        elif k == "branch":
            branch = val.strip()
    return Via(transport, host, port, received, rport, branch)


def _digest(value: str) -> tuple[str | None, str | None, bool]:
    """(username, realm, has response=) of a Digest credentials value."""
    scheme, _, params = value.strip().partition(" ")
    user = realm = None
    has_resp = False
    for m in _DIGEST_PARAM.finditer(params):
        k = m.group(1).lower()
        v = m.group(2) if m.group(2) is not None else m.group(3)
        if k == "username" and user is None:
            user = v
        elif k == "realm" and realm is None:
            realm = v
        elif k == "response":
            has_resp = bool(v)
    return user, realm, has_resp


class StreamFramer:
    """Cut a TCP byte stream into SIP messages by Content-Length (RFC 3261 18.3). Pure and bounded.

    At most `cap` bytes are held. A message that would exceed it, or a header block that never
    ends within it, is reported as an error and the buffer is dropped: memory stays bounded
    whatever the peer sends, and the framer resynchronises on what follows.
    """

    __slots__ = ("cap", "_buf", "_scan")

    def __init__(self, cap: int = MAX_STREAM_BUFFER) -> None:
        self.cap = cap
        self._buf = bytearray()
        self._scan = 0  # where to resume looking for the blank line

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[SipMessage | SipParseError]:
        """Parsed messages (or their parse errors) completed by `data`, in stream order."""
        out: list[SipMessage | SipParseError] = []
        for item in self.feed_raw(data):
            if isinstance(item, SipParseError):
                out.append(item)
            else:
                try:
                    out.append(parse_datagram(item))
                except SipParseError as e:
                    out.append(e)
        return out

    def feed_raw(self, data: bytes) -> list[bytes | SipParseError]:
        """Like `feed`, but the framed messages are returned as bytes (for capture readers)."""
        out: list[bytes | SipParseError] = []
        buf = self._buf
        buf += data
        while buf:
            # Keep-alives (RFC 5626 CRLF pings) and stray line ends between messages.
            i = 0
            while i < len(buf) and buf[i] in (13, 10):
                i += 1
            if i:
                del buf[:i]
                self._scan = 0
                if not buf:
                    break
            end = buf.find(b"\r\n\r\n", self._scan)
            if end < 0:
                if len(buf) > self.cap:
                    out.append(self._overflow("header block exceeds stream cap"))
                else:
                    self._scan = max(0, len(buf) - 3)
                break
            head = bytes(buf[:end + 2])
            m = _STREAM_CL.search(head)
            length = 0
            if m is not None:
                text = m.group(1).strip()
                if not text.isdigit() or len(text) > 9:
                    out.append(self._overflow("bad Content-Length in stream"))
                    break
                length = int(text)
            total = end + 4 + length
            if total > self.cap:
                out.append(self._overflow("message exceeds stream cap"))
                break
            if len(buf) < total:
                self._scan = end  # the blank line is found again next time, cheaply
                break
            out.append(bytes(buf[:total]))
            del buf[:total]
            self._scan = 0
        return out

    def _overflow(self, reason: str) -> SipParseError:
        self._buf.clear()
        self._scan = 0
        return SipParseError(reason)


# --- the wire fast path ------------------------------------------------------------------------
# A wire source reads six headers of a message and throws the rest away, so building the whole
# SipMessage (every header stored, a dict, a frozen dataclass) is most of its cost. `wire_fields`
# reads only those six, and declines (None) any message it cannot read *exactly* as
# `parse_datagram` would: non-ASCII or NUL bytes, bare LFs, no blank line, too many lines, a bad
# Content-Length, anything odd in a header line. Header lines are validated as the full parser
# does, so a message it rejects is never answered here. (Regexes over the whole header block
# were tried first: sre's per-character cost made them slower than the full parser.)
# tests/test_wire_fast.py holds the two paths to identical events on every corpus message.

# Spelling as sent -> slot in the answer (-1: a valid header the wire mapping does not read).
_SLOT_OF = {"from": 0, "to": 1, "cseq": 2, "user-agent": 3, "authorization": 4, "proxy-authorization": 5,
            "content-length": 6}
_FAST_SLOT: dict[str, int] = {k: _SLOT_OF.get(v, -1) for k, v in _CANON.items()}

WireFields = tuple[str | None, str | None, int | None, str | None,
                   str | None, str | None, str | None, str | None, str | None]
"""(method, uri, status, reason, From, To, CSeq, User-Agent, Authorization or Proxy-Authorization):
the start line and the first value of each header, stripped, as `SipMessage` holds them."""


def _fast_lines(lines: list[str]) -> list[str | None] | None:
    """The wanted header values (first of each), every line checked as `_parse` checks it;
    None where the full parser must decide. (A C-level map/split/dict variant measured slower.)"""
    vals: list[str | None] = [None] * 7
    slot_of = _FAST_SLOT
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        i = slot_of.get(name)
        if i is None:
            if not sep or name[:1] in (" ", "\t"):
                return None
            stripped = name.rstrip(" \t")
            if _TOKEN.fullmatch(stripped) is None:
                return None
            low = stripped.lower()
            i = _SLOT_OF.get(COMPACT.get(low, low), -1)
        elif not sep:
            return None
        if i >= 0 and vals[i] is None:
            vals[i] = value.strip()
    return vals


def wire_fields(data: bytes) -> WireFields | None:
    """The fields the wire mapping reads, or None: "ask `parse_datagram`" (never an error)."""
    if len(data) > MAX_MESSAGE:
        return None
    end = data.find(b"\r\n\r\n")
    if end <= 0:
        return None
    head_b = data[:end]
    if not head_b.isascii() or b"\x00" in head_b:
        return None
    head = head_b.decode("ascii")
    lines = head.split("\r\n")
    if len(lines) > MAX_HEADERS + 1 or len(lines) - 1 != head.count("\n"):
        return None
    first = lines[0]
    if first.startswith("SIP/2.0 "):
        m = _STATUS_LINE.fullmatch(first)
        if m is None:
            return None
        method = uri = None
        status, reason = int(m.group(1)), m.group(2) or ""
    else:
        m = _REQUEST_LINE.fullmatch(first)
        if m is None:
            return None
        method, uri = m.group(1).upper(), m.group(2)
        status = reason = None
    vals = _fast_lines(lines)
    if vals is None:
        return None
    cl = vals[6]
    if cl is not None and (not cl.isdigit() or len(cl) > 9):
        return None  # the full parser rejects it; let it say so
    return (method, uri, status, reason, vals[0], vals[1], vals[2], vals[3], vals[4] or vals[5])


def message_fields(msg: SipMessage) -> WireFields:
    """`wire_fields` of a message the full parser read (the two must agree)."""
    first = msg._first
    return (msg.method, msg.uri, msg.status, msg.reason, first.get("from"), first.get("to"), first.get("cseq"),
            first.get("user-agent"), first.get("authorization") or first.get("proxy-authorization"))


def addr_user(value: str) -> str | None:
    """`_name_addr(value).user`, with the common `<uri>` and `"display" <uri>` forms read without
    the big regex (anything else, e.g. escapes in the display name, takes `_name_addr`)."""
    lt = 0
    if value[:1] == '"':
        q = value.find('"', 1)
        if q > 0 and "\\" not in value[1:q]:
            lt = q + 1
            n = len(value)
            while lt < n and value[lt] in " \t":
                lt += 1
    if value[lt:lt + 1] == "<":
        gt = value.find(">", lt)
        if gt > 0:
            uri = value[lt + 1:gt]
            user = _USERS.get(uri, _UNSEEN)
            if user is _UNSEEN:
                user = _bracketed_user(uri)
                if len(_USERS) >= MAX_USERS_MEMO:
                    _USERS.clear()
                _USERS[uri] = user
            return user  # type: ignore[return-value]
    return _name_addr(value).user


# The URI of a From/To repeats across a dialog and a flood (only the tags change), and its regex
# match is a third of `addr_user`: a bounded memo of uri -> user. A deterministic function of its
# key, so hits and misses give the same answer; a spoofed flood of distinct URIs only clears it.
MAX_USERS_MEMO = 4096
_USERS: dict[str, str | None] = {}
_UNSEEN = object()


def _bracketed_user(uri: str) -> str | None:
    u = _URI.match(uri)
    if u is None:
        return None
    user = u.group(1)
    if user is None and uri[:4].lower() == "tel:":
        return u.group(2).strip("[]") or None
    return user


def cseq_method(value: str) -> str | None:
    """The method of a CSeq value, as `SipMessage.cseq_method` reads it."""
    return value.partition(" ")[2].strip().upper() or None


def digest_of(value: str) -> tuple[str | None, str | None, bool]:
    """(username, realm, has response=) of a credentials value (see `SipMessage.auth_user`)."""
    return _digest(value)
