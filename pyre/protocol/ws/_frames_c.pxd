# Augmenting declarations for pyre/protocol/ws/frames.py, compiled by setup.py as the
# extension pyre.protocol.ws._frames_c (Cython pure-Python mode: the .py is the source,
# this file only types it). The reader's walk over the buffer and the writer's header
# become C code; unmasking XORs eight bytes at a time (the COMPILED branch of _unmasked).

import cython

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_DATA, PyUnicode_GET_LENGTH
from libc.string cimport memcpy

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object o)

ctypedef unsigned long long u64
ctypedef u64* u64p

@cython.locals(n=Py_ssize_t, i=Py_ssize_t, words=Py_ssize_t, out=bytearray, raw_src=cython.p_char,
               raw_dst=cython.p_char, src=cython.p_uchar, dst=cython.p_uchar, key=cython.p_uchar,
               wide=cython.p_uchar, key8=u64, src8=u64p, dst8=u64p)
cdef object _unmasked(bytearray buf, Py_ssize_t start, Py_ssize_t end, Py_ssize_t mask_at)

@cython.locals(n=Py_ssize_t, i=Py_ssize_t, words=Py_ssize_t, raw=cython.p_char, src=cython.p_uchar,
               key=cython.p_uchar, wide=cython.p_uchar, key8=u64, src8=u64p)
cdef void _unmask_in_place(bytearray buf, Py_ssize_t start, Py_ssize_t end, Py_ssize_t mask_at)

@cython.locals(buf=bytearray)
cpdef bytes unmask(data, mask)

cdef class FrameReader:
    cdef public Py_ssize_t max_size
    cdef public bint stopped
    cdef public object inflate

    @cython.locals(size=Py_ssize_t, pos=Py_ssize_t, produced=Py_ssize_t, first=Py_ssize_t, second=Py_ssize_t,
                   opcode=Py_ssize_t, compressed=bint, length=Py_ssize_t, head=Py_ssize_t, end=Py_ssize_t, i=Py_ssize_t,
                   raw=cython.p_char, text=unicode)
    cpdef Py_ssize_t read(self, bytearray buf, Py_ssize_t limit, list messages, bytearray out, bint answer) except -1

@cython.locals(first=Py_ssize_t, text=unicode)
cdef tuple _first_and_payload(data, compress)

@cython.locals(first=Py_ssize_t, n=Py_ssize_t, shift=Py_ssize_t)
cpdef write_frame(bytearray out, data, compress=*)

@cython.locals(first=Py_ssize_t, text=unicode)
cpdef bytes frame_message(data, compress=*)

@cython.locals(head=Py_ssize_t, i=Py_ssize_t, dst=cython.p_uchar)
cdef bytes _frame_of(int first, const char* payload, Py_ssize_t n)
