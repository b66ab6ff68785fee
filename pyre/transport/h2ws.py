"""WebSocket over HTTP/2 (RFC 8441): an extended CONNECT stream carrying WebSocket frames.

When the HTTP/2 session has announced SETTINGS_ENABLE_CONNECT_PROTOCOL, a request
``:method CONNECT`` with ``:protocol websocket`` opens a stream whose DATA frames are
WebSocket frames (masked by the client, exactly as over HTTP/1.1). ``H2WebSocket``
plays two parts: toward the stream (:class:`pyre.transport.h2.H2Stream`) it is the
object that receives the stream's data, like an HTTP cycle; toward the application's
:class:`~pyre.asgi.websocket.WebSocketCycle` it is the ``WebSocketStream``. Frames are
the same sans-IO :class:`~pyre.protocol.ws.WSSession` as over HTTP/1.1, so the limits
and error codes are the same.

Accepting answers ``:status 200`` (no key and no ``Sec-WebSocket-Accept`` in HTTP/2);
refusing is an ordinary response on the stream. Flow control is HTTP/2's: a client
whose application has ``ws_max_queue`` messages unread gets no more window, and
``send()`` waits for window like an HTTP response body. Keep-alive is the HTTP/2
connection's (``--h2-ping-interval``); ``--ws-ping-interval`` applies to HTTP/1.1.

Access log: as over HTTP/1.1, one record (protocol "WebSocket") when the handshake is
answered (``200``), not when the stream ends; refusals and denials are reported by the
stream when their response is complete. Its ``request_bytes`` is 0: the stream's DATA
are WebSocket frames, not a request body.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, List, Optional, Tuple, Union

from pyre.asgi.scope import ConnectionInfo, websocket_scope
from pyre.protocol.ws import CloseReceived, HandshakeError, WSSession
from pyre.protocol.ws.handshake import WebSocketRequest, check_connect, negotiate
from pyre.protocol.ws.deflate import PerMessageDeflate
from pyre.transport.ws import CLOSE_TIMEOUT, SERVICE_RESTART

if TYPE_CHECKING:
    from pyre.asgi.websocket import WebSocketCycle
else:  # the compiled twin when built (pyre._accel chooses)
    from pyre._accel import WebSocketCycle

__all__ = ["H2WebSocket"]

logger = logging.getLogger("pyre.error")


class H2WebSocket:
    """One WebSocket on an HTTP/2 stream: see the module docstring."""

    def __init__(self, stream: Any, ctx: Any, request: WebSocketRequest, scope: dict) -> None:
        self.stream = stream  # the H2Stream
        self.ctx = ctx
        self.request = request
        self.ws = WebSocketCycle(scope, self)
        self.session: Optional[WSSession] = None
        self.task: Any = None
        self._pending: List[bytes] = []
        self._done = False
        self._closing = False
        self._timer: Any = None

    @classmethod
    def start(cls, stream: Any, ctx: Any, info: ConnectionInfo, event: Any) -> Optional["H2WebSocket"]:
        """Check the CONNECT request and build the WebSocket (or answer the stream and return None)."""
        stream.websocket = True  # the access log and observers see a WebSocket handshake
        try:
            request = check_connect(event.headers)
        except HandshakeError as exc:
            logger.info("Invalid WebSocket over HTTP/2 request from %s: %s", info.client, exc.reason)
            stream.send_error_response(400)
            return None
        scope = websocket_scope(info, event.path, event.query_string, "2", event.headers,
                                request.subprotocols, ctx.lifespan_state)
        if ctx.proxy is not None:  # the server's --proxy-headers (see ServerContext)
            ctx.proxy.apply(scope)
        return cls(stream, ctx, request, scope)

    # -- what the H2Stream calls (its "cycle") ------------------------------------------------

    @property
    def response_complete(self) -> bool:
        return self._done

    @property
    def disconnected(self) -> bool:
        return self.ws.disconnected

    def feed_body(self, data: bytes) -> None:
        if self.session is None:
            self._pending.append(data)  # bounded by the stream's receive window
            return
        self._feed(data)

    def end_body(self, trailers: Any = None) -> None:
        # The client ended its side of the stream: like a TCP EOF.
        if self.session is not None:
            self._feed(None)
        else:
            self.ws.disconnect(1006, "")

    def disconnect(self) -> None:
        self.ws.disconnect(1006, "")
        self._finish()

    def _feed(self, data: Optional[bytes]) -> None:
        session = self.session
        assert session is not None
        for event in session.receive_data(data):
            if type(event) is str or type(event) is bytes:  # a message
                self.ws.feed_message(event)
            elif type(event) is CloseReceived:
                self.ws.disconnect(event.code, event.reason)
                self._flush()
                self._end_stream()
                return
        self._flush()
        if data is None:
            self.ws.disconnect(1006, "")
            self._end_stream()
            return
        if self.ws.queued >= self.ctx.ws_max_queue:
            self.stream.pause_reading()  # no more window for this stream

    # -- WebSocketStream ---------------------------------------------------------------------

    @property
    def write_paused(self) -> bool:
        return self.stream.write_paused

    async def drain(self) -> None:
        await self.stream.drain()

    def message_taken(self) -> None:
        if self.ws.queued < self.ctx.ws_max_queue:
            self.stream.resume_reading()

    def accept(self, subprotocol: Optional[str], headers: List[Tuple[bytes, bytes]]) -> None:
        if self.stream.closed:
            return
        ctx = self.ctx
        deflate = PerMessageDeflate(ctx.ws_max_size) if ctx.ws_per_message_deflate else None
        fields = negotiate(self.request, subprotocol, headers, deflate)
        self.stream.start_response(200, fields, False)
        self.stream.send_body(b"", True)  # the head goes out now
        self.stream.report()  # the handshake is answered: one access record, as over HTTP/1.1
        self.session = WSSession(ctx.ws_max_size, deflate if deflate is not None and deflate.enabled() else None)
        if ctx.shutting_down:
            self.close(SERVICE_RESTART, "server shutting down")
            return
        pending, self._pending = self._pending, []
        if pending:
            self._feed(b"".join(pending))

    def send_message(self, data: Union[str, bytes]) -> None:
        if self.session is not None and not self.stream.closed:
            self.session.send_message(data)
            self._flush()

    def close(self, code: int, reason: str) -> None:
        if self.session is None or self._closing or self.stream.closed:
            return
        self._closing = True
        self.session.close(code, reason)
        self._flush()
        # Wait for the client's close frame, not forever.
        self._timer = self.stream.conn.loop.call_later(CLOSE_TIMEOUT, self._end_stream)

    def shutdown(self) -> None:
        """Graceful server shutdown: close with 1012 (service restart)."""
        if self.session is not None:
            self.close(SERVICE_RESTART, "server shutting down")

    def reject(self, status: int) -> None:
        self.stream.send_error_response(status)
        self._finish()

    def deny_start(self, status: int, headers: List[Tuple[bytes, bytes]]) -> None:
        self.stream.start_response(status, headers, False)

    def deny_body(self, body: bytes, more_body: bool) -> None:
        self.stream.send_body(body, more_body)
        if not more_body:
            self.stream.response_complete()
            self._finish()

    def abort(self) -> None:
        self.stream.abort()
        self._finish()

    # -- helpers -------------------------------------------------------------------------------

    def _flush(self) -> None:
        if self.session is not None:
            data = self.session.data_to_send()
            if data and not self.stream.closed:
                self.stream.send_body(data, True)

    def _end_stream(self) -> None:
        """The closing handshake is over (or timed out): end our side of the stream."""
        if self._done:
            return
        if not self.stream.closed:
            self.stream.send_body(b"", False)
            self.stream.response_complete()
        self._finish()

    def _finish(self) -> None:
        self._done = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
