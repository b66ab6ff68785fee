"""State shared by every connection of one server: settings, counters, clock, and the
per-request hook (:meth:`ServerContext.request_done`) behind the access log and any
other observer of completed requests (metrics)."""

from __future__ import annotations

import asyncio
import email.utils
import http
import logging
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, Iterable, List, Optional, Set, Tuple

from pyre.protocol.h1.parsing import H1Limits

if TYPE_CHECKING:
    from pyre.config import Config

__all__ = ["MIN_BODY_RATE", "RequestObserver", "RequestRecord", "SendWatch", "ServerContext", "SHUTDOWN_GRACE"]

# Graceful shutdown (also of a worker being replaced): an HTTP/1.1 connection without a
# request in flight is closed once it has had none for this long (a new one: since it
# was accepted). A client that got a response a moment ago may be sending its next
# request right now; closing under it would reset the connection and lose that
# request, so it is answered instead, with ``Connection: close``. A connection idle
# for longer goes at once. HTTP/2 and PROXY protocol gates use the same bound.
SHUTDOWN_GRACE = 1.0

_INFO = logging.INFO
_error_logger = logging.getLogger("pyre.error")

# The default access lines (uvicorn's): ``record.args`` keep uvicorn's shape
# (client, method, target, http_version, status) for HTTP, so formatters written for
# uvicorn's access log keep working; the status prints with its reason phrase
# (``200 OK``), as uvicorn's line does.
HTTP_ACCESS_MESSAGE = '%s - "%s %s HTTP/%s" %s'
WS_ACCESS_MESSAGE = '%s - "WebSocket %s" %d'
_PROTOCOLS = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0", "2": "HTTP/2"}
REQUEST_ID_HEADER = "x-request-id"
_USER_AGENT = b"user-agent"
_REFERER = b"referer"


class StatusCode(int):
    """A status code that prints with its reason phrase (``200 OK``); an int otherwise
    (uvicorn's formatters read ``record.args[4]`` as the status number)."""

    __slots__ = ()

    def __str__(self) -> str:
        try:
            return f"{int(self)} {http.HTTPStatus(self).phrase}"
        except ValueError:
            return str(int(self))


# One instance per known status, made once: no per-request allocation.
_STATUS = {int(status): StatusCode(status) for status in http.HTTPStatus}


def _target(raw_path: bytes, query: bytes) -> str:
    # Percent-encoded ASCII as received; anything else backslash-escaped: no control characters.
    return (raw_path + b"?" + query if query else raw_path).decode("ascii", "backslashreplace")


def _text(value: Optional[bytes]) -> str:
    # Header values as received, outside ASCII backslash-escaped; "-" when absent or empty.
    return (value.decode("ascii", "backslashreplace") or "-") if value else "-"


def _request_id(headers: List[Tuple[bytes, bytes]], header: bytes = REQUEST_ID_HEADER.encode()) -> str:
    for name, value in headers:
        if name == header:
            return _text(value)
    return "-"


def _header_fields(headers: List[Tuple[bytes, bytes]], request_id_header: bytes) -> Tuple[str, str, str]:
    """(user_agent, referer, request_id): the first of each, in one pass over the headers."""
    agent = referer = request_id = None
    for name, value in headers:
        if name == _USER_AGENT:
            if agent is None:
                agent = value
        elif name == _REFERER:
            if referer is None:
                referer = value
        elif name == request_id_header and request_id is None:
            request_id = value
    return _text(agent), _text(referer), _text(request_id)


def _milliseconds(start: float, end: float) -> float:
    return round(max(0.0, end - start) * 1000.0, 3)  # to the microsecond


def _protocol(websocket: bool, http_version: str) -> str:
    if websocket:
        return "WebSocket"
    return _PROTOCOLS.get(http_version) or "HTTP/" + http_version


class RequestRecord:
    """One completed request, as the access log and the request observers see it.

    Built once per request, only when someone listens (see
    :meth:`ServerContext.wants_requests`). Plain attributes are what the connection
    knew anyway; ``path``, ``request_id``, ``protocol`` and the durations are computed
    when read.

    - ``websocket``: a WebSocket handshake (over HTTP/1.1 or HTTP/2), accepted or not;
    - ``http_version``: ``"1.0"``, ``"1.1"`` or ``"2"``;
    - ``client``: ``"host:port"`` (``"-"`` when unknown, e.g. a Unix socket);
    - ``method``, ``raw_path`` and ``query`` (bytes, as received), ``headers`` (the
      request's, names lower-case);
    - ``status``: the status sent (101 for an accepted WebSocket over HTTP/1.1, 200
      over HTTP/2);
    - ``bytes``: response body bytes sent (0 for HEAD, 204, 304 and an accepted WebSocket;
      no head, chunk framing or WebSocket frames are counted);
    - ``request_bytes``: request body bytes received before the response was complete,
      as the application could read them (HTTP/1.1 without chunk framing, HTTP/2 DATA
      payloads without padding); 0 without a body and for a WebSocket handshake (its
      frames are not counted). The rest of a body that arrives after the response (read
      and discarded to keep the connection) is not counted;
    - ``start``, ``end``: ``time.perf_counter()`` (:attr:`ServerContext.clock`) when the
      request head was parsed and when the response was complete (for a WebSocket: when
      the handshake was answered): sub-microsecond steps, unlike ``loop.time()``'s
      millisecond under uvloop;
    - ``request_id_header``: the header :attr:`request_id` is read from (lower-case bytes).
    """

    __slots__ = ("websocket", "http_version", "client", "method", "raw_path", "query", "headers",
                 "status", "bytes", "request_bytes", "start", "end", "request_id_header")

    def __init__(self, websocket: bool, http_version: str, client: str, method: str, raw_path: bytes,
                 query: bytes, headers: List[Tuple[bytes, bytes]], status: int, nbytes: int, request_bytes: int,
                 start: float, end: float, request_id_header: bytes = REQUEST_ID_HEADER.encode()) -> None:
        self.websocket = websocket
        self.http_version = http_version
        self.client = client
        self.method = method
        self.raw_path = raw_path
        self.query = query
        self.headers = headers
        self.status = status
        self.bytes = nbytes
        self.request_bytes = request_bytes
        self.start = start
        self.end = end
        self.request_id_header = request_id_header

    @property
    def protocol(self) -> str:
        """``"HTTP/1.1"``, ``"HTTP/1.0"``, ``"HTTP/2"`` or ``"WebSocket"``."""
        return _protocol(self.websocket, self.http_version)

    @property
    def path(self) -> str:
        """The target as received, query included: percent-encoded ASCII (anything
        else backslash-escaped), so never a control character."""
        return _target(self.raw_path, self.query)

    @property
    def request_id(self) -> str:
        """The request's first ``X-Request-ID`` (or the header ``--access-log-request-id-header``
        names; backslash-escaped outside ASCII), or ``"-"`` when it has none (or an empty one)."""
        return _request_id(self.headers, self.request_id_header)

    @property
    def duration(self) -> float:
        """Seconds from the request head to the complete response."""
        return max(0.0, self.end - self.start)

    @property
    def duration_ms(self) -> float:
        """:attr:`duration` in milliseconds, rounded to the microsecond."""
        return _milliseconds(self.start, self.end)

    def fields(self) -> Dict[str, Any]:
        """The access log's named fields (``record.pyre`` of each ``pyre.access`` record)."""
        return _fields(self.websocket, self.http_version, self.client, self.method, self.raw_path, self.query,
                       self.headers, self.status, self.bytes, self.request_bytes, self.start, self.end,
                       self.request_id_header)

    def __repr__(self) -> str:
        return f"<RequestRecord {self.protocol} {self.method} {self.path} {self.status}>"


def _fields(websocket: bool, http_version: str, client: str, method: str, raw_path: bytes, query: bytes,
            headers: List[Tuple[bytes, bytes]], status: int, nbytes: int, request_bytes: int, start: float,
            end: float, request_id_header: bytes) -> Dict[str, Any]:
    user_agent, referer, request_id = _header_fields(headers, request_id_header)
    return {
        "client": client,
        "method": method,
        "path": _target(raw_path, query),
        "status": status,
        "bytes": nbytes,
        "request_bytes": request_bytes,
        "duration_ms": _milliseconds(start, end),
        "protocol": _protocol(websocket, http_version),
        "request_id": request_id,
        "http_version": http_version,
        "user_agent": user_agent,
        "referer": referer,
    }


RequestObserver = Callable[[RequestRecord], None]

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
    """One small object handed to every protocol instance (built by the server with
    :meth:`from_config`; tests build one from keywords).

    ``date_line`` is refreshed once a second by :meth:`tick`, which also enforces
    connection deadlines: one periodic sweep instead of a timer per request.
    """

    @classmethod
    def from_config(cls, app: Callable[..., Awaitable[Any]], loop: asyncio.AbstractEventLoop, config: "Config",
                    lifespan_state: Optional[Dict[str, Any]] = None) -> "ServerContext":
        """The context of a server serving ``config``: what connections read per request,
        derived from the settings once (plain attributes, no lookups on the hot path)."""
        context = cls(
            app,
            loop,
            limits=config.h1_limits,
            root_path=config.root_path,
            timeout_keep_alive=config.timeout_keep_alive,
            timeout_request_header=config.timeout_request_header,
            timeout_request_body=config.timeout_request_body,
            timeout_send=config.timeout_send,
            limit_concurrency=config.limit_concurrency,
            server_header=config.server_header,
            date_header=config.date_header,
            extra_headers=b"".join(f"{name.lower()}: {value}\r\n".encode("latin-1") for name, value in config.headers),
            access_log=config.access_log,
            lifespan_state=lifespan_state,
            # Cleartext HTTP/1.1 connections switch on the preface or Upgrade: h2c.
            http2=config.http == "auto",
            h2_settings=config.h2_settings if config.http != "h1" else None,
            h2_ping_interval=config.h2_ping_interval,
            websocket=config.ws != "none",
            ws_max_size=config.ws_max_size,
            ws_max_queue=config.ws_max_queue,
            ws_ping_interval=config.ws_ping_interval,
            ws_ping_timeout=config.ws_ping_timeout,
            ws_per_message_deflate=config.ws_per_message_deflate,
            request_id_header=config.access_log_request_id_header,
        )
        context.config = config
        return context

    def __init__(
        self,
        app: Callable[..., Awaitable[Any]],
        loop: asyncio.AbstractEventLoop,
        *,
        limits: H1Limits,
        root_path: str = "",
        timeout_keep_alive: float = 5.0,
        timeout_request_header: float = 30.0,
        timeout_request_body: float = 60.0,
        timeout_send: float = 60.0,
        limit_concurrency: Optional[int] = None,
        server_header: bool = True,
        date_header: bool = True,
        extra_headers: bytes = b"",
        access_log: bool = True,
        lifespan_state: Optional[Dict[str, Any]] = None,
        http2: bool = False,
        h2_settings: Any = None,
        h2_ping_interval: Optional[float] = None,
        websocket: bool = False,
        ws_max_size: int = 16 * 1024 * 1024,
        ws_max_queue: int = 32,
        ws_ping_interval: Optional[float] = None,
        ws_ping_timeout: Optional[float] = None,
        ws_per_message_deflate: bool = True,
        request_observers: Iterable[RequestObserver] = (),
        request_id_header: str = REQUEST_ID_HEADER,
    ) -> None:
        self.app = app
        self.loop = loop
        self.config: Optional["Config"] = None  # what from_config built this from
        self.limits = limits
        self.root_path = root_path
        self.timeout_keep_alive = timeout_keep_alive
        self.timeout_request_header = timeout_request_header
        self.timeout_request_body = timeout_request_body  # longest gap between body reads the app awaits
        self.timeout_send = timeout_send  # longest time without write progress while output is queued
        self.limit_concurrency = limit_concurrency
        # A `server` among the extra headers (--header server:x) replaces Pyre's own, as
        # uvicorn's does, even with --no-server-header; as the default line it also
        # gives way to an application's own server header.
        server_line, extra_headers = _take_server_line(extra_headers)
        self.server_line = server_line or (b"server: pyre\r\n" if server_header else b"")
        self.date_enabled = date_header
        self.date_line = b""
        self.extra_lines = extra_headers
        self.access_log = access_log
        self.access_logger = logging.getLogger("pyre.access")
        self.request_id_header = request_id_header.lower().encode("latin-1")  # the access log's request_id
        # Request timing: perf_counter, not loop.time() (1 ms steps under uvloop). The
        # transports read it only for requests that wants_requests() says are reported.
        self.clock: Callable[[], float] = time.perf_counter
        # Called with a RequestRecord after each request (metrics); see add_request_observer.
        self.request_observers: Tuple[RequestObserver, ...] = tuple(request_observers)
        # --proxy-headers: (peer "host:port", request headers) -> the client the access
        # log and observers report, as the app's scope has it.
        self.forwarded_client: Optional[Callable[[str, List[Tuple[bytes, bytes]]], str]] = None
        self.lifespan_state = lifespan_state
        self.http2 = http2  # h2c (prior knowledge and Upgrade) on cleartext HTTP/1.1 connections
        self.h2_settings = h2_settings  # a pyre.protocol.h2.H2Settings, or None for the defaults
        self.h2_ping_interval = h2_ping_interval  # PING a silent HTTP/2 peer with streams open; None: never
        self.websocket = websocket  # serve Upgrade: websocket (else such requests are plain HTTP)
        self.ws_max_size = ws_max_size
        self.ws_max_queue = ws_max_queue
        self.ws_ping_interval = ws_ping_interval
        self.ws_ping_timeout = ws_ping_timeout
        self.ws_per_message_deflate = ws_per_message_deflate
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
        when a request head arrives (the compiled HTTP/1.1 connection inlines the same test)
        and, when False, neither time the request nor call the hook."""
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
        logger = self.access_logger
        if self.access_log and logger.isEnabledFor(_INFO):
            fields = _fields(websocket, http_version, client, method, raw_path, query, headers, status, nbytes,
                             request_bytes, start, end, self.request_id_header)
            if websocket:
                message, args = WS_ACCESS_MESSAGE, (client, fields["path"], status)
            else:
                message, args = HTTP_ACCESS_MESSAGE, (client, method, fields["path"], http_version,
                                                      _STATUS.get(status) or StatusCode(status))
            # makeRecord + handle: what Logger.info does, minus the caller lookup
            # (a stack walk), which would only ever name this function.
            log_record = logger.makeRecord(logger.name, _INFO, __file__, 0, message, args, None,
                                           "request_done", {"pyre": fields})
            logger.handle(log_record)
        observers = self.request_observers
        if observers:
            record = RequestRecord(websocket, http_version, client, method, raw_path, query, headers, status,
                                   nbytes, request_bytes, start, end, self.request_id_header)
            for observer in observers:
                try:
                    observer(record)
                except Exception:  # noqa: BLE001 - an observer never breaks serving
                    _error_logger.exception("Request observer %r failed", observer)

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
