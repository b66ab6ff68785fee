"""HTTP/2 field rules (RFC 9113 §8.2-8.3): request heads in, response heads out.

``parse_request`` turns a decoded header block into a ``RequestReceived`` or raises
``Malformed``; the session answers that with RST_STREAM PROTOCOL_ERROR (a stream
error, RFC 9113 §8.1.1), the connection stays usable. The character rules are the
HTTP/1.1 parser's: names are lower-case tokens, values VCHAR / obs-text / SP / HTAB
without surrounding whitespace, targets visible ASCII.

``response_headers`` and ``trailer_headers`` check what the application sends, so a
bad field raises ``ValueError`` before the HPACK encoder state is touched.
"""

from __future__ import annotations

import re
from typing import Iterable, List, Optional, Tuple

from .events import RequestReceived

__all__ = [
    "CONNECTION_SPECIFIC",
    "Malformed",
    "parse_request",
    "parse_trailers",
    "response_head",
    "response_headers",
    "trailer_headers",
]

Headers = List[Tuple[bytes, bytes]]

#: Fields that are meaningless in HTTP/2 (RFC 9113 §8.2.2); ``te`` is allowed in a
#: request with the value ``trailers`` only.
CONNECTION_SPECIFIC = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"})
_DROPPED_ON_SEND = CONNECTION_SPECIFIC | {b"te"}

_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+")
_ANY_CASE_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_METHOD = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SCHEME = re.compile(rb"[A-Za-z][A-Za-z0-9+.\-]*")
_TARGET = re.compile(rb"[\x21-\x22\x24-\x7e]+")  # visible ASCII without '#'
_AUTHORITY = re.compile(rb"[A-Za-z0-9\-._~!$&'()*+,;=:%\[\]]+")
_DIGITS = re.compile(rb"[0-9]{1,19}")
_WS = (0x20, 0x09)


class Malformed(Exception):
    """A request or trailer block breaks RFC 9113 §8: a stream error, not a connection error."""


def _valid_value(value: bytes) -> bool:
    if not value:
        return True
    return value[0] not in _WS and value[-1] not in _WS and _VALUE.fullmatch(value) is not None


def _pseudo(name: bytes, value: bytes, seen: dict) -> None:
    if name in seen:
        raise Malformed(f"repeated pseudo-header {name.decode('latin-1')}")
    seen[name] = value


def parse_request(stream_id: int, headers: Iterable[Tuple[bytes, bytes]], end_stream: bool, allow_protocol: bool) -> RequestReceived:
    """Validate a decoded request header block and build the event (or raise ``Malformed``)."""
    pseudo: dict = {}
    regular: Headers = []
    host: Optional[bytes] = None
    content_length: Optional[int] = None
    cookie_at = -1
    cookies: List[bytes] = []
    in_pseudo = True
    for name, value in headers:
        if name[:1] == b":":
            if not in_pseudo:
                raise Malformed("pseudo-header after a regular field")
            if name not in (b":method", b":scheme", b":path", b":authority", b":protocol"):
                raise Malformed(f"unknown pseudo-header {name.decode('latin-1')!r}")
            _pseudo(name, value, pseudo)
            continue
        in_pseudo = False
        if _NAME.fullmatch(name) is None:
            raise Malformed(f"invalid field name {name[:64].decode('latin-1')!r}")
        if not _valid_value(value):
            raise Malformed(f"invalid value for {name.decode('latin-1')}")
        if name in CONNECTION_SPECIFIC:
            raise Malformed(f"connection-specific field {name.decode('latin-1')}")
        if name == b"te":
            if value.lower() != b"trailers":
                raise Malformed("te other than 'trailers'")
        elif name == b"content-length":
            if _DIGITS.fullmatch(value) is None:
                raise Malformed("invalid content-length")
            length = int(value)
            if content_length is not None and length != content_length:
                raise Malformed("conflicting content-length fields")
            content_length = length
        elif name == b"host":
            if host is not None:
                raise Malformed("repeated host field")
            host = value
        elif name == b"cookie":
            cookies.append(value)
            if cookie_at >= 0:
                continue
            cookie_at = len(regular)
        regular.append((name, value))

    method = pseudo.get(b":method")
    scheme = pseudo.get(b":scheme")
    path = pseudo.get(b":path")
    authority = pseudo.get(b":authority")
    protocol = pseudo.get(b":protocol")
    if method is None:
        raise Malformed("missing :method")
    if _METHOD.fullmatch(method) is None:
        raise Malformed("invalid :method")
    if scheme is not None and _SCHEME.fullmatch(scheme) is None:
        raise Malformed("invalid :scheme")
    if path is not None and _TARGET.fullmatch(path) is None:
        raise Malformed("invalid :path")
    if authority is not None and _AUTHORITY.fullmatch(authority) is None:
        raise Malformed("invalid :authority")
    if protocol is not None and (not allow_protocol or _ANY_CASE_NAME.fullmatch(protocol) is None):
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
        elif path[0] != 0x2F:  # "/"
            raise Malformed(":path must start with '/'")
    if authority is not None and host is not None and host.lower() != authority.lower():
        raise Malformed("host differs from :authority")
    if end_stream and content_length:
        raise Malformed("content-length without a body")

    if len(cookies) > 1:
        regular[cookie_at] = (b"cookie", b"; ".join(cookies))
    if authority is not None and host is None:
        regular.insert(0, (b"host", authority))
    path, _, query = path.partition(b"?")
    return RequestReceived(
        stream_id,
        method.decode("ascii"),
        scheme.decode("ascii").lower() if scheme is not None else "",
        authority,
        path,
        query,
        regular,
        protocol.decode("ascii") if protocol is not None else None,
        end_stream,
        content_length,
    )


def parse_trailers(headers: Iterable[Tuple[bytes, bytes]]) -> Headers:
    """Validate a decoded trailer block: regular fields only (or raise ``Malformed``)."""
    out: Headers = []
    for name, value in headers:
        if _NAME.fullmatch(name) is None:
            raise Malformed("pseudo-header or invalid field name in trailers")
        if not _valid_value(value):
            raise Malformed(f"invalid value for {name.decode('latin-1')}")
        if name in CONNECTION_SPECIFIC or name == b"te":
            raise Malformed(f"connection-specific field {name.decode('latin-1')} in trailers")
        out.append((name, value))
    return out


def _fields_out(headers: Iterable[Tuple[bytes, bytes]], out: Headers) -> Headers:
    for name, value in headers:
        name = bytes(name).lower()
        if name in _DROPPED_ON_SEND:
            continue
        if _NAME.fullmatch(name) is None:
            raise ValueError(f"invalid header name {name[:64]!r}")
        value = bytes(value).strip(b" \t")
        if _VALUE.fullmatch(value) is None:
            raise ValueError(f"invalid value for header {name!r}")
        out.append((name, value))
    return out


def response_headers(status: int, headers: Iterable[Tuple[bytes, bytes]], end_stream: bool) -> Headers:
    """``:status`` plus the application's fields, lower-cased, connection-specific ones dropped."""
    if type(status) is not int or not 100 <= status <= 999 or status == 101:
        raise ValueError(f"invalid HTTP/2 status {status!r}")
    if status < 200 and end_stream:
        raise ValueError("an informational response cannot end the stream")
    return _fields_out(headers, [(b":status", b"%d" % status)])


def response_head(status: int, headers: Iterable[Tuple[bytes, bytes]]) -> Tuple[Headers, Optional[int]]:
    """A final response head as ``response_headers`` builds it (not ending the stream),
    and its Content-Length (``None`` without one). ``ValueError`` (or ``TypeError``)
    for anything that cannot be sent: a status outside 200-999, a bad field, an invalid
    or conflicting content-length."""
    if type(status) is not int or not 200 <= status <= 999:
        raise ValueError(f"invalid status {status!r} for a final response")
    fields = response_headers(status, headers, False)
    content_length: Optional[int] = None
    for name, value in fields:
        if name == b"content-length":
            if not value.isdigit() or len(value) > 18:
                raise ValueError(f"invalid content-length {value!r}")
            if content_length is not None and int(value) != content_length:
                raise ValueError("conflicting content-length headers")
            content_length = int(value)
    return fields, content_length


def trailer_headers(headers: Iterable[Tuple[bytes, bytes]]) -> Headers:
    """The application's trailer fields, checked like ``response_headers``."""
    return _fields_out(headers, [])
