"""Pure-Python twin of ``pyre._speedups.h1parser``: a strict HTTP/1.1 request parser.

The interface, events and errors live in :mod:`pyre.protocol.h1.parsing`; read its
docstring first. This module accepts exactly the RFC 9112 request grammar and
answers anything else with a :class:`ParseError`:

- request line ``method SP target SP HTTP/x.y`` with single spaces; method a token;
  target visible ASCII in origin, absolute (authority wins over Host), or asterisk
  form (OPTIONS only); CONNECT is not implemented (501); major version 1 only (505),
  minor versions above 1 are served as 1.1;
- lines end in CRLF; a bare CR or LF anywhere is an error; up to any number of empty
  lines before a request line are skipped (RFC 9112 §2.2);
- field names are tokens directly followed by ``:``; values are VCHAR, obs-text, SP
  and HTAB only (no NUL, no other controls); obs-fold is rejected;
- HTTP/1.1 needs exactly one valid Host; Content-Length is ``1*DIGIT`` and appears
  at most once; Transfer-Encoding must be exactly ``chunked`` (unknown codings 501,
  chunked not last or repeated 400), never with Content-Length and never on HTTP/1.0;
- chunk sizes are 1 to 15 significant hex digits, chunk data ends in CRLF, chunk
  extensions are bounded, trailers are validated like headers and kept apart.
"""

from __future__ import annotations

import re
from typing import List, Optional

from pyre.protocol.h1 import recvpool
from pyre.protocol.h1.parsing import (
    END_OF_MESSAGE,
    H2_PREFACE,
    Body,
    EndOfMessage,
    H1Limits,
    ParseError,
    Request,
    head_limit_error,
    host_error,
)

__all__ = ["RequestParser"]

# Parser states.
_HEAD = 0  # waiting for a request line and headers
_BODY_LENGTH = 1  # Content-Length body
_CHUNK_SIZE = 2  # chunk-size line
_CHUNK_DATA = 3  # chunk data
_CHUNK_END = 4  # the CRLF after chunk data
_TRAILERS = 5  # trailer section after the last chunk
_PAUSED = 6  # message complete, waiting for resume()
_CLOSED = 7  # no further message on this connection
_ERROR = 8

# RFC 9110 §5.6.2: token = 1*tchar
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# field-value characters after trimming: VCHAR, obs-text, SP, HTAB (RFC 9110 §5.5).
_FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
# request-target characters: visible ASCII only.
_TARGET = re.compile(rb"[\x21-\x7e]+")
_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
_ABSOLUTE = re.compile(rb"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)(.*)", re.DOTALL)
# Host: reg-name / IPv4 / IP-literal, with an optional port; no userinfo.
_HOST = re.compile(rb"[A-Za-z0-9\-._~!$&'()*+,;=:%\[\]]*")
_DIGITS = re.compile(rb"[0-9]+")
_HEX = re.compile(rb"[0-9A-Fa-f]+")
# After the chunk size (RFC 9112 §7.1.1):
#   chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ) BWS
#   ext-val   = token / quoted-string
_QUOTED = rb'"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*"'
_TCHARS = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_CHUNK_EXT = re.compile(
    rb"(?:[ \t]*;[ \t]*" + _TCHARS + rb"(?:[ \t]*=[ \t]*(?:" + _TCHARS + rb"|" + _QUOTED + rb"))?)*[ \t]*"
)
# A bare CR (not before LF) or a bare LF (not after CR).
_BARE_CR_LF = re.compile(rb"\r[^\n]|[^\r]\n")

_MAX_CHUNK_SIZE_DIGITS = 15
_MAX_CONTENT_LENGTH_DIGITS = 18

_PREFACE_LINE = b"PRI * HTTP/2.0"
_PREFACE_TAIL = b"SM\r\n\r\n"

_METHODS = {
    m.encode(): m
    for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT")
}
_COMMON_NAMES = {
    raw.encode(): raw.lower().encode()
    for raw in (
        "Host", "User-Agent", "Accept", "Accept-Encoding", "Accept-Language", "Connection",
        "Content-Type", "Content-Length", "Cookie", "Authorization", "Cache-Control",
        "Referer", "Origin", "Upgrade", "Transfer-Encoding", "Expect", "Pragma",
        "If-None-Match", "If-Modified-Since", "X-Forwarded-For", "X-Forwarded-Proto",
        "X-Request-Id", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Range",
    )
}
for _lower in list(_COMMON_NAMES.values()):
    _COMMON_NAMES[_lower] = _lower

# Trailer fields that must not be used (RFC 9110 §6.5.1): framing, routing, control.
_FORBIDDEN_TRAILERS = frozenset(
    (
        b"content-length", b"transfer-encoding", b"host", b"connection", b"keep-alive",
        b"te", b"trailer", b"upgrade", b"expect", b"proxy-connection", b"content-type",
        b"content-encoding", b"content-range", b"authorization", b"set-cookie", b"cookie",
    )
)


def _lower_name(name: bytes) -> bytes:
    lowered = _COMMON_NAMES.get(name)
    return lowered if lowered is not None else name.lower()


def _split_tokens(value: bytes) -> List[bytes]:
    """A comma-separated list (RFC 9110 §5.6.1): trimmed, lower-cased, empties dropped."""
    return [item for item in (part.strip(b" \t").lower() for part in value.split(b",")) if item]


class RequestParser:
    """Strict incremental HTTP/1.1 request parser (pure-Python twin)."""

    __slots__ = (
        "_buf",
        "_pos",
        "_scan",
        "_state",
        "_remaining",
        "_body_total",
        "_ext_total",
        "_keep_alive",
        "_messages",
        "_trailers",
        "_trailer_bytes",
        "_error",
        "_lent",
        "_max_request_line",
        "_max_header_size",
        "_max_headers",
        "_max_body_size",
        "_max_chunk_extensions",
    )

    def __init__(self, limits: Optional[H1Limits] = None) -> None:
        if limits is None:
            limits = H1Limits()
        self._buf = bytearray()
        self._pos = 0
        self._scan = 0
        self._state = _HEAD
        self._remaining = 0
        self._body_total = 0
        self._ext_total = 0
        self._keep_alive = True
        self._messages = 0
        self._trailers: list = []
        self._trailer_bytes = 0
        self._error: Optional[ParseError] = None
        self._lent: Optional[memoryview] = None
        self._max_request_line = limits.max_request_line
        self._max_header_size = limits.max_header_size
        self._max_headers = limits.max_headers
        self._max_body_size = limits.max_body_size
        self._max_chunk_extensions = limits.max_chunk_extensions

    # -- public interface ------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._state >= _PAUSED

    @property
    def closed(self) -> bool:
        return self._state >= _CLOSED

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos

    @property
    def trailing_data(self) -> bytes:
        return bytes(self._buf[self._pos :])

    def feed(self, data: bytes) -> list:
        if self._error is not None:
            raise self._error
        if self._state == _CLOSED:
            return []  # nothing after the last message is ever parsed or kept
        if data:
            self._buf += data
        if self._state == _PAUSED:
            return []
        return self._run()

    def get_buffer(self, sizehint: int) -> memoryview:
        # The compiled twin also reads a large Content-Length body straight into its own
        # bytes; here every read lands in a pooled block and is copied (same events).
        block = self._lent
        if block is None:
            block = self._lent = recvpool.take()
        return block

    def buffer_updated(self, nbytes: int) -> list:
        block = self._lent
        if block is None:
            raise RuntimeError("buffer_updated() without get_buffer()")
        self._lent = None
        try:
            if not 0 < nbytes <= len(block):
                raise ValueError(f"buffer_updated({nbytes}) outside the lent buffer")
            return self.feed(block[:nbytes])
        finally:
            recvpool.give(block)

    def resume(self) -> list:
        if self._error is not None:
            raise self._error
        if self._state != _PAUSED:
            return []
        self._state = _HEAD
        return self._run()

    # -- machinery --------------------------------------------------------------

    def _run(self) -> list:
        events: list = []
        try:
            self._parse(events)
        except ParseError as exc:
            self._state = _ERROR
            self._error = exc
            self._buf = bytearray()
            self._pos = 0
            raise
        self._compact()
        return events

    def _compact(self) -> None:
        pos = self._pos
        if pos:
            buf = self._buf
            if pos >= len(buf):
                self._buf = bytearray()
            else:
                del buf[:pos]
            self._scan -= pos
            if self._scan < 0:
                self._scan = 0
            self._pos = 0

    def _fail(self, status: int, reason: str) -> None:
        raise ParseError(status, reason)

    def _parse(self, events: list) -> None:
        body_parts: List[bytes] = []
        while True:
            state = self._state
            if state == _HEAD:
                if not self._parse_head(events):
                    break
            elif state == _BODY_LENGTH:
                if not self._parse_length_body(body_parts):
                    break
            elif state == _CHUNK_SIZE:
                if not self._parse_chunk_size():
                    break
            elif state == _CHUNK_DATA:
                if not self._parse_chunk_data(body_parts):
                    break
            elif state == _CHUNK_END:
                if not self._parse_chunk_end():
                    break
            elif state == _TRAILERS:
                if not self._parse_trailers():
                    break
            else:
                break
            if self._state >= _PAUSED and state != _HEAD:
                # The message body ended in this step.
                self._end_message(events, body_parts)
                break
        if body_parts:
            events.append(Body(b"".join(body_parts)))

    def _end_message(self, events: list, body_parts: List[bytes]) -> None:
        if body_parts:
            events.append(Body(b"".join(body_parts)))
            body_parts.clear()
        if self._trailers:
            events.append(EndOfMessage(tuple(self._trailers)))
            self._trailers = []
        else:
            events.append(END_OF_MESSAGE)

    def _finish_message_state(self) -> None:
        self._messages += 1
        self._state = _PAUSED if self._keep_alive else _CLOSED
        if self._state == _CLOSED:
            # Never parse or keep what follows a final message.
            self._buf = bytearray()
            self._pos = 0
            self._scan = 0

    # -- head -----------------------------------------------------------------------

    def _parse_head(self, events: list) -> bool:
        buf = self._buf
        pos = self._pos
        end = len(buf)
        # Skip empty lines before the request line (RFC 9112 §2.2).
        while pos + 1 < end and buf[pos] == 13 and buf[pos + 1] == 10:
            pos += 2
        self._pos = pos
        if self._scan < pos:
            self._scan = pos
        if pos >= end:
            return False
        if buf[pos] == 10:
            self._fail(400, "bare LF in request head")
        head_end = buf.find(b"\r\n\r\n", max(self._scan, pos))
        if head_end < 0:
            self._check_incomplete_head(pos, end)
            self._scan = max(pos, end - 3)
            return False

        # A request line with no header section ends at the first CRLF CRLF too.
        head = bytes(buf[pos:head_end])
        after = head_end + 4
        line_end = head.find(b"\r\n")
        request_line = head if line_end < 0 else head[:line_end]
        if len(request_line) > self._max_request_line:
            self._fail(414, "request line too long")
        if request_line == _PREFACE_LINE and self._messages == 0 and line_end < 0:
            if end - after < len(_PREFACE_TAIL):
                return False
            if bytes(buf[after : after + len(_PREFACE_TAIL)]) != _PREFACE_TAIL:
                self._fail(400, "malformed HTTP/2 connection preface")
            self._pos = after + len(_PREFACE_TAIL)
            self._scan = self._pos
            self._state = _CLOSED
            events.append(H2_PREFACE)
            return False
        if line_end >= 0:
            # The header section: every field line with its CRLF.
            if len(head) - line_end > self._max_header_size:
                self._fail(431, "request header section too large")
        self._pos = after
        self._scan = after
        events.append(self._build_request(request_line, head, line_end))
        return True

    def _check_incomplete_head(self, pos: int, end: int) -> None:
        buf = self._buf
        start = max(self._scan - 1, pos)
        if _BARE_CR_LF.search(buf, start, end):
            self._fail(400, "bare CR or LF in request head")
        error = head_limit_error(pos, buf.find(b"\r\n", pos, end), end, self._max_request_line, self._max_header_size)
        if error is not None:
            self._fail(*error)

    def _build_request(self, request_line: bytes, head: bytes, line_end: int) -> Request:
        method_b, sp, rest = request_line.partition(b" ")
        target, sp2, version = rest.partition(b" ")
        if not sp or not sp2:
            self._fail(400, "malformed request line")
        vmatch = _VERSION.fullmatch(version)
        if vmatch is None:
            self._fail(400, "malformed HTTP version")
        if not _TOKEN.fullmatch(method_b):
            self._fail(400, "invalid method")
        if not _TARGET.fullmatch(target):
            self._fail(400, "invalid request target")
        major = vmatch.group(1)
        if major != b"1":
            self._fail(505, "HTTP version not supported")
        http11 = vmatch.group(2) != b"0"
        http_version = "1.1" if http11 else "1.0"
        method = _METHODS.get(method_b)
        if method is None:
            method = method_b.decode("ascii")
        if method == "CONNECT":
            self._fail(501, "CONNECT is not supported")

        authority: Optional[bytes] = None
        first = target[0]
        if first == 47:  # "/"
            path, _, query = target.partition(b"?")
        elif target == b"*":
            if method != "OPTIONS":
                self._fail(400, "asterisk-form target is only valid with OPTIONS")
            path, query = b"*", b""
        else:
            amatch = _ABSOLUTE.fullmatch(target)
            if amatch is None:
                self._fail(400, "invalid request target")
            authority = amatch.group(2)
            if not authority or not _HOST.fullmatch(authority):
                self._fail(400, "invalid authority in absolute-form target")
            rest_target = amatch.group(3)
            if rest_target and rest_target[0] == 63:  # "?"
                rest_target = b"/" + rest_target
            path, _, query = (rest_target or b"/").partition(b"?")

        headers: list = []
        keep_alive = http11
        connection_close = False
        connection_keep_alive = False
        connection_upgrade = False
        expect_continue = False
        content_length = -1
        chunked = False
        upgrade: Optional[bytes] = None
        host_count = 0
        host_index = -1
        te_codings: Optional[List[bytes]] = None

        if line_end >= 0:
            lines = head[line_end + 2 :].split(b"\r\n")
            if len(lines) > self._max_headers:
                self._fail(431, "too many header fields")
            for line in lines:
                name, value = self._parse_field(line)
                lname = _lower_name(name)
                if lname == b"host":
                    host_count += 1
                    if not _HOST.fullmatch(value):
                        self._fail(400, "invalid Host header")
                    host_index = len(headers)
                elif lname == b"content-length":
                    if content_length != -1:
                        self._fail(400, "duplicate Content-Length")
                    if not _DIGITS.fullmatch(value):
                        self._fail(400, "invalid Content-Length")
                    if len(value) > _MAX_CONTENT_LENGTH_DIGITS:
                        self._fail(400, "Content-Length too large")
                    content_length = int(value)
                elif lname == b"transfer-encoding":
                    if te_codings is None:
                        te_codings = []
                    te_codings.extend(_split_tokens(value))
                elif lname == b"connection":
                    for token in _split_tokens(value):
                        if token == b"close":
                            connection_close = True
                        elif token == b"keep-alive":
                            connection_keep_alive = True
                        elif token == b"upgrade":
                            connection_upgrade = True
                elif lname == b"expect":
                    if value.lower() == b"100-continue":
                        expect_continue = True
                elif lname == b"upgrade":
                    upgrade = value
                headers.append((lname, value))

        error = host_error(host_count, http11)
        if error is not None:
            self._fail(400, error)
        if authority is not None and host_index >= 0:
            # RFC 9112 §3.2.2: the target's authority replaces the Host value.
            headers[host_index] = (b"host", authority)

        if te_codings is not None:
            if content_length != -1:
                self._fail(400, "both Content-Length and Transfer-Encoding")
            if not http11:
                self._fail(400, "Transfer-Encoding in an HTTP/1.0 request")
            if not te_codings:
                self._fail(400, "empty Transfer-Encoding")
            for coding in te_codings:
                if not _TOKEN.fullmatch(coding):
                    self._fail(400, "invalid Transfer-Encoding")
            count = te_codings.count(b"chunked")
            if count > 1:
                self._fail(400, "chunked applied more than once")
            if count == 1 and te_codings[-1] != b"chunked":
                self._fail(400, "chunked is not the final transfer coding")
            if len(te_codings) != 1 or count != 1:
                self._fail(501, "unsupported transfer coding")
            chunked = True

        if connection_close:
            keep_alive = False
        elif not http11 and connection_keep_alive:
            keep_alive = True
        if not http11:
            expect_continue = False
        if upgrade is not None and not connection_upgrade:
            upgrade = None

        if content_length > 0 and self._max_body_size and content_length > self._max_body_size:
            self._fail(413, "request body larger than the limit")

        self._keep_alive = keep_alive
        self._body_total = self._ext_total = self._trailer_bytes = 0
        if chunked:
            self._state = _CHUNK_SIZE
        elif content_length > 0:
            self._remaining = content_length
            self._state = _BODY_LENGTH
        else:
            self._state = _BODY_LENGTH
            self._remaining = 0
        return Request(
            method,
            path,
            query,
            http_version,
            headers,
            keep_alive,
            expect_continue,
            chunked,
            content_length,
            upgrade,
        )

    def _parse_field(self, line: bytes):
        colon = line.find(b":")
        if colon <= 0:
            if not line:
                self._fail(400, "empty header line")
            if line[0] in (32, 9):
                self._fail(400, "obs-fold or whitespace before a header line")
            self._fail(400, "header line without a valid name")
        name = line[:colon]
        if not _TOKEN.fullmatch(name):
            self._fail(400, "invalid header name")
        value = line[colon + 1 :].strip(b" \t")
        if not _FIELD_VALUE.fullmatch(value):
            self._fail(400, "invalid character in header value")
        return name, value

    # -- bodies ---------------------------------------------------------------------

    def _parse_length_body(self, body_parts: List[bytes]) -> bool:
        remaining = self._remaining
        if remaining:
            buf = self._buf
            pos = self._pos
            available = len(buf) - pos
            if not available:
                return False
            take = remaining if remaining < available else available
            body_parts.append(bytes(buf[pos : pos + take]))
            self._pos = pos + take
            remaining -= take
            self._remaining = remaining
            if remaining:
                return False
        self._finish_message_state()
        return True

    def _parse_chunk_size(self) -> bool:
        buf = self._buf
        pos = self._pos
        end = len(buf)
        line_end = buf.find(b"\r\n", max(self._scan, pos))
        limit = _MAX_CHUNK_SIZE_DIGITS + 16 + self._max_chunk_extensions - self._ext_total
        if line_end < 0:
            start = max(self._scan - 1, pos)
            if _BARE_CR_LF.search(buf, start, end) or (end > pos and buf[pos] == 10):
                self._fail(400, "bare CR or LF in chunk header")
            # As for the head: a pending last byte may be the CR of the line's CRLF.
            if end - pos > limit + 1:
                self._fail(400, "chunk header too long")
            self._scan = max(pos, end - 1)
            return False
        line = bytes(buf[pos:line_end])
        self._pos = line_end + 2
        self._scan = self._pos
        if len(line) > limit:
            self._fail(400, "chunk header too long")
        hmatch = _HEX.match(line)
        if hmatch is None:
            self._fail(400, "invalid chunk size")
        digits = hmatch.group()
        rest = line[hmatch.end() :]
        if rest and not _CHUNK_EXT.fullmatch(rest):
            self._fail(400, "invalid chunk size or extension")
        self._ext_total += len(rest)
        if self._ext_total > self._max_chunk_extensions:
            self._fail(400, "chunk extensions too long")
        significant = digits.lstrip(b"0")
        if len(significant) > _MAX_CHUNK_SIZE_DIGITS:
            self._fail(400, "chunk size too large")
        size = int(significant, 16) if significant else 0
        if size == 0:
            self._state = _TRAILERS
            self._remaining = 0  # counts trailer fields from here
            return True
        self._body_total += size
        if self._max_body_size and self._body_total > self._max_body_size:
            self._fail(413, "request body larger than the limit")
        self._remaining = size
        self._state = _CHUNK_DATA
        return True

    def _parse_chunk_data(self, body_parts: List[bytes]) -> bool:
        buf = self._buf
        pos = self._pos
        available = len(buf) - pos
        if not available:
            return False
        remaining = self._remaining
        take = remaining if remaining < available else available
        body_parts.append(bytes(buf[pos : pos + take]))
        self._pos = pos + take
        self._remaining = remaining - take
        if self._remaining:
            return False
        self._state = _CHUNK_END
        return True

    def _parse_chunk_end(self) -> bool:
        buf = self._buf
        pos = self._pos
        available = len(buf) - pos
        if available < 2:
            if available == 1 and buf[pos] != 13:
                self._fail(400, "chunk data not followed by CRLF")
            return False
        if buf[pos] != 13 or buf[pos + 1] != 10:
            self._fail(400, "chunk data not followed by CRLF")
        self._pos = pos + 2
        self._scan = self._pos
        self._state = _CHUNK_SIZE
        return True

    def _parse_trailers(self) -> bool:
        buf = self._buf
        while True:
            pos = self._pos
            end = len(buf)
            line_end = buf.find(b"\r\n", max(self._scan, pos))
            if line_end < 0:
                start = max(self._scan - 1, pos)
                if _BARE_CR_LF.search(buf, start, end) or (end > pos and buf[pos] == 10):
                    self._fail(400, "bare CR or LF in trailer section")
                if self._trailer_bytes + (end - pos) > self._max_header_size + 1:
                    self._fail(431, "trailer section too large")
                self._scan = max(pos, end - 1)
                return False
            line = bytes(buf[pos:line_end])
            self._pos = line_end + 2
            self._scan = self._pos
            if not line:
                self._finish_message_state()
                return True
            self._trailer_bytes += len(line) + 2
            if self._trailer_bytes > self._max_header_size:
                self._fail(431, "trailer section too large")
            name, value = self._parse_field(line)
            self._remaining += 1  # counts trailer fields
            if self._remaining > self._max_headers:
                self._fail(431, "too many trailer fields")
            lname = _lower_name(name)
            if lname not in _FORBIDDEN_TRAILERS:
                self._trailers.append((lname, value))
