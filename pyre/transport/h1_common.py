"""The half of an HTTP/1.1 connection that is not on a request's hot path, written once.

``pyre.transport.h1.H1Protocol`` and its compiled build ``pyre.transport._h1_c.H1Protocol``
both inherit :class:`H1Common`. ``pyre/transport/h1.py`` is the per-request path (reading,
dispatch, the scope, the head, body framing, corked writes, keep-alive), which Cython
compiles to C calls between typed fields; everything else is here, plain Python in
both builds:
the end of a connection and half-close, write back-pressure, upgrades to WebSocket
and HTTP/2, error responses, timeouts and graceful shutdown, ``pathsend``, ``100
Continue``, the access-log report. See "The compiled HTTP/1.1 connection" in
docs/architecture.md.

These methods read and write the connection's attributes by name: a twin keeps them
(the compiled one as ``public`` attributes of its ``cdef class``) and provides
``_emit``, ``_flush``, ``send_body`` and ``resume_reading``, the hot methods they call.

Connection phases and their deadlines (checked by ``ServerContext.tick``):

- IDLE: waiting for the first byte of a request; ``--timeout-keep-alive``.
- HEAD: some bytes of a request head arrived; ``--timeout-request-header`` from the
  first byte, not reset by later bytes (slowloris gets a 408 and is closed).
- BUSY: a request is in flight; a deadline only while the application waits on the
  client: ``--timeout-request-body`` while it waits in ``receive()`` for more of the
  body (the gap between reads, and a body trickled slower than ``MIN_BODY_RATE``: 408
  and close), ``--timeout-send`` while it waits in ``send()`` for the client to read
  (checked at every tick; no progress for that long: the connection is aborted).
- DRAIN: the response ended before a Content-Length request body; the rest of the
  body is read and discarded under the header deadline, so the connection can be kept
  alive without the client seeing a reset.
- CLOSED: closed by the server; while output is still queued, ``--timeout-send``
  bounds how long a client that does not read keeps the socket (then it is aborted).
  Closed while the client may still be sending, the transport goes to a lingering
  close instead (:mod:`pyre.transport.linger`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any, Callable, List, Optional, Sequence, Tuple

from pyre._accel import CHUNKED_WRITER
from pyre.asgi.http import ClientDisconnected, wake
from pyre.protocol.h1.parsing import ParseError, Request
from pyre.protocol.h1.writer import CONTINUE_RESPONSE, FRAME_CHUNKED, FRAME_LENGTH, FRAME_NONE, encode_simple_response, reason_phrase
from pyre.protocol.ws.handshake import is_websocket_upgrade
from pyre.transport.context import MIN_BODY_RATE, SHUTDOWN_GRACE, SendWatch
from pyre.transport.linger import Linger

__all__ = [
    "BUSY", "CLOSED", "CORK_LIMIT", "DRAIN", "FILE_CHUNK", "HEAD", "IDLE", "JOIN_LIMIT",
    "PAUSE_BODY", "PAUSE_PIPELINE", "PIPELINE_BUFFER_LIMIT", "H1Common", "bounded_writelines", "unpaused_writelines",
]

logger = logging.getLogger("pyre.error")

# The connection's phase (its public ``phase`` attribute).
IDLE = 0
HEAD = 1
BUSY = 2
DRAIN = 3
CLOSED = 4

# Why reading is paused (a bit each): the app is not consuming the body, or
# pipelined bytes are piling up while a response is pending.
PAUSE_BODY = 1
PAUSE_PIPELINE = 2

# Unparsed bytes held for pipelined requests before reading pauses.
PIPELINE_BUFFER_LIMIT = 65536
# Queued output up to this size is joined into one write; beyond, writelines.
JOIN_LIMIT = 16384
# Queued output is written at once past this size, whatever else happens. Large: an app
# streaming 64 KiB messages without suspending then leaves in one writev per 512 KiB.
# One write per 64 KiB message sent a full loopback segment (MSS 65,483) plus a 53-byte
# tail segment each time (TCP_NODELAY), twice the kernel's work per byte; 512 KiB took a
# sixth less CPU per MB than 256 KiB, and 1 MiB no less (performance.md, "Request
# bodies"). What is held is bounded: references to at most this many bytes of the app's
# messages, and an app whose transport is paused still waits at every send.
CORK_LIMIT = 524288
# Blocks of a pathsend file where sendfile cannot be used.
FILE_CHUNK = 262144


def unpaused_writelines(version: Tuple[int, ...]) -> Optional[Callable[..., None]]:
    """asyncio's selector ``writelines`` where it never pauses the protocol, else None.

    CPython 3.12.0-3.12.8 and 3.13.0-3.13.1 (gh-127655, CVE-2024-12254): the selector
    transport's ``writelines`` buffers past the high-water mark without calling
    ``pause_writing``, so an app writing to a client that does not read would never wait.
    """
    release = tuple(version[:3])
    if (3, 12, 0) <= release < (3, 12, 9) or (3, 13, 0) <= release < (3, 13, 2):
        from asyncio import selector_events

        transport_class = getattr(selector_events, "_SelectorSocketTransport", None)
        return getattr(transport_class, "writelines", None)
    return None


_UNPAUSED_WRITELINES = unpaused_writelines(sys.version_info)


def bounded_writelines(transport: asyncio.WriteTransport) -> Callable[[Sequence[bytes]], None]:
    """``transport.writelines``, or one joined ``write`` where it skips flow control.

    A wrapped transport that exposes the real bound method (``ProxiedTransport``) is
    seen through.
    """
    writelines = transport.writelines
    unpaused = _UNPAUSED_WRITELINES
    if unpaused is not None and getattr(writelines, "__func__", None) is unpaused:
        write = transport.write
        return lambda parts: write(b"".join(parts))
    return writelines


class H1Common:
    """The methods both HTTP/1.1 connection twins share (see the module's docstring)."""

    KIND = "http/1.1"  # see pyre.transport.context.Connection (no gauges(): no streams, an upgrade hands over)

    __slots__ = ()

    # Declared for type checkers; each twin holds them (slots, or cdef attributes).
    ctx: Any
    loop: Any
    transport: Any
    parser: Any
    info: Any
    cycle: Any
    deadline: float
    phase: int
    write_paused: bool
    _drain_waiter: Any
    _http11: bool
    _expect_continue: bool
    _request: Optional[Request]
    _body_complete: bool
    _body_left: int
    _chunked_request: bool
    _head: Optional[bytes]
    _framing: int
    _remaining: int
    _trailers: bool
    _status: int
    _overflow: bool
    _eof: bool
    _client_text: str
    _out: List[bytes]
    _out_size: int
    _track: bool
    _t0: float
    _bytes_sent: int
    _send_watch: Optional[SendWatch]
    _body_deadline: float
    _body_credit: float
    _body_mark: int
    _body_clock_of: Optional[Request]

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.phase = CLOSED
        self._out = []
        self._out_size = 0
        self.deadline = 0.0
        self._send_watch = None
        self.ctx.connections.discard(self)
        if self.cycle is not None:
            self.cycle.disconnect()
        self._wake_drain()

    def eof_received(self) -> Optional[bool]:
        cycle = self.cycle
        if self.info is not None and self.info.tls is not None:
            # TLS has no half-close: after close_notify the transport shuts down whatever
            # we return (asyncio warns about True); the app sees the disconnect.
            return None
        if cycle is not None and not cycle.response_complete and self.phase == BUSY:
            # Half-close after a complete request: still answer it, then close.
            if not self._body_complete:
                return None  # a truncated request: close; the app sees a disconnect
            self._eof = True
            cycle.input_closed()
            return True
        return None

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake_drain()

    def _upgrade(self, request: Request) -> bool:
        """A request with an ``Upgrade`` field: True when WebSocket or HTTP/2 (h2c) took
        the connection over (or refused the handshake and closed it)."""
        ctx = self.ctx
        if ctx.websocket and is_websocket_upgrade(request.upgrade):
            self._switch_to_ws(request)
            return True
        return bool(ctx.http2) and self._switch_to_h2(request)

    def _on_h2_preface(self) -> None:
        """The HTTP/2 connection preface instead of a request (prior knowledge)."""
        if self.ctx.http2 and self._switch_to_h2(None):
            return
        self._reject(505, "HTTP/2 is not enabled on this server", access_log=False)

    def _switch_to_h2(self, request: Optional[Request]) -> bool:
        """HTTP/2 takes the connection over: after the preface (prior knowledge), or
        for a qualifying ``Upgrade: h2c`` request (which becomes stream 1)."""
        from pyre._accel import switch_to_h2  # only servers that see HTTP/2 load it

        if not switch_to_h2(self.ctx, self.transport, self.info, self.parser.trailing_data, request):
            return False
        self.phase = CLOSED
        self.deadline = 0.0
        self.ctx.connections.discard(self)
        return True

    def _switch_to_ws(self, request: Request) -> None:
        """WebSocket takes the connection over (or refuses the handshake and closes it)."""
        from pyre._accel import switch_to_ws  # only servers that see WebSocket load it

        self.phase = CLOSED
        self.deadline = 0.0
        self.ctx.connections.discard(self)
        switch_to_ws(self.ctx, self.transport, self.info, request, self.parser.trailing_data)

    def _on_parse_error(self, exc: ParseError) -> None:
        logger.warning("Invalid HTTP request from %s: %s", self._client_text, exc.reason)
        self._fail(exc.status, exc.reason, access_log=False)

    def _fail(self, status: int, reason: str, access_log: bool = True, linger: bool = True) -> None:
        """The request cannot go on (a bad or late body, or a bad head): an application
        running for it sees a disconnect; the client gets ``status`` unless part of the
        response is on the wire already; the connection is closed."""
        cycle = self.cycle
        if self.phase == BUSY and cycle is not None:
            cycle.disconnect()
            if self._status and self._head is None:
                self._close(linger)  # part of the response is on the wire already
                return
        self._head = None
        self._reject(status, reason, access_log, linger)

    def _reject(self, status: int, reason: str, access_log: bool = True, linger: bool = True) -> None:
        body = f"{reason_phrase(status) or 'Error'}: {reason}\n".encode("utf-8", "replace")
        self._write_final(status, body, access_log, linger)

    def _write_final(self, status: int, body: bytes, access_log: bool = True, linger: bool = True) -> None:
        """A server-generated response, then close (see ``_close``)."""
        if self.phase == CLOSED or self.transport is None:
            return
        ctx = self.ctx
        self._status = status
        self._bytes_sent = len(body)
        self._emit(
            encode_simple_response(status, body, default_lines=ctx.server_line + ctx.date_line + ctx.extra_lines),
            False,
        )
        if access_log and self._track:
            self._request_done()
        self._close(linger)

    def _close(self, linger: bool = True) -> None:
        """Close the connection once the output queued is sent; with ``linger``, a
        client that may still be sending gets a lingering close (see Linger)."""
        if self.phase != CLOSED:
            self._flush()
            linger = linger and self._client_may_send()
            self.phase = CLOSED
            self.deadline = 0.0
            transport = self.transport
            if transport is not None:
                if linger:
                    Linger(self.ctx, self.loop, transport)  # takes the transport over
                    self.connection_lost(None)  # the transport will not call it now
                    return
                transport.close()
                if transport.get_write_buffer_size():
                    # The transport closes once the client has read the rest: bounded
                    # by --timeout-send, or a client that never reads keeps the socket.
                    self._watch_send()

    def _client_may_send(self) -> bool:
        """Whether the client may still be sending: a request head begun, or a request
        body not received in full, and no end of its input seen."""
        phase = self.phase
        return not self._eof and (phase == HEAD or (phase in (BUSY, DRAIN) and not self._body_complete))

    def _cut_off(self) -> None:
        """--timeout-send expired: drop the connection and what is queued for it."""
        logger.debug("Client %s read nothing for %g s (--timeout-send): connection aborted", self._client_text,
                     self.ctx.timeout_send)
        self.phase = CLOSED
        self.deadline = 0.0
        self._send_watch = None
        self._out = []
        self._out_size = 0
        if self.cycle is not None:
            self.cycle.disconnect()
        self.transport.abort()

    def send_trailers(self, headers: List[Any]) -> None:
        if self.phase == CLOSED:
            return
        if self._trailers:
            out = CHUNKED_WRITER.end([(bytes(n), bytes(v)) for n, v in headers])
            if self._head is not None:
                out = self._head + out
                self._head = None
            self._emit(out, True)
        elif self._head is not None:
            self._emit(self._head, True)
            self._head = None

    async def send_file(self, path: str) -> None:
        if not os.path.isabs(path):
            raise ValueError(f"http.response.pathsend path must be absolute, got {path!r}")
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            framing = self._framing
            if framing == FRAME_NONE:
                self.send_body(b"", False)
                return
            count = size
            if framing == FRAME_LENGTH:
                if size != self._remaining:
                    logger.error("pathsend file size %d differs from Content-Length %d; closing", size, self._remaining)
                    self._overflow = True
                count = min(size, self._remaining)
                self._remaining -= count
            self._bytes_sent += count
            head = self._head or b""
            self._head = None
            if framing == FRAME_CHUNKED:
                head += CHUNKED_WRITER.file_head(count)
            if head:
                self._emit(head, False)
            self._flush()  # the file goes straight to the socket, after what is queued
            await self._send_file_body(file, count)
            if framing == FRAME_CHUNKED:
                self._emit(CHUNKED_WRITER.file_tail(count), True)

    async def _send_file_body(self, file: Any, count: int) -> None:
        """Write ``count`` bytes of ``file``: zero-copy where the socket allows it."""
        if not count or self.phase == CLOSED:
            return
        transport = self.transport
        if transport.get_extra_info("sslcontext") is None:
            # Not loop.sendfile: a client that stops reading would hold it (and the
            # app's send) for ever, out of --timeout-send's sight, which needs the wait
            # to be a drain, and an abort to end it.
            sock = transport.get_extra_info("socket")
            if sock is not None and hasattr(os, "sendfile"):
                left = await self._sendfile_direct(sock.fileno(), file.fileno(), count)
                if left:
                    logger.error("pathsend file shrank while being sent; closing")
                    self._overflow = True
                return
        # TLS and loops without a socket: read and write in blocks.
        file.seek(0)
        left = count
        while left > 0 and self.phase != CLOSED:
            block = file.read(min(FILE_CHUNK, left))
            if not block:
                break
            left -= len(block)
            transport.write(block)
            if self.write_paused:
                await self.drain()

    async def _sendfile_direct(self, out_fd: int, in_fd: int, count: int) -> int:
        """``os.sendfile`` straight to the socket, only while the transport's own buffer
        is empty, so bytes stay in order; when the socket is full, one block goes
        through the transport instead, with its limits at zero so ``resume_writing``
        fires once all is flushed (the wait is a drain, under --timeout-send)."""
        transport = self.transport
        low, high = transport.get_write_buffer_limits()
        transport.set_write_buffer_limits(high=0, low=0)
        offset, left = 0, count
        try:
            while left > 0 and self.phase != CLOSED:
                if self.write_paused or transport.get_write_buffer_size():
                    await self.drain()
                    continue
                try:
                    sent = os.sendfile(out_fd, in_fd, offset, left)
                except BlockingIOError:
                    block = os.pread(in_fd, min(FILE_CHUNK, left), offset)
                    if not block:
                        break
                    transport.write(block)
                    sent = len(block)
                except OSError as exc:  # the peer went away; connection_lost follows
                    logger.debug("sendfile failed: %r", exc)
                    self._close(False)
                    return 0
                if sent == 0:
                    break  # end of file before count
                offset += sent
                left -= sent
        finally:
            if self.phase != CLOSED:
                transport.set_write_buffer_limits(high=high, low=low)
        return left

    async def drain(self) -> None:
        self._flush()
        if not self.write_paused or self.phase == CLOSED:
            return
        waiter = self._drain_waiter
        if waiter is None or waiter.done():
            waiter = self._drain_waiter = self.loop.create_future()
            if self.phase == BUSY:
                self._watch_send()  # the application waits for its client to read
        await waiter
        if self.phase == CLOSED:
            raise ClientDisconnected("client disconnected")

    def _wake_drain(self) -> None:
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            wake(waiter)
        if self._send_watch is not None and self.phase != CLOSED:
            self._send_watch = None  # the client read enough (a closing connection: all)
            if self.phase == BUSY:
                self._set_busy_deadline()

    def _watch_send(self) -> None:
        """Start --timeout-send: checked at every tick from now on."""
        now = self.loop.time()
        self._send_watch = SendWatch(self.transport, now)
        self.deadline = now

    def waiting_for_body(self, waiting: bool) -> None:
        """The application starts (True) or stops (False) waiting in ``receive()`` for
        more of the request body: --timeout-request-body runs only meanwhile."""
        if not waiting:
            if self._body_deadline:
                self._body_credit = self._body_time(self._body_deadline - self.loop.time())
                self._body_deadline = 0.0
                if self.phase == BUSY:
                    self._set_busy_deadline()
            return
        if self.phase != BUSY:
            return
        if self._body_clock_of is not self._request:  # the first wait of this request
            self._body_clock_of = self._request
            self._body_credit = self.ctx.timeout_request_body
            self._body_mark = self._body_left
        self._body_deadline = self.loop.time() + self._body_time(self._body_credit)
        self._set_busy_deadline()

    def _body_time(self, left: float) -> float:
        """Seconds left on the body clock: ``left``, plus what the body bytes received
        since the last call earned (1/MIN_BODY_RATE s each), at most the timeout."""
        received = self._body_mark - self._body_left
        self._body_mark = self._body_left
        return min(left + received / MIN_BODY_RATE, self.ctx.timeout_request_body)

    def _set_busy_deadline(self) -> None:
        """BUSY's deadline: the next tick while --timeout-send is watched, else the end of
        the body clock while the application waits for the body, else none."""
        self.deadline = self.loop.time() if self._send_watch is not None else self._body_deadline

    def send_continue(self) -> None:
        if self._expect_continue and self._http11 and self.phase == BUSY and not self._status:
            self._emit(CONTINUE_RESPONSE, False)
            self._flush()  # the client waits for it before sending the body
        self._expect_continue = False

    def _end_short_response(self) -> None:
        """The app ended a response before its Content-Length: close the connection."""
        logger.error("Response content shorter than Content-Length; closing the connection")
        if self._track:
            self._request_done()
        self._close()

    def _drain_request_body(self) -> None:
        """The response ended before the request body: read and discard the rest of a
        Content-Length body (DRAIN), or close for a chunked one."""
        # A response that promised keep-alive keeps it even if a shutdown began meanwhile:
        # the client may already be sending its next request (see _next_request).
        # Closing with body bytes unread makes the kernel answer them with a reset, which
        # can destroy the response before a client that sends its whole body first
        # (httpx's AsyncClient) reads it: so a body of any length is discarded, bounded
        # by the header deadline, as uvicorn (unbounded) and nginx's lingering close do.
        if self._chunked_request:
            self._close()
            return
        self.phase = DRAIN
        self.deadline = self.loop.time() + self.ctx.timeout_request_header
        self.resume_reading()

    def send_error_response(self, status: int) -> None:
        self._write_final(status, f"{reason_phrase(status) or 'Error'}\n".encode())

    def abort(self) -> None:
        if self._head is not None and self.phase != CLOSED:
            # Nothing reached the wire yet: a clean 500 is still possible.
            self._head = None
            self.send_error_response(500)
        else:
            self._close()

    def on_timeout(self) -> None:
        phase = self.phase
        if phase == HEAD:
            logger.debug("Request head from %s not received in time", self._client_text)
            self._write_final(408, b"Request Timeout\n", access_log=False, linger=False)
        elif phase in (IDLE, DRAIN):
            self._close(False)  # a client too slow to finish its body has had its time
        elif phase == BUSY:
            now = self.loop.time()
            watch = self._send_watch
            if watch is not None and watch.stalled(now, self.ctx.timeout_send):
                self._cut_off()
                return
            if self._body_deadline:
                left = self._body_time(self._body_deadline - now)
                if left <= 0.0:
                    logger.debug("Request body from %s not received in time", self._client_text)
                    self._body_deadline = 0.0
                    # A client that sent nothing for that long gets no lingering close.
                    self._fail(408, "request body not received in time", linger=False)
                    return
                self._body_deadline = now + left
            self._set_busy_deadline()
        else:  # closed, with output queued
            now = self.loop.time()
            watch = self._send_watch
            if watch is None:
                self.deadline = 0.0
            elif watch.stalled(now, self.ctx.timeout_send):
                self._cut_off()
            else:
                self.deadline = now  # checked again at the next tick

    def shutdown(self) -> None:
        """Graceful shutdown: stop keeping the connection alive, without losing a request.

        A request in flight is answered with ``Connection: close``, then the connection
        closes. One without a request in flight closes once it has had none for
        :data:`SHUTDOWN_GRACE` seconds (or at its keep-alive deadline, if sooner): at
        once if it has been idle that long already; otherwise a request on its way is
        still answered, with ``Connection: close``. A request head arriving, or the
        rest of a body being read and discarded after an early response, gets the same
        grace from now."""
        phase = self.phase
        now = self.loop.time()
        if phase == IDLE:
            # Idle since its keep-alive deadline was set: when it was accepted, or when
            # its last response ended.
            deadline = self.deadline - self.ctx.timeout_keep_alive + SHUTDOWN_GRACE
        elif phase in (HEAD, DRAIN):
            deadline = now + SHUTDOWN_GRACE
        else:
            return  # a request in flight (answered with Connection: close), or closed
        if deadline < self.deadline:
            self.deadline = deadline
        if self.deadline <= now:
            self.on_timeout()

    def _request_done(self) -> None:
        """Report the request to ``ctx.request_done`` (access log, observers): once."""
        self._track = False
        request = self._request
        if request is not None:
            # The body bytes received so far, from the count every Body event already
            # keeps (_body_left starts at the Content-Length, or 0 when chunked, and goes
            # down by each event's size): nothing added per body event.
            received = (request.content_length if request.content_length > 0 else 0) - self._body_left
            self.ctx.request_done(False, request.http_version, self._client_text, request.method, request.path,
                                  request.query, request.headers, self._status, self._bytes_sent, received,
                                  self._t0)
