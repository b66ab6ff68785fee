# Augmenting declarations for pyre/asgi/http.py, compiled by setup.py as the extension
# pyre.asgi._http_c (Cython pure-Python mode: the .py is the source, this file only
# types it). HTTPCycle becomes a cdef class: its state is C fields, its coroutines
# (receive, send, run_asgi) Cython coroutines. The names it shares with every cycle
# twin (ClientDisconnected, the states) stay those of pyre.asgi.http_common.

import cython

cdef bint COMPILED
cdef dict _EMPTY_REQUEST_BODY
# The send-side states and the body bound of pyre.asgi.http_common, as C constants here.
cdef int START, BODY, TRAILERS, DONE
cdef Py_ssize_t BODY_HIGH_WATER
cdef object _EXHAUSTED, _NO_TYPE


@cython.final
cdef class Ready:
    pass


# ``kind == name`` for an ASCII constant ``name`` (pyre/asgi/http.py); cimported by the
# compiled HTTP/1.1 connection.
@cython.locals(n=Py_ssize_t)
cdef bint same_text(kind, str name) except -1


# A connection that knows this cycle's C type (the compiled HTTP/1.1 connection) hands
# it these functions, which the cycle then calls instead of the stream's methods by
# name (pyre/transport/h1.py: its STREAM_CALLS); NULL for any other stream.
cdef struct StreamCalls:
    object (*start_response)(object stream, object status, object headers, bint trailers)
    object (*send_body)(object stream, bytes data, bint more_body)
    object (*response_complete)(object stream)
    bint (*write_paused)(object stream) except -1


@cython.freelist(16)
cdef class HTTPCycle:
    cdef StreamCalls* stream_calls
    cdef public object scope
    cdef public object stream
    cdef public int state
    cdef public object status
    cdef public object task
    cdef list _body
    cdef public Py_ssize_t _buffered  # public: read by tests (how much body is held)
    cdef bint _final_delivered, _disconnected, _input_closed, _reading_paused, _trailers
    # public: read and written by pyre.asgi.http_common.wait_for_input
    cdef public bint _body_complete, _expect_continue
    cdef public object _waiter
    cdef list _trailer_headers
    cdef object _request_trailers

    cpdef feed_body(self, data)
    cpdef end_body(self, trailers=*)
    cpdef disconnect(self)
    cpdef input_closed(self)
    cdef _wake(self)
    @cython.locals(state=int, direct=bint)
    cdef _send(self, dict message)
    cdef _complete(self)
    cpdef app_finished(self, exc, result=*)


@cython.locals(cycle=HTTPCycle)
cpdef HTTPCycle new_cycle(scope, stream, bint body_complete, bint expect_continue)
# The per-request step of --proxy-headers, for both connections (the HTTP/1.1 one cimports it).
cpdef apply_proxy(proxy, frozenset names, dict scope, list headers)


@cython.locals(http=HTTPCycle)
cdef _settle(cycle, set tasks, exc, result)  # cycle: an HTTPCycle or a WebSocketCycle
