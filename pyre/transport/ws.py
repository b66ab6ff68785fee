"""WebSocket over HTTP/1.1: the connection after an ``Upgrade: websocket`` request.

``switch_to_ws`` is called by either HTTP/1.1 connection twin for a request that asks
for WebSocket: it checks the handshake (a bad one is answered ``400`` or ``426`` and
closed, the application never called), takes the transport over with a
``WSProtocol`` and starts the application with a ``websocket`` scope. Frames are the
sans-IO session's business (:mod:`pyre.protocol.ws`); the ASGI side is
:class:`pyre.asgi.websocket.WebSocketCycle`.

Flow control: ``send()`` waits while the socket's write buffer is above its
high-water mark; reading stops while the application has ``ws_max_queue`` messages
unread; a peer that reads nothing for ``--timeout-send`` while ``send()`` waits (or
while the connection closes with output queued) is aborted, and the waiting
``send()`` raises ``ClientDisconnected``. Keep-alive: a peer silent for
``ws_ping_interval`` is pinged and, if the pong does not come within
``ws_ping_timeout``, closed with 1011. Shutdown closes
open WebSockets with 1012 (service restart) and waits for the closing handshake.

Access log: the handshake is one request for ``ServerContext.request_done`` (protocol
"WebSocket"), reported when it is answered: the ``101``, a refusal (403, 500, or 400/426
for a bad handshake) or, once complete, a denial response (its body bytes counted; no
request body bytes: a handshake has no body, and frames are not counted).

A pure-mode twin: this module is the pure-Python twin, and setup.py (PURE_MODE)
compiles it as ``pyre.transport._ws_c``, typed by ``_ws_c.pxd`` (the connection's
fields C slots of ``_WSBase``; it makes the compiled cycle and session and calls them in
C, and the cycle calls it back through ``WS_STREAM_CALLS``); pyre/_accel.py chooses, and
both HTTP/1.1 connection twins upgrade through its ``switch_to_ws``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, List, Optional, Tuple, Union

from pyre.asgi.http import ClientDisconnected, run_asgi
from pyre.asgi.scope import ConnectionInfo, websocket_scope
from pyre.protocol.h1.writer import (
    FRAME_CHUNKED,
    InvalidResponse,
    encode_head,
    encode_simple_response,
    reason_phrase,
    status_line,
)
from pyre.protocol.h1.framing import CHUNKED
from pyre.protocol.ws import CloseReceived, HandshakeError, PongReceived, WSSession
from pyre.protocol.ws.handshake import WebSocketRequest, accept_headers, check_upgrade
from pyre.protocol.ws.deflate import PerMessageDeflate
from pyre.transport.context import SendWatch, ServerContext
from pyre.transport.tasks import start_task

if TYPE_CHECKING:
    from pyre.asgi.websocket import WebSocketCycle
else:  # the compiled twin when built (pyre._accel chooses)
    from pyre._accel import WebSocketCycle

try:
    import cython  # type: ignore[import-untyped,import-not-found,unused-ignore]

    COMPILED: bool = cython.compiled
except ImportError:  # pragma: no cover - Cython is a build dependency only
    COMPILED = False

__all__ = ["WSProtocol", "switch_to_ws"]

logger = logging.getLogger("pyre.error")

_CORK_LIMIT = 65536  # bytes of frames held back for one write
CLOSE_TIMEOUT = 5.0  # how long to wait for the peer's answer to our close frame
SERVICE_RESTART = 1012  # the close code of a graceful shutdown
_INTERNAL_ERROR = 1011

_CONNECTING, _OPEN, _CLOSING, _DONE = 0, 1, 2, 3


def _client_text(info: ConnectionInfo) -> str:
    client = info.client
    return f"{client[0]}:{client[1]}" if client else "-"


def switch_to_ws(ctx: ServerContext, transport: asyncio.BaseTransport, info: ConnectionInfo, request: Any,
                 trailing_data: bytes) -> None:
    """Take an HTTP/1.1 connection over for a WebSocket upgrade request (see the module)."""
    headers = list(request.headers)
    try:
        handshake = check_upgrade(request.method, request.http_version, headers)
    except HandshakeError as exc:
        logger.info("Invalid WebSocket handshake from %s: %s", info.client, exc.reason)
        lines = b"".join(name + b": " + value + b"\r\n" for name, value in exc.headers)
        body = f"{reason_phrase(exc.status) or 'Error'}: {exc.reason}\n".encode()
        transport.write(encode_simple_response(exc.status, body, default_lines=ctx.server_line + ctx.date_line + lines))  # type: ignore[attr-defined]
        transport.close()
        if ctx.wants_requests():
            ctx.request_done(True, request.http_version, _client_text(info), request.method, request.path,
                             request.query, headers, exc.status, len(body), 0, ctx.clock())
        return
    conn = WSProtocol(ctx, transport, info, handshake, trailing_data, request)
    transport.set_protocol(conn)
    scope = websocket_scope(info, request.path, request.query, request.http_version, headers,
                            handshake.subprotocols, ctx.lifespan_state)
    if ctx.proxy is not None:  # the server's --proxy-headers (see ServerContext)
        ctx.proxy.apply(scope)
    conn.start(scope)


class _WSBase:
    """One WebSocket connection over HTTP/1.1; the cycle's :class:`WebSocketStream`
    (a cdef class in the compiled twin: its fields are C slots); ``WSProtocol`` adds
    ``asyncio.Protocol``."""

    def __init__(self, ctx: ServerContext, transport: asyncio.BaseTransport, info: ConnectionInfo,
                 handshake: WebSocketRequest, trailing_data: bytes, request: Any = None) -> None:
        self.ctx = ctx
        self.loop = ctx.loop
        self.transport: Optional[asyncio.BaseTransport] = transport
        self.info = info
        self.handshake = handshake
        self.phase = _CONNECTING
        self.deadline = 0.0
        self.cycle: Optional[WebSocketCycle] = None
        self.session: Optional[WSSession] = None
        self._pending = bytearray(trailing_data)  # read before the app accepted
        self._read_paused = False
        self.write_paused = False  # (a WebSocketStream attribute: the transport asked us to pause)
        # Settings read per message, copied from ctx once.
        self._max_queue = ctx.ws_max_queue
        self._ping_interval = ctx.ws_ping_interval
        self._drain_waiters: List[asyncio.Future] = []
        # --timeout-send: while send() waits for the peer to read, or the connection
        # closes with output queued; checked at every tick (it takes the deadline over).
        self._send_watch: Optional[SendWatch] = None
        self._ping_outstanding = False
        self._deny_chunked = False
        self._flush_scheduled = False
        # The application took a message and has sent nothing since: its next send is
        # the reply (see send_message).
        self._replying = False
        # The handshake is reported to ctx.request_done once answered (accepted, refused
        # or denied), timed from here: the request head was parsed just before.
        self._request = request
        self._track = request is not None and ctx.wants_requests()
        self._t0 = ctx.clock() if self._track else 0.0
        self._deny_status = 0  # a denial response is being sent: its status...
        self._deny_bytes = 0  # ...and its body bytes so far
        ctx.connections.add(self)
        # Until the application accepts, nothing more is read (and nothing buffered).
        self._pause_reading()

    # -- starting ----------------------------------------------------------------------------

    def start(self, scope: dict) -> None:
        if COMPILED:  # the compiled cycle, which calls this connection in C (and it, the cycle)
            self.cycle = CWebSocketCycle(scope, self)  # noqa: F821
            self.cycle.stream_calls = cython.address(WS_STREAM_CALLS)  # noqa: F821
        else:
            self.cycle = WebSocketCycle(scope, self)
        cycle = self.cycle
        task = start_task(self.loop, run_asgi(self.ctx.app, cycle, self.ctx.tasks))  # type: ignore[arg-type]
        if not task.done():
            cycle.task = task
            self.ctx.tasks.add(task)

    # -- asyncio.Protocol --------------------------------------------------------------------

    def data_received(self, data: Optional[bytes]) -> None:
        """Frames in (also, with ``b""``, the frames held back while the application's
        queue was full; ``None``: the end of the stream)."""
        session = self.session
        if session is None:
            if data:
                self._pending += data
            return
        cycle = self.cycle
        assert cycle is not None
        # At EOF everything left is delivered; otherwise no more than the queue has room for.
        events = session.receive_data(data, None if data is None else self._max_queue - cycle.queued)
        interval = self._ping_interval
        if interval and self.phase == _OPEN:
            self._ping_outstanding = False
            if self._send_watch is None:  # (while it is set, the deadline is its checks)
                self.deadline = self.loop.time() + interval  # the peer is alive
        for event in events:
            if type(event) is str or type(event) is bytes:  # a message
                cycle.feed_message(event)
            elif type(event) is PongReceived:
                self._ping_outstanding = False
            elif type(event) is CloseReceived:
                cycle.disconnect(event.code, event.reason)
                self._flush()
                if event.local:
                    logger.info("WebSocket from %s closed with %d: %s", self.info.client, event.code, event.reason)
                # Either way the closing handshake is over for us: the server closes TCP first.
                self._close_transport()
                return
        if session.out:  # pongs
            self._flush()
        if data is None:  # EOF without a close frame
            cycle.disconnect(1006, "")
            self._close_transport()
            return
        if session.backlog:
            self._pause_reading()  # the application has ws_max_queue messages unread

    def eof_received(self) -> Optional[bool]:
        if self.session is not None:
            self.data_received(None)
        return False

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.phase = _DONE
        self.transport = None
        self.write_paused = False
        self.deadline = 0.0
        self._send_watch = None
        self.ctx.connections.discard(self)
        if self._deny_status:
            self._report(self._deny_status, self._deny_bytes)  # a denial cut short
        if self.cycle is not None:
            self.cycle.disconnect(1006, "")
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._drain_waiters = []

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._drain_waiters = []
        if self._send_watch is not None and self.phase == _OPEN:
            self._send_watch = None  # the peer reads: back to the keep-alive pings
            interval = self.ctx.ws_ping_interval
            self.deadline = self.loop.time() + interval if interval else 0.0

    # -- frames in ---------------------------------------------------------------------------

    def message_taken(self) -> None:
        # The application's next send is the reply (see send_message).
        self._replying = True
        session = self.session
        if (self._read_paused or (session is not None and session.backlog)) and self.phase != _DONE:
            self._read_on(session)

    def _read_on(self, session: Optional[WSSession]) -> None:
        """The application took a message: read what was held back, and resume reading."""
        if session is None or self.cycle is None:
            return
        if session.backlog:
            if self.cycle.queued < self._max_queue:
                self.data_received(b"")
        if not session.backlog and self._read_paused and self.phase != _CONNECTING:
            self._resume_reading()

    # -- WebSocketStream ---------------------------------------------------------------------

    async def drain(self) -> None:
        if not self.write_paused:
            return
        waiter = self.loop.create_future()
        self._drain_waiters.append(waiter)
        if self._send_watch is None and self.phase == _OPEN:
            self._watch_send()  # the application waits for its peer to read
        await waiter
        if self.transport is None:
            raise ClientDisconnected("the WebSocket is closed")

    def accept(self, subprotocol: Optional[str], headers: List[Tuple[bytes, bytes]]) -> None:
        if self.transport is None:
            return
        ctx = self.ctx
        deflate = PerMessageDeflate(ctx.ws_max_size) if ctx.ws_per_message_deflate else None
        fields = accept_headers(self.handshake, subprotocol, headers, deflate)
        head = [status_line(101), ctx.server_line, ctx.date_line, ctx.extra_lines]
        head += [name + b": " + value + b"\r\n" for name, value in fields]
        head.append(b"\r\n")
        self.transport.write(b"".join(head))  # type: ignore[attr-defined]
        self._report(101, 0)
        deflate = deflate if deflate is not None and deflate.enabled() else None
        # The compiled session when compiled: this connection calls it in C.
        self.session = CWSSession(ctx.ws_max_size, deflate) if COMPILED else WSSession(ctx.ws_max_size, deflate)  # noqa: F821
        self.phase = _OPEN
        if ctx.ws_ping_interval:
            self.deadline = self.loop.time() + ctx.ws_ping_interval
        if ctx.shutting_down:
            self.close(SERVICE_RESTART, "server shutting down")
            return
        pending = bytes(self._pending)
        self._pending = bytearray()
        self._resume_reading()
        if pending:
            self.data_received(pending)

    def send_message(self, data: Union[str, bytes]) -> None:
        session = self.session
        if session is None or self.transport is None:
            return
        # Corked: what the application sends in one step (and the answers to one read)
        # leaves in one write at the end of this loop iteration, not one write per message.
        # But the reply to the last message received, with no other message waiting, goes
        # now, with whatever is corked: a chat-like peer waits for it, and so the loop
        # needs no extra turn (a call_soon) per message. Answers to several messages of
        # one read still share one write (the last answer carries them).
        if self._replying:
            self._replying = False
            cycle = self.cycle
            if cycle is not None and not cycle.queued:
                self._flush_scheduled = False  # (_flush, inline: once per message)
                data = session.data_to_send_with(data)
                if data:
                    self.transport.write(data)  # type: ignore[attr-defined]
                return
        session.send_message(data)
        if len(session.out) >= _CORK_LIMIT:
            self._flush()  # a large step goes out now, so the write buffer's backpressure applies
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def close(self, code: int, reason: str) -> None:
        if self.session is None or self.transport is None or self.phase >= _CLOSING:
            return
        self.session.close(code, reason)
        self._flush()
        self.phase = _CLOSING
        self._send_watch = None  # the close timeout comes first, then the watch of a closing transport
        self.deadline = self.loop.time() + CLOSE_TIMEOUT  # wait for the peer's answer, not forever
        self._resume_reading()

    def reject(self, status: int) -> None:
        if self.transport is None:
            return
        ctx = self.ctx
        body = f"{reason_phrase(status) or 'Error'}\n".encode()
        self._report(status, len(body))
        self.transport.write(encode_simple_response(status, body, default_lines=ctx.server_line + ctx.date_line + ctx.extra_lines))  # type: ignore[attr-defined]
        self._close_transport()

    def deny_start(self, status: int, headers: List[Tuple[bytes, bytes]]) -> None:
        if self.transport is None:
            return
        ctx = self.ctx
        try:
            head, framing, _, _ = encode_head(status, headers, http11=True, head_request=False, keep_alive=False,
                                              server_line=ctx.server_line, date_line=ctx.date_line,
                                              extra_lines=ctx.extra_lines)
        except InvalidResponse as exc:
            raise RuntimeError(f"websocket.http.response.start: {exc}") from None
        self._deny_chunked = framing == FRAME_CHUNKED
        self._deny_status = status  # reported when the denial is complete
        self.transport.write(head)  # type: ignore[attr-defined]

    def deny_body(self, body: bytes, more_body: bool) -> None:
        if self.transport is None:
            return
        if self._deny_chunked:
            data = CHUNKED.frame(body, not more_body, 0)
        else:
            data = body
        if data:
            self.transport.write(data)  # type: ignore[attr-defined]
        self._deny_bytes += len(body)
        if not more_body:
            self._report(self._deny_status, self._deny_bytes)
            self._close_transport()

    def abort(self) -> None:
        if self._deny_status:
            self._report(self._deny_status, self._deny_bytes)  # a denial the app left unfinished
        if self.transport is not None:
            self.transport.abort()

    # -- timeouts and shutdown -----------------------------------------------------------------

    def on_timeout(self) -> None:
        watch = self._send_watch
        if watch is not None:
            now = self.loop.time()
            if watch.stalled(now, self.ctx.timeout_send):
                self._cut_off()
            else:
                self.deadline = now  # checked again at the next tick
            return
        if self.phase == _CLOSING:
            self._close_transport()  # the peer never answered our close frame
            return
        if self.phase != _OPEN or self.session is None:
            self.deadline = 0.0
            return
        if self._ping_outstanding:
            logger.info("WebSocket from %s did not answer a ping: closed", self.info.client)
            if self.cycle is not None:
                self.cycle.disconnect(_INTERNAL_ERROR, "keep-alive ping timeout")
            self.session.close(_INTERNAL_ERROR, "keep-alive ping timeout")
            self._flush()
            self._close_transport()
            return
        self._ping_outstanding = True
        self.session.ping(b"pyre")
        self._flush()
        self.deadline = self.loop.time() + (self.ctx.ws_ping_timeout or CLOSE_TIMEOUT)

    def gauges(self) -> Tuple[int, int]:
        """The metrics' sample (see ``pyre.transport.context.Connection``): no HTTP/2
        stream, and one WebSocket once accepted (until the connection is gone)."""
        return (0, 0) if self.session is None else (0, 1)

    def shutdown(self) -> None:
        """Graceful shutdown: close an open WebSocket with 1012 (service restart)."""
        if self.phase == _OPEN:
            self.close(SERVICE_RESTART, "server shutting down")

    # -- helpers -------------------------------------------------------------------------------

    def _report(self, status: int, nbytes: int) -> None:
        """Hand the handshake to ``ctx.request_done`` (access log, observers), once."""
        if not self._track:
            return
        self._track = False
        self._deny_status = 0
        request = self._request
        self.ctx.request_done(True, request.http_version, _client_text(self.info), request.method, request.path,
                              request.query, request.headers, status, nbytes, 0, self._t0)

    def _flush(self) -> None:
        self._flush_scheduled = False
        session = self.session
        if session is not None and session.out and self.transport is not None:
            self.transport.write(session.data_to_send())  # type: ignore[attr-defined]

    def _pause_reading(self) -> None:
        if not self._read_paused and self.transport is not None:
            self._read_paused = True
            self.transport.pause_reading()  # type: ignore[attr-defined]

    def _resume_reading(self) -> None:
        if self._read_paused and self.transport is not None:
            self._read_paused = False
            self.transport.resume_reading()  # type: ignore[attr-defined]

    def _close_transport(self) -> None:
        self.deadline = 0.0
        self.phase = _DONE
        transport = self.transport
        if transport is not None:
            transport.close()
            if transport.get_write_buffer_size():
                # The transport closes once the peer has read the rest: bounded by
                # --timeout-send, or a peer that never reads keeps the socket.
                if self._send_watch is None:
                    self._watch_send()
                else:
                    self.deadline = self.loop.time()

    def _watch_send(self) -> None:
        """Start --timeout-send: checked at every tick from now on."""
        now = self.loop.time()
        self._send_watch = SendWatch(self.transport, now)
        self.deadline = now

    def _cut_off(self) -> None:
        """--timeout-send expired: drop the connection and what is queued for it."""
        logger.debug("WebSocket peer %s read nothing for %g s (--timeout-send): connection aborted",
                     _client_text(self.info), self.ctx.timeout_send)
        self._send_watch = None
        self.deadline = 0.0
        self.phase = _DONE
        if self.cycle is not None:
            self.cycle.disconnect(1006, "")
        if self.transport is not None:
            self.transport.abort()


# What the compiled cycle calls (pyre.asgi._websocket_c's WSStreamCalls): this
# connection's methods in C. Called through the class, a cpdef method is called in C
# without the check for a Python override (WSProtocol, its Python subclass, overrides none).


def _send_message_of(conn: Any, data: Any) -> None:
    _WSBase.send_message(cython.cast(_WSBase, conn), data)


def _message_taken_of(conn: Any) -> None:
    _WSBase.message_taken(cython.cast(_WSBase, conn))


def _write_paused_of(conn: Any) -> bool:
    return cython.cast(_WSBase, conn).write_paused


if COMPILED:
    WS_STREAM_CALLS.send_message = _send_message_of  # noqa: F821
    WS_STREAM_CALLS.message_taken = _message_taken_of  # noqa: F821
    WS_STREAM_CALLS.write_paused = _write_paused_of  # noqa: F821


class WSProtocol(_WSBase, asyncio.Protocol):
    """One WebSocket connection over HTTP/1.1; the cycle's :class:`WebSocketStream`."""

    KIND = "websocket"  # see pyre.transport.context.Connection
