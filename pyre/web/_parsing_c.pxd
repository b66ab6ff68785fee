# Types for the compiled twin of pyre/web/parsing.py (see setup.py PURE_MODE). Only
# locals are typed: arguments keep Python's checks, so both twins fail alike.
import cython

cdef class Headers:
    cdef public object _raw

@cython.locals(pairs=list, text=str, field=str, name=str, value=str, field_bytes=bytes, name_bytes=bytes, value_bytes=bytes)
cpdef list parse_query(raw)

@cython.locals(main=str, sep=str, rest=str, item=str, name=str, param=str, params=dict)
cpdef object parse_options_header(value)

@cython.locals(cookies=dict, crumb=str, name=str, value=str, sep=str)
cpdef dict parse_cookies(header)
