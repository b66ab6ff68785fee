# Augmenting declarations for pyre/transport/ws.py, compiled by setup.py as the extension
# pyre.transport._ws_c (Cython pure-Python mode: the .py is the source, this file only
# types it). The connection's fields become C slots of the cdef class _WSBase;
# WSProtocol, a Python class, adds asyncio.Protocol (as H1Protocol does over _H1Base).

import cython

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
    cdef public object cycle
    cdef public object session
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
