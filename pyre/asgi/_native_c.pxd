# Augmenting declarations for pyre/asgi/native.py, compiled by setup.py as the extension
# pyre.asgi._native_c (Cython pure-Python mode: the .py is the source, this file only
# types it). RequestHead becomes a cdef class (its fields C fields, public as the pure
# twin's slots are); the compiled HTTP/1.1 connection cimports request_head: a head is
# one C call and one allocation there.

import cython


cdef class RequestHead:
    cdef public object native, info, method, path, raw_path, query_string, http_version, headers, root_path
    cdef public object _forwarded, _scope


@cython.locals(head=RequestHead)
cpdef RequestHead request_head(native, info, method, bytes target, query_string, http_version, headers)
