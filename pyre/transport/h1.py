"""The HTTP/1.1 connection: an ``asyncio.Protocol`` over one transport (the pure twin).

It feeds bytes to the sans-IO parser, turns parser events into ASGI cycles, and is
the :class:`~pyre.asgi.http.ResponseStream` of the request in flight (HTTP/1.1 has
one at a time), writing what :mod:`pyre.protocol.h1.writer` encodes.

This module holds the per-request path, which ``pyre._speedups.h1conn`` writes again
in Cython; the rest of the connection (errors, timeouts, shutdown, upgrades,
``pathsend``, back-pressure) is :class:`~pyre.transport.h1_common.H1Common`, which
both twins inherit, and the connection's phases are described there.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, List, Optional

from pyre._accel import CHUNKED_WRITER, LENGTH_WRITER, RequestParser
from pyre.asgi.http import HTTPCycle, run_asgi
from pyre.asgi.native import request_head
from pyre.asgi.scope import ConnectionInfo, http_scope
from pyre.protocol.h1.parsing import Body, EndOfMessage, ParseError, Request
from pyre.protocol.h1.writer import FRAME_CHUNKED, FRAME_LENGTH, FRAME_NONE, encode_head
from pyre.transport.context import SHUTDOWN_GRACE, SendWatch, ServerContext
from pyre.transport.h1_common import (
    BUSY,
    CLOSED,
    CORK_LIMIT,
    DRAIN,
    HEAD,
    IDLE,
    JOIN_LIMIT,
    PAUSE_BODY,
    PAUSE_PIPELINE,
    PIPELINE_BUFFER_LIMIT,
    H1Common,
    bounded_writelines,
)
from pyre.transport.info import connection_info
from pyre.transport.tasks import start_task

__all__ = ["PIPELINE_BUFFER_LIMIT", "H1Protocol"]

logger = logging.getLogger("pyre.error")


class H1Protocol(H1Common, asyncio.BufferedProtocol):
    """One HTTP/1.1 connection."""

    __slots__ = (
        "ctx", "loop", "transport", "parser", "info", "cycle", "deadline", "phase",
        "write_paused", "_drain_waiter", "_read_paused", "_request_keep_alive",
        "_http11", "_head_request", "_expect_continue", "_request",
        "_body_complete", "_body_left", "_chunked_request", "_head", "_framing",
        "_remaining", "_keep_alive", "_trailers", "_status", "_overflow", "_eof",
        "_client_text", "_dispatching", "_resume_pending", "_out", "_out_size", "_writelines",
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
        self.phase = IDLE
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
        self._writelines: Any = None
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
        self._writelines = bounded_writelines(transport)  # type: ignore[arg-type]
        ctx.connections.add(self)
        self.deadline = self.loop.time() + ctx.timeout_keep_alive
        if ctx.shutting_down:  # made during a shutdown (taken from a listener's queue, or after a PROXY header)
            self.shutdown()


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
        if self.phase == IDLE:
            self.phase = HEAD
            self.deadline = self.loop.time() + self.ctx.timeout_request_header
        try:
            events = self.parser.buffer_updated(nbytes) if data is None else self.parser.feed(data)
        except ParseError as exc:
            self._on_parse_error(exc)
            return
        if events:
            self._dispatch(events)
        if self.parser.paused and self.parser.buffered > PIPELINE_BUFFER_LIMIT:
            self._pause(PAUSE_PIPELINE)

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
                    if self.parser.buffered and self.phase == IDLE:
                        self.phase = HEAD
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
                if self.phase == BUSY and self.cycle is not None:
                    self.cycle.feed_body(data)
            elif kind is EndOfMessage:
                self._body_complete = True
                if self.phase == DRAIN:
                    self._next_request()
                elif self.cycle is not None:
                    self.cycle.end_body()
            else:  # H2Preface
                self._on_h2_preface()
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
        if request.upgrade is not None and self._upgrade(request):
            return None
        self.phase = BUSY
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
        if self._out_size >= CORK_LIMIT or (final and not self._dispatching):
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
        if self.phase == CLOSED:
            return
        if len(out) == 1:
            self.transport.write(out[0])
        elif size <= JOIN_LIMIT:
            self.transport.write(b"".join(out))
        else:
            self._writelines(out)

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
        if self.phase == CLOSED:
            return
        framing = self._framing
        if framing == FRAME_LENGTH:
            out = LENGTH_WRITER.frame(data, False, self._remaining)
            if len(out) < len(data):
                if not self._overflow:
                    logger.error("Response content longer than Content-Length; truncated and closing")
                self._overflow = True
            self._remaining -= len(out)
            self._bytes_sent += len(out)
        elif framing == FRAME_CHUNKED:
            out = CHUNKED_WRITER.frame(data, not more_body and not self._trailers, 0)
            self._bytes_sent += len(data)
        elif framing == FRAME_NONE:
            out = b""
        else:
            self._bytes_sent += len(data)
            out = data
        head = self._head
        if head is not None:
            self._head = None
            if out and len(out) <= JOIN_LIMIT:
                out = head + out
            else:
                self._emit(head, False)
        self._emit(out, not more_body)












    def pause_reading(self) -> None:
        self._pause(PAUSE_BODY)

    def resume_reading(self) -> None:
        self._resume(PAUSE_BODY)

    def _pause(self, reason: int) -> None:
        if not self._read_paused and self.phase != CLOSED:
            self.transport.pause_reading()
        self._read_paused |= reason

    def _resume(self, reason: int) -> None:
        if self._read_paused & reason:
            self._read_paused &= ~reason
            if not self._read_paused and self.phase != CLOSED:
                self.transport.resume_reading()

    def response_complete(self) -> None:
        if self.phase == CLOSED:
            return
        if self._framing == FRAME_LENGTH and self._remaining > 0:
            self._end_short_response()
            return
        if self._track:
            self._request_done()
        if self._overflow or not self._keep_alive or self._eof:
            self._close()
        elif self._body_complete:
            self._next_request()
        else:
            self._drain_request_body()

    # -- keep-alive, timeouts, shutdown ---------------------------------------------------------

    def _next_request(self) -> None:
        self.cycle = None
        self.phase = IDLE
        ctx = self.ctx
        wait = ctx.timeout_keep_alive
        if ctx.shutting_down and SHUTDOWN_GRACE < wait:
            wait = SHUTDOWN_GRACE
        self.deadline = self.loop.time() + wait
        self._resume(PAUSE_PIPELINE)
        self._resume_pending = True
        if not self._dispatching:
            self._dispatch(())



