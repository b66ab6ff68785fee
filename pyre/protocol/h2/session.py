"""The sans-IO HTTP/2 server session: bytes in, events out, frames queued.

``H2Session`` is Pyre's own HTTP/2 (RFC 9113): frame scanning and parsing, stream
states, flow-control windows, settings and frame building. This module is the pure
twin; Cython compiles the same file, typed by ``_session_c.pxd``, into the
extension ``pyre.protocol.h2._session_c`` (``pyre._accel`` chooses). The ``h2``
library is the test oracle (``tests/differential/test_h2_oracle.py``): its
``H2Connection`` is driven in lock-step with this session.

``receive_data`` splits the input into frames (the 9-byte header: length, type,
flags, stream id) and checks, on the frame header before buffering the payload:

- the length against our SETTINGS_MAX_FRAME_SIZE;
- header blocks: only CONTINUATION of the same stream may follow an open block,
  and a block may not pass ``max_header_block_size`` bytes or
  ``max_continuation_frames`` frames (the CONTINUATION flood);
- fixed-length frames and the error codes RFC 9113 gives them (a SETTINGS ACK with
  a payload is FRAME_SIZE_ERROR; WINDOW_UPDATE of 0 on a stream and a bad PRIORITY
  are stream errors; RST_STREAM on an idle stream is a connection error);
- floods, as leaky buckets fed with the caller's clock: frames that carry no
  request data (``max_control_frames``, after a credit earned by the data the
  connection moves: see ``FRAME_COST``) and streams reset by the client or
  refused / reset for its faults (``max_rapid_resets``, CVE-2023-44487). Past
  either: GOAWAY ENHANCE_YOUR_CALM.

Request heads are validated here (RFC 9113 §8.2-8.3): a malformed request is a
stream error (RST_STREAM PROTOCOL_ERROR), as is a body that disagrees with its
Content-Length. Nothing a client sends makes ``receive_data`` raise: connection
errors come out as ``ConnectionEnded`` with the GOAWAY queued.

Receive windows are re-granted only when the transport says the application has
consumed the data (``acknowledge_received``), so a slow application slows the
client instead of filling memory; data of streams that end or are reset unread is
given back to the connection window by the session, and a request body still arriving
after its response is complete can be dropped as it arrives (``discard_request``). The WINDOW_UPDATE rule is h2's
``WindowManager``: update once half a window is consumed, or the window is empty.

Where Pyre answers differently from ``h2`` (what the oracle tests allow for):

=========================================  ==========================================
h2                                         Pyre
=========================================  ==========================================
ProtocolError from HPACK decoding          GOAWAY COMPRESSION_ERROR
TooManyStreamsError                        RST_STREAM REFUSED_STREAM (stream error)
field / content-length errors              RST_STREAM PROTOCOL_ERROR (stream error)
InvalidBodyLengthError                     RST_STREAM PROTOCOL_ERROR (stream error)
SETTINGS ACK with payload: PROTOCOL_ERROR  GOAWAY FRAME_SIZE_ERROR
WINDOW_UPDATE 0 on a stream: connection    RST_STREAM PROTOCOL_ERROR
PRIORITY self-dependency: connection       RST_STREAM PROTOCOL_ERROR (idle stream: GOAWAY)
RST_STREAM on an idle stream: ignored      GOAWAY PROTOCOL_ERROR
DenialOfServiceError (HPACK bomb)          GOAWAY ENHANCE_YOUR_CALM (unchanged)
=========================================  ==========================================

Compiled, the byte-level helpers read ``bytes`` through C pointers: a name typed as a
pointer in the ``.pxd`` (``p = view``) is the ``bytes`` object itself when this file
runs as Python, so ``p[i]`` means the same in both twins. Values wider than a byte
are built in typed locals, never by shifting a byte past 31 bits in one expression.
"""

from __future__ import annotations

import base64
import re
from array import array
from typing import Any, Dict, Iterable, List, Optional, Tuple

from hpack.exceptions import HPACKError, OversizedHeaderListError

from pyre._accel import HPACKDecoder, HPACKEncoder

from .events import (
    ConnectionEnded,
    DataReceived,
    Event,
    PingAcked,
    RequestReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)
from .headers import CONNECTION_SPECIFIC, Malformed, response_headers, trailer_headers
from .settings import H2Settings

__all__ = ["H2Session", "response_head"]

Headers = List[Tuple[bytes, bytes]]

#: The client connection preface (RFC 9113 §3.4).
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types and flags.
DATA = 0x0
HEADERS = 0x1
PRIORITY = 0x2
RST_STREAM = 0x3
SETTINGS = 0x4
PUSH_PROMISE = 0x5
PING = 0x6
GOAWAY = 0x7
WINDOW_UPDATE = 0x8
CONTINUATION = 0x9
F_END_STREAM = 0x1
F_ACK = 0x1
F_END_HEADERS = 0x4
F_PADDED = 0x8
F_PRIORITY = 0x20

# Error codes (RFC 9113 §7).
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
FLOW_CONTROL_ERROR = 0x3
STREAM_CLOSED = 0x5
FRAME_SIZE_ERROR = 0x6
REFUSED_STREAM = 0x7
CANCEL = 0x8
COMPRESSION_ERROR = 0x9
ENHANCE_YOUR_CALM = 0xB

# Stream states (RFC 9113 §5.1, the ones a server stream can be in).
S_OPEN = 1
S_HALF_CLOSED_LOCAL = 2
S_HALF_CLOSED_REMOTE = 3
S_CLOSED = 4

# How a stream closed; BY_NONE = not recorded.
BY_NONE = 0
BY_RECV_END = 1
BY_SEND_END = 2
BY_RECV_RST = 3
BY_SEND_RST = 4

MAX_WINDOW = 2147483647
# Closed streams remembered (how they closed), for the errors of frames that follow.
MAX_CLOSED_STREAMS = 65536
# Control frames are first paid from a credit earned by the data the connection moves,
# then from the leaky bucket (max_control_frames per flood_window). Credit is counted in
# bytes: a control frame costs FRAME_COST; each DATA frame we send earns
# SEND_SHARE x FRAME_COST, or x its size when the window cut it short (below
# FRAME_COST: the "data dribble" of CVE-2019-9511), as a small window makes a client
# answer every frame with a WINDOW_UPDATE for the stream and one for the connection (or a
# PING); each DATA frame received on an open stream earns RECEIVE_SHARE x its size; a
# stream we reset while its client may still send earns the DATA frames its open window
# can still carry (one per INFLIGHT_FRAME bytes, plus one), which arrive on a closed stream.
# Window-cut tiny frames earn little, so a 1-byte window is no way to buy frames; a
# small response earns in full (clients such as httpx acknowledge each one).
# A WINDOW_UPDATE that reopens a window (the connection's, or a stream's) is paid back
# (FRAME_COST) once REOPEN_PAID bytes have gone out through that window after it: a client
# with tiny windows (nghttp -w 8 -W 8: 255 bytes) answers nearly every DATA frame with a
# WINDOW_UPDATE for the stream and one for the connection, which frames of 255 bytes did
# not quite pay for (GOAWAY after a few MB). One update per window is paid back at a time,
# so a flood of updates is not, nor are updates while no data flows, nor a window of a
# few bytes (the dribble: REOPEN_PAID bytes repay one update of many).
FRAME_COST = 256
REOPEN_PAID = 64
SEND_SHARE = 2
RECEIVE_SHARE = 1
INFLIGHT_FRAME = 1024
MAX_CREDIT = 100_000 * FRAME_COST

# Setting codes.
SET_HEADER_TABLE_SIZE = 0x1
SET_ENABLE_PUSH = 0x2
SET_MAX_CONCURRENT_STREAMS = 0x3
SET_INITIAL_WINDOW_SIZE = 0x4
SET_MAX_FRAME_SIZE = 0x5
SET_MAX_HEADER_LIST_SIZE = 0x6
SET_ENABLE_CONNECT_PROTOCOL = 0x8

_SETTINGS_VALUE = re.compile(rb"[A-Za-z0-9_\-]*")
# Not allowed in trailers, dropped from response heads (``te`` is only for requests).
_DROPPED_ON_SEND = CONNECTION_SPECIFIC | {b"te"}


class _ConnectionError(Exception):
    """Internal: the frame being handled ends the connection with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


# -- field character classes (RFC 9113 §8.2, the HTTP/1.1 parser's rules) ---------------

C_NAME = 1  # lower-case token character
C_ANY_NAME = 2  # token character
C_VALUE = 4  # HTAB, SP, VCHAR, obs-text
C_SCHEME = 8  # A-Za-z0-9+.-
C_TARGET = 16  # visible ASCII but '#'
C_AUTHORITY = 32  # A-Za-z0-9-._~!$&'()*+,;=:%[]
C_ALPHA = 64


def _class_table() -> bytes:
    table = bytearray(256)
    tchar = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
    upper = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    authority = b"-._~!$&'()*+,;=:%[]0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for c in range(256):
        if c == 0x09 or 0x20 <= c <= 0x7E or c >= 0x80:
            table[c] |= C_VALUE
        if 0x21 <= c <= 0x7E and c != 0x23:
            table[c] |= C_TARGET
    for c in tchar:
        table[c] |= C_NAME | C_ANY_NAME
    for c in upper:
        table[c] |= C_ANY_NAME | C_ALPHA | C_SCHEME
    for c in b"abcdefghijklmnopqrstuvwxyz":
        table[c] |= C_ALPHA | C_SCHEME
    for c in b"0123456789+.-":
        table[c] |= C_SCHEME
    for c in authority:
        table[c] |= C_AUTHORITY
    return bytes(table)


_CLASS_TABLE = _class_table()
_CLASS = _CLASS_TABLE  # compiled: a pointer into _CLASS_TABLE


def _all_of(value: bytes, cls: int, nonempty: bool) -> bool:
    p = value
    n = len(value)
    if nonempty and n == 0:
        return False
    for i in range(n):
        if not _CLASS[p[i]] & cls:
            return False
    return True


def _valid_request_value(value: bytes) -> bool:
    p = value
    n = len(value)
    if n == 0:
        return True
    if p[0] == 0x20 or p[0] == 0x09 or p[n - 1] == 0x20 or p[n - 1] == 0x09:
        return False
    return _all_of(value, C_VALUE, False)


def _valid_scheme(value: bytes) -> bool:
    p = value
    if len(value) == 0:
        return False
    if not _CLASS[p[0]] & C_ALPHA:
        return False
    return _all_of(value, C_SCHEME, True)


def _valid_digits(value: bytes) -> bool:
    p = value
    n = len(value)
    if n == 0 or n > 19:
        return False
    for i in range(n):
        if p[i] < 0x30 or p[i] > 0x39:
            return False
    return True


def _u32(view: bytes, pos: int) -> int:
    p = view
    value = p[pos]
    value = (value << 8) | p[pos + 1]
    value = (value << 8) | p[pos + 2]
    return (value << 8) | p[pos + 3]


def _u31(view: bytes, pos: int) -> int:
    return _u32(view, pos) & 0x7FFFFFFF


def _b(value: Any) -> bytes:
    # The HPACK decoders give bytes (in tuples or HeaderTuple): make sure of it cheaply.
    if type(value) is bytes:
        return value  # type: ignore[no-any-return]
    return bytes(value)


class _TooLarge(Exception):
    """A request's field list is larger than the SETTINGS_MAX_HEADER_LIST_SIZE we sent."""


def _parse_request(stream_id: int, headers: Any, end_stream: bool, allow_protocol: bool,
                   max_size: int) -> RequestReceived:
    """Validate a decoded request header block and build the event (or raise ``Malformed``,
    or ``_TooLarge`` when its fields, as RFC 9113 counts them, pass ``max_size``)."""
    method: Optional[bytes] = None
    scheme: Optional[bytes] = None
    path: Optional[bytes] = None
    authority: Optional[bytes] = None
    protocol: Optional[bytes] = None
    host: Optional[bytes] = None
    content_length: Optional[int] = None
    expect_continue = False
    cookie_at = -1
    cookies: Optional[List[bytes]] = None
    regular: Headers = []
    in_pseudo = True
    size = 0
    for raw_name, raw_value in headers:  # (unpacked: indexing hpack's tuple subclass is slow in C)
        name = _b(raw_name)
        value = _b(raw_value)
        p = name
        n = len(name)
        size += n + len(value) + 32  # _field_list_size, in the same pass
        if n and p[0] == 0x3A:  # ":"
            if not in_pseudo:
                raise Malformed("pseudo-header after a regular field")
            if name == b":method":
                method, earlier = value, method
            elif name == b":scheme":
                scheme, earlier = value, scheme
            elif name == b":path":
                path, earlier = value, path
            elif name == b":authority":
                authority, earlier = value, authority
            elif name == b":protocol":
                protocol, earlier = value, protocol
            else:
                raise Malformed(f"unknown pseudo-header {name.decode('latin-1')!r}")
            if earlier is not None:
                raise Malformed(f"repeated pseudo-header {name.decode('latin-1')}")
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
        elif n == 6 and p[0] == 0x65 and name == b"expect":  # (the first byte: "accept" is common)
            if value.lower() == b"100-continue":  # (values have no outer whitespace)
                expect_continue = True
        regular.append((name, value))
    if size > max_size:
        raise _TooLarge

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
        # RFC 9113 §8.5: only :method and :authority.
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
        else:
            p = path
            if p[0] != 0x2F:  # "/"
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
    q = path.find(b"?")
    if q >= 0:
        query = path[q + 1 :]
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
        expect_continue,
    )


def _parse_trailers(headers: Any) -> Headers:
    """Validate a decoded trailer block: regular fields only (or raise ``Malformed``)."""
    out: Headers = []
    for raw_name, raw_value in headers:
        name = _b(raw_name)
        value = _b(raw_value)
        if not _all_of(name, C_NAME, True):
            raise Malformed("pseudo-header or invalid field name in trailers")
        if not _valid_request_value(value):
            raise Malformed(f"invalid value for {name.decode('latin-1')}")
        if name in _DROPPED_ON_SEND:
            raise Malformed(f"connection-specific field {name.decode('latin-1')} in trailers")
        out.append((name, value))
    return out


def _field_list_size(headers: Any) -> int:
    total = 0
    for name, value in headers:
        total += len(name) + len(value) + 32
    return total


# -- response heads ----------------------------------------------------------------------

_STATUS = [b"%d" % code for code in range(1000)]


def _lower_name(name: bytes) -> bytes:
    p = name
    for i in range(len(name)):
        if 0x41 <= p[i] <= 0x5A:
            return name.lower()
    return name


def _strip_value(value: bytes) -> bytes:
    p = value
    n = len(value)
    if n and (p[0] == 0x20 or p[0] == 0x09 or p[n - 1] == 0x20 or p[n - 1] == 0x09):
        return value.strip(b" \t")
    return value


def response_head(status: int, headers: Iterable[Tuple[bytes, bytes]]) -> Tuple[Headers, Optional[int]]:
    """A final response head as ``headers.response_headers`` builds it (not ending the
    stream), and its Content-Length (``None`` without one). ``ValueError`` (or
    ``TypeError``) for anything that cannot be sent: a status outside 200-999, a bad
    field, an invalid or conflicting content-length."""
    if type(status) is not int or not 200 <= status <= 999:
        raise ValueError(f"invalid status {status!r} for a final response")
    fields: Headers = [(b":status", _STATUS[status])]
    content_length: Optional[int] = None
    has_length = False
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
        if len(name) == 14 and name == b"content-length":
            has_length = True
    if has_length:  # checked after every field was
        for name, value in fields:
            if name == b"content-length":
                if not value.isdigit() or len(value) > 18:
                    raise ValueError(f"invalid content-length {value!r}")
                if content_length is not None and int(value) != content_length:
                    raise ValueError("conflicting content-length headers")
                content_length = int(value)
    return fields, content_length


# -- flood limits ------------------------------------------------------------------------


class _Bucket:
    """A leaky bucket: ``hit`` adds one, ``rate`` drain per second; True when over ``capacity``."""

    __slots__ = ("capacity", "rate", "level", "stamp", "stamped")

    def __init__(self, capacity: float, window: float) -> None:
        self.capacity = capacity
        self.rate = capacity / window
        self.level = 0.0
        self.stamp = 0.0
        self.stamped = False

    def hit(self, now: float) -> bool:
        if not self.stamped or now > self.stamp:
            if self.stamped:
                level = self.level - (now - self.stamp) * self.rate
                self.level = level if level > 0.0 else 0.0
            self.stamp = now
            self.stamped = True
        self.level += 1.0
        return self.level > self.capacity


# -- windows and streams -----------------------------------------------------------------


class _Window:
    """A receive window and the rule for updating it: what ``process`` returns is the
    WINDOW_UPDATE increment to send now (0: none), as h2's ``WindowManager`` decides."""

    __slots__ = ("current", "maximum", "processed")

    def __init__(self, size: int) -> None:
        self.current = size
        self.maximum = size
        self.processed = 0

    def process(self, size: int) -> int:
        increment = 0
        self.processed += size
        if not self.processed:
            return 0
        max_increment = self.maximum - self.current
        threshold = self.maximum // 4
        if threshold > 1024:
            threshold = 1024
        if (self.current == 0 and self.processed > threshold) or self.processed >= self.maximum // 2:
            increment = self.processed if self.processed < max_increment else max_increment
            self.processed = 0
        self.current += increment
        return increment


class _Stream:
    """A stream: its state and windows, and the session's record when ``known`` (a
    request the transport was told of)."""

    __slots__ = (
        "sid",
        "state",
        "closed_by",
        "trailers_received",
        "out_window",
        "inbound",
        "known",
        "expected",
        "received",
        "unacked",
        "remote_ended",
        "head_sent",
        "discarding",
        "reopened",
    )

    def __init__(self, sid: int, in_window: int, out_window: int) -> None:
        self.sid = sid
        self.state = S_OPEN
        self.closed_by = BY_NONE
        self.trailers_received = False
        self.out_window = out_window
        self.inbound = _Window(in_window)
        self.known = False
        self.expected = -1  # Content-Length, -1 if none
        self.received = 0  # body bytes received
        self.unacked = 0  # body bytes delivered and not yet acknowledged
        self.remote_ended = False
        self.head_sent = False  # final response head sent
        self.discarding = False  # the response is complete: DATA is acknowledged and dropped
        self.reopened = -1  # bytes sent since a WINDOW_UPDATE not yet paid back (-1: none)


_HEAD_ROOM = bytes(9)
_U32_ROOM = bytes(4)


class H2Session:
    """One HTTP/2 server connection, without I/O: see the module docstring."""

    __slots__ = (
        "settings",
        "_encoder",
        "_decoder",
        "_decode_pairs",
        "_streams",
        "_closing",
        "_closed_by",
        "_closed_order",
        "_closed_next",
        "_inbuf",
        "_out",
        "_keep",
        "_initiated",
        "_preface_pending",
        "_expect_settings",
        "_dead",
        "_goaway_sent",
        "_block_stream",
        "_block_frames",
        "_block_bytes",
        "_block_flags",
        "_block_sid_pending",
        "_block_depends",
        "_block",
        "_control",
        "_resets",
        "_credit",
        "_reopened",
        "_now",
        "_seen_windows",
        "_events",
        "_highest_in",
        "_refuse_above",
        "_open_count",
        "_out_window",
        "_inbound",
        "_max_in_frame",
        "_max_out_frame",
        "_remote_initial",
        "_local_initial",
        "_pending_local",
        "_remote_settings",
        "_max_streams",
        "_max_list_size",
        "_decode_cap",
        "_connect_protocol",
    )

    def __init__(self, settings: H2Settings = H2Settings()) -> None:
        if not isinstance(settings, H2Settings):
            raise TypeError("settings must be an H2Settings")
        self.settings = settings
        self._encoder = HPACKEncoder()
        self._decoder = HPACKDecoder()
        # The decoder's list limit until our SETTINGS are acknowledged: 2**16.
        self._decoder.max_header_list_size = 65536
        # The compiled decoder's plain (name, value) tuples: unpacked faster than HeaderTuples.
        self._decode_pairs = getattr(self._decoder, "decode_pairs", None)
        self._streams: Dict[int, _Stream] = {}
        self._closing: List[int] = []  # ids of streams in _streams that turned CLOSED
        # Forgotten stream -> how it closed, the MAX_CLOSED_STREAMS most recently forgotten.
        # Ints only, in a plain dict and an array: the cyclic garbage collector does not
        # track such a dict, nor see into an array (an OrderedDict of 65,536 streams, on
        # every busy connection, made each full collection tens of milliseconds).
        self._closed_by: Dict[int, int] = {}
        self._closed_order = array("q")  # their ids in the order forgotten: a ring once full
        self._closed_next = 0  # the oldest in _closed_order, once it is full
        self._inbuf = bytearray()
        self._out = bytearray()
        self._keep = 0  # head of _out a client GOAWAY does not discard
        self._initiated = False
        self._preface_pending = True
        self._expect_settings = True
        self._dead = False
        self._goaway_sent = False
        self._block_stream = 0
        self._block_frames = 0
        self._block_bytes = 0
        self._block_flags = 0
        self._block_sid_pending = 0
        self._block_depends = -1
        self._block = bytearray()
        self._control = _Bucket(settings.max_control_frames, settings.flood_window)
        self._resets = _Bucket(settings.max_rapid_resets, settings.flood_window)
        self._credit = 0
        self._reopened = -1  # the connection window's Stream.reopened
        self._now = 0.0
        self._seen_windows: set = set()
        self._events: Optional[List[Event]] = None
        self._highest_in = 0
        self._refuse_above = MAX_WINDOW
        self._open_count = 0
        self._out_window = 65535
        self._inbound = _Window(65535)
        self._max_in_frame = 16384
        self._max_out_frame = 16384
        self._remote_initial = 65535
        self._local_initial = 65535
        self._pending_local: List[Dict[int, int]] = []  # our SETTINGS not yet acknowledged
        self._remote_settings: Dict[int, int] = {}
        self._max_streams = settings.max_concurrent_streams
        self._max_list_size = settings.max_header_list_size
        self._decode_cap = 2 * settings.max_header_list_size
        self._connect_protocol = settings.enable_connect_protocol

    # -- output helpers ---------------------------------------------------------------

    def _frame_head(self, length: int, ftype: int, flags: int, sid: int) -> None:
        out = self._out
        at = len(out)
        out += _HEAD_ROOM
        p = out  # compiled: the bytearray's buffer, after it grew
        p[at] = (length >> 16) & 0xFF
        p[at + 1] = (length >> 8) & 0xFF
        p[at + 2] = length & 0xFF
        p[at + 3] = ftype
        p[at + 4] = flags
        p[at + 5] = (sid >> 24) & 0x7F
        p[at + 6] = (sid >> 16) & 0xFF
        p[at + 7] = (sid >> 8) & 0xFF
        p[at + 8] = sid & 0xFF

    def _put_u32(self, value: int) -> None:
        out = self._out
        at = len(out)
        out += _U32_ROOM
        p = out
        p[at] = (value >> 24) & 0xFF
        p[at + 1] = (value >> 16) & 0xFF
        p[at + 2] = (value >> 8) & 0xFF
        p[at + 3] = value & 0xFF

    def _u32_frame(self, ftype: int, sid: int, value: int) -> None:
        self._frame_head(4, ftype, 0, sid)
        self._put_u32(value)

    def _window_update(self, sid: int, increment: int) -> None:
        self._u32_frame(WINDOW_UPDATE, sid, increment)

    def _rst(self, sid: int, code: int) -> None:
        self._u32_frame(RST_STREAM, sid, code)

    def _goaway(self, last: int, code: int) -> None:
        self._frame_head(8, GOAWAY, 0, 0)
        self._put_u32(last & 0x7FFFFFFF)
        self._put_u32(code)

    def _settings_frame(self, pairs: List[Tuple[int, int]]) -> None:
        self._frame_head(6 * len(pairs), SETTINGS, 0, 0)
        for code, number in pairs:
            self._out += code.to_bytes(2, "big") + number.to_bytes(4, "big")

    def _header_block(self, sid: int, block: bytes, end_stream: bool) -> None:
        """HEADERS (+ CONTINUATION) frames in chunks of the peer's frame size."""
        size = len(block)
        step = self._max_out_frame
        pos = 0
        first = True
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
                self._out += block[pos : pos + n]
            pos += n
            first = False
            if pos >= size:
                break

    # -- stream bookkeeping ------------------------------------------------------------

    def _set_closed(self, stream: _Stream, by: int) -> None:
        if stream.state != S_CLOSED:
            stream.state = S_CLOSED
            if stream.sid & 1:
                self._open_count -= 1
            self._closing.append(stream.sid)
        if by != BY_NONE:
            stream.closed_by = by

    def _cleanup(self) -> None:
        """Forget closed streams, remembering (a bounded number of) how they closed."""
        if not self._closing:
            return
        closed_by = self._closed_by
        order = self._closed_order
        for sid in self._closing:
            stream = self._streams.pop(sid, None)
            if stream is None:
                continue
            if sid not in closed_by:
                if len(order) < MAX_CLOSED_STREAMS:
                    order.append(sid)
                else:  # forget the oldest
                    oldest = self._closed_next
                    del closed_by[order[oldest]]
                    order[oldest] = sid
                    self._closed_next = oldest + 1 if oldest + 1 < MAX_CLOSED_STREAMS else 0
            closed_by[sid] = stream.closed_by
        self._closing = []

    def _closed_by_of(self, sid: int) -> int:
        stream = self._streams.get(sid)
        if stream is not None:
            return stream.closed_by
        return self._closed_by.get(sid, BY_NONE)

    def _new_stream(self, sid: int) -> _Stream:
        stream = _Stream(sid, self._local_initial, self._remote_initial)
        self._streams[sid] = stream
        self._highest_in = sid
        self._open_count += 1
        return stream

    def _send_rst(self, stream: _Stream, code: int) -> None:
        """RST_STREAM, and the stream CLOSED (sent by reset)."""
        self._set_closed(stream, BY_SEND_RST)
        self._rst(stream.sid, code)

    # -- setting up ---------------------------------------------------------------------

    def _local_settings(self) -> List[Tuple[int, int]]:
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

    def _queue_preface(self) -> None:
        # Our SETTINGS take effect (for what we accept) when the client acknowledges them.
        pairs = self._local_settings()
        self._out.clear()
        self._keep = 0
        self._settings_frame(pairs)
        self._pending_local.append(dict(pairs))
        extra = self.settings.connection_window_size - 65535
        if extra > 0:
            window = self._inbound
            window.current += extra
            if window.current > window.maximum:
                window.maximum = window.current
            self._window_update(0, extra)
        self._initiated = True

    def initiate(self) -> None:
        """Queue our preface: SETTINGS and the WINDOW_UPDATE that opens the connection window."""
        if self._initiated:
            return
        self._queue_preface()

    def initiate_upgrade(self, http2_settings: bytes) -> None:
        """Start an h2c connection upgraded from HTTP/1.1 (RFC 7540 §3.2).

        ``http2_settings`` is the HTTP2-Settings header value (base64url SETTINGS
        payload); a malformed one raises ``ValueError``. Stream 1 is the upgrading
        request, half-closed (remote): the transport answers it with ``send_headers``.
        """
        if self._initiated:
            raise RuntimeError("the session is already initiated")
        payload = _decode_http2_settings(http2_settings)
        values = {}
        for i in range(0, len(payload), 6):
            values[int.from_bytes(payload[i : i + 2], "big")] = int.from_bytes(payload[i + 2 : i + 6], "big")
        self._apply_remote_settings(values)
        stream = self._new_stream(1)
        stream.state = S_HALF_CLOSED_REMOTE
        self._queue_preface()
        stream.known = True
        stream.remote_ended = True

    # -- receiving ------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> List[Event]:
        """Process bytes from the client; return the events they complete.

        The first bytes must be the client connection preface (RFC 9113 §3.4; a
        transport that saw it already, as the HTTP/1.1 parser detecting prior
        knowledge, passes it on): anything else is a connection error PROTOCOL_ERROR.
        ``now`` is a monotonic time in seconds, for the flood limits.
        After ``ConnectionEnded`` further data is ignored.
        """
        events: List[Event] = []
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
        except Exception as exc:  # noqa: BLE001 - never raise for client input
            if not self._dead:
                self._fail(INTERNAL_ERROR, f"internal error: {exc!r}")
        self._events = None
        if self._dead:
            self._inbuf.clear()
        return events

    def _receive(self, data: Any) -> None:
        buf = self._inbuf
        if buf or type(data) is not bytes:
            buf += data
            view = bytes(buf)
            buf.clear()
        else:
            view = data
        if self._preface_pending:
            have = len(view)
            if have > 24:
                have = 24
            if view[:have] != PREFACE[:have]:
                self._fail(PROTOCOL_ERROR, "invalid connection preface")
                return
            if have < 24:
                self._inbuf += view
                return
            view = view[24:]
            self._preface_pending = False
        pos = 0
        size = len(view)
        p = view
        while not self._dead and size - pos >= 9:
            length = (p[pos] << 16) | (p[pos + 1] << 8) | p[pos + 2]
            ftype = p[pos + 3]
            flags = p[pos + 4]
            sid = _u31(view, pos + 5)
            if length > self._max_in_frame:
                self._fail(FRAME_SIZE_ERROR, f"frame of {length} bytes exceeds SETTINGS_MAX_FRAME_SIZE")
                break
            if not self._check_header(length, ftype, sid):
                break
            end = pos + 9 + length
            if end > size:
                break
            self._frame(view, pos + 9, length, ftype, flags, sid)
            pos = end
        if not self._dead and pos < size:
            self._inbuf += view[pos:]

    def _check_header(self, length: int, ftype: int, sid: int) -> bool:
        """Checks that need only the frame header (so nothing more is buffered)."""
        settings = self.settings
        if self._expect_settings and ftype != SETTINGS:
            self._fail(PROTOCOL_ERROR, "the client preface must be followed by SETTINGS")
            return False
        if self._block_stream:
            if ftype != CONTINUATION or sid != self._block_stream:
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

    def _earn(self, credit: int) -> None:
        credit += self._credit
        self._credit = credit if credit < MAX_CREDIT else MAX_CREDIT

    def _control_frame(self) -> bool:
        """Count a frame that carries no request data; False (and GOAWAY) past the limit."""
        if self._credit >= FRAME_COST:
            self._credit -= FRAME_COST
            return True
        if self._control.hit(self._now):
            self._fail(ENHANCE_YOUR_CALM, "too many control frames")
            return False
        return True

    def _is_idle(self, sid: int) -> bool:
        if sid & 1:
            return sid > self._highest_in
        return True  # a server opens no streams

    def _frame(self, view: bytes, offset: int, length: int, ftype: int, flags: int, sid: int) -> None:
        """The checks and flood accounting of one complete frame, then ``_dispatch``."""
        p = view
        if ftype == DATA:
            stream = self._streams.get(sid)
            if stream is None or not (stream.state == S_OPEN or stream.state == S_HALF_CLOSED_LOCAL):
                if not self._control_frame():
                    return
            else:
                data_length = length
                if flags & F_PADDED and length:
                    data_length -= 1 + p[offset]
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
            if sid <= self._highest_in and (stream is None or stream.state == S_CLOSED):
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
            if _u31(view, offset) == 0:
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
            elif _u31(view, offset) == sid:
                self._priority_error(sid, PROTOCOL_ERROR, "stream depends on itself")
            return
        elif ftype != GOAWAY:
            # Unknown or unused extension frames (ALTSVC, ORIGIN, ...) are ignored.
            self._control_frame()
            return
        try:
            self._dispatch(view, offset, length, ftype, flags, sid)
        except _ConnectionError as exc:
            # A connection error: GOAWAY with the code, the frame's events lost.
            self._dead = True
            self._goaway(self._highest_in, exc.code)
            self._events.append(ConnectionEnded(exc.code, self._highest_in, False, exc.reason))  # type: ignore[union-attr]

    # -- what a frame does ------------------------------------------------------------------

    def _dispatch(self, view: bytes, offset: int, length: int, ftype: int, flags: int, sid: int) -> None:
        p = view
        if ftype == DATA:
            if sid == 0:
                raise _ConnectionError(PROTOCOL_ERROR, "DATA on stream 0")
            pad = 0
            if flags & F_PADDED:
                if length < 1:
                    raise _ConnectionError(FRAME_SIZE_ERROR, "DATA frame with missing padding data")
                pad = p[offset]
                if pad and pad >= length:
                    raise _ConnectionError(PROTOCOL_ERROR, "DATA frame with too much padding")
                start = offset + 1
            else:
                start = offset
            # The whole payload counts against the windows, pad-length byte and padding included.
            self._on_data_frame(sid, view[start : offset + length - pad], length, flags & F_END_STREAM)
        elif ftype == HEADERS:
            self._on_headers_frame(view, offset, length, flags, sid)
        elif ftype == CONTINUATION:
            if sid == 0:
                raise _ConnectionError(PROTOCOL_ERROR, "CONTINUATION on stream 0")
            self._block += view[offset : offset + length]
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
                self._on_settings(view, offset, length)
        elif ftype == WINDOW_UPDATE:
            self._on_window_update(sid, _u31(view, offset))
        elif ftype == PING:
            if sid:
                raise _ConnectionError(PROTOCOL_ERROR, "PING on a stream")
            if flags & F_ACK:
                self._events.append(PingAcked(view[offset : offset + 8]))  # type: ignore[union-attr]
            else:
                self._frame_head(8, PING, F_ACK, 0)
                self._out += view[offset : offset + 8]
        elif ftype == RST_STREAM:
            if sid == 0:
                raise _ConnectionError(PROTOCOL_ERROR, "RST_STREAM on stream 0")
            self._on_rst(sid, _u32(view, offset))
        elif ftype == GOAWAY:
            if sid:
                raise _ConnectionError(PROTOCOL_ERROR, "GOAWAY on a stream")
            if length < 8:
                raise _ConnectionError(FRAME_SIZE_ERROR, "GOAWAY frame too short")
            self._on_goaway(view, offset, length)

    def _on_headers_frame(self, view: bytes, offset: int, length: int, flags: int, sid: int) -> None:
        p = view
        pad = 0
        head = 0
        depends = -1
        if sid == 0:
            raise _ConnectionError(PROTOCOL_ERROR, "HEADERS on stream 0")
        if flags & F_PADDED:
            if length < 1:
                raise _ConnectionError(FRAME_SIZE_ERROR, "HEADERS frame with missing padding data")
            pad = p[offset]
            head = 1
        body_len = length - head
        if flags & F_PRIORITY:
            if body_len < 5:
                raise _ConnectionError(FRAME_SIZE_ERROR, "HEADERS frame with missing priority data")
            depends = _u31(view, offset + head)
            head += 5
        if pad and pad >= body_len:
            raise _ConnectionError(PROTOCOL_ERROR, "HEADERS frame with too much padding")
        if length - head - pad < 0:
            block = b""
        else:
            block = view[offset + head : offset + length - pad]
        if flags & F_END_HEADERS:
            self._on_header_block(sid, block, flags, depends)
        else:
            self._block_sid_pending = sid
            self._block_flags = flags
            self._block_depends = depends
            self._block.clear()
            self._block += block

    def _on_header_block(self, sid: int, block: bytes, flags: int, depends: int) -> None:
        """A complete header block: a request, trailers, or an error."""
        stream = self._streams.get(sid)
        end_stream = bool(flags & F_END_STREAM)
        refuse = stream is None and (sid > self._refuse_above or self._open_inbound() >= self._max_streams)
        decoder = self._decoder
        decoder.max_header_list_size = self._decode_cap
        try:
            headers = decoder.decode(block, raw=True) if self._decode_pairs is None else self._decode_pairs(block)
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
            if stream.known:
                try:
                    headers = _parse_trailers(headers)
                    if stream.expected >= 0 and stream.received != stream.expected:
                        raise Malformed("body shorter than content-length")
                except Malformed:
                    # A stream error (RFC 9113 8.1.1), reset before END_STREAM can close
                    # the stream, which it would do cleanly once the response is complete.
                    self._stream_error(sid, PROTOCOL_ERROR)
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
        if is_request:  # (the request's field-list size is checked first, as it is parsed)
            self._on_request(sid, stream, headers, end_stream)
            if end_stream and not self._dead:
                self._on_stream_ended(sid)
        else:
            if _field_list_size(headers) > self._max_list_size:
                self._header_reset(stream, ENHANCE_YOUR_CALM)
                return
            self._on_trailers(sid, stream, headers)
            if not self._dead:
                self._on_stream_ended(sid)

    def _header_reset(self, stream: _Stream, code: int) -> None:
        """Reset a stream whose header block we refuse; resetting a stream the block
        itself closed (trailers) is a connection error STREAM_CLOSED."""
        if stream.state == S_CLOSED:
            if stream.closed_by == BY_RECV_RST or stream.closed_by == BY_SEND_RST:
                self._rst(stream.sid, STREAM_CLOSED)
                return
            raise _ConnectionError(STREAM_CLOSED, f"stream {stream.sid} is closed")
        self._send_rst(stream, code)
        self._on_reset(stream.sid, code, False)

    def _on_request(self, sid: int, stream: _Stream, headers: Any, end_stream: bool) -> None:
        # A field list larger than we advertised is answered 431 before anything else
        # about it: measured as it is parsed, or (malformed) on its own.
        try:
            request = _parse_request(sid, headers, end_stream, self._connect_protocol, self._max_list_size)
        except _TooLarge:
            self._refuse_large(sid, stream)
            return
        except Malformed:
            if _field_list_size(headers) > self._max_list_size:
                self._refuse_large(sid, stream)
            else:
                self._stream_error(sid, PROTOCOL_ERROR)
            return
        stream.known = True
        length = request.content_length
        # past 2**63 - 1 no client can reach it
        stream.expected = -1 if length is None else (length if length < 0x7FFFFFFFFFFFFFFF else 0x7FFFFFFFFFFFFFFF)
        stream.received = 0
        stream.unacked = 0
        stream.remote_ended = False
        stream.head_sent = False
        stream.discarding = False
        self._events.append(request)  # type: ignore[union-attr]

    def _refuse_large(self, sid: int, stream: _Stream) -> None:
        """RFC 9113 §10.5.1: answer 431 and stop reading the request."""
        self._header_block(sid, self._encoder.encode([(b":status", b"431")]), True)
        if stream.state == S_HALF_CLOSED_REMOTE:
            self._set_closed(stream, BY_SEND_END)
        else:
            stream.state = S_HALF_CLOSED_LOCAL
            self._send_rst(stream, NO_ERROR)
        self._on_reset(sid, NO_ERROR, False)

    def _on_trailers(self, sid: int, stream: _Stream, fields: Any) -> None:
        """Trailers checked by ``_on_header_block`` (``fields``: parsed) reach the transport."""
        if stream.known:
            self._events.append(TrailersReceived(sid, fields))  # type: ignore[union-attr]

    def _on_data_frame(self, sid: int, data: bytes, flow_length: int, end_stream: int) -> None:
        window = self._inbound
        window.current -= flow_length
        if window.current < 0:
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
        window = stream.inbound
        window.current -= flow_length
        if window.current < 0:
            raise _ConnectionError(FLOW_CONTROL_ERROR, "Flow control window shrunk below 0")
        size = len(data)
        padding = flow_length - size
        if stream.known:
            stream.received += size
            expected = stream.expected
            if expected >= 0 and (stream.received > expected or (end_stream and stream.received != expected)):
                # Malformed (RFC 9113 8.1.1): reset before END_STREAM can close the
                # stream, which it would do cleanly once the response is complete.
                self._ack_connection(flow_length)
                self._stream_error(sid, PROTOCOL_ERROR)
                return
        if end_stream:
            if stream.state == S_OPEN:
                stream.state = S_HALF_CLOSED_REMOTE
            else:
                self._set_closed(stream, BY_RECV_END)
        if not stream.known:  # pragma: no cover - only known streams get data
            self._ack_connection(flow_length)
        else:
            if stream.discarding:
                self._acknowledge(stream, flow_length)
            else:
                if padding:
                    self._acknowledge(stream, padding)
                if size:
                    stream.unacked += size
                    self._events.append(DataReceived(sid, data, size))  # type: ignore[union-attr]
        if end_stream and not self._dead:
            self._on_stream_ended(sid)

    def _data_on_closed(self, sid: int, flow_length: int) -> None:
        """DATA on a closed stream: give the connection window back, RST_STREAM."""
        self._ack_connection(flow_length)
        self._rst(sid, STREAM_CLOSED)

    def _on_stream_ended(self, sid: int) -> None:
        """The client ended the stream with a well-formed request: its body was checked
        against its content-length where the frame that ends it was read (a request head,
        DATA, or trailers), before END_STREAM changed the stream's state."""
        stream = self._streams.get(sid)
        if stream is None or not stream.known:
            return
        stream.remote_ended = True
        self._events.append(StreamEnded(sid))  # type: ignore[union-attr]
        self._maybe_closed(stream)

    def _on_settings(self, view: bytes, offset: int, length: int) -> None:
        p = view
        values = {}
        for i in range(offset, offset + length, 6):
            code = (p[i] << 8) | p[i + 1]
            values[code] = _u32(view, i + 2)
        for code, value in values.items():
            if code == SET_ENABLE_PUSH and value != 0:
                # A client may send 0 or 1 (only a server's push matters).
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

    def _apply_remote_settings(self, values: Dict[int, int]) -> None:
        """The client's settings: stream send windows, encoder table, frame size."""
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
            size = values[SET_HEADER_TABLE_SIZE]
            # Only a change: the hpack encoders drop a pending size update when the
            # size is set again to what it is (0, then 256 twice, would otherwise
            # index entries the client's table of 0 bytes does not hold).
            if size != self._encoder.header_table_size:
                self._encoder.header_table_size = size
        if SET_MAX_FRAME_SIZE in values:
            self._max_out_frame = values[SET_MAX_FRAME_SIZE]

    def _local_settings_acked(self) -> None:
        if not self._pending_local:
            return
        changes = self._pending_local.pop(0)
        if SET_INITIAL_WINDOW_SIZE in changes:
            delta = changes[SET_INITIAL_WINDOW_SIZE] - self._local_initial
            self._local_initial = changes[SET_INITIAL_WINDOW_SIZE]
            for stream in self._streams.values():
                window = stream.inbound
                window.current += delta
                if window.current > MAX_WINDOW:
                    raise _ConnectionError(FLOW_CONTROL_ERROR, "Flow control window mustn't exceed 2147483647")
                window.maximum += delta
            # Every receive window moved: data consumed before may now be owed to a
            # window at or below 0, and no more DATA can come to trigger the update, so
            # the WINDOW_UPDATE rule is re-run for each stream.
            for stream in list(self._streams.values()):
                if stream.known:
                    self._acknowledge(stream, 0)
        if SET_MAX_HEADER_LIST_SIZE in changes:
            self._decoder.max_header_list_size = changes[SET_MAX_HEADER_LIST_SIZE]
        if SET_MAX_FRAME_SIZE in changes:
            self._max_in_frame = changes[SET_MAX_FRAME_SIZE]
        if SET_HEADER_TABLE_SIZE in changes:
            self._decoder.max_allowed_table_size = changes[SET_HEADER_TABLE_SIZE]

    def _on_window_update(self, sid: int, increment: int) -> None:
        if sid == 0:
            if self._out_window + increment > MAX_WINDOW:
                raise _ConnectionError(FLOW_CONTROL_ERROR, "May not increment flow control window past 2147483647")
            self._out_window += increment
            if self._reopened < 0:
                self._reopened = 0
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
        if stream.reopened < 0:
            stream.reopened = 0
        self._window_updated(sid)

    def _on_rst(self, sid: int, code: int) -> None:
        stream = self._streams.get(sid)
        if stream is None or stream.state == S_CLOSED:
            return
        self._set_closed(stream, BY_RECV_RST)
        self._on_reset(sid, code, True)

    def _on_goaway(self, view: bytes, offset: int, length: int) -> None:
        last = _u31(view, offset)
        code = _u32(view, offset + 4)
        del self._out[self._keep :]  # what was not sent yet is dropped
        self._dead = True
        reason = "client sent GOAWAY"
        if length > 8:
            reason += ": " + view[offset + 8 : offset + min(length, 208)].decode("latin-1")
        self._events.append(ConnectionEnded(code, last, True, reason))  # type: ignore[union-attr]

    def _on_reset(self, sid: int, code: int, remote: bool) -> None:
        stream = self._streams.get(sid)
        if stream is not None and stream.known:
            stream.known = False
            self._release(stream)
            self._events.append(StreamReset(sid, code, remote))  # type: ignore[union-attr]
        if self._resets.hit(self._now):
            self._fail(ENHANCE_YOUR_CALM, "too many reset streams")

    def _window_updated(self, sid: int) -> None:
        if sid:
            stream = self._streams.get(sid)
            if stream is None or not stream.known:
                return
        if sid not in self._seen_windows:
            self._seen_windows.add(sid)
            self._events.append(WindowUpdated(sid))  # type: ignore[union-attr]

    def _stream_error(self, sid: int, code: int) -> None:
        """Reset a stream for the client's fault; the transport hears of it if it knew it."""
        stream = self._streams.get(sid)
        if stream is not None and stream.state != S_CLOSED:
            self._send_rst(stream, code)
        self._on_reset(sid, code, False)

    def _priority_error(self, sid: int, code: int, reason: str) -> None:
        """A bad PRIORITY frame is a stream error (RFC 9113 §5.3.1, §6.3): an open stream
        is reset, a closed one gets a RST_STREAM. An idle stream cannot be reset
        (§6.4), so there it is a connection error, as §5.4.1 allows."""
        if self._is_idle(sid):
            self._fail(code, reason)
            return
        stream = self._streams.get(sid)
        if stream is not None and stream.state != S_CLOSED:
            self._stream_error(sid, code)
        else:
            self._rst(sid, code)

    def _fail(self, code: int, reason: str) -> None:
        """End the connection for the client's fault: GOAWAY queued, ``ConnectionEnded``."""
        self._dead = True
        self._goaway(self._highest_in, code)
        self._events.append(ConnectionEnded(code, self._highest_in, False, reason))  # type: ignore[union-attr]

    # -- flow control bookkeeping ---------------------------------------------------------

    def _ack_connection(self, size: int) -> None:
        increment = self._inbound.process(size)
        if increment:
            self._window_update(0, increment)

    def _acknowledge(self, stream: _Stream, size: int) -> None:
        self._ack_connection(size)
        if not stream.remote_ended and stream.state != S_CLOSED:
            increment = stream.inbound.process(size)
            if increment:
                self._window_update(stream.sid, increment)

    def _release(self, stream: _Stream) -> None:
        if stream.unacked:
            self._ack_connection(stream.unacked)
            stream.unacked = 0

    def _maybe_closed(self, stream: _Stream) -> None:
        if stream.state == S_CLOSED and stream.known:
            stream.known = False
            self._release(stream)

    def _sendable(self, sid: Any) -> Optional[_Stream]:
        if self._dead:
            return None
        stream = self._streams.get(sid)
        if stream is None or not stream.known:
            return None
        if stream.state != S_OPEN and stream.state != S_HALF_CLOSED_REMOTE:
            return None
        return stream

    def _open_inbound(self) -> int:
        self._cleanup()
        return self._open_count

    # -- sending --------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """The bytes to write now (may be ``b""``)."""
        out = self._out
        self._keep = 0
        if not out:
            return b""
        data = bytes(out)
        out.clear()
        return data

    def send_headers(self, stream_id: int, status: int, headers: Iterable[Tuple[bytes, bytes]], end_stream: bool) -> None:
        """Send a response head (1xx heads may precede the final one).

        Names are lower-cased; connection-specific fields (connection, keep-alive,
        proxy-connection, transfer-encoding, upgrade, te) are dropped; nothing is
        added. An invalid status or field raises ``ValueError``; a second final head
        raises ``RuntimeError``. On a stream that is gone this does nothing.
        """
        self.send_head(stream_id, response_headers(status, headers, end_stream), end_stream)

    def send_head(self, stream_id: int, fields: Headers, end_stream: bool) -> None:
        """``send_headers`` for fields already built by ``headers.response_headers``
        (``:status`` first), for a caller that checked them earlier: not checked again."""
        stream = self._sendable(stream_id)
        if stream is None:
            return
        if stream.head_sent:
            raise RuntimeError(f"the response head of stream {stream_id} was already sent")
        if int(fields[0][1]) >= 200:
            stream.head_sent = True
        self._send_header_block(stream, fields, end_stream)

    def _send_header_block(self, stream: _Stream, fields: Headers, end_stream: bool) -> None:
        if end_stream and fields[0][0] == b":status" and fields[0][1][:1] == b"1":
            raise ValueError("Cannot set END_STREAM on informational responses.")
        block = self._encoder.encode(fields)
        self._header_block(stream.sid, block, end_stream)
        if end_stream:
            self._end_local(stream)

    def _end_local(self, stream: _Stream) -> None:
        if stream.state == S_OPEN:
            stream.state = S_HALF_CLOSED_LOCAL
        else:
            self._set_closed(stream, BY_SEND_END)
            self._maybe_closed(stream)

    def send_data(self, stream_id: int, data: Any, end_stream: bool) -> int:
        """Send as much of ``data`` as the windows allow, in frames of the peer's size.

        Returns the number of bytes consumed; ``end_stream`` applies only when all
        were. On a stream (or connection) that is gone, everything is discarded and
        ``len(data)`` returned.
        """
        total = len(data)
        sent = 0
        stream = self._sendable(stream_id)
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
            earned = 0
            while sent < limit:
                size = limit - sent
                if size > frame_size:
                    size = frame_size
                chunk = data if size == total else data[sent : sent + size]
                sent += size
                self._frame_head(size, DATA, F_END_STREAM if (end_stream and sent == total) else 0, stream.sid)
                self._out += chunk
                stream.out_window -= size
                self._out_window -= size
                # A frame earns its size only when the window cut it short (a tiny window
                # buys no frames); a small body or chunk is small by the app: full credit,
                # or a client acknowledging every small response would run out.
                earned += size if size < FRAME_COST and sent < total else FRAME_COST
            earned *= SEND_SHARE
            if stream.reopened >= 0:
                stream.reopened += sent
                if stream.reopened >= REOPEN_PAID:
                    stream.reopened = -1
                    earned += FRAME_COST
            if self._reopened >= 0:
                self._reopened += sent
                if self._reopened >= REOPEN_PAID:
                    self._reopened = -1
                    earned += FRAME_COST
            if earned:
                self._earn(earned)
            if end_stream and sent == total:
                self._end_local(stream)
        elif end_stream:
            self._frame_head(0, DATA, F_END_STREAM, stream.sid)
            self._end_local(stream)
        return sent

    def send_trailers(self, stream_id: int, headers: Iterable[Tuple[bytes, bytes]]) -> None:
        """Send trailer fields and end the stream (checked like ``send_headers``)."""
        stream = self._sendable(stream_id)
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

    def end_stream(self, stream_id: int) -> None:
        """End the response with an empty DATA frame carrying END_STREAM."""
        self.send_data(stream_id, b"", True)

    def send_window(self, stream_id: int) -> int:
        """How many bytes ``send_data`` could send now: min(stream, connection) window; 0 if gone."""
        stream = self._sendable(stream_id)
        if stream is None:
            return 0
        window = stream.out_window if stream.out_window < self._out_window else self._out_window
        return window if window > 0 else 0

    def can_send(self, stream_id: int) -> bool:
        """Whether a response can still be sent on ``stream_id`` (not reset, not ended)."""
        return self._sendable(stream_id) is not None

    def acknowledge_received(self, stream_id: int, n: int) -> None:
        """The application consumed ``n`` body bytes of ``stream_id``: re-grant the windows.

        Updates are batched (a WINDOW_UPDATE once half a window is consumed, or the
        window is empty); a stream the client has finished sending on gets no update,
        only the connection does. Unknown streams are ignored.
        """
        stream = self._streams.get(stream_id)
        if stream is None or not stream.known or self._dead or n <= 0:
            return
        if n > stream.unacked:
            n = stream.unacked
        if n:
            stream.unacked -= n
            self._acknowledge(stream, n)

    def discard_request(self, stream_id: int) -> bool:
        """The response on ``stream_id`` is complete while the client is still sending
        its request body: from now on its DATA is dropped and the windows (stream and
        connection) granted back at once, without ``DataReceived``, until the client ends
        the stream (``StreamEnded``; the stream then closes without a reset) or the
        transport resets it. What was delivered and not yet acknowledged is granted
        back now. False (nothing changes) unless the response is complete and the
        request still open: then ``reset_stream`` is what stops it, if anything."""
        stream = self._streams.get(stream_id)
        if self._dead or stream is None or not stream.known or stream.state != S_HALF_CLOSED_LOCAL:
            return False
        stream.discarding = True
        n = stream.unacked
        if n:
            stream.unacked = 0
            self._acknowledge(stream, n)
        return True

    def reset_stream(self, stream_id: int, error_code: int = CANCEL) -> None:
        """Reset a stream (CANCEL by default); nothing if it is already closed."""
        if self._dead:
            return
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        if stream.state != S_CLOSED:
            if stream.state == S_OPEN or stream.state == S_HALF_CLOSED_LOCAL:
                # DATA the client sent before it hears of the reset: not a flood.
                window = stream.inbound.current
                if self._inbound.current < window:
                    window = self._inbound.current
                self._earn(FRAME_COST * ((window if window > 0 else 0) // INFLIGHT_FRAME + 1))
            self._send_rst(stream, error_code)
        if stream.known:
            stream.known = False
            self._release(stream)

    def close(self, error_code: int = 0, last_stream_id: Optional[int] = None) -> None:
        """Send GOAWAY.

        With ``error_code`` 0 the shutdown is graceful: streams up to
        ``last_stream_id`` (default: the highest seen) may finish, newer ones are
        refused, and ``closed`` turns True once none is open. Any other code ends the
        connection at once.
        """
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
        self._keep = len(self._out)
        if last < self._refuse_above:
            self._refuse_above = last
        self._goaway_sent = True

    def ping(self, data: bytes = b"pyre-kal") -> None:
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
    def open_streams(self) -> int:
        """Client streams open or half-closed (what SETTINGS_MAX_CONCURRENT_STREAMS counts)."""
        return self._open_inbound()

    @property
    def last_stream_id(self) -> int:
        """The highest client stream id seen."""
        return self._highest_in

    @property
    def going_away(self) -> bool:
        """A GOAWAY was sent or received, or the connection failed: no new streams."""
        return self._goaway_sent or self._dead

    @property
    def closed(self) -> bool:
        """Nothing more will happen: the connection ended, or a graceful GOAWAY was
        sent and no stream is left open. Flush ``data_to_send()`` and close."""
        return self._dead or (self._goaway_sent and self._open_inbound() == 0)


def _decode_http2_settings(value: bytes) -> bytes:
    """Decode and check an HTTP2-Settings header value (token68, base64url)."""
    value = bytes(value).strip().rstrip(b"=")
    if _SETTINGS_VALUE.fullmatch(value) is None or len(value) % 4 == 1:
        raise ValueError("HTTP2-Settings is not base64url")
    payload = base64.urlsafe_b64decode(value + b"=" * (-len(value) % 4))
    if len(payload) % 6:
        raise ValueError("HTTP2-Settings is not a SETTINGS payload")
    for i in range(0, len(payload), 6):
        code = int.from_bytes(payload[i : i + 2], "big")
        number = int.from_bytes(payload[i + 2 : i + 6], "big")
        if code == SET_ENABLE_PUSH and number > 1:
            raise ValueError("invalid SETTINGS_ENABLE_PUSH in HTTP2-Settings")
        if code == SET_INITIAL_WINDOW_SIZE and number > 2**31 - 1:
            raise ValueError("invalid SETTINGS_INITIAL_WINDOW_SIZE in HTTP2-Settings")
        if code == SET_MAX_FRAME_SIZE and not 16384 <= number <= 16777215:
            raise ValueError("invalid SETTINGS_MAX_FRAME_SIZE in HTTP2-Settings")
        if code == SET_ENABLE_CONNECT_PROTOCOL and number > 1:
            raise ValueError("invalid SETTINGS_ENABLE_CONNECT_PROTOCOL in HTTP2-Settings")
    return payload
