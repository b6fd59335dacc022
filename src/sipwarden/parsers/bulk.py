"""A log stream read in big text chunks: the same events as `LogParser.feed` line by line, faster.

Most lines of a busy PBX log say nothing about a source. Here they are skipped at C speed:
the chunk is searched (`str.find`) for the words every parser needs (`logstream.TRIGGERS`), and
only the lines holding one are read, by the very parsers the line API uses. Whatever could make
the line API behave differently is handed to a `LogParser` for that chunk instead (the chunk is
"dirty"): ANSI colours, carriage returns, over-long lines, SIP packet dumps, a security event that
cannot be read on its own line (`Incomplete`), or a line that may end a split security event
(`logstream.continues_event`) within reach of one (a `%0A` split: only the line API reassembles).
So attacker text never takes a shortcut: the careful path reads it.

The last MAX_JOIN lines and REACH characters of a chunk read in bulk are held back for the next
chunk, so the lines after every security event read in bulk have been seen before its event is
emitted.
"""

from __future__ import annotations

from collections import deque

from ..events import Event
from ..timefmt import Clock
from .asterisk import PLAIN, call_head, call_rejected, call_rejected_plain
from .logstream import MAX_JOIN, MAX_LINE, MAX_SPLIT, TRIGGERS, LogParser, continues_event, pick
from .prefix import bracketed_at as _br_at
from .prefix import bracketed_match, message_start_in
from .security import Incomplete, parse_plain, parse_security_body

_new = tuple.__new__
_BLOCK = MAX_LINE // 2  # a line longer than MAX_LINE fully covers one aligned block of this size
REACH = MAX_SPLIT + MAX_LINE  # characters after a security event the line API may still rejoin it from


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


def _has_dump_mark(body: str) -> bool:
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


class BulkParser:
    """Feed decoded text in chunks of any size with `feed`; call `close` at the end of input.

    `parser` is the line-API parser used for dirty chunks (its `lines` and `oversized` counters
    are kept up to date for the whole stream).
    """

    def __init__(self, clock: Clock, file: str | None = None) -> None:
        self.parser = LogParser(clock, file)
        self.clock = clock
        self.file = file
        self._carry = ""  # text not read yet: held-back lines and a partial last line
        self._next = 1  # number of the first line in `_carry`
        # Lines (numbers) of security events read in bulk that the line API would still hold in
        # its window: what a dirty chunk after a bulk one must know.
        self._secs: list[int] = []
        # security lines `_clean` read, by where their (first) "SecurityEvent=" is in the body it checked:
        # (line start, line end, message start), so `_bulk` finds neither again
        self._starts: dict[int, tuple[int, int, int]] = {}
        self._calls: dict[int, Event] = {}  # call lines `_clean` read, likewise

    def feed(self, text: str) -> list[Event]:
        buf = self._carry + text if self._carry else text
        cut = buf.rfind("\n") + 1
        if cut == 0:
            self._carry = buf
            return []
        self._carry = buf[cut:]
        return self._body(buf[:cut] if cut < len(buf) else buf)

    def close(self) -> list[Event]:
        """Read what is left (a last line without a newline too) and flush."""
        out = self._lines(self._carry) if self._carry else []
        self._carry = ""
        out.extend(self.parser.flush())
        return out

    def _body(self, body: str) -> list[Event]:
        """Complete lines: read all but the last MAX_JOIN in bulk if clean, else all line by line."""
        parser = self.parser
        if parser._pending is not None or parser._dump is not None or parser._call is not None:  # a split goes on
            return self._lines(body)
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
            return self._lines(body)
        self._carry = body[p + 1:] + self._carry
        return self._bulk(body, p + 1)

    def _clean(self, body: str, end: int) -> bool:
        """May `body[:end]` be read in bulk (see the module docstring)? `body` goes on MAX_JOIN lines."""
        self._starts = {}
        self._calls = {}
        if "\x1b" in body or "\r" in body or _has_dump_mark(body) or self.parser._dump is not None:
            return False  # colours, carriage returns, packet dumps: the line API reads them
        find, rfind = body.find, body.rfind
        for pos in range(0, end, _BLOCK):
            if find("\n", pos, pos + _BLOCK) < 0:
                return False  # a long stretch without a newline: maybe an over-long line
        i = find(") to extension '")
        while i >= 0:  # a call line whose dialled number goes on past the line: only the line API joins it
            s = rfind("\n", 0, i) + 1
            e = find("\n", i)
            ms = message_start_in(body, s, e)
            if ms >= 0:
                msg = body[ms:e]
                ev = call_rejected_plain(msg)
                if ev is False:
                    if call_head(msg):
                        return False
                elif ev is not None and pick(msg)[0] is call_rejected:
                    self._calls[s] = ev  # what `_bulk` would read for this line (its first parser): read once
            i = find(") to extension '", e)
        held = self.parser._secs_in_window or self._secs
        i = find('RemoteAddress="IPV')
        while i >= 0:  # a line that may end a split security event (logstream.continues_event)...
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

    def _lines(self, body: str) -> list[Event]:
        """Line by line through the line API, its window primed with the security events read in bulk."""
        parser = self.parser
        first = self._next
        if self._secs:
            last = first - 1
            secs = set(self._secs)
            parser._window = deque([n, "", (), "" if n in secs else None]
                                   for n in range(max(1, last - MAX_JOIN + 1), last + 1))
            parser._secs_in_window = sum(1 for e in parser._window if e[3] is not None)
            self._secs = []
        out: list[Event] = []
        feed = parser.feed
        n = first - 1
        for n, line in enumerate(_lf_lines(body), first):  # noqa: B007 - n is used after the loop
            evs = feed(line, n)
            if evs:
                out.extend(evs)
        self._next = n + 1
        return out

    def _bulk(self, body: str, end: int) -> list[Event]:
        """Events of the clean lines `body[:end]`, in file order, as the line API would give them."""
        parser = self.parser
        first = self._next
        find, rfind = body.find, body.rfind
        # Security events first (pure): one that is not complete on its line makes the chunk dirty.
        secs: dict[int, tuple | None] = {}
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
                    f = parse_plain(body, k, e)
                    if f is False:
                        ev = parse_security_body(body[k:e])
                        f = ev[:13] if ev is not None else None
                    secs[s] = f
                i = find("SecurityEvent=", e, end)
        except Incomplete:
            return self._lines(body[:end])
        starts = set(secs)
        add = starts.add
        for tok in TRIGGERS[:-1]:
            i = find(tok, 0, end)
            while i >= 0:
                add(rfind("\n", 0, i) + 1)
                i = find(tok, find("\n", i), end)
        cands = sorted(starts)
        if parser._window:  # coming from the line API: the clean check showed nothing can rejoin it
            self._secs = [e[0] for e in parser._window if e[3] is not None]
            out = list(parser._drain_window())
        else:
            out = []
        time_at = self.clock.time_at
        file = self.file
        append = out.append
        count = body.count
        lineno = first
        pos = 0
        sec_lines = self._secs
        get = secs.get
        plain = PLAIN.get
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
            if ev is not None:
                append(_new(Event, (time_at(body, s, e),) + ev[1:12] + ("messages", file, lineno)))
                continue
            m = br(body, s, e) if startswith("[", s) else None  # message_start_in's first try, inline
            ms = m.end() if m is not None else message_start_in(body, s, e)
            if ms >= 0:
                msg = body[ms:e]
                for fn in pick(msg):
                    fast = plain(fn)
                    ev = fast(msg) if fast is not None else False
                    if ev is False:
                        ev = fn(msg)
                    if ev is not None:
                        break
            if ev is not None:
                append(_new(Event, (time_at(body, s, e),) + ev[1:12] + ("messages", file, lineno)))
        self._next = lineno + count("\n", pos, end)  # the lines up to `pos` are counted already
        parser.lines = self._next - 1
        if sec_lines:
            edge = self._next - MAX_JOIN
            self._secs = [n for n in sec_lines[-MAX_JOIN:] if n >= edge]
        return out
