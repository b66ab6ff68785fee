"""Access records: what one completed request looks like to the access log and to the
request observers, and how it is rendered.

The transports report each request to :meth:`pyre.transport.context.ServerContext.request_done`
with the values they hold anyway; this module turns them into

- the ``pyre.access`` log record (:func:`log_request`): uvicorn's message and ``args``
  (so formatters written for uvicorn's access log keep working) plus ``record.pyre``,
  the dict of named fields (:data:`ACCESS_FIELDS`) that :mod:`pyre.logs`'s formatters render;
- a :class:`RequestRecord` for the observers (:func:`notify_observers`), such as
  :class:`pyre.metrics.ServerMetrics`.

The fields are computed only when someone listens, and only those asked for:
the log record's dict when the access logger is enabled, a record's properties when read.
"""

from __future__ import annotations

import http
import logging
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

__all__ = [
    "ACCESS_FIELDS",
    "HTTP_ACCESS_MESSAGE",
    "REQUEST_ID_HEADER",
    "WS_ACCESS_MESSAGE",
    "RequestObserver",
    "RequestRecord",
    "StatusCode",
    "access_fields",
    "log_request",
    "notify_observers",
]

_INFO = logging.INFO
_error_logger = logging.getLogger("pyre.error")

#: The named fields of an access record (``record.pyre``), usable in ``--access-log-format``:
#: ``client`` ("host:port", "-" when unknown), ``method``, ``path`` (the target as received,
#: query included), ``status``, ``bytes`` (response body bytes), ``request_bytes`` (request body
#: bytes received, without chunk framing; 0 for a WebSocket handshake), ``duration_ms`` (request
#: head parsed to response complete), ``protocol`` ("HTTP/1.1", "HTTP/1.0", "HTTP/2", "WebSocket"),
#: ``request_id`` (the request's X-Request-ID, or the header ``--access-log-request-id-header``
#: names; "-" without one), ``http_version`` ("1.1", "2"), ``user_agent`` and ``referer``
#: (the request's User-Agent and Referer, "-" without one).
ACCESS_FIELDS = ("client", "method", "path", "status", "bytes", "request_bytes", "duration_ms", "protocol",
                 "request_id", "http_version", "user_agent", "referer")

# The default access lines (uvicorn's): ``record.args`` keep uvicorn's shape
# (client, method, target, http_version, status) for HTTP, so formatters written for
# uvicorn's access log keep working; the status prints with its reason phrase
# (``200 OK``), as uvicorn's line does.
HTTP_ACCESS_MESSAGE = '%s - "%s %s HTTP/%s" %s'
WS_ACCESS_MESSAGE = '%s - "WebSocket %s" %d'
REQUEST_ID_HEADER = "x-request-id"
_PROTOCOLS = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0", "2": "HTTP/2"}
_USER_AGENT = b"user-agent"
_REFERER = b"referer"
_REQUEST_ID = REQUEST_ID_HEADER.encode()

Headers = List[Tuple[bytes, bytes]]


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


def _request_id(headers: Headers, header: bytes) -> str:
    for name, value in headers:
        if name == header:
            return _text(value)
    return "-"


def _header_fields(headers: Headers, request_id_header: bytes) -> Tuple[str, str, str]:
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


def access_fields(websocket: bool, http_version: str, client: str, method: str, raw_path: bytes, query: bytes,
                  headers: Headers, status: int, nbytes: int, request_bytes: int, start: float, end: float,
                  request_id_header: bytes) -> Dict[str, Any]:
    """The named fields of one request (:data:`ACCESS_FIELDS`, in that order); the
    arguments are :class:`RequestRecord`'s."""
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


class RequestRecord:
    """One completed request, as the access log and the request observers see it.

    Built once per request, only when someone listens (see
    :meth:`pyre.transport.context.ServerContext.wants_requests`). Plain attributes are
    what the connection knew anyway; ``path``, ``request_id``, ``protocol`` and the
    durations are computed when read.

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
    - ``start``, ``end``: ``time.perf_counter()`` (``ServerContext.clock``) when the
      request head was parsed and when the response was complete (for a WebSocket: when
      the handshake was answered): sub-microsecond steps, unlike ``loop.time()``'s
      millisecond under uvloop;
    - ``request_id_header``: the header :attr:`request_id` is read from (lower-case bytes).
    """

    __slots__ = ("websocket", "http_version", "client", "method", "raw_path", "query", "headers",
                 "status", "bytes", "request_bytes", "start", "end", "request_id_header")

    def __init__(self, websocket: bool, http_version: str, client: str, method: str, raw_path: bytes,
                 query: bytes, headers: Headers, status: int, nbytes: int, request_bytes: int,
                 start: float, end: float, request_id_header: bytes = _REQUEST_ID) -> None:
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
        return access_fields(self.websocket, self.http_version, self.client, self.method, self.raw_path,
                             self.query, self.headers, self.status, self.bytes, self.request_bytes, self.start,
                             self.end, self.request_id_header)

    def __repr__(self) -> str:
        return f"<RequestRecord {self.protocol} {self.method} {self.path} {self.status}>"


RequestObserver = Callable[[RequestRecord], None]


def log_request(logger: logging.Logger, websocket: bool, http_version: str, client: str, method: str,
                raw_path: bytes, query: bytes, headers: Headers, status: int, nbytes: int, request_bytes: int,
                start: float, end: float, request_id_header: bytes) -> None:
    """Emit one request's access record on ``logger`` (``pyre.access``), if it is enabled
    for INFO: uvicorn's message and ``args``, and ``record.pyre``, the named fields."""
    if not logger.isEnabledFor(_INFO):
        return
    fields = access_fields(websocket, http_version, client, method, raw_path, query, headers, status, nbytes,
                           request_bytes, start, end, request_id_header)
    if websocket:
        message, args = WS_ACCESS_MESSAGE, (client, fields["path"], status)
    else:
        message, args = HTTP_ACCESS_MESSAGE, (client, method, fields["path"], http_version,
                                              _STATUS.get(status) or StatusCode(status))
    # makeRecord + handle: what Logger.info does, minus the caller lookup (a stack
    # walk), which would only ever name the transport's reporting function.
    record = logger.makeRecord(logger.name, _INFO, __file__, 0, message, args, None, "request_done",
                               {"pyre": fields})
    logger.handle(record)


def notify_observers(observers: Iterable[RequestObserver], record: RequestRecord) -> None:
    """Call each observer with ``record``, in order; one that raises is logged to
    ``pyre.error`` and the others still run (an observer never breaks serving)."""
    for observer in observers:
        try:
            observer(record)
        except Exception:  # noqa: BLE001 - an observer never breaks serving
            _error_logger.exception("Request observer %r failed", observer)
