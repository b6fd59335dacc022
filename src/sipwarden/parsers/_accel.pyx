# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The log stream's chunk loop, compiled: the same events as the pure-Python loop, far fewer C-API calls.

Optional (the pattern of aiohttp's HTTP parser and PyYAML's libyaml binding): the package runs
without it, and `SIPWARDEN_PURE=1` makes it run without it (sipwarden/compiled.py). `ChunkReader.read`
walks the lines of a clean chunk (see parsers/stream.py) over the str's ASCII buffer and builds
Python objects only for lines that yield an event. What it reads itself is the usual shape only:
the bracketed line prefix, an untampered security event, and the busiest `messages` formats (chan_sip
Registration and Registered SIP, the PJSIP distributor, both Call layouts, AMI's failed logins,
FreePBX's Rejecting), each exactly as its Python reader reads it (`security.parse_plain` and the
careful parser's two chan_sip wordings, `asterisk.*_plain`, the careful `registered`, `manager`,
`freepbx_rejecting`). Any other line that may hold an event (a trigger word in it, or a prefix this
code does not know) is handed to the stream's `_read_line`, the pure-Python reading of one line: so
every decision on unusual (attacker-shaped) text is the pure path's own. A line holding characters
above ASCII goes to the Python line reader; a chunk holding any beyond Latin-1 (a str of two or four
bytes a character) goes to the pure loop whole. `tests/parsers/test_accel.py` holds the two loops equal on ordinary and
hostile lines.
"""

from cpython.ref cimport PyObject, Py_INCREF, Py_DECREF
from cpython.tuple cimport PyTuple_SET_ITEM, PyTuple_GET_ITEM
from libc.string cimport memchr, memcmp, memcpy
from libc.stdlib cimport malloc, realloc, free

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object)
    int PyUnicode_KIND(object)
    enum: PyUnicode_1BYTE_KIND
    void* PyUnicode_DATA(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    object PyUnicode_DecodeASCII(const char*, Py_ssize_t, const char*)
    object PyLong_FromSsize_t(Py_ssize_t)
    object PyFloat_FromDouble(double)
    double PyFloat_AS_DOUBLE(object)
    void PyObject_GC_UnTrack(object)
    ctypedef struct PyTypeObject:
        PyObject* (*tp_alloc)(PyTypeObject*, Py_ssize_t)

from .. import addr as _addr
from .. import timefmt as _timefmt
from ..events import NO_EXTENSION_MATCH, Event, Kind
from . import asterisk as _ast
from . import security as _sec
from .fingerprints import scanner_in as _scanner_in

cdef object _Event = Event
cdef object _normalize = _addr.normalize
cdef object _split_hostport = _addr.split_hostport
cdef object _event_tv_py = _timefmt.event_tv
cdef object _event_tv_exact = _timefmt._event_tv
cdef object _user = _ast._user
cdef dict _TO_SEEN = _ast._TO_SEEN
cdef dict _FROM_SEEN = _ast._FROM_SEEN
cdef object _caller = _ast._caller
cdef object K_CALL = Kind.CALL_REJECTED
cdef str S_SIP = "SIP"
cdef str S_PJSIP = "PJSIP"
cdef str S_REGISTER = "REGISTER"
cdef str S_INVITE = "INVITE"
cdef str S_MESSAGES = "messages"
cdef str S_SECURITY = "security"
cdef str S_UNKNOWN = "<unknown>"
cdef str S_AMI = "AMI"
cdef str S_REGISTERED = "Registered"
cdef str S_REJECTING = "Rejecting unknown SIP connection"
cdef object K_AUTH_OK = Kind.AUTH_OK
cdef tuple AMI_WHAT = ((b"failed to authenticate as", "failed to authenticate as", Kind.AUTH_FAILED),
                       (b"tried to authenticate with nonexistent user", "tried to authenticate with nonexistent user",
                        Kind.UNKNOWN_ACCOUNT),
                       (b"failed to pass IP ACL as", "failed to pass IP ACL as", Kind.ACL_FAILED))
cdef tuple TRANSPORTS = ("UDP", "TCP", "TLS", "WS", "WSS")
cdef dict TR_LOWER = {"UDP": "udp", "TCP": "tcp", "TLS": "tls", "WS": "ws", "WSS": "wss"}
cdef list SIP_REASONS = [(r.encode("ascii"), r, k) for r, k in _ast._SIP_REG_KINDS.items()]  # [(bytes, reason, Kind)]
cdef list PJ_REASONS = [(r.encode("ascii"), r, k) for r, k in _ast._PJ_KINDS.items()]

# Security events this code reads itself: the types with a kind, their tail fields from security.SCHEMA.
cdef list SEC_NAMES = []     # bytes
cdef list SEC_INFO = []      # (name str, Kind, needs a tail, ((b',Key="', required), ...))
for _name, _fields in _sec.SCHEMA.items():
    if _name in _sec.KINDS:
        SEC_NAMES.append(_name.encode("ascii"))
        SEC_INFO.append((_name, _sec.KINDS[_name], _sec._NEEDS_TAIL[_name],
                         tuple(((",%s=\"" % k).encode("ascii"), req) for k, req, _ in _fields)))

cdef dict _NORM = {}  # host text -> normalize(host) (a pure function: caching cannot change an answer)
cdef dict _CTX = {}   # dialplan context -> its CALL_REJECTED detail text


cdef inline bint is_digit(char c) nogil:
    return c >= 48 and c <= 57


cdef inline bint is_word(char c) nogil:  # re's \w on ASCII
    return (c >= 97 and c <= 122) or (c >= 65 and c <= 90) or (c >= 48 and c <= 57) or c == 95


cdef inline bint is_space(char c) nogil:  # re's \s and str.isspace on ASCII
    return c == 32 or (c >= 9 and c <= 13) or (c >= 28 and c <= 31)


cdef inline Py_ssize_t find_char(const char* b, Py_ssize_t s, Py_ssize_t e, char c) nogil:
    if s >= e:
        return -1
    cdef const char* p = <const char*>memchr(b + s, c, e - s)
    return -1 if p == NULL else p - b


cdef inline Py_ssize_t find(const char* b, Py_ssize_t s, Py_ssize_t e, const char* n, Py_ssize_t nl) nogil:
    """First index of needle `n` in b[s:e], or -1 (str.find): memchr for its first byte, then a compare.
    (Faster here than memmem, whose set-up per call costs more than the short hops between matches.)"""
    cdef Py_ssize_t last = e - nl
    cdef const char* p
    while s <= last:
        p = <const char*>memchr(b + s, n[0], last - s + 1)
        if p == NULL:
            return -1
        s = p - b
        if memcmp(p, n, nl) == 0:
            return s
        s += 1
    return -1


cdef inline Py_ssize_t rfind(const char* b, Py_ssize_t s, Py_ssize_t e, const char* n, Py_ssize_t nl) nogil:
    cdef Py_ssize_t i = e - nl
    while i >= s:
        if b[i] == n[0] and memcmp(b + i, n, nl) == 0:
            return i
        i -= 1
    return -1


cdef inline bint starts(const char* b, Py_ssize_t i, Py_ssize_t e, const char* n, Py_ssize_t nl) nogil:
    return e - i >= nl and memcmp(b + i, n, nl) == 0


cdef Py_ssize_t bracket_prefix(const char* b, Py_ssize_t s, Py_ssize_t e) nogil:
    """End of prefix.bracketed_match(text, s, e) on an ASCII line, or -1 (no match, or not sure).

    `\\[[^\\]\\[]{1,40}\\] ?(?:NOTICE|WARNING|ERROR|SECURITY|VERBOSE|DEBUG|DTMF) ?\\[\\d+\\](?:\\[C-hex+\\])?:? `
    then the optional `[\\w/.-]+(?::\\d+)?(?:(?: in)? \\w+)?: +` or `Ext\\. [^"'\\n]*?: `, then the
    optional `(?: *(?:--|==|>) )?`: greedy runs that stop at a character the next token cannot
    start with, so the only choices are the optional groups, tried in the regex's order.
    """
    cdef Py_ssize_t p, j, q, q2, q3, r
    cdef int port_opt, fn_opt
    cdef char c
    if s >= e or b[s] != 91:  # '['
        return -1
    j = s + 1
    while j < e and j - s <= 41 and b[j] != 93 and b[j] != 91:
        j += 1
    if j >= e or b[j] != 93 or j - s - 1 < 1 or j - s - 1 > 40:
        return -1
    p = j + 1
    if p < e and b[p] == 32:
        p += 1
    if p >= e:
        return -1
    c = b[p]  # the levels' first letters tell them apart (D: DEBUG or DTMF)
    if c == 78 and starts(b, p, e, b"NOTICE", 6):
        p += 6
    elif c == 86 and starts(b, p, e, b"VERBOSE", 7):
        p += 7
    elif c == 83 and starts(b, p, e, b"SECURITY", 8):
        p += 8
    elif c == 87 and starts(b, p, e, b"WARNING", 7):
        p += 7
    elif c == 69 and starts(b, p, e, b"ERROR", 5):
        p += 5
    elif c == 68 and starts(b, p, e, b"DEBUG", 5):
        p += 5
    elif c == 68 and starts(b, p, e, b"DTMF", 4):
        p += 4
    else:
        return -1
    if p < e and b[p] == 32:
        p += 1
    if p >= e or b[p] != 91:
        return -1
    p += 1
    q = p
    while q < e and is_digit(b[q]):
        q += 1
    if q == p or q >= e or b[q] != 93:
        return -1
    p = q + 1
    if starts(b, p, e, b"[C-", 3):  # (?:\[C-[0-9a-fA-F]+\])?
        q = p + 3
        while q < e and ((b[q] >= 48 and b[q] <= 57) or (b[q] >= 97 and b[q] <= 102) or (b[q] >= 65 and b[q] <= 70)):
            q += 1
        if q > p + 3 and q < e and b[q] == 93:
            p = q + 1
    if p < e and b[p] == 58:  # :?
        p += 1
    if p >= e or b[p] != 32:
        return -1
    p += 1
    # the optional file[:line][ [in ]function]: group, or "Ext. ...: "
    r = -1
    q = p
    while q < e and (is_word(b[q]) or b[q] == 47 or b[q] == 46 or b[q] == 45):
        q += 1
    if q > p:
        for port_opt in range(2):
            q2 = q
            if port_opt == 0:
                if q2 < e and b[q2] == 58 and q2 + 1 < e and is_digit(b[q2 + 1]):
                    q2 += 1
                    while q2 < e and is_digit(b[q2]):
                        q2 += 1
                else:
                    continue
            for fn_opt in range(3):
                q3 = q2
                if fn_opt == 0:  # " in" " \w+"
                    if starts(b, q3, e, b" in ", 4) and q3 + 4 < e and is_word(b[q3 + 4]):
                        q3 += 4
                        while q3 < e and is_word(b[q3]):
                            q3 += 1
                    else:
                        continue
                elif fn_opt == 1:  # " \w+"
                    if q3 + 1 < e and b[q3] == 32 and is_word(b[q3 + 1]):
                        q3 += 1
                        while q3 < e and is_word(b[q3]):
                            q3 += 1
                    else:
                        continue
                if q3 + 1 < e and b[q3] == 58 and b[q3 + 1] == 32:
                    q3 += 1
                    while q3 < e and b[q3] == 32:
                        q3 += 1
                    r = q3
                    break
            if r >= 0:
                break
    if r < 0 and starts(b, p, e, b"Ext. ", 5):
        q = p + 5
        while q < e:
            if b[q] == 58 and q + 1 < e and b[q + 1] == 32:
                r = q + 2
                break
            if b[q] == 34 or b[q] == 39 or b[q] == 10:
                break
            q += 1
    if r >= 0:
        p = r
    # (?: *(?:--|==|>) )?
    q = p
    while q < e and b[q] == 32:
        q += 1
    if starts(b, q, e, b"-- ", 3) or starts(b, q, e, b"== ", 3):
        return q + 3
    if starts(b, q, e, b"> ", 2):
        return q + 2
    return p


cdef bint has_trigger(list trig, const char* b, Py_ssize_t s, Py_ssize_t e):
    cdef bytes t
    for t in trig:
        if find(b, s, e, t, len(t)) >= 0:
            return True
    return False


cdef inline bint high(const char* b, Py_ssize_t s, Py_ssize_t e) nogil:
    """Does b[s:e] hold a character above ASCII (a Latin-1 text's)? The compiled readers leave such a
    line to the Python ones (re's \\w, \\s, str.isdigit... answer otherwise for them)."""
    while s < e:
        if <unsigned char>b[s] >= 128:
            return True
        s += 1
    return False


cdef inline Py_ssize_t rfind_char(const char* b, Py_ssize_t s, Py_ssize_t e, char c) nogil:
    """Last index of `c` in b[s:e], or -1 (str.rfind)."""
    e -= 1
    while e >= s:
        if b[e] == c:
            return e
        e -= 1
    return -1


cdef inline str text(const char* b, Py_ssize_t s, Py_ssize_t e):
    """b[s:e] as str (empty when e <= s, as a slice is)."""
    return PyUnicode_DecodeASCII(b + s, e - s, NULL) if e > s else ""


cdef object norm(str host):
    """addr.normalize, cached here (None: not an address)."""
    cdef object r = _NORM.get(host, _NORM)
    if r is _NORM:
        r = _normalize(host)
        if len(_NORM) >= 65536:
            _NORM.clear()
        _NORM[host] = r
    return r


cdef object port_of(const char* b, Py_ssize_t s, Py_ssize_t e):
    """int(digits) as a port: n if 0 < n < 65536 else None (digits known to be ASCII decimal, non-empty)."""
    cdef long n = 0
    while s < e - 1 and b[s] == 48:
        s += 1
    if e - s > 5:
        return None
    while s < e:
        n = n * 10 + (b[s] - 48)
        s += 1
    return n if 0 < n < 65536 else None


cdef object hostport(const char* b, Py_ssize_t s, Py_ssize_t e, bint port_expected):
    """asterisk._hostport(b[s:e], port_expected): (host, port), or None when not an address."""
    cdef Py_ssize_t c = find_char(b, s, e, 58), i
    cdef object host
    if c >= 0 and c > s and is_digit(b[s]) and c + 1 < e:
        i = c + 1
        while i < e and is_digit(b[i]):
            i += 1
        if i == e:
            host = norm(text(b, s, c))
            if host is None:
                return None
            return (host, port_of(b, c + 1, e))
    return _split_hostport(text(b, s, e), port_expected)


cdef class _Reader:
    """One call's state: the buffer, the clock and what it last answered, the last EventTV hour."""
    cdef const char* b
    cdef object body
    cdef object clock
    cdef dict cache  # the clock's own cache of stamps (Clock._cache)
    cdef object not_after
    cdef char key[48]  # the last `[...]` stamp read, and its time
    cdef Py_ssize_t klen
    cdef object t
    cdef char hour[11]  # "[Nov 23 19:" of the last stamp the clock resolved here, and that hour's base
    cdef bint hour_ok
    cdef double base
    cdef char tvkey[18]
    cdef bint tvset
    cdef object tvbase
    cdef bint latin  # the text holds characters above ASCII (a one-byte kind all the same)

    def __cinit__(self, str body, object clock):
        self.body = body
        self.b = <const char*>PyUnicode_DATA(body)
        self.latin = not PyUnicode_IS_ASCII(body)
        self.clock = clock
        if clock is not None:
            self.cache = clock._cache
            self.not_after = clock.not_after

    cdef object line_time(self, Py_ssize_t s, Py_ssize_t e):
        """clock.time_at(body, s, e). The same `[...]` stamp as the previous call gives the same answer
        (the clock's state after that call makes it so); a new one is read as the clock reads it."""
        cdef Py_ssize_t j, n
        if self.b[s] == 91 and not (self.latin and high(self.b, s, e)):
            j = find_char(self.b, s, e, 93)
            n = j - s + 1
            if j > 0 and n <= 48:
                if n == self.klen and memcmp(self.b + s, self.key, n) == 0:
                    return self.t
                self.t = self.time_at(s, j, e)
                memcpy(self.key, self.b + s, n)
                self.klen = n
                return self.t
        self.klen = 0
        self.hour_ok = False
        return self.clock.time_at(self.body, s, e)

    cdef object time_at(self, Py_ssize_t s, Py_ssize_t j, Py_ssize_t e):
        """Clock.time_at for a line whose stamp is b[s:j + 1]: the same steps, the same state changes."""
        cdef object clock = self.clock, t, last
        cdef str key = text(self.b, s, j + 1)
        t = self.cache.get(key)
        if t is None and j - s == 16:
            t = self.bracket_month(key, s)
        if t is not None:
            last = clock.last
            if last is not None and t < last - 300:
                t = clock._second_pass(t, last)
            clock.last = t
            return t
        self.hour_ok = False
        return clock.line_time(text(self.b, s, e))

    cdef object bracket_month(self, str key, Py_ssize_t s):
        """Clock._bracket_month(key) for "[Nov 23 19:00:00]". Within the hour the clock resolved last
        here, its year and month are what that call left (nothing else ran the clock since): the
        answer is the hour's base plus the minutes and seconds, and the only state change the
        cache entry."""
        cdef const char* b = self.b
        cdef int mi, se
        cdef double t
        cdef object r
        if (self.hour_ok and memcmp(b + s, self.hour, 11) == 0 and b[s + 13] == 58 and is_digit(b[s + 11])
                and is_digit(b[s + 12]) and is_digit(b[s + 14]) and is_digit(b[s + 15])):
            mi = (b[s + 11] - 48) * 10 + b[s + 12] - 48
            se = (b[s + 14] - 48) * 10 + b[s + 15] - 48
            if mi < 60 and se < 60:
                t = self.base + <double>(mi * 60) + <double>se
                if self.not_after is None or not t > <double>(self.not_after + 86400):
                    r = PyFloat_FromDouble(t)
                    if len(self.cache) > 8192:
                        self.cache.clear()
                    self.cache[key] = r
                    return r
        r = self.clock._bracket_month(key)
        self.hour_ok = False
        if r is not None:  # remember the hour: its base is the answer less the minutes and seconds
            mi = (b[s + 11] - 48) * 10 + b[s + 12] - 48
            se = (b[s + 14] - 48) * 10 + b[s + 15] - 48
            self.base = PyFloat_AS_DOUBLE(r) - <double>(mi * 60) - <double>se
            if self.base + <double>(mi * 60) + <double>se == PyFloat_AS_DOUBLE(r):
                memcpy(self.hour, b + s, 11)
                self.hour_ok = True
        return r

    cdef object event_tv(self, Py_ssize_t s, Py_ssize_t e):
        """timefmt.event_tv(b[s:e]) (same arithmetic), the hour's base cached."""
        cdef const char* b = self.b
        cdef int mi, se, ms
        if e - s == 28 and b[s + 19] == 46 and b[s + 13] == 58 and b[s + 16] == 58:
            if not (self.tvset and memcmp(self.tvkey, b + s, 13) == 0 and memcmp(self.tvkey + 13, b + s + 23, 5) == 0):
                self.tvbase = _event_tv_exact(text(b, s, s + 13) + ":00:00" + text(b, s + 23, e))
                memcpy(self.tvkey, b + s, 13)
                memcpy(self.tvkey + 13, b + s + 23, 5)
                self.tvset = True
            if (self.tvbase is not None and is_digit(b[s + 14]) and is_digit(b[s + 15]) and is_digit(b[s + 17])
                    and is_digit(b[s + 18]) and is_digit(b[s + 20]) and is_digit(b[s + 21]) and is_digit(b[s + 22])):
                mi = (b[s + 14] - 48) * 10 + b[s + 15] - 48
                se = (b[s + 17] - 48) * 10 + b[s + 18] - 48
                ms = (b[s + 20] - 48) * 100 + (b[s + 21] - 48) * 10 + b[s + 22] - 48
                if mi < 60 and se < 60:
                    return PyFloat_FromDouble(PyFloat_AS_DOUBLE(self.tvbase) + <double>(mi * 60 + se) + <double>ms / 1000.0)
        return _event_tv_py(text(b, s, e))

    cdef object security(self, Py_ssize_t k, Py_ssize_t e):
        """What security.read_security(body, k, e) gives (its 13 fields) for an untampered event of the plain
        shape: parse_plain's reading, or the careful parser's where parse_plain declines the two chan_sip
        events it words apart (they are read on the same shape); else None."""
        cdef const char* b = self.b
        cdef Py_ssize_t p = k + 15, q, evs, eve, tvs, tve, svs, sve, acs, ace, trs, tre, hs, he, ps, pe, tail
        cdef Py_ssize_t hl, v
        cdef int idx = -1, i
        cdef bytes nm, head
        cdef tuple info
        cdef object ip, account, svc, tr
        if not starts(b, k, e, b'SecurityEvent="', 15):
            return None
        q = p
        while q < e and ((b[q] >= 65 and b[q] <= 90) or (b[q] >= 97 and b[q] <= 122)):
            q += 1
        if q == p or not starts(b, q, e, b'",EventTV="', 11):
            return None
        evs, eve = p, q
        tvs = q + 11
        tve = find_char(b, tvs, e, 34)
        if tve < 0 or not starts(b, tve, e, b'",Severity="', 12):
            return None
        q = tve + 12
        while q < e and ((b[q] >= 65 and b[q] <= 90) or (b[q] >= 97 and b[q] <= 122)):
            q += 1
        if not starts(b, q, e, b'",Service="', 11):
            return None
        svs = q + 11
        sve = find_char(b, svs, e, 34)
        if sve < 0 or not starts(b, sve, e, b'",EventVersion="', 16):
            return None
        q = sve + 16
        p = q
        while q < e and is_digit(b[q]):
            q += 1
        if q == p or not starts(b, q, e, b'",AccountID="', 13):
            return None
        acs = q + 13
        ace = find_char(b, acs, e, 34)
        if ace < 0 or not starts(b, ace, e, b'",SessionID="', 13):
            return None
        q = find_char(b, ace + 13, e, 34)
        if q < 0 or not starts(b, q, e, b'",LocalAddress="IPV', 19) or q + 20 >= e or (b[q + 19] != 52 and b[q + 19] != 54):
            return None
        q = addr_rest(b, q + 20, e, NULL)
        if q < 0 or not starts(b, q, e, b',RemoteAddress="IPV', 19) or q + 20 >= e or (b[q + 19] != 52 and b[q + 19] != 54):
            return None
        trs = q + 21
        cdef Py_ssize_t parts[4]
        tail = addr_rest(b, q + 20, e, parts)
        if tail < 0:
            return None
        tre, hs, he, ps = parts[0], parts[1], parts[2], parts[3]
        pe = tail - 1
        if find(b, tail, e, b'RemoteAddress="', 15) >= 0:
            return None
        nm = b[evs:eve]
        for i in range(len(SEC_NAMES)):
            if SEC_NAMES[i] == nm:
                idx = i
                break
        if idx < 0:
            return None
        info = SEC_INFO[idx]
        cdef bint chal = False, hashed = False, noext = False  # Challenge, ReceivedHash set; ACLName no_extension_match
        q = tail
        while q < e and (b[q] == 32 or b[q] == 9):
            q += 1
        if q < e:  # a tail that is not blank: its fields in the schema's order, values without quotes
            q = tail
            for head, req in info[3]:
                hl = len(head)
                if starts(b, q, e, head, hl):
                    v = find_char(b, q + hl, e, 34)
                    if v < 0:
                        return None
                    if v > q + hl and head == b',Challenge="':
                        chal = True
                    elif v > q + hl and head == b',ReceivedHash="':
                        hashed = True
                    elif head == b',ACLName="' and v - q - hl == 18 and memcmp(b + q + hl, b"no_extension_match", 18) == 0:
                        noext = True
                    q = v + 1
                elif req:
                    return None
            while q < e and (b[q] == 32 or b[q] == 9):
                q += 1
            if q < e:
                return None
        elif info[2]:
            return None
        ip = norm(text(b, hs, he))
        if ip is None:
            return None
        svc = S_SIP if (sve - svs == 3 and memcmp(b + svs, b"SIP", 3) == 0) else \
            S_PJSIP if (sve - svs == 5 and memcmp(b + svs, b"PJSIP", 5) == 0) else text(b, svs, sve)
        account = text(b, acs, ace)
        tr = text(b, trs, tre)
        tr = TR_LOWER.get(tr) or tr.lower()
        # the careful parser's readings of two chan_sip events (security._event), on this plain shape
        if svc is S_SIP and info[0] == "FailedACL" and noext:  # a call to a missing extension
            return (self.event_tv(tvs, tve), ip, K_CALL, port_of(b, ps, pe), tr, svc, None, account or None, None,
                    None, None, NO_EXTENSION_MATCH, S_SECURITY)
        if svc is S_SIP and info[0] == "InvalidPassword" and not chal and not hashed:  # an unauthenticated INVITE
            return (self.event_tv(tvs, tve), ip, K_CALL, port_of(b, ps, pe), tr, svc, None, account, None, None,
                    None, info[0], S_SECURITY)
        if ace == acs or account == S_UNKNOWN:
            account = None
        return (self.event_tv(tvs, tve), ip, info[1], port_of(b, ps, pe), tr, svc, account, None, None, None, None,
                info[0], S_SECURITY)

    cdef object registration(self, const char* b, Py_ssize_t m, Py_ssize_t e):
        """asterisk.chan_sip_registration_plain(b[m:e]) when it answers, else None."""
        cdef Py_ssize_t i, a, q
        cdef object kind = None, reason = None, hp, acct
        cdef str to
        cdef bytes rb
        i = rfind(b, m, e, b"' failed for '", 14)
        if i < m + 19:
            return None
        a = i + 14
        q = find_char(b, a, e, 39)
        if q <= a or not starts(b, q, e, b"' - ", 4):
            return None
        for rb, r, kd in SIP_REASONS:
            if e - q - 4 == len(rb) and memcmp(b + q + 4, <const char*>rb, e - q - 4) == 0:
                reason, kind = r, kd
                break
        if kind is None:
            return None
        hp = hostport(b, a, q, False)
        if hp is None:
            return None
        to = text(b, m + 19, i)
        acct = _TO_SEEN.get(to, False)
        if acct is False:
            if len(_TO_SEEN) >= 4096:
                _TO_SEEN.clear()
            acct = _TO_SEEN[to] = _user(to)
        return (None, hp[0], kind, hp[1], None, S_SIP, acct, None, S_REGISTER, None, None, reason, S_MESSAGES)

    cdef object distributor(self, const char* b, Py_ssize_t m, Py_ssize_t e):
        """asterisk.pjsip_distributor_plain(b[m:e]) when it answers, else None."""
        cdef Py_ssize_t h, mq, c, a, q, d, k, i, t, z
        cdef object method = None, kind = None, reason = None, hp, info
        cdef str frm
        cdef bytes rb
        if starts(b, m + 8, e, b"from '", 6):
            h = m + 14
        elif m + 8 < e and b[m + 8] == 39:
            mq = find(b, m + 9, e, b"' from '", 8)
            if mq <= m + 9:
                return None
            for i in range(m + 9, mq):
                if not (b[i] >= 65 and b[i] <= 90):
                    return None
            method = text(b, m + 9, mq)
            h = mq + 8
        else:
            return None
        c = find(b, h, e, b"' failed for '", 14)
        if c < 0 or find(b, c + 1, e, b"' failed for '", 14) >= 0:
            return None
        a = c + 14
        q = find_char(b, a, e, 39)
        if q <= a or not starts(b, q, e, b"' (callid: ", 11):
            return None
        d = rfind(b, m, e, b") - ", 4)
        if d < q + 11:
            return None
        for rb, r, kd in PJ_REASONS:
            if e - d - 4 == len(rb) and memcmp(b + d + 4, <const char*>rb, len(rb)) == 0:
                reason, kind = r, kd
                break
        if kind is None:  # REASON after N tries in T ms
            k = find(b, d + 4, e, b" after ", 7)
            if k <= d + 4:
                return None
            for rb, r, kd in PJ_REASONS:
                if k - d - 4 == len(rb) and memcmp(b + d + 4, <const char*>rb, len(rb)) == 0:
                    reason, kind = r, kd
                    break
            if kind is None:
                return None
            t = find(b, k + 7, e, b" tries in ", 10)
            if t < 0 or t == k + 7:
                return None
            for i in range(k + 7, t):
                if not is_digit(b[i]):
                    return None
            if e - (t + 10) < 3 or not starts(b, e - 3, e, b" ms", 3):
                return None
            z = 0
            for i in range(t + 10, e - 3):
                if is_digit(b[i]):
                    z += 1
                elif b[i] != 46:
                    return None
            if z == 0:
                return None
        hp = hostport(b, a, q, True)
        if hp is None:
            return None
        frm = text(b, h, c)
        info = _FROM_SEEN.get(frm)
        if info is None:
            if len(_FROM_SEEN) >= 4096:
                _FROM_SEEN.clear()
            info = _FROM_SEEN[frm] = (_user(frm), _scanner_in(frm))
        return (None, hp[0], kind, hp[1], None, S_PJSIP, info[0], None, method, None, info[1], reason, S_MESSAGES)

    cdef object call(self, const char* b, Py_ssize_t m, Py_ssize_t e):
        """asterisk.call_rejected_plain(b[m:e]) when it answers, else None."""
        cdef Py_ssize_t x, o, j, i, ee, r, ce, z, colon, as_, ae
        cdef bint named
        cdef object tr = None, hp, caller, detail
        cdef str ctx
        x = find(b, m, e, b") to extension '", 16)
        if x < 0 or find(b, x + 1, e, b") to extension '", 16) >= 0:
            return None
        o = x - 1
        while o >= m and b[o] != 40:
            o -= 1
        if o < m:
            return None
        named = not starts(b, m, e, b"Call from '", 11)
        if named:
            j = find(b, m, e, b": Call (", 8)
            if j <= m or j + 7 != o:
                return None
            for i in range(m, j):
                if b[i] <= 32 or b[i] >= 127 or b[i] == 39 or b[i] == 34:
                    return None
        elif o - m < 12 or b[o - 2] != 39 or b[o - 1] != 32:
            return None
        if x == o + 1:
            return None
        for i in range(o + 1, x):
            if b[i] <= 32 or b[i] >= 127 or b[i] == 41:
                return None
        ee = x + 16
        r = find(b, ee, e, b"' rejected because extension not found in context '", 51)
        if r < 0 or find_char(b, ee, r, 39) >= 0:
            return None
        ce = r + 51
        z = find_char(b, ce, e, 39)
        if z < 0 or not (z == e - 1 or (z == e - 2 and b[e - 1] == 46)):
            return None
        as_, ae = o + 1, x
        colon = find_char(b, o + 1, x, 58)
        if colon > o + 1:
            head = text(b, o + 1, colon)
            if head in TRANSPORTS:
                tr = head
                as_ = colon + 1
                if as_ == ae:
                    return None
        hp = hostport(b, as_, ae, True)
        if hp is None:
            return None
        caller = _caller(text(b, m, o - 7) if named else text(b, m + 11, o - 2))
        ctx = text(b, ce, z)
        detail = _CTX.get(ctx)
        if detail is None:
            if len(_CTX) >= 4096:
                _CTX.clear()
            detail = _CTX[ctx] = f"extension not found in context '{ctx}'"
        return (None, hp[0], K_CALL, hp[1], TR_LOWER[tr] if tr is not None else None,
                S_PJSIP if tr is not None or named else S_SIP, caller, text(b, ee, r), S_INVITE, None, None, detail,
                S_MESSAGES)


    cdef object registered(self, const char* b, Py_ssize_t m, Py_ssize_t e):
        """asterisk.registered(b[m:e]) (its regex, `Registered SIP '(acct)' at (addr)[ port N]\\s*$`)
        when the text is that shape; else None (then the pure parsers read it)."""
        cdef Py_ssize_t a, q, p, d, t
        cdef object hp, port = None
        if not starts(b, m, e, b"Registered SIP '", 16):
            return None
        q = find_char(b, m + 16, e, 39)
        if q < 0 or not starts(b, q, e, b"' at ", 5):
            return None
        a = q + 5
        p = a
        while p < e and not is_space(b[p]) and b[p] != 39:
            p += 1
        if p == a:
            return None
        t = p
        if starts(b, p, e, b" port ", 6):
            d = p + 6
            while d < e and d - (p + 6) < 5 and is_digit(b[d]):
                d += 1
            if d > p + 6:
                t = d
                while t < e and is_space(b[t]):
                    t += 1
                if t == e:
                    port = port_of(b, p + 6, d)
                    hp = hostport(b, a, p, False)
                    if hp is None:
                        return None
                    return (None, hp[0], K_AUTH_OK, port, None, S_SIP, text(b, m + 16, q), None, S_REGISTER, None,
                            None, S_REGISTERED, S_MESSAGES)
            t = p
        while t < e and is_space(b[t]):
            t += 1
        if t != e:
            return None
        hp = hostport(b, a, p, True)
        if hp is None:
            return None
        return (None, hp[0], K_AUTH_OK, hp[1], None, S_SIP, text(b, m + 16, q), None, S_REGISTER, None, None,
                S_REGISTERED, S_MESSAGES)

    cdef object rejecting(self, const char* b, Py_ssize_t m, Py_ssize_t e):
        """asterisk.freepbx_rejecting(b[m:e]) (its regex: `"?Rejecting unknown SIP connection from (addr)"?\\s*$`)
        when the text is that shape; else None."""
        cdef Py_ssize_t p = m + 1 if m < e and b[m] == 34 else m, a, t
        cdef object hp
        if not starts(b, p, e, b"Rejecting unknown SIP connection from ", 38):
            return None
        a = p + 38
        t = a
        while t < e and not is_space(b[t]) and b[t] != 34:
            t += 1
        if t == a:
            return None
        p = t + 1 if t < e and b[t] == 34 else t
        while p < e and is_space(b[p]):
            p += 1
        if p != e:
            return None
        hp = hostport(b, a, t, False)
        if hp is None:
            return None
        return (None, hp[0], K_CALL, hp[1], None, S_SIP, None, None, None, None, None, S_REJECTING, S_MESSAGES)

    cdef object manager(self, const char* b, Py_ssize_t m, Py_ssize_t e):
        """asterisk.manager(b[m:e]) (its regex: `ADDR (what) '(acct)'\\s*$`, the account up to the last
        quote) when the text is that shape; else None."""
        cdef Py_ssize_t p = m, w, o, q, t
        cdef object hp, kind = None, what = None
        cdef bytes wb
        while p < e and not is_space(b[p]) and b[p] != 39:
            p += 1
        if p == m or p >= e or b[p] != 32:
            return None
        for wb, ws, kd in AMI_WHAT:
            if starts(b, p + 1, e, wb, len(wb)):
                what, kind = ws, kd
                w = p + 1 + len(wb)
                break
        if what is None or not starts(b, w, e, b" '", 2):
            return None
        o = w + 1
        q = e - 1
        while q > o and b[q] != 39:
            q -= 1
        if q <= o:
            return None
        t = q + 1
        while t < e and is_space(b[t]):
            t += 1
        if t != e:
            return None
        hp = hostport(b, m, p, False)
        if hp is None:
            return None
        return (None, hp[0], kind, hp[1], None, S_AMI, text(b, o + 1, q), None, None, None, None, what, S_MESSAGES)


cdef Py_ssize_t addr_rest(const char* b, Py_ssize_t q, Py_ssize_t e, Py_ssize_t* parts):
    """After `...Address="IPV4`: `/[A-Z]+/[^"/]*/\\d+"`; returns the index after the closing quote, or -1.
    `parts`: (transport end, host start, host end, port start), the transport starting at q + 1."""
    cdef Py_ssize_t t, h, he, p
    if q >= e or b[q] != 47:
        return -1
    t = q + 1
    while t < e and b[t] >= 65 and b[t] <= 90:
        t += 1
    if t == q + 1 or t >= e or b[t] != 47:
        return -1
    h = t + 1
    he = h
    while he < e and b[he] != 34 and b[he] != 47:
        he += 1
    if he >= e or b[he] != 47:
        return -1
    p = he + 1
    q = p
    while q < e and is_digit(b[q]):
        q += 1
    if q == p or q >= e or b[q] != 34:
        return -1
    if parts != NULL:
        parts[0] = t
        parts[1] = h
        parts[2] = he
        parts[3] = p
    return q + 1


cdef struct Rec:
    Py_ssize_t s
    Py_ssize_t e
    Py_ssize_t lineno
    int kind  # 1: a messages event (time from the line); 2: a security line (event or none)
    PyObject* obj  # owned: an Event with its time slot None (kind 2: NULL when the line says nothing)


cdef object new_event(object f, Py_ssize_t n, object tail1, object tail2, object tail3):
    """An Event of f[:13] + (file, line) (n == 13: security fields), or of (None,) + f[1:12] + (tail1, file,
    line) (n == 12: a messages event); a None time slot is filled once the line's time is known."""
    cdef PyObject* o = (<PyTypeObject*>_Event).tp_alloc(<PyTypeObject*>_Event, 15)
    if o == NULL:
        raise MemoryError()
    cdef object ev = <object>o
    Py_DECREF(ev)
    PyObject_GC_UnTrack(ev)  # it refers to strings, numbers and Kinds only: never in a cycle, nothing for the GC
    cdef Py_ssize_t i
    cdef object v
    v = <object>PyTuple_GET_ITEM(f, 0) if n == 13 else None
    Py_INCREF(v)
    PyTuple_SET_ITEM(ev, 0, v)
    for i in range(1, n):
        v = <object>PyTuple_GET_ITEM(f, i)
        Py_INCREF(v)
        PyTuple_SET_ITEM(ev, i, v)
    if n == 12:
        Py_INCREF(tail1)
        PyTuple_SET_ITEM(ev, 12, tail1)
    Py_INCREF(tail2)
    PyTuple_SET_ITEM(ev, 13, tail2)
    Py_INCREF(tail3)
    PyTuple_SET_ITEM(ev, 14, tail3)
    return ev


cdef class ChunkReader:
    """The stream's chunk loop over one clean chunk, compiled (`read`), and its cleanliness check
    (`clean`). Built once by the stream with its own tables: the trigger words, the message starts
    it dispatches by, its window sizes; `pick` is checked to send the three formats read here to
    the parsers whose fast readers this code mirrors."""
    cdef list trig
    cdef set starts4
    cdef set starts3
    cdef unsigned char first2[65536]  # the first two characters of every start: most messages fail this
    cdef Py_ssize_t max_join, reach, block

    def __init__(self, triggers, starts, Py_ssize_t max_join, Py_ssize_t reach, Py_ssize_t block, pick):
        self.trig = [t.encode("ascii") for t in triggers]
        self.starts4 = {k.encode("ascii") for k in starts if len(k) == 4}
        self.starts3 = {k.encode("ascii") for k in starts if len(k) == 3}
        cdef bytes k2
        for k2 in self.starts4 | self.starts3:
            self.first2[(<unsigned char>k2[0]) << 8 | <unsigned char>k2[1]] = 1
        self.max_join, self.reach, self.block = max_join, reach, block
        for msg, fn in (("Registration from '", _ast.chan_sip_registration), ("Request ", _ast.pjsip_distributor),
                        ("Call from '", _ast.call_rejected), ("anonymous: Call (", _ast.call_rejected),
                        ("1.2.3.4 failed to authenticate as '", _ast.manager),
                        ("Rejecting unknown SIP connection from ", _ast.freepbx_rejecting),
                        ('"Rejecting unknown SIP connection from ', _ast.freepbx_rejecting)):
            if not pick(msg) or pick(msg)[0] is not fn:
                raise RuntimeError(f"the compiled reader's formats no longer match the stream's: {msg!r}")
        if pick("Registered SIP '") != (_ast.chan_sip_registration, _ast.registered):
            raise RuntimeError("the compiled reader's formats no longer match the stream's: 'Registered SIP'")
        for fn in (_ast.chan_sip_registration, _ast.pjsip_distributor, _ast.call_rejected):
            if fn not in _ast.PLAIN:
                raise RuntimeError(f"the compiled reader mirrors a fast reader {fn.__name__} no longer has")

    def clean(self, str body, Py_ssize_t end, bint held, object line_cont, object call_dirty):
        """`LogStream._clean(body, end)` (but for its packet-dump state): may body[:end] be read in chunk
        mode? None when `body` is not one byte a character. `line_cont(s, e)`: may the line body[s:e] end a split
        security event (the pure check); `call_dirty(s, e)`: is that call line cut short (likewise)."""
        if PyUnicode_KIND(body) != PyUnicode_1BYTE_KIND:
            return None
        cdef _Reader rd = _Reader(body, None)
        cdef const char* b = rd.b
        cdef Py_ssize_t n = PyUnicode_GET_LENGTH(body), pos, i, s, e, k, ms, lo
        cdef bint cont
        cdef int step
        if memchr(b, 27, n) != NULL or memchr(b, 13, n) != NULL or find(b, 0, n, b"<--- ", 5) >= 0:
            return False  # colours, carriage returns, packet dumps
        for pos in range(0, end, self.block):
            if find_char(b, pos, min(pos + self.block, n), 10) < 0:
                return False  # maybe an over-long line
        i = find(b, 0, n, b") to extension '", 16)
        while i >= 0:  # a call line whose dialled number may go on past the line
            s = rfind_char(b, 0, i, 10) + 1
            e = find_char(b, i, n, 10)
            if e < 0:
                e = n
            ms = -1 if rd.latin and high(b, s, e) else bracket_prefix(b, s, e)
            if not (ms >= 0 and rd.call(b, ms, e) is not None) and call_dirty(s, e):
                return False
            i = find(b, e, n, b") to extension '", 16)
        i = find(b, 0, n, b'RemoteAddress="IPV', 18)
        while i >= 0:  # a line that may end a split security event...
            s = rfind_char(b, 0, i, 10) + 1
            e = find_char(b, i, n, 10)
            if e < 0:
                e = n
            k = find(b, s, e, b"SecurityEvent=", 14)
            ms = bracket_prefix(b, s, e) if k >= 0 and not (rd.latin and high(b, s, e)) else -1
            if k < 0:
                cont = True
            elif ms >= 0 and find(b, i + 15, e, b'RemoteAddress="', 15) < 0:
                cont = ms != k  # one pair: is the event at its message start?
            else:
                cont = line_cont(s, e)
            if cont:
                if held:  # ...with a security event held from before this text
                    return False
                lo = s
                for step in range(self.max_join):
                    if lo == 0:
                        break
                    lo = rfind_char(b, 0, lo - 1, 10) + 1
                if find(b, min(lo, max(0, s - self.reach)), s, b"SecurityEvent=", 14) >= 0:
                    return False  # ...or one within reach before it
            i = find(b, e, n, b'RemoteAddress="IPV', 18)
        return True

    def read(self, str body, Py_ssize_t end, Py_ssize_t first, object file, object clock, object line_reader):
        """Events of the complete lines body[:end] (a clean chunk), in file order: (events, security
        line numbers, lines read), or None when `body` is not one byte a character (beyond Latin-1: the
        pure loop reads it then; a line of a Latin-1 text that is not ASCII goes to `line_reader`).

        `line_reader(s, e)` reads the line body[s:e] the pure way: None (nothing), (True, fields or
        None) for a security event line (`read_security`'s 13 fields), (False, Event) for a
        `messages` event. It may raise `security.Incomplete`, and leaves the clock alone: times are
        read in a second pass, once every line is known to be readable, in file order.
        """
        if PyUnicode_KIND(body) != PyUnicode_1BYTE_KIND or end > PyUnicode_GET_LENGTH(body):
            return None
        cdef _Reader rd = _Reader(body, clock)
        cdef const char* b = rd.b
        cdef Py_ssize_t cap = 1024, nrec = 0, s = 0, e, ms, n, lineno = first, i
        cdef Rec* recs = <Rec*>malloc(cap * sizeof(Rec))
        cdef Rec* grown
        cdef object f, r, t, ev
        cdef int kind, other
        cdef bint slow
        cdef list out = [], secs = []
        if recs == NULL:
            raise MemoryError()
        try:
            while s < end:
                e = find_char(b, s, end, 10)
                if e < 0:
                    e = end
                f = None
                kind = 0
                slow = False
                ms = -1 if rd.latin and high(b, s, e) else bracket_prefix(b, s, e)
                if ms < 0:  # a prefix this code does not read (or not ASCII): the pure reading, if a trigger is there
                    slow = has_trigger(self.trig, b, s, e)
                else:
                    n = e - ms
                    if n >= 14 and memcmp(b + ms, b"SecurityEvent=", 14) == 0:
                        if find(b, s, ms + 13, b"SecurityEvent=", 14) < 0:  # the line's first one
                            f = rd.security(ms, e)
                        if f is not None:
                            kind = 2
                            f = new_event(f, 13, None, file, lineno)
                        else:
                            slow = True
                    elif n >= 3:
                        if starts(b, ms, e, b"Registration from '", 19):
                            f = rd.registration(b, ms, e)
                        elif starts(b, ms, e, b"Request ", 8):
                            f = rd.distributor(b, ms, e)
                        elif starts(b, ms, e, b"Call", 4):
                            f = rd.call(b, ms, e)
                        elif starts(b, ms, e, b"Registered SIP '", 16):
                            f = rd.registered(b, ms, e)
                        elif starts(b, ms, e, b"Rejecting unknown", 17) or starts(b, ms, e, b'"Rejecting unknown', 18):
                            f = rd.rejecting(b, ms, e)
                        else:
                            other = self.maybe_other(b, ms, e)
                            if other == 0:  # no format can read this message
                                s = e + 1
                                lineno += 1
                                continue
                            if other == 2:
                                f = rd.call(b, ms, e)
                            elif other == 3:
                                f = rd.manager(b, ms, e)
                        if f is not None:
                            kind = 1
                            f = new_event(f, 12, S_MESSAGES, file, lineno)
                        else:
                            slow = has_trigger(self.trig, b, s, e)
                    else:
                        slow = has_trigger(self.trig, b, s, e)
                if slow:
                    r = line_reader(s, e)
                    if r is not None:
                        kind = 2 if r[0] else 1
                        if r[1] is not None:
                            f = new_event(r[1], 13 if kind == 2 else 12, S_MESSAGES, file, lineno)
                if kind:
                    if nrec == cap:
                        cap *= 2
                        grown = <Rec*>realloc(recs, cap * sizeof(Rec))
                        if grown == NULL:
                            raise MemoryError()
                        recs = grown
                    recs[nrec].s = s
                    recs[nrec].e = e
                    recs[nrec].lineno = lineno
                    recs[nrec].kind = kind
                    if f is None:
                        recs[nrec].obj = NULL
                    else:
                        Py_INCREF(f)
                        recs[nrec].obj = <PyObject*>f
                    nrec += 1
                s = e + 1
                lineno += 1
            # second pass: the lines' times, in file order (the clock's state follows the lines)
            for i in range(nrec):
                t = rd.line_time(recs[i].s, recs[i].e)
                if recs[i].kind == 2:
                    secs.append(recs[i].lineno)
                if recs[i].obj != NULL:
                    ev = <object>recs[i].obj
                    if recs[i].kind == 1 or <object>PyTuple_GET_ITEM(ev, 0) is None:
                        Py_DECREF(<object>PyTuple_GET_ITEM(ev, 0))  # None, the placeholder
                        Py_INCREF(t)
                        PyTuple_SET_ITEM(ev, 0, t)
                    out.append(ev)
            return out, secs, lineno - first
        finally:
            for i in range(nrec):
                if recs[i].obj != NULL:
                    Py_DECREF(<object>recs[i].obj)
            free(recs)

    cdef int maybe_other(self, const char* b, Py_ssize_t m, Py_ssize_t e):
        """May a parser `pick` names read the message b[m:e], other than the ones above? 0: none can;
        1: yes; 2: PJSIP's "NAME: Call (" (call_rejected's other layout: a name without blanks or
        quotes first, which the compiled call reader reads too); 3: AMI's (the compiled manager reader's). Besides the formats' STARTS, `pick`
        looks for two phrases anywhere, reduced here to where their parsers need them: that one,
        and AMI's "ADDR failed to authenticate as" and its siblings."""
        cdef Py_ssize_t p
        if self.first2[(<unsigned char>b[m]) << 8 | <unsigned char>b[m + 1]] and (
                e - m >= 4 and b[m:m + 4] in self.starts4 or b[m:m + 3] in self.starts3):
            return 1
        p = m
        while p < e and not is_space(b[p]) and b[p] != 39 and b[p] != 34:
            p += 1
        if p - m >= 2 and p < e and b[p] == 32 and b[p - 1] == 58 and starts(b, p + 1, e, b"Call (", 6):
            return 2
        p = m
        while p < e and not is_space(b[p]) and b[p] != 39:
            p += 1
        if p > m and p < e and b[p] == 32 and (
                starts(b, p + 1, e, b"failed to authenticate as", 25)
                or starts(b, p + 1, e, b"tried to authenticate with nonexistent user", 43)
                or starts(b, p + 1, e, b"failed to pass IP ACL as", 24)):
            return 3
        return 0


def prefix_end(str text, Py_ssize_t s, Py_ssize_t e):
    """The compiled `prefix.bracketed_match(text, s, e).end()` on an ASCII text (-1: no match or not
    sure, then the caller asks the regex): for tests."""
    if not PyUnicode_IS_ASCII(text) or not 0 <= s <= e <= PyUnicode_GET_LENGTH(text):
        return -1
    return bracket_prefix(<const char*>PyUnicode_DATA(text), s, e)


def find_in(str text, str needle, Py_ssize_t s, Py_ssize_t e):
    """The compiled `text.find(needle, s, e)` on ASCII texts (-2: not ASCII or out of range): for tests."""
    if not (PyUnicode_IS_ASCII(text) and PyUnicode_IS_ASCII(needle)) or not 0 <= s <= e <= PyUnicode_GET_LENGTH(text):
        return -2
    if PyUnicode_GET_LENGTH(needle) == 0:
        return -2
    return find(<const char*>PyUnicode_DATA(text), s, e, <const char*>PyUnicode_DATA(needle),
                PyUnicode_GET_LENGTH(needle))


def time_at(object clock, str text, Py_ssize_t s, Py_ssize_t e):
    """The compiled `clock.time_at(text, s, e)` (one call: no stamp remembered): for tests."""
    if not PyUnicode_IS_ASCII(text) or not 0 <= s < e <= PyUnicode_GET_LENGTH(text):
        return clock.time_at(text, s, e)
    cdef _Reader rd = _Reader(text, clock)
    return rd.line_time(s, e)
