# Augmenting declarations for pyre/transport/ws.py, compiled by setup.py as the extension
# pyre.transport._ws_c (Cython pure-Python mode: the .py is the source, this file only
# types it). The connection's fields become C slots of the cdef class _WSBase;
# WSProtocol, a Python class, adds asyncio.Protocol (as H1Protocol does over _H1Base).

import cython

# The compiled cycle and session, called in C (the connection's COMPILED branches).
from pyre.asgi._websocket_c cimport WebSocketCycle as CWebSocketCycle, WSStreamCalls
from pyre.protocol.ws._session_c cimport WSSession as CWSSession

cdef int _CONNECTING, _OPEN, _CLOSING, _DONE
cdef Py_ssize_t _CORK_LIMIT

cdef class _WSBase:
    cdef public object ctx
    cdef public object loop
    cdef public object transport
    cdef public object info
    cdef public object handshake
    cdef public int phase
    cdef public double deadline
    cdef public CWebSocketCycle cycle  # the compiled cycle, whatever pyre._accel chose
    cdef public CWSSession session
    cdef public object _pending
    cdef public bint _read_paused
    cdef public bint write_paused
    cdef public Py_ssize_t _max_queue
    cdef public object _ping_interval
    cdef public object _drain_waiters
    cdef public object _send_watch
    cdef public bint _ping_outstanding
    cdef public bint _deny_chunked
    cdef public bint _flush_scheduled
    cdef public bint _replying
    cdef public object _request
    cdef public bint _track
    cdef public double _t0
    cdef public int _deny_status
    cdef public Py_ssize_t _deny_bytes

    @cython.locals(session=CWSSession, cycle=CWebSocketCycle)
    cpdef data_received(self, data)
    @cython.locals(session=CWSSession)
    cpdef message_taken(self)
    @cython.locals(session=CWSSession, cycle=CWebSocketCycle)
    cpdef send_message(self, data)

# What the compiled cycle calls: this connection's methods in C.
cdef WSStreamCalls WS_STREAM_CALLS
cdef object _send_message_of(object conn, object data)
cdef object _message_taken_of(object conn)
cdef bint _write_paused_of(object conn) except -1
