# C declarations shared by the hand-written Cython units of pyre/_speedups (one place,
# cimported by each, instead of the same extern blocks repeated in every file).

from cpython.object cimport PyObject


cdef extern from "Python.h":
    # Declared here with the argument and result types the units rely on.
    str PyUnicode_DecodeASCII(const char* s, Py_ssize_t n, const char* errors)
    str PyUnicode_DecodeLatin1(const char* s, Py_ssize_t size, const char* errors)
    PyObject* PyDict_GetItemWithError_ptr "PyDict_GetItemWithError"(object d, object key) except? NULL


cdef extern from "pyre_capi.h":
    Py_ssize_t pyre_member_offset(object descr)
    PyObject* pyre_slot(object obj, Py_ssize_t offset)
    object pyre_new_slots(object type, const Py_ssize_t* offsets, PyObject** values, int n)
