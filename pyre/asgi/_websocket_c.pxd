# Augmenting declarations for pyre/asgi/websocket.py, compiled by setup.py as the extension
# pyre.asgi._websocket_c (Cython pure-Python mode: the .py is the source, this file only
# types it). The cycle becomes a cdef class: its receive()/send() are compiled coroutines
# (collections.abc.Coroutine, as anyio and asyncio require), its fields C slots.

import cython

cdef int _CONNECTING, _OPEN, _DENYING, _CLOSED

cdef class WebSocketCycle:
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
    cdef object _loop
