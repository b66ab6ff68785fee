# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of :class:`pyre.protocol.h2.session.H2Session`.

The pure session drives the ``h2`` library; this twin does the same job itself:
frame scanning and parsing, stream states, flow-control windows, settings and
frame building, in one Cython unit, with the same events, the same error codes
and (tested in lock-step by ``tests/differential/test_h2_session_twins.py``) the
same bytes out for the same calls. Where the pure twin's behaviour comes from
``h2``, this module reproduces it and says so: the pure twin stays normative.

Streams are ``_Stream`` objects in ``_streams`` (what ``h2`` keeps in
``H2Connection.streams``, closed streams included until they are cleaned up)
and carry both ``h2``'s stream state and the session's record of a stream the
transport knows (``known``).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from libc.string cimport memcmp, memcpy

from collections import OrderedDict

from pyre._accel import HPACKDecoder, HPACKEncoder
from pyre.protocol.h2.events import (
    ConnectionEnded,
    DataReceived,
    PingAcked,
    RequestReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)
from pyre.protocol.h2.headers import Malformed, response_headers, trailer_headers
from pyre.protocol.h2.session import PREFACE, _decode_http2_settings
from pyre.protocol.h2.settings import H2Settings

from hpack.exceptions import HPACKError, OversizedHeaderListError

__all__ = ["H2Session", "response_head"]

# Frame types and flags.
DEF DATA = 0x0
DEF HEADERS = 0x1
DEF PRIORITY = 0x2
DEF RST_STREAM = 0x3
DEF SETTINGS = 0x4
DEF PUSH_PROMISE = 0x5
DEF PING = 0x6
DEF GOAWAY = 0x7
DEF WINDOW_UPDATE = 0x8
DEF CONTINUATION = 0x9
DEF F_END_STREAM = 0x1
DEF F_ACK = 0x1
DEF F_END_HEADERS = 0x4
DEF F_PADDED = 0x8
DEF F_PRIORITY = 0x20

# Error codes (RFC 9113 §7).
DEF NO_ERROR = 0x0
DEF PROTOCOL_ERROR = 0x1
DEF INTERNAL_ERROR = 0x2
DEF FLOW_CONTROL_ERROR = 0x3
DEF STREAM_CLOSED = 0x5
DEF FRAME_SIZE_ERROR = 0x6
DEF REFUSED_STREAM = 0x7
DEF CANCEL = 0x8
DEF COMPRESSION_ERROR = 0x9
DEF ENHANCE_YOUR_CALM = 0xB

# Stream states (h2's StreamState, the ones a server stream can be in).
DEF S_OPEN = 1
DEF S_HALF_CLOSED_LOCAL = 2
DEF S_HALF_CLOSED_REMOTE = 3
DEF S_CLOSED = 4

# How a stream closed (h2's StreamClosedBy); 0 = not recorded.
DEF BY_NONE = 0
DEF BY_RECV_END = 1
DEF BY_SEND_END = 2
DEF BY_RECV_RST = 3
DEF BY_SEND_RST = 4

DEF MAX_WINDOW = 2147483647
DEF MAX_CLOSED_STREAMS = 65536  # h2's H2Connection.MAX_CLOSED_STREAMS
# The control-frame credit (see the pure twin's _FRAME_COST): in bytes.
DEF FRAME_COST = 256
DEF SEND_SHARE = 2
DEF RECEIVE_SHARE = 1
DEF INFLIGHT_FRAME = 1024
DEF MAX_CREDIT = 25600000  # 100,000 control frames

# Setting codes.
DEF SET_HEADER_TABLE_SIZE = 0x1
DEF SET_ENABLE_PUSH = 0x2
DEF SET_MAX_CONCURRENT_STREAMS = 0x3
DEF SET_INITIAL_WINDOW_SIZE = 0x4
DEF SET_MAX_FRAME_SIZE = 0x5
DEF SET_MAX_HEADER_LIST_SIZE = 0x6
DEF SET_ENABLE_CONNECT_PROTOCOL = 0x8


class _ConnectionError(Exception):
    """Internal: the frame being handled ends the connection with ``code``."""

    def __init__(self, code, reason):
        self.code = code
        self.reason = reason


# -- field character classes (the pure twin's regular expressions) -----------------------

DEF C_NAME = 1        # lower-case token character
DEF C_ANY_NAME = 2    # token character
DEF C_VALUE = 4       # HTAB, SP, VCHAR, obs-text
DEF C_SCHEME = 8      # A-Za-z0-9+.-
DEF C_TARGET = 16     # visible ASCII but '#'
DEF C_AUTHORITY = 32  # A-Za-z0-9-._~!$&'()*+,;=:%[]
DEF C_ALPHA = 64

cdef unsigned char CLASS[256]


cdef void _init_classes():
    cdef int c
    tchar = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
    upper = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    authority = b"-._~!$&'()*+,;=:%[]0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for c in range(256):
        CLASS[c] = 0
        if c == 0x09 or 0x20 <= c <= 0x7E or c >= 0x80:
            CLASS[c] |= C_VALUE
        if 0x21 <= c <= 0x7E and c != 0x23:
            CLASS[c] |= C_TARGET
    for c in tchar:
        CLASS[c] |= C_NAME | C_ANY_NAME
    for c in upper:
        CLASS[c] |= C_ANY_NAME | C_ALPHA | C_SCHEME
    for c in b"abcdefghijklmnopqrstuvwxyz":
        CLASS[c] |= C_ALPHA | C_SCHEME
    for c in b"0123456789+.-":
        CLASS[c] |= C_SCHEME
    for c in authority:
        CLASS[c] |= C_AUTHORITY


_init_classes()


cdef inline bint _all_of(bytes value, unsigned char cls, bint nonempty):
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(value)
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(value)
    if nonempty and n == 0:
        return False
    for i in range(n):
        if not CLASS[p[i]] & cls:
            return False
    return True


cdef inline bint _valid_request_value(bytes value):
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(value)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(value)
    if n == 0:
        return True
    if p[0] == 0x20 or p[0] == 0x09 or p[n - 1] == 0x20 or p[n - 1] == 0x09:
        return False
    return _all_of(value, C_VALUE, False)


cdef inline bint _valid_scheme(bytes value):
    if PyBytes_GET_SIZE(value) == 0:
        return False
    if not CLASS[<unsigned char>PyBytes_AS_STRING(value)[0]] & C_ALPHA:
        return False
    return _all_of(value, C_SCHEME, True)


cdef inline bint _valid_digits(bytes value):
    cdef Py_ssize_t n = PyBytes_GET_SIZE(value)
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(value)
    cdef Py_ssize_t i
    if n == 0 or n > 19:
        return False
    for i in range(n):
        if p[i] < 0x30 or p[i] > 0x39:
            return False
    return True


cdef inline unsigned long long _u32(const unsigned char* p):
    return (<unsigned long long>p[0] << 24) | (<unsigned long long>p[1] << 16) | (<unsigned long long>p[2] << 8) | p[3]


cdef inline unsigned int _u31(const unsigned char* p):
    return <unsigned int>(_u32(p) & 0x7FFFFFFF)


cdef inline bytes _b(object value):
    # The HPACK decoders give bytes (in tuples or HeaderTuple): make sure of it cheaply.
    if type(value) is bytes:
        return <bytes>value
    return bytes(value)


cdef object _parse_request(int stream_id, object headers, bint end_stream, bint allow_protocol):
    """``pyre.protocol.h2.headers.parse_request``, compiled: same checks, same event."""
    cdef bytes name, value
    cdef bytes method = None, scheme = None, path = None, authority = None, protocol = None
    cdef bytes host = None
    cdef object content_length = None
    cdef Py_ssize_t cookie_at = -1
    cdef list cookies = None
    cdef list regular = []
    cdef bint in_pseudo = True
    cdef Py_ssize_t n
    for pair in headers:
        name = _b(pair[0])
        value = _b(pair[1])
        n = PyBytes_GET_SIZE(name)
        if n and PyBytes_AS_STRING(name)[0] == b":":
            if not in_pseudo:
                raise Malformed("pseudo-header after a regular field")
            if name == b":method":
                if method is not None:
                    raise Malformed("repeated pseudo-header :method")
                method = value
            elif name == b":scheme":
                if scheme is not None:
                    raise Malformed("repeated pseudo-header :scheme")
                scheme = value
            elif name == b":path":
                if path is not None:
                    raise Malformed("repeated pseudo-header :path")
                path = value
            elif name == b":authority":
                if authority is not None:
                    raise Malformed("repeated pseudo-header :authority")
                authority = value
            elif name == b":protocol":
                if protocol is not None:
                    raise Malformed("repeated pseudo-header :protocol")
                protocol = value
            else:
                raise Malformed(f"unknown pseudo-header {name.decode('latin-1')!r}")
            continue
        in_pseudo = False
        if not _all_of(name, C_NAME, True):
            raise Malformed(f"invalid field name {name[:64].decode('latin-1')!r}")
        if not _valid_request_value(value):
            raise Malformed(f"invalid value for {name.decode('latin-1')}")
        if n == 10 and (name == b"connection" or name == b"keep-alive"):
            raise Malformed(f"connection-specific field {name.decode('latin-1')}")
        if (n == 16 and name == b"proxy-connection") or (n == 17 and name == b"transfer-encoding") or (n == 7 and name == b"upgrade"):
            raise Malformed(f"connection-specific field {name.decode('latin-1')}")
        if n == 2 and name == b"te":
            if value.lower() != b"trailers":
                raise Malformed("te other than 'trailers'")
        elif n == 14 and name == b"content-length":
            if not _valid_digits(value):
                raise Malformed("invalid content-length")
            length = int(value)
            if content_length is not None and length != content_length:
                raise Malformed("conflicting content-length fields")
            content_length = length
        elif n == 4 and name == b"host":
            if host is not None:
                raise Malformed("repeated host field")
            host = value
        elif n == 6 and name == b"cookie":
            if cookies is None:
                cookies = [value]
            else:
                cookies.append(value)
            if cookie_at >= 0:
                continue
            cookie_at = len(regular)
        regular.append((name, value))

    if method is None:
        raise Malformed("missing :method")
    if not _all_of(method, C_ANY_NAME, True):
        raise Malformed("invalid :method")
    if scheme is not None and not _valid_scheme(scheme):
        raise Malformed("invalid :scheme")
    if path is not None and not _all_of(path, C_TARGET, True):
        raise Malformed("invalid :path")
    if authority is not None and not _all_of(authority, C_AUTHORITY, True):
        raise Malformed("invalid :authority")
    if protocol is not None and (not allow_protocol or not _all_of(protocol, C_ANY_NAME, True)):
        raise Malformed(":protocol is not enabled" if not allow_protocol else "invalid :protocol")

    if method == b"CONNECT" and protocol is None:
        if scheme is not None or path is not None:
            raise Malformed("CONNECT with :scheme or :path")
        if authority is None:
            raise Malformed("CONNECT without :authority")
        path = b""
    else:
        if protocol is not None and method != b"CONNECT":
            raise Malformed(":protocol without CONNECT")
        if scheme is None or path is None:
            raise Malformed("missing :scheme or :path")
        if protocol is not None and authority is None:
            raise Malformed("extended CONNECT without :authority")
        if path == b"*":
            if method != b"OPTIONS":
                raise Malformed("asterisk :path is only valid with OPTIONS")
        elif PyBytes_AS_STRING(path)[0] != b"/":
            raise Malformed(":path must start with '/'")
    if authority is not None and host is not None and host.lower() != authority.lower():
        raise Malformed("host differs from :authority")
    if end_stream and content_length:
        raise Malformed("content-length without a body")

    if cookies is not None and len(cookies) > 1:
        regular[cookie_at] = (b"cookie", b"; ".join(cookies))
    if authority is not None and host is None:
        regular.insert(0, (b"host", authority))
    query = b""
    cdef Py_ssize_t q = path.find(b"?")
    if q >= 0:
        query = path[q + 1:]
        path = path[:q]
    if method == b"GET":
        method_text = "GET"
    elif method == b"POST":
        method_text = "POST"
    else:
        method_text = method.decode("ascii")
    if scheme is None:
        scheme_text = ""
    elif scheme == b"http":
        scheme_text = "http"
    elif scheme == b"https":
        scheme_text = "https"
    else:
        scheme_text = scheme.decode("ascii").lower()
    return RequestReceived(
        stream_id,
        method_text,
        scheme_text,
        authority,
        path,
        query,
        regular,
        protocol.decode("ascii") if protocol is not None else None,
        end_stream,
        content_length,
    )


cdef list _parse_trailers(object headers):
    cdef list out = []
    cdef bytes name, value
    for pair in headers:
        name = _b(pair[0])
        value = _b(pair[1])
        if not _all_of(name, C_NAME, True):
            raise Malformed("pseudo-header or invalid field name in trailers")
        if not _valid_request_value(value):
            raise Malformed(f"invalid value for {name.decode('latin-1')}")
        if name in (b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"te"):
            raise Malformed(f"connection-specific field {name.decode('latin-1')} in trailers")
        out.append((name, value))
    return out


cdef Py_ssize_t _field_list_size(object headers):
    cdef Py_ssize_t total = 0
    for pair in headers:
        total += len(pair[0]) + len(pair[1]) + 32
    return total


# -- response heads ----------------------------------------------------------------------

_DROPPED_ON_SEND = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"te"})
_STATUS = [b"%d" % code for code in range(1000)]


cdef bytes _lower_name(bytes name):
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(name)
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(name)
    for i in range(n):
        if 0x41 <= p[i] <= 0x5A:
            return name.lower()
    return name


cdef bytes _strip_value(bytes value):
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(value)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(value)
    if n and (p[0] == 0x20 or p[0] == 0x09 or p[n - 1] == 0x20 or p[n - 1] == 0x09):
        return value.strip(b" \t")
    return value


def response_head(status, headers):
    """``pyre.protocol.h2.headers.response_head``, compiled: the same fields, length and errors."""
    cdef bytes name, value
    cdef list fields
    cdef bint has_length = False
    if type(status) is not int or not 200 <= status <= 999:
        raise ValueError(f"invalid status {status!r} for a final response")
    fields = [(b":status", _STATUS[status])]
    content_length = None
    for raw_name, raw_value in headers:
        name = _lower_name(raw_name if type(raw_name) is bytes else bytes(raw_name))
        if name in _DROPPED_ON_SEND:
            continue
        if not _all_of(name, C_NAME, True):
            raise ValueError(f"invalid header name {name[:64]!r}")
        value = _strip_value(raw_value if type(raw_value) is bytes else bytes(raw_value))
        if not _all_of(value, C_VALUE, False):
            raise ValueError(f"invalid value for header {name!r}")
        fields.append((name, value))
        if PyBytes_GET_SIZE(name) == 14 and name == b"content-length":
            has_length = True
    if has_length:  # checked after every field, as the pure twin does
        for name, value in fields:
            if name == b"content-length":
                if not value.isdigit() or PyBytes_GET_SIZE(value) > 18:
                    raise ValueError(f"invalid content-length {value!r}")
                if content_length is not None and int(value) != content_length:
                    raise ValueError("conflicting content-length headers")
                content_length = int(value)
    return fields, content_length


# -- flood limits ------------------------------------------------------------------------


cdef class _Bucket:
    """A leaky bucket, as the pure twin's: ``hit`` adds one; True when over capacity."""

    cdef double capacity, rate, level, stamp
    cdef bint stamped

    def __cinit__(self, double capacity, double window):
        self.capacity = capacity
        self.rate = capacity / window
        self.level = 0.0
        self.stamp = 0.0
        self.stamped = False

    cdef bint hit(self, double now):
        cdef double level
        if not self.stamped or now > self.stamp:
            if self.stamped:
                level = self.level - (now - self.stamp) * self.rate
                self.level = level if level > 0.0 else 0.0
            self.stamp = now
            self.stamped = True
        self.level += 1.0
        return self.level > self.capacity


# -- streams -----------------------------------------------------------------------------


cdef class _Stream:
    """A stream: h2's state and windows, and the session's record when ``known``."""

    cdef int sid
    cdef int state
    cdef int closed_by
    cdef bint trailers_received
    cdef long long out_window
    # h2's WindowManager for what we receive on the stream
    cdef long long in_window, in_max, in_processed
    # the session's record
    cdef bint known
    cdef long long expected      # Content-Length, -1 if none
    cdef long long received
    cdef long long unacked
    cdef bint remote_ended
    cdef bint head_sent          # final response head sent

    def __cinit__(self, int sid, long long in_window, long long out_window):
        self.sid = sid
        self.state = S_OPEN
        self.closed_by = BY_NONE
        self.out_window = out_window
        self.in_window = in_window
        self.in_max = in_window
        self.in_processed = 0
        self.known = False
        self.expected = -1


cdef inline long long _window_increment(long long *current, long long *maximum, long long *processed, long long size):
    """h2's WindowManager.process_bytes: the WINDOW_UPDATE increment to send now, or 0."""
    cdef long long increment = 0, max_increment, threshold
    processed[0] += size
    if not processed[0]:
        return 0
    max_increment = maximum[0] - current[0]
    threshold = maximum[0] // 4
    if threshold > 1024:
        threshold = 1024
    if (current[0] == 0 and processed[0] > threshold) or processed[0] >= maximum[0] // 2:
        increment = processed[0] if processed[0] < max_increment else max_increment
        processed[0] = 0
    current[0] += increment
    return increment


cdef class H2Session:
    """One HTTP/2 server connection, without I/O: the compiled twin of
    :class:`pyre.protocol.h2.session.H2Session` (see there for the contract)."""

    cdef readonly object settings
    cdef object _encoder, _decoder
    cdef dict _streams
    cdef list _closing               # ids of streams in _streams that turned CLOSED
    cdef object _closed_by           # cleaned-up stream id -> how it closed (bounded)
    cdef bytearray _inbuf
    cdef bytearray _out
    cdef Py_ssize_t _keep            # head of _out a client GOAWAY does not discard
    cdef bint _initiated, _preface_pending, _expect_settings, _dead, _goaway_sent
    cdef int _block_stream, _block_frames
    cdef long long _block_bytes
    cdef int _block_flags
    cdef int _block_sid_pending
    cdef long long _block_depends
    cdef bytearray _block
    cdef _Bucket _control, _resets
    cdef long long _credit
    cdef double _now
    cdef set _seen_windows
    cdef list _events
    # connection state (h2's H2Connection)
    cdef int _highest_in
    cdef int _refuse_above
    cdef int _open_count
    cdef long long _out_window
    cdef long long _in_window, _in_max, _in_processed
    cdef long long _max_in_frame, _max_out_frame
    cdef long long _remote_initial
    cdef long long _local_initial
    cdef list _pending_local          # our SETTINGS not yet acknowledged: list of dicts
    cdef dict _remote_settings
    cdef long long _max_streams, _max_list_size, _decode_cap
    cdef bint _connect_protocol

    def __init__(self, settings=H2Settings()):
        if not isinstance(settings, H2Settings):
            raise TypeError("settings must be an H2Settings")
        self.settings = settings
        self._encoder = HPACKEncoder()
        self._decoder = HPACKDecoder()
        # h2 builds its decoder with max_header_list_size 2**16 (its default local setting)
        self._decoder.max_header_list_size = 65536
        self._streams = {}
        self._closing = []
        self._closed_by = OrderedDict()
        self._inbuf = bytearray()
        self._out = bytearray()
        self._keep = 0
        self._initiated = False
        self._preface_pending = True
        self._expect_settings = True
        self._dead = False
        self._goaway_sent = False
        self._block_stream = 0
        self._block_frames = 0
        self._block_bytes = 0
        self._block = bytearray()
        self._control = _Bucket(settings.max_control_frames, settings.flood_window)
        self._resets = _Bucket(settings.max_rapid_resets, settings.flood_window)
        self._credit = 0
        self._now = 0.0
        self._seen_windows = set()
        self._highest_in = 0
        self._refuse_above = MAX_WINDOW
        self._open_count = 0
        self._out_window = 65535
        self._in_window = 65535
        self._in_max = 65535
        self._in_processed = 0
        self._max_in_frame = 16384
        self._max_out_frame = 16384
        self._remote_initial = 65535
        self._local_initial = 65535
        self._pending_local = []
        self._remote_settings = {}
        self._max_streams = settings.max_concurrent_streams
        self._max_list_size = settings.max_header_list_size
        self._decode_cap = 2 * settings.max_header_list_size
        self._connect_protocol = settings.enable_connect_protocol

    # -- output helpers ---------------------------------------------------------------

    cdef inline void _append(self, const char* data, Py_ssize_t n):
        cdef bytearray out = self._out
        cdef Py_ssize_t size = PyByteArray_GET_SIZE(out)
        PyByteArray_Resize(out, size + n)
        memcpy(PyByteArray_AS_STRING(out) + size, data, n)

    cdef inline void _frame_head(self, Py_ssize_t length, int ftype, int flags, unsigned int sid):
        cdef unsigned char head[9]
        head[0] = (length >> 16) & 0xFF
        head[1] = (length >> 8) & 0xFF
        head[2] = length & 0xFF
        head[3] = ftype
        head[4] = flags
        head[5] = (sid >> 24) & 0x7F
        head[6] = (sid >> 16) & 0xFF
        head[7] = (sid >> 8) & 0xFF
        head[8] = sid & 0xFF
        self._append(<char*>head, 9)

    cdef inline void _u32_frame(self, int ftype, unsigned int sid, unsigned long long value):
        cdef unsigned char body[4]
        self._frame_head(4, ftype, 0, sid)
        body[0] = (value >> 24) & 0xFF
        body[1] = (value >> 16) & 0xFF
        body[2] = (value >> 8) & 0xFF
        body[3] = value & 0xFF
        self._append(<char*>body, 4)

    cdef void _window_update(self, unsigned int sid, long long increment):
        self._u32_frame(WINDOW_UPDATE, sid, <unsigned long long>increment)

    cdef void _rst(self, unsigned int sid, unsigned long long code):
        self._u32_frame(RST_STREAM, sid, code)

    cdef void _goaway(self, unsigned int last, unsigned long long code):
        cdef unsigned char body[8]
        self._frame_head(8, GOAWAY, 0, 0)
        body[0] = (last >> 24) & 0x7F
        body[1] = (last >> 16) & 0xFF
        body[2] = (last >> 8) & 0xFF
        body[3] = last & 0xFF
        body[4] = (code >> 24) & 0xFF
        body[5] = (code >> 16) & 0xFF
        body[6] = (code >> 8) & 0xFF
        body[7] = code & 0xFF
        self._append(<char*>body, 8)

    cdef void _settings_frame(self, list pairs):
        cdef unsigned char item[6]
        cdef unsigned long long value
        self._frame_head(6 * len(pairs), SETTINGS, 0, 0)
        for code, number in pairs:
            value = number
            item[0] = (code >> 8) & 0xFF
            item[1] = code & 0xFF
            item[2] = (value >> 24) & 0xFF
            item[3] = (value >> 16) & 0xFF
            item[4] = (value >> 8) & 0xFF
            item[5] = value & 0xFF
            self._append(<char*>item, 6)

    cdef void _header_block(self, int sid, bytes block, bint end_stream):
        """HEADERS (+ CONTINUATION) frames in chunks of the peer's frame size, as h2 splits."""
        cdef Py_ssize_t size = PyBytes_GET_SIZE(block), step = self._max_out_frame, pos = 0, n
        cdef int flags
        cdef bint first = True
        while True:
            n = size - pos
            if n > step:
                n = step
            flags = 0
            if first and end_stream:
                flags |= F_END_STREAM
            if pos + n >= size:
                flags |= F_END_HEADERS
            self._frame_head(n, HEADERS if first else CONTINUATION, flags, sid)
            if n == size:
                self._out += block
            else:
                self._out += block[pos:pos + n]
            pos += n
            first = False
            if pos >= size:
                break

    # -- stream bookkeeping ------------------------------------------------------------

    cdef inline void _set_closed(self, _Stream stream, int by):
        if stream.state != S_CLOSED:
            stream.state = S_CLOSED
            if stream.sid & 1:
                self._open_count -= 1
            self._closing.append(stream.sid)
        if by != BY_NONE:
            stream.closed_by = by

    cdef void _cleanup(self):
        """What h2's ``_open_streams`` does as it counts: forget closed streams."""
        cdef _Stream stream
        if not self._closing:
            return
        for sid in self._closing:
            stream = self._streams.pop(sid, None)
            if stream is not None:
                self._closed_by[sid] = stream.closed_by
        self._closing = []
        while len(self._closed_by) > MAX_CLOSED_STREAMS:
            self._closed_by.popitem(last=False)

    cdef int _closed_by_of(self, int sid):
        cdef _Stream stream = self._streams.get(sid)
        if stream is not None:
            return stream.closed_by
        return self._closed_by.get(sid, BY_NONE)

    cdef _Stream _new_stream(self, int sid):
        cdef _Stream stream = _Stream(sid, self._local_initial, self._remote_initial)
        self._streams[sid] = stream
        self._highest_in = sid
        self._open_count += 1
        return stream

    cdef void _send_rst(self, _Stream stream, unsigned long long code):
        """h2's stream.reset_stream: RST_STREAM and CLOSED (sent by reset)."""
        self._set_closed(stream, BY_SEND_RST)
        self._rst(stream.sid, code)

    # -- setting up ---------------------------------------------------------------------

    cdef list _local_settings(self):
        s = self.settings
        pairs = [
            (SET_HEADER_TABLE_SIZE, s.max_header_table_size),
            (SET_MAX_CONCURRENT_STREAMS, s.max_concurrent_streams),
            (SET_INITIAL_WINDOW_SIZE, s.initial_window_size),
            (SET_MAX_FRAME_SIZE, s.max_frame_size),
            (SET_MAX_HEADER_LIST_SIZE, s.max_header_list_size),
        ]
        if s.enable_connect_protocol:
            pairs.append((SET_ENABLE_CONNECT_PROTOCOL, 1))
        return pairs

    cdef void _queue_preface(self):
        cdef list pairs = self._local_settings()
        cdef long long extra
        self._out.clear()
        self._keep = 0
        self._settings_frame(pairs)
        self._pending_local.append(dict(pairs))
        extra = self.settings.connection_window_size - 65535
        if extra > 0:
            self._in_window += extra
            if self._in_window > self._in_max:
                self._in_max = self._in_window
            self._window_update(0, extra)
        self._initiated = True

    def initiate(self):
        """Queue our preface: SETTINGS and the WINDOW_UPDATE that opens the connection window."""
        if self._initiated:
            return
        self._queue_preface()

    def initiate_upgrade(self, http2_settings):
        """Start an h2c connection upgraded from HTTP/1.1 (see the pure twin)."""
        cdef _Stream stream
        cdef Py_ssize_t i
        if self._initiated:
            raise RuntimeError("the session is already initiated")
        payload = _decode_http2_settings(http2_settings)
        values = {}
        for i in range(0, len(payload), 6):
            values[int.from_bytes(payload[i:i + 2], "big")] = int.from_bytes(payload[i + 2:i + 6], "big")
        self._apply_remote_settings(values)
        stream = self._new_stream(1)
        stream.state = S_HALF_CLOSED_REMOTE
        self._queue_preface()
        stream.known = True
        stream.remote_ended = True

    # -- receiving ------------------------------------------------------------------------

    def receive_data(self, data, double now):
        """Process bytes from the client; return the events they complete (see the pure twin)."""
        cdef list events = []
        if self._dead:
            return events
        if not self._initiated:
            self._queue_preface()
        self._now = now
        if self._seen_windows:
            self._seen_windows.clear()
        self._events = events
        try:
            self._receive(data)
        except Exception as exc:  # never raise for client input
            if not self._dead:
                self._fail(INTERNAL_ERROR, f"internal error: {exc!r}")
        self._events = None
        if self._dead:
            self._inbuf.clear()
        return events

    cdef void _receive(self, object data) except *:
        cdef bytearray buf = self._inbuf
        cdef Py_ssize_t have, pos, size, end
        cdef const unsigned char* p
        cdef unsigned int length, sid
        cdef int ftype, flags
        cdef bytes view
        if buf or type(data) is not bytes:
            buf += data
            view = bytes(buf)
            buf.clear()
        else:
            view = <bytes>data
        if self._preface_pending:
            have = PyBytes_GET_SIZE(view)
            if have > 24:
                have = 24
            if memcmp(PyBytes_AS_STRING(view), PyBytes_AS_STRING(PREFACE), have) != 0:
                self._fail(PROTOCOL_ERROR, "invalid connection preface")
                return
            if have < 24:
                self._inbuf += view
                return
            view = view[24:]
            self._preface_pending = False
        pos = 0
        size = PyBytes_GET_SIZE(view)
        p = <const unsigned char*>PyBytes_AS_STRING(view)
        while not self._dead and size - pos >= 9:
            length = (p[pos] << 16) | (p[pos + 1] << 8) | p[pos + 2]
            ftype = p[pos + 3]
            flags = p[pos + 4]
            sid = _u31(p + pos + 5)
            if length > self._max_in_frame:
                self._fail(FRAME_SIZE_ERROR, f"frame of {length} bytes exceeds SETTINGS_MAX_FRAME_SIZE")
                break
            if not self._check_header(length, ftype, sid):
                break
            end = pos + 9 + length
            if end > size:
                break
            self._frame(view, p + pos + 9, pos + 9, length, ftype, flags, sid)
            pos = end
        if not self._dead and pos < size:
            self._inbuf += view[pos:]

    cdef bint _check_header(self, unsigned int length, int ftype, unsigned int sid) except -1:
        settings = self.settings
        if self._expect_settings and ftype != SETTINGS:
            self._fail(PROTOCOL_ERROR, "the client preface must be followed by SETTINGS")
            return False
        if self._block_stream:
            if ftype != CONTINUATION or <int>sid != self._block_stream:
                self._fail(PROTOCOL_ERROR, "header block interrupted")
                return False
            if self._block_frames >= settings.max_continuation_frames:
                self._fail(ENHANCE_YOUR_CALM, "too many CONTINUATION frames")
                return False
            if self._block_bytes + length > settings.max_header_block_size:
                self._fail(ENHANCE_YOUR_CALM, "header block too large")
                return False
        elif ftype == CONTINUATION:
            self._fail(PROTOCOL_ERROR, "CONTINUATION without HEADERS")
            return False
        elif ftype == HEADERS and length > settings.max_header_block_size:
            self._fail(ENHANCE_YOUR_CALM, "header block too large")
            return False
        elif ftype == PUSH_PROMISE:
            self._fail(PROTOCOL_ERROR, "a client cannot push")
            return False
        return True

    cdef inline void _earn(self, long long credit):
        credit += self._credit
        self._credit = credit if credit < MAX_CREDIT else MAX_CREDIT

    cdef inline bint _control_frame(self) except -1:
        if self._credit >= FRAME_COST:
            self._credit -= FRAME_COST
            return True
        if self._control.hit(self._now):
            self._fail(ENHANCE_YOUR_CALM, "too many control frames")
            return False
        return True

    cdef inline bint _is_idle(self, unsigned int sid):
        if sid & 1:
            return <int>sid > self._highest_in
        return True  # a server opens no streams

    cdef void _frame(self, bytes view, const unsigned char* payload, Py_ssize_t offset, unsigned int length,
                     int ftype, int flags, unsigned int sid) except *:
        cdef _Stream stream
        cdef long long data_length, increment
        if ftype == DATA:
            stream = self._streams.get(sid)
            if stream is None or not (stream.state == S_OPEN or stream.state == S_HALF_CLOSED_LOCAL):
                if not self._control_frame():
                    return
            else:
                data_length = length
                if flags & F_PADDED and length:
                    data_length = <long long>length - 1 - payload[0]
                if data_length > 0:
                    self._earn(RECEIVE_SHARE * (data_length if data_length < FRAME_COST else FRAME_COST))
                elif not flags & F_END_STREAM and not self._control_frame():
                    return
        elif ftype == HEADERS:
            if not flags & F_END_HEADERS:
                self._block_stream = sid if sid else -1
                self._block_frames = 0
                self._block_bytes = length
            stream = self._streams.get(sid)
            if <int>sid <= self._highest_in and (stream is None or stream.state == S_CLOSED):
                if not self._control_frame():
                    return
        elif ftype == CONTINUATION:
            self._block_frames += 1
            self._block_bytes += length
            if flags & F_END_HEADERS:
                self._block_stream = 0
        elif ftype == SETTINGS:
            if not self._control_frame():
                return
            if flags & F_ACK and length:
                self._fail(FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
                return
            if length % 6:
                self._fail(FRAME_SIZE_ERROR, "SETTINGS length not a multiple of 6")
                return
            if self._expect_settings and flags & F_ACK:
                self._fail(PROTOCOL_ERROR, "the client preface must be followed by SETTINGS")
                return
            self._expect_settings = False
        elif ftype == WINDOW_UPDATE:
            if not self._control_frame():
                return
            if length != 4:
                self._fail(FRAME_SIZE_ERROR, "WINDOW_UPDATE length is not 4")
                return
            increment = _u31(payload)
            if increment == 0:
                if sid == 0 or self._is_idle(sid):
                    self._fail(PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
                else:
                    self._stream_error(sid, PROTOCOL_ERROR)
                return
        elif ftype == PING:
            if not self._control_frame():
                return
            if length != 8:
                self._fail(FRAME_SIZE_ERROR, "PING length is not 8")
                return
        elif ftype == RST_STREAM:
            if length != 4:
                self._fail(FRAME_SIZE_ERROR, "RST_STREAM length is not 4")
                return
            if sid and self._is_idle(sid):
                self._fail(PROTOCOL_ERROR, "RST_STREAM on an idle stream")
                return
            stream = self._streams.get(sid)
            if (stream is None or stream.state == S_CLOSED) and not self._control_frame():
                return
        elif ftype == PRIORITY:
            # Deprecated (RFC 9113 §5.3.2): checked, counted, otherwise ignored.
            if not self._control_frame():
                return
            if sid == 0:
                self._fail(PROTOCOL_ERROR, "PRIORITY on stream 0")
            elif length != 5:
                self._priority_error(sid, FRAME_SIZE_ERROR, "PRIORITY length is not 5")
            elif (_u31(payload)) == sid:
                self._priority_error(sid, PROTOCOL_ERROR, "stream depends on itself")
            return
        elif ftype != GOAWAY:
            # Unknown or unused extension frames (ALTSVC, ORIGIN, ...) are ignored.
            self._control_frame()
            return
        try:
            self._dispatch(view, payload, offset, length, ftype, flags, sid)
        except _ConnectionError as exc:
            # What h2 does on a ProtocolError: GOAWAY with the code, the frame's events lost.
            self._dead = True
            self._goaway(self._highest_in, exc.code)
            self._events.append(ConnectionEnded(exc.code, self._highest_in, False, exc.reason))

    # -- what h2 does with a frame -------------------------------------------------------------

    cdef void _dispatch(self, bytes view, const unsigned char* payload, Py_ssize_t offset, unsigned int length,
                        int ftype, int flags, unsigned int sid) except *:
        cdef Py_ssize_t pad = 0, start
        cdef long long flow_length
        if ftype == DATA:
            if sid == 0:
                raise _ConnectionError(PROTOCOL_ERROR, "DATA on stream 0")
            if flags & F_PADDED:
                if length < 1:
                    raise _ConnectionError(FRAME_SIZE_ERROR, "DATA frame with missing padding data")
                pad = payload[0]
                if pad and pad >= length:
                    raise _ConnectionError(PROTOCOL_ERROR, "DATA frame with too much padding")
                start = offset + 1
            else:
                start = offset
            flow_length = length  # the whole payload, pad-length byte and padding included
            self._on_data_frame(sid, view[start:offset + length - pad], flow_length, flags & F_END_STREAM)
        elif ftype == HEADERS:
            self._on_headers_frame(view, payload, offset, length, flags, sid)
        elif ftype == CONTINUATION:
            if sid == 0:
                raise _ConnectionError(PROTOCOL_ERROR, "CONTINUATION on stream 0")
            self._block += view[offset:offset + length]
            if flags & F_END_HEADERS:
                block = bytes(self._block)
                self._block.clear()
                self._on_header_block(self._block_sid_pending, block, self._block_flags, self._block_depends)
        elif ftype == SETTINGS:
            if sid:
                raise _ConnectionError(PROTOCOL_ERROR, "SETTINGS on a stream")
            if flags & F_ACK:
                self._local_settings_acked()
            else:
                self._on_settings(payload, length)
        elif ftype == WINDOW_UPDATE:
            self._on_window_update(sid, _u31(payload))
        elif ftype == PING:
            if sid:
                raise _ConnectionError(PROTOCOL_ERROR, "PING on a stream")
            if flags & F_ACK:
                self._events.append(PingAcked(view[offset:offset + 8]))
            else:
                self._frame_head(8, PING, F_ACK, 0)
                self._out += view[offset:offset + 8]
        elif ftype == RST_STREAM:
            if sid == 0:
                raise _ConnectionError(PROTOCOL_ERROR, "RST_STREAM on stream 0")
            self._on_rst(sid, _u32(payload))
        elif ftype == GOAWAY:
            if sid:
                raise _ConnectionError(PROTOCOL_ERROR, "GOAWAY on a stream")
            if length < 8:
                raise _ConnectionError(FRAME_SIZE_ERROR, "GOAWAY frame too short")
            self._on_goaway(view, payload, offset, length)

    cdef void _on_headers_frame(self, bytes view, const unsigned char* payload, Py_ssize_t offset,
                                unsigned int length, int flags, unsigned int sid) except *:
        cdef Py_ssize_t pad = 0, head = 0, body_len
        cdef long long depends = -1
        if sid == 0:
            raise _ConnectionError(PROTOCOL_ERROR, "HEADERS on stream 0")
        if flags & F_PADDED:
            if length < 1:
                raise _ConnectionError(FRAME_SIZE_ERROR, "HEADERS frame with missing padding data")
            pad = payload[0]
            head = 1
        body_len = length - head
        if flags & F_PRIORITY:
            if body_len < 5:
                raise _ConnectionError(FRAME_SIZE_ERROR, "HEADERS frame with missing priority data")
            depends = _u31(payload + head)
            head += 5
        if pad and pad >= body_len:
            raise _ConnectionError(PROTOCOL_ERROR, "HEADERS frame with too much padding")
        if length - head - pad < 0:
            # hyperframe slices to an empty block here
            block = b""
        else:
            block = view[offset + head:offset + length - pad]
        if flags & F_END_HEADERS:
            self._on_header_block(sid, block, flags, depends)
        else:
            self._block_sid_pending = sid
            self._block_flags = flags
            self._block_depends = depends
            self._block.clear()
            self._block += block

    cdef void _on_header_block(self, int sid, bytes block, int flags, long long depends) except *:
        """A complete header block: Pyre's ``ServerConnection._receive_headers_frame``."""
        cdef _Stream stream = self._streams.get(sid)
        cdef bint refuse, end_stream = flags & F_END_STREAM, is_request
        cdef int by
        refuse = stream is None and (sid > self._refuse_above or self._open_inbound() >= self._max_streams)
        decoder = self._decoder
        decoder.max_header_list_size = self._decode_cap
        try:
            headers = decoder.decode(block, raw=True)
        except OversizedHeaderListError:
            raise _ConnectionError(ENHANCE_YOUR_CALM, f"header list larger than {self._decode_cap} bytes")
        except (HPACKError, IndexError, TypeError, UnicodeDecodeError, ValueError) as exc:
            raise _ConnectionError(COMPRESSION_ERROR, f"cannot decode header block: {exc}")

        if stream is None:
            if sid <= self._highest_in:
                by = self._closed_by_of(sid)
                if by == BY_RECV_RST or by == BY_SEND_RST:
                    self._rst(sid, STREAM_CLOSED)
                    return
                if by == BY_RECV_END or by == BY_SEND_END:
                    raise _ConnectionError(STREAM_CLOSED, f"stream {sid} is closed")
                raise _ConnectionError(PROTOCOL_ERROR, f"stream id {sid} is lower than {self._highest_in}")
            if not sid & 1:
                raise _ConnectionError(PROTOCOL_ERROR, "invalid stream ID for peer")
            stream = self._new_stream(sid)
            if end_stream:
                stream.state = S_HALF_CLOSED_REMOTE
            is_request = True
        elif stream.state == S_CLOSED:
            if stream.closed_by == BY_RECV_RST or stream.closed_by == BY_SEND_RST:
                self._rst(sid, STREAM_CLOSED)
                return
            raise _ConnectionError(STREAM_CLOSED, f"stream {sid} is closed")
        elif stream.state == S_HALF_CLOSED_REMOTE:
            # h2: reset_stream_on_error
            self._set_closed(stream, BY_SEND_RST)
            self._rst(sid, STREAM_CLOSED)
            self._on_reset(sid, STREAM_CLOSED, False)
            return
        else:
            # trailers on an open (or half-closed local) stream
            is_request = False
            stream.trailers_received = True
            if not end_stream:
                self._send_rst(stream, PROTOCOL_ERROR)
                self._on_reset(sid, PROTOCOL_ERROR, False)
                return
            if stream.state == S_OPEN:
                stream.state = S_HALF_CLOSED_REMOTE
            else:
                self._set_closed(stream, BY_RECV_END)

        if refuse:
            self._header_reset(stream, REFUSED_STREAM)
            return
        if flags & F_PRIORITY and depends == sid:
            self._header_reset(stream, PROTOCOL_ERROR)
            return
        if _field_list_size(headers) > self._max_list_size:
            if is_request:
                # RFC 9113 §10.5.1: answer 431 and stop reading the request.
                self._header_block(sid, self._encoder.encode([(b":status", b"431")]), True)
                if stream.state == S_HALF_CLOSED_REMOTE:
                    self._set_closed(stream, BY_SEND_END)
                else:
                    stream.state = S_HALF_CLOSED_LOCAL
                    self._send_rst(stream, NO_ERROR)
                self._on_reset(sid, NO_ERROR, False)
                return
            self._header_reset(stream, ENHANCE_YOUR_CALM)
            return
        if is_request:
            self._on_request(sid, stream, headers, end_stream)
            if end_stream and not self._dead:
                self._on_stream_ended(sid)
        else:
            self._on_trailers(sid, stream, headers)
            if not self._dead:
                self._on_stream_ended(sid)

    cdef void _header_reset(self, _Stream stream, unsigned long long code) except *:
        """Reset a stream whose header block we refuse; as h2 does, resetting a stream
        the block itself closed (trailers) is a StreamClosedError."""
        if stream.state == S_CLOSED:
            if stream.closed_by == BY_RECV_RST or stream.closed_by == BY_SEND_RST:
                self._rst(stream.sid, STREAM_CLOSED)
                return
            raise _ConnectionError(STREAM_CLOSED, f"stream {stream.sid} is closed")
        self._send_rst(stream, code)
        self._on_reset(stream.sid, code, False)

    cdef void _on_request(self, int sid, _Stream stream, object headers, bint end_stream) except *:
        try:
            request = _parse_request(sid, headers, end_stream, self._connect_protocol)
        except Malformed:
            self._stream_error(sid, PROTOCOL_ERROR)
            return
        stream.known = True
        length = request.content_length
        # past 2**63 - 1 no client can reach it: the same as the pure twin's big int
        stream.expected = -1 if length is None else (length if length < 0x7FFFFFFFFFFFFFFF else 0x7FFFFFFFFFFFFFFF)
        stream.received = 0
        stream.unacked = 0
        stream.remote_ended = False
        stream.head_sent = False
        self._events.append(request)

    cdef void _on_trailers(self, int sid, _Stream stream, object headers) except *:
        if not stream.known:
            return
        try:
            fields = _parse_trailers(headers)
            if stream.expected >= 0 and stream.received != stream.expected:
                raise Malformed("body shorter than content-length")
        except Malformed:
            self._stream_error(sid, PROTOCOL_ERROR)
            return
        self._events.append(TrailersReceived(sid, fields))

    cdef void _on_data_frame(self, unsigned int sid, bytes data, long long flow_length, bint end_stream) except *:
        cdef _Stream stream
        cdef long long size, padding, increment
        self._in_window -= flow_length
        if self._in_window < 0:
            raise _ConnectionError(FLOW_CONTROL_ERROR, "Flow control window shrunk below 0")
        stream = self._streams.get(sid)
        if stream is None:
            if self._is_idle(sid):
                raise _ConnectionError(PROTOCOL_ERROR, f"DATA on idle stream {sid}")
            self._data_on_closed(sid, flow_length)
            return
        if stream.state == S_CLOSED:
            self._data_on_closed(sid, flow_length)
            return
        if stream.state == S_HALF_CLOSED_REMOTE:
            self._set_closed(stream, BY_SEND_RST)
            self._data_on_closed(sid, flow_length)
            self._on_reset(sid, STREAM_CLOSED, False)
            return
        stream.in_window -= flow_length
        if stream.in_window < 0:
            raise _ConnectionError(FLOW_CONTROL_ERROR, "Flow control window shrunk below 0")
        if end_stream:
            if stream.state == S_OPEN:
                stream.state = S_HALF_CLOSED_REMOTE
            else:
                self._set_closed(stream, BY_RECV_END)
        # the session's _on_data
        size = PyBytes_GET_SIZE(data)
        padding = flow_length - size
        if not stream.known:  # pragma: no cover - as the pure twin: only known streams get data
            self._ack_connection(flow_length)
        else:
            stream.received += size
            if stream.expected >= 0 and stream.received > stream.expected:
                self._ack_connection(flow_length)
                self._stream_error(sid, PROTOCOL_ERROR)
                return
            if padding:
                self._acknowledge(stream, padding)
            if size:
                stream.unacked += size
                self._events.append(DataReceived(sid, data, size))
        if end_stream and not self._dead:
            self._on_stream_ended(sid)

    cdef void _data_on_closed(self, unsigned int sid, long long flow_length):
        """h2's _handle_data_on_closed_stream: give the connection window back, RST_STREAM."""
        cdef long long increment = _window_increment(&self._in_window, &self._in_max, &self._in_processed, flow_length)
        if increment:
            self._window_update(0, increment)
        self._rst(sid, STREAM_CLOSED)

    cdef void _on_stream_ended(self, int sid) except *:
        cdef _Stream stream = self._streams.get(sid)
        if stream is None or not stream.known:
            return
        if stream.expected >= 0 and stream.received != stream.expected:
            self._stream_error(sid, PROTOCOL_ERROR)
            return
        stream.remote_ended = True
        self._events.append(StreamEnded(sid))
        self._maybe_closed(stream)

    cdef void _on_settings(self, const unsigned char* payload, unsigned int length) except *:
        cdef unsigned int i, code
        cdef unsigned long long value
        values = {}
        for i in range(0, length, 6):
            code = (payload[i] << 8) | payload[i + 1]
            value = _u32(payload + i + 2)
            values[code] = value
        for code, value in values.items():
            if code == SET_ENABLE_PUSH and value != 0:
                # h2 validates as a peer of the other role: a client may send 0 or 1
                if value not in (0, 1):
                    raise _ConnectionError(PROTOCOL_ERROR, f"Setting {code} has invalid value {value}")
            elif code == SET_INITIAL_WINDOW_SIZE and value > MAX_WINDOW:
                raise _ConnectionError(FLOW_CONTROL_ERROR, f"Setting {code} has invalid value {value}")
            elif code == SET_MAX_FRAME_SIZE and not 16384 <= value <= 16777215:
                raise _ConnectionError(PROTOCOL_ERROR, f"Setting {code} has invalid value {value}")
            elif code == SET_ENABLE_CONNECT_PROTOCOL and value not in (0, 1):
                raise _ConnectionError(PROTOCOL_ERROR, f"Setting {code} has invalid value {value}")
        old_initial = self._remote_initial
        self._apply_remote_settings(values)
        new_initial = values.get(SET_INITIAL_WINDOW_SIZE)
        if new_initial is not None and new_initial > old_initial:
            self._window_updated(0)
        self._frame_head(0, SETTINGS, F_ACK, 0)

    cdef void _apply_remote_settings(self, dict values) except *:
        """h2's remote settings update and acknowledge (windows, encoder, frame size)."""
        cdef _Stream stream
        cdef long long delta
        for code, value in values.items():
            self._remote_settings[code] = value
        if SET_INITIAL_WINDOW_SIZE in values:
            delta = values[SET_INITIAL_WINDOW_SIZE] - self._remote_initial
            self._remote_initial = values[SET_INITIAL_WINDOW_SIZE]
            for stream in self._streams.values():
                if stream.out_window + delta > MAX_WINDOW:
                    raise _ConnectionError(FLOW_CONTROL_ERROR, "May not increment flow control window past 2147483647")
                stream.out_window += delta
        if SET_HEADER_TABLE_SIZE in values:
            self._encoder.header_table_size = values[SET_HEADER_TABLE_SIZE]
        if SET_MAX_FRAME_SIZE in values:
            self._max_out_frame = values[SET_MAX_FRAME_SIZE]

    cdef void _local_settings_acked(self) except *:
        cdef _Stream stream
        cdef long long delta
        if not self._pending_local:
            return
        changes = self._pending_local.pop(0)
        if SET_INITIAL_WINDOW_SIZE in changes:
            delta = changes[SET_INITIAL_WINDOW_SIZE] - self._local_initial
            self._local_initial = changes[SET_INITIAL_WINDOW_SIZE]
            for stream in self._streams.values():
                stream.in_window += delta
                if stream.in_window > MAX_WINDOW:
                    raise _ConnectionError(FLOW_CONTROL_ERROR, "Flow control window mustn't exceed 2147483647")
                stream.in_max = stream.in_max + delta
            # The pure twin's _windows_resized: re-run the WINDOW_UPDATE rule per stream.
            for stream in list(self._streams.values()):
                if stream.known:
                    self._acknowledge(stream, 0)
        if SET_MAX_HEADER_LIST_SIZE in changes:
            self._decoder.max_header_list_size = changes[SET_MAX_HEADER_LIST_SIZE]
        if SET_MAX_FRAME_SIZE in changes:
            self._max_in_frame = changes[SET_MAX_FRAME_SIZE]
        if SET_HEADER_TABLE_SIZE in changes:
            self._decoder.max_allowed_table_size = changes[SET_HEADER_TABLE_SIZE]

    cdef void _on_window_update(self, unsigned int sid, long long increment) except *:
        cdef _Stream stream
        if sid == 0:
            if self._out_window + increment > MAX_WINDOW:
                raise _ConnectionError(FLOW_CONTROL_ERROR, "May not increment flow control window past 2147483647")
            self._out_window += increment
            self._window_updated(0)
            return
        stream = self._streams.get(sid)
        if stream is None:
            if self._is_idle(sid):
                raise _ConnectionError(PROTOCOL_ERROR, f"WINDOW_UPDATE on idle stream {sid}")
            return
        if stream.state == S_CLOSED:
            return
        if stream.out_window + increment > MAX_WINDOW:
            self._send_rst(stream, FLOW_CONTROL_ERROR)
            self._on_reset(sid, FLOW_CONTROL_ERROR, False)
            return
        stream.out_window += increment
        self._window_updated(sid)

    cdef void _on_rst(self, unsigned int sid, unsigned long long code) except *:
        cdef _Stream stream = self._streams.get(sid)
        if stream is None or stream.state == S_CLOSED:
            return
        self._set_closed(stream, BY_RECV_RST)
        self._on_reset(sid, code, True)

    cdef void _on_goaway(self, bytes view, const unsigned char* payload, Py_ssize_t offset, unsigned int length) except *:
        cdef unsigned int last = _u31(payload)
        cdef unsigned long long code = _u32(payload + 4)
        del self._out[self._keep:]  # h2 drops what it had not sent yet
        self._dead = True
        reason = "client sent GOAWAY"
        if length > 8:
            reason += ": " + view[offset + 8:offset + min(length, 208)].decode("latin-1")
        self._events.append(ConnectionEnded(code, last, True, reason))

    cdef void _on_reset(self, int sid, unsigned long long code, bint remote) except *:
        cdef _Stream stream = self._streams.get(sid)
        if stream is not None and stream.known:
            stream.known = False
            self._release(stream)
            self._events.append(StreamReset(sid, code, remote))
        if self._resets.hit(self._now):
            self._fail(ENHANCE_YOUR_CALM, "too many reset streams")

    cdef void _window_updated(self, int sid) except *:
        cdef _Stream stream
        if sid:
            stream = self._streams.get(sid)
            if stream is None or not stream.known:
                return
        if sid not in self._seen_windows:
            self._seen_windows.add(sid)
            self._events.append(WindowUpdated(sid))

    cdef void _stream_error(self, int sid, unsigned long long code) except *:
        """Reset a stream for the client's fault; the transport hears of it if it knew it."""
        cdef _Stream stream = self._streams.get(sid)
        if stream is not None and stream.state != S_CLOSED:
            self._send_rst(stream, code)
        self._on_reset(sid, code, False)

    cdef void _priority_error(self, unsigned int sid, unsigned long long code, str reason) except *:
        """A bad PRIORITY frame: stream error, RST_STREAM on a closed stream, connection
        error on an idle one (see the pure twin)."""
        cdef _Stream stream
        if self._is_idle(sid):
            self._fail(code, reason)
            return
        stream = self._streams.get(sid)
        if stream is not None and stream.state != S_CLOSED:
            self._stream_error(sid, code)
        else:
            self._rst(sid, code)

    cdef void _fail(self, unsigned long long code, str reason):
        """End the connection for the client's fault: GOAWAY queued, ``ConnectionEnded``."""
        self._dead = True
        self._goaway(self._highest_in, code)
        self._events.append(ConnectionEnded(code, self._highest_in, False, reason))

    # -- flow control bookkeeping ---------------------------------------------------------

    cdef void _ack_connection(self, long long size):
        cdef long long increment = _window_increment(&self._in_window, &self._in_max, &self._in_processed, size)
        if increment:
            self._window_update(0, increment)

    cdef void _acknowledge(self, _Stream stream, long long size):
        cdef long long increment
        self._ack_connection(size)
        if not stream.remote_ended and stream.state != S_CLOSED:
            increment = _window_increment(&stream.in_window, &stream.in_max, &stream.in_processed, size)
            if increment:
                self._window_update(stream.sid, increment)

    cdef inline void _release(self, _Stream stream):
        if stream.unacked:
            self._ack_connection(stream.unacked)
            stream.unacked = 0

    cdef inline void _maybe_closed(self, _Stream stream):
        if stream.state == S_CLOSED and stream.known:
            stream.known = False
            self._release(stream)

    cdef inline _Stream _sendable(self, object sid):
        cdef _Stream stream
        if self._dead:
            return None
        stream = self._streams.get(sid)
        if stream is None or not stream.known:
            return None
        if stream.state != S_OPEN and stream.state != S_HALF_CLOSED_REMOTE:
            return None
        return stream

    cdef int _open_inbound(self):
        self._cleanup()
        return self._open_count

    # -- sending --------------------------------------------------------------------

    def data_to_send(self):
        """The bytes to write now (may be ``b""``)."""
        cdef bytearray out = self._out
        self._keep = 0
        if not PyByteArray_GET_SIZE(out):
            return b""
        data = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(out), PyByteArray_GET_SIZE(out))
        out.clear()
        return data

    def send_headers(self, stream_id, status, headers, bint end_stream):
        """Send a response head (see the pure twin)."""
        self.send_head(stream_id, response_headers(status, headers, end_stream), end_stream)

    def send_head(self, stream_id, list fields, bint end_stream):
        """``send_headers`` for fields already built by ``headers.response_headers``."""
        cdef _Stream stream = self._sendable(stream_id)
        if stream is None:
            return
        if stream.head_sent:
            raise RuntimeError(f"the response head of stream {stream_id} was already sent")
        if int(fields[0][1]) >= 200:
            stream.head_sent = True
        self._send_header_block(stream, fields, end_stream)

    cdef void _send_header_block(self, _Stream stream, list fields, bint end_stream) except *:
        # h2's send_headers: state checks, HPACK, frames
        if end_stream and fields[0][0] == b":status" and fields[0][1][:1] == b"1":
            raise ValueError("Cannot set END_STREAM on informational responses.")
        block = self._encoder.encode(fields)
        self._header_block(stream.sid, block, end_stream)
        if end_stream:
            self._end_local(stream)

    cdef inline void _end_local(self, _Stream stream):
        if stream.state == S_OPEN:
            stream.state = S_HALF_CLOSED_LOCAL
        else:
            self._set_closed(stream, BY_SEND_END)
            self._maybe_closed(stream)

    def send_data(self, stream_id, data, bint end_stream):
        """Send as much of ``data`` as the windows allow (see the pure twin)."""
        cdef Py_ssize_t total = len(data), sent = 0, limit, size, frame_size
        cdef long long window
        cdef long long earned = 0
        cdef _Stream stream = self._sendable(stream_id)
        cdef bytes chunk
        if stream is None:
            return total
        if not stream.head_sent:
            raise RuntimeError(f"send_data before the response head on stream {stream_id}")
        if total:
            if type(data) is not bytes:
                data = bytes(data)
            window = stream.out_window if stream.out_window < self._out_window else self._out_window
            limit = total if total < window else window
            frame_size = self._max_out_frame
            while sent < limit:
                size = limit - sent
                if size > frame_size:
                    size = frame_size
                chunk = data if size == total else data[sent:sent + size]
                sent += size
                self._frame_head(size, DATA, F_END_STREAM if (end_stream and sent == total) else 0, stream.sid)
                self._out += chunk
                stream.out_window -= size
                self._out_window -= size
                # Full credit unless the window cut the frame short (see the pure twin).
                earned += size if size < FRAME_COST and sent < total else FRAME_COST
            if earned:
                self._earn(SEND_SHARE * earned)
            if end_stream and sent == total:
                self._end_local(stream)
        elif end_stream:
            self._frame_head(0, DATA, F_END_STREAM, stream.sid)
            self._end_local(stream)
        return sent

    def send_trailers(self, stream_id, headers):
        """Send trailer fields and end the stream (checked like ``send_headers``)."""
        cdef _Stream stream = self._sendable(stream_id)
        if stream is None:
            return
        if not stream.head_sent:
            raise RuntimeError(f"send_trailers before the response head on stream {stream_id}")
        fields = trailer_headers(headers)
        if fields:
            self._send_header_block(stream, fields, True)
        else:
            self._frame_head(0, DATA, F_END_STREAM, stream.sid)
            self._end_local(stream)

    def end_stream(self, stream_id):
        """End the response with an empty DATA frame carrying END_STREAM."""
        self.send_data(stream_id, b"", True)

    def send_window(self, stream_id):
        """How many bytes ``send_data`` could send now: min(stream, connection) window; 0 if gone."""
        cdef _Stream stream = self._sendable(stream_id)
        cdef long long window
        if stream is None:
            return 0
        window = stream.out_window if stream.out_window < self._out_window else self._out_window
        return window if window > 0 else 0

    def can_send(self, stream_id):
        """Whether a response can still be sent on ``stream_id`` (not reset, not ended)."""
        return self._sendable(stream_id) is not None

    def acknowledge_received(self, stream_id, long long n):
        """The application consumed ``n`` body bytes of ``stream_id``: re-grant the windows."""
        cdef _Stream stream = self._streams.get(stream_id)
        if stream is None or not stream.known or self._dead or n <= 0:
            return
        if n > stream.unacked:
            n = stream.unacked
        if n:
            stream.unacked -= n
            self._acknowledge(stream, n)

    def reset_stream(self, stream_id, unsigned long long error_code=CANCEL):
        """Reset a stream (CANCEL by default); nothing if it is already closed."""
        cdef _Stream stream
        cdef long long window
        if self._dead:
            return
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        if stream.state != S_CLOSED:
            if stream.state == S_OPEN or stream.state == S_HALF_CLOSED_LOCAL:
                # DATA the client sent before it hears of the reset: not a flood.
                window = stream.in_window if stream.in_window < self._in_window else self._in_window
                self._earn(FRAME_COST * ((window if window > 0 else 0) // INFLIGHT_FRAME + 1))
            self._send_rst(stream, error_code)
        if stream.known:
            stream.known = False
            self._release(stream)

    def close(self, unsigned long long error_code=0, last_stream_id=None):
        """Send GOAWAY (see the pure twin)."""
        cdef int last
        if self._dead:
            return
        if not self._initiated:
            self._queue_preface()
        last = self._highest_in if last_stream_id is None else last_stream_id
        if error_code:
            self._goaway(last, error_code)
            self._dead = True
            return
        self._goaway(last, 0)
        self._keep = PyByteArray_GET_SIZE(self._out)
        if last < self._refuse_above:
            self._refuse_above = last
        self._goaway_sent = True

    def ping(self, data=b"pyre-kal"):
        """Send a PING (8 bytes of ``data``); the answer comes as ``PingAcked``."""
        if len(data) != 8:
            raise ValueError("PING data must be 8 bytes")
        if self._dead:
            return
        if not self._initiated:
            self._queue_preface()
        self._frame_head(8, PING, 0, 0)
        self._out += bytes(data)

    @property
    def open_streams(self):
        """Client streams open or half-closed (what SETTINGS_MAX_CONCURRENT_STREAMS counts)."""
        return self._open_inbound()

    @property
    def last_stream_id(self):
        """The highest client stream id seen."""
        return self._highest_in

    @property
    def going_away(self):
        """A GOAWAY was sent or received, or the connection failed: no new streams."""
        return self._goaway_sent or self._dead

    @property
    def closed(self):
        """Nothing more will happen (see the pure twin)."""
        return self._dead or (self._goaway_sent and self._open_inbound() == 0)
