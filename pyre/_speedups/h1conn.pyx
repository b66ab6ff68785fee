# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython twin of the per-request path of an HTTP/1.1 connection.

One compilation unit holds what a request crosses between the parser and the
socket: the connection protocol (twin of :class:`pyre.transport.h1.H1Protocol`),
its ASGI cycle (twin of :class:`pyre.asgi.http.HTTPCycle` and ``run_asgi``), the
scope builder (twin of :func:`pyre.asgi.scope.http_scope`), on the native path the
request head built instead of the scope (twin of :class:`pyre.asgi.native.RequestHead`)
and the head encoder (twin of :func:`pyre.protocol.h1.writer.encode_head`). Only that
path, which the instruction counts show to be hot, is written here; the rest of the
connection (errors, timeouts, shutdown, upgrades, ``pathsend``, back-pressure) is
:class:`pyre.transport.h1_common.H1Common`, which ``H1Protocol`` inherits as the pure
twin does (docs/architecture.md, "The compiled HTTP/1.1 connection").

The pure modules are the normative reading: this module follows them step by step,
in the same order, with the same log messages and the same exception objects
(``ClientDisconnected``, ``InvalidResponse``, ``ParseError`` and the events are
imported from them, and so are the constants). What changes is how the work is
done: typed attributes on ``cdef`` classes, C-level calls between the connection and
its cycle, and no tuples or dicts built only to cross a function boundary.

Internal differences from the pure twin (none is visible to an application):

- the cycle calls the connection through C methods, so it only works with this
  module's connection (the pure cycle takes any ``ResponseStream``);
- per-connection facts are copied out of ``ConnectionInfo`` once, in
  ``connection_made``; the bound methods ``transport.write``, ``loop.time`` and
  ``loop.create_task`` are looked up once per connection;
- settings of the ``ServerContext`` that the server never changes after startup
  (``app``, ``native``, ``tasks``, ``connections``, timeouts, the server's own header lines,
  ``limit_concurrency``, ``lifespan_state``, access-log switches) are read once per
  connection; ``shutting_down``, ``date_line``, ``request_observers`` and
  ``total_requests`` are read (or updated) on every use, as in the pure twin, from the
  context's ``__dict__`` when that is what attribute access does (``_live_dict``);
- the compiled parser is called through its C entry points (``h1parser.pxd``);
- the cycle's body buffer and trailer list are created only when first needed, and
  a reused, empty output list replaces ``[]`` per flush when nothing kept the old one.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_Copy
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.object cimport PyObject, PyObject_Call
from cpython.ref cimport Py_INCREF
from libc.string cimport memchr, memcmp, memcpy

from pyre._speedups.h1parser cimport (
    is_parser, parser_buffer_updated, parser_buffered, parser_get_buffer, parser_paused, parser_resume,
)
from pyre._speedups.capi cimport PyDict_GetItemWithError_ptr, PyUnicode_DecodeLatin1, pyre_member_offset, pyre_slot
from pyre.protocol.h1._framing_c cimport ChunkedWriter, LengthWriter

import asyncio
import logging
import sys
from urllib.parse import unquote

from pyre._accel import RequestParser
from pyre.asgi.http_common import (
    BODY_HIGH_WATER as _BODY_HIGH_WATER_OBJ,
    ClientDisconnected,
    finish_response,
    unexpected_message,
    wait_for_input,
)
from pyre.asgi import http_common as _http
from pyre.asgi.native import assemble_scope, forwarded_peer
from pyre.asgi.scope import ASGI_VERSION, HTTP_SPEC_VERSION, http_scope_template
from pyre.protocol.h1.parsing import Body, EndOfMessage, ParseError, Request
from pyre.protocol.h1.writer import (
    FRAME_CHUNKED,
    FRAME_CLOSE,
    FRAME_LENGTH,
    FRAME_NONE,
    LINE_CACHE,
    STATUS_LINES,
    InvalidResponse,
    status_line,
    validate_header,
)
from pyre.transport import h1_common as _common
from pyre.transport.context import SHUTDOWN_GRACE as _SHUTDOWN_GRACE_OBJ
from pyre.transport.h1_common import H1Common, bounded_writelines
from pyre.transport.info import connection_info as _connection_info
from pyre.transport.tasks import task_kwargs

__all__ = ["H1Protocol", "encode_head"]

cdef extern from "Python.h":
    bint PyDict_CheckExact(object o)
    bint PyLong_CheckExact(object o)
    bint PyBytes_CheckExact(object o)
    bint PyTuple_CheckExact(object o)
    Py_ssize_t PyTuple_GET_SIZE(object t)
    PyObject* PyTuple_GET_ITEM(object t, Py_ssize_t i)
    int PySet_Add(object s, object key) except -1
    int PySet_Discard(object s, object key) except -1
    bint PyUnicode_CheckExact(object o)
    bint PyUnicode_IS_COMPACT_ASCII(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    void* PyUnicode_DATA(object o)

logger = logging.getLogger("pyre.error")

# -- constants shared with the pure twins ----------------------------------------------------

cdef enum:
    _IDLE = 0
    _HEAD = 1
    _BUSY = 2
    _DRAIN = 3
    _CLOSED = 4

cdef enum:
    _PAUSE_BODY = 1
    _PAUSE_PIPELINE = 2

cdef enum:
    _START = 0
    _BODY = 1
    _TRAILERS = 2
    _DONE = 3

cdef enum:
    _F_LENGTH = 0
    _F_CHUNKED = 1
    _F_NONE = 2
    _F_CLOSE = 3


def _check_constants():
    """The C constants above must be the pure modules' values (the ``phase`` and
    ``state`` attributes are public)."""
    pairs = (
        (_IDLE, _common.IDLE), (_HEAD, _common.HEAD), (_BUSY, _common.BUSY),
        (_DRAIN, _common.DRAIN), (_CLOSED, _common.CLOSED),
        (_PAUSE_BODY, _common.PAUSE_BODY), (_PAUSE_PIPELINE, _common.PAUSE_PIPELINE),
        (_START, _http.START), (_BODY, _http.BODY), (_TRAILERS, _http.TRAILERS), (_DONE, _http.DONE),
        (_F_LENGTH, FRAME_LENGTH), (_F_CHUNKED, FRAME_CHUNKED), (_F_NONE, FRAME_NONE), (_F_CLOSE, FRAME_CLOSE),
    )
    for mine, theirs in pairs:
        if mine != theirs:
            raise ImportError("pyre._speedups.h1conn is out of step with the pure modules")


_check_constants()

cdef Py_ssize_t PIPELINE_BUFFER_LIMIT = _common.PIPELINE_BUFFER_LIMIT
cdef Py_ssize_t _JOIN_LIMIT = _common.JOIN_LIMIT
cdef Py_ssize_t _CORK_LIMIT = _common.CORK_LIMIT
cdef double SHUTDOWN_GRACE = _SHUTDOWN_GRACE_OBJ
cdef Py_ssize_t BODY_HIGH_WATER = _BODY_HIGH_WATER_OBJ

cdef dict _STATUS_LINES = STATUS_LINES
cdef dict _LINE_CACHE = LINE_CACHE
cdef object _validate_header = validate_header

cdef object _Request = Request
cdef object _Body = Body
cdef object _EndOfMessage = EndOfMessage
cdef object _ClientDisconnected = ClientDisconnected
cdef object _InvalidResponse = InvalidResponse
cdef object _CancelledError = asyncio.CancelledError
cdef object _Task = asyncio.Task
cdef object _unquote = unquote
cdef object _assemble_scope = assemble_scope
cdef object _forwarded_peer = forwarded_peer
cdef object _INFO = logging.INFO
cdef bint _EAGER = sys.version_info >= (3, 12)

cdef dict _ASGI_DICT = {"version": ASGI_VERSION, "spec_version": HTTP_SPEC_VERSION}

cdef bytes _B_EMPTY = b""
# The body writers of pyre.protocol.h1.framing (compiled twin), called in C: one each, stateless.
cdef LengthWriter _LENGTH = LengthWriter()
cdef ChunkedWriter _CHUNKED = ChunkedWriter()
cdef bytes _B_CHUNKED_LINE = b"transfer-encoding: chunked\r\n"
cdef bytes _B_CLOSE_LINE = b"connection: close\r\n"
cdef bytes _B_KEEP_ALIVE_LINE = b"connection: keep-alive\r\n"
cdef bytes _B_CRLF = b"\r\n"
cdef bytes _B_CONTENT_LENGTH = b"content-length"
cdef bytes _B_TRANSFER_ENCODING = b"transfer-encoding"
cdef bytes _B_CONNECTION = b"connection"
cdef bytes _B_SERVER = b"server"
cdef bytes _B_DATE = b"date"
cdef str _S_HTTP_REQUEST = "http.request"
cdef str _S_HTTP_DISCONNECT = "http.disconnect"
cdef str _S_BODY = "http.response.body"
cdef str _S_START = "http.response.start"
cdef str _S_PATHSEND = "http.response.pathsend"
cdef str _S_TRAILERS = "http.response.trailers"
cdef str _S_V11 = sys.intern("1.1")  # the compiled parser's own (interned there too)
cdef str _S_HEAD = "HEAD"


@cython.final
@cython.auto_pickle(False)
cdef class _Ready:
    """What ``send()`` returns when it is already done: ``await`` returns None at once.

    It is its own iterator, already exhausted: ``__await__`` returns it, and its C
    ``tp_iternext`` (set below) returns NULL without an exception, which is how a C
    iterator ends; so an ``await`` allocates nothing and raises no StopIteration."""

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        raise StopIteration


cdef extern from *:
    """
    static PyObject *pyre_ready_next(PyObject *self) { (void)self; return NULL; }
    static int pyre_ready_install(PyObject *type) {
        ((PyTypeObject *)type)->tp_iternext = pyre_ready_next;
        PyType_Modified((PyTypeObject *)type);
        return 0;
    }
    """
    int pyre_ready_install(object type) except -1


pyre_ready_install(_Ready)
cdef _Ready _READY = _Ready()


# -- reading the parser's events ----------------------------------------------------------------
#
# ``Request`` and ``Body`` are slotted classes; an event whose type is exactly one of
# them is read at the slot offsets their member descriptors give (checked at import
# against ``getattr``), not through ``getattr`` and the type's attribute lookup.

cdef enum:
    R_METHOD = 0
    R_PATH = 1
    R_QUERY = 2
    R_VERSION = 3
    R_HEADERS = 4
    R_KEEP_ALIVE = 5
    R_EXPECT = 6
    R_CHUNKED = 7
    R_LENGTH = 8
    R_UPGRADE = 9
    R_COUNT = 10

cdef tuple _R_NAMES = (
    "method", "path", "query", "http_version", "headers",
    "keep_alive", "expect_continue", "chunked", "content_length", "upgrade",
)
cdef Py_ssize_t _ROFF[10]
cdef Py_ssize_t _BODY_DATA_OFF = 0
cdef bint _FAST_REQUEST = False
cdef bint _FAST_BODY = False


cdef inline object _rfield(object request, int i):
    """A field of an event of type exactly ``Request``."""
    cdef PyObject* value
    if _FAST_REQUEST:
        value = pyre_slot(request, _ROFF[i])
        if value != NULL:
            return <object>value
    return getattr(request, <str>_R_NAMES[i])


cdef inline object _body_data(object body):
    """``data`` of an event of type exactly ``Body``."""
    cdef PyObject* value
    if _FAST_BODY:
        value = pyre_slot(body, _BODY_DATA_OFF)
        if value != NULL:
            return <object>value
    return body.data


def _setup_fast_reads():
    """Enable slot reads when the events' layout is as expected; return what was enabled."""
    global _FAST_REQUEST, _FAST_BODY, _BODY_DATA_OFF
    cdef Py_ssize_t off
    cdef int i

    def offset(cls, name):
        descr = cls.__dict__.get(name)
        if descr is None or getattr(descr, "__objclass__", None) is not cls:
            return -1
        return pyre_member_offset(descr)

    ok = type(Request) is type
    for i in range(R_COUNT):
        off = offset(Request, _R_NAMES[i]) if ok else -1
        if off <= 0:
            ok = False
            break
        _ROFF[i] = off
    if ok:
        sample = Request("GET", b"/p", b"q", "1.1", [(b"host", b"a")], True, False, True, 12, None)
        _FAST_REQUEST = True
        try:
            _FAST_REQUEST = all(_rfield(sample, i) is getattr(sample, _R_NAMES[i]) for i in range(R_COUNT))
        except Exception:  # noqa: BLE001 - any surprise means "use getattr"
            _FAST_REQUEST = False
    off = offset(Body, "data") if type(Body) is type else -1
    if off > 0:
        _BODY_DATA_OFF = off
        _FAST_BODY = True
        sample = Body(b"xyz")
        try:
            _FAST_BODY = _body_data(sample) is sample.data
        except Exception:  # noqa: BLE001
            _FAST_BODY = False
    return _FAST_REQUEST, _FAST_BODY


FAST_EVENT_READS = _setup_fast_reads()


# -- small helpers ---------------------------------------------------------------------------


cdef inline bint _str_eq(object a, str b) except -1:
    """``a == b`` for an ASCII constant ``b``: by identity, else by length and bytes
    (``PyUnicode_Compare`` checks neither first); ``==`` for anything but a plain str."""
    cdef Py_ssize_t n
    if a is b:
        return True
    if PyUnicode_CheckExact(a) and PyUnicode_IS_COMPACT_ASCII(a):
        n = PyUnicode_GET_LENGTH(b)
        return PyUnicode_GET_LENGTH(a) == n and memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), <size_t>n) == 0
    return a == b


cdef inline object _mget(object message, str key, object default):
    """``message.get(key, default)``, without a method call for a plain dict."""
    cdef PyObject* value
    if PyDict_CheckExact(message):
        value = PyDict_GetItemWithError_ptr(message, key)
        if value == NULL:
            return default
        return <object>value
    return message.get(key, default)


cdef bytes _concat(bytes a, bytes b):
    cdef Py_ssize_t na = PyBytes_GET_SIZE(a)
    cdef Py_ssize_t nb = PyBytes_GET_SIZE(b)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, na + nb)
    cdef char* p = PyBytes_AS_STRING(out)
    memcpy(p, PyBytes_AS_STRING(a), na)
    memcpy(p + na, PyBytes_AS_STRING(b), nb)
    return out


# -- the head encoder (twin of pyre.protocol.h1.writer.encode_head) ----------------------------


cdef struct _HeadOut:
    int framing
    long long content_length
    bint keep_alive


cdef long long _content_length_of(bytes line):
    """The value of a validated, normalised ``content-length: N\\r\\n`` line."""
    cdef const char* p = PyBytes_AS_STRING(line)
    cdef Py_ssize_t i = 16
    cdef Py_ssize_t end = PyBytes_GET_SIZE(line) - 2
    cdef long long v = 0
    while i < end and (p[i] == b' ' or p[i] == b'\t'):
        i += 1
    while end > i and (p[end - 1] == b' ' or p[end - 1] == b'\t'):
        end -= 1
    while i < end:
        v = v * 10 + (p[i] - 48)
        i += 1
    return v


cdef object _cached_line(object pair):
    """``LINE_CACHE[name][value]`` for a header ``pair``, or None (not cached, or not a
    pair of hashable values)."""
    cdef PyObject* hit
    if PyTuple_CheckExact(pair) and PyTuple_GET_SIZE(pair) == 2:
        name = <object>PyTuple_GET_ITEM(pair, 0)
        value = <object>PyTuple_GET_ITEM(pair, 1)
    else:
        try:
            name, value = pair
        except (TypeError, ValueError):
            return None
    try:
        hit = PyDict_GetItemWithError_ptr(_LINE_CACHE, name)
        if hit == NULL:
            return None
        hit = PyDict_GetItemWithError_ptr(<object>hit, value)
    except TypeError:  # unhashable
        return None
    return <object>hit if hit != NULL else None


cdef inline char* _put(char* p, bytes b) noexcept:
    cdef Py_ssize_t n = PyBytes_GET_SIZE(b)
    memcpy(p, PyBytes_AS_STRING(b), n)
    return p + n


cdef bytes _encode_head(object status, object headers, bint http11, bint head_request, bint keep_alive,
                        bytes server_line, bytes date_line, bytes extra_lines, _HeadOut* out):
    """Serialise a response head and choose its framing (``encode_head``'s rules)."""
    cdef object line, lname, cached, pair
    cdef PyObject* hit
    cdef long st
    cdef long long content_length = -1
    cdef bint chunked_requested = False
    cdef bint app_server = False
    cdef bint app_date = False
    cdef bint no_body_status
    cdef int framing
    cdef list app_lines
    cdef bytes first, framing_line, connection_line, head
    cdef Py_ssize_t total, i, n
    cdef char* p
    if not PyLong_CheckExact(status):
        raise _InvalidResponse(f"status must be an int, got {type(status).__name__}")
    if status < 200:
        raise _InvalidResponse(f"status {status} cannot be a final response")
    hit = PyDict_GetItemWithError_ptr(_STATUS_LINES, status)
    if hit != NULL:
        first = <bytes>hit
    else:
        first = status_line(status)  # raises for a status outside 100-999
    st = status
    no_body_status = st == 204 or st == 304
    app_lines = []
    for pair in headers:
        cached = _cached_line(pair)
        if cached is None:
            cached = _validate_header(pair)
        line = <object>PyTuple_GET_ITEM(cached, 0)
        lname = <object>PyTuple_GET_ITEM(cached, 1)
        if lname is None:  # an ordinary header, the common case
            app_lines.append(line)
            continue
        if lname == _B_CONTENT_LENGTH:
            if no_body_status:
                continue
            if content_length != -1:
                raise _InvalidResponse(f"repeated content-length {pair!r}")
            content_length = _content_length_of(line)
        elif lname == _B_TRANSFER_ENCODING:
            chunked_requested = True
            continue
        elif lname == _B_CONNECTION:
            if b"close" in [t.strip(b" \t").lower() for t in line[12:len(line) - 2].split(b",")]:
                keep_alive = False
            continue
        elif lname == _B_SERVER:
            app_server = True
        elif lname == _B_DATE:
            app_date = True
        app_lines.append(line)
    if chunked_requested and content_length != -1:
        raise _InvalidResponse("both content-length and transfer-encoding in the response")

    framing_line = None
    if head_request or no_body_status:
        framing = _F_NONE
    elif content_length != -1:
        framing = _F_LENGTH
    elif http11:
        framing = _F_CHUNKED
        framing_line = _B_CHUNKED_LINE
    else:
        framing = _F_CLOSE
        keep_alive = False
    if not keep_alive:
        connection_line = _B_CLOSE_LINE
    elif not http11:
        connection_line = _B_KEEP_ALIVE_LINE
    else:
        connection_line = None

    # One allocation: status line, the server's lines, the app's, framing, CRLF.
    if app_server or not server_line:
        server_line = None
    if app_date or not date_line:
        date_line = None
    total = PyBytes_GET_SIZE(first) + 2
    if server_line is not None:
        total += PyBytes_GET_SIZE(server_line)
    if date_line is not None:
        total += PyBytes_GET_SIZE(date_line)
    total += PyBytes_GET_SIZE(extra_lines)
    n = PyList_GET_SIZE(app_lines)
    for i in range(n):
        total += PyBytes_GET_SIZE(<bytes>PyList_GET_ITEM(app_lines, i))
    if framing_line is not None:
        total += PyBytes_GET_SIZE(framing_line)
    if connection_line is not None:
        total += PyBytes_GET_SIZE(connection_line)
    head = PyBytes_FromStringAndSize(NULL, total)
    p = _put(PyBytes_AS_STRING(head), first)
    if server_line is not None:
        p = _put(p, server_line)
    if date_line is not None:
        p = _put(p, date_line)
    p = _put(p, extra_lines)
    for i in range(n):
        p = _put(p, <bytes>PyList_GET_ITEM(app_lines, i))
    if framing_line is not None:
        p = _put(p, framing_line)
    if connection_line is not None:
        p = _put(p, connection_line)
    p[0] = b'\r'
    p[1] = b'\n'
    out.framing = framing
    out.content_length = content_length
    out.keep_alive = keep_alive
    return head


cdef bytes _as_bytes(object value):
    # What b"".join accepts (any bytes-like object), as bytes; raises TypeError otherwise.
    return value if PyBytes_CheckExact(value) else _B_EMPTY.join([value])


def encode_head(status, headers, *, http11, head_request, keep_alive,
                server_line=b"", date_line=b"", extra_lines=b""):
    """The compiled twin of :func:`pyre.protocol.h1.writer.encode_head` (same result)."""
    cdef _HeadOut out
    head = _encode_head(status, headers, http11, head_request, keep_alive,
                        _as_bytes(server_line), _as_bytes(date_line), _as_bytes(extra_lines), &out)
    return head, out.framing, out.content_length, out.keep_alive


# -- the ASGI cycle (twin of pyre.asgi.http.HTTPCycle) ------------------------------------------


@cython.final
@cython.freelist(16)
@cython.auto_pickle(False)
cdef class HTTPCycle:
    """``receive``/``send`` for one HTTP request (compiled twin)."""

    cdef public object scope
    cdef readonly _H1Base stream
    cdef public int state
    cdef public object status
    cdef public object task
    cdef list _body
    cdef readonly Py_ssize_t _buffered
    cdef public bint _body_complete  # public: read by pyre.asgi.http_common.wait_for_input
    cdef bint _final_delivered
    cdef bint _disconnected
    cdef bint _input_closed
    cdef public object _waiter
    cdef bint _reading_paused
    cdef bint _trailers
    cdef list _trailer_headers
    cdef public bint _expect_continue

    def __init__(self, scope, _H1Base stream not None, bint body_complete, bint expect_continue):
        self.scope = scope
        self.stream = stream
        self.state = _START
        self.status = 0
        self.task = None
        self._body_complete = body_complete
        self._expect_continue = expect_continue

    # -- fed by the connection ---------------------------------------------------------

    @property
    def response_started(self):
        return self.state != _START

    @property
    def response_complete(self):
        return self.state == _DONE

    @property
    def body_complete(self):
        return self._body_complete

    @property
    def disconnected(self):
        return self._disconnected

    cdef inline int _feed_body(self, bytes data) except -1:
        if self._body is None:
            self._body = [data]
        else:
            self._body.append(data)
        self._buffered += PyBytes_GET_SIZE(data)
        if self._buffered > BODY_HIGH_WATER and not self._reading_paused:
            self._reading_paused = True
            self.stream._pause(_PAUSE_BODY)
        self._wake()
        return 0

    cdef inline int _end_body(self) except -1:
        self._body_complete = True
        self._wake()
        return 0

    cdef inline int _disconnect(self) except -1:
        self._disconnected = True
        self._wake()
        return 0

    cdef inline int _input_close(self) except -1:
        self._input_closed = True
        self._wake()
        return 0

    def feed_body(self, bytes data not None):
        self._feed_body(data)

    def end_body(self):
        self._end_body()

    def disconnect(self):
        """The connection is gone: receive() says so, send() raises."""
        self._disconnect()

    def input_closed(self):
        """The client stopped sending (EOF) after a complete request."""
        self._input_close()

    cdef inline int _wake(self) except -1:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        return 0

    # -- the application's callables ---------------------------------------------------------

    async def receive(self):
        cdef list chunks
        while True:
            chunks = self._body
            if chunks is not None and PyList_GET_SIZE(chunks):
                body = chunks[0] if PyList_GET_SIZE(chunks) == 1 else _B_EMPTY.join(chunks)
                chunks.clear()
                self._buffered = 0
                if self._reading_paused:
                    self._reading_paused = False
                    self.stream._resume(_PAUSE_BODY)
                more = not self._body_complete
                if not more:
                    self._final_delivered = True
                return {"type": _S_HTTP_REQUEST, "body": body, "more_body": more}
            if self._disconnected or self.state == _DONE:
                return {"type": _S_HTTP_DISCONNECT}
            if self._body_complete and not self._final_delivered:
                self._final_delivered = True
                return {"type": _S_HTTP_REQUEST, "body": _B_EMPTY, "more_body": False}
            if self._input_closed:
                return {"type": _S_HTTP_DISCONNECT}
            await wait_for_input(self)

    def send(self, message):
        # Not a coroutine function: the message is handled when send() is called, and
        # what comes back is an already-complete awaitable (or, when the transport
        # is above its high-water mark, the wait for it to drain). An exception is
        # raised by the call itself, inside the app's ``await send(...)`` expression.
        cdef int state
        cdef bint more
        cdef _H1Base stream
        cdef PyObject* hit
        if PyDict_CheckExact(message):
            hit = PyDict_GetItemWithError_ptr(message, "type")
            if hit == NULL:
                raise TypeError(f"ASGI message must be a dict with a 'type', got {message!r}") from None
            kind = <object>hit
        else:
            try:
                kind = message["type"]
            except (TypeError, KeyError):
                raise TypeError(f"ASGI message must be a dict with a 'type', got {message!r}") from None
        state = self.state
        if state == _BODY and _str_eq(kind, _S_BODY):
            if self._disconnected:
                raise _ClientDisconnected("client disconnected")
            body = _mget(message, "body", _B_EMPTY)
            more_obj = _mget(message, "more_body", False)
            if not PyBytes_CheckExact(body):
                if not isinstance(body, (bytes, bytearray, memoryview)):
                    raise TypeError(f"http.response.body 'body' must be bytes, got {type(body).__name__}")
                body = bytes(body)
            stream = self.stream
            more = more_obj
            if not more:
                self.state = _TRAILERS if self._trailers else _DONE
            stream._send_body(<bytes>body, more)
            if not more and not self._trailers:
                self._complete()
            elif stream.write_paused:
                return stream.drain()
            return _READY
        if state == _START and _str_eq(kind, _S_START):
            if self._disconnected:
                raise _ClientDisconnected("client disconnected")
            status = _mget(message, "status", None)
            headers = _mget(message, "headers", ())
            trailers = bool(_mget(message, "trailers", False))
            # Invalid status or headers raise here; nothing has been written.
            self.stream._start_response(status, headers, trailers)
            self.status = status
            self._trailers = trailers
            self.state = _BODY
            return _READY
        if state == _BODY and _str_eq(kind, _S_PATHSEND):
            if self._disconnected:
                raise _ClientDisconnected("client disconnected")
            path = _mget(message, "path", None)
            if not isinstance(path, str):
                raise TypeError("http.response.pathsend 'path' must be a str")
            return self._send_path(path)
        if state == _TRAILERS and _str_eq(kind, _S_TRAILERS):
            if self._disconnected:
                raise _ClientDisconnected("client disconnected")
            headers = list(_mget(message, "headers", ()))
            if _mget(message, "more_trailers", False):
                if self._trailer_headers is None:
                    self._trailer_headers = []
                self._trailer_headers.extend(headers)
                return _READY
            if self._trailer_headers is not None:
                headers = self._trailer_headers + headers
            self.stream.send_trailers(headers)  # invalid trailers raise; never written
            self.state = _DONE
            self._complete()
            return _READY
        raise unexpected_message(state, kind)

    async def _send_path(self, path):
        await self.stream.send_file(path)  # on failure the response is aborted
        self.state = _TRAILERS if self._trailers else _DONE
        if not self._trailers:
            self._complete()

    cdef inline int _complete(self) except -1:
        self._wake()
        self.stream._response_complete()
        return 0

    # -- after the application returns -----------------------------------------------------

    cdef int _app_finished(self, object exc, object result) except -1:
        if exc is not None or result is not None or self.state != _DONE:
            finish_response(self, exc, result, self._disconnected, self._input_closed)
        return 0

    def app_finished(self, exc, result=None):
        """Settle the response once the application coroutine has ended."""
        self._app_finished(exc, result)


@cython.final
@cython.freelist(16)
@cython.auto_pickle(False)
cdef class _Head:
    """Twin of :class:`pyre.asgi.native.RequestHead` (the same attributes and methods,
    its lazy values from the same functions), filled in C by ``_on_request``."""

    cdef readonly object native
    cdef readonly object info
    cdef readonly object method
    cdef readonly object path
    cdef readonly object raw_path
    cdef readonly object query_string
    cdef readonly object http_version
    cdef readonly object headers
    cdef readonly object root_path
    cdef object _forwarded
    cdef object _scope

    @property
    def server(self):
        return self.info.server

    @property
    def client(self):
        return self._peer()[0]

    @property
    def scheme(self):
        return self._peer()[1]

    cdef object _peer(self):
        if self._forwarded is None:
            self._forwarded = _forwarded_peer(self.native, self.info, self.headers)
        return self._forwarded

    def scope(self):
        """The ``http`` scope the ASGI path would have given the app (assembled once)."""
        if self._scope is None:
            self._scope = _assemble_scope(self)
        return self._scope

    def __repr__(self):
        return f"<RequestHead {self.method} {self.path}>"


async def _run_asgi(app, HTTPCycle cycle, set tasks):
    """The task body for one request (twin of ``pyre.asgi.http.run_asgi``)."""
    try:
        result = await app(cycle.scope, cycle.receive, cycle.send)
    except BaseException as exc:
        cycle._app_finished(exc, None)
        if not isinstance(exc, Exception) and not isinstance(exc, _CancelledError):
            raise
    else:
        cycle._app_finished(None, result)
    finally:
        PySet_Discard(tasks, cycle.task)


# -- the server's live state, read per request ----------------------------------------------------
#
# ``shutting_down``, ``date_line``, ``request_observers`` and ``total_requests`` change
# while the server runs, so they are read from the context on every use. When the
# context is a plain object (no data descriptor for these names, the default attribute
# access), such a read is exactly a lookup in its ``__dict__``, which is what is done,
# with ``getattr`` when the name is not there (a class attribute, say); otherwise every
# read is ``getattr``.

cdef tuple _LIVE_NAMES = ("shutting_down", "date_line", "request_observers", "total_requests")
cdef str _S_SHUTTING_DOWN = "shutting_down"
cdef str _S_DATE_LINE = "date_line"
cdef str _S_REQUEST_OBSERVERS = "request_observers"
cdef str _S_TOTAL_REQUESTS = "total_requests"


cdef dict _live_dict(object ctx):
    """``ctx.__dict__`` when reading it is what attribute access on ``ctx`` does for the
    live names, else None."""
    cls = type(ctx)
    if cls.__getattribute__ is not object.__getattribute__ or cls.__setattr__ is not object.__setattr__:
        return None
    for klass in cls.__mro__:
        for name in _LIVE_NAMES:
            attr = klass.__dict__.get(name)
            if attr is not None and (hasattr(type(attr), "__set__") or hasattr(type(attr), "__delete__")):
                return None  # a data descriptor (a property, a slot) decides, not the dict
    live = getattr(ctx, "__dict__", None)
    return live if PyDict_CheckExact(live) else None


# -- the connection (twin of pyre.transport.h1.H1Protocol) ---------------------------------------


@cython.auto_pickle(False)
cdef class _H1Base:
    """One HTTP/1.1 connection (compiled twin); ``H1Protocol`` adds ``asyncio.Protocol``."""

    cdef public object ctx
    cdef public object loop
    cdef public object transport
    cdef public object parser
    cdef public object info
    cdef public HTTPCycle cycle
    cdef public double deadline
    cdef public int phase
    cdef public bint write_paused
    cdef public object _drain_waiter
    cdef int _read_paused
    cdef bint _request_keep_alive
    cdef public bint _http11
    cdef bint _head_request
    cdef public bint _expect_continue
    cdef public object _request
    cdef public bint _body_complete
    cdef public long long _body_left  # Content-Length (0 if chunked) minus the body bytes received
    cdef public bint _chunked_request
    cdef public bytes _head
    cdef public int _framing
    cdef public long long _remaining
    cdef bint _keep_alive
    cdef public bint _trailers
    cdef public int _status
    cdef public bint _overflow
    cdef public bint _eof
    cdef public str _client_text
    cdef bint _dispatching
    cdef bint _resume_pending
    cdef public list _out
    cdef public Py_ssize_t _out_size
    cdef bint _flush_scheduled
    # Looked up once: per-connection facts and what the server never changes.
    cdef str _root_path
    cdef bytes _raw_root_path
    cdef bint _has_root_path
    cdef dict _scope_template
    cdef dict _tls
    cdef object _write
    cdef object _writelines
    cdef object _time
    cdef object _app
    cdef object _native
    cdef set _tasks
    cdef set _connections
    cdef object _lifespan_state
    cdef object _limit
    cdef double _timeout_keep_alive
    cdef double _timeout_request_header
    cdef bytes _server_line
    cdef bytes _extra_lines
    cdef bint _access_log
    cdef object _access_logger
    # This request goes to ctx.request_done (timed at its head; its body bytes are
    # counted by _body_left, its response body bytes by _bytes_sent).
    cdef public bint _track
    cdef public double _t0
    cdef public long long _bytes_sent
    cdef dict _task_kwargs
    cdef dict _live  # ctx.__dict__ (see _live_dict), or None
    cdef object _feed
    cdef object _resume_parser
    cdef object _parser_get_buffer
    cdef object _parser_buffer_updated
    cdef bint _cparser  # the parser is the compiled one: called through its C entry points
    # --timeout-send (H1Common): set while the client must read what is queued (see SendWatch).
    cdef public object _send_watch
    # --timeout-request-body (H1Common): the end of the body clock while the
    # app waits, else the seconds left; _body_left at the last settling; whose clock.
    cdef public double _body_deadline
    cdef public double _body_credit
    cdef public long long _body_mark
    cdef public object _body_clock_of

    def __init__(self, ctx):
        # Cython starts every C field at 0, False or None (the pure twin's __init__ lists
        # them all); only the other starting values are set here.
        self.ctx = ctx
        self._live = _live_dict(ctx)
        self.loop = ctx.loop
        self.parser = RequestParser(ctx.limits)
        self.phase = _IDLE
        self._request_keep_alive = True
        self._http11 = True
        self._body_complete = True
        self._framing = _F_NONE
        self._keep_alive = True
        self._client_text = ""
        self._out = []
        self._time = self.loop.time
        # The first step runs at once on 3.12+, inside a real task: no scheduling round-trip.
        self._task_kwargs = task_kwargs(self.loop)
        self._feed = self.parser.feed
        self._resume_parser = self.parser.resume
        self._parser_get_buffer = self.parser.get_buffer
        self._parser_buffer_updated = self.parser.buffer_updated
        self._cparser = is_parser(self.parser)
        # The native path (ctx.native): the app's native entry takes a RequestHead as the scope.
        self._native = ctx.native
        self._app = ctx.app if self._native is None else self._native.entry
        self._tasks = ctx.tasks
        self._connections = ctx.connections
        self._lifespan_state = ctx.lifespan_state
        self._limit = ctx.limit_concurrency
        self._timeout_keep_alive = ctx.timeout_keep_alive
        self._timeout_request_header = ctx.timeout_request_header
        self._server_line = _as_bytes(ctx.server_line)
        self._extra_lines = _as_bytes(ctx.extra_lines)
        self._access_log = ctx.access_log
        self._access_logger = ctx.access_logger

    cdef inline Py_ssize_t _parser_buffered(self) except -1:
        return parser_buffered(self.parser) if self._cparser else self.parser.buffered

    cdef inline bint _parser_paused(self) except -1:
        return parser_paused(self.parser) if self._cparser else self.parser.paused

    cdef inline object _ctx_get(self, str name):
        """``getattr(self.ctx, name)`` for a live name (see ``_live_dict``)."""
        cdef PyObject* value
        if self._live is not None:
            value = PyDict_GetItemWithError_ptr(self._live, name)
            if value != NULL:
                return <object>value
        return getattr(self.ctx, name)

    cdef inline int _count_request(self) except -1:
        """``ctx.total_requests += 1``."""
        cdef PyObject* value
        if self._live is not None:
            value = PyDict_GetItemWithError_ptr(self._live, _S_TOTAL_REQUESTS)
            if value != NULL:
                self._live[_S_TOTAL_REQUESTS] = <object>value + 1
                return 0
        self.ctx.total_requests += 1
        return 0

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport
        ctx = self.ctx
        info = _connection_info(transport, ctx.root_path)
        client = info.client
        self.info = info
        self._tls = info.tls
        self._root_path = info.root_path
        self._raw_root_path = info.raw_root_path
        self._has_root_path = bool(self._root_path)
        # Every key of the http scope, in http_scope's order; None marks per-request values
        # (the HTTP version too: it is the request's).
        self._scope_template = http_scope_template(info, None)
        self._write = transport.write
        self._writelines = bounded_writelines(transport)
        self._client_text = f"{client[0]}:{client[1]}" if client else "-"
        PySet_Add(self._connections, self)
        self.deadline = self._time() + self._timeout_keep_alive
        if ctx.shutting_down:  # made during a shutdown (taken from a listener's queue, or after a PROXY header)
            self.shutdown()

    def get_buffer(self, sizehint):
        # The parser lends a pooled block (or a large body's own bytes) and takes it back
        # in buffer_updated: see pyre.protocol.h1.parsing.
        if self._cparser:
            return parser_get_buffer(self.parser)
        return self._parser_get_buffer(sizehint)

    def buffer_updated(self, nbytes):
        self._received(None, nbytes)

    def data_received(self, data):
        self._received(data, 0)

    cdef int _received(self, object data, object nbytes) except -1:
        """Parse a read (``data``, or ``nbytes`` bytes in the parser's lent buffer)."""
        cdef object events
        if self.phase == _IDLE:
            self.phase = _HEAD
            self.deadline = self._time() + self._timeout_request_header
        try:
            if data is None:
                events = (parser_buffer_updated(self.parser, nbytes) if self._cparser
                          else self._parser_buffer_updated(nbytes))
            else:
                events = self._feed(data)
        except ParseError as exc:
            self._on_parse_error(exc)
            return 0
        if events:
            self._dispatch(events)
        if self._parser_buffered() > PIPELINE_BUFFER_LIMIT and self._parser_paused():
            self._pause(_PAUSE_PIPELINE)
        return 0

    # -- parser events ---------------------------------------------------------------------

    cdef int _dispatch(self, object events) except -1:
        """Apply one message's events, then start its application; repeat while
        responses complete meanwhile and pipelined requests wait (a loop, not
        recursion)."""
        cdef HTTPCycle cycle
        self._dispatching = True
        try:
            while True:
                cycle = self._apply(events)
                if cycle is not None:
                    self._start(cycle)
                if not self._resume_pending:
                    return 0
                self._resume_pending = False
                try:
                    events = parser_resume(self.parser) if self._cparser else self._resume_parser()
                except ParseError as exc:
                    self._on_parse_error(exc)
                    return 0
                if not events:
                    if self.phase == _IDLE and self._parser_buffered():
                        self.phase = _HEAD
                        self.deadline = self._time() + self._timeout_request_header
                    return 0
        finally:
            self._dispatching = False
            if PyList_GET_SIZE(self._out):
                self._flush()  # responses finished during the dispatch, in one write

    cdef HTTPCycle _apply(self, object events):
        """Feed events to the request in flight; return a new, not yet started cycle."""
        cdef HTTPCycle new_cycle = None
        cdef object kind
        cdef bytes data
        for event in events:
            kind = type(event)
            if kind is _Request:
                new_cycle = self._on_request(event)
            elif kind is _Body:
                data = _body_data(event)
                self._body_left -= PyBytes_GET_SIZE(data)
                if self.phase == _BUSY and self.cycle is not None:
                    self.cycle._feed_body(data)
            elif kind is _EndOfMessage:
                self._body_complete = True
                if self.phase == _DRAIN:
                    self._next_request()
                elif self.cycle is not None:
                    self.cycle._end_body()
            else:  # H2Preface
                self._on_h2_preface()
                return None
        return new_cycle

    cdef int _start(self, HTTPCycle cycle) except -1:
        """Run the application for ``cycle`` in its own task (eagerly where possible)."""
        # Task(coro, loop=..., name=..., eager_start=...) with this connection's keyword
        # dict, built once: Task only reads it (a call with keywords builds one per call).
        task = PyObject_Call(_Task, (_run_asgi(self._app, cycle, self._tasks),), self._task_kwargs)
        # Only an eager task (3.12+, its first step ran just now) can be done already.
        if not _EAGER or not task.done():
            cycle.task = task
            PySet_Add(self._tasks, task)  # _run_asgi removes it when it ends
        return 0

    cdef HTTPCycle _on_request(self, object request):
        cdef HTTPCycle cycle
        cdef bytes raw_path
        cdef str path
        cdef str method
        cdef _Head head
        cdef long long content_length
        cdef bint chunked
        ctx = self.ctx
        if _rfield(request, R_UPGRADE) is not None and self._upgrade(request):
            return None
        self.phase = _BUSY
        self.deadline = 0.0
        self._request_keep_alive = _rfield(request, R_KEEP_ALIVE) and not self._ctx_get(_S_SHUTTING_DOWN)
        self._request = request
        method = _rfield(request, R_METHOD)
        http_version = _rfield(request, R_VERSION)
        self._http11 = _str_eq(http_version, _S_V11)
        self._head_request = _str_eq(method, _S_HEAD)
        expect_continue = _rfield(request, R_EXPECT)
        self._expect_continue = expect_continue
        chunked = _rfield(request, R_CHUNKED)
        content_length = _rfield(request, R_LENGTH)
        self._body_complete = not (chunked or content_length > 0)  # not request.has_body
        self._chunked_request = chunked
        self._body_left = content_length if content_length > 0 else 0
        self._head = None
        self._framing = _F_NONE
        self._remaining = 0
        self._overflow = False
        self._trailers = False
        self._status = 0
        self._bytes_sent = 0
        # One test per request decides whether it is timed and reported (ctx.wants_requests);
        # the observers are read per request, so one added later is seen at once.
        self._track = (self._access_log and self._access_logger.isEnabledFor(_INFO)) or bool(
            self._ctx_get(_S_REQUEST_OBSERVERS))
        if self._track:
            self._t0 = ctx.clock()
        self._count_request()
        limit = self._limit
        if limit is not None and (len(self._tasks) >= limit or len(self._connections) > limit):
            self._reject(503, "the server is at its concurrency limit", True)
            return None
        raw_path = _rfield(request, R_PATH)
        path = PyUnicode_DecodeLatin1(PyBytes_AS_STRING(raw_path), PyBytes_GET_SIZE(raw_path), NULL)
        if memchr(PyBytes_AS_STRING(raw_path), b'%', <size_t>PyBytes_GET_SIZE(raw_path)) != NULL:
            path = _unquote(path)
        if self._has_root_path:
            path = self._root_path + path
            raw_path = self._raw_root_path + raw_path
        cycle = HTTPCycle.__new__(HTTPCycle)
        if self._native is not None:
            # The native path (twin of pyre.asgi.native.request_head): no scope dict.
            head = _Head.__new__(_Head)
            head.native = self._native
            head.info = self.info
            head.method = method
            head.path = path
            head.raw_path = raw_path
            head.query_string = _rfield(request, R_QUERY)
            head.http_version = http_version
            head.headers = _rfield(request, R_HEADERS)
            head.root_path = self._root_path
            cycle.scope = head
        else:
            cycle.scope = self._http_scope(method, http_version, path, raw_path, request)
        cycle.stream = self
        cycle.state = _START
        cycle.status = 0
        cycle.task = None
        cycle._body_complete = self._body_complete
        cycle._expect_continue = expect_continue
        self.cycle = cycle
        return cycle

    cdef dict _http_scope(self, str method, str http_version, str path, bytes raw_path, object request):
        # The scope (twin of pyre.asgi.scope.http_scope): a copy of this connection's
        # template, which holds every key in order and the per-connection values.
        cdef dict scope, extensions, tls
        scope = PyDict_Copy(self._scope_template)
        scope["asgi"] = PyDict_Copy(_ASGI_DICT)
        scope["http_version"] = http_version
        scope["method"] = method
        scope["path"] = path
        scope["raw_path"] = raw_path
        scope["query_string"] = _rfield(request, R_QUERY)
        scope["headers"] = _rfield(request, R_HEADERS)
        # A fresh dict per request (apps may mutate theirs).
        extensions = {"http.response.trailers": {}, "http.response.pathsend": {}}
        if self._tls is not None:
            tls = PyDict_Copy(self._tls)
            tls["client_cert_chain"] = list(self._tls["client_cert_chain"])
            extensions["tls"] = tls
        scope["extensions"] = extensions
        state = self._lifespan_state
        if state is not None:
            scope["state"] = PyDict_Copy(state) if PyDict_CheckExact(state) else state.copy()
        return scope

    # -- output: corked writes ---------------------------------------------------------------

    cdef int _emit(self, bytes data, bint final) except -1:
        """Queue response bytes; write what an app sends without suspending at once."""
        cdef list out = self._out
        if final and not PyList_GET_SIZE(out) and not self._dispatching:
            if PyBytes_GET_SIZE(data):
                self._write(data)  # a whole response in one message: the usual case
            return 0
        out.append(data)
        self._out_size += PyBytes_GET_SIZE(data)
        if self._out_size >= _CORK_LIMIT or (final and not self._dispatching):
            self._flush()
        elif not self._flush_scheduled and not self._dispatching:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush_callback)
        return 0

    def _flush_callback(self):
        self._flush()

    cdef int _flush(self) except -1:
        cdef list out
        cdef Py_ssize_t size, n
        self._flush_scheduled = False
        out = self._out
        n = PyList_GET_SIZE(out)
        if not n:
            return 0
        self._out = []
        size = self._out_size
        self._out_size = 0
        if self.phase == _CLOSED:
            return 0
        if n == 1:
            self._write(out[0])
        elif size <= _JOIN_LIMIT:
            self._write(_B_EMPTY.join(out))
        else:
            self._writelines(out)
        return 0

    # -- ResponseStream (called by the cycle) ---------------------------------------------------

    cdef int _start_response(self, object status, object headers, bint trailers) except -1:
        cdef _HeadOut out
        cdef bint keep_alive = self._request_keep_alive and not self._ctx_get(_S_SHUTTING_DOWN) and not self._eof
        if self._expect_continue and not self._body_complete:
            # The app answers without asking for the body the client withholds.
            keep_alive = False
        head = _encode_head(status, headers, self._http11, self._head_request, keep_alive,
                            self._server_line, _as_bytes(self._ctx_get(_S_DATE_LINE)), self._extra_lines, &out)
        self._head = head
        self._remaining = out.content_length
        self._keep_alive = out.keep_alive
        self._status = status
        self._framing = out.framing
        self._trailers = trailers and out.framing == _F_CHUNKED
        return 0

    cdef int _send_body(self, bytes data, bint more_body) except -1:
        cdef int framing
        cdef Py_ssize_t n
        cdef bytes out, head
        if self.phase == _CLOSED:
            return 0
        framing = self._framing
        if framing == _F_LENGTH:
            out = _LENGTH.frame(data, False, self._remaining)
            n = PyBytes_GET_SIZE(out)
            if n < PyBytes_GET_SIZE(data):
                if not self._overflow:
                    logger.error("Response content longer than Content-Length; truncated and closing")
                self._overflow = True
            self._remaining -= n
            self._bytes_sent += n
        elif framing == _F_CHUNKED:
            self._bytes_sent += PyBytes_GET_SIZE(data)
            out = _CHUNKED.frame(data, not more_body and not self._trailers, 0)
        elif framing == _F_NONE:
            out = _B_EMPTY
        else:
            self._bytes_sent += PyBytes_GET_SIZE(data)
            out = data
        head = self._head
        if head is not None:
            self._head = None
            if PyBytes_GET_SIZE(out) and PyBytes_GET_SIZE(out) <= _JOIN_LIMIT:
                out = _concat(head, out)
            else:
                self._emit(head, False)
        self._emit(out, not more_body)
        return 0

    def start_response(self, status, headers, trailers):
        self._start_response(status, headers, trailers)

    def send_body(self, data, more_body):
        self._send_body(data, more_body)

    def pause_reading(self):
        self._pause(_PAUSE_BODY)

    def resume_reading(self):
        self._resume(_PAUSE_BODY)

    cdef int _pause(self, int reason) except -1:
        if not self._read_paused and self.phase != _CLOSED:
            self.transport.pause_reading()
        self._read_paused |= reason
        return 0

    cdef int _resume(self, int reason) except -1:
        if self._read_paused & reason:
            self._read_paused &= ~reason
            if not self._read_paused and self.phase != _CLOSED:
                self.transport.resume_reading()
        return 0

    cdef int _response_complete(self) except -1:
        if self.phase == _CLOSED:
            return 0
        if self._framing == _F_LENGTH and self._remaining > 0:
            self._end_short_response()
        else:
            if self._track:
                self._request_done()
            if self._overflow or not self._keep_alive or self._eof:
                self._close()
            elif self._body_complete:
                self._next_request()
            else:
                self._drain_request_body()
        return 0

    def response_complete(self):
        self._response_complete()

    # -- keep-alive, timeouts, shutdown ---------------------------------------------------------

    cdef int _next_request(self) except -1:
        cdef double wait = self._timeout_keep_alive
        self.cycle = None
        self.phase = _IDLE
        if self._ctx_get(_S_SHUTTING_DOWN) and SHUTDOWN_GRACE < wait:
            wait = SHUTDOWN_GRACE
        self.deadline = self._time() + wait
        self._resume(_PAUSE_PIPELINE)
        self._resume_pending = True
        if not self._dispatching:
            self._dispatch(())
        return 0

class H1Protocol(_H1Base, H1Common, asyncio.BufferedProtocol):
    """One HTTP/1.1 connection (the compiled twin of ``pyre.transport.h1.H1Protocol``).

    ``_H1Base`` is the per-request path; ``H1Common`` (shared with the pure twin) the
    rest, which calls back the two C methods below by the names the pure twin uses."""

    __slots__ = ()

    def _emit(self, data, final):
        (<_H1Base>self)._emit(data, final)

    def _flush(self):
        (<_H1Base>self)._flush()
