# Augmenting declarations for pyre/protocol/h1/framing.py, compiled by setup.py as the
# extension pyre.protocol.h1._framing_c (Cython pure-Python mode: the .py is the source,
# this file only types it). The writers become cdef classes whose frame() the compiled
# HTTP/1.1 connection calls in C; a chunk is built in one allocation (the COMPILED branch).

import cython

cdef bint COMPILED
cdef bytes _LAST_CHUNK
cdef bytes _HEX

cdef class BodyWriter:
    cpdef bytes frame(self, bytes data, bint last, Py_ssize_t remaining)

cdef class LengthWriter(BodyWriter):
    cpdef bytes frame(self, bytes data, bint last, Py_ssize_t remaining)

cdef class CloseWriter(BodyWriter):
    cpdef bytes frame(self, bytes data, bint last, Py_ssize_t remaining)

cdef class ChunkedWriter(BodyWriter):
    @cython.locals(n=Py_ssize_t, v=Py_ssize_t, digits=Py_ssize_t, size=Py_ssize_t, i=Py_ssize_t,
                   out=bytes, p=cython.p_char, hexits=cython.p_char)
    cpdef bytes frame(self, bytes data, bint last, Py_ssize_t remaining)
    cpdef bytes end(self, trailers=*)
    cpdef bytes file_head(self, Py_ssize_t count)
    cpdef bytes file_tail(self, Py_ssize_t count)
