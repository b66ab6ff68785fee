# Augmenting declarations for pyre/protocol/ws/session.py, compiled by setup.py as the
# extension pyre.protocol.ws._session_c (Cython pure-Python mode: the .py is the source,
# this file only types it). The session becomes a cdef class; the per-message calls
# (receive_data, send_message, data_to_send) run without the interpreter.

import cython

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING
from libc.string cimport memcpy

# The frame layer's compiled twin, called in C (the session's COMPILED branches).
from pyre.protocol.ws._frames_c cimport FrameReader as CFrameReader, frame_message as c_frame_message, write_frame as c_write_frame

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
    cdef CFrameReader _reader

    @cython.locals(events=list, buf=bytearray, limit=Py_ssize_t, used=Py_ssize_t, size=Py_ssize_t, extra=Py_ssize_t)
    cpdef list receive_data(self, data, max_messages=*)

    cpdef send_message(self, data)

    @cython.locals(data=bytes)
    cpdef bytes data_to_send(self)

    cpdef bytes data_to_send_with(self, data)
