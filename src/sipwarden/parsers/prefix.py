"""Where the PBX's own message text starts on a log line.

Every format's address is read only at the position the PBX itself writes it, and every format
starts right after the line's prefix (time, level, thread, source file). A format found anywhere
else on the line sits inside attacker text (a From, a To, a display name, a peer name): old chan_sip
lines such as "Failed to authenticate device <From>" end in the raw header, so a whole forged line of
another format can follow the real prefix there. Parsers therefore read `line[message_start(line):]`
and match at its start only.
"""

from __future__ import annotations

import re

# Asterisk: [syslog stamp host asterisk[pid]: ] [time] LEVEL[tid][C-callid]: file.c[:line][ [in ]function]:
_ASTERISK = re.compile(
    r"(?:(?:(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?"
    r"(?:Z|[+-]\d\d:?\d\d)?) )?\S+ [\w./-]+(?:\[\d+\])?: )?"
    r"(?:\[[^\]\[]{1,40}\] ?)?"
    r"(?:NOTICE|WARNING|ERROR|SECURITY|VERBOSE|DEBUG|DTMF) ?\[\d+\](?:\[C-[0-9a-fA-F]+\])?:? "
    r"(?:[\w/.-]+(?::\d+)?(?:(?: in)? \w+)?: +|Ext\. [^\"'\n]*?: )?"
    r"(?: *(?:--|==|>) )?"
)
# FreeSWITCH: [syslog prefix ][uuid ][YYYY-]MM-DD HH:MM:SS.us [load% ][LEVEL] [[SOFIA] ][file.c:line] | SOFIA:
_FREESWITCH = re.compile(
    r"(?:(?:(?:\d{4}-\d\d-\d\d[T ]\S+|[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d) )?\S+ [\w./-]+(?:\[\d+\])?: )?"
    r"(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12} )?"
    r"(?:\d{4}-)?\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? (?:\d+(?:\.\d+)?% )?"
    r"\[(?:DEBUG|INFO|NOTICE|WARNING|WARN|ERR|ERROR|CRIT|ALERT|CONSOLE)\] "
    r"(?:\[[A-Z]+\] )?(?:\[[\w.-]+\.c:\d+\] |[\w.-]+\.c:\d+ |[A-Z]+: )"
)
# The usual shape, "[time] LEVEL[tid]... file.c: ", without the syslog alternative (a quarter faster).
_TIME = r"(?:\[[^\]\[]{1,40}\] ?)?"
_BRACKETED = re.compile(_TIME[3:-2] + _ASTERISK.pattern[_ASTERISK.pattern.index(_TIME) + len(_TIME):])
_ast = _ASTERISK.match
_fs = _FREESWITCH.match
_br = _BRACKETED.match
bracketed_match = _br  # the usual shape's own match: the log stream's chunk mode tries it inline, as `message_start_in` does first


def message_start(line: str) -> int:
    """Index where the PBX's message text begins, or -1 when the line has no known prefix."""
    if line[:1] == "[":
        m = _br(line)
        if m is not None:
            return m.end()
    m = _ast(line)
    if m is None:
        m = _fs(line)
        if m is None:
            return -1
    return m.end()


def message_start_in(text: str, pos: int, end: int) -> int:
    """`message_start(text[pos:end]) + pos` (or -1) without cutting the line out (the log stream's chunk mode)."""
    if text.startswith("[", pos):
        m = _br(text, pos, end)
        if m is not None:
            return m.end()
    m = _ast(text, pos, end)
    if m is None:
        m = _fs(text, pos, end)
        if m is None:
            return -1
    return m.end()


def bracketed_at(text: str, pos: int, end: int) -> bool:
    """Does the usual "[time] LEVEL[tid] file.c: " shape match at `pos` (what `message_start_in` tries first)?"""
    return _br(text, pos, end) is not None


def body(line: str) -> str | None:
    """The message text of `line` (see module docstring), or None."""
    ms = message_start(line)
    return line[ms:] if ms >= 0 else None
