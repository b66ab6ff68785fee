# Augmenting declarations for pyre/protocol/ws/session.py, compiled by setup.py as the
# extension pyre.protocol.ws._session_c (Cython pure-Python mode: the .py is the source,
# this file only types it). The session becomes a cdef class; the per-message calls
# (receive_data, send_message, data_to_send) run without the interpreter.

import cython

cdef class WSSession:
    cdef public object max_size
    cdef public bint backlog
    cdef public bytearray out
    cdef object _conn
    cdef list _parts
    cdef object _size
    cdef bint _closed
    cdef object _compress
    cdef object _fast
    cdef object _reader

    @cython.locals(events=list, buf=bytearray, limit=Py_ssize_t, used=Py_ssize_t)
    cpdef list receive_data(self, data, max_messages=*)

    cpdef send_message(self, data)

    @cython.locals(data=bytes)
    cpdef bytes data_to_send(self)
