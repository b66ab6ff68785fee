"""The HTTP/1.1 connection: an ``asyncio.Protocol`` over one transport.

It feeds bytes to the sans-IO parser, turns parser events into ASGI cycles, and is
the :class:`~pyre.asgi.http.ResponseStream` of the request in flight (HTTP/1.1 has
one at a time), writing what :mod:`pyre.protocol.h1.writer` encodes.

This module is its own compiled twin: Cython compiles it as it is into
``pyre.transport._h1_c`` (typed by ``_h1_c.pxd``); :mod:`pyre._accel` chooses. The
per-request path is ``_H1Connection`` (a ``cdef class`` there, its fields C fields,
its calls C calls); the rest of the connection (errors, timeouts, shutdown, upgrades,
``pathsend``, back-pressure) is :class:`~pyre.transport.h1_common.H1Common`, and the
connection's phases are described there. ``H1Protocol`` adds ``H1Common`` and
``asyncio.BufferedProtocol`` (which a ``cdef class`` cannot have as bases).

What the compiled build does differently is in ``COMPILED`` branches: it calls the
compiled parser through its C entry points (``pyre/_speedups/h1parser.pxd``) when the
parser is that one.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import sys
from typing import Any, Dict, FrozenSet, List, Optional
from urllib.parse import unquote

from pyre._accel import HTTPCycle, RequestParser, apply_proxy, run_asgi
from pyre.asgi.native import request_head
from pyre.asgi.proxy_headers import ProxyHeadersMiddleware
from pyre.asgi.scope import ASGI_VERSION, HTTP_SPEC_VERSION, ConnectionInfo, http_scope_template, tls_extension
from pyre.protocol.h1.parsing import Body, EndOfMessage, ParseError, Request
from pyre.protocol.h1.writer import FRAME_CHUNKED, FRAME_LENGTH, FRAME_NONE, as_bytes, response_head
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
from pyre.transport.tasks import EAGER, task_kwargs

try:
    import cython  # type: ignore[import-untyped,import-not-found,unused-ignore]

    COMPILED: bool = cython.compiled
except ImportError:  # pragma: no cover - Cython is a build dependency only
    COMPILED = False

if COMPILED:  # the compiled parser's C entry points (cimports: never run as Python)
    from cython.cimports.pyre._speedups.h1parser import (  # type: ignore
        is_parser,
        parser_buffer_updated,
        parser_buffered,
        parser_get_buffer,
        parser_paused,
        parser_resume,
    )
    from cython.cimports.pyre.protocol.h1._writer_c import response_head as c_response_head  # type: ignore
    from cython.cimports.pyre.asgi._native_c import request_head as c_request_head  # type: ignore
    from cython.cimports.pyre.asgi._http_c import apply_proxy as c_apply_proxy, new_cycle as c_new_cycle, same_text  # type: ignore
    from cython.cimports.cpython.bytes import PyBytes_FromStringAndSize  # type: ignore
    from cython.cimports.cpython.object import PyObject_Call  # type: ignore
    from cython.cimports.libc.string import memcpy  # type: ignore

if COMPILED:  # the compiled body writers, called in C (their types cimported in _h1_c.pxd)
    LENGTH_WRITER = LengthWriter()
    CHUNKED_WRITER = ChunkedWriter()
else:
    from pyre._accel import CHUNKED_WRITER, LENGTH_WRITER

__all__ = ["H1Protocol"]


def check_request_layout() -> None:
    """The compiled build reads a ``Request``'s fields at the offsets that
    ``pyre/protocol/h1/request_layout.pxd`` declares (CPython's layout of its slots):
    refuse to load if they are not there (the pure twin serves then)."""
    names = ["chunked", "content_length", "expect_continue", "headers", "http_version", "keep_alive", "method",
             "path", "query", "upgrade"]
    if (Request.__bases__ != (object,) or sorted(Request.__slots__) != names
            or Request.__basicsize__ != object.__basicsize__ + len(names) * struct.calcsize("P")):
        raise ImportError("pyre.protocol.h1.parsing.Request is not laid out as request_layout.pxd says")
    if COMPILED:
        sample = Request("GET", b"/p", b"q", "1.1", [(b"host", b"a")], True, False, True, 12, None)
        fields = cython.cast(RequestC, sample)
        read = [fields.chunked, fields.content_length, fields.expect_continue, fields.headers, fields.http_version,
                fields.keep_alive, fields.method, fields.path, fields.query, fields.upgrade]
        for name, value in zip(names, read):
            if value is not getattr(sample, name):
                raise ImportError("pyre.protocol.h1.parsing.Request is not laid out as request_layout.pxd says")


check_request_layout()

logger = logging.getLogger("pyre.error")
_INFO = logging.INFO
Task = asyncio.Task
HTTP_11 = sys.intern("1.1")  # as the compiled parser's: compared by identity first


_MISSING = object()
ASGI = {"version": ASGI_VERSION, "spec_version": HTTP_SPEC_VERSION}  # a copy per scope
# What the server changes on a ServerContext while it runs, read per request.
LIVE_NAMES = ("shutting_down", "date_line", "request_observers", "total_requests")


def live_dict(ctx: Any) -> Optional[Dict[str, Any]]:
    """``ctx.__dict__`` when reading it is what attribute access on ``ctx`` does for
    :data:`LIVE_NAMES` (the default ``__getattribute__`` and ``__setattr__``, no data
    descriptor of those names in its class), else None."""
    cls = type(ctx)
    if cls.__getattribute__ is not object.__getattribute__ or cls.__setattr__ is not object.__setattr__:
        return None
    for klass in cls.__mro__:
        for name in LIVE_NAMES:
            attr = klass.__dict__.get(name)
            if attr is not None and (hasattr(type(attr), "__set__") or hasattr(type(attr), "__delete__")):
                return None  # a data descriptor (a property, a slot) decides, not the dict
    live = getattr(ctx, "__dict__", None)
    return live if type(live) is dict else None


class _H1Connection:
    """The per-request path of one HTTP/1.1 connection (``H1Protocol`` is the whole)."""

    __slots__ = (
        "ctx", "loop", "transport", "parser", "info", "cycle", "deadline", "phase",
        "write_paused", "_drain_waiter", "_read_paused", "_request_keep_alive",
        "_http11", "_head_request", "_expect_continue", "_request",
        "_body_complete", "_body_left", "_chunked_request", "_head", "_framing",
        "_remaining", "_keep_alive", "_trailers", "_status", "_overflow", "_eof",
        "_client_text", "_dispatching", "_resume_pending", "_out", "_out_size", "_mss", "_writelines",
        "_flush_scheduled", "_track", "_t0", "_bytes_sent", "_send_watch", "_body_deadline",
        "_body_credit", "_body_mark", "_body_clock_of",
        # Looked up once per connection: what the server never changes while it runs.
        "_cparser", "_write", "_time", "_task_kwargs", "_app", "_native", "_tasks", "_connections",
        "_limit", "_lifespan_state", "_timeout_keep_alive", "_timeout_request_header",
        "_access_log", "_access_logger", "_live", "_server_line", "_extra_lines", "_scope_template", "_root_path", "_raw_root_path", "_tls",
        "_proxy", "_proxy_names",
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
        self._mss = -1  # the socket's TCP segment size, looked up at the first full cork (0: none)
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
        # The compiled parser is called through its C entry points (compiled build only).
        self._cparser = COMPILED and is_parser(self.parser)
        self._write: Any = None  # transport.write
        self._time = self.loop.time
        # The request Task's keywords, built once (asyncio.Task(coro, **kwargs)).
        self._task_kwargs: Dict[str, Any] = task_kwargs(self.loop)
        # The native path (ctx.native): the app's native entry takes a RequestHead as the scope.
        self._native = ctx.native
        self._app = ctx.app if self._native is None else self._native.entry
        self._tasks = ctx.tasks
        self._connections = ctx.connections
        self._limit = ctx.limit_concurrency
        self._lifespan_state = ctx.lifespan_state
        self._timeout_keep_alive = ctx.timeout_keep_alive
        self._timeout_request_header = ctx.timeout_request_header
        self._access_log = ctx.access_log
        self._access_logger = ctx.access_logger
        self._live = live_dict(ctx)
        self._server_line = as_bytes(ctx.server_line)
        self._extra_lines = as_bytes(ctx.extra_lines)
        self._scope_template: Dict[str, Any] = {}
        self._root_path = ""
        self._raw_root_path = b""
        self._tls: Optional[Dict[str, Any]] = None
        # ctx.proxy when it trusts this connection's peer (else None), and the headers it reads.
        self._proxy: Optional[ProxyHeadersMiddleware] = None
        self._proxy_names: Optional[FrozenSet[bytes]] = None

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        ctx = self.ctx
        info = self.info = connection_info(transport, ctx.root_path)
        client = info.client
        self._client_text = f"{client[0]}:{client[1]}" if client else "-"
        self._write = transport.write  # type: ignore[attr-defined]
        self._writelines = bounded_writelines(transport)  # type: ignore[arg-type]
        # Every key of the http scope in http_scope's order, the per-request values None.
        self._scope_template = http_scope_template(info, None)
        self._root_path = info.root_path
        self._raw_root_path = info.raw_root_path
        self._tls = info.tls
        proxy = ctx.proxy
        if proxy is not None and proxy.trusts(client):
            self._proxy = proxy
            self._proxy_names = proxy.header_names
        self._connections.add(self)
        self.deadline = self._time() + self._timeout_keep_alive
        if ctx.shutting_down:  # made during a shutdown (taken from a listener's queue, or after a PROXY header)
            self.shutdown()

    def get_buffer(self, sizehint: int) -> memoryview:
        # The parser lends a pooled block and takes it back in buffer_updated (see
        # pyre.protocol.h1.parsing); no event refers to it.
        if COMPILED and self._cparser:
            return parser_get_buffer(self.parser)
        return self.parser.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        self._received(None, nbytes)

    def data_received(self, data: bytes) -> None:
        self._received(data, 0)

    def _received(self, data: Optional[bytes], nbytes: int) -> None:
        """Parse a read (``data``, or ``nbytes`` bytes in the parser's lent buffer)."""
        if self.phase == IDLE:
            self.phase = HEAD
            self.deadline = self._time() + self._timeout_request_header
        parser = self.parser
        try:
            if data is not None:
                events = parser.feed(data)
            elif COMPILED and self._cparser:
                events = parser_buffer_updated(parser, nbytes)
            else:
                events = parser.buffer_updated(nbytes)
        except ParseError as exc:
            self._on_parse_error(exc)
            return
        if events:
            self._dispatch(events)
        if COMPILED and self._cparser:
            if parser_paused(parser) and parser_buffered(parser) > PIPELINE_BUFFER_LIMIT:
                self._pause(PAUSE_PIPELINE)
        elif parser.paused and parser.buffered > PIPELINE_BUFFER_LIMIT:
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
                    if COMPILED and self._cparser:
                        events = parser_resume(self.parser)
                    else:
                        events = self.parser.resume()
                except ParseError as exc:
                    self._on_parse_error(exc)
                    return
                if not events:
                    if self.phase == IDLE and self._parser_buffered():
                        self.phase = HEAD
                        self.deadline = self._time() + self._timeout_request_header
                    return
        finally:
            self._dispatching = False
            if self._out:
                self._flush()  # responses finished during the dispatch, in one write

    def _live_get(self, name: str) -> Any:
        """``getattr(self.ctx, name)`` for a name the server changes while it runs (the
        compiled build's: a lookup in the context's ``__dict__`` when that is what
        attribute access does, see :func:`live_dict`)."""
        live = self._live
        if live is not None:
            value = live.get(name, _MISSING)
            if value is not _MISSING:
                return value
        return getattr(self.ctx, name)

    def _parser_buffered(self) -> int:
        if COMPILED and self._cparser:
            return parser_buffered(self.parser)
        return self.parser.buffered

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
        coro = run_asgi(self._app, cycle, self._tasks)
        if COMPILED:  # Task(coro, **kwargs) without a copy of the keywords (Task only reads them)
            task = PyObject_Call(Task, (coro,), self._task_kwargs)
        else:
            task = Task(coro, **self._task_kwargs)
        if not EAGER or not task.done():  # only an eager task (3.12+) can be done already
            cycle.task = task
            self._tasks.add(task)  # run_asgi removes it when it ends

    def _on_request(self, request: Request) -> Optional[HTTPCycle]:
        ctx = self.ctx
        if request.upgrade is not None and self._upgrade(request):
            return None
        self.phase = BUSY
        self.deadline = 0.0
        self._request_keep_alive = request.keep_alive and not (
            self._live_get("shutting_down") if COMPILED else ctx.shutting_down)
        self._request = request
        http_version = request.http_version
        method = request.method
        self._http11 = http_version == HTTP_11
        self._head_request = same_text(method, "HEAD") if COMPILED else method == "HEAD"
        expect_continue = request.expect_continue
        self._expect_continue = expect_continue
        chunked = request.chunked
        content_length = request.content_length
        self._body_complete = body_complete = not (chunked or content_length > 0)  # not request.has_body
        self._chunked_request = chunked
        self._body_left = content_length if content_length > 0 else 0
        self._head = None
        self._framing = FRAME_NONE
        self._remaining = 0
        self._overflow = False
        self._trailers = False
        self._status = 0
        self._bytes_sent = 0
        # One test per request decides whether it is timed and reported (ctx.wants_requests);
        # the observers are read per request, so one added later is seen at once.
        self._track = track = (self._access_log and self._access_logger.isEnabledFor(_INFO)) or bool(
            self._live_get("request_observers") if COMPILED else ctx.request_observers)
        if track:
            self._t0 = ctx.clock()
        live = self._live
        if COMPILED and live is not None and "total_requests" in live:
            live["total_requests"] += 1
        else:
            ctx.total_requests += 1
        limit = self._limit
        if limit is not None and (len(self._tasks) >= limit or len(self._connections) > limit):
            self._reject(503, "the server is at its concurrency limit")
            return None
        native = self._native
        if native is None:
            scope: Any = self._http_scope(request, method, http_version)
        else:  # the native path: the app takes the parsed head instead of a scope dict
            if COMPILED:  # the compiled head, built in C
                scope = c_request_head(native, self.info, method, request.path, request.query, http_version,
                                       request.headers)
            else:
                scope = request_head(native, self.info, method, request.path, request.query, http_version,
                                     request.headers)
        if COMPILED:  # the compiled cycle, which calls this connection in C (and it, the cycle)
            cycle = c_new_cycle(scope, self, body_complete, expect_continue)
            cycle.stream_calls = cython.address(STREAM_CALLS)
        else:
            cycle = HTTPCycle(scope, self, body_complete, expect_continue)
        self.cycle = cycle
        return cycle

    def _http_scope(self, request: Request, method: str, http_version: str) -> Dict[str, Any]:
        """``http_scope(self.info, ...)`` (pyre.asgi.scope), built from this connection's
        template: a copy holds every key in order; only the per-request values are set."""
        raw_path = request.path
        path = raw_path.decode("latin-1")  # the parser admits ASCII only
        if "%" in path:
            path = unquote(path)
        root_path = self._root_path
        if root_path:
            path = root_path + path
            raw_path = self._raw_root_path + raw_path
        scope = self._scope_template.copy()
        scope["asgi"] = ASGI.copy()
        scope["http_version"] = http_version
        scope["method"] = method
        scope["path"] = path
        scope["raw_path"] = raw_path
        scope["query_string"] = request.query
        scope["headers"] = request.headers
        # A fresh dict per request (apps may mutate theirs).
        extensions: Dict[str, Any] = {"http.response.trailers": {}, "http.response.pathsend": {}}
        if self._tls is not None:
            extensions["tls"] = tls_extension(self._tls)
        scope["extensions"] = extensions
        state = self._lifespan_state
        if state is not None:
            scope["state"] = state.copy()
        proxy = self._proxy
        if proxy is not None:
            if COMPILED:
                c_apply_proxy(proxy, self._proxy_names, scope, request.headers)
            else:
                apply_proxy(proxy, self._proxy_names, scope, request.headers)
        return scope

    # -- output: corked writes ---------------------------------------------------------------

    def _emit(self, data: bytes, final: bool) -> None:
        """Queue response bytes; write what an app sends without suspending at once.

        Written immediately when the response ends, except during a dispatch, which
        flushes at its end (so pipelined responses that finished eagerly share one
        write); otherwise by one ``call_soon`` flush, which runs before the loop next
        waits for I/O, so a streaming app's chunks still leave promptly.
        """
        out = self._out
        if final and not out and not self._dispatching:
            if data:
                self._write(data)  # a whole response in one message: the usual case
            return
        out.append(data)
        self._out_size += len(data)
        if final and not self._dispatching:
            self._flush()
            return
        if self._out_size >= CORK_LIMIT:
            self._flush_whole_segments()
        if self._out and not self._flush_scheduled and not self._dispatching:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush_whole_segments(self) -> None:
        """Write a full cork up to its last whole TCP segment and keep the rest (less than one
        segment) in the cork for the next write (``_emit`` schedules it).
        Under TCP_NODELAY a write that ends inside a segment sends that end as a short
        segment of its own: one per write, 7% of a loopback download's segments
        (docs/performance.md, "Download, second round")."""
        mss = self._mss
        if mss < 0:
            mss = self._mss = tcp_segment_size(self.transport) if self._tls is None else 0
        out = self._out
        tail = self._out_size % mss if mss else 0
        last = out[-1]
        if tail == 0 or tail >= len(last):
            self._flush()
            return
        view = memoryview(last)
        out[-1] = view[:len(last) - tail]
        self._out_size -= tail
        self._flush()
        if self.phase != CLOSED:
            self._out = [view[len(last) - tail:]]
            self._out_size = tail

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
            self._write(out[0])
        elif size <= JOIN_LIMIT:
            self._write(b"".join(out))
        else:
            self._writelines(out)

    # -- ResponseStream (called by the cycle) ---------------------------------------------------

    def start_response(self, status: int, headers: Any, trailers: bool) -> None:
        ctx = self.ctx
        shutting_down = self._live_get("shutting_down") if COMPILED else ctx.shutting_down
        keep_alive = self._request_keep_alive and not shutting_down and not self._eof
        if self._expect_continue and not self._body_complete:
            # The app answers without asking for the body the client withholds.
            keep_alive = False
        date_line = self._live_get("date_line") if COMPILED else ctx.date_line
        if type(date_line) is not bytes:
            date_line = as_bytes(date_line)
        if COMPILED:  # the compiled head encoder, called in C
            result = c_response_head(status, headers, self._http11, self._head_request, keep_alive,
                                     self._server_line, date_line, self._extra_lines)
        else:
            result = response_head(status, headers, self._http11, self._head_request, keep_alive,
                                   self._server_line, date_line, self._extra_lines)
        self._head, framing, self._remaining, self._keep_alive = result
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
                out = _concat(head, out) if COMPILED else head + out
            else:
                _H1Connection._emit(self, head, False)
        _H1Connection._emit(self, out, not more_body)

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

    # -- keep-alive -----------------------------------------------------------------------------

    def _next_request(self) -> None:
        self.cycle = None
        self.phase = IDLE
        wait = self._timeout_keep_alive
        if (self._live_get("shutting_down") if COMPILED else self.ctx.shutting_down) and SHUTDOWN_GRACE < wait:
            wait = SHUTDOWN_GRACE
        self.deadline = self._time() + wait
        self._resume(PAUSE_PIPELINE)
        self._resume_pending = True
        if not self._dispatching:
            self._dispatch(())


def _concat(a: bytes, b: bytes) -> bytes:
    """``a + b`` in one allocation (the compiled build's; bytes' ``+`` goes through the
    buffer protocol)."""
    out = PyBytes_FromStringAndSize(cython.NULL, len(a) + len(b))
    p = cython.cast(cython.p_char, out)
    memcpy(p, cython.cast(cython.p_char, a), len(a))
    memcpy(p + len(a), cython.cast(cython.p_char, b), len(b))
    return out


# The compiled cycle's C calls of this connection (see pyre/asgi/_http_c.pxd: StreamCalls).
# Called through the class, a cpdef method is called in C without the check for a
# Python override it makes otherwise (its class has a Python subclass, H1Protocol, which
# overrides none of them); send_body calls _emit so too.


def _start_response_of(conn: Any, status: Any, headers: Any, trailers: bool) -> None:
    _H1Connection.start_response(cython.cast(_H1Connection, conn), status, headers, trailers)


def tcp_segment_size(transport: Any) -> int:
    """The TCP segment size of the transport's socket, 0 if it has none (a Unix socket)."""
    sock = transport.get_extra_info("socket")
    try:
        return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)) if sock is not None else 0
    except (OSError, AttributeError):
        return 0


def _send_body_of(conn: Any, data: bytes, more_body: bool) -> None:
    _H1Connection.send_body(cython.cast(_H1Connection, conn), data, more_body)


def _response_complete_of(conn: Any) -> None:
    _H1Connection.response_complete(cython.cast(_H1Connection, conn))


def _write_paused_of(conn: Any) -> bool:
    return cython.cast(_H1Connection, conn).write_paused


if COMPILED:
    STREAM_CALLS.start_response = _start_response_of
    STREAM_CALLS.send_body = _send_body_of
    STREAM_CALLS.response_complete = _response_complete_of
    STREAM_CALLS.write_paused = _write_paused_of


class H1Protocol(_H1Connection, H1Common, asyncio.BufferedProtocol):
    """One HTTP/1.1 connection."""

    __slots__ = ()
