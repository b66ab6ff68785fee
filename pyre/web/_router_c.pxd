# Augmenting declarations for pyre/web/router.py, compiled by setup.py as the extension
# pyre.web._router_c (Cython pure-Python mode: the .py is the source, this file only types it).
# The tree classes become cdef classes (fixed C struct fields, no __dict__); the walk is a
# C function with typed locals. Attributes are public/readonly so that the untyped startup
# code (add, url_for) reads them exactly as the pure twin does.

import cython

cdef class _Route:
    cdef readonly str pattern
    cdef readonly object target
    cdef readonly object name
    cdef readonly tuple names
    cdef readonly tuple parts

cdef class _Node:
    cdef public dict static
    cdef public list params
    cdef public list rests
    cdef public _Route route

cdef class _Edge:
    cdef public str converter_name
    cdef public object convert
    cdef public bint digits
    cdef public _Node node

@cython.locals(segment=str, child=_Node, found=_Route, edge=_Edge, rest=str)
cdef _Route _walk(_Node node, list segments, Py_ssize_t index, list values)

cdef class Router:
    cdef dict _converters
    cdef dict _static
    cdef _Node _root
    cdef list _routes
    cdef dict _names
    cdef dict _shapes

    @cython.locals(route=_Route, segments=list, values=list, params=dict, names=tuple, position=Py_ssize_t)
    cpdef tuple match(self, str path)
