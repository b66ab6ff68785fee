# The instance layout of pyre.protocol.h1.parsing.Request (a plain class with __slots__,
# which CPython lays out after the object header in sorted order), for the compiled
# HTTP/1.1 connection (pyre/transport/_h1_c.pxd) to read a request's fields as C struct
# fields instead of through attribute lookup. pyre/transport/h1.py checks it at import
# (a compiled connection that finds another layout refuses to load; the pure one serves).

from cpython.object cimport PyObject

cdef extern from *:
    """
    typedef struct {
        PyObject_HEAD
        PyObject *chunked, *content_length, *expect_continue, *headers, *http_version;
        PyObject *keep_alive, *method, *path, *query, *upgrade;
    } pyre_RequestObject;
    """
    ctypedef class pyre.protocol.h1.parsing.Request [object pyre_RequestObject, check_size ignore]:
        cdef object chunked, content_length, expect_continue, headers, http_version
        cdef object keep_alive, method, path, query, upgrade
