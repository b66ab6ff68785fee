"""State shared by every connection of one server: the values connections read per
request (taken from the :class:`~pyre.config.Config` once), the connection and task
sets, counters, the cached ``Date`` line, the deadline sweep (:meth:`ServerContext.tick`),
and the per-request hook (:meth:`ServerContext.request_done`) behind the access log and
any other observer of completed requests (metrics); what those see and how it is
rendered is :mod:`pyre.access_log`'s.

It also states what the server and the metrics ask of a connection
(:class:`Connection`, :func:`connection_gauges`).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, List, Optional, Protocol, Set, Tuple

from pyre.access_log import RequestObserver, RequestRecord, log_request, notify_observers
from pyre.asgi.native import native_app
from pyre.asgi.proxy_headers import ProxyHeadersMiddleware

if TYPE_CHECKING:
    from pyre.config import Config

__all__ = ["MIN_BODY_RATE", "SHUTDOWN_GRACE", "Connection", "SendWatch", "ServerContext", "connection_gauges"]

# Graceful shutdown (also of a worker being replaced): an HTTP/1.1 connection without a
# request in flight is closed once it has had none for this long (a new one: since it
# was accepted). A client that got a response a moment ago may be sending its next
# request right now; closing under it would reset the connection and lose that
# request, so it is answered instead, with ``Connection: close``. A connection idle
# for longer goes at once. HTTP/2 and PROXY protocol gates use the same bound.
SHUTDOWN_GRACE = 1.0

_INFO = logging.INFO


# --timeout-request-body: each body byte received earns the client this many bytes'
# worth of time (1/MIN_BODY_RATE s each, never more than the timeout in all), so a
# body trickled slower than this is cut too (Apache mod_reqtimeout's MinRate default).
MIN_BODY_RATE = 500.0


class SendWatch:
    """--timeout-send for one transport with output queued that the client must read.

    Created when a connection starts waiting for its client to read (the application
    waits in ``send()`` above the high-water mark, or the connection is closing with
    bytes left), and checked by the connection at each server tick, so there is no
    timer: progress is the write buffer shrinking (or emptying) since the last check.
    """

    __slots__ = ("transport", "size", "since")

    def __init__(self, transport: Any, now: float) -> None:
        self.transport = transport
        self.size = transport.get_write_buffer_size()
        self.since = now  # the last time progress was seen

    def stalled(self, now: float, timeout: float) -> bool:
        """Whether no progress was seen for ``timeout`` seconds up to ``now``."""
        size = self.transport.get_write_buffer_size()
        if size < self.size or not size:
            self.since = now
        self.size = size
        return now - self.since >= timeout


class Connection(Protocol):
    """What every member of :attr:`ServerContext.connections` offers: the server (its
    deadline sweep, its shutdown) and the metrics use nothing else.

    - ``KIND``, a class attribute: what the connection speaks, ``"http/1.1"``
      (either twin), ``"h2"``, ``"websocket"`` (after an HTTP/1.1 upgrade) or
      ``"proxy"`` (a PROXY protocol gate before its hand-over);
    - ``transport``: its asyncio transport, None once it is gone (a forced exit
      aborts what is left);
    - ``deadline``: when :meth:`on_timeout` is due (``loop.time()``; 0.0: never),
      swept by :meth:`ServerContext.tick`;
    - ``shutdown()``: stop keeping alive (see :meth:`ServerContext.close_idle`);
    - ``gauges()``, for the metrics (see :func:`connection_gauges`): the HTTP/2 streams
      and the accepted WebSockets it has open. A connection that carries one request at
      a time and never a WebSocket (HTTP/1.1, whose upgrade hands the socket to a
      WebSocket connection; a PROXY gate) may leave it out: it has none.
    """

    KIND: str
    transport: Any
    deadline: float

    def on_timeout(self) -> None: ...

    def shutdown(self) -> None: ...

    def gauges(self) -> Tuple[int, int]:
        """(open HTTP/2 streams, open WebSockets): sampled by the metrics once a second."""


NO_STREAMS = (0, 0)


def connection_gauges(connection: Any) -> Tuple[int, int]:
    """(open HTTP/2 streams, open WebSockets) of one connection: its ``gauges()``, or
    none for a connection without that method (see :class:`Connection`)."""
    gauges = getattr(connection, "gauges", None)
    return NO_STREAMS if gauges is None else gauges()


def _take_server_line(lines: bytes) -> Tuple[bytes, bytes]:
    """Split pre-encoded header lines into (the first ``server:`` line or b"", the rest);
    further ``server:`` lines are dropped: a response carries one."""
    if b"server:" not in lines.lower():
        return b"", lines
    server = b""
    rest = []
    for line in lines.split(b"\r\n"):
        if not line:
            continue
        if line.split(b":", 1)[0].strip().lower() == b"server":
            server = server or line + b"\r\n"
        else:
            rest.append(line + b"\r\n")
    return server, b"".join(rest)


class ServerContext:
    """One small object handed to every protocol instance of a server, built from the
    server's :class:`~pyre.config.Config` in one place: the constructor, which
    :meth:`from_config` calls (the server's spelling), is the only code that reads the
    settings for the connections.

    What connections read per request or per connection is a plain attribute, so a
    read is one attribute load (``ctx.timeout_send``) instead of two
    (``ctx.config.timeout_send``) on the hot path, and the compiled HTTP/1.1
    connection copies some into typed fields once per connection:

    - config values cached as they are: ``root_path``, ``timeout_keep_alive``,
      ``timeout_request_header``, ``timeout_request_body``, ``timeout_send``,
      ``limit_concurrency``, ``access_log``, ``h2_ping_interval``, ``ws_max_size``,
      ``ws_max_queue``, ``ws_ping_interval``, ``ws_ping_timeout``,
      ``ws_per_message_deflate``, and ``date_enabled`` (``date_header``);
    - values derived from several settings once: ``limits`` (``Config.h1_limits``),
      ``server_line`` and ``extra_lines`` (encoded header lines), ``http2`` (h2c on
      cleartext HTTP/1.1), ``h2_settings`` (None unless HTTP/2 is served),
      ``websocket``, ``request_id_header`` (lower-case bytes), ``access_logger``.

    ``native`` is the app's native entry (a :class:`~pyre.asgi.native.NativeApp`) when it
    offers one (a ``pyre.web`` App): HTTP requests then go to it without a scope dict
    (WebSockets and lifespan keep ``app``); None: everything goes through ``app``.

    ``proxy``: when the app is a :class:`~pyre.asgi.proxy_headers.ProxyHeadersMiddleware`
    (the server's ``--proxy-headers``), that middleware, and ``app`` the app it wraps.
    Connections apply it to every ``http`` and ``websocket`` scope they build, as its
    ``__call__`` would (:meth:`~pyre.asgi.proxy_headers.ProxyHeadersMiddleware.apply`);
    for a peer it does not trust, or a request without the headers it reads, that is
    nothing at all.

    The rest is the server's live state: ``connections`` (each a :class:`Connection`),
    ``tasks``, ``total_requests``, ``shutting_down``, ``date_line`` (refreshed once a
    second by :meth:`tick`, which also enforces connection deadlines: one periodic
    sweep instead of a timer per request), ``request_observers`` and
    ``forwarded_client``. ``config`` is the whole Config, for anything else.
    """

    @classmethod
    def from_config(cls, app: Callable[..., Awaitable[Any]], loop: asyncio.AbstractEventLoop, config: "Config",
                    lifespan_state: Optional[Dict[str, Any]] = None) -> "ServerContext":
        """The context of a server serving ``config``: what connections read per request,
        derived from the settings once (plain attributes, no lookups on the hot path)."""
        return cls(app, loop, config, lifespan_state)

    def __init__(self, app: Callable[..., Awaitable[Any]], loop: asyncio.AbstractEventLoop, config: "Config",
                 lifespan_state: Optional[Dict[str, Any]] = None) -> None:
        """Read what the connections need from ``config`` (see the class docstring)."""
        # The server's --proxy-headers wrapper is not called per request: connections
        # call the app it wraps and apply it to each scope they build (see the class
        # docstring), which spares every request a coroutine and its frame.
        self.proxy: Optional[ProxyHeadersMiddleware] = app if type(app) is ProxyHeadersMiddleware else None
        self.app = app if self.proxy is None else self.proxy.app
        self.native = native_app(app, lifespan_state)
        self.loop = loop
        self.config = config
        self.lifespan_state = lifespan_state
        self.limits = config.h1_limits
        self.root_path = config.root_path
        self.timeout_keep_alive = config.timeout_keep_alive
        self.timeout_request_header = config.timeout_request_header
        self.timeout_request_body = config.timeout_request_body  # longest gap between body reads the app awaits
        self.timeout_send = config.timeout_send  # longest time without write progress while output is queued
        self.limit_concurrency = config.limit_concurrency
        # A `server` among the extra headers (--header server:x) replaces Pyre's own, as
        # uvicorn's does, even with --no-server-header; as the default line it also
        # gives way to an application's own server header.
        extra = b"".join(f"{name.lower()}: {value}\r\n".encode("latin-1") for name, value in config.headers)
        server_line, self.extra_lines = _take_server_line(extra)
        self.server_line = server_line or (b"server: pyre\r\n" if config.server_header else b"")
        self.date_enabled = config.date_header
        self.date_line = b""
        self.access_log = config.access_log
        self.access_logger = logging.getLogger("pyre.access")
        # The header the access log's request_id is read from.
        self.request_id_header = config.access_log_request_id_header.lower().encode("latin-1")
        # Request timing: perf_counter, not loop.time() (1 ms steps under uvloop). The
        # transports read it only for requests that wants_requests() says are reported.
        self.clock: Callable[[], float] = time.perf_counter
        # Called with a RequestRecord after each request (metrics); see add_request_observer.
        self.request_observers: Tuple[RequestObserver, ...] = ()
        # --proxy-headers: (peer "host:port", request headers) -> the client the access
        # log and observers report, as the app's scope has it.
        self.forwarded_client: Optional[Callable[[str, List[Tuple[bytes, bytes]]], str]] = None
        self.http2 = config.http == "auto"  # h2c (prior knowledge and Upgrade) on cleartext HTTP/1.1 connections
        # A pyre.protocol.h2.H2Settings (importing h2 only when HTTP/2 is served), or None.
        self.h2_settings = config.h2_settings if config.http != "h1" else None
        self.h2_ping_interval = config.h2_ping_interval  # PING a silent HTTP/2 peer with streams open; None: never
        self.websocket = config.ws != "none"  # serve Upgrade: websocket (else such requests are plain HTTP)
        self.ws_max_size = config.ws_max_size
        self.ws_max_queue = config.ws_max_queue
        self.ws_ping_interval = config.ws_ping_interval
        self.ws_ping_timeout = config.ws_ping_timeout
        self.ws_per_message_deflate = config.ws_per_message_deflate
        self.connections: Set[Any] = set()
        self.tasks: Set[asyncio.Task] = set()
        self.total_requests = 0
        self.shutting_down = False
        self._date_second = -1
        self.update_date()

    # -- the per-request hook ------------------------------------------------------------------

    def add_request_observer(self, observer: RequestObserver) -> None:
        """Call ``observer(record)`` with a :class:`RequestRecord` after every request.

        Observers run on the event loop, right after the response is complete, in the
        order added; one that raises is logged to ``pyre.error`` and the others still
        run. Connections check for observers once per request, so adding one takes
        effect from the next request on every connection."""
        self.request_observers = self.request_observers + (observer,)

    def remove_request_observer(self, observer: RequestObserver) -> None:
        """Stop calling ``observer`` (compared with ``==``, so a bound method matches)."""
        self.request_observers = tuple(o for o in self.request_observers if o != observer)

    def wants_requests(self) -> bool:
        """Whether :meth:`request_done` has anything to do: the access log is on and
        its logger enabled for INFO, or an observer is attached. Connections ask this
        when a request head arrives (the compiled HTTP/1.1 connection and the HTTP/2
        stream inline the same test) and, when False, neither time the request nor call
        the hook."""
        return (self.access_log and self.access_logger.isEnabledFor(_INFO)) or bool(self.request_observers)

    def request_done(self, websocket: bool, http_version: str, client: str, method: str, raw_path: bytes,
                     query: bytes, headers: List[Tuple[bytes, bytes]], status: int, nbytes: int,
                     request_bytes: int, start: float) -> None:
        """The hook every transport calls once per request when its response is complete
        (HTTP/1.1 both twins, HTTP/2 streams, WebSocket handshakes over either).
        ``nbytes`` and ``request_bytes`` are the response and request body bytes (see
        :class:`RequestRecord`).

        Only called for requests whose head found :meth:`wants_requests` true. Emits the
        access line (one ``pyre.access`` record: the uvicorn-style message and args,
        plus ``record.pyre``, the dict of :meth:`RequestRecord.fields`) and calls the
        observers."""
        end = self.clock()
        if self.forwarded_client is not None:
            client = self.forwarded_client(client, headers)
        if self.access_log:
            log_request(self.access_logger, websocket, http_version, client, method, raw_path, query, headers,
                        status, nbytes, request_bytes, start, end, self.request_id_header)
        observers = self.request_observers
        if observers:
            notify_observers(observers, RequestRecord(websocket, http_version, client, method, raw_path, query,
                                                      headers, status, nbytes, request_bytes, start, end,
                                                      self.request_id_header))

    def update_date(self) -> None:
        if not self.date_enabled:
            return
        now = int(time.time())
        if now != self._date_second:
            self._date_second = now
            self.date_line = b"date: " + email.utils.formatdate(now, usegmt=True).encode("ascii") + b"\r\n"

    def tick(self) -> None:
        """Called periodically by the server: refresh Date, enforce deadlines."""
        self.update_date()
        now = self.loop.time()
        expired = [c for c in self.connections if 0.0 < c.deadline <= now]
        for connection in expired:
            connection.on_timeout()

    @property
    def tick_interval(self) -> float:
        shortest = min(self.timeout_keep_alive, self.timeout_request_header, self.timeout_request_body,
                       self.timeout_send, self.h2_ping_interval or 1e9,
                       self.ws_ping_interval or 1e9, self.ws_ping_timeout or 1e9)
        return max(0.05, min(0.5, shortest / 4))

    def close_idle(self) -> None:
        """Shutdown (``shutting_down`` is set): every connection stops keeping alive.
        Each closes once nothing is in flight and it has had no request for
        :data:`SHUTDOWN_GRACE` seconds (HTTP/2: after a GOAWAY; WebSocket: 1012)."""
        for connection in list(self.connections):
            connection.shutdown()
