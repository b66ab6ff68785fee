"""The HTTP/1.1 connection: an ``asyncio.Protocol`` over one transport.

It feeds bytes to the sans-IO parser, turns parser events into ASGI cycles, and is
the :class:`~pyre.asgi.http.ResponseStream` of the request in flight (HTTP/1.1 has
one at a time), writing what :mod:`pyre.protocol.h1.writer` encodes. It knows
neither the byte grammar (the parser's job) nor ASGI messages (the cycle's job).

Connection phases and their deadlines (checked by ``ServerContext.tick``):

- IDLE: waiting for the first byte of a request; ``--timeout-keep-alive``.
- HEAD: some bytes of a request head arrived; ``--timeout-request-header`` from the
  first byte, not reset by later bytes (slowloris gets a 408 and is closed).
- BUSY: a request is in flight; a deadline only while the application waits on the
  client: ``--timeout-request-body`` while it waits in ``receive()`` for more of the
  body (the gap between reads, and a body trickled slower than ``MIN_BODY_RATE``: 408
  and close), ``--timeout-send`` while it waits in ``send()`` for the client to read
  (checked at every tick; no progress for that long: the connection is aborted).
- DRAIN: the response ended before the request body; the rest of the body (at most
  ``DRAIN_LIMIT`` bytes) is read and discarded under the header deadline, so the
  connection can be kept alive without the client seeing a reset.
- CLOSED: closed by the server; while output is still queued, ``--timeout-send``
  bounds how long a client that does not read keeps the socket (then it is aborted).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, List, Optional

from pyre._accel import RequestParser
from pyre.asgi.http import ClientDisconnected, HTTPCycle, run_asgi
from pyre.asgi.native import request_head
from pyre.asgi.scope import ConnectionInfo, http_scope
from pyre.protocol.h1.parsing import Body, EndOfMessage, ParseError, Request
from pyre.protocol.ws.handshake import is_websocket_upgrade
from pyre.protocol.h1.writer import (
    CONTINUE_RESPONSE,
    FRAME_CHUNKED,
    FRAME_LENGTH,
    FRAME_NONE,
    encode_head,
    encode_simple_response,
    last_chunk,
)
from pyre.transport.context import MIN_BODY_RATE, SHUTDOWN_GRACE, SendWatch, ServerContext
from pyre.transport.info import connection_info
from pyre.transport.tasks import TASK_NAME, start_task  # noqa: F401 (TASK_NAME: for the compiled twin)

__all__ = ["H1Protocol"]

logger = logging.getLogger("pyre.error")

_IDLE = 0
_HEAD = 1
_BUSY = 2
_DRAIN = 3
_CLOSED = 4

# Why reading is paused (a bit each): the app is not consuming the body, or
# pipelined bytes are piling up while a response is pending.
_PAUSE_BODY = 1
_PAUSE_PIPELINE = 2

# Unparsed bytes held for pipelined requests before reading pauses.
PIPELINE_BUFFER_LIMIT = 65536
# Request body bytes the server reads and discards after an early response.
DRAIN_LIMIT = 262144
# Queued output up to this size is joined into one write; beyond, writelines.
_JOIN_LIMIT = 16384
# Queued output is written at once past this size, whatever else happens.
_CORK_LIMIT = 65536
_FILE_CHUNK = 262144

_REASONS = {400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large", 414: "URI Too Long",
            431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
            503: "Service Unavailable", 505: "HTTP Version Not Supported"}




class H1Protocol(asyncio.BufferedProtocol):
    """One HTTP/1.1 connection."""

    KIND = "http/1.1"  # see pyre.transport.context.Connection (no gauges(): no streams, an upgrade hands over)

    __slots__ = (
        "ctx", "loop", "transport", "parser", "info", "cycle", "deadline", "phase",
        "write_paused", "_drain_waiter", "_read_paused", "_request_keep_alive",
        "_http11", "_head_request", "_expect_continue", "_request",
        "_body_complete", "_body_left", "_chunked_request", "_head", "_framing",
        "_remaining", "_keep_alive", "_trailers", "_status", "_overflow", "_eof",
        "_client_text", "_dispatching", "_resume_pending", "_out", "_out_size",
        "_flush_scheduled", "_track", "_t0", "_bytes_sent", "_send_watch", "_body_deadline",
        "_body_credit", "_body_mark", "_body_clock_of",
    )

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.loop = ctx.loop
        self.transport: Optional[asyncio.Transport] = None
        self.parser = RequestParser(ctx.limits)
        self.info: Optional[ConnectionInfo] = None
        self.cycle: Optional[HTTPCycle] = None
        self.deadline = 0.0
        self.phase = _IDLE
        self.write_paused = False
        self._drain_waiter: Optional[asyncio.Future] = None
        self._read_paused = 0
        self._request_keep_alive = True
        self._http11 = True
        self._head_request = False
        self._expect_continue = False
        self._request: Optional[Request] = None
        self._body_complete = True
        self._body_left = 0  # Content-Length (0 if chunked) minus the body bytes received
        self._chunked_request = False
        self._head: Optional[bytes] = None
        self._framing = FRAME_NONE
        self._remaining = 0
        self._keep_alive = True
        self._trailers = False
        self._status = 0
        self._overflow = False
        self._eof = False
        self._client_text = ""
        self._dispatching = False
        self._resume_pending = False
        self._out: List[bytes] = []
        self._out_size = 0
        self._flush_scheduled = False
        self._track = False  # this request goes to ctx.request_done (access log, observers)
        self._t0 = 0.0  # loop.time() when its head was parsed, if tracked
        self._bytes_sent = 0  # its response body bytes
        # --timeout-send: set while the client must read what is queued (see SendWatch).
        self._send_watch: Optional[SendWatch] = None
        # --timeout-request-body, set up by the first wait of a request (_body_clock_of)
        # and running only while the app waits: then the time it ends (_body_deadline),
        # otherwise the seconds left (_body_credit); body bytes received since _body_left
        # was _body_mark earn more (see _body_time).
        self._body_deadline = 0.0
        self._body_credit = 0.0
        self._body_mark = 0
        self._body_clock_of: Optional[Request] = None

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        ctx = self.ctx
        self.info = connection_info(transport, ctx.root_path)
        client = self.info.client
        self._client_text = f"{client[0]}:{client[1]}" if client else "-"
        ctx.connections.add(self)
        self.deadline = self.loop.time() + ctx.timeout_keep_alive
        if ctx.shutting_down:  # made during a shutdown (taken from a listener's queue, or after a PROXY header)
            self.shutdown()

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.phase = _CLOSED
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
        if cycle is not None and not cycle.response_complete and self.phase == _BUSY:
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

    def get_buffer(self, sizehint: int) -> memoryview:
        # The parser lends a pooled block and takes it back in buffer_updated (see
        # pyre.protocol.h1.parsing); no event refers to it.
        return self.parser.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        self._received(None, nbytes)

    def data_received(self, data: bytes) -> None:
        self._received(data, 0)

    def _received(self, data: Optional[bytes], nbytes: int) -> None:
        """Parse a read (``data``, or ``nbytes`` bytes in the parser's lent buffer)."""
        if self.phase == _IDLE:
            self.phase = _HEAD
            self.deadline = self.loop.time() + self.ctx.timeout_request_header
        try:
            events = self.parser.buffer_updated(nbytes) if data is None else self.parser.feed(data)
        except ParseError as exc:
            self._on_parse_error(exc)
            return
        if events:
            self._dispatch(events)
        if self.parser.paused and self.parser.buffered > PIPELINE_BUFFER_LIMIT:
            self._pause(_PAUSE_PIPELINE)

    # -- parser events ---------------------------------------------------------------------

    def _dispatch(self, events: Any) -> None:
        """Apply one message's events, then start its application; repeat while
        responses complete meanwhile and pipelined requests wait.

        A loop, not recursion: with eager tasks an application can finish its whole
        response inside ``_start``, which asks for the next request; that request is
        started here, after the current one's events are all applied.
        """
        self._dispatching = True
        try:
            while True:
                cycle = self._apply(events)
                if cycle is not None:
                    self._start(cycle)
                if not self._resume_pending:
                    return
                self._resume_pending = False
                try:
                    events = self.parser.resume()
                except ParseError as exc:
                    self._on_parse_error(exc)
                    return
                if not events:
                    if self.parser.buffered and self.phase == _IDLE:
                        self.phase = _HEAD
                        self.deadline = self.loop.time() + self.ctx.timeout_request_header
                    return
        finally:
            self._dispatching = False
            if self._out:
                self._flush()  # responses finished during the dispatch, in one write

    def _apply(self, events: Any) -> Optional[HTTPCycle]:
        """Feed events to the request in flight; return a new, not yet started cycle."""
        new_cycle = None
        for event in events:
            kind = type(event)
            if kind is Request:
                new_cycle = self._on_request(event)
            elif kind is Body:
                data = event.data
                self._body_left -= len(data)
                if self.phase == _BUSY and self.cycle is not None:
                    self.cycle.feed_body(data)
            elif kind is EndOfMessage:
                self._body_complete = True
                if self.phase == _DRAIN:
                    self._next_request()
                elif self.cycle is not None:
                    self.cycle.end_body()
            else:  # H2Preface
                if self.ctx.http2 and self._switch_to_h2(None):
                    return None
                self._reject(505, "HTTP/2 is not enabled on this server", access_log=False)
                return None
        return new_cycle

    def _start(self, cycle: HTTPCycle) -> None:
        """Run the application for ``cycle`` in its own task (eagerly where possible)."""
        ctx = self.ctx
        native = ctx.native
        task = start_task(self.loop, run_asgi(ctx.app if native is None else native.entry, cycle, ctx.tasks))
        if not task.done():
            cycle.task = task
            ctx.tasks.add(task)  # run_asgi removes it when it ends

    def _on_request(self, request: Request) -> Optional[HTTPCycle]:
        ctx = self.ctx
        if request.upgrade is not None:
            if ctx.websocket and is_websocket_upgrade(request.upgrade):
                self._switch_to_ws(request)
                return None
            if ctx.http2 and self._switch_to_h2(request):
                return None
        self.phase = _BUSY
        self.deadline = 0.0
        self._request_keep_alive = request.keep_alive and not ctx.shutting_down
        self._request = request
        self._http11 = request.http_version == "1.1"
        self._head_request = request.method == "HEAD"
        self._expect_continue = request.expect_continue
        self._body_complete = not request.has_body
        self._chunked_request = request.chunked
        self._body_left = request.content_length if request.content_length > 0 else 0
        self._head = None
        self._framing = FRAME_NONE
        self._remaining = 0
        self._overflow = False
        self._trailers = False
        self._status = 0
        self._bytes_sent = 0
        # One test per request decides whether it is timed and reported.
        self._track = track = ctx.wants_requests()
        if track:
            self._t0 = ctx.clock()
        ctx.total_requests += 1
        limit = ctx.limit_concurrency
        if limit is not None and (len(ctx.tasks) >= limit or len(ctx.connections) > limit):
            self._reject(503, "the server is at its concurrency limit")
            return None
        native = ctx.native
        if native is None:
            scope: Any = http_scope(
                self.info, request.method, request.path, request.query, request.http_version,
                request.headers, ctx.lifespan_state,
            )
        else:  # the native path: the app takes the parsed head instead of a scope dict
            scope = request_head(native, self.info, request.method, request.path, request.query,
                                 request.http_version, request.headers)
        cycle = HTTPCycle(scope, self, self._body_complete, request.expect_continue)
        self.cycle = cycle
        return cycle

    def _switch_to_h2(self, request: Optional[Request]) -> bool:
        """HTTP/2 takes the connection over: after the preface (prior knowledge), or
        for a qualifying ``Upgrade: h2c`` request (which becomes stream 1)."""
        from pyre.transport.h2 import switch_to_h2  # only servers that see HTTP/2 load it

        if not switch_to_h2(self.ctx, self.transport, self.info, self.parser.trailing_data, request):
            return False
        self.phase = _CLOSED
        self.deadline = 0.0
        self.ctx.connections.discard(self)
        return True

    def _switch_to_ws(self, request: Request) -> None:
        """WebSocket takes the connection over (or refuses the handshake and closes it)."""
        from pyre.transport.ws import switch_to_ws  # only servers that see WebSocket load it

        self.phase = _CLOSED
        self.deadline = 0.0
        self.ctx.connections.discard(self)
        switch_to_ws(self.ctx, self.transport, self.info, request, self.parser.trailing_data)

    def _on_parse_error(self, exc: ParseError) -> None:
        logger.warning("Invalid HTTP request from %s: %s", self._client_text, exc.reason)
        self._fail(exc.status, exc.reason, access_log=False)

    def _fail(self, status: int, reason: str, access_log: bool = True) -> None:
        """The request cannot go on (a bad or late body, or a bad head): an application
        running for it sees a disconnect; the client gets ``status`` unless part of the
        response is on the wire already; the connection is closed."""
        cycle = self.cycle
        if self.phase == _BUSY and cycle is not None:
            cycle.disconnect()
            if self._status and self._head is None:
                self._close()  # part of the response is on the wire already
                return
        self._head = None
        self._reject(status, reason, access_log)

    def _reject(self, status: int, reason: str, access_log: bool = True) -> None:
        body = f"{_REASONS.get(status, 'Error')}: {reason}\n".encode("utf-8", "replace")
        self._write_final(status, body, access_log)

    def _write_final(self, status: int, body: bytes, access_log: bool = True) -> None:
        """A server-generated response, then close."""
        if self.phase == _CLOSED or self.transport is None:
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
        self._close()

    def _close(self) -> None:
        if self.phase != _CLOSED:
            self._flush()
            self.phase = _CLOSED
            self.deadline = 0.0
            transport = self.transport
            if transport is not None:
                transport.close()
                if transport.get_write_buffer_size():
                    # The transport closes once the client has read the rest: bounded
                    # by --timeout-send, or a client that never reads keeps the socket.
                    self._watch_send()

    def _cut_off(self) -> None:
        """--timeout-send expired: drop the connection and what is queued for it."""
        logger.debug("Client %s read nothing for %g s (--timeout-send): connection aborted", self._client_text,
                     self.ctx.timeout_send)
        self.phase = _CLOSED
        self.deadline = 0.0
        self._send_watch = None
        self._out = []
        self._out_size = 0
        if self.cycle is not None:
            self.cycle.disconnect()
        self.transport.abort()

    # -- output: corked writes ---------------------------------------------------------------

    def _emit(self, data: bytes, final: bool) -> None:
        """Queue response bytes; write what an app sends without suspending at once.

        Written immediately when the response ends, except during a dispatch, which
        flushes at its end (so pipelined responses that finished eagerly share one
        write); otherwise by one ``call_soon`` flush, which runs before the loop next
        waits for I/O, so a streaming app's chunks still leave promptly.
        """
        if final and not self._out and not self._dispatching:
            if data:
                self.transport.write(data)  # a whole response in one message: the usual case
            return
        self._out.append(data)
        self._out_size += len(data)
        if self._out_size >= _CORK_LIMIT or (final and not self._dispatching):
            self._flush()
        elif not self._flush_scheduled and not self._dispatching:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        out = self._out
        if not out:
            return
        self._out = []
        size = self._out_size
        self._out_size = 0
        if self.phase == _CLOSED:
            return
        if len(out) == 1:
            self.transport.write(out[0])
        elif size <= _JOIN_LIMIT:
            self.transport.write(b"".join(out))
        else:
            self.transport.writelines(out)

    # -- ResponseStream (called by the cycle) ---------------------------------------------------

    def start_response(self, status: int, headers: Any, trailers: bool) -> None:
        ctx = self.ctx
        keep_alive = self._request_keep_alive and not ctx.shutting_down and not self._eof
        if self._expect_continue and not self._body_complete:
            # The app answers without asking for the body the client withholds.
            keep_alive = False
        self._head, framing, self._remaining, self._keep_alive = encode_head(
            status, headers, http11=self._http11, head_request=self._head_request,
            keep_alive=keep_alive, server_line=ctx.server_line, date_line=ctx.date_line,
            extra_lines=ctx.extra_lines,
        )
        self._status = status
        self._framing = framing
        self._trailers = trailers and framing == FRAME_CHUNKED

    def send_body(self, data: bytes, more_body: bool) -> None:
        if self.phase == _CLOSED:
            return
        framing = self._framing
        if framing == FRAME_LENGTH:
            if len(data) > self._remaining:
                if not self._overflow:
                    logger.error("Response content longer than Content-Length; truncated and closing")
                self._overflow = True
                data = data[: self._remaining]
            self._remaining -= len(data)
            self._bytes_sent += len(data)
            out = data
        elif framing == FRAME_CHUNKED:
            out = b"%x\r\n%s\r\n" % (len(data), data) if data else b""
            self._bytes_sent += len(data)
            if not more_body and not self._trailers:
                out += b"0\r\n\r\n"
        elif framing == FRAME_NONE:
            out = b""
        else:
            self._bytes_sent += len(data)
            out = data
        head = self._head
        if head is not None:
            self._head = None
            if out and len(out) <= _JOIN_LIMIT:
                out = head + out
            else:
                self._emit(head, False)
        self._emit(out, not more_body)

    def send_trailers(self, headers: List[Any]) -> None:
        if self.phase == _CLOSED:
            return
        if self._trailers:
            out = last_chunk([(bytes(n), bytes(v)) for n, v in headers])
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
            if framing == FRAME_CHUNKED and count:
                head += b"%x\r\n" % count
            if head:
                self._emit(head, False)
            self._flush()  # the file goes straight to the socket, after what is queued
            await self._send_file_body(file, count)
            if framing == FRAME_CHUNKED:
                self._emit(b"\r\n0\r\n\r\n" if count else b"0\r\n\r\n", True)

    async def _send_file_body(self, file: Any, count: int) -> None:
        """Write ``count`` bytes of ``file``: zero-copy where the socket allows it."""
        if not count or self.phase == _CLOSED:
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
        while left > 0 and self.phase != _CLOSED:
            block = file.read(min(_FILE_CHUNK, left))
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
            while left > 0 and self.phase != _CLOSED:
                if self.write_paused or transport.get_write_buffer_size():
                    await self.drain()
                    continue
                try:
                    sent = os.sendfile(out_fd, in_fd, offset, left)
                except BlockingIOError:
                    block = os.pread(in_fd, min(_FILE_CHUNK, left), offset)
                    if not block:
                        break
                    transport.write(block)
                    sent = len(block)
                except OSError as exc:  # the peer went away; connection_lost follows
                    logger.debug("sendfile failed: %r", exc)
                    self._close()
                    return 0
                if sent == 0:
                    break  # end of file before count
                offset += sent
                left -= sent
        finally:
            if self.phase != _CLOSED:
                transport.set_write_buffer_limits(high=high, low=low)
        return left

    async def drain(self) -> None:
        self._flush()
        if not self.write_paused or self.phase == _CLOSED:
            return
        waiter = self._drain_waiter
        if waiter is None or waiter.done():
            waiter = self._drain_waiter = self.loop.create_future()
            if self.phase == _BUSY:
                self._watch_send()  # the application waits for its client to read
        await waiter
        if self.phase == _CLOSED:
            raise ClientDisconnected("client disconnected")

    def _wake_drain(self) -> None:
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if self._send_watch is not None and self.phase != _CLOSED:
            self._send_watch = None  # the client read enough (a closing connection: all)
            if self.phase == _BUSY:
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
                if self.phase == _BUSY:
                    self._set_busy_deadline()
            return
        if self.phase != _BUSY:
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
        if self._expect_continue and self._http11 and self.phase == _BUSY and not self._status:
            self._emit(CONTINUE_RESPONSE, False)
            self._flush()  # the client waits for it before sending the body
        self._expect_continue = False

    def pause_reading(self) -> None:
        self._pause(_PAUSE_BODY)

    def resume_reading(self) -> None:
        self._resume(_PAUSE_BODY)

    def _pause(self, reason: int) -> None:
        if not self._read_paused and self.phase != _CLOSED:
            self.transport.pause_reading()
        self._read_paused |= reason

    def _resume(self, reason: int) -> None:
        if self._read_paused & reason:
            self._read_paused &= ~reason
            if not self._read_paused and self.phase != _CLOSED:
                self.transport.resume_reading()

    def response_complete(self) -> None:
        if self.phase == _CLOSED:
            return
        if self._framing == FRAME_LENGTH and self._remaining > 0:
            logger.error("Response content shorter than Content-Length; closing the connection")
            if self._track:
                self._request_done()
            self._close()
            return
        if self._track:
            self._request_done()
        if self._overflow or not self._keep_alive or self._eof:
            self._close()
            return
        # A response that promised keep-alive keeps it even if a shutdown began meanwhile:
        # the client may already be sending its next request (see _next_request).
        if not self._body_complete:
            if self._chunked_request or self._body_left > DRAIN_LIMIT:
                self._close()
                return
            self.phase = _DRAIN
            self.deadline = self.loop.time() + self.ctx.timeout_request_header
            self._resume(_PAUSE_BODY)
            return
        self._next_request()

    def send_error_response(self, status: int) -> None:
        self._write_final(status, f"{_REASONS.get(status, 'Error')}\n".encode())

    def abort(self) -> None:
        if self._head is not None and self.phase != _CLOSED:
            # Nothing reached the wire yet: a clean 500 is still possible.
            self._head = None
            self.send_error_response(500)
        else:
            self._close()

    # -- keep-alive, timeouts, shutdown ---------------------------------------------------------

    def _next_request(self) -> None:
        self.cycle = None
        self.phase = _IDLE
        ctx = self.ctx
        wait = ctx.timeout_keep_alive
        if ctx.shutting_down and SHUTDOWN_GRACE < wait:
            wait = SHUTDOWN_GRACE
        self.deadline = self.loop.time() + wait
        self._resume(_PAUSE_PIPELINE)
        self._resume_pending = True
        if not self._dispatching:
            self._dispatch(())

    def on_timeout(self) -> None:
        phase = self.phase
        if phase == _HEAD:
            logger.debug("Request head from %s not received in time", self._client_text)
            self._write_final(408, b"Request Timeout\n", access_log=False)
        elif phase in (_IDLE, _DRAIN):
            self._close()
        elif phase == _BUSY:
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
                    self._fail(408, "request body not received in time")
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
        if phase == _IDLE:
            # Idle since its keep-alive deadline was set: when it was accepted, or when
            # its last response ended.
            deadline = self.deadline - self.ctx.timeout_keep_alive + SHUTDOWN_GRACE
        elif phase in (_HEAD, _DRAIN):
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
