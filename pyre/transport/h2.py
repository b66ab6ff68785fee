"""HTTP/2 connections: one ``asyncio.Protocol`` per connection, one ASGI cycle per stream.

The byte work and the protocol rules are in the sans-IO session
(:mod:`pyre.protocol.h2`); the ASGI side is the same :class:`~pyre.asgi.http.HTTPCycle`
HTTP/1.1 uses. This module connects them: it feeds the session what the socket
reads, turns its events into cycles and body chunks, and is, per stream, the
:class:`~pyre.asgi.http.ResponseStream` a cycle writes its response through.

Flow control, both ways:

- Request bodies: the session re-grants receive window only when told; a stream
  acknowledges what it passes to its cycle at once, until the cycle holds more than
  its high-water mark unread and asks to pause reading. From then on the stream
  withholds the window, so the client stops sending on it (and only on it) until
  the application has read. What one stream buffers is bounded by the high-water
  mark plus one window.
- Response bodies: ``send_data`` sends what the stream and connection windows allow;
  the rest waits in the stream, and the cycle's ``send()`` waits (``drain``) until
  the client grants window and the transport's buffer is below its high-water mark.

Output is corked like HTTP/1.1's: frames queued while handling one read, or by an
application step, leave in one ``transport.write``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from http import HTTPStatus
from typing import Any, Dict, List, Optional, Tuple

from pyre.asgi.http import HTTPCycle, run_asgi
from pyre.asgi.scope import ConnectionInfo, http_scope
from pyre.protocol.h1.writer import InvalidResponse
from pyre._accel import H2Session, h2_response_head
from pyre.protocol.h2 import (
    PREFACE,
    ConnectionEnded,
    DataReceived,
    H2Settings,
    PingAcked,
    RequestReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)
from pyre.protocol.h2.headers import response_headers, trailer_headers
from pyre.transport.context import ServerContext
from pyre.transport.info import connection_info
from pyre.transport.tasks import start_task

__all__ = ["ALPNSelector", "H2Protocol", "H2Stream", "switch_to_h2"]

logger = logging.getLogger("pyre.error")

# RFC 9113 error codes used here.
NO_ERROR = 0x0
INTERNAL_ERROR = 0x2
REFUSED_STREAM = 0x7

_FILE_CHUNK = 65536
_CORK_LIMIT = 65536  # body bytes queued in the session before they are written at once


def _lines_to_headers(lines: bytes) -> List[Tuple[bytes, bytes]]:
    """``b"server: pyre\\r\\n..."`` (the server's pre-encoded default lines) as pairs."""
    headers = []
    for line in lines.split(b"\r\n"):
        if line:
            name, _, value = line.partition(b":")
            headers.append((name.strip().lower(), value.strip()))
    return headers


def check_response_fields(status: int, headers: Any) -> Tuple[List[Tuple[bytes, bytes]], Optional[int]]:
    """An application's response head as HTTP/2 fields (``:status`` first; names
    lower-cased, connection-specific fields dropped, by the session's own rules in
    :func:`pyre.protocol.h2.headers.response_head`) and its Content-Length, if any.
    Raises :class:`InvalidResponse` for anything that cannot be sent."""
    try:
        return h2_response_head(status, headers)
    except (TypeError, ValueError) as exc:
        raise InvalidResponse(f"invalid response head: {exc}") from None


class H2Stream:
    """One request/response exchange on an HTTP/2 connection: the cycle's ResponseStream."""

    __slots__ = (
        "conn", "stream_id", "cycle", "request", "closed", "_head", "_status", "_no_body",
        "_content_length", "_sent", "_pending", "_pending_size", "_end_after_pending",
        "_trailers_after_pending", "_trailers", "_waiter", "_withheld", "_withholding",
        "_request_complete", "_finished", "_bytes_out", "_bytes_in", "_track", "_t0", "websocket",
    )

    def __init__(self, conn: "H2Protocol", stream_id: int, request: RequestReceived) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.cycle: Optional[HTTPCycle] = None
        self.request = request
        self.closed = False  # reset, or the connection is gone
        self._head: Optional[List[Tuple[bytes, bytes]]] = None  # checked fields, until the first body
        self._status = 0
        self._no_body = False
        self._content_length: Optional[int] = None
        self._sent = 0
        self._pending: List[bytes] = []
        self._pending_size = 0
        self._end_after_pending = False
        self._trailers_after_pending: Optional[List[Tuple[bytes, bytes]]] = None
        self._trailers = False
        self._waiter: Optional[asyncio.Future] = None
        self._withheld = 0
        self._withholding = False
        self._request_complete = request.end_stream
        self._finished = False  # our side of the stream has ended
        self._bytes_out = 0  # response body bytes (for the access log and observers)
        self._bytes_in = 0  # request body bytes (DATA payloads), counted only while tracked
        # Reported to ctx.request_done when the response is complete (timed from now).
        ctx = conn.ctx
        self._track = ctx.wants_requests()
        self._t0 = conn.loop.time() if self._track else 0.0
        self.websocket = False  # set by H2WebSocket: reported as a WebSocket handshake

    # -- the request side, fed by the connection ------------------------------------------

    def data(self, data: bytes, flow_length: int) -> None:
        if self._track:
            self._bytes_in += len(data)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and not cycle.disconnected:
            cycle.feed_body(data)
        if self._withholding:
            self._withheld += flow_length
        else:
            self.conn.session.acknowledge_received(self.stream_id, flow_length)

    def ended(self, trailers: Optional[List[Tuple[bytes, bytes]]] = None) -> None:
        self._request_complete = True
        if self.cycle is not None:
            self.cycle.end_body(trailers)

    def reset(self) -> None:
        """The stream was reset (by the client, or by the session for a client error)."""
        if self.closed:
            return
        self.closed = True
        self._pending = []
        self._pending_size = 0
        self._wake()
        cycle = self.cycle
        if cycle is not None:
            cycle.disconnect()  # receive() returns http.disconnect
            task = cycle.task
            if task is not None and not task.done():
                # After the disconnect is delivered: the app may still clean up on it.
                self.conn.loop.call_soon(task.cancel)
        self.conn.forget(self)

    # -- ResponseStream ---------------------------------------------------------------------

    @property
    def write_paused(self) -> bool:
        return bool(self._pending) or (self.conn.write_paused and not self.closed)

    def start_response(self, status: int, headers: Any, trailers: bool) -> None:
        fields, content_length = check_response_fields(status, headers)
        defaults = self.conn.default_headers(fields)
        if defaults:
            fields[1:1] = defaults
        self._head = fields
        self._status = status
        self._no_body = self.request.method == "HEAD" or status in (204, 304)
        self._content_length = content_length
        self._trailers = bool(trailers)

    def _send_head(self, end_stream: bool) -> None:
        assert self._head is not None
        fields, self._head = self._head, None
        self.conn.session.send_head(self.stream_id, fields, end_stream)
        if end_stream:
            self._finished = True
        self.conn.schedule_flush()

    def send_body(self, data: bytes, more_body: bool) -> None:
        if self.closed:
            return
        if self._no_body:
            data = b""
        limit = self._content_length
        if limit is not None and data and self._sent + len(data) > limit:
            logger.error("Response content longer than Content-Length; truncated and the stream reset")
            data = data[: limit - self._sent]
            self._send_part(data, False)
            self._abort_stream()
            return
        self._sent += len(data)
        end = not more_body and not self._trailers
        if not more_body and limit is not None and self._sent < limit and not self._no_body:
            logger.error("Response content shorter than Content-Length; the stream is reset")
            self._send_part(data, False)
            self._abort_stream()
            return
        self._send_part(data, end)

    def _send_part(self, data: bytes, end: bool) -> None:
        if self._head is not None:
            if not data and end:
                self._send_head(True)
                return
            self._send_head(False)
        if data:
            self._pending.append(data)
            self._pending_size += len(data)
            self._bytes_out += len(data)
        if end:
            self._end_after_pending = True
        self.pump()

    def pump(self) -> None:
        """Send queued body bytes as far as the flow-control windows allow."""
        if self.closed:
            return
        session = self.conn.session
        sid = self.stream_id
        pending = self._pending
        while pending:
            chunk = pending[0]
            last = len(pending) == 1
            end = last and self._end_after_pending and self._trailers_after_pending is None
            sent = session.send_data(sid, chunk, end)
            self.conn.queued += sent
            if sent < len(chunk):
                if sent:
                    pending[0] = chunk[sent:]
                    self._pending_size -= sent
                break
            pending.pop(0)
            self._pending_size -= sent
            if end:
                self._finished = True
        if not pending:
            if self._trailers_after_pending is not None:
                trailers, self._trailers_after_pending = self._trailers_after_pending, None
                session.send_trailers(sid, trailers)
                self._finished = True
            elif self._end_after_pending and not self._finished:
                session.end_stream(sid)
                self._finished = True
            self._wake()
        self.conn.schedule_flush()

    def send_trailers(self, headers: List[Any]) -> None:
        if self.closed:
            return
        try:
            trailers = trailer_headers(headers)
        except (TypeError, ValueError) as exc:
            raise InvalidResponse(f"invalid trailer: {exc}") from None
        if self._head is not None:
            self._send_head(False)
        if not self._trailers:
            self._end_after_pending = True
            self.pump()
            return
        self._trailers_after_pending = trailers
        self.pump()

    async def send_file(self, path: str) -> None:
        if not os.path.isabs(path):
            raise ValueError(f"http.response.pathsend path must be absolute, got {path!r}")
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if self._content_length is not None and size != self._content_length and not self._no_body:
                logger.error("pathsend file size %d differs from Content-Length %d; the stream is reset",
                             size, self._content_length)
                self._abort_stream()
                return
            left = 0 if self._no_body else size
            while left > 0 and not self.closed:
                block = file.read(min(_FILE_CHUNK, left))
                if not block:
                    break
                left -= len(block)
                self.send_body(block, True)
                if self.write_paused:
                    await self.drain()
            self.send_body(b"", False)

    async def drain(self) -> None:
        conn = self.conn
        conn.flush()
        while (self._pending or conn.write_paused) and not self.closed:
            waiter = self._waiter
            if waiter is None or waiter.done():
                waiter = self._waiter = conn.loop.create_future()
            await waiter

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def send_continue(self) -> None:
        pass  # HTTP/2 clients that send "expect: 100-continue" send the body regardless (RFC 9113 8.1)

    def pause_reading(self) -> None:
        self._withholding = True

    def resume_reading(self) -> None:
        self._withholding = False
        withheld, self._withheld = self._withheld, 0
        if withheld and not self.closed:
            self.conn.session.acknowledge_received(self.stream_id, withheld)
            self.conn.schedule_flush()

    def response_complete(self) -> None:
        if self.closed:
            return
        if self._track:
            self.report()
        if not self._request_complete:
            # RFC 9113 8.1: the response is complete; tell the client to stop sending.
            self.conn.session.reset_stream(self.stream_id, NO_ERROR)
            self.conn.schedule_flush()
        self.closed = True
        self.conn.forget(self)

    def report(self) -> None:
        """Hand the request to ``ctx.request_done`` (access log, observers), once: when
        the response is complete, or for a WebSocket when the handshake is answered."""
        if not self._track:
            return
        self._track = False
        conn = self.conn
        request = self.request
        conn.ctx.request_done(self.websocket, "2", conn._client_text, request.method, request.path,
                              request.query_string, request.headers, self._status, self._bytes_out,
                              0 if self.websocket else self._bytes_in, self._t0)

    def send_error_response(self, status: int) -> None:
        if self.closed:
            return
        body = f"{HTTPStatus(status).phrase}\n".encode()
        self._head = None
        self.start_response(status, [(b"content-type", b"text/plain; charset=utf-8"),
                                      (b"content-length", str(len(body)).encode())], False)
        self.send_body(body, False)
        self.response_complete()

    def abort(self) -> None:
        if self._head is not None and not self.closed:
            self._head = None
            self.send_error_response(500)
        else:
            self._abort_stream()

    def _abort_stream(self) -> None:
        if self.closed:
            return
        self.conn.session.reset_stream(self.stream_id, INTERNAL_ERROR)
        self.conn.schedule_flush()
        self.reset()


class H2Protocol(asyncio.Protocol):
    """One HTTP/2 connection (h2c prior knowledge or upgrade, or TLS with ALPN h2)."""

    __slots__ = (
        "ctx", "loop", "transport", "session", "info", "streams", "deadline", "write_paused",
        "_client_text", "_closed", "_closing", "_flush_scheduled", "_in_read", "_defaults_key",
        "_defaults", "queued", "_ping_outstanding",
    )

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.loop = ctx.loop
        self.transport: Optional[asyncio.Transport] = None
        self.session = H2Session(ctx.h2_settings or H2Settings())
        self.info: Optional[ConnectionInfo] = None
        self.streams: Dict[int, H2Stream] = {}
        self.deadline = 0.0
        self.write_paused = False
        self._client_text = "-"
        self._closed = False
        self._closing = False
        self._flush_scheduled = False
        self._in_read = False
        self._defaults_key: Optional[bytes] = None
        self._defaults: List[Tuple[bytes, bytes]] = []
        self.queued = 0  # body bytes framed since the last write
        self._ping_outstanding = False

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """A new connection (TLS with ALPN h2, or cleartext with --http h2)."""
        self.adopt(transport, connection_info(transport, self.ctx.root_path))

    def adopt(self, transport: asyncio.BaseTransport, info: ConnectionInfo, data: bytes = b"",
              upgraded: Optional[RequestReceived] = None) -> None:
        """Take over ``transport`` (also from an HTTP/1.1 connection switching protocols).

        ``data``: bytes already read and not yet parsed (from the client's connection
        preface on). ``upgraded``: for h2c via
        ``Upgrade``, the upgrading request, served as stream 1 (the session was
        initiated with :meth:`prepare_upgrade`).
        """
        self.transport = transport  # type: ignore[assignment]
        self.info = info
        client = info.client
        self._client_text = f"{client[0]}:{client[1]}" if client else "-"
        self.ctx.connections.add(self)
        if upgraded is None:
            self.session.initiate()
        self.deadline = self.loop.time() + self.ctx.timeout_keep_alive
        if upgraded is not None:
            self._on_request(upgraded)
        if data:
            self.data_received(data)
        else:
            self.flush()

    def prepare_upgrade(self, http2_settings: bytes) -> bool:
        """Initiate the session for h2c via ``Upgrade``; False if HTTP2-Settings is malformed."""
        try:
            self.session.initiate_upgrade(http2_settings)
        except ValueError as exc:
            logger.debug("Not upgrading to h2c: %s", exc)
            return False
        return True

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self._closed = True
        self.deadline = 0.0
        self.ctx.connections.discard(self)
        for stream in list(self.streams.values()):
            stream.reset()
        self.streams.clear()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        for stream in list(self.streams.values()):
            stream._wake()

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        self._in_read = True
        now = self.loop.time()
        interval = self.ctx.h2_ping_interval
        if interval is not None and self.streams:
            self.deadline = now + interval  # the peer is alive: the next PING can wait
        trailers: Optional[Dict[int, List[Tuple[bytes, bytes]]]] = None
        try:
            events = self.session.receive_data(data, now)
            for event in events:
                kind = type(event)
                if kind is DataReceived:
                    stream = self.streams.get(event.stream_id)
                    if stream is not None:
                        stream.data(event.data, event.flow_controlled_length)
                    else:
                        self.session.acknowledge_received(event.stream_id, event.flow_controlled_length)
                elif kind is RequestReceived:
                    self._on_request(event)
                elif kind is StreamEnded:
                    stream = self.streams.get(event.stream_id)
                    if stream is not None:
                        stream.ended(trailers.pop(event.stream_id, None) if trailers else None)
                elif kind is WindowUpdated:
                    self._window_updated(event.stream_id)
                elif kind is StreamReset:
                    stream = self.streams.get(event.stream_id)
                    if stream is not None:
                        stream.reset()
                elif kind is TrailersReceived:
                    # Always followed by StreamEnded, which hands them to the cycle.
                    if trailers is None:
                        trailers = {}
                    trailers[event.stream_id] = event.headers
                elif kind is PingAcked:
                    self._ping_outstanding = False
                elif kind is ConnectionEnded:
                    self._connection_ended(event)
                    return
        finally:
            self._in_read = False
            self.flush()

    # -- events ------------------------------------------------------------------------------------

    def _on_request(self, event: RequestReceived) -> None:
        ctx = self.ctx
        ctx.total_requests += 1
        stream = H2Stream(self, event.stream_id, event)
        self.streams[event.stream_id] = stream
        interval = ctx.h2_ping_interval
        self.deadline = 0.0 if interval is None else self.loop.time() + interval
        if self._closing:
            self.session.reset_stream(event.stream_id, REFUSED_STREAM)
            self.streams.pop(event.stream_id, None)
            return
        limit = ctx.limit_concurrency
        if limit is not None and (len(ctx.tasks) >= limit or len(ctx.connections) > limit):
            stream.send_error_response(503)
            return
        assert self.info is not None
        if event.protocol is not None:
            self._on_connect(stream, event)
            return
        scope = http_scope(self.info, event.method, event.path, event.query_string, "2",
                           event.headers, ctx.lifespan_state)
        scope["extensions"]["http.request.trailers"] = {}
        cycle = HTTPCycle(scope, stream, event.end_stream, False)
        stream.cycle = cycle
        task = start_task(self.loop, run_asgi(ctx.app, cycle, ctx.tasks))
        if not task.done():
            cycle.task = task
            ctx.tasks.add(task)

    def _on_connect(self, stream: "H2Stream", event: RequestReceived) -> None:
        """An extended CONNECT (RFC 8441): WebSocket, or 501 for another protocol."""
        ctx = self.ctx
        if event.protocol != "websocket" or not ctx.websocket:
            stream.send_error_response(501)
            return
        from pyre.transport.h2ws import H2WebSocket  # only servers that see WebSocket over HTTP/2 load it

        assert self.info is not None
        ws = H2WebSocket.start(stream, ctx, self.info, event)
        if ws is None:
            return
        stream.cycle = ws  # type: ignore[assignment]
        task = start_task(self.loop, run_asgi(ctx.app, ws.ws, ctx.tasks))  # type: ignore[arg-type]
        if not task.done():
            ws.task = ws.ws.task = task
            ctx.tasks.add(task)

    def _window_updated(self, stream_id: int) -> None:
        if stream_id:
            stream = self.streams.get(stream_id)
            if stream is not None:
                stream.pump()
            return
        for stream in list(self.streams.values()):
            if stream._pending:
                stream.pump()

    def _connection_ended(self, event: ConnectionEnded) -> None:
        if not event.remote and event.error_code:
            logger.warning("HTTP/2 connection from %s ended: %s (error code %#x)",
                           self._client_text, event.reason, event.error_code)
        self._close()

    # -- streams -----------------------------------------------------------------------------------

    def forget(self, stream: H2Stream) -> None:
        if self.streams.get(stream.stream_id) is stream:
            del self.streams[stream.stream_id]
        if not self.streams and not self._closed:
            if self._closing:
                self._close()
            else:
                self.deadline = self.loop.time() + self.ctx.timeout_keep_alive

    def default_headers(self, app_headers: List[Tuple[bytes, bytes]]) -> List[Tuple[bytes, bytes]]:
        """The server's own headers (server, date, --header), unless the app set them."""
        ctx = self.ctx
        key = ctx.server_line + ctx.date_line + ctx.extra_lines
        if key != self._defaults_key:
            self._defaults_key = key
            self._defaults = _lines_to_headers(key)
        if not app_headers:
            return self._defaults
        names = {name for name, _ in app_headers}  # (":status" never matches a default)
        return [pair for pair in self._defaults if pair[0] not in names]

    # -- output ------------------------------------------------------------------------------------

    def schedule_flush(self) -> None:
        if self.queued >= _CORK_LIMIT:
            # Write now: the transport's buffer, not the session's, is what pauses senders.
            self.flush()
            return
        if self._in_read or self._flush_scheduled or self._closed:
            return
        self._flush_scheduled = True
        self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        self.queued = 0
        if self._closed or self.transport is None:
            return
        data = self.session.data_to_send()
        if data:
            self.transport.write(data)

    def _close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._closed = True
        self.deadline = 0.0
        if self.transport is not None:
            self.transport.close()

    # -- timeouts and shutdown -------------------------------------------------------------------------

    def on_timeout(self) -> None:
        """Idle past --timeout-keep-alive: GOAWAY, then close. With streams open and
        --h2-ping-interval set: the peer was silent for that long, so PING it; if the
        PING is still unanswered one interval later, the peer is gone: close."""
        if not self.streams:
            self.session.close(NO_ERROR)
            self._close()
            return
        interval = self.ctx.h2_ping_interval
        if interval is None:
            self.deadline = 0.0
            return
        if self._ping_outstanding:
            logger.info("HTTP/2 peer %s did not answer a PING within %.1f s; closing", self._client_text, interval)
            self._close()
            return
        self._ping_outstanding = True
        self.session.ping()
        self.flush()
        self.deadline = self.loop.time() + interval

    def shutdown(self) -> None:
        """Graceful shutdown: GOAWAY now (in-flight streams finish), close when idle."""
        if self._closed:
            return
        self._closing = True
        for stream in list(self.streams.values()):
            close = getattr(stream.cycle, "shutdown", None)
            if close is not None:
                close()  # a WebSocket: its close frame (1012) goes out before the GOAWAY
        self.flush()
        self.session.close(NO_ERROR)
        if not self.streams:
            self._close()
        else:
            self.flush()


# -- arriving from HTTP/1.1 ---------------------------------------------------------------------

_SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n"
# Fields of the upgrading request that belong to the HTTP/1.1 connection, not to stream 1.
_UPGRADE_ONLY = frozenset((b"connection", b"upgrade", b"http2-settings", b"keep-alive", b"proxy-connection",
                           b"transfer-encoding", b"te"))


def switch_to_h2(ctx: ServerContext, transport: asyncio.BaseTransport, info: ConnectionInfo, data: bytes,
                 request: Any = None) -> bool:
    """Hand an HTTP/1.1 connection over to a new :class:`H2Protocol`.

    Without ``request``: the client sent the HTTP/2 preface (prior knowledge), which
    the HTTP/1.1 parser consumed; ``data`` is what followed it (the session is given
    the preface again). With ``request`` (a
    parsed HTTP/1.1 ``Request`` carrying ``Upgrade: h2c``): if it qualifies (no
    body, cleartext HTTP/1.1, exactly one valid ``HTTP2-Settings``), answer ``101``
    and serve it as stream 1; otherwise return False and let HTTP/1.1 serve it.
    """
    conn = H2Protocol(ctx)
    upgraded = None
    if request is None:
        data = PREFACE + data  # the session checks the whole preface itself
    else:
        tokens = {t.strip().lower() for t in request.upgrade.split(b",")}
        if (b"h2c" not in tokens or info.scheme != "http" or request.http_version != "1.1"
                or request.chunked or request.content_length > 0):
            return False
        settings = [value for name, value in request.headers if name == b"http2-settings"]
        if len(settings) != 1 or not conn.prepare_upgrade(settings[0]):
            return False
        authority = next((value for name, value in request.headers if name == b"host"), None)
        headers = [(name, value) for name, value in request.headers if name not in _UPGRADE_ONLY]
        upgraded = RequestReceived(1, request.method, "http", authority, request.path, request.query, headers,
                                   None, True, None)
        transport.write(_SWITCHING)  # type: ignore[attr-defined]
    transport.set_protocol(conn)
    conn.adopt(transport, info, data, upgraded)
    return True


class ALPNSelector(asyncio.Protocol):
    """For TLS with ``--http auto``: the protocol the client chose by ALPN takes over
    once the handshake is complete (asyncio calls ``connection_made`` after it)."""

    __slots__ = ("ctx", "h1_factory")

    def __init__(self, ctx: ServerContext, h1_factory: Any) -> None:
        self.ctx = ctx
        self.h1_factory = h1_factory

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        chosen = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        protocol = H2Protocol(self.ctx) if chosen == "h2" else self.h1_factory()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
