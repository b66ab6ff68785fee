"""Sans-IO WebSocket for the server side (RFC 6455, RFC 7692), on the ``wsproto`` library.

``handshake.py`` checks an upgrade request and builds the ``101`` answer (or the
``400``/``426`` refusal); ``session.py`` turns received bytes into whole messages
(each one its data) and close events and queues frames, with a bound on message size that also holds
for compressed messages. Neither reads a clock nor does I/O.
"""

from .handshake import (
    HandshakeError,
    WebSocketRequest,
    accept_headers,
    check_connect,
    check_upgrade,
    is_websocket_upgrade,
    negotiate,
)
from .session import CloseReceived, Event, PongReceived, WSSession

__all__ = [
    "CloseReceived",
    "Event",
    "HandshakeError",
    "PongReceived",
    "WSSession",
    "WebSocketRequest",
    "accept_headers",
    "check_connect",
    "check_upgrade",
    "is_websocket_upgrade",
    "negotiate",
]
