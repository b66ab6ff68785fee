"""The events of a WebSocket session (:class:`pyre.protocol.ws.WSSession`), one set of
classes for both of its twins (the pure ``session`` and the compiled ``_session_c``)."""

from __future__ import annotations

from typing import Union

__all__ = ["CloseReceived", "Event", "PongReceived"]


class CloseReceived:
    """The connection is closing. ``local``: we closed it for the peer's fault (the
    close frame is queued, nothing more will be read); otherwise the peer sent a close
    frame (answered, when it started the handshake) or answered ours."""

    __slots__ = ("code", "reason", "local")

    def __init__(self, code: int, reason: str, local: bool) -> None:
        self.code = code
        self.reason = reason
        self.local = local

    def __repr__(self) -> str:
        return f"CloseReceived({self.code}, {self.reason!r}, local={self.local})"


class PongReceived:
    """The peer answered a ping (or sent an unsolicited pong)."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload


# A message is its data (``str`` for text, ``bytes`` for binary), without a wrapper:
# the common event costs no object of its own.
Event = Union[str, bytes, CloseReceived, PongReceived]
