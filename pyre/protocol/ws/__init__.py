"""Sans-IO WebSocket for the server side (RFC 6455, RFC 7692), on the ``wsproto`` library.

``handshake.py`` checks an upgrade request and builds the ``101`` answer (or the
``400``/``426`` refusal); ``session.py`` turns received bytes into whole messages
(each one its data) and close events and queues frames, with a bound on message size that also holds
for compressed messages. Neither reads a clock nor does I/O.
"""

from typing import TYPE_CHECKING

from .events import CloseReceived, Event, PongReceived
from .handshake import (
    HandshakeError,
    WebSocketRequest,
    accept_headers,
    check_connect,
    check_upgrade,
    is_websocket_upgrade,
    negotiate,
)

if TYPE_CHECKING:
    from .session import WSSession
else:  # the compiled twin when built (pyre._accel chooses)
    from pyre._accel import WSSession

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
