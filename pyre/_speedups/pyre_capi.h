/* C helpers shared by Pyre's hand-written Cython units (the .pyx files of pyre/_speedups), declared
   for Cython in capi.pxd: reading and writing the object slots of a plain slotted
   class at the offsets its member descriptors give, without attribute lookups. */
#ifndef PYRE_CAPI_H
#define PYRE_CAPI_H

#include "Python.h"
#include "structmember.h"
#ifndef Py_T_OBJECT_EX
#define Py_T_OBJECT_EX T_OBJECT_EX
#endif
#ifndef Py_READONLY
#define Py_READONLY READONLY
#endif

/* The offset of a writable object slot described by a member descriptor, else -1. */
static inline Py_ssize_t pyre_member_offset(PyObject *descr) {
    PyMemberDef *m;
    if (!PyObject_TypeCheck(descr, &PyMemberDescr_Type)) return -1;
    m = ((PyMemberDescrObject *)descr)->d_member;
    if (m == NULL || m->type != Py_T_OBJECT_EX || (m->flags & Py_READONLY)) return -1;
    return m->offset;
}

/* The object in the slot at ``offset`` (borrowed; NULL when the slot is empty). */
static inline PyObject *pyre_slot(PyObject *obj, Py_ssize_t offset) {
    return *(PyObject **)((char *)obj + offset);
}

/* A new instance of ``type`` with ``values[i]`` stored at ``offsets[i]``, without
   calling __init__ (the caller checked that the class is plain and slotted). */
static inline PyObject *pyre_new_slots(PyObject *type, const Py_ssize_t *offsets, PyObject *const *values, int n) {
    PyTypeObject *tp = (PyTypeObject *)type;
    PyObject *obj = tp->tp_alloc(tp, 0);
    int i;
    if (obj == NULL) return NULL;
    for (i = 0; i < n; i++) {
        Py_INCREF(values[i]);
        *(PyObject **)((char *)obj + offsets[i]) = values[i];
    }
    return obj;
}

#endif
