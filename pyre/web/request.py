"""The request of ``pyre.web``: lazy, and parsed at most once.

Nothing is parsed in the constructor: it keeps references to the raw inputs (method,
decoded path, raw path bytes, query bytes, header list, client tuple) in slots, and
every derived value (headers view, query parameters, cookies, URL, content type, body,
JSON, form) is computed on first access and cached in its own slot.

Native path: when Pyre serves an ``App`` it builds the request straight from the
server's parsed request, a :class:`~pyre.asgi.native.RequestHead`, with no ASGI scope
dict. The raw-input slots are the seam: :meth:`Request.from_head` (beside ``__init__``,
the ASGI constructor) fills ``method``, ``_path``, ``_raw_path``, ``_query_raw`` and
``_headers_raw`` from the head's fields and leaves ``_scope`` unset; every property
reads only those slots, so nothing else changes. The few values otherwise read from the
scope (``client``, ``scheme``, ``http_version``, ``root_path``, ``server``) come from
the head, and ``scope`` itself is assembled by the head on first access.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Dict, List, MutableMapping, Optional, Tuple
from urllib.parse import quote, quote_from_bytes

from . import _json
from .datastructures import URL, Address, ContentType, FormData, QueryParams, parse_cookies, parse_options_header
from .errors import ClientDisconnect, HTTPError
from .multipart import DEFAULT_FORM_LIMITS, FormLimits, MultipartParser, parse_urlencoded

if TYPE_CHECKING:
    from .parsing import Headers
else:  # the compiled twin when built (pyre._accel chooses)
    from pyre._accel import Headers

__all__ = ["ClientDisconnect", "HTTPConnection", "Request"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Marks a cache slot whose value (which may be None) is not computed yet.
_UNSET: Any = object()
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# Characters left as they are when a raw path or query is made ASCII for a URL.
_URL_SAFE = "/%:@!$&'()*+,;=-._~?[]#"


def _smallest(*limits: Optional[int]) -> Optional[int]:
    present = [limit for limit in limits if limit is not None]
    return min(present) if present else None


def _ascii_url_part(raw: bytes) -> str:
    # Raw non-ASCII bytes (some clients send them) are percent-encoded; escapes stay.
    return raw.decode("ascii") if raw.isascii() else quote_from_bytes(raw, safe=_URL_SAFE)


class HTTPConnection:
    """What an HTTP request and a WebSocket share: the connection's target, headers,
    query, cookies, URL and client, each parsed on first access and cached.

    ``HTTPConnection(scope, receive, send)`` keeps the raw inputs; the properties read
    only them. :class:`Request` and :class:`pyre.web.websocket.WebSocket` extend it.
    Cheap attributes: ``path`` (decoded), ``raw_path``, ``scheme``, ``http_version``,
    ``path_params`` (set by the app after routing), ``app``, ``state`` (a namespace
    for this connection), ``scope``.
    """

    __slots__ = (
        "_scope",
        "_head",
        "_receive",
        "_send",
        # raw inputs
        "_path",
        "_raw_path",
        "_query_raw",
        "_headers_raw",
        "_client_raw",
        # set by the app
        "app",
        "path_params",
        # caches
        "_headers",
        "_query",
        "_cookies",
        "_url",
        "_base_url",
        "_client",
        "_state",
    )

    app: Any
    path_params: Dict[str, Any]
    _scope: Optional[Scope]
    _head: Any
    _receive: Receive
    _send: Optional[Send]
    _path: str
    _raw_path: Optional[bytes]
    _query_raw: bytes
    _headers_raw: Any
    _client_raw: Optional[Tuple[str, int]]
    _headers: Optional[Headers]
    _query: Optional[QueryParams]
    _cookies: Optional[Dict[str, str]]
    _url: Optional[URL]
    _base_url: Optional[URL]
    _client: Any
    _state: Optional[SimpleNamespace]

    def __init__(self, scope: Scope, receive: Receive, send: Optional[Send] = None) -> None:
        _init_connection(self, scope, receive, send)

    # -- cheap attributes ------------------------------------------------------------

    @property
    def scope(self) -> Scope:
        """The ASGI scope (its ``"state"`` is the lifespan state shared by the server). On
        Pyre's native path it is assembled on first access (see :mod:`pyre.asgi.native`)."""
        scope = self._scope
        if scope is None:
            scope = self._scope = self._head.scope()
        return scope

    def _connection_value(self, key: str, default: Any) -> Any:
        # A connection value: the scope's, or on the native path the head's (no scope built).
        scope = self._scope
        if scope is None:
            return getattr(self._head, key)
        return scope.get(key, default)

    @property
    def receive(self) -> Receive:
        return self._receive

    @property
    def path(self) -> str:
        """The path, percent-decoded (with the root path of a mounted app)."""
        return self._path

    @property
    def raw_path(self) -> bytes:
        """The path as the client sent it (percent-encoded), without the query."""
        raw = self._raw_path
        if raw is None:
            raw = self._raw_path = quote(self._path).encode("ascii")
        return raw

    @property
    def scheme(self) -> str:
        """``"http"`` or ``"https"`` (``"ws"`` or ``"wss"`` for a WebSocket)."""
        scheme: str = self._connection_value("scheme", "http")
        return scheme

    @property
    def http_version(self) -> str:
        """``"1.0"``, ``"1.1"`` or ``"2"``."""
        version: str = self._connection_value("http_version", "1.1")
        return version

    @property
    def state(self) -> SimpleNamespace:
        """A namespace for this connection's own values (the app's shared state is
        ``request.app.state``; the server's lifespan state ``request.scope["state"]``)."""
        state = self._state
        if state is None:
            state = self._state = SimpleNamespace()
        return state

    # -- parsed on first access ------------------------------------------------------

    @property
    def headers(self) -> Headers:
        """The request headers: case-insensitive, multi-value, read from the raw list."""
        headers = self._headers
        if headers is None:
            raw = self._headers_raw
            if not isinstance(raw, (list, tuple)):  # an ASGI iterable of another kind
                raw = self._headers_raw = [(bytes(name), bytes(value)) for name, value in raw]
            headers = self._headers = Headers(raw)
        return headers

    @property
    def query(self) -> QueryParams:
        """The query parameters (multi-value; ``get`` gives a name's last value)."""
        query = self._query
        if query is None:
            query = self._query = QueryParams(self._query_raw)
        return query

    @property
    def query_params(self) -> QueryParams:
        """Starlette's name for :attr:`query`."""
        return self.query

    @property
    def cookies(self) -> Dict[str, str]:
        """The cookies of the ``Cookie`` header(s)."""
        cookies = self._cookies
        if cookies is None:
            values = self.headers.getlist("cookie")
            # HTTP/2 may split the cookie header into several fields (RFC 9113 8.2.3).
            cookies = self._cookies = parse_cookies(values[0] if len(values) == 1 else "; ".join(values))
        return cookies

    @property
    def client(self) -> Optional[Address]:
        """The peer's ``Address(host, port)``, or None when the server does not say."""
        client = self._client
        if client is _UNSET:
            raw = self._client_raw
            if raw is _UNSET:  # the native path: after the trusted proxy headers
                raw = self._head.client
            client = self._client = None if raw is None else Address(raw[0], raw[1])
        result: Optional[Address] = client
        return result

    def _host(self) -> str:
        host = self.headers.get("host")
        if host is not None:
            return host
        server = self._connection_value("server", None)
        if server is None:
            return ""
        host, port = server[0], server[1]
        if port is None or port == _DEFAULT_PORTS.get(self.scheme):
            return str(host)
        return f"{host}:{port}"

    @property
    def url(self) -> URL:
        """The full URL, as the client sent it (path and query percent-encoded)."""
        url = self._url
        if url is None:
            text = f"{self.scheme}://{self._host()}{_ascii_url_part(self.raw_path)}"
            if self._query_raw:
                text = f"{text}?{_ascii_url_part(self._query_raw)}"
            url = self._url = URL(text)
        return url

    @property
    def base_url(self) -> URL:
        """The URL of the app's root: scheme, host and root path, ending with ``/``."""
        url = self._base_url
        if url is None:
            root = quote(self._connection_value("root_path", "") or "")
            url = self._base_url = URL(f"{self.scheme}://{self._host()}{root.rstrip('/')}/")
        return url


def _init_connection(connection: HTTPConnection, scope: Scope, receive: Receive, send: Optional[Send]) -> None:
    # HTTPConnection.__init__ as a function: compiled, Request.__init__ calls it in C.
    connection._scope = scope
    connection._head = None
    connection._receive = receive
    connection._send = send
    connection._path = scope["path"]
    connection._raw_path = scope.get("raw_path")
    connection._query_raw = scope["query_string"]
    connection._headers_raw = scope["headers"]
    connection._client_raw = scope.get("client")
    _init_caches(connection)


def _init_caches(connection: HTTPConnection) -> None:
    connection.app = None
    connection.path_params = {}
    connection._headers = None
    connection._query = None
    connection._cookies = None
    connection._url = None
    connection._base_url = None
    connection._client = _UNSET
    connection._state = None


class Request(HTTPConnection):
    """One HTTP request, read lazily: ``Request(scope, receive, send)``.

    Cheap attributes: ``method``, ``path`` (decoded), ``raw_path``, ``scheme``,
    ``http_version``, ``path_params`` (set by the app after routing), ``app``,
    ``state`` (a namespace for this request), ``scope``. Parsed and cached on first
    access: ``headers``, ``query``, ``cookies``, ``url``, ``base_url``, ``client``
    (these shared with WebSockets through :class:`HTTPConnection`), ``content_type``,
    ``content_length``; and the body through ``body()``, ``json()``, ``form()`` (each
    cached) or ``stream()`` (once, not cached).

    ``max_body_size`` (None: no limit) bounds the body: a ``Content-Length`` over it
    gets ``HTTPError(413)`` before anything is read, a streamed body when it passes it.
    ``form_limits`` bounds forms (see :class:`FormLimits`). The app sets both.
    Call ``await request.close()`` after the response: it closes the form's files.
    """

    __slots__ = (
        "method",
        # set by the app
        "max_body_size",
        "form_limits",
        # caches
        "_content_type",
        "_content_length",
        "_body",
        "_json",
        "_form",
        # body reading
        "_consumer",
        "_received",
        "_disconnected",
        "_pending",
    )

    method: str
    max_body_size: Optional[int]
    form_limits: FormLimits
    _content_type: Optional[ContentType]
    _content_length: Any
    _body: Optional[bytes]
    _json: Any
    _form: Optional[FormData]
    _consumer: Optional[str]
    _received: int
    _disconnected: bool
    _pending: Optional[List[Message]]

    def __init__(self, scope: Scope, receive: Receive, send: Optional[Send] = None) -> None:
        _init_connection(self, scope, receive, send)
        _init_request(self, scope["method"])

    @classmethod
    def from_head(cls, head: Any, receive: Receive, send: Optional[Send] = None) -> "Request":
        """The request of a :class:`~pyre.asgi.native.RequestHead` (Pyre's native path):
        the same request as ``Request(head.scope(), receive, send)``, without the scope."""
        request: Request = cls.__new__(cls)
        _init_from_head(request, head, receive, send)
        return request

    @property
    def content_type(self) -> ContentType:
        """The ``Content-Type``: ``ContentType(media_type, params)``; ``("", {})`` when absent."""
        content_type = self._content_type
        if content_type is None:
            content_type = self._content_type = parse_options_header(self.headers.get("content-type", ""))
        return content_type

    @property
    def content_length(self) -> Optional[int]:
        """The ``Content-Length`` as an int; None when absent or not a number."""
        length = self._content_length
        if length is _UNSET:
            value = self.headers.get("content-length")
            if value is not None:
                value = value.strip(" \t")
            length = self._content_length = int(value) if value and value.isascii() and value.isdigit() else None
        result: Optional[int] = length
        return result

    # -- the body --------------------------------------------------------------------

    async def body(self) -> bytes:
        """The whole body (read once, then cached)."""
        body = self._body
        if body is None:
            body = self._body = await self._read_all(self.max_body_size, "body()")
        return body

    async def json(self) -> Any:
        """The body decoded as JSON (cached); invalid JSON gets ``HTTPError(400)``."""
        value = self._json
        if value is _UNSET:
            body = await self.body()
            try:
                value = _json.loads(body)
            except _json.JSONDecodeError as exc:
                raise HTTPError(400, f"Invalid JSON body: {exc}") from None
            self._json = value
        return value

    async def form(self, limits: Optional[FormLimits] = None) -> FormData:
        """The form (cached): ``application/x-www-form-urlencoded`` or
        ``multipart/form-data`` (streamed; files spooled to disk past the threshold);
        an empty form for another content type. ``limits`` replaces ``form_limits``.

        A malformed form gets ``HTTPError(400)``, one over a limit ``HTTPError(413)``.
        """
        form = self._form
        if form is None:
            if limits is None:
                limits = self.form_limits
            content_type = self.content_type
            media_type = content_type.media_type
            if media_type == "multipart/form-data":
                form = await self._read_multipart(content_type, limits)
            elif media_type == "application/x-www-form-urlencoded":
                body = self._body
                if body is None:
                    limit = _smallest(self.max_body_size, limits.max_body_size, limits.max_part_size)
                    body = self._body = await self._read_all(limit, "form()")
                form = parse_urlencoded(body, limits)
            else:
                form = FormData()
            self._form = form
        return form

    async def _read_multipart(self, content_type: ContentType, limits: FormLimits) -> FormData:
        parser = MultipartParser(content_type, limits)
        try:
            async for chunk in self._chunks(_smallest(self.max_body_size, limits.max_body_size), "form()"):
                parser.feed(chunk)
            return parser.finish()
        except BaseException:
            parser.abort()
            raise

    def stream(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive (not cached: iterate once). After the
        body was read by ``body()``/``json()``/``form()``, yields the cached body."""
        return self._chunks(self.max_body_size, "stream()")

    async def close(self) -> None:
        """Release what the request holds: close the form's files. The app calls it
        after the response."""
        form = self._form
        if form is not None:
            await form.close()

    @property
    def needs_close(self) -> bool:
        """Whether :meth:`close` has anything to release (a form was parsed): lets the app
        skip the call for every other request."""
        return self._form is not None

    async def is_disconnected(self) -> bool:
        """Whether the client has gone away, checked without waiting. A body message
        received meanwhile is kept for ``body()``/``stream()``."""
        if self._disconnected:
            return True
        task = asyncio.ensure_future(self._receive())
        await asyncio.sleep(0)  # the task's first step: done if a message is ready
        if not task.done():
            task.cancel()
            task.add_done_callback(_retrieve)
            return False
        message = task.result()
        kind = message.get("type")
        if kind == "http.disconnect":
            self._disconnected = True
            return True
        if kind == "http.request":
            if self._pending is None:
                self._pending = []
            self._pending.append(message)
        return False

    # -- reading -----------------------------------------------------------------------

    def _start(self, consumer: str, limit: Optional[int]) -> None:
        if limit is not None:
            length = self.content_length
            if length is not None and length > limit:
                raise HTTPError(413, f"Request body larger than {limit} bytes")
        if self._disconnected:
            raise ClientDisconnect("the client disconnected before sending the whole request body")
        if self._consumer is not None:
            raise RuntimeError(
                f"{consumer} cannot read the request body: {self._consumer} already consumed it "
                "(body(), json() and form() cache what they read; stream() does not, so read the body once)"
            )
        self._consumer = consumer
        self._received = 0

    async def _next_chunk(self, limit: Optional[int]) -> Tuple[bytes, bool]:
        pending = self._pending
        message = pending.pop(0) if pending else await self._receive()
        kind = message["type"]
        if kind == "http.request":
            chunk: bytes = message.get("body", b"")
            if limit is not None:
                self._received += len(chunk)
                if self._received > limit:
                    self._consumer = f"{self._consumer} (stopped at the size limit)"
                    raise HTTPError(413, f"Request body larger than {limit} bytes")
            return chunk, message.get("more_body", False)
        if kind == "http.disconnect":
            self._disconnected = True
            raise ClientDisconnect("the client disconnected before sending the whole request body")
        raise RuntimeError(f"unexpected ASGI message {kind!r} while reading the request body")

    async def _read_all(self, limit: Optional[int], consumer: str) -> bytes:
        self._start(consumer, limit)
        chunk, more = await self._next_chunk(limit)
        if not more:
            return chunk
        chunks = [chunk]
        while more:
            chunk, more = await self._next_chunk(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    async def _chunks(self, limit: Optional[int], consumer: str) -> AsyncIterator[bytes]:
        body = self._body
        if body is not None:
            if body:
                yield body
            return
        self._start(consumer, limit)
        more = True
        while more:
            chunk, more = await self._next_chunk(limit)
            if chunk:
                yield chunk

    def __repr__(self) -> str:
        return f"<Request {self.method} {self._path}>"


def _init_from_head(request: Request, head: Any, receive: Receive, send: Optional[Send]) -> None:
    # Request.from_head's work as a function: compiled, the slots are set in C.
    request._scope = None
    request._head = head
    request._receive = receive
    request._send = send
    request._path = head.path
    request._raw_path = head.raw_path
    request._query_raw = head.query_string
    request._headers_raw = head.headers
    request._client_raw = _UNSET
    _init_caches(request)
    _init_request(request, head.method)


def _init_request(request: Request, method: str) -> None:
    # The Request fields beyond HTTPConnection's, for both constructors.
    request.method = method
    request.max_body_size = None
    request.form_limits = DEFAULT_FORM_LIMITS
    request._content_type = None
    request._content_length = _UNSET
    request._body = None
    request._json = _UNSET
    request._form = None
    request._consumer = None
    request._disconnected = False
    request._pending = None


def _retrieve(task: "asyncio.Future[Any]") -> None:
    # A receive that ended with an error after we stopped waiting: not ours to report.
    if not task.cancelled():
        task.exception()
