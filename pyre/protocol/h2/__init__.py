"""Sans-IO HTTP/2 for the server side (RFC 9113, RFC 7541), Pyre's own.

``H2Session`` turns received bytes into the events of ``events.py`` and responses
into frames; it reads no clock (the caller passes ``now``) and does no I/O, so the
asyncio transport owns sockets and timing and the session is unit-tested alone.
``H2Settings`` holds what a connection advertises and the limits that protect it.
"""

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
from .session import PREFACE, H2Session
from .settings import H2Settings

__all__ = [
    "ConnectionEnded",
    "DataReceived",
    "Event",
    "H2Session",
    "H2Settings",
    "PREFACE",
    "PingAcked",
    "RequestReceived",
    "StreamEnded",
    "StreamReset",
    "TrailersReceived",
    "WindowUpdated",
]
