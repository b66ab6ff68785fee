# Augmenting declarations for pyre/protocol/h1/writer.py, compiled by setup.py as the
# extension pyre.protocol.h1._writer_c (Cython pure-Python mode: the .py is the source,
# this file only types it). The compiled HTTP/1.1 connection cimports response_head: a
# head is one C call, sized first and written into one allocation (the COMPILED branch).

import cython

cdef bint COMPILED
cdef dict LINE_CACHE, STATUS_LINES
cdef list STATUS_LINE_LIST
cdef Py_ssize_t _LINE_CACHE_SIZE, _line_count
cdef frozenset _SPECIAL

@cython.locals(code=int, line=bytes)
cpdef bytes status_line(status)

@cython.locals(first=bytes, content_length=cython.longlong, chunked_requested=bint, app_server=bint, app_date=bint,
               no_body_status=bint, app_lines=list, cache=dict, framing=int, framing_line=bytes,
               connection_line=bytes, total=Py_ssize_t, n=Py_ssize_t, i=Py_ssize_t, head=bytes, p=cython.p_char,
               line=bytes)
cpdef tuple response_head(status, headers, bint http11, bint head_request, bint keep_alive, bytes server_line,
                          bytes date_line, bytes extra_lines)

@cython.locals(n=Py_ssize_t)
cdef inline char* _put(char* p, bytes data) noexcept

@cython.locals(kind=type, values=dict)
cdef object _cached_line(dict cache, pair)

@cython.locals(p=cython.p_char, i=Py_ssize_t, end=Py_ssize_t, value=cython.longlong)
cdef long long _content_length_of(bytes line) except? -1

