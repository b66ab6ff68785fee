"""HTTP/1.1 response serialisation: the head and the framing choice.

Sans-IO: functions turn an application's status and headers into bytes and decide
how the body is framed (the writers of :mod:`pyre.protocol.h1.framing` frame it).
The connection keeps the per-response state (bytes left for a Content-Length,
chunked or not) and writes what these functions return.

Rules (RFC 9110 §6.4.1, §8.6, §15; RFC 9112 §6, §7, §9):
- headers from the application are validated: names must be tokens, values must
  hold no control characters except HTAB (no CR, LF or NUL can ever be written);
  a violation raises :class:`InvalidResponse` and the server answers 500 instead;
- HEAD, 1xx, 204 and 304 responses carry no body; 204, 304 and 1xx carry no framing
  headers (Content-Length and Transfer-Encoding from the application are dropped);
  HEAD keeps the application's Content-Length;
- a response with no Content-Length is chunked for an HTTP/1.1 request, and
  close-delimited for HTTP/1.0 (which never sees chunked encoding);
- the application's own Connection and Transfer-Encoding headers are replaced by
  the server's decision (``connection: close`` when the connection will close,
  ``connection: keep-alive`` for a kept-alive HTTP/1.0 connection).
"""

from __future__ import annotations

import http
import re
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

try:
    import cython  # type: ignore[import-untyped,import-not-found,unused-ignore]

    COMPILED: bool = cython.compiled
except ImportError:  # pragma: no cover - Cython is a build dependency only
    COMPILED = False

from pyre.protocol.h1.errors import InvalidResponse

if COMPILED:  # C-API calls of the compiled twin's head (cimports: never run as Python)
    from cython.cimports.cpython.bytes import PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE  # type: ignore
    from cython.cimports.libc.string import memcpy  # type: ignore

__all__ = [
    "as_bytes",
    "FRAME_CHUNKED",
    "FRAME_CLOSE",
    "FRAME_LENGTH",
    "FRAME_NONE",
    "LINE_CACHE",
    "STATUS_LINES",
    "InvalidResponse",
    "encode_head",
    "encode_simple_response",
    "reason_phrase",
    "response_head",
    "status_line",
    "validate_header",
]

FRAME_LENGTH = 0  # Content-Length framed
FRAME_CHUNKED = 1  # chunked transfer coding
FRAME_NONE = 2  # no body may be sent (HEAD, 1xx, 204, 304)
FRAME_CLOSE = 3  # body delimited by closing the connection (HTTP/1.0)

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_INVALID_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_DIGITS = re.compile(rb"[0-9]{1,18}")


def reason_phrase(status: int) -> str:
    """The reason phrase of ``status``, "" for a code without one: the server's one table
    (the standard library's), for status lines and for the bodies of its own errors."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


STATUS_LINES = {
    int(s): b"HTTP/1.1 %d %s\r\n" % (int(s), reason_phrase(int(s)).encode("ascii")) for s in http.HTTPStatus
}
# The same lines by status - 100, for 100 to 599 (None where the table has none): the
# compiled build's index, a list access where a dict hashes the int.
STATUS_LINE_LIST = [STATUS_LINES.get(code) for code in range(100, 600)]


def status_line(status: int) -> bytes:
    if COMPILED and type(status) is int and 100 <= status < 600:
        code = status  # a C int (in range: no overflow)
        line = STATUS_LINE_LIST[code - 100]
    else:
        line = STATUS_LINES.get(status)
    if line is None:
        if type(status) is not int or not 100 <= status <= 999:
            raise InvalidResponse(f"invalid status code {status!r}")
        line = b"HTTP/1.1 %d \r\n" % status
    return line


# Validated header lines by name, then value: apps repeat the same headers, so most
# responses skip validation. Two levels of bytes keys, whose hashes bytes objects keep,
# where a (name, value) key was a tuple hashed and compared anew per header. Cleared
# when it holds _LINE_CACHE_SIZE lines, so it stays bounded. Public for the compiled
# head encoder of pyre.protocol.h1._writer_c (this module compiled) reads its own.
LINE_CACHE: Dict[bytes, Dict[bytes, Tuple[bytes, Optional[bytes]]]] = {}
_LINE_CACHE_SIZE = 4096
_line_count = 0
_SPECIAL = frozenset((b"content-length", b"transfer-encoding", b"connection", b"server", b"date"))


def validate_header(pair: Any) -> Tuple[bytes, Optional[bytes]]:
    """Check one application header; return its encoded line and, for the headers
    the server acts on, its lower-cased name (None for all others)."""
    try:
        name, value = pair
    except (TypeError, ValueError):
        raise InvalidResponse(f"header must be a [name, value] pair, got {pair!r}") from None
    if type(name) is not bytes or type(value) is not bytes:
        if not isinstance(name, (bytes, bytearray)) or not isinstance(value, (bytes, bytearray)):
            raise InvalidResponse(f"header names and values must be bytes, got {pair!r}")
        name, value = bytes(name), bytes(value)
    if not _TOKEN.fullmatch(name):
        raise InvalidResponse(f"invalid header name {name!r}")
    if _INVALID_VALUE.search(value):
        raise InvalidResponse(f"invalid character in header {name!r} value {value!r}")
    lname = name.lower()
    if lname == b"content-length" and not _DIGITS.fullmatch(value.strip(b" \t")):
        raise InvalidResponse(f"invalid content-length {value!r}")
    if lname == b"transfer-encoding" and value.strip(b" \t").lower() != b"chunked":
        raise InvalidResponse(f"unsupported transfer-encoding {value!r}")
    line = name + b": " + value + b"\r\n"
    if lname in _SPECIAL:
        # Special lines are re-parsed from a normalised form: "content-length: N".
        line = lname + b": " + value + b"\r\n"
        result: Tuple[bytes, Optional[bytes]] = (line, lname)
    else:
        result = (line, None)
    global _line_count
    if _line_count >= _LINE_CACHE_SIZE:
        LINE_CACHE.clear()
        _line_count = 0
    values = LINE_CACHE.get(name)
    if values is None:
        values = LINE_CACHE[name] = {}
    if value not in values:
        _line_count += 1
    values[value] = result
    return result


def encode_head(
    status: int,
    headers: Iterable[Sequence[bytes]],
    *,
    http11: bool,
    head_request: bool,
    keep_alive: bool,
    server_line: bytes = b"",
    date_line: bytes = b"",
    extra_lines: bytes = b"",
) -> Tuple[bytes, int, int, bool]:
    """Serialise a response head and choose its framing.

    Returns ``(head bytes, framing, content length or -1, keep_alive)``: a plain
    tuple, since this runs once per response.

    ``server_line``, ``date_line`` and ``extra_lines`` are the server's default
    header lines, already encoded with their CRLFs (empty when disabled). The
    default ``server`` or ``date`` line is left out when the application sent its own.
    """
    return response_head(status, headers, http11, head_request, keep_alive, as_bytes(server_line),
                         as_bytes(date_line), as_bytes(extra_lines))


def as_bytes(value: Any) -> bytes:
    """What ``b"".join`` accepts (any bytes-like object), as bytes; raises TypeError
    otherwise (the server's default header lines as :func:`response_head` takes them)."""
    return value if type(value) is bytes else b"".join([value])


def response_head(status: Any, headers: Iterable[Sequence[bytes]], http11: bool, head_request: bool,
                  keep_alive: bool, server_line: bytes, date_line: bytes, extra_lines: bytes) -> Tuple[bytes, int, int, bool]:
    """:func:`encode_head` with its arguments by position and its default lines as
    ``bytes`` (what a connection calls per response: the compiled one in C)."""
    if type(status) is not int:
        raise InvalidResponse(f"status must be an int, got {type(status).__name__}")
    if status < 200:
        raise InvalidResponse(f"status {status} cannot be a final response")
    first = status_line(status)
    no_body_status = status == 204 or status == 304
    content_length = -1
    chunked_requested = False
    app_server = app_date = False
    app_lines: List[bytes] = []
    cache = LINE_CACHE
    for pair in headers:
        cached = _cached_line(cache, pair)
        if cached is None:
            cached = validate_header(pair)
        line, lname = cached
        if lname is None:  # an ordinary header, the common case
            app_lines.append(line)
            continue
        if lname == b"content-length":
            if no_body_status:
                continue
            if content_length != -1:
                raise InvalidResponse(f"repeated content-length {pair!r}")
            content_length = _content_length_of(line)
        elif lname == b"transfer-encoding":
            chunked_requested = True
            continue
        elif lname == b"connection":
            if b"close" in [t.strip(b" \t").lower() for t in line[12:-2].split(b",")]:
                keep_alive = False
            continue
        elif lname == b"server":
            app_server = True
        elif lname == b"date":
            app_date = True
        app_lines.append(line)
    if chunked_requested and content_length != -1:
        raise InvalidResponse("both content-length and transfer-encoding in the response")

    framing_line = b""
    if head_request or no_body_status:
        framing = FRAME_NONE
    elif content_length != -1:
        framing = FRAME_LENGTH
    elif http11:
        framing = FRAME_CHUNKED
        framing_line = b"transfer-encoding: chunked\r\n"
    else:
        framing = FRAME_CLOSE
        keep_alive = False
    if not keep_alive:
        connection_line = b"connection: close\r\n"
    elif not http11:
        connection_line = b"connection: keep-alive\r\n"
    else:
        connection_line = b""
    if app_server:
        server_line = b""
    if app_date:
        date_line = b""

    if COMPILED:  # one allocation, sized first
        total = len(first) + len(server_line) + len(date_line) + len(extra_lines) + len(framing_line)
        total += len(connection_line) + 2
        n = len(app_lines)
        for i in range(n):
            total += len(cython.cast(bytes, app_lines[i]))
        head = PyBytes_FromStringAndSize(cython.NULL, total)
        p = cython.cast(cython.p_char, head)
        p = _put(p, first)
        p = _put(p, server_line)
        p = _put(p, date_line)
        p = _put(p, extra_lines)
        for i in range(n):
            p = _put(p, cython.cast(bytes, app_lines[i]))
        p = _put(p, framing_line)
        p = _put(p, connection_line)
        p[0] = 13  # CR
        p[1] = 10  # LF
        return head, framing, content_length, keep_alive
    return (b"".join([first, server_line, date_line, extra_lines, *app_lines, framing_line, connection_line, b"\r\n"]),
            framing, content_length, keep_alive)


def _put(p: Any, data: bytes) -> Any:
    """Copy ``data`` to ``p``; return the position after it (the compiled head's writer)."""
    n = PyBytes_GET_SIZE(data)
    memcpy(p, PyBytes_AS_STRING(data), n)
    return p + n


def _cached_line(cache: Dict[bytes, Dict[bytes, Tuple[bytes, Optional[bytes]]]], pair: Any) -> Any:
    """The entry of ``pair`` in :data:`LINE_CACHE`, or None: not cached, or not a tuple or
    list of two ``bytes`` (anything else is :func:`validate_header`'s to judge, so a pair
    is accepted or refused whatever the cache holds; no ``try`` block, which in C saves
    and restores the exception state)."""
    kind = type(pair)
    if (kind is tuple or kind is list) and len(pair) == 2:
        name = pair[0]
        value = pair[1]
        if type(name) is bytes and type(value) is bytes:
            values = cache.get(name)
            if values is not None:
                return values.get(value)
    return None


def _content_length_of(line: bytes) -> int:
    """The value of a validated, normalised ``content-length: N\\r\\n`` line."""
    if COMPILED:  # its digits read in place
        p = cython.cast(cython.p_char, line)
        i = 16
        end = len(line) - 2
        while i < end and (p[i] == 32 or p[i] == 9):
            i += 1
        while end > i and (p[end - 1] == 32 or p[end - 1] == 9):
            end -= 1
        value = 0
        while i < end:
            value = value * 10 + (p[i] - 48)
            i += 1
        return value
    return int(line[16:-2].strip(b" \t"))


def encode_simple_response(
    status: int, body: bytes, *, default_lines: bytes = b"", close: bool = True, content_type: bytes = b"text/plain; charset=utf-8"
) -> bytes:
    """A complete server-generated response (errors, 100 Continue excluded)."""
    parts = [
        status_line(status),
        default_lines,
        b"content-type: ", content_type, b"\r\n",
        b"content-length: %d\r\n" % len(body),
    ]
    if close:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    parts.append(body)
    return b"".join(parts)


CONTINUE_RESPONSE = b"HTTP/1.1 100 Continue\r\n\r\n"
