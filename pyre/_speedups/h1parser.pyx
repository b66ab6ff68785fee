# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython twin of ``pyre._pure.h1parser``: a strict, fast HTTP/1.1 request parser.

The pure-Python twin is the normative specification: this module accepts exactly
the same inputs, raises :class:`ParseError` with the same status (and reason) at the
same point of a trickled input, and produces equal events. It mirrors the pure
twin's algorithm step by step (the same states, the same order of checks, the same
``scan`` bookkeeping), but scans with ``memchr`` and 256-entry character tables.

Memory model
------------
Unparsed bytes live in one of two places:

- ``_obj``: when nothing was held, the ``bytes`` object passed to ``feed()`` is kept
  as is and parsed in place (no copy); pipelined requests in it are parsed from it
  on ``resume()``;
- ``_hb``: a malloc'd buffer, used only when new bytes must be appended to partial
  data (a trickled head, a chunk line cut in two, or bytes fed while paused).

Reads into pooled buffers (``get_buffer``/``buffer_updated``, for a connection that is
an ``asyncio.BufferedProtocol``): a block of ``pyre.protocol.h1.recvpool`` is lent to
the loop and, when nothing was held, parsed in place like a caller's ``bytes``; before
``buffer_updated`` returns, what must be kept is copied to ``_hb`` and the block goes
back to the pool. Events never refer to a block (every body piece is copied out of
it). A ``Content-Length`` body with at least ``DIRECT_BODY_MIN`` bytes still to come is
read instead into a new ``bytes`` object (``_direct``, at most what the body still needs),
which is then fed as a caller's ``bytes``: the read becomes the ``Body`` event's data
with no copy.

``_base``/``_end`` describe whichever holds the data, ``_pos`` is the parse position
and ``_scan`` the pure twin's "already searched up to" marker, both relative to
``_base``. Compaction is lazy (on the next append), so pipelined requests cost no
``memmove``.

Events are the shared classes of :mod:`pyre.protocol.h1.parsing`. ``Request`` and
``Body`` are slotted Python classes; when their layout is the expected one (checked
at import against the normal constructor) they are built by allocating the instance
and storing the slots directly, which skips the Python-level ``__init__``.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.list cimport PyList_GET_SIZE
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF
from cpython.tuple cimport PyTuple_GET_ITEM
from libc.stdint cimport uint32_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcmp, memcpy, memmove

from pyre._speedups.capi cimport PyUnicode_DecodeASCII, pyre_member_offset, pyre_new_slots

import sys

from pyre.protocol.h1 import recvpool
from pyre.protocol.h1.parsing import (
    DIRECT_BODY_MAX,
    DIRECT_BODY_MIN,
    END_OF_MESSAGE,
    H2_PREFACE,
    Body,
    EndOfMessage,
    H1Limits,
    ParseError,
    RECV_BLOCK_SIZE,
    RECV_POOL_KEEP,
    Request,
)
from pyre.protocol.h1.parsing import head_limit_error, host_error

__all__ = ["RequestParser"]


cdef extern from "Python.h":
    bytes PyBytes_FromStringAndSize(const char* v, Py_ssize_t n)
    object PyMemoryView_FromMemory(char* mem, Py_ssize_t size, int flags)
    Py_buffer* PyMemoryView_GET_BUFFER(object view)
    int _PyBytes_Resize(PyObject** data, Py_ssize_t size) except -1
    Py_ssize_t Py_REFCNT(PyObject* o)
    int PyBUF_WRITE


cdef extern from *:
    """
    #include <string.h>
    #include <stdint.h>

    /* ---- character classes ------------------------------------------------ */
    static unsigned char pyre_tchar_lower[256];  /* tchar lower-cased; 0 if not a tchar */
    static unsigned char pyre_value_ok[256];     /* field-value octet: HTAB SP VCHAR obs-text */
    static unsigned char pyre_target_ok[256];    /* request-target octet: %x21-7E */
    static unsigned char pyre_host_ok[256];      /* Host / authority octet */
    static unsigned char pyre_scheme_ok[256];    /* ALPHA DIGIT + - . */
    static unsigned char pyre_qdtext[256];       /* qdtext */
    static unsigned char pyre_qpair[256];        /* octet after a backslash in quoted-string */
    static signed char pyre_hexval[256];         /* hex digit value; -1 if not HEXDIG */

    static void pyre_init_tables(void) {
        int c;
        const char *p;
        const char *tsym = "!#$%&'*+-.^_`|~";
        const char *hsym = "-._~!$&'()*+,;=:%[]";
        for (c = 0; c < 256; c++) {
            int digit = c >= '0' && c <= '9';
            int lower = c >= 'a' && c <= 'z';
            int upper = c >= 'A' && c <= 'Z';
            pyre_tchar_lower[c] = (unsigned char)((digit || lower) ? c : (upper ? c + 32 : 0));
            pyre_value_ok[c] = (c == '\\t' || (c >= 0x20 && c <= 0x7e) || c >= 0x80);
            pyre_target_ok[c] = (c >= 0x21 && c <= 0x7e);
            pyre_host_ok[c] = (digit || lower || upper);
            pyre_scheme_ok[c] = (digit || lower || upper || c == '+' || c == '-' || c == '.');
            pyre_qdtext[c] = (c == '\\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b)
                              || (c >= 0x5d && c <= 0x7e) || c >= 0x80);
            pyre_qpair[c] = (c == '\\t' || (c >= 0x20 && c <= 0x7e) || c >= 0x80);
            pyre_hexval[c] = (signed char)(digit ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                           : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1);
        }
        for (p = tsym; *p; p++) pyre_tchar_lower[(unsigned char)*p] = (unsigned char)*p;
        for (p = hsym; *p; p++) pyre_host_ok[(unsigned char)*p] = 1;
    }

    /* ---- scanning ------------------------------------------------------------- */

    /* First i in [start, end-1) with b[i] == CR and b[i+1] == LF, else -1. */
    static CYTHON_INLINE Py_ssize_t pyre_find_crlf(const char *b, Py_ssize_t start, Py_ssize_t end) {
        Py_ssize_t i = start + 1;
        while (i < end) {
            const char *p = (const char *)memchr(b + i, '\\n', (size_t)(end - i));
            if (p == NULL) return -1;
            i = p - b;
            if (b[i - 1] == '\\r') return i - 1;
            i++;
        }
        return -1;
    }

    /* First i >= start with b[i:i+4] == CRLF CRLF and i + 4 <= end, else -1. */
    static CYTHON_INLINE Py_ssize_t pyre_find_head_end(const char *b, Py_ssize_t start, Py_ssize_t end) {
        Py_ssize_t i = start + 1;
        while (i + 2 < end) {
            const char *p = (const char *)memchr(b + i, '\\n', (size_t)(end - 2 - i));
            Py_ssize_t j;
            if (p == NULL) return -1;
            j = p - b;
            if (b[j - 1] == '\\r' && b[j + 1] == '\\r' && b[j + 2] == '\\n') return j - 1;
            i = j + 1;
        }
        return -1;
    }

    /* Whether [start, end) holds a bare CR (a CR followed by anything but LF) or a
       bare LF (an LF preceded by anything but CR), both octets inside the range:
       what the pure twin's regex rb"\\r[^\\n]|[^\\r]\\n" finds. */
    static int pyre_has_bare_crlf(const char *b, Py_ssize_t start, Py_ssize_t end) {
        Py_ssize_t i = start;
        while (i + 1 < end) {
            const char *p = (const char *)memchr(b + i, '\\r', (size_t)(end - 1 - i));
            if (p == NULL) break;
            i = p - b;
            if (b[i + 1] != '\\n') return 1;
            i += 2;
        }
        i = start + 1;
        while (i < end) {
            const char *p = (const char *)memchr(b + i, '\\n', (size_t)(end - i));
            if (p == NULL) break;
            i = p - b;
            if (b[i - 1] != '\\r') return 1;
            i++;
        }
        return 0;
    }

    static CYTHON_INLINE int pyre_all_in(const unsigned char *table, const char *s, Py_ssize_t n) {
        Py_ssize_t i;
        for (i = 0; i < n; i++) if (!table[(unsigned char)s[i]]) return 0;
        return 1;
    }

    /* Field-value octets (HTAB, SP, VCHAR, obs-text), eight at a time: a word is
       looked at octet by octet only if it may hold an octet < 0x20 or 0x7F (exact
       "has less than" / "has zero" word tests, so a clean word is always clean). */
    static CYTHON_INLINE int pyre_value_ok_span(const char *s, Py_ssize_t n) {
        Py_ssize_t i = 0;
        const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        for (; i + 8 <= n; i += 8) {
            uint64_t x, y;
            memcpy(&x, s + i, 8);
            y = x ^ (ones * 0x7F);
            if ((((x - ones * 0x20) & ~x) | ((y - ones) & ~y)) & highs) {
                if (!pyre_all_in(pyre_value_ok, s + i, 8)) return 0;
            }
        }
        return pyre_all_in(pyre_value_ok, s + i, n - i);
    }

    static CYTHON_INLINE int pyre_is_token(const char *s, Py_ssize_t n) {
        return n > 0 && pyre_all_in(pyre_tchar_lower, s, n);
    }

    /* ASCII case-insensitive equality with a lower-case literal of length n. */
    static CYTHON_INLINE int pyre_ieq(const char *s, const char *lit, Py_ssize_t n) {
        Py_ssize_t i;
        for (i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c >= 'A' && c <= 'Z') c += 32;
            if (c != (unsigned char)lit[i]) return 0;
        }
        return 1;
    }

    /* Validates a token, writes it lower-cased to out and hashes it (FNV-1a). */
    static CYTHON_INLINE int pyre_lower_token(const char *s, Py_ssize_t n, char *out, uint32_t *hash) {
        uint32_t h = 2166136261u;
        Py_ssize_t i;
        for (i = 0; i < n; i++) {
            unsigned char l = pyre_tchar_lower[(unsigned char)s[i]];
            if (!l) return 0;
            out[i] = (char)l;
            h = (h ^ l) * 16777619u;
        }
        *hash = h;
        return 1;
    }

    /* chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ) BWS
       ext-val = token / quoted-string: the language of the pure twin's _CHUNK_EXT. */
    static int pyre_chunk_ext_ok(const char *s, Py_ssize_t n) {
        Py_ssize_t i = 0;
        for (;;) {
            while (i < n && (s[i] == ' ' || s[i] == '\\t')) i++;
            if (i == n) return 1;
            if (s[i] != ';') return 0;
            i++;
            while (i < n && (s[i] == ' ' || s[i] == '\\t')) i++;
            if (i == n || !pyre_tchar_lower[(unsigned char)s[i]]) return 0;
            while (i < n && pyre_tchar_lower[(unsigned char)s[i]]) i++;
            {
                Py_ssize_t j = i;
                while (j < n && (s[j] == ' ' || s[j] == '\\t')) j++;
                if (j < n && s[j] == '=') {
                    j++;
                    while (j < n && (s[j] == ' ' || s[j] == '\\t')) j++;
                    if (j == n) return 0;
                    if (s[j] == '"') {
                        j++;
                        for (;;) {
                            unsigned char c;
                            if (j >= n) return 0;
                            c = (unsigned char)s[j];
                            if (c == '"') { j++; break; }
                            if (c == '\\\\') {
                                if (j + 1 >= n || !pyre_qpair[(unsigned char)s[j + 1]]) return 0;
                                j += 2;
                            } else if (pyre_qdtext[c]) {
                                j++;
                            } else {
                                return 0;
                            }
                        }
                    } else if (pyre_tchar_lower[(unsigned char)s[j]]) {
                        while (j < n && pyre_tchar_lower[(unsigned char)s[j]]) j++;
                    } else {
                        return 0;
                    }
                    i = j;
                }
            }
        }
    }

    /* The list member at s[*i..n) up to the next ",": its bounds without the
       surrounding spaces and tabs in [*a, *z); *i moves past the ",". */
    static inline void pyre_list_member(const char *s, Py_ssize_t n, Py_ssize_t *i,
                                        Py_ssize_t *a, Py_ssize_t *z) {
        Py_ssize_t j = *i, start = *i, end;
        while (j < n && s[j] != ',') j++;
        end = j;
        while (start < end && (s[start] == ' ' || s[start] == '\\t')) start++;
        while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\\t')) end--;
        *a = start; *z = end; *i = j + 1;
    }

    /* Transfer-Encoding list members (split on ",", trimmed, empties dropped). */
    typedef struct {
        Py_ssize_t count;
        Py_ssize_t chunked;
        int last_chunked;
        int invalid;
    } pyre_te_state;

    static void pyre_te_scan(const char *s, Py_ssize_t n, pyre_te_state *st) {
        Py_ssize_t i = 0, a, z;
        while (i <= n) {
            pyre_list_member(s, n, &i, &a, &z);
            if (z > a) {
                int is_chunked = (z - a == 7 && pyre_ieq(s + a, "chunked", 7));
                st->count++;
                if (is_chunked) st->chunked++;
                st->last_chunked = is_chunked;
                if (!pyre_all_in(pyre_tchar_lower, s + a, z - a)) st->invalid = 1;
            }
        }
    }

    /* Connection options: 1 close, 2 keep-alive, 4 upgrade. */
    static int pyre_connection_scan(const char *s, Py_ssize_t n) {
        Py_ssize_t i = 0, a, z;
        int flags = 0;
        while (i <= n) {
            pyre_list_member(s, n, &i, &a, &z);
            if (z - a == 5 && pyre_ieq(s + a, "close", 5)) flags |= 1;
            else if (z - a == 10 && pyre_ieq(s + a, "keep-alive", 10)) flags |= 2;
            else if (z - a == 7 && pyre_ieq(s + a, "upgrade", 7)) flags |= 4;
        }
        return flags;
    }

    /* ---- interned header names ------------------------------------------------ */
    typedef struct {
        PyObject *name;
        Py_ssize_t len;
        uint32_t hash;
        int id;
    } pyre_name_entry;

    #define PYRE_STATIC_NAMES 512   /* open addressing, well-known names */
    #define PYRE_DYN_NAMES 256      /* direct-mapped cache of other names */
    #define PYRE_MAX_CACHED_NAME 64
    static pyre_name_entry pyre_static_names[PYRE_STATIC_NAMES];
    static pyre_name_entry pyre_dyn_names[PYRE_DYN_NAMES];

    static int pyre_add_static_name(PyObject *name, int id) {
        const char *s = PyBytes_AS_STRING(name);
        Py_ssize_t n = PyBytes_GET_SIZE(name);
        uint32_t h = 2166136261u;
        Py_ssize_t k;
        size_t i;
        for (k = 0; k < n; k++) h = (h ^ (unsigned char)s[k]) * 16777619u;
        i = h & (PYRE_STATIC_NAMES - 1);
        while (pyre_static_names[i].name != NULL) {
            if (pyre_static_names[i].len == n && memcmp(PyBytes_AS_STRING(pyre_static_names[i].name), s, n) == 0)
                return 0;
            i = (i + 1) & (PYRE_STATIC_NAMES - 1);
        }
        Py_INCREF(name);
        pyre_static_names[i].name = name;
        pyre_static_names[i].len = n;
        pyre_static_names[i].hash = h;
        pyre_static_names[i].id = id;
        return 0;
    }

    /* The bytes object for a lower-cased name (a new reference), and its id. */
    static PyObject *pyre_lookup_name(const char *lower, Py_ssize_t n, uint32_t h, int *id) {
        size_t i = h & (PYRE_STATIC_NAMES - 1);
        pyre_name_entry *e;
        PyObject *name;
        while ((e = &pyre_static_names[i])->name != NULL) {
            if (e->hash == h && e->len == n && memcmp(PyBytes_AS_STRING(e->name), lower, (size_t)n) == 0) {
                *id = e->id;
                Py_INCREF(e->name);
                return e->name;
            }
            i = (i + 1) & (PYRE_STATIC_NAMES - 1);
        }
        *id = 0;
        e = &pyre_dyn_names[(h ^ (h >> 16)) & (PYRE_DYN_NAMES - 1)];
        if (e->name != NULL && e->hash == h && e->len == n
                && memcmp(PyBytes_AS_STRING(e->name), lower, (size_t)n) == 0) {
            Py_INCREF(e->name);
            return e->name;
        }
        name = PyBytes_FromStringAndSize(lower, n);
        if (name == NULL) return NULL;
        Py_XDECREF(e->name);
        Py_INCREF(name);
        e->name = name;
        e->len = n;
        e->hash = h;
        return name;
    }
    """
    void pyre_init_tables()
    unsigned char* pyre_value_ok
    unsigned char* pyre_target_ok
    unsigned char* pyre_host_ok
    unsigned char* pyre_scheme_ok
    signed char* pyre_hexval
    Py_ssize_t pyre_find_crlf(const char* b, Py_ssize_t start, Py_ssize_t end) nogil
    Py_ssize_t pyre_find_head_end(const char* b, Py_ssize_t start, Py_ssize_t end) nogil
    bint pyre_has_bare_crlf(const char* b, Py_ssize_t start, Py_ssize_t end) nogil
    bint pyre_all_in(const unsigned char* table, const char* s, Py_ssize_t n) nogil
    bint pyre_is_token(const char* s, Py_ssize_t n) nogil
    bint pyre_value_ok_span(const char* s, Py_ssize_t n) nogil
    bint pyre_ieq(const char* s, const char* lit, Py_ssize_t n) nogil
    bint pyre_lower_token(const char* s, Py_ssize_t n, char* out, uint32_t* hash) nogil
    bint pyre_chunk_ext_ok(const char* s, Py_ssize_t n) nogil
    ctypedef struct pyre_te_state:
        Py_ssize_t count
        Py_ssize_t chunked
        int last_chunked
        int invalid
    void pyre_te_scan(const char* s, Py_ssize_t n, pyre_te_state* st) nogil
    int pyre_connection_scan(const char* s, Py_ssize_t n) nogil
    int PYRE_MAX_CACHED_NAME
    int pyre_add_static_name(object name, int id) except -1
    object pyre_lookup_name(const char* lower, Py_ssize_t n, uint32_t h, int* id)


pyre_init_tables()

# Parser states (as in the pure twin).
cdef enum:
    S_HEAD = 0
    S_BODY_LENGTH = 1
    S_CHUNK_SIZE = 2
    S_CHUNK_DATA = 3
    S_CHUNK_END = 4
    S_TRAILERS = 5
    S_PAUSED = 6
    S_CLOSED = 7
    S_ERROR = 8

# Header name ids; FORBIDDEN_TRAILER marks fields dropped from trailer sections.
cdef enum:
    ID_OTHER = 0
    ID_HOST = 1
    ID_CONTENT_LENGTH = 2
    ID_TRANSFER_ENCODING = 3
    ID_CONNECTION = 4
    ID_EXPECT = 5
    ID_UPGRADE = 6
    ID_MASK = 0xFF
    FORBIDDEN_TRAILER = 0x100

# Field-line errors (index into _FIELD_REASONS).
cdef enum:
    F_OK = 0
    F_EMPTY = 1
    F_OBS_FOLD = 2
    F_NO_NAME = 3
    F_BAD_NAME = 4
    F_BAD_VALUE = 5

cdef enum:
    CR = 13
    LF = 10
    SP = 32
    HTAB = 9
    MAX_CHUNK_SIZE_DIGITS = 15
    MAX_CONTENT_LENGTH_DIGITS = 18

cdef Py_ssize_t _LIMIT_CLAMP = (<Py_ssize_t>1) << 60
cdef Py_ssize_t _SHRINK_ABOVE = 1 << 17  # free a held buffer larger than this once empty

cdef tuple _FIELD_REASONS = (
    "",
    "empty header line",
    "obs-fold or whitespace before a header line",
    "header line without a valid name",
    "invalid header name",
    "invalid character in header value",
)

cdef const char* _EMPTY = b""
cdef bytes _B_EMPTY = b""
cdef bytes _B_SLASH = b"/"
cdef bytes _B_STAR = b"*"
# Interned: the compiled connection compares a request's version to
# "1.1" by identity first.
cdef str _V11 = sys.intern("1.1")
cdef str _V10 = sys.intern("1.0")
cdef object _END_OF_MESSAGE = END_OF_MESSAGE
cdef object _H2_PREFACE = H2_PREFACE
cdef object _ParseError = ParseError
cdef object _EndOfMessage = EndOfMessage
cdef object _Request = Request
cdef object _Body = Body

# -- well-known header names -----------------------------------------------------

_FORBIDDEN_TRAILERS = (
    b"content-length", b"transfer-encoding", b"host", b"connection", b"keep-alive",
    b"te", b"trailer", b"upgrade", b"expect", b"proxy-connection", b"content-type",
    b"content-encoding", b"content-range", b"authorization", b"set-cookie", b"cookie",
)
_SPECIAL_IDS = {
    b"host": ID_HOST,
    b"content-length": ID_CONTENT_LENGTH,
    b"transfer-encoding": ID_TRANSFER_ENCODING,
    b"connection": ID_CONNECTION,
    b"expect": ID_EXPECT,
    b"upgrade": ID_UPGRADE,
}
_COMMON_NAMES = (
    b"host", b"user-agent", b"accept", b"accept-encoding", b"accept-language", b"accept-charset",
    b"connection", b"content-type", b"content-length", b"content-encoding", b"content-range",
    b"cookie", b"authorization", b"cache-control", b"referer", b"origin", b"upgrade",
    b"transfer-encoding", b"expect", b"pragma", b"if-none-match", b"if-modified-since",
    b"if-match", b"if-unmodified-since", b"if-range", b"x-forwarded-for", b"x-forwarded-proto",
    b"x-forwarded-host", b"x-real-ip", b"x-request-id", b"x-requested-with", b"forwarded", b"via",
    b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions",
    b"sec-websocket-protocol", b"range", b"te", b"trailer", b"keep-alive", b"proxy-connection",
    b"set-cookie", b"date", b"dnt", b"priority", b"upgrade-insecure-requests",
    b"sec-fetch-site", b"sec-fetch-mode", b"sec-fetch-dest", b"sec-fetch-user", b"sec-ch-ua",
    b"sec-ch-ua-mobile", b"sec-ch-ua-platform", b"access-control-request-method",
    b"access-control-request-headers", b"content-md5", b"content-disposition", b"x-api-key",
    b"x-csrf-token", b"traceparent", b"tracestate",
)
for _name in _COMMON_NAMES:  # the table keeps its own references
    pyre_add_static_name(_name, _SPECIAL_IDS.get(_name, ID_OTHER) | (FORBIDDEN_TRAILER if _name in _FORBIDDEN_TRAILERS else 0))
for _name in _FORBIDDEN_TRAILERS:
    # A name outside the table gets id 0 and would never be dropped from trailers.
    if _name not in _COMMON_NAMES:
        raise RuntimeError("every forbidden trailer name must be a well-known name")
del _name

cdef bytes _B_HOST = b"host"

cdef list _POOL = recvpool.FREE_BLOCKS
cdef object _new_block = recvpool.take
cdef Py_ssize_t _POOL_KEEP = RECV_POOL_KEEP
cdef long long _DIRECT_MIN = DIRECT_BODY_MIN
cdef Py_ssize_t _DIRECT_MAX = DIRECT_BODY_MAX
cdef bint _primed = False


cdef int _prime_allocator() except -1:
    """Free one block larger than a body's read buffer, once per process. glibc's malloc
    gives a block above its mmap threshold (initially 128 KiB) its own mapping, and a
    short read's buffer shrunk and freed never raises that threshold: each read was an
    mmap, an mremap and a munmap. Freeing a larger mapped block raises it for good (as
    ``pyre.tls.prime_allocator`` does for SSL reads)."""
    global _primed
    _primed = True
    PyBytes_FromStringAndSize(NULL, 2 * _DIRECT_MAX)
    return 0

cdef inline bint _all_digits(const char* s, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i
    for i in range(n):
        if not (48 <= <unsigned char>s[i] <= 57):
            return False
    return True


cdef inline long long _parse_decimal(const char* s, Py_ssize_t n) noexcept:
    cdef long long v = 0
    cdef Py_ssize_t i
    for i in range(n):
        v = v * 10 + (s[i] - 48)
    return v


# -- methods ------------------------------------------------------------------------

cdef str _M_GET = "GET"
cdef str _M_HEAD = "HEAD"
cdef str _M_POST = "POST"
cdef str _M_PUT = "PUT"
cdef str _M_DELETE = "DELETE"
cdef str _M_PATCH = "PATCH"
cdef str _M_OPTIONS = "OPTIONS"
cdef str _M_TRACE = "TRACE"


cdef inline str _method_str(const char* s, Py_ssize_t n):
    if n == 3:
        if memcmp(s, b"GET", 3) == 0:
            return _M_GET
        if memcmp(s, b"PUT", 3) == 0:
            return _M_PUT
    elif n == 4:
        if memcmp(s, b"POST", 4) == 0:
            return _M_POST
        if memcmp(s, b"HEAD", 4) == 0:
            return _M_HEAD
    elif n == 5:
        if memcmp(s, b"PATCH", 5) == 0:
            return _M_PATCH
        if memcmp(s, b"TRACE", 5) == 0:
            return _M_TRACE
    elif n == 6:
        if memcmp(s, b"DELETE", 6) == 0:
            return _M_DELETE
    elif n == 7:
        if memcmp(s, b"OPTIONS", 7) == 0:
            return _M_OPTIONS
    return PyUnicode_DecodeASCII(s, n, NULL)


# -- event construction ---------------------------------------------------------------

cdef tuple _REQUEST_FIELDS = (
    "method", "path", "query", "http_version", "headers",
    "keep_alive", "expect_continue", "chunked", "content_length", "upgrade",
)
cdef Py_ssize_t _REQ_OFFSETS[10]
cdef Py_ssize_t _BODY_OFFSETS[1]
cdef bint _FAST_REQUEST = False
cdef bint _FAST_BODY = False


cdef inline object _new_request(str method, bytes path, bytes query, str version, list headers,
                                bint keep_alive, bint expect_continue, bint chunked,
                                long long content_length, object upgrade):
    cdef PyObject* values[10]
    cdef object ka, ec, ch, cl
    if not _FAST_REQUEST:
        return _Request(method, path, query, version, headers, keep_alive, expect_continue,
                        chunked, content_length, upgrade)
    ka = True if keep_alive else False
    ec = True if expect_continue else False
    ch = True if chunked else False
    cl = content_length
    values[0] = <PyObject*>method
    values[1] = <PyObject*>path
    values[2] = <PyObject*>query
    values[3] = <PyObject*>version
    values[4] = <PyObject*>headers
    values[5] = <PyObject*>ka
    values[6] = <PyObject*>ec
    values[7] = <PyObject*>ch
    values[8] = <PyObject*>cl
    values[9] = <PyObject*>upgrade
    return pyre_new_slots(_Request, _REQ_OFFSETS, values, 10)


cdef inline object _new_body(bytes data):
    cdef PyObject* values[1]
    if not _FAST_BODY:
        return _Body(data)
    values[0] = <PyObject*>data
    return pyre_new_slots(_Body, _BODY_OFFSETS, values, 1)


def _setup_fast_construction():
    """Enable direct slot stores for Request/Body when their layout is as expected."""
    global _FAST_REQUEST, _FAST_BODY
    cdef Py_ssize_t off
    cdef int i

    def plain_slotted(cls, names):
        return (
            type(cls) is type
            and cls.__bases__ == (object,)
            and cls.__new__ is object.__new__
            and sorted(cls.__slots__) == sorted(names)
        )

    if plain_slotted(Request, _REQUEST_FIELDS):
        ok = True
        for i, name in enumerate(_REQUEST_FIELDS):
            off = pyre_member_offset(Request.__dict__[name])
            if off <= 0:
                ok = False
                break
            _REQ_OFFSETS[i] = off
        if ok:
            args = ("GET", b"/p", b"q", "1.1", [(b"host", b"a")], True, False, True, 12, b"ws")
            _FAST_REQUEST = True
            try:
                fast = _new_request("GET", b"/p", b"q", "1.1", [(b"host", b"a")], True, False, True, 12, b"ws")
                slow = Request(*args)
                _FAST_REQUEST = type(fast) is Request and fast == slow and all(
                    getattr(fast, n) is getattr(slow, n) or getattr(fast, n) == getattr(slow, n)
                    for n in _REQUEST_FIELDS
                )
            except Exception:  # noqa: BLE001 - any surprise means "use the constructor"
                _FAST_REQUEST = False
    if plain_slotted(Body, ("data",)):
        off = pyre_member_offset(Body.__dict__["data"])
        if off > 0:
            _BODY_OFFSETS[0] = off
            _FAST_BODY = True
            try:
                _FAST_BODY = _new_body(b"xyz") == Body(b"xyz")
            except Exception:  # noqa: BLE001
                _FAST_BODY = False
    return _FAST_REQUEST, _FAST_BODY


FAST_CONSTRUCTION = _setup_fast_construction()


cdef inline Py_ssize_t _clamp(object value):
    if value > _LIMIT_CLAMP:
        return _LIMIT_CLAMP
    return value


@cython.final
cdef class RequestParser:
    """Strict incremental HTTP/1.1 request parser (Cython twin)."""

    # The unparsed bytes: base[pos:end], held by _obj (a bytes object) or by _hb.
    cdef const char* _base
    cdef Py_ssize_t _end
    cdef Py_ssize_t _pos
    cdef Py_ssize_t _scan
    cdef object _obj
    cdef char* _hb
    cdef Py_ssize_t _hcap
    # Parse state (same meaning as in the pure twin).
    cdef int _state
    cdef long long _remaining
    cdef long long _body_total
    cdef Py_ssize_t _ext_total
    cdef bint _keep_alive
    cdef bint _drop_pending
    cdef Py_ssize_t _messages
    cdef list _trailers
    cdef Py_ssize_t _trailer_bytes
    cdef Py_ssize_t _trailer_count
    cdef object _error
    # Reads into pooled buffers: the block lent by get_buffer, or a body's own bytes.
    cdef object _lent
    cdef object _direct
    cdef object _direct_view
    # Body pieces parsed in the current run: (start, length) pairs into _base.
    cdef Py_ssize_t* _pieces
    cdef Py_ssize_t _npieces
    cdef Py_ssize_t _pcap
    # Results of _field().
    cdef int _fcode
    cdef int _fid
    # Limits.
    cdef Py_ssize_t _max_request_line
    cdef Py_ssize_t _max_header_size
    cdef Py_ssize_t _max_headers
    cdef long long _max_body_size
    cdef Py_ssize_t _max_chunk_extensions

    def __cinit__(self, *args, **kwargs):
        self._base = _EMPTY
        self._end = 0
        self._pos = 0
        self._scan = 0
        self._obj = None
        self._hb = NULL
        self._hcap = 0
        self._pieces = NULL
        self._npieces = 0
        self._pcap = 0
        self._state = S_HEAD
        self._keep_alive = True
        self._trailers = []
        self._error = None
        self._lent = None
        self._direct = None
        self._direct_view = None

    def __dealloc__(self):
        if self._hb != NULL:
            free(self._hb)
            self._hb = NULL
        if self._pieces != NULL:
            free(self._pieces)
            self._pieces = NULL

    def __init__(self, limits=None):
        if limits is None:
            limits = H1Limits()
        self._max_request_line = _clamp(limits.max_request_line)
        self._max_header_size = _clamp(limits.max_header_size)
        self._max_headers = _clamp(limits.max_headers)
        self._max_body_size = _clamp(limits.max_body_size)
        self._max_chunk_extensions = _clamp(limits.max_chunk_extensions)

    # -- public interface ------------------------------------------------------

    @property
    def paused(self):
        return self._state >= S_PAUSED

    @property
    def closed(self):
        return self._state >= S_CLOSED

    @property
    def buffered(self):
        return self._end - self._pos

    @property
    def trailing_data(self):
        if self._obj is not None and self._pos == 0:
            return self._obj
        return PyBytes_FromStringAndSize(self._base + self._pos, self._end - self._pos)

    def feed(self, data):
        if self._error is not None:
            raise self._error
        if self._state == S_CLOSED:
            return []  # nothing after the last message is ever parsed or kept
        if type(data) is bytes:
            if PyBytes_GET_SIZE(data) != 0:
                self._append(<bytes>data)
        elif data:
            self._append(bytes(memoryview(data)))
        if self._state == S_PAUSED:
            return []
        return self._run()

    def get_buffer(self, sizehint):
        return self._get_buffer()

    cdef object _get_buffer(self):
        cdef Py_ssize_t size
        if self._lent is not None:
            return self._lent  # asked again without buffer_updated (an SSL read of nothing)
        if self._direct is not None:
            return self._direct_view
        if (self._state == S_BODY_LENGTH and self._remaining >= _DIRECT_MIN and self._end <= self._pos
                and self._error is None):
            # Never much more than the body still needs (what follows it lands in a block),
            # but one byte more: the read that ends the body does not fill the buffer, so
            # libuv does not ask for another one it would then leave with this idle parser.
            size = _DIRECT_MAX if self._remaining > _DIRECT_MAX else <Py_ssize_t>self._remaining + 1
            if not _primed:
                _prime_allocator()
            self._direct = PyBytes_FromStringAndSize(NULL, size)
            self._direct_view = PyMemoryView_FromMemory(PyBytes_AS_STRING(self._direct), size, PyBUF_WRITE)
            return self._direct_view
        if PyList_GET_SIZE(_POOL):
            self._lent = _POOL.pop()
        else:
            self._lent = _new_block()
        return self._lent

    def buffer_updated(self, Py_ssize_t nbytes):
        return self._buffer_updated(nbytes)

    cdef object _buffer_updated(self, Py_ssize_t nbytes):
        cdef object block = self._lent
        cdef const char* p
        if self._direct is not None:
            return self.feed(self._take_direct(nbytes))
        if block is None:
            raise RuntimeError("buffer_updated() without get_buffer()")
        self._lent = None
        try:
            if nbytes <= 0 or nbytes > PyMemoryView_GET_BUFFER(block).len:
                raise ValueError(f"buffer_updated({nbytes}) outside the lent buffer")
            if self._error is not None:
                raise self._error
            if self._state == S_CLOSED:
                return []
            p = <const char*>PyMemoryView_GET_BUFFER(block).buf
            if self._end > self._pos:
                self._append_raw(p, nbytes)  # after held bytes: copied, as feed() would
                return [] if self._state == S_PAUSED else self._run()
            # Parse the block in place; keep (copy) only what is left once parsed.
            self._obj = None
            self._base = p
            self._end = nbytes
            self._pos = 0
            self._scan = 0
            try:
                events = [] if self._state == S_PAUSED else self._run()
                if self._base == p:
                    self._keep_rest()
            finally:
                if self._base == p:
                    self._drop()  # an exception: never leave the block as the held bytes
            return events
        finally:
            if PyList_GET_SIZE(_POOL) < _POOL_KEEP:
                _POOL.append(block)

    cdef bytes _take_direct(self, Py_ssize_t nbytes):
        """The body's own bytes, cut to the ``nbytes`` read into them."""
        cdef PyObject* raw = <PyObject*>self._direct
        cdef object data
        cdef Py_ssize_t size = PyBytes_GET_SIZE(<bytes>raw)
        self._direct_view = None
        if nbytes <= 0 or nbytes > size:
            self._direct = None
            raise ValueError(f"buffer_updated({nbytes}) outside the lent buffer")
        if nbytes == size:
            data = self._direct
            self._direct = None
            return data
        if Py_REFCNT(raw) != 1:  # someone else holds it: never resize in place
            data = PyBytes_FromStringAndSize(PyBytes_AS_STRING(<bytes>raw), nbytes)
            self._direct = None
            return data
        Py_INCREF(<object>raw)  # our own reference, the attribute's is dropped next
        self._direct = None
        _PyBytes_Resize(&raw, nbytes)  # on failure raw is released and the error raised
        data = <object>raw
        Py_DECREF(data)
        return data

    cdef int _reserve(self, Py_ssize_t cap) except -1:
        """Grow ``_hb`` to ``cap`` bytes (``realloc``: the held bytes stay)."""
        cdef char* nb
        if self._hcap < cap:
            nb = <char*>realloc(self._hb, cap)
            if nb == NULL:
                raise MemoryError()
            self._hb = nb
            self._hcap = cap
        return 0

    cdef int _keep_rest(self) except -1:
        """Copy the unparsed bytes of a lent block to ``_hb`` (or forget them if none)."""
        cdef Py_ssize_t left = self._end - self._pos
        if left <= 0:
            self._drop()
            return 0
        self._reserve(left if left > 1024 else 1024)
        memcpy(self._hb, self._base + self._pos, left)
        self._base = self._hb
        self._scan -= self._pos
        self._end = left
        self._pos = 0
        return 0

    def resume(self):
        return self._resume()

    cdef object _resume(self):
        if self._error is not None:
            raise self._error
        if self._state == S_PAUSED:
            self._state = S_HEAD
            return self._run()
        return []

    # -- buffer management ------------------------------------------------------

    cdef int _append(self, bytes data) except -1:
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        if self._end - self._pos <= 0:
            # Nothing held: parse the caller's bytes in place.
            self._obj = data
            self._base = PyBytes_AS_STRING(data)
            self._end = n
            self._pos = 0
            self._scan = 0
            return 0
        return self._append_raw(PyBytes_AS_STRING(data), n)

    cdef int _append_raw(self, const char* data, Py_ssize_t n) except -1:
        """Append ``n`` bytes after the held ones (some are held), in ``_hb``."""
        cdef Py_ssize_t left = self._end - self._pos
        cdef Py_ssize_t need, cap
        need = left + n
        if self._obj is not None or self._hcap < need:
            cap = self._hcap if self._obj is None else 0
            if cap < need:
                cap = need + (need >> 1)
                if cap < 1024:
                    cap = 1024
            if self._obj is not None:
                # Partial data in a caller's bytes object: copy it out once.
                self._reserve(cap)
                memcpy(self._hb, self._base + self._pos, left)
                self._obj = None
            else:
                if self._pos:
                    memmove(self._hb, self._hb + self._pos, left)
                self._reserve(cap)  # realloc keeps the bytes just moved to the front
        elif self._pos:
            memmove(self._hb, self._hb + self._pos, left)
        memcpy(self._hb + left, data, n)
        self._base = self._hb
        self._end = need
        self._scan -= self._pos
        self._pos = 0
        return 0

    cdef void _drop(self):
        """Forget every held byte."""
        self._obj = None
        self._base = _EMPTY
        self._end = 0
        self._pos = 0
        self._scan = 0
        if self._hcap > _SHRINK_ABOVE:
            free(self._hb)
            self._hb = NULL
            self._hcap = 0

    cdef int _fail(self, int status, str reason) except -1:
        exc = _ParseError(status, reason)
        self._state = S_ERROR
        self._error = exc
        self._npieces = 0
        self._drop()
        raise exc

    # -- machinery ----------------------------------------------------------------

    cdef list _run(self):
        cdef list events = []
        self._npieces = 0
        self._drop_pending = False
        self._parse(events)
        if self._drop_pending or self._pos >= self._end:
            self._drop()
        return events

    cdef int _parse(self, list events) except -1:
        cdef int state, r
        while True:
            state = self._state
            if state == S_HEAD:
                r = self._parse_head(events)
            elif state == S_BODY_LENGTH:
                r = self._parse_length_body()
            elif state == S_CHUNK_SIZE:
                r = self._parse_chunk_size()
            elif state == S_CHUNK_DATA:
                r = self._parse_chunk_data()
            elif state == S_CHUNK_END:
                r = self._parse_chunk_end()
            elif state == S_TRAILERS:
                r = self._parse_trailers()
            else:
                break
            if not r:
                break
            if self._state >= S_PAUSED and state != S_HEAD:
                # The message body ended in this step.
                self._end_message(events)
                break
        if self._npieces:
            events.append(self._take_body())
        return 0

    cdef int _add_piece(self, Py_ssize_t start, Py_ssize_t length) except -1:
        cdef Py_ssize_t* np
        cdef Py_ssize_t cap
        if self._npieces * 2 + 2 > self._pcap:
            cap = self._pcap * 2 if self._pcap else 16
            np = <Py_ssize_t*>realloc(self._pieces, cap * sizeof(Py_ssize_t))
            if np == NULL:
                raise MemoryError()
            self._pieces = np
            self._pcap = cap
        self._pieces[self._npieces * 2] = start
        self._pieces[self._npieces * 2 + 1] = length
        self._npieces += 1
        return 0

    cdef object _take_body(self):
        """One Body event holding every piece parsed in this run."""
        cdef Py_ssize_t i, total = 0, start, length
        cdef bytes data
        cdef char* out
        cdef Py_ssize_t* p = self._pieces
        if self._npieces == 1:
            start = p[0]
            length = p[1]
            if self._obj is not None and start == 0 and length == PyBytes_GET_SIZE(self._obj):
                data = <bytes>self._obj
            else:
                data = PyBytes_FromStringAndSize(self._base + start, length)
        else:
            for i in range(self._npieces):
                total += p[2 * i + 1]
            data = PyBytes_FromStringAndSize(NULL, total)
            out = PyBytes_AS_STRING(data)
            for i in range(self._npieces):
                memcpy(out, self._base + p[2 * i], p[2 * i + 1])
                out += p[2 * i + 1]
        self._npieces = 0
        return _new_body(data)

    cdef int _end_message(self, list events) except -1:
        if self._npieces:
            events.append(self._take_body())
        if self._trailers:
            events.append(_EndOfMessage(tuple(self._trailers)))
            self._trailers = []
        else:
            events.append(_END_OF_MESSAGE)
        return 0

    cdef inline void _finish_message_state(self):
        self._messages += 1
        if self._keep_alive:
            self._state = S_PAUSED
        else:
            self._state = S_CLOSED
            # Never parse or keep what follows a final message (dropped at the end
            # of this run, once the body pieces are copied out).
            self._drop_pending = True

    # -- head -----------------------------------------------------------------------

    cdef int _parse_head(self, list events) except -1:
        cdef const char* b = self._base
        cdef Py_ssize_t pos = self._pos
        cdef Py_ssize_t end = self._end
        cdef Py_ssize_t head_end, line_end, rl_end, after
        # Skip empty lines before the request line (RFC 9112 §2.2).
        while pos + 1 < end and b[pos] == CR and b[pos + 1] == LF:
            pos += 2
        self._pos = pos
        if self._scan < pos:
            self._scan = pos
        if pos >= end:
            return 0
        if b[pos] == LF:
            self._fail(400, "bare LF in request head")
        head_end = pyre_find_head_end(b, self._scan, end)
        if head_end < 0:
            self._check_incomplete_head(pos, end)
            self._scan = pos if end - 3 < pos else end - 3
            return 0

        # A request line with no header section ends at the first CRLF CRLF too.
        after = head_end + 4
        line_end = pyre_find_crlf(b, pos, head_end)
        rl_end = head_end if line_end < 0 else line_end
        if rl_end - pos > self._max_request_line:
            self._fail(414, "request line too long")
        if (line_end < 0 and self._messages == 0 and rl_end - pos == 14
                and memcmp(b + pos, b"PRI * HTTP/2.0", 14) == 0):
            if end - after < 6:
                return 0
            if memcmp(b + after, b"SM\r\n\r\n", 6) != 0:
                self._fail(400, "malformed HTTP/2 connection preface")
            self._pos = after + 6
            self._scan = self._pos
            self._state = S_CLOSED
            events.append(_H2_PREFACE)
            return 0
        if line_end >= 0:
            # The header section: every field line with its CRLF.
            if head_end - line_end > self._max_header_size:
                self._fail(431, "request header section too large")
        self._pos = after
        self._scan = after
        events.append(self._build_request(b, pos, rl_end, line_end, head_end))
        return 1

    cdef int _check_incomplete_head(self, Py_ssize_t pos, Py_ssize_t end) except -1:
        cdef const char* b = self._base
        cdef Py_ssize_t start = self._scan - 1
        if start < pos:
            start = pos
        if pyre_has_bare_crlf(b, start, end):
            self._fail(400, "bare CR or LF in request head")
        error = head_limit_error(pos, pyre_find_crlf(b, pos, end), end, self._max_request_line, self._max_header_size)
        if error is not None:
            self._fail(error[0], error[1])
        return 0

    cdef tuple _field(self, const char* b, Py_ssize_t s, Py_ssize_t e):
        """A field line b[s:e] as (lower-cased name, trimmed value), or None.

        On None, ``_fcode`` says what is wrong; on success ``_fid`` is the name's id.
        """
        cdef const char* colon
        cdef Py_ssize_t n, vs, ve
        cdef uint32_t h = 0
        cdef char lower[64]
        cdef int nid = ID_OTHER
        cdef object name
        colon = <const char*>memchr(b + s, 58, e - s)  # ":"
        if colon == NULL or colon == b + s:
            if e == s:
                self._fcode = F_EMPTY
            elif b[s] == SP or b[s] == HTAB:
                self._fcode = F_OBS_FOLD
            else:
                self._fcode = F_NO_NAME
            return None
        n = colon - (b + s)
        if n <= PYRE_MAX_CACHED_NAME:
            if not pyre_lower_token(b + s, n, lower, &h):
                self._fcode = F_BAD_NAME
                return None
            name = pyre_lookup_name(lower, n, h, &nid)
        else:
            name = PyBytes_FromStringAndSize(NULL, n)
            if not pyre_lower_token(b + s, n, PyBytes_AS_STRING(name), &h):
                self._fcode = F_BAD_NAME
                return None
        vs = n + s + 1
        ve = e
        while vs < ve and (b[vs] == SP or b[vs] == HTAB):
            vs += 1
        while ve > vs and (b[ve - 1] == SP or b[ve - 1] == HTAB):
            ve -= 1
        if not pyre_value_ok_span(b + vs, ve - vs):
            self._fcode = F_BAD_VALUE
            return None
        self._fid = nid
        return (name, PyBytes_FromStringAndSize(b + vs, ve - vs))

    cdef int _field_fail(self, const char* b, str reason, Py_ssize_t k, Py_ssize_t le,
                         Py_ssize_t head_end) except -1:
        """A header field error on line k: 431 if the section has too many lines."""
        cdef Py_ssize_t total = k
        cdef Py_ssize_t i = le
        while True:
            i = pyre_find_crlf(b, i, head_end)
            if i < 0:
                break
            total += 1
            i += 2
        if total > self._max_headers:
            return self._fail(431, "too many header fields")
        return self._fail(400, reason)

    cdef object _build_request(self, const char* b, Py_ssize_t pos, Py_ssize_t rl_end,
                               Py_ssize_t line_end, Py_ssize_t head_end):
        cdef const char* p
        cdef Py_ssize_t m1, t0, t1, v0, a0, j, ls, le, k, vlen
        cdef const char* vp
        cdef bint http11, last
        cdef str method
        cdef bytes path, query
        cdef object authority = None
        cdef list headers
        cdef tuple field
        cdef bytes value
        cdef int nid, conn = 0
        cdef bint expect_continue = False
        cdef long long content_length = -1
        cdef bint chunked = False
        cdef bint keep_alive
        cdef object upgrade = None
        cdef Py_ssize_t host_count = 0
        cdef Py_ssize_t host_index = -1
        cdef bint te_seen = False
        cdef pyre_te_state te
        cdef unsigned char c0

        # Request line: method SP target SP version (partitioned at the first two SPs).
        p = <const char*>memchr(b + pos, SP, rl_end - pos)
        if p == NULL:
            self._fail(400, "malformed request line")
        m1 = p - b
        t0 = m1 + 1
        p = <const char*>memchr(b + t0, SP, rl_end - t0)
        if p == NULL:
            self._fail(400, "malformed request line")
        t1 = p - b
        v0 = t1 + 1
        vp = b + v0
        if not (rl_end - v0 == 8 and memcmp(vp, b"HTTP/", 5) == 0
                and 48 <= <unsigned char>vp[5] <= 57 and vp[6] == 46 and 48 <= <unsigned char>vp[7] <= 57):
            self._fail(400, "malformed HTTP version")
        if not pyre_is_token(b + pos, m1 - pos):
            self._fail(400, "invalid method")
        if t1 == t0 or not pyre_all_in(pyre_target_ok, b + t0, t1 - t0):
            self._fail(400, "invalid request target")
        if vp[5] != 49:  # "1"
            self._fail(505, "HTTP version not supported")
        http11 = vp[7] != 48  # "0"
        method = _method_str(b + pos, m1 - pos)
        if m1 - pos == 7 and memcmp(b + pos, b"CONNECT", 7) == 0:
            self._fail(501, "CONNECT is not supported")

        c0 = <unsigned char>b[t0]
        if c0 == 47:  # "/": origin-form
            p = <const char*>memchr(b + t0, 63, t1 - t0)  # "?"
            if p == NULL:
                path = PyBytes_FromStringAndSize(b + t0, t1 - t0)
                query = _B_EMPTY
            else:
                path = PyBytes_FromStringAndSize(b + t0, p - (b + t0))
                query = PyBytes_FromStringAndSize(p + 1, (b + t1) - (p + 1))
        elif t1 - t0 == 1 and c0 == 42:  # "*"
            if not (m1 - pos == 7 and memcmp(b + pos, b"OPTIONS", 7) == 0):
                self._fail(400, "asterisk-form target is only valid with OPTIONS")
            path = _B_STAR
            query = _B_EMPTY
        else:
            # absolute-form: scheme "://" authority [path-abempty] [ "?" query ]
            if not ((65 <= c0 <= 90) or (97 <= c0 <= 122)):
                self._fail(400, "invalid request target")
            j = t0 + 1
            while j < t1 and pyre_scheme_ok[<unsigned char>b[j]]:
                j += 1
            if not (t1 - j >= 3 and b[j] == 58 and b[j + 1] == 47 and b[j + 2] == 47):
                self._fail(400, "invalid request target")
            a0 = j + 3
            j = a0
            while j < t1 and b[j] != 47 and b[j] != 63 and b[j] != 35:  # / ? #
                j += 1
            if j == a0 or not pyre_all_in(pyre_host_ok, b + a0, j - a0):
                self._fail(400, "invalid authority in absolute-form target")
            authority = PyBytes_FromStringAndSize(b + a0, j - a0)
            if j == t1:
                path = _B_SLASH
                query = _B_EMPTY
            elif b[j] == 63:  # "?"
                path = _B_SLASH
                query = PyBytes_FromStringAndSize(b + j + 1, t1 - j - 1)
            else:
                p = <const char*>memchr(b + j, 63, t1 - j)
                if p == NULL:
                    path = PyBytes_FromStringAndSize(b + j, t1 - j)
                    query = _B_EMPTY
                else:
                    path = PyBytes_FromStringAndSize(b + j, p - (b + j))
                    query = PyBytes_FromStringAndSize(p + 1, (b + t1) - (p + 1))

        # Header section.
        headers = []
        te.count = 0
        te.chunked = 0
        te.last_chunked = 0
        te.invalid = 0
        if line_end >= 0:
            ls = line_end + 2
            k = 0
            while True:
                k += 1
                le = pyre_find_crlf(b, ls, head_end)
                last = le < 0
                if last:
                    le = head_end
                if k > self._max_headers:
                    self._fail(431, "too many header fields")
                field = self._field(b, ls, le)
                if field is None:
                    self._field_fail(b, <str>_FIELD_REASONS[self._fcode], k, le, head_end)
                nid = self._fid & ID_MASK
                if nid != ID_OTHER:
                    value = <bytes>PyTuple_GET_ITEM(field, 1)
                    vp = PyBytes_AS_STRING(value)
                    vlen = PyBytes_GET_SIZE(value)
                    if nid == ID_HOST:
                        host_count += 1
                        if not pyre_all_in(pyre_host_ok, vp, vlen):
                            self._field_fail(b, "invalid Host header", k, le, head_end)
                        host_index = len(headers)
                    elif nid == ID_CONTENT_LENGTH:
                        if content_length != -1:
                            self._field_fail(b, "duplicate Content-Length", k, le, head_end)
                        if vlen == 0 or not _all_digits(vp, vlen):
                            self._field_fail(b, "invalid Content-Length", k, le, head_end)
                        if vlen > MAX_CONTENT_LENGTH_DIGITS:
                            self._field_fail(b, "Content-Length too large", k, le, head_end)
                        content_length = _parse_decimal(vp, vlen)
                    elif nid == ID_TRANSFER_ENCODING:
                        te_seen = True
                        pyre_te_scan(vp, vlen, &te)
                    elif nid == ID_CONNECTION:
                        conn |= pyre_connection_scan(vp, vlen)
                    elif nid == ID_EXPECT:
                        if vlen == 12 and pyre_ieq(vp, b"100-continue", 12):
                            expect_continue = True
                    elif nid == ID_UPGRADE:
                        upgrade = value
                headers.append(field)
                if last:
                    break
                ls = le + 2

        if host_count != 1 and (http11 or host_count > 1):
            self._fail(400, host_error(host_count, http11))
        if authority is not None and host_index >= 0:
            # RFC 9112 §3.2.2: the target's authority replaces the Host value.
            headers[host_index] = (_B_HOST, authority)

        if te_seen:
            if content_length != -1:
                self._fail(400, "both Content-Length and Transfer-Encoding")
            if not http11:
                self._fail(400, "Transfer-Encoding in an HTTP/1.0 request")
            if te.count == 0:
                self._fail(400, "empty Transfer-Encoding")
            if te.invalid:
                self._fail(400, "invalid Transfer-Encoding")
            if te.chunked > 1:
                self._fail(400, "chunked applied more than once")
            if te.chunked == 1 and not te.last_chunked:
                self._fail(400, "chunked is not the final transfer coding")
            if te.count != 1 or te.chunked != 1:
                self._fail(501, "unsupported transfer coding")
            chunked = True

        keep_alive = http11
        if conn & 1:
            keep_alive = False
        elif not http11 and conn & 2:
            keep_alive = True
        if not http11:
            expect_continue = False
        if upgrade is not None and not (conn & 4):
            upgrade = None

        if content_length > 0 and self._max_body_size and content_length > self._max_body_size:
            self._fail(413, "request body larger than the limit")

        self._keep_alive = keep_alive
        self._body_total = 0
        self._ext_total = 0
        self._trailer_bytes = 0
        if chunked:
            self._state = S_CHUNK_SIZE
        else:
            self._state = S_BODY_LENGTH
            self._remaining = content_length if content_length > 0 else 0
        return _new_request(method, path, query, _V11 if http11 else _V10, headers, keep_alive,
                            expect_continue, chunked, content_length, upgrade)

    # -- bodies ---------------------------------------------------------------------

    cdef int _parse_length_body(self) except -1:
        cdef long long remaining = self._remaining
        cdef Py_ssize_t available, take
        if remaining:
            available = self._end - self._pos
            if not available:
                return 0
            take = <Py_ssize_t>remaining if remaining < available else available
            self._add_piece(self._pos, take)
            self._pos += take
            remaining -= take
            self._remaining = remaining
            if remaining:
                return 0
        self._finish_message_state()
        return 1

    cdef int _check_partial_line(self, Py_ssize_t pos, Py_ssize_t end, str bare) except -1:
        """A line without its CRLF yet: fail with ``bare`` if what came has a lone CR or LF
        (the scan resumes one byte back: a last CR may be the line's own)."""
        cdef Py_ssize_t start = self._scan - 1
        if start < pos:
            start = pos
        if pyre_has_bare_crlf(self._base, start, end) or (end > pos and self._base[pos] == LF):
            self._fail(400, bare)
        return 0

    cdef int _parse_chunk_size(self) except -1:
        cdef const char* b = self._base
        cdef Py_ssize_t pos = self._pos
        cdef Py_ssize_t end = self._end
        cdef Py_ssize_t start, line_end, n, i, z
        cdef Py_ssize_t limit = MAX_CHUNK_SIZE_DIGITS + 16 + self._max_chunk_extensions - self._ext_total
        cdef long long size, total
        start = self._scan if self._scan > pos else pos
        line_end = pyre_find_crlf(b, start, end)
        if line_end < 0:
            self._check_partial_line(pos, end, "bare CR or LF in chunk header")
            # As for the head: a pending last byte may be the CR of the line's CRLF.
            if end - pos > limit + 1:
                self._fail(400, "chunk header too long")
            self._scan = pos if end - 1 < pos else end - 1
            return 0
        n = line_end - pos
        self._pos = line_end + 2
        self._scan = self._pos
        if n > limit:
            self._fail(400, "chunk header too long")
        i = 0
        while i < n and pyre_hexval[<unsigned char>b[pos + i]] >= 0:
            i += 1
        if i == 0:
            self._fail(400, "invalid chunk size")
        if i < n and not pyre_chunk_ext_ok(b + pos + i, n - i):
            self._fail(400, "invalid chunk size or extension")
        self._ext_total += n - i
        if self._ext_total > self._max_chunk_extensions:
            self._fail(400, "chunk extensions too long")
        z = 0
        while z < i and b[pos + z] == 48:  # leading "0"s
            z += 1
        if i - z > MAX_CHUNK_SIZE_DIGITS:
            self._fail(400, "chunk size too large")
        size = 0
        while z < i:
            size = (size << 4) | pyre_hexval[<unsigned char>b[pos + z]]
            z += 1
        if size == 0:
            self._state = S_TRAILERS
            self._trailer_count = 0
            return 1
        total = self._body_total + size
        if self._max_body_size and total > self._max_body_size:
            self._fail(413, "request body larger than the limit")
        self._body_total = total
        self._remaining = size
        self._state = S_CHUNK_DATA
        return 1

    cdef int _parse_chunk_data(self) except -1:
        cdef Py_ssize_t available = self._end - self._pos
        cdef long long remaining = self._remaining
        cdef Py_ssize_t take
        if not available:
            return 0
        take = <Py_ssize_t>remaining if remaining < available else available
        self._add_piece(self._pos, take)
        self._pos += take
        self._remaining = remaining - take
        if self._remaining:
            return 0
        self._state = S_CHUNK_END
        return 1

    cdef int _parse_chunk_end(self) except -1:
        cdef const char* b = self._base
        cdef Py_ssize_t pos = self._pos
        cdef Py_ssize_t available = self._end - pos
        if available < 2:
            if available == 1 and b[pos] != CR:
                self._fail(400, "chunk data not followed by CRLF")
            return 0
        if b[pos] != CR or b[pos + 1] != LF:
            self._fail(400, "chunk data not followed by CRLF")
        self._pos = pos + 2
        self._scan = self._pos
        self._state = S_CHUNK_SIZE
        return 1

    cdef int _parse_trailers(self) except -1:
        cdef const char* b = self._base
        cdef Py_ssize_t pos, end, start, line_end, n
        cdef tuple field
        while True:
            pos = self._pos
            end = self._end
            start = self._scan if self._scan > pos else pos
            line_end = pyre_find_crlf(b, start, end)
            if line_end < 0:
                self._check_partial_line(pos, end, "bare CR or LF in trailer section")
                if self._trailer_bytes + (end - pos) > self._max_header_size + 1:
                    self._fail(431, "trailer section too large")
                self._scan = pos if end - 1 < pos else end - 1
                return 0
            self._pos = line_end + 2
            self._scan = self._pos
            n = line_end - pos
            if n == 0:
                self._finish_message_state()
                return 1
            self._trailer_bytes += n + 2
            if self._trailer_bytes > self._max_header_size:
                self._fail(431, "trailer section too large")
            field = self._field(b, pos, line_end)
            if field is None:
                self._fail(400, <str>_FIELD_REASONS[self._fcode])
            self._trailer_count += 1
            if self._trailer_count > self._max_headers:
                self._fail(431, "too many trailer fields")
            if not (self._fid & FORBIDDEN_TRAILER):
                self._trailers.append(field)


# -- C entry points for the compiled connection (declared in h1parser.pxd) ------------------------
#
# pyre.transport._h1_c (the compiled connection) calls its parser through these when the parser is this class:
# the methods of the same names, without a Python-level call and its boxed arguments.

cdef bint is_parser(object obj):
    return type(obj) is RequestParser


cdef object parser_get_buffer(object parser):
    return (<RequestParser>parser)._get_buffer()


cdef object parser_buffer_updated(object parser, Py_ssize_t nbytes):
    return (<RequestParser>parser)._buffer_updated(nbytes)


cdef object parser_resume(object parser):
    return (<RequestParser>parser)._resume()


cdef Py_ssize_t parser_buffered(object parser):
    return (<RequestParser>parser)._end - (<RequestParser>parser)._pos


cdef bint parser_paused(object parser):
    return (<RequestParser>parser)._state >= S_PAUSED
