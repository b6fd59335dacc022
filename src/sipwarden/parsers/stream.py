"""One log stream (a file, stdin, a followed file) turned into Events: the one parse path for log text.

Pure: text in, events out; time comes from the lines (via a Clock). `LogStream` has two entry
points over the same state: `feed_line` (one line at a time) and `feed_chunk` (decoded text of any
size); `close` ends either. `scan`, `explain` and the daemon feed chunks; tests feed both and hold
them equal (tests/parsers/test_stream.py).

The stream keeps the little state a log needs: the clock (year rollover, cached timestamps),
security events that a `%0A` in attacker text split over several lines (reassembled here, so the
forged lines inside them are never read as lines of their own), call lines split likewise, and
SIP packet dumps (attacker text, skipped).

Chunk mode. Most lines of a busy PBX log say nothing about a source. A chunk is searched (`str.find`)
for the words one of which every format needs (`TRIGGERS`, assembled from the formats' own), and
only the lines holding one are read, by the formats' fast readers where they have one, else by
their careful parsers (`read_message`, `read_security`). Whatever could make that differ from
reading line by line sends the chunk through `feed_line` instead (the chunk is "dirty"): ANSI
colours, carriage returns, over-long lines, SIP packet dumps, a security event that cannot be read
on its own line (`Incomplete`), a call line whose number goes on past its line, or a line that may
end a split security event (`continues_event`) within reach of one. So attacker text never takes a
shortcut: the careful path reads it. The last MAX_JOIN lines and REACH characters of a chunk read
this way are held back for the next chunk, so the lines after every security event have been seen
before its event is emitted.

The chunk loop's seams, which a compiled accelerator may replace one by one (each pure, each held to
its Python version by tests): `candidate_starts` (where the lines holding a trigger start),
`read_message` (a line's format, its fast reader, else its careful parser), `read_security` (the
security log's fast reader, else its careful parser) and the clock's `time_at`.

The compiled chunk loop (`ACCEL`, parsers/_accel.pyx, built by `pip install` where a C compiler is;
`SIPWARDEN_PURE=1` turns it off) reads a clean ASCII chunk in one pass over its buffer: the usual
line prefix, untampered security events and the busiest `messages` formats itself (the candidate search,
the fast readers and `time_at` in one pass, Events built in C), every other
line that may hold an event through `_read_line` (this loop's reading of one line), so unusual text
is read by the Python code above. tests/parsers/test_accel.py holds both loops equal.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable

from .. import compiled
from ..events import Event, Kind
from ..timefmt import Clock
from . import asterisk, freeswitch, security
from .prefix import bracketed_at as _br_at
from .prefix import bracketed_match, message_start, message_start_in
from .security import Incomplete, parse_plain, parse_security_body

_new = tuple.__new__  # builds an Event (a NamedTuple) from a tuple without per-field work
MAX_LINE = 16384  # longer lines are counted and skipped: no PBX writes them, an attacker might
MAX_JOIN = 4  # lines after a complete-looking security event in which its rest may still turn up...
# ...or this many characters, whichever reaches further. Attacker newlines come from a URI-decoded user
# part in AccountID, which Asterisk copies into 256-byte buffers (chan_sip; PJSIP: 37): a split event's
# text spans less than this, however many lines it makes. An unfinished event swallows at most this much.
MAX_SPLIT = 2 * 256  # twice MAX_ACCOUNT below: the window holds more than one AccountID can span
MAX_ACCOUNT = 256  # characters of AccountID Asterisk writes (chan_sip's char[256]; PJSIP's name is 37)
REACH = MAX_SPLIT + MAX_LINE  # characters after a security event the line entry may still rejoin it from
_BLOCK = MAX_LINE // 2  # a line longer than MAX_LINE fully covers one aligned block of this size
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

_FORMATS = (asterisk, freeswitch)  # the `messages`-style formats; the security log is read apart (SecurityEvent=)
# Words one of which every line `pick` reads into an event holds, from each format's own list, then the
# security log's marker (last: the chunk loop finds security lines apart).
LINE_TRIGGERS: tuple[str, ...] = tuple(dict.fromkeys(t for f in _FORMATS for t in f.TRIGGERS))
TRIGGERS: tuple[str, ...] = LINE_TRIGGERS + security.TRIGGERS

Parser = Callable[[str], Event | None]
# message start (its first four characters; three for FreeSWITCH's "IP ") -> the parsers that may read it
_STARTS: dict[str, tuple[Parser, ...]] = {}
for _f in _FORMATS:
    for _k, _fns in _f.STARTS.items():
        _STARTS[_k] = _STARTS[_k] + _fns if _k in _STARTS else _fns
_FIRST = {k: v for k, v in _STARTS.items() if len(k) == 4}
_FIRST3 = {k: v for k, v in _STARTS.items() if len(k) == 3}
_CALL = asterisk.STARTS["Call"]  # PJSIP's "ENDPOINT: Call (...": found by its phrase
_MANAGER = (asterisk.manager,)  # AMI's "ADDR failed to authenticate as ...": likewise
_PLAIN = {fn: fast for f in _FORMATS for fn, fast in f.PLAIN.items()}  # careful parser -> its fast reader


def pick(msg: str) -> tuple[Parser, ...]:
    """The parsers that may read the message text `msg` (`prefix.body`), by how it starts: every
    format is read at the message start, so its first words decide (the formats' STARTS); () when
    none. Two formats start with a name or an address (PJSIP's "ENDPOINT: Call (", AMI's "ADDR failed
    to authenticate"): they are tried wherever their phrase stands. Each parser checks its whole
    structure and says None when the text is not its own.

    Every parser needs one of `TRIGGERS` in the line, so the chunk mode skips lines without any.
    """
    out = _FIRST.get(msg[:4]) or _FIRST3.get(msg[:3], ())
    if ": Call (" in msg and out is not _CALL:
        out += _CALL
    if "authenticat" in msg or "IP ACL" in msg:
        out += _MANAGER
    return out


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
    n = m.group("n")
    if not n:
        return -1
    # no packet is longer than MAX_DUMP: a bigger count (thousands of digits pass int()'s limit) would hide the log
    return min(int(n), MAX_DUMP) if len(n) <= 6 else MAX_DUMP


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


def _lf_lines(text: str) -> list[str]:
    """Lines of `text` split at LF only, each with its LF (a bare CR is data, as Asterisk writes it)."""
    parts = text.split("\n")
    last = parts.pop()
    out = [p + "\n" for p in parts]
    if last:
        out.append(last)
    return out


_AFTER_TIME: dict[str, int] = {}  # "] SECURITY[1237] res_security_log.c: " -> where the message starts in it


def _security_start(body: str, s: int, k: int) -> int:
    """`message_start_in(body, s, k + 14)` for a line whose "SecurityEvent=" is at `k`, cached.

    With the usual "[time] " first, the bracketed prefix pattern's answer depends only on the text
    between the time's closing bracket (its first "]": the time holds no bracket) and `k`, since
    what follows is always "SecurityEvent=": that text repeats for every event of a thread.
    """
    if body.startswith("[", s):
        j = body.find("]", s, k)
        if 1 < j - s <= 41 and body.find("[", s + 1, j) < 0:
            key = body[j:k]
            off = _AFTER_TIME.get(key)
            if off is not None:
                return j + off
            ms = message_start_in(body, s, k + 14)
            if ms >= 0 and _br_at(body, s, k + 14):
                if len(_AFTER_TIME) >= 4096:
                    _AFTER_TIME.clear()
                _AFTER_TIME[key] = ms - j
            return ms
    return message_start_in(body, s, k + 14)


def has_dump_mark(body: str) -> bool:
    """`"<--- " in body`, found through its "<" (a one-character search runs at memchr speed).

    A plain search for "<--- " steps through ordinary log text nearly a character at a time (its
    letters share the search's filter): three times slower on a usual chunk. A text full of "<"
    falls back to that search after len(body)/256 of them, so no input makes this much slower.
    """
    find = body.find
    i = find("<")
    for _ in range(len(body) >> 8):
        if i < 0:
            return False
        if body.startswith("--- ", i + 1):
            return True
        i = find("<", i + 1)
    return i >= 0 and find("<--- ", i) >= 0


# The chunk loop's seams ---------------------------------------------------------------------------


def candidate_starts(body: str, end: int, starts: set[int]) -> list[int]:
    """Where the lines of `body[:end]` that hold one of LINE_TRIGGERS start, with `starts` (the
    security lines already found), sorted. `body[:end]` is whole lines."""
    find, rfind = body.find, body.rfind
    add = starts.add
    for tok in LINE_TRIGGERS:
        i = find(tok, 0, end)
        while i >= 0:
            add(rfind("\n", 0, i) + 1)
            i = find(tok, find("\n", i), end)
    return sorted(starts)


def read_message(msg: str, fast_readers: dict | None = None) -> Event | None:
    """The event of one message text (a line after its prefix): each parser `pick` names, through its
    format's fast reader where it has one (which answers False when the text is not its plain shape),
    else carefully. The same answer as `read_line` gives for the whole line. `fast_readers` (careful
    parser -> its fast reader) replaces the formats' own, for bench/fast_readers.py."""
    plain = (_PLAIN if fast_readers is None else fast_readers).get
    for fn in pick(msg):
        fast = plain(fn)
        ev = fast(msg) if fast is not None else False
        if ev is False:
            ev = fn(msg)
        if ev is not None:
            return ev
    return None


def read_security(body: str, k: int, e: int) -> tuple | None:
    """The 13 leading Event fields of the security event `body[k:e]` (None: it names no source):
    the security log's fast reader, else its careful parser. Raises Incomplete as that does."""
    f = parse_plain(body, k, e)
    if f is False:
        ev = parse_security_body(body[k:e])
        f = ev[:13] if ev is not None else None
    return f


class LogStream:
    """One log's text in, its events out, in file order. Line entry: `feed_line(line, lineno)`; chunk
    entry: `feed_chunk(text)` (any size, lines may be cut anywhere); `close()` at the end of the input
    emits what is held back. The chunk entry may follow the line entry (its line numbers go on from
    the last line fed), as the daemon does after a parser error; the other way round, `close` first
    (it reads the chunk entry's unfinished last line). The daemon calls `close` at the end of each
    read batch and feeds on after it.

    After a security event the stream keeps the next MAX_JOIN lines in a short window before
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
        self.lines = 0  # lines read (the number of the last one)
        self.oversized = 0  # lines longer than MAX_LINE, skipped
        self._pending: list | None = None  # [text, lineno, line_time, joined_lines]: an unfinished event
        # window entries: [lineno, line, events, security_text or None]
        self._window: deque[list] = deque()
        self._win_chars = 0  # characters of the lines in the window
        self._secs_in_window = 0
        self._joined = ""  # text of the split event `_continue_pending` last completed
        self._empty = -1  # number of the last line with a prefix and an empty message
        self._call: list | None = None  # [message text, lineno, time, lines, head length]: a split call line
        self._dump: list[int] | None = None  # [bytes left or -1 (to the dashed line), bytes read]: inside a packet dump
        # chunk mode
        self._carry = ""  # text not read yet: held-back lines and a partial last line
        # Lines (numbers) of security events read in chunk mode that the line entry would still hold
        # in its window: what a dirty chunk after a clean one must know.
        self._secs: list[int] = []
        # security lines `_clean` read, by where their (first) "SecurityEvent=" is in the body it checked:
        # (line start, line end, message start), so `_read_clean` finds neither again
        self._starts: dict[int, tuple[int, int, int]] = {}
        self._calls: dict[int, Event] = {}  # call lines `_clean` read, likewise

    @property
    def at_rest(self) -> bool:
        """After `close`: nothing read so far changes how the next line reads (no packet dump open, and
        the last line was no empty message after which a chan_sip dump may start)."""
        return self._dump is None and self._empty != self.lines and not self._carry

    # -- line entry ------------------------------------------------------------------------------

    def feed_line(self, raw: str, lineno: int) -> tuple[Event, ...]:
        """The events one line (with or without its LF) lets out; `lineno` counts from 1."""
        self.lines = lineno
        if len(raw) > MAX_LINE:
            self.oversized += 1
            if self._pending is not None or self._call is not None:  # attacker text that long: no event
                return self._give_up() + self._give_up_call()
            return self._flush()
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
        text = raw[:-1] if raw[-1:] == "\n" else raw  # the line entry is fed lines with or without their LF
        dump[1] += (len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))) + 1
        if dump[0] >= 0:
            if dump[1] >= dump[0] + 1:  # the packet and the newline after it
                self._dump = None
        elif text.rstrip("\r") in _DUMP_END or dump[1] > MAX_DUMP:
            self._dump = None
        return ()

    def _flush(self) -> tuple[Event, ...]:
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

    # -- chunk entry -----------------------------------------------------------------------------

    def feed_chunk(self, text: str) -> list[Event]:
        """The events of decoded text of any size (lines may be cut anywhere: the rest waits)."""
        buf = self._carry + text if self._carry else text
        cut = buf.rfind("\n") + 1
        if cut == 0:
            self._carry = buf
            return []
        self._carry = buf[cut:]
        return self._chunk(buf[:cut] if cut < len(buf) else buf)

    def close(self) -> list[Event]:
        """The end of the input (for now): read what is left (a last line without a newline too) and
        emit everything held back; an unfinished split event becomes a TAMPER event."""
        out = self._by_line(self._carry) if self._carry else []
        self._carry = ""
        out.extend(self._flush())
        return out

    def _chunk(self, body: str) -> list[Event]:
        """Complete lines: read all but the last MAX_JOIN in chunk mode if clean, else all line by line."""
        if self._pending is not None or self._dump is not None or self._call is not None:  # a split goes on
            return self._by_line(body)
        p = len(body) - 1
        for _ in range(MAX_JOIN):
            p = body.rfind("\n", 0, p)
            if p < 0:  # too few lines to hold some back: wait for more
                self._carry = body + self._carry
                return []
        p = body.rfind("\n", 0, min(p + 1, len(body) - REACH))  # and REACH characters
        if p < 0:
            self._carry = body + self._carry
            return []
        if not self._clean(body, p + 1):
            return self._by_line(body)
        self._carry = body[p + 1:] + self._carry
        return self._read_clean(body, p + 1)

    def _clean(self, body: str, end: int) -> bool:
        """May `body[:end]` be read in chunk mode (see the module docstring)? `body` goes on MAX_JOIN lines."""
        self._starts = {}
        self._calls = {}
        if ACCEL is not None and self._dump is None:
            clean = ACCEL.clean(body, end, bool(self._secs_in_window or self._secs), lambda s, e: _line_cont(body, s, e),
                                lambda s, e: _call_dirty(body, s, e))
            if clean is not None:
                return clean
        if "\x1b" in body or "\r" in body or has_dump_mark(body) or self._dump is not None:
            return False  # colours, carriage returns, packet dumps: the line entry reads them
        find, rfind = body.find, body.rfind
        for pos in range(0, end, _BLOCK):
            if find("\n", pos, pos + _BLOCK) < 0:
                return False  # a long stretch without a newline: maybe an over-long line
        i = find(") to extension '")
        while i >= 0:  # a call line whose dialled number goes on past the line: only the line entry joins it
            s = rfind("\n", 0, i) + 1
            e = find("\n", i)
            ms = message_start_in(body, s, e)
            if ms >= 0:
                msg = body[ms:e]
                ev = asterisk.call_rejected_plain(msg)
                if ev is False:
                    if asterisk.call_head(msg):
                        return False
                elif ev is not None and pick(msg)[0] is asterisk.call_rejected:
                    self._calls[s] = ev  # what `_read_clean` would read for this line (its first parser): read once
            i = find(") to extension '", e)
        held = self._secs_in_window or self._secs
        i = find('RemoteAddress="IPV')
        while i >= 0:  # a line that may end a split security event (`continues_event`)...
            s = rfind("\n", 0, i) + 1
            e = find("\n", i)
            k = find("SecurityEvent=", s, e)
            if k >= 0 and find('RemoteAddress="', i + 15, e) < 0:  # one pair: is the event at its message start?
                ms = _security_start(body, s, k)
                self._starts[k] = (s, e, ms)
                cont = ms != k
            else:
                cont = k < 0 or continues_event(body[s:e])
            if cont:
                if held:  # ...with a security event held from before this text
                    return False
                b = s
                for _ in range(MAX_JOIN):
                    if b == 0:
                        break
                    b = rfind("\n", 0, b - 1) + 1
                if "SecurityEvent=" in body[min(b, max(0, s - REACH)):s]:  # ...or within reach before it
                    return False
            i = find('RemoteAddress="IPV', e)
        return True

    def _by_line(self, body: str) -> list[Event]:
        """Line by line through the line entry, its window primed with the security events read in chunk mode."""
        first = self.lines + 1
        if self._secs:
            last = first - 1
            secs = set(self._secs)
            self._window = deque([n, "", (), "" if n in secs else None]
                                 for n in range(max(1, last - MAX_JOIN + 1), last + 1))
            self._secs_in_window = sum(1 for e in self._window if e[3] is not None)
            self._secs = []
        out: list[Event] = []
        feed = self.feed_line
        for n, line in enumerate(_lf_lines(body), first):
            evs = feed(line, n)
            if evs:
                out.extend(evs)
        return out

    def _read_clean(self, body: str, end: int) -> list[Event]:
        """Events of the clean lines `body[:end]`, in file order, as the line entry would give them."""
        first = self.lines + 1
        if ACCEL is not None:
            try:
                got = ACCEL.read(body, end, first, self.file, self.clock, lambda s, e: _read_line(body, s, e))
            except Incomplete:
                return self._by_line(body[:end])
            if got is not None:
                evs, secs_read, n = got
                if self._window:  # as below
                    self._secs = [e[0] for e in self._window if e[3] is not None]
                    out = list(self._drain_window())
                    out.extend(evs)
                else:
                    out = evs
                self.lines = first + n - 1
                sec_lines = self._secs
                sec_lines.extend(secs_read)
                if sec_lines:
                    edge = self.lines + 1 - MAX_JOIN
                    self._secs = [n for n in sec_lines[-MAX_JOIN:] if n >= edge]
                return out
        find, rfind = body.find, body.rfind
        # Security events first (pure): one that is not complete on its line makes the chunk dirty.
        secs: dict[int, tuple | None] = {}
        read_sec = read_security
        try:
            known = self._starts.get
            i = find("SecurityEvent=", 0, end)
            while i >= 0:
                line = known(i)  # the line's first "SecurityEvent=", as `_clean` found it
                if line is not None:
                    s, e, k = line
                else:
                    s = rfind("\n", 0, i) + 1
                    e = find("\n", i)
                    k = message_start_in(body, s, e)
                # only an event that starts the message text is one
                if k > s and body.startswith("SecurityEvent=", k):
                    secs[s] = read_sec(body, k, e)
                i = find("SecurityEvent=", e, end)
        except Incomplete:
            return self._by_line(body[:end])
        cands = candidate_starts(body, end, set(secs))
        if self._window:  # coming from the line entry: the clean check showed nothing can rejoin it
            self._secs = [e[0] for e in self._window if e[3] is not None]
            out = list(self._drain_window())
        else:
            out = []
        time_at = self.clock.time_at
        read = read_message
        file = self.file
        append = out.append
        count = body.count
        lineno = first
        pos = 0
        sec_lines = self._secs
        get = secs.get
        calls = self._calls
        startswith = body.startswith
        br = bracketed_match
        for s in cands:
            lineno += count("\n", pos, s)
            pos = s
            e = find("\n", s)
            f = get(s, False)
            if f is not False:
                t = time_at(body, s, e)
                sec_lines.append(lineno)
                if f is not None:
                    append(_new(Event, (f[0] if f[0] is not None else t,) + f[1:] + (file, lineno)))
                continue
            ev = calls.get(s)
            if ev is None:
                m = br(body, s, e) if startswith("[", s) else None  # message_start_in's first try, inline
                ms = m.end() if m is not None else message_start_in(body, s, e)
                if ms < 0:
                    continue
                ev = read(body[ms:e])
                if ev is None:
                    continue
            append(_new(Event, (time_at(body, s, e),) + ev[1:12] + ("messages", file, lineno)))
        self.lines = lineno + count("\n", pos, end) - 1  # the lines up to `pos` are counted already
        if sec_lines:
            edge = self.lines + 1 - MAX_JOIN
            self._secs = [n for n in sec_lines[-MAX_JOIN:] if n >= edge]
        return out


# The compiled chunk loop and the pure readings of single lines it hands back ----------------------


def _read_line(body: str, s: int, e: int) -> tuple[bool, tuple | Event | None] | None:
    """The line `body[s:e]` of a clean chunk as `_read_clean` reads it: None (nothing), (True, the
    security event's fields or None) for a security line, or (False, Event) for a `messages` event.
    Where `_clean` caches a security line's message start, it is computed the same way here."""
    i = body.find("SecurityEvent=", s, e)
    if i >= 0:
        r = body.find('RemoteAddress="IPV', s, e)
        k = _security_start(body, s, i) if r >= 0 and body.find('RemoteAddress="', r + 15, e) < 0 else \
            message_start_in(body, s, e)
        if k > s and body.startswith("SecurityEvent=", k):
            return True, read_security(body, k, e)
    find = body.find
    for tok in LINE_TRIGGERS:
        if find(tok, s, e) >= 0:
            break
    else:
        return None
    m = bracketed_match(body, s, e) if body.startswith("[", s) else None
    ms = m.end() if m is not None else message_start_in(body, s, e)
    ev = read_message(body[ms:e]) if ms >= 0 else None
    return (False, ev) if ev is not None else None


def _line_cont(body: str, s: int, e: int) -> bool:
    """`_clean`'s question for a line holding the security log's address pair: may it end a split event?"""
    k = body.find("SecurityEvent=", s, e)
    if k < 0:
        return True
    i = body.find('RemoteAddress="IPV', s, e)
    if body.find('RemoteAddress="', i + 15, e) < 0:
        return _security_start(body, s, k) != k
    return continues_event(body[s:e])


def _call_dirty(body: str, s: int, e: int) -> bool:
    """`_clean`'s question for a call line: does its dialled number go on past the line?"""
    ms = message_start_in(body, s, e)
    if ms < 0:
        return False
    msg = body[ms:e]
    return asterisk.call_rejected_plain(msg) is False and asterisk.call_head(msg)


def _accelerator(force: bool = False):  # noqa: ANN202 - a ChunkReader, which exists only where it was built
    """The compiled chunk loop, or None: not built here (no compiler at install), or SIPWARDEN_PURE set
    (`force`: built even then; the one factory, so tests/parsers/test_accel.py compares the reader the
    stream runs)."""
    accel = compiled.load("sipwarden.parsers._accel", force=force)
    return accel.ChunkReader(TRIGGERS, tuple(_STARTS), MAX_JOIN, REACH, _BLOCK, pick) if accel is not None else None


ACCEL = _accelerator()
