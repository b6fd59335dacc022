"""Asterisk Manager Interface (AMI) stream framing and security events. Pure, bounded.

AMI is CRLF lines of `Key: value`, a blank line ending each message. Security events carry the
socket-derived `RemoteAddress`, but attacker text reaches AMI too: chan_sip and PJSIP %-decode
a SIP user part into `AccountID`, so `%0D%0A` becomes a real line break and can forge a whole
header line (`RemoteAddress: IPV4/UDP/<victim>/5061`) *before* the real one. So:

- lines are split on CRLF only (a bare LF, from `%0A`, stays inside its value);
- a repeated field marks the event as tampered; the real `RemoteAddress` is the last one
  (Asterisk writes it after the attacker-controlled AccountID and SessionID);
- a block without an `Event`/`Response` header cannot start a message: it is the tail of an
  event that an injected blank line (`%0D%0A%0D%0A`) split, and is joined back onto the message
  before it. That is why a message is released only when the next one starts (or on `flush()`,
  which a live client calls when the stream goes idle, e.g. after a Ping's response).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..addr import parse_asterisk_addr
from ..events import Event, Kind
from ..timefmt import event_tv
from .security import classify

MAX_LINE = 8192  # bytes in one line
MAX_FIELDS = 256  # lines in one message
MAX_BUFFER = 65536  # bytes held while waiting for a line end
BANNER = b"Asterisk Call Manager/"


@dataclass(frozen=True, slots=True)
class AmiMessage:
    """One AMI message: its lines as (key, value) in order. Values are attacker text for many events."""

    fields: tuple[tuple[str, str], ...]
    reassembled: bool = False  # a headless tail was joined back on (an injected blank line)

    def get(self, key: str) -> str | None:
        """First value of `key` (case-insensitive)."""
        k = key.lower()
        for name, v in self.fields:
            if name.lower() == k:
                return v
        return None

    def last(self, key: str) -> str | None:
        """Last value of `key`: for fields Asterisk writes after the attacker-controlled ones."""
        k = key.lower()
        for name, v in reversed(self.fields):
            if name.lower() == k:
                return v
        return None

    def get_all(self, key: str) -> list[str]:
        k = key.lower()
        return [v for name, v in self.fields if name.lower() == k]

    @property
    def name(self) -> str | None:
        """The event name, or `Response: <x>` for an action's response."""
        ev = self.get("Event")
        if ev is not None:
            return ev
        r = self.get("Response")
        return f"Response: {r}" if r is not None else None

    @property
    def repeated(self) -> tuple[str, ...]:
        """Keys that occur more than once (sorted): a forged header line inside this message."""
        seen: set[str] = set()
        rep: set[str] = set()
        for name, _ in self.fields:
            k = name.lower()
            if k in seen:
                rep.add(name)
            seen.add(k)
        return tuple(sorted(rep))


def _is_head(fields: list[tuple[str, str]]) -> bool:
    return bool(fields) and fields[0][0].lower() in ("event", "response")


class AmiStream:
    """Feed AMI bytes as they arrive; get whole messages. Memory is bounded whatever the peer sends.

    `banner` holds the `Asterisk Call Manager/x.y` greeting once seen. `errors` counts lines
    and messages dropped for exceeding the caps.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._cur: list[tuple[str, str]] = []
        self._held: AmiMessage | None = None
        self._started = False
        self._skip_line = False  # dropping the rest of an oversized line
        self._drop = False  # dropping the rest of a message with too many lines
        self.banner: str | None = None
        self.errors = 0

    def feed(self, data: bytes) -> list[AmiMessage]:
        """Messages completed by `data` (the newest complete one is held back: see module doc)."""
        out: list[AmiMessage] = []
        buf = self._buf
        buf += data
        start = 0
        while True:
            i = buf.find(b"\r\n", start)
            if i < 0:
                break
            line = bytes(buf[start:i])
            start = i + 2
            if self._skip_line:
                self._skip_line = False
                continue
            self._line(line, out)
        del buf[:start]
        if len(buf) > MAX_LINE:  # an endless line: drop it, and the message it is in
            buf.clear()
            self._skip_line = True
            self._cur = []
            self._drop = True
            self.errors += 1
        return out

    def flush(self) -> list[AmiMessage]:
        """Release the held message (the stream is idle or closed). A partial message is dropped."""
        out = [self._held] if self._held is not None else []
        self._held = None
        return out

    def _line(self, raw: bytes, out: list[AmiMessage]) -> None:
        if len(raw) > MAX_LINE:
            self.errors += 1
            self._cur = []
            self._drop = True
            return
        if not self._started:
            self._started = True
            if raw.startswith(BANNER):
                self.banner = raw.decode("utf-8", "replace")
                return
        if not raw:
            if self._drop:
                self._drop = False
                return
            self._end(out)
            return
        if self._drop:
            return
        if len(self._cur) >= MAX_FIELDS:
            self.errors += 1
            self._cur = []
            self._drop = True
            return
        text = raw.decode("utf-8", "replace")
        key, sep, value = text.partition(":")
        if not sep:
            key, value = "", text
        self._cur.append((key.strip(), value.strip(" ")))

    def _end(self, out: list[AmiMessage]) -> None:
        cur, self._cur = self._cur, []
        if not cur:
            return
        if _is_head(cur):
            if self._held is not None:
                out.append(self._held)
            self._held = AmiMessage(tuple(cur))
        elif self._held is not None and len(self._held.fields) + len(cur) <= MAX_FIELDS:
            # The tail of an event split by an injected blank line: join it back on.
            self._held = AmiMessage(self._held.fields + tuple(cur), reassembled=True)
        else:
            if self._held is not None:
                out.append(self._held)
                self._held = None
            out.append(AmiMessage(tuple(cur)))


def security_event(msg: AmiMessage, origin: str = "ami") -> Event | None:
    """The Event a security AMI message says about its source, or None for other messages.

    Trust: the address is the `RemoteAddress` right after the last `LocalAddress` (Asterisk's
    field order; forged lines come before it), which is also the last `RemoteAddress`. Fields Asterisk writes before the
    attacker text (EventTV, Service) are taken first-seen; those after it (Challenge,
    ReceivedHash, ACLName) last-seen. What the event means is security.classify's, the security
    log's own mapping, so both readers give the same event.
    """
    ev = msg.get("Event")
    if ev is None:
        return None
    svc = msg.get("Service")
    read = classify(ev, svc, msg.get("AccountID"), msg.last)
    if read is None:
        return None
    tv = msg.get("EventTV")
    time = event_tv(tv) if tv else None
    tampered = _tamper_marks(msg)
    remote = _remote_address(msg)
    parsed = parse_asterisk_addr(remote) if remote else None
    if parsed is None:
        why = "no RemoteAddress after LocalAddress" if remote is None else "unreadable RemoteAddress"
        return Event(time, None, Kind.TAMPER, service=svc, origin=origin,
                     detail=f"{ev} ({'; '.join([why, *tampered])})")
    ip, port, transport = parsed
    kind, account, target, detail = read
    if tampered:
        detail = f"{detail} ({'; '.join(tampered)})"
    return Event(time, ip, kind, port=port, transport=transport, service=svc, account=account, target=target,
                 detail=detail, origin=origin)


def _remote_address(msg: AmiMessage) -> str | None:
    """The RemoteAddress Asterisk wrote: the line right after the last LocalAddress (its field order).

    Forged lines come earlier (inside AccountID/SessionID), so the last pair is the real one; if
    the line after the last LocalAddress is not a RemoteAddress, nothing is trusted.
    """
    fields = msg.fields
    for i in range(len(fields) - 1, -1, -1):
        if fields[i][0].lower() == "localaddress":
            if i + 1 < len(fields) and fields[i + 1][0].lower() == "remoteaddress":
                return fields[i + 1][1]
            return None
    return msg.last("RemoteAddress")  # an event type without LocalAddress: the last one


def _tamper_marks(msg: AmiMessage) -> list[str]:
    marks = [f"tampered: repeated {k}" for k in msg.repeated]
    if msg.reassembled:
        marks.append("tampered: event split by an injected blank line, reassembled")
    if any(not k or " " in k for k, _ in msg.fields):
        marks.append("tampered: a line that is no AMI header")
    if any("\n" in v or "\r" in v for _, v in msg.fields):
        marks.append("tampered: line break inside a value")
    return marks


def _action(lines: list[tuple[str, str]]) -> bytes:
    for k, v in lines:
        if any(c in k + v for c in "\r\n"):
            raise ValueError(f"line break in AMI action field {k!r}")
    return "".join(f"{k}: {v}\r\n" for k, v in lines).encode() + b"\r\n"


def login_action(username: str, secret: str, action_id: str = "sipwarden-login", events: str = "security") -> bytes:
    """The Login action (plain-text secret: use AMI over loopback or TLS). Raises ValueError on CR/LF."""
    return _action([("Action", "Login"), ("ActionID", action_id), ("Username", username), ("Secret", secret),
                    ("Events", events)])


def ping_action(action_id: str = "sipwarden-ping") -> bytes:
    """Keep-alive; its response also releases the message AmiStream holds back."""
    return _action([("Action", "Ping"), ("ActionID", action_id)])
