# C entry points of the compiled request parser, for the compiled HTTP/1.1 connection
# (pyre/transport/h1.py's compiled build, pyre.transport._h1_c): ``RequestParser``'s methods and properties of the same
# names, without a Python-level call. Only for a parser that ``is_parser`` accepts.

cdef bint is_parser(object obj)
cdef object parser_get_buffer(object parser)
cdef object parser_buffer_updated(object parser, Py_ssize_t nbytes)
cdef object parser_resume(object parser)
cdef Py_ssize_t parser_buffered(object parser)
cdef bint parser_paused(object parser)
