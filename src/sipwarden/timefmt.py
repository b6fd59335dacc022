"""Timestamps as PBXs write them, turned into epoch seconds without reading a clock.

Asterisk's default `[%b %e %T]` has no year and a space-padded day; syslog prefixes have no
year either; journald lines have no time at all. A `Clock` holds what a stream needs to
resolve them: the year to assume, the timezone, and the last month seen (for the Dec -> Jan
rollover). It never looks at the wall clock: the caller passes the year (scan: the file's
modification year; daemon: today).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}

# Anchored at the line start (after ANSI colour codes are removed).
_TS = re.compile(
    r"\[(?P<iso>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?)\]"
    r"|\[(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<hms>\d\d:\d\d:\d\d)(?:\.\d+)?\]"
    r"|(?P<iso2>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?)(?P<tz>Z|[+-]\d\d:?\d\d)?"
    r"|(?P<smon>[A-Z][a-z]{2}) +(?P<sday>\d{1,2}) (?P<shms>\d\d:\d\d:\d\d)(?:\.\d+)?"
    r"|(?P<md>\d\d)-(?P<mdd>\d\d) (?P<mdhms>\d\d:\d\d:\d\d(?:\.\d+)?)"
)
# A syslog or journald prefix before Asterisk's own text: "host asterisk[123]: "
_SYSLOG_HOST = re.compile(r" \S+ \S+?(?:\[\d+\])?: ")
# The security log's own EventTV: "2026-11-24T19:29:23.734+0000" or old "1368439853-500975".
_EVENTTV = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?([+-]\d\d):?(\d\d)|(\d{9,11})-(\d{1,6})")


def tz_from_name(name: str | None) -> dt.tzinfo:
    """'UTC', an IANA name like 'Europe/Berlin', or 'local'/None for the host's zone.

    The host's zone is its rules (daylight saving included), not today's offset: a summer log read
    in winter, or a daemon running across a change, must keep lining up with the security log's
    EventTV, which carries its own offset."""
    if name in (None, "", "local"):
        return local_zone()
    if name.upper() == "UTC":
        return dt.UTC
    return ZoneInfo(name)


def local_zone() -> dt.tzinfo:
    """The host's time zone with its rules: $TZ, else /etc/localtime (by its zoneinfo name where it
    links to one), else today's fixed offset as a last resort."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz:
        try:
            return dt.UTC if tz.upper() in ("UTC", "UTC0", "GMT") else ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    try:
        real = os.path.realpath("/etc/localtime")
        if "/zoneinfo/" in real:
            return ZoneInfo(real.split("/zoneinfo/", 1)[1])
        with open("/etc/localtime", "rb") as fh:
            return ZoneInfo.from_file(fh, key="localtime")
    except (OSError, ValueError, ZoneInfoNotFoundError):
        return dt.datetime.now().astimezone().tzinfo or dt.UTC


class Clock:
    """Per-stream time resolver: caches each distinct timestamp text (logs repeat them a lot)."""

    __slots__ = ("year", "tz", "not_after", "_last_month", "_cache", "_hours", "last")

    def __init__(self, year: int, tz: dt.tzinfo = dt.UTC, not_after: float | None = None) -> None:
        """`not_after`: no line can be newer than this (a file's mtime); a year-less time that would
        be later belongs to the year before (a log that began in December, read in January)."""
        self.year = year
        self.not_after = not_after
        self.tz = tz
        self._last_month = 0
        self._cache: dict[str, float] = {}
        self._hours: dict[tuple[int, int, int, int], float | None] = {}
        self.last: float | None = None  # last time resolved on this stream

    def line_time(self, line: str) -> float | None:
        """Time at the start of `line`, or None if it has none (journald)."""
        m = _TS.match(line)
        if m is None:
            return None
        key = m.group(0)
        t = self._cache.get(key)
        if t is None:
            try:
                t = self._resolve(m)
            except (ValueError, OverflowError):  # minute 60, month 13, hour 99: a stamp that is no real time
                return None  # the line has no time, like a journald line; its event is kept
            if len(self._cache) > 8192:
                self._cache.clear()
            self._cache[key] = t
        last = self.last
        if last is not None and t < last - 300 and m.group("tz") is None:
            t = self._second_pass(t, last)
        self.last = t
        return t

    def time_at(self, text: str, pos: int, end: int) -> float | None:
        """`line_time(text[pos:end])` without cutting the line out when its `[...]` stamp is cached.

        A cached key that starts with "[" came from one of the two bracketed forms, which end at the
        first "]": the same text at the start of another line matches the same way.
        """
        if text.startswith("[", pos):
            j = text.find("]", pos, end)
            if j > 0:
                key = text[pos:j + 1]
                t = self._cache.get(key)
                if t is None and j - pos == 16:
                    t = self._bracket_month(key)
                if t is not None:
                    last = self.last
                    if last is not None and t < last - 300:
                        t = self._second_pass(t, last)
                    self.last = t
                    return t
        return self.line_time(text[pos:end])

    def _second_pass(self, t: float, last: float) -> float:
        """`t` read as the repeated hour's second pass when the clock went back (the end of daylight
        saving writes 02:00-02:59 twice): a line an hour earlier than the one before it is the later
        of the two readings if there is one, so lines across the change stay in order."""
        if isinstance(self.tz, dt.timezone):
            return t  # a fixed offset has no repeated hour
        local = dt.datetime.fromtimestamp(t, self.tz)
        later = local.replace(fold=1).timestamp()
        return later if later > t and later >= last - 300 else t

    def _bracket_month(self, key: str) -> float | None:
        """`line_time` for Asterisk's default "[Nov 23 19:00:00]" without the regex, or None: use it.

        A new second costs a zone-free sum on the hour's base (the hour is cached). Same state
        changes as `_resolve` (year rollover, last month, cache), made only once the result is sure.
        """
        if not (key[4] == " " and key[7] == " " and key[10] == ":" and key[13] == ":" and key.isascii()):
            return None
        month = MONTHS.get(key[1:4])
        day = key[5:7] if key[5] != " " else key[6]
        hms = key[8:10] + key[11:13] + key[14:16]
        if month is None or not day.isdecimal() or not hms.isdecimal():
            return None
        imi, isec = int(hms[2:4]), int(hms[4:])
        if imi >= 60 or isec >= 60:
            return None
        year = self.year + 1 if self._last_month == 12 and month == 1 else self.year
        base = self._hour(year, month, int(day), int(hms[:2]))
        if base is None:
            return None
        t = base + imi * 60 + isec
        if self.not_after is not None and t > self.not_after + 86400:
            return None
        self.year = year
        self._last_month = month
        if len(self._cache) > 8192:
            self._cache.clear()
        self._cache[key] = t
        return t

    def _resolve(self, m: re.Match) -> float:
        g = m.groupdict()
        if g["iso"] or g["iso2"]:
            text = (g["iso"] or g["iso2"]).replace("T", " ")
            d = dt.datetime.fromisoformat(text)
            if g["tz"]:
                tzs = g["tz"]
                d = d.replace(tzinfo=dt.UTC if tzs == "Z" else dt.datetime.strptime(tzs.replace(":", ""), "%z").tzinfo)
            else:
                d = d.replace(tzinfo=self.tz)
            self._last_month = d.month
            return d.timestamp()
        if g["mon"] or g["smon"]:
            month = MONTHS.get(g["mon"] or g["smon"], 1)
            day = int(g["day"] or g["sday"])
            hms = g["hms"] or g["shms"]
        else:
            month, day, hms = int(g["md"]), int(g["mdd"]), g["mdhms"]
        if self._last_month == 12 and month == 1:  # Dec -> Jan: a new year began in this stream
            self.year += 1
        self._last_month = month
        h, mi, s = hms.split(":")
        sec = float(s)
        ih, imi, isec = int(h), int(mi), int(sec)
        if imi < 60 and isec < 60:
            base = self._hour(self.year, month, day, ih)
            if base is not None:
                ts = base + imi * 60 + isec
                if self.not_after is None or ts <= self.not_after + 86400:
                    return ts + (sec - isec)
        try:
            d = dt.datetime(self.year, month, day, ih, imi, isec, tzinfo=self.tz)
        except ValueError:  # Feb 29 in a non-leap guess, or garbage digits
            d = dt.datetime(self.year, month, min(day, 28), int(h), int(mi), min(int(sec), 59), tzinfo=self.tz)
        if self.not_after is not None and d.timestamp() > self.not_after + 86400:
            self.year -= 1
            d = d.replace(year=self.year) if not (d.month == 2 and d.day == 29) else d.replace(year=self.year, day=28)
        return d.timestamp() + (sec - int(sec))


    def _hour(self, year: int, month: int, day: int, hour: int) -> float | None:
        """Epoch seconds of the start of a local hour in which the UTC offset does not change, or None.

        Logs stamp every second anew; one zone lookup per hour instead of one per second.
        """
        key = (year, month, day, hour)
        base = self._hours.get(key, 0)
        if base == 0:
            try:
                d0 = dt.datetime(year, month, day, hour, 0, 0, tzinfo=self.tz)
            except ValueError:
                base = None
            else:
                b0 = d0.timestamp()
                base = b0 if d0.replace(minute=59, second=59).timestamp() - b0 == 3599 else None
            if len(self._hours) > 4096:
                self._hours.clear()
            self._hours[key] = base
        return base


_TV_HOURS: dict[str, float | None] = {}  # "2026-11-24T19+0000" -> epoch of 19:00:00 at that offset


def event_tv(text: str) -> float | None:
    """The security log's EventTV in epoch seconds (it carries its own offset).

    Cached per hour and offset (the offset is fixed, so minutes and seconds only add): a busy log
    writes a new second every second, but a new hour rarely.
    """
    if len(text) == 28 and text[19] == "." and text[13] == ":" and text[16] == ":":  # 2026-11-24T19:29:23.734+0000
        key = text[:13] + text[23:]
        base = _TV_HOURS.get(key, 0)
        if base == 0:
            base = _event_tv(text[:13] + ":00:00" + text[23:])
            if len(_TV_HOURS) > 4096:
                _TV_HOURS.clear()
            _TV_HOURS[key] = base
        mi, se, ms = text[14:16], text[17:19], text[20:23]
        if base is not None and mi.isdecimal() and se.isdecimal() and ms.isdecimal():
            m, sec = int(mi), int(se)
            if m < 60 and sec < 60:
                return base + (m * 60 + sec) + int(ms) / 1000
    return _event_tv(text)


def _event_tv(text: str) -> float | None:
    m = _EVENTTV.fullmatch(text)
    if m is None:
        return None
    if m.group(10):
        return int(m.group(10)) + int(m.group(11)) / 1e6
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    frac = float("0." + m.group(7)) if m.group(7) else 0.0
    oh, om = int(m.group(8)), int(m.group(9))
    off = dt.timedelta(hours=abs(oh), minutes=om) * (-1 if m.group(8).startswith("-") else 1)
    try:
        return dt.datetime(y, mo, d, h, mi, s, tzinfo=dt.timezone(off)).timestamp() + frac
    except ValueError:
        return None
