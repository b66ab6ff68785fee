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
  mark plus one window. A body still arriving after the response completed is
  dropped by the session with its windows granted back (``H2Stream._discard``).
- Response bodies: ``send_data`` sends what the stream and connection windows allow;
  the rest waits in the stream, and the cycle's ``send()`` waits (``drain``) until
  the client grants window and the transport's buffer is below its high-water mark.

Output is corked like HTTP/1.1's: frames queued while handling one read, or by an
application step, leave in one ``transport.write``.

This module is its own compiled twin: Cython compiles it as it is into
``pyre.transport._h2_c`` (typed by ``_h2_c.pxd``); :mod:`pyre._accel` chooses.
"""

from __future__ import annotations

import asyncio
import logging
import os
from http import HTTPStatus
from typing import Any, Dict, FrozenSet, List, Optional, Set, Tuple
from urllib.parse import unquote

from pyre.asgi.http_common import ClientDisconnected, wake
from pyre.asgi.native import request_head
from pyre.asgi.proxy_headers import ProxyHeadersMiddleware
from pyre.asgi.scope import ASGI_VERSION, HTTP_SPEC_VERSION, ConnectionInfo, http_scope_template, tls_extension
from pyre.protocol.h1.writer import InvalidResponse
from pyre._accel import H2Session, HTTPCycle, apply_proxy, h2_response_head, run_asgi
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
from pyre.protocol.h2.headers import trailer_headers
from pyre.transport.context import SHUTDOWN_GRACE, ServerContext
from pyre.transport.info import connection_info
from pyre.transport.tasks import task_kwargs

try:
    import cython  # type: ignore[import-untyped,import-not-found,unused-ignore]

    COMPILED: bool = cython.compiled
except ImportError:  # pragma: no cover - Cython is a build dependency only
    COMPILED = False

__all__ = ["ALPNSelector", "H2Protocol", "H2Stream", "switch_to_h2"]

logger = logging.getLogger("pyre.error")

# RFC 9113 error codes used here.
NO_ERROR = 0x0
INTERNAL_ERROR = 0x2
REFUSED_STREAM = 0x7
CANCEL = 0x8

_FILE_CHUNK = 65536
_CORK_LIMIT = 65536  # body bytes queued in the session before they are written at once
# Request body bytes per second that earn a second of --timeout-request-body back (as
# Apache's mod_reqtimeout MinRate): a client trickling slower is cut off in the end.
MIN_BODY_RATE = 500.0
_INFO = logging.INFO


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
    """One request/response exchange on an HTTP/2 connection: the cycle's ResponseStream.

    The stream stays registered with its connection until its last byte is framed
    (END_STREAM or trailers sent) or it is reset: a response whose body waits for
    the client's window is pumped on every WINDOW_UPDATE or SETTINGS change, however
    long ago the application completed it. Only then is it reported and forgotten.
    """

    __slots__ = (
        "conn", "stream_id", "cycle", "request", "closed", "deadline", "_head", "_status", "_no_body",
        "_content_length", "_sent", "_pending", "_pending_size", "_end_after_pending",
        "_trailers_after_pending", "_trailers", "_waiter", "_withheld", "_withholding",
        "_request_complete", "_finished", "_app_done", "_aborted", "_stop_code", "_send_by", "_body_by",
        "_body_budget", "_waiting_since", "_bytes_out", "_bytes_in", "_body_room", "_track", "_t0", "websocket",
        "may_discard", "discarding",
    )

    def __init__(self, conn: "_H2Connection", stream_id: int, request: RequestReceived) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.cycle: Optional[HTTPCycle] = None
        self.request = request
        self.closed = False  # ended, reset, or the connection is gone
        self.deadline = 0.0  # the earlier of _send_by and _body_by (0: none); swept by the connection
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
        self._finished = False  # our side of the stream has ended (END_STREAM or trailers framed)
        self._app_done = False  # the application completed its response (bytes may still wait for window)
        self._aborted = False  # reset before it finished: drain() raises ClientDisconnected
        self._stop_code = NO_ERROR  # the RST_STREAM that stops a request body nobody will read
        self._send_by = 0.0  # body bytes wait for window (in conn.blocked): reset unless some are framed by then
        self._body_by = 0.0  # the application waits for body bytes: disconnect it by then
        self._body_budget = conn.ctx.timeout_request_body  # seconds of waiting for body bytes left
        self._waiting_since = 0.0  # when the application started waiting for body bytes (0: it is not)
        self._bytes_out = 0  # response body bytes (for the access log and observers)
        self._bytes_in = 0  # request body bytes (DATA payloads), counted only while tracked
        self._body_room = -1  # body bytes --limit-request-body still allows (-1: no limit)
        # Reported to ctx.request_done when the stream ends (timed from now).
        ctx = conn.ctx
        # ctx.wants_requests(), inlined: a Python call per stream otherwise.
        self._track = bool((ctx.access_log and ctx.access_logger.isEnabledFor(_INFO)) or ctx.request_observers)
        self._t0 = ctx.clock() if self._track else 0.0
        self.websocket = False  # set by H2WebSocket: reported as a WebSocket handshake
        # An unread request body is dropped after the response (see _discard) rather than
        # reset, unless the client waits for a 100 (Continue) it was not sent; a CONNECT
        # stream (a WebSocket) is a tunnel, not an upload.
        self.may_discard = not request.expect_continue and request.protocol is None
        self.discarding = False  # the response is complete; the session drops the body

    # -- the request side, fed by the connection ------------------------------------------

    def data(self, data: bytes, flow_length: int) -> None:
        if self._track:
            self._bytes_in += len(data)
        if self._body_room >= 0:
            self._body_room -= len(data)
            if self._body_room < 0:
                self._body_too_large()
                return
        if self._waiting_since:
            self._stop_body_wait()  # the application is woken with these bytes
        # Each chunk earns time at MIN_BODY_RATE, up to the whole timeout (mod_reqtimeout's rule).
        budget = self._body_budget + len(data) / MIN_BODY_RATE
        limit = self.conn.ctx.timeout_request_body
        self._body_budget = budget if budget < limit else limit
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and not cycle.disconnected:
            cycle.feed_body(data)
        if self._withholding:
            self._withheld += flow_length
        else:
            self.conn.session.acknowledge_received(self.stream_id, flow_length)

    def ended(self, trailers: Optional[List[Tuple[bytes, bytes]]] = None) -> None:
        self._request_complete = True
        if self.discarding:  # the client sent the rest of the body: the stream closed cleanly
            self.closed = True
            self._clear_timers()
            self.conn.forget(self)
            return
        if self._waiting_since:
            self._stop_body_wait()
        if self.cycle is not None:
            self.cycle.end_body(trailers)

    def reset(self) -> None:
        """The stream was reset (by the client, by the session for a client error, or by
        us), or the connection is gone."""
        if self.closed:
            return
        self.closed = True
        self._aborted = not self._finished
        self._pending = []
        self._pending_size = 0
        if self.deadline:
            self._clear_timers()
        if self._app_done and self._track:
            self.report()  # the application completed it; the client left before all of it went out
        self._wake()
        if self.cycle is not None:
            self._disconnect_cycle(self.cycle)
        self.conn.forget(self)

    def _disconnect_cycle(self, cycle: Any) -> None:
        cycle.disconnect()  # receive() returns http.disconnect, send() raises
        task = cycle.task
        if task is not None and not task.done():
            # After the disconnect is delivered: the app may still clean up on it.
            self.conn.loop.call_soon(task.cancel)

    # -- deadlines ------------------------------------------------------------------------------

    def body_wait_started(self) -> None:
        """The application waits in ``receive()`` for body bytes: the body-read deadline runs."""
        if self.closed or self._waiting_since:
            return
        now = self.conn.loop.time()
        self._waiting_since = now
        self._body_by = now + self._body_budget
        self._set_deadline()

    def body_wait_ended(self) -> None:
        """``receive()`` returned (or was cancelled)."""
        if self._waiting_since:
            self._stop_body_wait()

    def _stop_body_wait(self) -> None:
        spent = self.conn.loop.time() - self._waiting_since
        budget = self._body_budget - spent
        self._body_budget = budget if budget > 0.0 else 0.0
        self._waiting_since = 0.0
        self._body_by = 0.0
        self._set_deadline()

    def _set_deadline(self) -> None:
        send_by, body_by = self._send_by, self._body_by
        self.deadline = send_by if not body_by or (send_by and send_by < body_by) else body_by
        self.conn.timed(self)

    def _unblock(self) -> None:
        """No body bytes wait for window any more."""
        if self._send_by:
            self._send_by = 0.0
            self.conn.blocked.pop(self.stream_id, None)
            self._set_deadline()

    def _clear_timers(self) -> None:
        """No deadline any more (the stream ended); ``deadline`` is set only with one."""
        self._unblock()
        self._waiting_since = 0.0
        if self._body_by:
            self._body_by = 0.0
            self._set_deadline()

    def expire(self, now: float) -> None:
        """Called by the connection once ``deadline`` has passed."""
        if self.closed:
            return
        if self.discarding:
            logger.debug("HTTP/2 stream %d from %s: an unread request body still arriving %.1f s after the "
                         "response (--timeout-request-header); reset", self.stream_id, self.conn._client_text,
                         self.conn.ctx.timeout_request_header)
            self.stop_discarding()
        elif self._body_by and self._body_by <= now:
            self._body_timeout()
        elif self._send_by and self._send_by <= now:
            logger.info("HTTP/2 stream %d from %s made no write progress for %.1f s (--timeout-send); "
                        "reset", self.stream_id, self.conn._client_text, self.conn.ctx.timeout_send)
            self._abort_stream(CANCEL)

    def _body_timeout(self) -> None:
        """The application waited for body bytes past --timeout-request-body: it sees
        ``http.disconnect``, the client gets 408 if no response started, and the stream
        (only it) is reset with CANCEL."""
        logger.info("HTTP/2 stream %d from %s: no request body received for %.1f s (--timeout-request-body); "
                    "reset", self.stream_id, self.conn._client_text, self.conn.ctx.timeout_request_body)
        cycle = self.cycle
        if cycle is not None and not cycle.response_started and self._head is None and not self._sent:
            self._stop_code = CANCEL
            self.may_discard = False  # a client too slow to send its body is not waited for
            self.send_error_response(408)  # the stream ends with CANCEL once it is framed
        if not self.closed:
            self._abort_stream(CANCEL)
        elif cycle is not None:
            self._disconnect_cycle(cycle)

    def _body_too_large(self) -> None:
        """The request body passed --limit-request-body (without a Content-Length that
        said so): the application sees ``http.disconnect``, the client gets 413 if no
        response started (the rest of its upload is then dropped, see ``_discard``), else
        the stream is reset with CANCEL."""
        cycle = self.cycle
        if cycle is not None:
            cycle.disconnect()
        if cycle is not None and not cycle.response_started and self._head is None and not self._sent:
            self.send_error_response(413)
        if not self.closed and not self.discarding:
            self._abort_stream(CANCEL)

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
        """Send queued body bytes as far as the flow-control windows allow; called again
        on every WINDOW_UPDATE or SETTINGS change while bytes wait."""
        if self.closed:
            return
        conn = self.conn
        session = conn.session
        sid = self.stream_id
        pending = self._pending
        progress = False
        while pending:
            chunk = pending[0]
            last = len(pending) == 1
            end = last and self._end_after_pending and self._trailers_after_pending is None
            sent = session.send_data(sid, chunk, end)
            conn.queued += sent
            if sent < len(chunk):
                if sent:
                    pending[0] = chunk[sent:]
                    self._pending_size -= sent
                    progress = True
                break
            progress = True
            pending.pop(0)
            self._pending_size -= sent
            if end:
                self._finished = True
        if pending:
            self._wait_for_window(progress)
        else:
            if self._send_by:
                self._unblock()
            if self._trailers_after_pending is not None:
                trailers, self._trailers_after_pending = self._trailers_after_pending, None
                session.send_trailers(sid, trailers)
                self._finished = True
            elif self._end_after_pending and not self._finished:
                session.end_stream(sid)
                self._finished = True
            self._wake()
            if self._finished and self._app_done:
                self.response_complete()
        conn.schedule_flush()

    def _wait_for_window(self, progress: bool) -> None:
        """Body bytes wait for the peer's window: pump again on WINDOW_UPDATE (taking
        turns with the other blocked streams), and reset the stream if nothing of it is
        framed for --timeout-send."""
        conn = self.conn
        if progress or not self._send_by:
            # (Re)joining at the back of the queue: the connection window is shared fairly.
            conn.blocked.pop(self.stream_id, None)
            conn.blocked[self.stream_id] = self
            self._send_by = conn.loop.time() + conn.ctx.timeout_send
            self._set_deadline()

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
        """Wait until the stream's bytes are framed and the transport is below its
        high-water mark; raises :class:`ClientDisconnected` if the stream is reset
        meanwhile (by the client, or by --timeout-send)."""
        conn = self.conn
        conn.flush()
        while (self._pending or conn.write_paused) and not self.closed:
            waiter = self._waiter
            if waiter is None or waiter.done():
                waiter = self._waiter = conn.loop.create_future()
            await waiter
        if self._aborted:
            raise ClientDisconnected("the HTTP/2 stream was reset")

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            wake(waiter)

    def send_continue(self) -> None:
        """The application waits for the body of a request that asked for
        ``expect: 100-continue``: send the interim ``100`` head (RFC 9110 10.1.1), for
        clients that wait for it before the body (curl, Go's and .NET's, up to a timeout)."""
        if self.closed or self._status or self._request_complete:
            return
        conn = self.conn
        if conn.session.can_send(self.stream_id):
            conn.session.send_headers(self.stream_id, 100, (), False)
            self.may_discard = True  # the client was told to send
            conn.schedule_flush()

    def waiting_for_body(self, waiting: bool) -> None:
        """HTTPCycle's hook: --timeout-request-body runs only while the app waits."""
        if waiting:
            self.body_wait_started()
        else:
            self.body_wait_ended()

    def pause_reading(self) -> None:
        self._withholding = True

    def resume_reading(self) -> None:
        self._withholding = False
        withheld, self._withheld = self._withheld, 0
        if withheld and not self.closed:
            self.conn.session.acknowledge_received(self.stream_id, withheld)
            self.conn.schedule_flush()

    def response_complete(self) -> None:
        """The application completed its response; the stream ends once the last of it
        is framed: at once, unless body bytes wait for the peer's window (then ``pump``
        calls this again when they are framed). Ending it: report it, tell the client
        to stop sending a body nobody will read (RFC 9113 8.1), forget it."""
        if self.closed:
            return
        self._app_done = True
        if not self._finished:
            return
        if self._track:
            self.report()
        if not self._request_complete:
            # (A draining connection does not wait for an unread upload: shutdown().)
            if self.may_discard and not self.conn._draining and self.conn.session.discard_request(self.stream_id):
                self._discard()
                return
            self.conn.session.reset_stream(self.stream_id, self._stop_code)
            self.conn.schedule_flush()
        self.closed = True
        if self.deadline:
            self._clear_timers()
        self.conn.forget(self)

    def _discard(self) -> None:
        """The response is complete and the client is still sending a body nobody will
        read. Resetting the stream (RFC 9113 8.1 allows it) hangs clients that send the
        whole body before they read the response (httpx's AsyncClient waits for window
        forever): instead, as nginx does, the session drops what arrives and grants the
        window back, until the client ends the stream (``ended``), or for
        --timeout-request-header (HTTP/1.1 drains an unread body as long), then
        RST_STREAM NO_ERROR. The stream stays registered, without its cycle, so the
        connection is not idle meanwhile; it counts as open toward
        SETTINGS_MAX_CONCURRENT_STREAMS, as the client counts it (RFC 9113 5.1.2)."""
        self.discarding = True
        self.cycle = None
        self._clear_timers()
        self._body_by = self.conn.loop.time() + self.conn.ctx.timeout_request_header
        self._set_deadline()
        self.conn.schedule_flush()

    def stop_discarding(self) -> None:
        """Stop dropping the request body: RST_STREAM NO_ERROR (the response is
        complete: RFC 9113 8.1's way to ask the client to stop without an error)."""
        if self.discarding and not self.closed:
            self._abort_stream(NO_ERROR)

    def report(self) -> None:
        """Hand the request to ``ctx.request_done`` (access log, observers), once: when
        the stream ends, or for a WebSocket when the handshake is answered."""
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
        if self.discarding:  # the response is complete; the unread upload ends by itself
            return
        if self._head is not None and not self.closed:
            self._head = None
            self.send_error_response(500)
        else:
            self._abort_stream()

    def _abort_stream(self, error_code: int = INTERNAL_ERROR) -> None:
        if self.closed:
            return
        self.conn.session.reset_stream(self.stream_id, error_code)
        self.conn.schedule_flush()
        self.reset()


class _H2Connection:
    """Everything :class:`H2Protocol` does, in a base class of its own: the compiled
    twin makes it a ``cdef class`` (its fields C fields, its hot methods C calls),
    which cannot derive from ``asyncio.Protocol``; ``H2Protocol`` adds that base."""

    __slots__ = (
        "ctx", "loop", "transport", "session", "info", "streams", "blocked", "_timed", "deadline",
        "write_paused", "_client_text", "_closed", "_closing", "_draining", "_flush_scheduled", "_in_read",
        "_defaults_key", "_defaults", "_default_names", "queued", "_ping_outstanding", "_quiet_since", "_idle_at",
        "_next_stream", "_stall_at", "_stall_size", "_scope_template", "_task_kwargs", "body_limit",
        "_held", "_proxy", "_proxy_names",
    )

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.loop = ctx.loop
        self.transport: Optional[asyncio.Transport] = None
        self.session = H2Session(ctx.h2_settings or H2Settings())
        self.body_limit = ctx.limits.max_body_size  # --limit-request-body (0: none)
        self.info: Optional[ConnectionInfo] = None
        self.streams: Dict[int, H2Stream] = {}
        self.blocked: Dict[int, H2Stream] = {}  # streams whose body bytes wait for window, in turn order
        self._timed: Set[H2Stream] = set()  # streams with a deadline of their own
        self.deadline = 0.0
        self.write_paused = False
        self._client_text = "-"
        self._closed = False
        self._closing = False  # a GOAWAY is sent: close once no stream is left (and the grace is over)
        self._draining = False  # shut down less than SHUTDOWN_GRACE ago
        self._flush_scheduled = False
        self._in_read = False
        self._defaults_key: Optional[bytes] = None
        self._defaults: List[Tuple[bytes, bytes]] = []
        self._default_names: frozenset = frozenset()
        self.queued = 0  # body bytes framed since the last write
        self._ping_outstanding = False
        self._quiet_since = 0.0  # the last read from the peer, or our last PING
        self._idle_at = 0.0  # keep-alive deadline, while no stream is open
        self._next_stream = 0.0  # earliest deadline of the timed streams (0: none; may be early)
        self._stall_at = 0.0  # the transport is paused (or closing with data): abort unless it drains
        self._stall_size = 0  # its write buffer size when that deadline was set
        self._scope_template: Dict[str, Any] = {}  # see _http_scope (set once the connection is known)
        # asyncio.Task's keywords, built once. Not eager (Python 3.12+): a stream's app runs
        # after the read that brought it, with the other streams' apps, not inside it. Eager,
        # h2load -c16 measured 11% fewer requests/s with -m1 and 3% fewer with -m10 on
        # CPython 3.12, for 7-9% fewer instructions (docs/performance.md).
        self._task_kwargs = task_kwargs(self.loop, eager=False)
        self._held = False  # h2c via Upgrade: output waits for the client's first bytes (see adopt)
        # ctx.proxy when it trusts this connection's peer (else None), and the headers it reads.
        self._proxy: Optional[ProxyHeadersMiddleware] = None
        self._proxy_names: Optional[FrozenSet[bytes]] = None

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """A new connection (TLS with ALPN h2, or cleartext with --http h2)."""
        self.adopt(transport, connection_info(transport, self.ctx.root_path))

    def adopt(self, transport: asyncio.BaseTransport, info: ConnectionInfo, data: bytes = b"",
              upgraded: Optional[RequestReceived] = None) -> None:
        """Take over ``transport`` (also from an HTTP/1.1 connection switching protocols).

        ``data``: bytes already read and not yet parsed (from the client's connection
        preface on). ``upgraded``: for h2c via ``Upgrade``, the upgrading request,
        served as stream 1 (the session was initiated with :meth:`prepare_upgrade`).
        """
        self.transport = transport  # type: ignore[assignment]
        self.info = info
        self._scope_template = http_scope_template(info, "2")
        client = info.client
        self._client_text = f"{client[0]}:{client[1]}" if client else "-"
        proxy = self.ctx.proxy
        if proxy is not None and proxy.trusts(client):
            self._proxy = proxy
            self._proxy_names = proxy.header_names
        self.ctx.connections.add(self)
        if upgraded is None:
            self.session.initiate()
        now = self.loop.time()
        self._quiet_since = now
        self._idle_at = now + self.ctx.timeout_keep_alive
        self.deadline = self._idle_at
        if upgraded is not None:
            # The 101 and our SETTINGS go out alone; stream 1's response waits for the
            # client's preface. curl 7.88 (Debian 12) fails the upgrade ("connection
            # buffer size is too small to store data following HTTP Upgrade response
            # header") when more than 32 KiB arrive with the 101.
            self.flush()
            self._held = True
            self._on_request(upgraded)
        if data:
            self.data_received(data)
        else:
            self.flush()
        if self.ctx.shutting_down:  # made during a shutdown
            self.shutdown()

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
        self.blocked.clear()
        self._timed.clear()

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.transport is not None:
            self._watch_stall(self.transport.get_write_buffer_size())

    def resume_writing(self) -> None:
        self.write_paused = False
        if not self._closed:
            self._stall_at = 0.0
        for stream in list(self.streams.values()):
            stream._wake()

    def _watch_stall(self, size: int) -> None:
        """Abort the connection if its write buffer does not shrink for --timeout-send."""
        self._stall_size = size
        self._stall_at = self.loop.time() + self.ctx.timeout_send
        if not self.deadline or self._stall_at < self.deadline:
            self.deadline = self._stall_at

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        self._held = False
        self._in_read = True
        now = self.loop.time()
        self._quiet_since = now  # the peer is alive: the next PING can wait
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
        first = not self.streams
        self.streams[event.stream_id] = stream
        if first:  # no keep-alive timeout while a stream is open
            if self._next_stream or self._stall_at or ctx.h2_ping_interval is not None:
                self._reschedule()
            else:
                self.deadline = 0.0
        if self._closing:
            self.session.reset_stream(event.stream_id, REFUSED_STREAM)
            self.forget(stream)
            return
        limit = ctx.limit_concurrency
        if limit is not None and (len(ctx.tasks) >= limit or len(ctx.connections) > limit):
            stream.send_error_response(503)
            return
        assert self.info is not None
        if event.protocol is not None:
            self._on_connect(stream, event)
            return
        native = ctx.native
        if native is None:
            scope: Any = self._http_scope(event)
            app = ctx.app
        else:  # the native path: the app takes the parsed head instead of a scope dict
            scope = request_head(native, self.info, event.method, event.path, event.query_string, "2", event.headers)
            app = native.entry
        end_stream = event.end_stream
        limit = self.body_limit
        if limit and not end_stream:
            if event.content_length is not None and event.content_length > limit:
                stream.send_error_response(413)
                return
            stream._body_room = limit
        expect = not end_stream and event.expect_continue
        cycle = HTTPCycle(scope, stream, end_stream, expect)
        stream.cycle = cycle
        # The request's Task, with this connection's keywords (no Python call in between).
        task = asyncio.Task(run_asgi(app, cycle, ctx.tasks), **self._task_kwargs)
        if not task.done():
            cycle.task = task
            ctx.tasks.add(task)

    def _http_scope(self, event: RequestReceived) -> Dict[str, Any]:
        """``http_scope(self.info, ..., "2", ...)`` with the ``http.request.trailers``
        extension, built from this connection's template (a copy holds every key in
        order; only the per-request values are set)."""
        info = self.info
        assert info is not None
        raw_path = event.path
        path = raw_path.decode("latin-1")  # the session admits visible ASCII only
        if "%" in path:
            path = unquote(path)
        root_path = info.root_path
        if root_path:
            path = root_path + path
            raw_path = info.raw_root_path + raw_path
        scope = self._scope_template.copy()
        scope["asgi"] = {"version": ASGI_VERSION, "spec_version": HTTP_SPEC_VERSION}
        scope["method"] = event.method
        scope["path"] = path
        scope["raw_path"] = raw_path
        scope["query_string"] = event.query_string
        scope["headers"] = event.headers
        extensions: Dict[str, Any] = {"http.response.trailers": {}, "http.response.pathsend": {}}
        if info.tls is not None:
            extensions["tls"] = tls_extension(info.tls)
        extensions["http.request.trailers"] = {}
        scope["extensions"] = extensions
        state = self.ctx.lifespan_state
        if state is not None:
            scope["state"] = state.copy()
        proxy = self._proxy
        if proxy is not None:
            apply_proxy(proxy, self._proxy_names, scope, event.headers)
        return scope

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
        task = asyncio.Task(run_asgi(ctx.app, ws.ws, ctx.tasks), **self._task_kwargs)  # type: ignore[arg-type]
        if not task.done():
            ws.task = ws.ws.task = task
            ctx.tasks.add(task)

    def _window_updated(self, stream_id: int) -> None:
        """The peer granted window (WINDOW_UPDATE, or SETTINGS_INITIAL_WINDOW_SIZE raised):
        pump what waits for it, the blocked streams taking turns for the connection's."""
        if stream_id:
            stream = self.blocked.get(stream_id)
            if stream is not None:
                stream.pump()
            return
        for stream in list(self.blocked.values()):
            stream.pump()

    def _connection_ended(self, event: ConnectionEnded) -> None:
        if not event.remote and event.error_code:
            logger.warning("HTTP/2 connection from %s ended: %s (error code %#x)",
                           self._client_text, event.reason, event.error_code)
        self._close()

    # -- streams -----------------------------------------------------------------------------------

    def forget(self, stream: H2Stream) -> None:
        """``stream`` has ended (or was reset): without streams left, the keep-alive
        timeout runs (or, shutting down, the connection closes).

        The stream lets go of its cycle (which keeps the stream, for an application that
        still runs): the two refer to each other, and a cycle left for the garbage
        collector makes every finished request garbage that outlives the young
        generations, so that full collections (tens of ms with a few thousand streams'
        leftovers) became the p99 tail of HTTP/2."""
        stream.cycle = None
        if self.streams.get(stream.stream_id) is stream:
            del self.streams[stream.stream_id]
        if not self.streams and not self._closed:
            if self._draining and not self._closing:
                self._goaway()  # idle now: the GOAWAY cuts no answer short
            if self._closing:
                self._finish()
            else:
                self._idle_at = self.loop.time() + self.ctx.timeout_keep_alive
                if self._next_stream or self._stall_at:
                    self._reschedule()
                else:
                    self.deadline = self._idle_at

    def timed(self, stream: H2Stream) -> None:
        """``stream.deadline`` changed: keep ``_timed`` and the connection's deadline in step."""
        when = stream.deadline
        if not when:
            self._timed.discard(stream)
            return
        self._timed.add(stream)
        if not self._next_stream or when < self._next_stream:
            self._next_stream = when
            if not self.deadline or when < self.deadline:
                self.deadline = when

    def default_headers(self, app_headers: List[Tuple[bytes, bytes]]) -> List[Tuple[bytes, bytes]]:
        """The server's own headers (server, date, --header), unless the app set them."""
        ctx = self.ctx
        date = ctx.date_line
        if date is not self._defaults_key:  # refreshed once a second; server and --header lines are fixed
            self._defaults_key = date
            self._defaults = _lines_to_headers(ctx.server_line + date + ctx.extra_lines)
            self._default_names = frozenset(name for name, _ in self._defaults)
        defaults = self._defaults
        default_names = self._default_names
        for name, _ in app_headers:  # (":status" never matches a default)
            if name in default_names:
                names = {name for name, _ in app_headers}
                return [pair for pair in defaults if pair[0] not in names]
        return defaults

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
        if self._closed or self.transport is None or self._held:
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
        transport = self.transport
        if transport is not None:
            transport.close()
            buffered = transport.get_write_buffer_size()
            if buffered:
                self._watch_stall(buffered)  # a peer that never reads cannot hold the connection open

    # -- timeouts and shutdown -------------------------------------------------------------------------

    def on_timeout(self) -> None:
        """``deadline`` has passed: do what is due, then set the next deadline.

        - Streams in ``_timed`` past their own deadline: reset (see ``H2Stream.expire``).
        - The transport made no write progress for --timeout-send: abort.
        - No stream open for --timeout-keep-alive: GOAWAY, then close.
        - Streams open and --h2-ping-interval set: a peer silent that long gets a PING;
          if the PING is still unanswered one interval later, the peer is gone: close.
        """
        now = self.loop.time()
        if self._stall_at and self._stall_at <= now:
            transport = self.transport
            size = transport.get_write_buffer_size() if transport is not None else 0
            if transport is None or not size:
                self._stall_at = 0.0
            elif size < self._stall_size:
                self._watch_stall(size)  # it drains, slowly
            else:
                logger.info("HTTP/2 connection from %s made no write progress for %.1f s (--timeout-send); "
                            "aborting", self._client_text, self.ctx.timeout_send)
                self._stall_at = 0.0
                transport.abort()
                self.deadline = 0.0
                return
        if self._closed:
            self.deadline = self._stall_at
            return
        if self._next_stream and self._next_stream <= now:
            self._expire_streams(now)
            if self._closed:
                return
        interval = self.ctx.h2_ping_interval
        if not self.streams:
            if self._idle_at <= now:
                self.session.close(NO_ERROR)
                self._close()
                return
        elif interval is not None and self._quiet_since + interval <= now:
            if self._ping_outstanding:
                logger.info("HTTP/2 peer %s did not answer a PING within %.1f s; closing",
                            self._client_text, interval)
                self._close()
                return
            self._ping_outstanding = True
            self._quiet_since = now
            self.session.ping()
            self.flush()
        self._reschedule()

    def _expire_streams(self, now: float) -> None:
        """Expire the timed streams whose deadline has passed; find the next one."""
        due = [stream for stream in self._timed if stream.deadline <= now]
        for stream in due:
            stream.expire(now)
        self._next_stream = min((stream.deadline for stream in self._timed), default=0.0)

    def _reschedule(self) -> None:
        """Set ``deadline`` to the earliest of what may be due (no stream is walked)."""
        if self._closed:
            return
        when = self._next_stream
        stall = self._stall_at
        if stall and (not when or stall < when):
            when = stall
        if not self.streams:
            other = self._idle_at
        else:
            interval = self.ctx.h2_ping_interval
            other = 0.0 if interval is None else self._quiet_since + interval
        if other and (not when or other < when):
            when = other
        self.deadline = when

    def gauges(self) -> Tuple[int, int]:
        """The metrics' sample (see ``pyre.transport.context.Connection``): the streams
        open, and the WebSockets among them that were accepted and have not finished."""
        websockets = 0
        for stream in self.streams.values():
            if stream.websocket:
                ws = stream.cycle  # an H2WebSocket, or None if the handshake was refused
                if ws is not None and getattr(ws, "session", None) is not None and not ws.response_complete:
                    websockets += 1
        return len(self.streams), websockets

    def shutdown(self) -> None:
        """Graceful shutdown: a GOAWAY naming the last stream served, sent when no
        stream is open (at once if idle; else when the streams in flight finish, or
        after :data:`SHUTDOWN_GRACE` at the latest), then :meth:`_finish` once no
        stream is left. A connection that has had no stream yet gets the grace for its
        first. WebSockets get a 1012 close.

        Why wait for a quiet moment: a GOAWAY in the middle of a response ends that
        stream too for clients built on the ``h2`` library (httpx), although RFC 9113
        lets it finish. A stream the client opens before it reads the GOAWAY is above
        its last stream id: every client retries it on a new connection. Streams that
        wait for a silent peer are still reset at their own deadlines, so none can hold
        the shutdown."""
        if self._closed or self._closing or self._draining:
            return
        self._draining = True
        for stream in list(self.streams.values()):
            stream.stop_discarding()  # an unread upload does not hold the GOAWAY
            close = getattr(stream.cycle, "shutdown", None)
            if close is not None:
                close()  # a WebSocket: its close frame (1012) goes out before the GOAWAY
        self.flush()
        if not self.streams and self.session.last_stream_id:
            self._goaway()
            self._finish()
        else:
            self.loop.call_later(SHUTDOWN_GRACE, self._grace_over)

    def _goaway(self) -> None:
        self._closing = True
        self.session.close(NO_ERROR)  # the streams seen so far are the last

    def _grace_over(self) -> None:
        self._draining = False
        if self._closed:
            return
        if not self._closing:
            self._goaway()
        if not self.streams:
            self._finish()
        else:
            self.flush()

    def _finish(self) -> None:
        """Close after the GOAWAY without cutting a client that may still be sending:
        a FIN first (where the transport can half-close), then whatever the client sent
        before it read the GOAWAY is read and dropped (RFC 9113 section 6.8 allows it:
        those streams are above the last stream id, so the client retries them) until
        the client closes, or :data:`SHUTDOWN_GRACE` has passed. Closing with unread
        data would reset the connection, and the GOAWAY could be lost with it. (TLS
        cannot half-close; its own closing handshake does the same.)"""
        if self._closed:
            return
        self.flush()
        transport = self.transport
        try:
            half_close = transport is not None and transport.can_write_eof()
        except NotImplementedError:
            half_close = False
        if not half_close:
            self._close()
            return
        try:
            transport.write_eof()
        except OSError:  # the peer has gone already (ENOTCONN): nothing is left to drain
            self._close()
            return
        self._closed = True  # nothing more is read or written
        self.deadline = 0.0
        self.loop.call_later(SHUTDOWN_GRACE, transport.close)  # unless the client closed it first
        buffered = transport.get_write_buffer_size()
        if buffered:
            self._watch_stall(buffered)  # a peer that never reads cannot hold the connection open


class H2Protocol(_H2Connection, asyncio.Protocol):
    """One HTTP/2 connection (h2c prior knowledge or upgrade, or TLS with ALPN h2).

    Deadlines: ``deadline`` (swept by ``ServerContext.tick``) is the earliest moment
    anything may be due, kept cheaply and possibly early; :meth:`on_timeout` works out
    what is due and sets the next one. What can be due: the keep-alive timeout (no
    stream open), the PING keep-alive (streams open, ``--h2-ping-interval``), a
    stream's own deadline (its application waits for body bytes, or its output waits
    for the peer's window: only such streams are in ``_timed``), and a transport that
    makes no write progress. No timer runs while streams are open otherwise.
    """

    KIND = "h2"  # see pyre.transport.context.Connection

    __slots__ = ()


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
