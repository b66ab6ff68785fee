# Augmenting declarations for pyre/transport/h1.py, compiled by setup.py as the
# extension pyre.transport._h1_c (Cython pure-Python mode: the .py is the source, this
# file only types it). _H1Connection (the per-request path of H1Protocol) becomes a
# cdef class: its fields C fields (public, as the pure twin's slots are: H1Common and
# the tests read them by name), its per-request calls C calls.

import cython

from pyre.asgi._http_c cimport HTTPCycle as CHTTPCycle, StreamCalls
from pyre.protocol.h1._framing_c cimport ChunkedWriter, LengthWriter
from pyre.protocol.h1.request_layout cimport Request as RequestC

cdef bint COMPILED
# The phases, reasons to pause and framings of pyre.transport.h1_common and
# pyre.protocol.h1.writer, as C constants here.
cdef int IDLE, HEAD, BUSY, DRAIN, CLOSED, PAUSE_BODY, PAUSE_PIPELINE, FRAME_CHUNKED, FRAME_LENGTH, FRAME_NONE
cdef Py_ssize_t CORK_LIMIT, JOIN_LIMIT, PIPELINE_BUFFER_LIMIT
cdef double SHUTDOWN_GRACE
cdef object _INFO, Task, _MISSING
# The parser's events and error (pyre.protocol.h1.parsing), looked up in C.
cdef object Request, Body, EndOfMessage, ParseError
cdef dict ASGI
cdef tuple LIVE_NAMES
cdef str HTTP_11
cdef bint EAGER
# The body writers (pyre.protocol.h1.framing's compiled twin), called in C.
cdef LengthWriter LENGTH_WRITER
cdef ChunkedWriter CHUNKED_WRITER
# What the compiled cycle calls (pyre.asgi._http_c's StreamCalls): this connection's methods in C.
cdef StreamCalls STREAM_CALLS
@cython.locals(out=bytes, p=cython.p_char)
cdef bytes _concat(bytes a, bytes b)
cdef object _start_response_of(object conn, object status, object headers, bint trailers)
cdef object _send_body_of(object conn, bytes data, bint more_body)
cdef object _response_complete_of(object conn)
cdef bint _write_paused_of(object conn) except -1


cdef class _H1Connection:
    cdef public object ctx, loop, transport, parser, info
    cdef public CHTTPCycle cycle  # the compiled cycle, whatever pyre._accel chose
    cdef public double deadline
    cdef public int phase
    cdef public bint write_paused
    cdef public object _drain_waiter
    cdef public int _read_paused
    cdef public bint _request_keep_alive, _http11, _head_request, _expect_continue
    cdef public object _request
    cdef public bint _body_complete
    cdef public long long _body_left
    cdef public bint _chunked_request
    cdef public object _head
    cdef public int _framing
    cdef public long long _remaining
    cdef public bint _keep_alive, _trailers
    cdef public object _status
    cdef public bint _overflow, _eof
    cdef public object _client_text
    cdef public bint _dispatching, _resume_pending
    cdef public list _out
    cdef public Py_ssize_t _out_size
    cdef public Py_ssize_t _mss
    cdef public object _writelines
    cdef public bint _flush_scheduled, _track
    cdef public double _t0
    cdef public long long _bytes_sent
    cdef public object _send_watch
    cdef public double _body_deadline, _body_credit
    cdef public long long _body_mark
    cdef public object _body_clock_of
    cdef public bint _cparser
    cdef public object _write, _time
    cdef public dict _task_kwargs
    cdef public object _app, _native
    cdef public set _tasks, _connections
    cdef public object _limit, _lifespan_state
    cdef public double _timeout_keep_alive, _timeout_request_header
    cdef public bint _access_log
    cdef public object _access_logger
    cdef public dict _live
    cdef public bytes _server_line, _extra_lines
    cdef public dict _scope_template
    cdef public str _root_path
    cdef public bytes _raw_root_path
    cdef public object _tls, _proxy
    cdef public frozenset _proxy_names

    cdef _received(self, data, Py_ssize_t nbytes)
    @cython.locals(live=dict)
    cdef _live_get(self, str name)
    cdef _dispatch(self, events)
    @cython.locals(n=Py_ssize_t)
    cdef Py_ssize_t _parser_buffered(self) except -1
    cdef _apply(self, events)
    cdef _start(self, CHTTPCycle cycle)
    @cython.locals(body_complete=bint, chunked=bint, expect_continue=bint, content_length=cython.longlong,
                   track=bint, method=str, http_version=str, live=dict, cycle=CHTTPCycle)
    cdef _on_request(self, RequestC request)
    @cython.locals(scope=dict, extensions=dict, raw_path=bytes, path=str, root_path=str)
    cdef dict _http_scope(self, RequestC request, method, http_version)
    @cython.locals(out=list)
    cpdef _emit(self, bytes data, bint final)
    @cython.locals(out=list, size=Py_ssize_t)
    cpdef _flush(self)
    cpdef _flush_whole_segments(self)
    @cython.locals(keep_alive=bint, result=tuple)
    cpdef start_response(self, status, headers, trailers)
    @cython.locals(framing=int, out=bytes, head=bytes)
    cpdef send_body(self, bytes data, bint more_body)
    cpdef pause_reading(self)
    cpdef resume_reading(self)
    cdef _pause(self, int reason)
    cdef _resume(self, int reason)
    cpdef response_complete(self)
    @cython.locals(wait=double)
    cdef _next_request(self)
