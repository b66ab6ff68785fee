"""The WebSocket opening handshake, server side: over HTTP/1.1 (RFC 6455 §4.2) and
over HTTP/2 with extended CONNECT (RFC 8441 §5).

``check_upgrade`` validates an upgrade request whose head the HTTP/1.1 parser has
already checked; a request that cannot be a WebSocket handshake raises
``HandshakeError`` with the status to answer (``400``, or ``426`` with
``Sec-WebSocket-Version: 13`` for another version), so the application is never
called for it. ``accept_headers`` builds the ``101`` response's fields once the
application accepts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import List, Optional, Sequence, Tuple

from .deflate import PerMessageDeflate

__all__ = [
    "HandshakeError",
    "WebSocketRequest",
    "accept_headers",
    "accept_key",
    "check_connect",
    "check_upgrade",
    "is_websocket_upgrade",
    "negotiate",
]

Headers = List[Tuple[bytes, bytes]]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HandshakeError(Exception):
    """Not a valid WebSocket handshake: answer ``status`` with ``headers``, then close."""

    def __init__(self, status: int, reason: str, headers: Optional[Headers] = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or []


class WebSocketRequest:
    """What the handshake needs from a valid upgrade request."""

    __slots__ = ("key", "subprotocols", "extensions")

    def __init__(self, key: bytes, subprotocols: List[str], extensions: List[str]) -> None:
        self.key = key
        self.subprotocols = subprotocols  # Sec-WebSocket-Protocol, in the client's order
        self.extensions = extensions  # Sec-WebSocket-Extensions offers, one string each


def _tokens(value: bytes) -> List[bytes]:
    return [t.strip().lower() for t in value.split(b",") if t.strip()]


def is_websocket_upgrade(upgrade: Optional[bytes]) -> bool:
    """Whether an ``Upgrade`` value (sent with ``Connection: upgrade``) asks for WebSocket."""
    return upgrade is not None and b"websocket" in _tokens(upgrade)


def check_upgrade(method: str, http_version: str, headers: Sequence[Tuple[bytes, bytes]]) -> WebSocketRequest:
    """Validate a WebSocket upgrade request (or raise ``HandshakeError``)."""
    if method != "GET":
        raise HandshakeError(400, f"a WebSocket handshake must be a GET, not {method}")
    if http_version != "1.1":
        raise HandshakeError(400, f"a WebSocket handshake needs HTTP/1.1, not HTTP/{http_version}")
    return _check(headers, True)


def check_connect(headers: Sequence[Tuple[bytes, bytes]]) -> WebSocketRequest:
    """Validate the fields of an extended CONNECT with ``:protocol websocket`` (RFC 8441):
    no key, the same version, subprotocol and extension fields."""
    return _check(headers, False)


def _check(headers: Sequence[Tuple[bytes, bytes]], needs_key: bool) -> WebSocketRequest:
    keys: List[bytes] = []
    versions: List[bytes] = []
    subprotocols: List[str] = []
    extensions: List[str] = []
    for name, value in headers:
        if name == b"sec-websocket-key":
            keys.append(value.strip())
        elif name == b"sec-websocket-version":
            versions.append(value.strip())
        elif name == b"sec-websocket-protocol":
            subprotocols += [t.strip().decode("latin-1") for t in value.split(b",") if t.strip()]
        elif name == b"sec-websocket-extensions":
            extensions += [t.strip().decode("latin-1") for t in value.split(b",") if t.strip()]
    if versions != [b"13"]:
        raise HandshakeError(426, "unsupported Sec-WebSocket-Version", [(b"sec-websocket-version", b"13")])
    if not needs_key:
        return WebSocketRequest(b"", subprotocols, extensions)
    if len(keys) != 1:
        raise HandshakeError(400, "missing or repeated Sec-WebSocket-Key")
    try:
        if len(base64.b64decode(keys[0], validate=True)) != 16:
            raise ValueError
    except (binascii.Error, ValueError):
        raise HandshakeError(400, "invalid Sec-WebSocket-Key") from None
    return WebSocketRequest(keys[0], subprotocols, extensions)


def accept_key(key: bytes) -> bytes:
    """The ``Sec-WebSocket-Accept`` value for a client's key."""
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())


def accept_headers(
    request: WebSocketRequest,
    subprotocol: Optional[str],
    extra: Sequence[Tuple[bytes, bytes]],
    deflate: Optional[PerMessageDeflate],
) -> Headers:
    """The fields of the ``101`` answer over HTTP/1.1 (see :func:`negotiate`)."""
    headers: Headers = [
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-accept", accept_key(request.key)),
    ]
    return negotiate(request, subprotocol, extra, deflate, headers)


def negotiate(
    request: WebSocketRequest,
    subprotocol: Optional[str],
    extra: Sequence[Tuple[bytes, bytes]],
    deflate: Optional[PerMessageDeflate],
    headers: Optional[Headers] = None,
) -> Headers:
    """The accepting answer's subprotocol and extension fields, then the application's
    ``extra`` fields (except those already set), after ``headers``. ``deflate`` (if
    the client offered it and it is enabled here) is configured by the negotiation."""
    headers = [] if headers is None else headers
    if subprotocol is not None:
        headers.append((b"sec-websocket-protocol", subprotocol.encode("latin-1")))
    if deflate is not None:
        for offer in request.extensions:
            if offer.split(";", 1)[0].strip() != deflate.name:
                continue
            accepted = deflate.accept(offer)
            if accepted is not None:
                value = f"{deflate.name}; {accepted}" if accepted else deflate.name
                headers.append((b"sec-websocket-extensions", value.encode("latin-1")))
                break
    ours = {name for name, _ in headers}
    headers += [(name, value) for name, value in extra if name not in ours]
    return headers
