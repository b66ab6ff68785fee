"""HTTP/2 field rules (RFC 9113 §8.2-8.3) for what the application sends.

``response_headers`` and ``trailer_headers`` check response fields, so a bad field
raises ``ValueError`` before the HPACK encoder state is touched. The session
(``session.py``) checks received request heads and trailers itself, with the
HTTP/1.1 parser's character rules, and raises ``Malformed`` inside; it answers that
with RST_STREAM PROTOCOL_ERROR (a stream error, RFC 9113 §8.1.1), the connection
stays usable. Its ``response_head`` is the check of a final head at
``http.response.start``.
"""

from __future__ import annotations

import re
from typing import Iterable, List, Tuple

__all__ = [
    "CONNECTION_SPECIFIC",
    "Malformed",
    "response_headers",
    "trailer_headers",
]

Headers = List[Tuple[bytes, bytes]]

#: Fields that are meaningless in HTTP/2 (RFC 9113 §8.2.2); ``te`` is allowed in a
#: request with the value ``trailers`` only.
CONNECTION_SPECIFIC = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"})
_DROPPED_ON_SEND = CONNECTION_SPECIFIC | {b"te"}

_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+")
_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")


class Malformed(Exception):
    """A request or trailer block breaks RFC 9113 §8: a stream error, not a connection error."""


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


def trailer_headers(headers: Iterable[Tuple[bytes, bytes]]) -> Headers:
    """The application's trailer fields, checked like ``response_headers``."""
    return _fields_out(headers, [])
