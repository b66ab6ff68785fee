# Augmenting declarations for pyre/asgi/websocket.py, compiled by setup.py as the extension
# pyre.asgi._websocket_c (Cython pure-Python mode: the .py is the source, this file only
# types it). The cycle becomes a cdef class: its receive()/send() are compiled coroutines
# (collections.abc.Coroutine, as anyio and asyncio require), its fields C slots.

import cython

cdef int _CONNECTING, _OPEN, _DENYING, _CLOSED

cdef object _send_data(dict message)

# A connection that knows this cycle's C type (the compiled WebSocket over HTTP/1.1)
# hands it these functions, which the cycle then calls instead of the stream's methods
# by name (pyre/transport/ws.py: its WS_STREAM_CALLS); NULL for any other stream.
cdef struct WSStreamCalls:
    object (*send_message)(object stream, object data)
    object (*message_taken)(object stream)
    bint (*write_paused)(object stream) except -1


cdef class WebSocketCycle:
    cdef WSStreamCalls* stream_calls
    cdef public object scope
    cdef public object stream
    cdef public object task
    cdef public int state
    cdef public Py_ssize_t queued
    cdef bint _connect_sent
    cdef object _messages
    cdef object _waiter
    cdef bint _disconnected
    cdef object _close_code
    cdef object _close_reason
    cdef object _create_future
    cdef object _append
    cdef object _popleft

    cpdef feed_message(self, data)
