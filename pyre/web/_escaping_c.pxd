# Augmenting declarations for pyre/web/escaping.py, compiled by setup.py as the extension
# pyre.web._escaping_c (Cython pure-Python mode: the .py is the source, this file only types it).
import cython

cdef bint COMPILED
cdef object _new_str

# Called with an exact str only (the escaper checks the type first), so the argument can
# be typed: the scan is then a C loop over the string's code points.
@cython.locals(ch=cython.Py_UCS4)
cdef str _escape_text(str text)

cdef class HTMLEscaper:
    cdef public object markup
    cdef public object fallback
