# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The scan pipeline's per-event steps, compiled: `reorder` (order.py's) and the spool's columns
(parallel.py's). Optional like parsers/_accel.pyx (the same build, the same SIPWARDEN_PURE switch);
tests/test_pipeline_accel.py holds each to its Python version.
"""

from cpython.ref cimport PyObject, Py_INCREF, Py_DECREF, Py_XDECREF
from cpython.tuple cimport PyTuple_SET_ITEM, PyTuple_GET_ITEM
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from libc.stdlib cimport malloc, realloc, free

cdef extern from "Python.h":
    object PyFloat_FromDouble(double)
    double PyFloat_AsDouble(object) except? -1.0
    void PyObject_GC_UnTrack(object)
    ctypedef struct PyTypeObject:
        PyObject* (*tp_alloc)(PyTypeObject*, Py_ssize_t)

from ..events import Event

cdef object _Event = Event


cdef struct Held:
    double t
    long long seq
    PyObject* ev  # owned


cdef inline bint before(Held* a, Held* b) nogil:
    return a.t < b.t or (a.t == b.t and a.seq < b.seq)


cdef class Reorder:
    """order.reorder(events, slack) as an iterator: (time, seq, event) in time order, provided no
    event is more than `slack` late; an event without a time takes the time of the one before it.
    The same pops as heapq's (the keys are unique), the same points at which they happen."""
    cdef object it
    cdef double slack, newest, last, edge
    cdef long long seq
    cdef Held* heap
    cdef Py_ssize_t n, cap
    cdef bint done

    def __cinit__(self, events, double slack):
        self.it = iter(events)
        self.slack = slack
        self.newest = 0.0
        self.last = 0.0
        self.edge = 0.0
        self.seq = 0
        self.cap = 256
        self.n = 0
        self.heap = <Held*>malloc(self.cap * sizeof(Held))
        if self.heap == NULL:
            raise MemoryError()

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self.heap != NULL:
            for i in range(self.n):
                Py_XDECREF(self.heap[i].ev)
            free(self.heap)

    def __iter__(self):
        return self

    cdef push(self, double t, long long seq, object ev):
        cdef Py_ssize_t i, p
        cdef Held h, *grown
        if self.n == self.cap:
            grown = <Held*>realloc(self.heap, 2 * self.cap * sizeof(Held))
            if grown == NULL:
                raise MemoryError()
            self.heap = grown
            self.cap *= 2
        h.t = t
        h.seq = seq
        Py_INCREF(ev)
        h.ev = <PyObject*>ev
        i = self.n
        self.n += 1
        while i > 0:
            p = (i - 1) >> 1
            if not before(&h, &self.heap[p]):
                break
            self.heap[i] = self.heap[p]
            i = p
        self.heap[i] = h

    cdef tuple pop(self):
        cdef Held top = self.heap[0], last
        cdef Py_ssize_t i = 0, c, n
        self.n -= 1
        n = self.n
        if n > 0:
            last = self.heap[n]
            while True:
                c = 2 * i + 1
                if c >= n:
                    break
                if c + 1 < n and before(&self.heap[c + 1], &self.heap[c]):
                    c += 1
                if not before(&self.heap[c], &last):
                    break
                self.heap[i] = self.heap[c]
                i = c
            self.heap[i] = last
        ev = <object>top.ev
        Py_DECREF(ev)  # the heap's reference: `ev` holds one now
        return (PyFloat_FromDouble(top.t), top.seq, ev)

    def __next__(self):
        cdef object ev, tv
        cdef double t
        cdef long long seq
        while True:
            if self.n and self.heap[0].t < self.edge:
                return self.pop()
            if self.done:
                if self.n:
                    return self.pop()
                raise StopIteration
            try:
                ev = next(self.it)
            except StopIteration:
                self.done = True
                self.edge = 0.0
                continue
            seq = self.seq
            self.seq += 1
            tv = <object>PyTuple_GET_ITEM(ev, 0) if type(ev) is _Event else ev.time
            if tv is None:
                t = self.last
            else:
                t = PyFloat_AsDouble(tv)
                self.last = t
            if t >= self.newest:
                self.newest = t
                if not self.n:
                    return (tv if tv is not None else PyFloat_FromDouble(t), seq, ev)
            self.push(t, seq, ev)
            self.edge = self.newest - self.slack


def columns(list evs, dict kind_at):
    """parallel._columns(evs): [[e[:2]...], [kind index...], [e[3:13]...], [e[14]...]]."""
    cdef Py_ssize_t i, j, n = PyList_GET_SIZE(evs)
    cdef list a = [None] * n, k = [None] * n, b = [None] * n, ln = [None] * n
    cdef object e, v
    cdef tuple ta, tb
    for i in range(n):
        e = <object>PyList_GET_ITEM(evs, i)
        if type(e) is not _Event:
            raise TypeError("columns() takes Events")
        ta = (<object>PyTuple_GET_ITEM(e, 0), <object>PyTuple_GET_ITEM(e, 1))
        a[i] = ta
        k[i] = kind_at[<object>PyTuple_GET_ITEM(e, 2)]
        tb = (<object>PyTuple_GET_ITEM(e, 3), <object>PyTuple_GET_ITEM(e, 4), <object>PyTuple_GET_ITEM(e, 5),
              <object>PyTuple_GET_ITEM(e, 6), <object>PyTuple_GET_ITEM(e, 7), <object>PyTuple_GET_ITEM(e, 8),
              <object>PyTuple_GET_ITEM(e, 9), <object>PyTuple_GET_ITEM(e, 10), <object>PyTuple_GET_ITEM(e, 11),
              <object>PyTuple_GET_ITEM(e, 12))
        b[i] = tb
        ln[i] = <object>PyTuple_GET_ITEM(e, 14)
    return [a, k, b, ln]


def events(list rec, list kinds, object file, Py_ssize_t first):
    """The Events of one spool record (`columns`' output after marshal), line numbers shifted by `first`."""
    cdef list a = rec[0], k = rec[1], b = rec[2], ln = rec[3]
    cdef Py_ssize_t i, j, n = PyList_GET_SIZE(a)
    if PyList_GET_SIZE(k) != n or PyList_GET_SIZE(b) != n or PyList_GET_SIZE(ln) != n:
        raise ValueError("spool record columns differ in length")
    cdef list out = [None] * n
    cdef object ta, tb, v, ev
    cdef PyObject* o
    for i in range(n):
        ta = <object>PyList_GET_ITEM(a, i)
        tb = <object>PyList_GET_ITEM(b, i)
        if type(ta) is not tuple or type(tb) is not tuple or len(ta) != 2 or len(tb) != 10:
            raise ValueError("malformed spool record")
        o = (<PyTypeObject*>_Event).tp_alloc(<PyTypeObject*>_Event, 15)
        if o == NULL:
            raise MemoryError()
        ev = <object>o
        Py_DECREF(ev)
        PyObject_GC_UnTrack(ev)  # strings, numbers and a Kind: never in a cycle
        for j in range(2):
            v = <object>PyTuple_GET_ITEM(ta, j)
            Py_INCREF(v)
            PyTuple_SET_ITEM(ev, j, v)
        v = kinds[<object>PyList_GET_ITEM(k, i)]
        Py_INCREF(v)
        PyTuple_SET_ITEM(ev, 2, v)
        for j in range(10):
            v = <object>PyTuple_GET_ITEM(tb, j)
            Py_INCREF(v)
            PyTuple_SET_ITEM(ev, 3 + j, v)
        Py_INCREF(file)
        PyTuple_SET_ITEM(ev, 13, file)
        v = <object>PyList_GET_ITEM(ln, i) + first
        Py_INCREF(v)
        PyTuple_SET_ITEM(ev, 14, v)
        out[i] = ev
    return out


cdef extern from *:
    """
    #if defined(__GLIBC__)
    #include <malloc.h>
    static int sw_keep_buffers(void) {
        return mallopt(M_MMAP_THRESHOLD, 16 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 128 << 20) == 1;
    }
    #else
    static int sw_keep_buffers(void) { return 0; }
    #endif
    """
    int sw_keep_buffers()


def keep_buffers():
    """Let glibc's malloc keep the chunk-sized blocks a scan frees for the next chunk (True if it took).

    A scan allocates several 1 MiB strings per chunk (bytes read, text decoded, the unread tail
    joined on). By default each is mapped fresh and unmapped on free: page faults and zeroing
    cost a fifth of the compiled reader's time. Blocks up to 16 MiB now come from the heap, and the
    heap is given back only above 128 MiB free: the same few blocks are reused; the peak resident
    size is that of the largest chunks held at once, as before."""
    return bool(sw_keep_buffers())
