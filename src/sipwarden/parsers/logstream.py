"""One log stream (a file, stdin, a followed file) turned into Events, line by line.

Pure: text in, events out; time comes from the lines (via a Clock). The stream keeps the little
state a log needs: the clock (year rollover, cached timestamps) and security events that a
`%0A` in attacker text split over several lines, which are reassembled here so that the forged
lines inside them are never read as lines of their own.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable

from ..events import Event, Kind
from ..timefmt import Clock
from . import asterisk, freeswitch
from .prefix import message_start
from .security import Incomplete, parse_security_body

_new = tuple.__new__  # builds an Event (a NamedTuple) from a tuple without per-field work
MAX_LINE = 16384  # longer lines are counted and skipped: no PBX writes them, an attacker might
MAX_JOIN = 4  # lines after a complete-looking security event in which its rest may still turn up...
# ...or this many characters, whichever reaches further. Attacker newlines come from a URI-decoded user
# part in AccountID, which Asterisk copies into 256-byte buffers (chan_sip; PJSIP: 37): a split event's
# text spans less than this, however many lines it makes. An unfinished event swallows at most this much.
MAX_SPLIT = 2 * 256  # twice MAX_ACCOUNT below: the window holds more than one AccountID can span
MAX_ACCOUNT = 256  # characters of AccountID Asterisk writes (chan_sip's char[256]; PJSIP's name is 37)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# A line that starts a record of its own (timestamp, or a level tag as in journald/syslog).


def pick(msg: str) -> tuple[Callable[[str], Event | None], ...]:
    """The parsers that may read the message text `msg` (`prefix.body`), by how it starts: every
    format is read at the message start, so its first words decide; () when none. Two formats
    start with a name or an address (PJSIP's "ENDPOINT: Call (", AMI's "ADDR failed to
    authenticate"): they are tried wherever their phrase stands. Each parser checks its whole
    structure and says None when the text is not its own.

    Every parser needs one of `TRIGGERS` in the line, so a bulk reader may skip lines without any.
    """
    out = _FIRST.get(msg[:4], ())
    if msg[:3] == "IP ":
        out = _SOFIA
    if ": Call (" in msg and out is not _CALL:
        out += _CALL
    if "authenticat" in msg or "IP ACL" in msg:
        out += _MANAGER
    return out


_CALL = (asterisk.call_rejected,)
_MANAGER = (asterisk.manager,)
_SOFIA = (freeswitch.sofia,)
# The first four characters of each format that starts with words of its own.
_FIRST: dict[str, tuple[Callable[[str], Event | None], ...]] = {
    "Regi": (asterisk.chan_sip_registration, asterisk.registered), "Requ": (asterisk.pjsip_distributor,),
    "Call": _CALL, "Host": (asterisk.iax2,), "No r": (asterisk.iax2,),
    "Reje": (asterisk.freepbx_rejecting, asterisk.iax2),
    '"Rej': (asterisk.freepbx_rejecting,), "hack": (asterisk.hacking_attempt,), "Drop": (asterisk.pjproject_dropping,),
    "sip_": (asterisk.pjproject_dropping,), "SIP ": _SOFIA, "Can'": _SOFIA, "Can ": _SOFIA,
}


# Words one of which every line `pick` reads into an event contains (plus the security log's marker).
# For FreeSWITCH, the words `freeswitch.sofia` cannot match without (longer, so faster to search than
# "sofia" and "SOFIA", which every FreeSWITCH line has).
TRIGGERS = ("ailed", "extension not found", "sofia profile '", "Can't find user [", "Reject", "Can not do authorization",
            "Registered SIP '", "tried to authenticate with nonexistent", "No registration for peer",
            "denied access to register", "hacking attempt", "bytes packet from", "SecurityEvent=")


# SIP packet dumps (`pjsip set logger on`, `sip set debug on`): every line of the packet is the
# sender's text, never an event. PJSIP says how many bytes follow; chan_sip ends with a dashed line.
_DUMP = re.compile(r"<--- (?:(?:Received|Transmitting) SIP \w+ \((?P<n>\d+) bytes\) (?:from|to) |SIP read from |"
                   r"(?:Reliably )?\w*Transmitting \()")
_DUMP_END = ("<------------->", "<------------>")
MAX_DUMP = 1 << 16  # bytes: no SIP packet Asterisk reads is longer


def dump_start(line: str, after_empty: bool) -> int | None:
    """Bytes of packet that follow this dump header (-1: up to chan_sip's dashed line), or None.

    The header starts the message text of its line (PJSIP), or a line of its own right after a
    line whose message is empty (chan_sip's dump message starts with a newline): never inside
    attacker text."""
    i = line.find("<--- ")
    if i < 0 or (i == 0 and not after_empty) or (i and message_start(line) != i):
        return None
    m = _DUMP.match(line, i)
    if m is None:
        return None
    return int(m.group("n")) if m.group("n") else -1


def security_text(line: str) -> str | None:
    """The security event a line holds: only one that starts the message text (after the line's
    prefix, or a bare line of the security log); a `SecurityEvent=` anywhere else is attacker text."""
    if line.startswith("SecurityEvent="):
        return None  # no prefix: a bare line can only be the rest of a split event (or forged)
    ms = message_start(line)
    if ms < 0 or not line.startswith("SecurityEvent=", ms):
        return None
    return line[ms:]


def read_line(text: str) -> Event | None:
    """The event of one `messages` line (no trailing newline), read at its message start only."""
    ms = message_start(text)
    if ms < 0:
        return None
    body = text[ms:] if ms else text
    for fn in pick(body):
        ev = fn(body)
        if ev is not None:
            return ev
    return None


def continues_event(line: str) -> bool:
    """Can `line` be the rest of a security event that attacker newlines split?

    The rest of a split event always ends in the real address pair (attacker text is in AccountID,
    before it). So: a line holding a pair of the security log that is not a security event at its
    message start (Asterisk writes that pair nowhere else), or a security event at its message start
    holding two pairs (a forged head glued to the real rest looks just like that).
    """
    if 'RemoteAddress="IPV' not in line:
        return False
    return security_text(line) is None or line.count('RemoteAddress="') > 1


class LogParser:
    """Feed lines with `feed`; call `flush` at the end of input (or of each read batch when live).

    After a security event the parser keeps the next MAX_JOIN lines in a short window before
    emitting their events: if a line that continues an event follows (`continues_event`: the rest
    of an event a `%0A` split after a forged, complete-looking part), the security event and
    everything up to that line are re-read as one event, and the forged lines in between yield
    nothing. An event that cannot be read yet (split before its address pair) swallows the lines
    that follow until it can, up to MAX_SPLIT bytes: Asterisk writes an event in one piece, so no
    real line can sit inside it, and however many lines the attacker's text spans, none of them is
    read as a line of its own.
    """

    def __init__(self, clock: Clock, file: str | None = None) -> None:
        self.clock = clock
        self.file = file
        self.lines = 0
        self.oversized = 0
        self._pending: list | None = None  # [text, lineno, line_time, joined_lines]: an unfinished event
        # window entries: [lineno, line, events, security_text or None]
        self._window: deque[list] = deque()
        self._win_chars = 0  # characters of the lines in the window
        self._secs_in_window = 0
        self._joined = ""  # text of the split event `_continue_pending` last completed
        self._empty = -1  # number of the last line with a prefix and an empty message
        self._call: list | None = None  # [message text, lineno, time, lines, head length]: a split call line
        self._dump: list[int] | None = None  # [bytes left or -1 (to the dashed line), bytes read]: inside a packet dump

    def feed(self, raw: str, lineno: int) -> tuple[Event, ...]:
        self.lines = lineno
        if len(raw) > MAX_LINE:
            self.oversized += 1
            if self._pending is not None or self._call is not None:  # attacker text that long: no event
                return self._give_up() + self._give_up_call()
            return self.flush()
        if "\x1b" in raw:
            raw = _ANSI.sub("", raw)
        if self._call is not None:
            return self._continue_call(raw)
        if self._dump is not None:
            return self._in_dump(raw)
        if "<--- " in raw and self._pending is None:
            n = dump_start(raw, self._empty == lineno - 1)
            if n is not None:
                self._dump = [n, 0]
                return ()
        if raw.endswith((": \n", ": ")) and message_start(raw.rstrip("\n")) == len(raw.rstrip("\n")):
            self._empty = lineno  # a line with a prefix and no message: a chan_sip dump may follow
        if self._pending is None and not self._secs_in_window and "SecurityEvent=" not in raw:
            # the common case, kept short: a line of its own that is not a security event
            ev = self._dispatch(raw, lineno)
            return (ev,) if ev is not None else ()
        line = raw[:-1] if raw[-1:] == "\n" else raw
        if line[-1:] == "\r":
            line = line[:-1]
        if self._pending is not None:
            first = self._pending[1]
            evs = self._continue_pending(line)
            if self._pending is not None or not evs or evs[0].detail is None or "(reassembled" not in evs[0].detail:
                return evs
            # a split event just completed: it stays in the window, for its completion may be forged
            # (then the real rest, with the real pair, is still to come)
            return self._hold([first, line, evs, self._joined])
        if self._secs_in_window and continues_event(line):
            return self._rejoin(line, lineno)
        sec_text = security_text(line) if "SecurityEvent=" in line else None
        if sec_text is not None:
            evs = self._security(sec_text, lineno, self.clock.line_time(line), 0)
            if self._pending is not None:
                return self._drain_window()
        else:
            ev = self._dispatch(line, lineno)
            evs = (ev,) if ev is not None else ()
        if not self._secs_in_window and sec_text is None:
            return evs
        return self._hold([lineno, line, evs, sec_text])

    def _hold(self, entry: list) -> tuple[Event, ...]:
        """Keep `entry` in the window; emit what leaves it (MAX_JOIN lines and MAX_SPLIT characters back)."""
        window = self._window
        window.append(entry)
        self._win_chars += len(entry[1])
        if entry[3] is not None:
            self._secs_in_window += 1
        out: tuple[Event, ...] = ()
        while len(window) > MAX_JOIN and self._win_chars - len(window[0][1]) > MAX_SPLIT:
            old = window.popleft()
            self._win_chars -= len(old[1])
            out += old[2]
            if old[3] is not None:
                self._secs_in_window -= 1
                if not self._secs_in_window:
                    # no security event left to rejoin: emit the rest now, so events stay in file order
                    return out + self._drain_window()
        return out

    def _in_dump(self, raw: str) -> tuple[Event, ...]:
        """A line of a dumped packet: attacker text, skipped until the dump ends."""
        dump = self._dump
        assert dump is not None
        text = raw[:-1] if raw[-1:] == "\n" else raw  # the line API is fed lines with or without their LF
        dump[1] += (len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))) + 1
        if dump[0] >= 0:
            if dump[1] >= dump[0] + 1:  # the packet and the newline after it
                self._dump = None
        elif text.rstrip("\r") in _DUMP_END or dump[1] > MAX_DUMP:
            self._dump = None
        return ()

    def flush(self) -> tuple[Event, ...]:
        """Emit everything held back; an unfinished split event becomes a TAMPER event."""
        out = self._drain_window()
        if self._pending is not None:
            out += self._give_up()
        return out + self._give_up_call()

    def _continue_call(self, raw: str) -> tuple[Event, ...]:
        """A line of a call line split by a decoded %0A in its dialled number: the attacker's text,
        never a line of its own, until the real end ("' rejected because ...") completes it."""
        call = self._call
        assert call is not None
        line = raw[:-1] if raw[-1:] == "\n" else raw
        call[0] += "\n" + line
        call[3] += 1
        ev = asterisk.call_rejected(call[0], call[4])
        if ev is not None:
            self._call = None
            detail = f"{ev.detail} (reassembled from {call[3] + 1} lines)" if ev.detail else None
            return (_new(Event, (call[2],) + ev[1:11] + (detail, "messages", self.file, call[1])),)
        if len(call[0]) - call[4] > MAX_SPLIT:
            return self._give_up_call()
        return ()

    def _give_up_call(self) -> tuple[Event, ...]:
        call = self._call
        if call is None:
            return ()
        self._call = None
        return (Event(call[2], None, Kind.TAMPER, service="SIP", origin="messages", file=self.file, line=call[1],
                      detail="call line cut short and never completed"),)

    def _give_up(self) -> tuple[Event, ...]:
        if self._pending is None:
            return ()
        text, first, t, _ = self._pending  # type: ignore[misc]
        self._pending = None
        return (Event(t, None, Kind.TAMPER, origin="security", file=self.file, line=first,
                      detail="security event cut short and never completed"),)

    def _drain_window(self) -> tuple[Event, ...]:
        out: tuple[Event, ...] = ()
        for entry in self._window:
            out += entry[2]
        self._window.clear()
        self._win_chars = 0
        self._secs_in_window = 0
        return out

    def _rejoin(self, line: str, lineno: int) -> tuple[Event, ...]:
        """A line that may end a split event: glue it to the last security event in the window, re-read.

        It proves attacker newlines are about, and which event it ends cannot be told for sure: any
        line in the window may be the attacker's (a forged security event, a forged line of another
        format, a forged completion). So the joined reading (whose address is the real pair at the
        end) is kept, and every held event within one AccountID's reach that names another address,
        or is a login of that sender, becomes TAMPER: nothing a split can reach names a victim or
        credits its sender a login. The joined event stays in the window: the split may go on.
        """
        window = list(self._window)
        self._window.clear()
        self._win_chars = 0
        self._secs_in_window = 0
        # Only what one AccountID can span is in doubt: the trigger's text before its real SessionID,
        # the lines between, and a head's text after its `AccountID="`.
        k = line.rfind('",SessionID="')
        budget = MAX_ACCOUNT - (k if k >= 0 else len(line)) - 1
        start = len(window)
        heads = []
        for i in range(len(window) - 1, -1, -1):
            entry = window[i]
            text = entry[3] or entry[1]
            if entry[3]:
                a = text.find('AccountID="')
                if a >= 0 and len(text) - a - 11 <= budget:
                    heads.append(i)
            budget -= len(text) + 1
            if budget < 0:
                break
            start = i
        own = security_text(line)
        if not heads:  # no held event can own this line: it is a line of its own
            out = tuple(e for entry in window for e in entry[2])
            evs = self._security(own, lineno, self.clock.line_time(line), 0) if own is not None else ()
            self._pending = None
            return out + (self._hold([lineno, line, evs, own]) if own is not None else evs)
        j = heads[0]
        before, tail = window[:j], window[j:]
        first = tail[0][0]
        text = "\n".join([tail[0][3]] + [e[1] for e in tail[1:]] + [line])
        t = tail[0][2][0].time if tail[0][2] else self.clock.last
        if own is not None:
            # a security event of its own with two pairs: a class-5 line, or a forged head glued to the
            # real rest of the split. Its own reading first (both readings name the same sender), the
            # joined one if it has none; every held event stays unless it names someone else
            evs = self._security(own, lineno, self.clock.line_time(line), 0)
            self._pending = None
            if not evs or evs[0].ip is None:
                evs = self._security(text, first, t, max(len(tail), 1)) or evs
                self._pending = None
            keep, first, text = window, lineno, own
        else:  # the rest of the last held event: it replaces that event and swallows what came between
            evs = self._security(text, first, t, max(len(tail), 1))
            self._pending = None  # the text ends in a pair: nothing is left unfinished
            keep = before
        real = evs[0].ip if evs and evs[0].kind is not Kind.AUTH_OK else None
        out: tuple[Event, ...] = ()
        for i, entry in enumerate(keep):
            if i < start:  # out of one AccountID's reach: not in doubt
                out += entry[2]
                continue
            out += tuple(e if e.ip is None or (e.ip == real) is (e.kind is not Kind.AUTH_OK) else
                         e._replace(ip=None, kind=Kind.TAMPER, port=None, detail="in reach of a split security event")
                         for e in entry[2])
        joined = evs
        return out + self._hold([first, line, joined, text])

    def _dispatch(self, line: str, lineno: int) -> Event | None:
        text = line[:-1] if line[-1:] == "\n" else line  # the same text whether or not the line sat in the window
        if text[-1:] == "\r":
            text = text[:-1]
        ev = read_line(text)
        if ev is None:
            if ") to extension '" in text:
                ms = message_start(text)
                if ms >= 0 and asterisk.call_head(text[ms:]):  # the number goes on: read it whole
                    self._call = [text[ms:], lineno, self.clock.line_time(line), 0, len(text) - ms]
            return None
        return _new(Event, (self.clock.line_time(line),) + ev[1:12] + ("messages", self.file, lineno))

    def _security(self, text: str, lineno: int, t: float | None, joined: int) -> tuple[Event, ...]:
        try:
            ev = parse_security_body(text)
        except Incomplete:
            self._pending = [text, lineno, t, joined]
            return ()
        if ev is None:
            return ()
        detail = ev.detail
        if joined:  # a reassembled event: say so, operators should see the injection
            detail = f"{detail} (reassembled from {joined + 1} lines)"
            if ev.kind is Kind.AUTH_OK:  # no account name holds a newline: a success split so is forged
                return (Event(ev.time if ev.time is not None else t, None, Kind.TAMPER, service=ev.service,
                              origin=ev.origin, file=self.file, line=lineno, detail=detail),)
        return (_new(Event, (ev.time if ev.time is not None else t,) + ev[1:11] + (detail, ev.origin, self.file,
                                                                                   lineno)),)

    def _continue_pending(self, line: str) -> tuple[Event, ...]:
        text, first, t, joined = self._pending  # type: ignore[misc]
        self._pending = None
        joined += 1
        text = text + "\n" + line
        self._joined = text
        out = self._security(text, first, t, joined)
        if self._pending is not None and len(text) - text.find("\n") > MAX_SPLIT:
            self._pending = None
            return (Event(t, None, Kind.TAMPER, origin="security", file=self.file, line=first,
                          detail=f"security event split over more than {MAX_SPLIT} bytes"),)
        return out
