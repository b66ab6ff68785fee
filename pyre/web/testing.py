"""Testing ASGI apps (``pyre.web`` ones or any other): in-process clients and a real server.

- :class:`AsyncTestClient` (an ``httpx.AsyncClient``) and :class:`TestClient` (an
  ``httpx.Client``, running the app on an event loop in a background thread) call the
  app in-process, as Pyre would (a ``pyre.web`` App on its native path, unless
  ``App(native=False)``): the same ASGI state machines check what the app sends,
  responses stream (an SSE stream can be read event by event), ``http.response.pathsend``
  is offered, the app sees ``http.disconnect`` when the response is closed early, and
  ``async with`` / ``with`` runs the lifespan. ``client.websocket_connect(path)`` opens
  a WebSocket test session.
- :func:`serve` / :func:`serve_async` start a real Pyre server on a free port of
  127.0.0.1 for end-to-end tests.

httpx is a test dependency, not one of ``pyre.web``: install it to use this module.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import threading
from collections import deque
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Deque,
    Dict,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Set,
    Tuple,
    TypeVar,
    Union,
)

try:
    import httpx
except ImportError:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError("pyre.web.testing needs the httpx package: pip install httpx") from None

from pyre.asgi.http import HTTPCycle, wake as _wake
from pyre.asgi.lifespan import Lifespan
from pyre.asgi.native import native_app, request_head
from pyre.asgi.scope import ConnectionInfo, http_scope, websocket_scope
from pyre.config import Config
from pyre.protocol.h1.writer import encode_head
from pyre.server import Server

from . import _json
from .websocket import WebSocketDisconnect

if TYPE_CHECKING:
    from pyre.asgi.websocket import WebSocketCycle
else:  # the compiled twin when built (pyre._accel chooses)
    from pyre._accel import WebSocketCycle

__all__ = [
    "AsyncTestClient",
    "AsyncWebSocketSession",
    "LiveServer",
    "TestClient",
    "WebSocketDenied",
    "WebSocketDisconnect",
    "WebSocketSession",
    "serve",
    "serve_async",
]

ASGIApp = Callable[..., Awaitable[Any]]
RawHeaders = List[Tuple[bytes, bytes]]
T = TypeVar("T")

#: After the client goes away (a response closed early, a WebSocket session closed),
#: how long the app may take to notice and return before it is cancelled.
APP_EXIT_TIMEOUT = 5.0
# Response bytes the app may send ahead of the reader before its send() waits.
_HIGH_WATER = 65536
_FILE_CHUNK = 65536


def _reportable(exc: Optional[BaseException], disconnected: bool) -> bool:
    """Whether the app's exception is an error the test should see (the server's rule:
    an OSError after the client left is the app noticing, a cancellation is ours)."""
    if exc is None or isinstance(exc, asyncio.CancelledError):
        return False
    return not (disconnected and isinstance(exc, OSError))


async def _finish(task: "asyncio.Task[None]") -> None:
    """Let the app task end on its own within APP_EXIT_TIMEOUT, then cancel it."""
    if task.done():
        return
    done, _ = await asyncio.wait((task,), timeout=APP_EXIT_TIMEOUT)
    if not done:
        task.cancel()
        await asyncio.wait((task,))


class _Signal:
    """Wakes whoever waits for a change (one waiter at a time is all an exchange has)."""

    __slots__ = ("_waiter",)

    def __init__(self) -> None:
        self._waiter: Optional[asyncio.Future[None]] = None

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            _wake(waiter)

    async def wait(self) -> None:
        waiter = self._waiter
        if waiter is None:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
        await waiter


# -- HTTP --------------------------------------------------------------------------------------


class _ResponseStream:
    """The response side of one in-process exchange (``pyre.asgi.http.ResponseStream``):
    the head and the body chunks the app sends, until the client reads them."""

    def __init__(self, head_request: bool) -> None:
        self.head_request = head_request
        self.status = 0
        self.headers: RawHeaders = []
        self.trailers: RawHeaders = []
        self.chunks: Deque[bytes] = deque()
        self.buffered = 0
        self.write_paused = False  # more than _HIGH_WATER bytes unread
        self.complete = False
        self.aborted = False
        self.error_response = False  # the server's 500: the app failed before its response
        self.changed = _Signal()  # for the reader
        self.drained = _Signal()  # for the app's send()
        self.reading = asyncio.Event()  # the request body feeder runs while set
        self.reading.set()

    def start_response(self, status: int, headers: List[Any], trailers: bool) -> None:
        encode_head(status, headers, http11=True, head_request=self.head_request, keep_alive=True)  # validates
        self.status = status
        self.headers = [(bytes(name), bytes(value)) for name, value in headers]
        self.changed.wake()

    def send_body(self, data: bytes, more_body: bool) -> None:
        if data and not self.head_request:
            self.chunks.append(data)
            self.buffered += len(data)
            self.write_paused = self.buffered >= _HIGH_WATER and not self.aborted
        self.changed.wake()

    def send_trailers(self, headers: List[Any]) -> None:
        self.trailers.extend((bytes(name), bytes(value)) for name, value in headers)
        self.complete = True
        self.changed.wake()

    async def send_file(self, path: str) -> None:
        loop = asyncio.get_running_loop()
        with open(path, "rb") as file:
            while True:
                data = await loop.run_in_executor(None, file.read, _FILE_CHUNK)
                if not data:
                    break
                self.send_body(data, True)
                if self.write_paused:
                    await self.drain()

    async def drain(self) -> None:
        while self.write_paused:
            await self.drained.wait()

    def taken(self, size: int) -> None:
        self.buffered -= size
        if self.write_paused and self.buffered < _HIGH_WATER:
            self.write_paused = False
            self.drained.wake()

    def send_continue(self) -> None:
        pass

    def waiting_for_body(self, waiting: bool) -> None:
        pass

    def pause_reading(self) -> None:
        self.reading.clear()

    def resume_reading(self) -> None:
        self.reading.set()

    def response_complete(self) -> None:
        self.complete = True
        self.changed.wake()

    def send_error_response(self, status: int) -> None:
        self.error_response = True
        self.status = status
        body = b"Internal Server Error"
        self.headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(body))]
        self.chunks.append(body)
        self.complete = True
        self.changed.wake()

    def abort(self) -> None:
        self.aborted = True
        self.write_paused = False
        self.changed.wake()
        self.drained.wake()


class _Exchange:
    """One request through the app: its cycle (Pyre's own state machine), the app task,
    and the task feeding the request body."""

    def __init__(self, app: ASGIApp, scope: Any, method: str, body: AsyncIterable[bytes], raise_errors: bool) -> None:
        self.stream = _ResponseStream(method == "HEAD")
        self.cycle = HTTPCycle(scope, self.stream, False, False)
        self.raise_errors = raise_errors
        self.error: Optional[BaseException] = None
        self.upload_error: Optional[Exception] = None  # raised by the request body the test gave
        self._raised = False
        loop = asyncio.get_running_loop()
        self.app_task = loop.create_task(self._run(app, scope))
        self.feeder = loop.create_task(self._feed(body))

    async def _run(self, app: ASGIApp, scope: Any) -> None:
        cycle = self.cycle
        try:
            result = await app(scope, cycle.receive, cycle.send)
        except BaseException as exc:  # settled like the server settles it, then reported
            self.error = exc
            cycle.app_finished(exc)
        else:
            cycle.app_finished(None, result)
        finally:
            self.feeder.cancel()
            self.stream.changed.wake()

    async def _feed(self, body: AsyncIterable[bytes]) -> None:
        cycle = self.cycle
        reading = self.stream.reading
        try:
            async for chunk in body:
                if chunk:
                    cycle.feed_body(bytes(chunk))
                await reading.wait()
        except Exception as exc:  # the test's body failed: the client is gone mid-request
            self.upload_error = exc
            cycle.disconnect()
            self.stream.abort()
            return
        cycle.end_body()

    def _raise_error(self) -> None:
        if self.raise_errors and not self._raised and _reportable(self.error, self.cycle.disconnected):
            self._raised = True
            assert self.error is not None
            raise self.error

    async def head(self) -> None:
        """Wait for the response head (or the app's end: then a 500, or its error)."""
        stream = self.stream
        while not stream.status and not stream.aborted:
            if self.app_task.done():
                break
            await stream.changed.wait()
        if self.upload_error is not None:
            await self._settle()
            raise self.upload_error
        if stream.error_response or not stream.status:
            await self._settle()
        if not stream.status:
            raise httpx.RemoteProtocolError("the app ended without a response")

    async def body(self) -> AsyncGenerator[bytes, None]:
        """The body as the app sends it; at its end, waits for the app to return (its
        background tasks included) and raises the app's error, if any."""
        stream = self.stream
        chunks = stream.chunks
        while True:
            if chunks:
                chunk = chunks.popleft()
                stream.taken(len(chunk))
                yield chunk
            elif stream.complete:
                break
            elif stream.aborted or self.app_task.done():
                await self._settle()
                raise httpx.RemoteProtocolError("the app stopped before the response was complete")
            else:
                await stream.changed.wait()
        await asyncio.wait((self.app_task,))
        self._raise_error()

    async def _settle(self) -> None:
        await _finish(self.app_task)
        self._raise_error()

    async def close(self) -> None:
        """The client is done with the response: before its end, a disconnect."""
        if not self.stream.complete:
            self.cycle.disconnect()
            self.stream.abort()
        self.feeder.cancel()
        await self._settle()


class _Body(httpx.AsyncByteStream):
    def __init__(self, exchange: _Exchange, done: Callable[[_Exchange], None]) -> None:
        self._exchange = exchange
        self._done = done
        self._chunks: Optional[AsyncGenerator[bytes, None]] = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._chunks is not None:
            raise httpx.StreamConsumed()
        self._chunks = self._exchange.body()
        return self._chunks

    async def aclose(self) -> None:
        try:
            if self._chunks is not None:
                await self._chunks.aclose()
            await self._exchange.close()
        finally:
            self._done(self._exchange)


async def _iterate_bytes(data: bytes) -> AsyncIterator[bytes]:
    yield data


# -- WebSocket -----------------------------------------------------------------------------------


class WebSocketDenied(Exception):
    """The app refused the WebSocket handshake: ``status`` (403 when it closed before
    accepting, 500 when it raised), ``headers`` (``(name, value)`` bytes pairs) and
    ``body`` of its HTTP response."""

    def __init__(self, status: int, headers: RawHeaders, body: bytes) -> None:
        super().__init__(f"WebSocket handshake denied with {status}: {body[:200]!r}")
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        """The body decoded as JSON."""
        return _json.loads(self.body)


class _SessionStream:
    """The server side of an in-process WebSocket (``pyre.asgi.websocket.WebSocketStream``):
    what the app sends becomes events for the session; a close the app sends is
    answered with the same code, as a client does."""

    write_paused = False

    def __init__(self) -> None:
        self.cycle: Optional[WebSocketCycle] = None
        self.events: Deque[Tuple[Any, ...]] = deque()
        self.changed = _Signal()
        self._denial: Optional[Tuple[int, RawHeaders, List[bytes]]] = None

    def _push(self, *event: Any) -> None:
        self.events.append(event)
        self.changed.wake()

    def accept(self, subprotocol: Optional[str], headers: RawHeaders) -> None:
        self._push("accept", subprotocol, headers)

    def send_message(self, data: Union[str, bytes]) -> None:
        self._push("message", data)

    def close(self, code: int, reason: str) -> None:
        self._push("close", code, reason)
        if self.cycle is not None:
            self.cycle.disconnect(code, reason)

    def reject(self, status: int) -> None:
        self._push("deny", status, [], b"")

    def deny_start(self, status: int, headers: RawHeaders) -> None:
        self._denial = (status, headers, [])

    def deny_body(self, body: bytes, more_body: bool) -> None:
        assert self._denial is not None
        status, headers, parts = self._denial
        parts.append(body)
        if not more_body:
            self._push("deny", status, headers, b"".join(parts))

    def abort(self) -> None:
        self._push("abort")

    def message_taken(self) -> None:
        pass

    async def drain(self) -> None:
        pass


class AsyncWebSocketSession:
    """An in-process WebSocket to the app: ``async with client.websocket_connect("/ws") as ws``.

    ``send_text``/``send_bytes``/``send_json``; ``receive_text``/``receive_bytes``/
    ``receive_json`` (raise :class:`WebSocketDisconnect` with the app's close code when
    it closed); ``close(code, reason)``. Entering raises :class:`WebSocketDenied` when
    the app refuses the handshake. ``subprotocol`` and ``headers`` are the accept's.
    An exception the app raises reaches the test from the next call (unless
    ``raise_server_exceptions=False``).
    """

    def __init__(self, app: ASGIApp, scope: Dict[str, Any], raise_errors: bool) -> None:
        self._app = app
        self._scope = scope
        self._raise_errors = raise_errors
        self._stream = _SessionStream()
        self._cycle = WebSocketCycle(scope, self._stream)
        self._stream.cycle = self._cycle
        self._task: Optional[asyncio.Task[None]] = None
        self._error: Optional[BaseException] = None
        self._raised = False
        self._closed = False
        #: The subprotocol the app accepted (None if none).
        self.subprotocol: Optional[str] = None
        #: The extra headers of the app's accept.
        self.headers: RawHeaders = []
        #: The close code and reason once the WebSocket is closed (by either side).
        self.close_code: Optional[int] = None
        self.close_reason = ""

    async def _run(self) -> None:
        cycle = self._cycle
        try:
            result = await self._app(self._scope, cycle.receive, cycle.send)
        except BaseException as exc:
            self._error = exc
            cycle.app_finished(exc)
        else:
            cycle.app_finished(None, result)
        finally:
            self._stream.changed.wake()

    def _raise_error(self) -> None:
        if self._raise_errors and not self._raised and _reportable(self._error, self._cycle.disconnected):
            self._raised = True
            assert self._error is not None
            raise self._error

    async def _next_event(self) -> Tuple[Any, ...]:
        stream = self._stream
        while not stream.events:
            assert self._task is not None
            if self._task.done():
                return ("abort",)
            await stream.changed.wait()
        return stream.events.popleft()

    async def connect(self) -> None:
        """Run the handshake: returns once accepted, or raises :class:`WebSocketDenied`."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        event = await self._next_event()
        if event[0] == "accept":
            self.subprotocol, self.headers = event[1], event[2]
            return
        self._closed = True
        await _finish(self._task)
        self._raise_error()
        if event[0] == "deny":
            raise WebSocketDenied(event[1], event[2], event[3])
        raise RuntimeError("the app ended the WebSocket connection without answering the handshake")

    def _check_open(self) -> None:
        if self._closed:
            self._raise_error()
            raise WebSocketDisconnect(self.close_code or 1006, self.close_reason)

    async def send_text(self, data: str) -> None:
        self._check_open()
        self._cycle.feed_message(str(data))

    async def send_bytes(self, data: bytes) -> None:
        self._check_open()
        self._cycle.feed_message(bytes(data))

    async def send_json(self, data: Any, binary: bool = False) -> None:
        encoded = _json.dumps(data)
        await (self.send_bytes(encoded) if binary else self.send_text(encoded.decode("utf-8")))

    async def receive(self) -> Union[str, bytes]:
        """The next message the app sent (``str`` or ``bytes``)."""
        if self._closed and not self._stream.events:
            self._check_open()
        event = await self._next_event()
        if event[0] == "message":
            data: Union[str, bytes] = event[1]
            return data
        self._closed = True
        if event[0] == "close":
            self.close_code, self.close_reason = event[1], event[2]
        else:  # the connection ended without a close frame
            self.close_code = 1006
        assert self._task is not None
        await _finish(self._task)
        self._raise_error()
        raise WebSocketDisconnect(self.close_code, self.close_reason)

    async def receive_text(self) -> str:
        data = await self.receive()
        if not isinstance(data, str):
            raise TypeError(f"expected a text message, got a binary one: {data[:100]!r}")
        return data

    async def receive_bytes(self) -> bytes:
        data = await self.receive()
        if not isinstance(data, bytes):
            raise TypeError(f"expected a binary message, got a text one: {data[:100]!r}")
        return data

    async def receive_json(self) -> Any:
        return _json.loads(await self.receive())

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close from the client side with ``code`` (the app receives
        ``websocket.disconnect``), and wait for the app to return."""
        if not self._closed:
            self._closed = True
            closing = [event for event in self._stream.events if event[0] == "close"]
            if closing:  # the app closed first: that is how it ended
                code, reason = closing[0][1], closing[0][2]
            self.close_code, self.close_reason = code, reason
            self._cycle.disconnect(code, reason)
        if self._task is not None:
            await _finish(self._task)
        self._raise_error()

    async def __aenter__(self) -> "AsyncWebSocketSession":
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()


class WebSocketSession:
    """The sync twin of :class:`AsyncWebSocketSession`, from :meth:`TestClient.websocket_connect`."""

    def __init__(self, session: AsyncWebSocketSession, portal: "_Portal") -> None:
        self._session = session
        self._portal = portal

    @property
    def subprotocol(self) -> Optional[str]:
        return self._session.subprotocol

    @property
    def headers(self) -> RawHeaders:
        return self._session.headers

    @property
    def close_code(self) -> Optional[int]:
        return self._session.close_code

    @property
    def close_reason(self) -> str:
        return self._session.close_reason

    def send_text(self, data: str) -> None:
        self._portal.call(self._session.send_text, data)

    def send_bytes(self, data: bytes) -> None:
        self._portal.call(self._session.send_bytes, data)

    def send_json(self, data: Any, binary: bool = False) -> None:
        self._portal.call(self._session.send_json, data, binary)

    def receive(self) -> Union[str, bytes]:
        return self._portal.call(self._session.receive)

    def receive_text(self) -> str:
        return self._portal.call(self._session.receive_text)

    def receive_bytes(self) -> bytes:
        return self._portal.call(self._session.receive_bytes)

    def receive_json(self) -> Any:
        return self._portal.call(self._session.receive_json)

    def close(self, code: int = 1000, reason: str = "") -> None:
        self._portal.call(self._session.close, code, reason)

    def __enter__(self) -> "WebSocketSession":
        self._portal.call(self._session.connect)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


# -- the app under test --------------------------------------------------------------------------


class _AppRunner:
    """What both clients share: the app, its lifespan and state, and the open exchanges."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        raise_server_exceptions: bool,
        root_path: str,
        client: Tuple[str, int],
        lifespan: str,
    ) -> None:
        if lifespan not in ("auto", "on", "off"):
            raise ValueError(f"lifespan must be 'auto', 'on' or 'off', got {lifespan!r}")
        self.app = app
        self.raise_errors = raise_server_exceptions
        self.root_path = root_path
        self.client = client
        self.lifespan_mode = lifespan
        self.lifespan: Optional[Lifespan] = None
        self.state: Optional[Dict[str, Any]] = None
        self.exchanges: Set[_Exchange] = set()

    def _info(self, url: httpx.URL) -> ConnectionInfo:
        port = url.port or (443 if url.scheme in ("https", "wss") else 80)
        return ConnectionInfo((url.host, port), self.client, url.scheme, self.root_path)

    # -- lifespan ------------------------------------------------------------------------

    async def startup(self) -> None:
        if self.lifespan_mode == "off":
            return
        errors: List[BaseException] = []
        app = self.app

        async def lifespan_app(scope: Dict[str, Any], receive: Any, send: Any) -> None:
            try:
                await app(scope, receive, send)
            except BaseException as exc:
                errors.append(exc)
                raise

        lifespan = self.lifespan = Lifespan(lifespan_app, self.lifespan_mode)
        await lifespan.startup()
        if lifespan.failed:
            if errors:
                raise errors[0]
            raise RuntimeError(f"Application startup failed: {lifespan.error or 'no message'}")
        if lifespan.supported:
            self.state = lifespan.state

    async def shutdown(self) -> None:
        for exchange in list(self.exchanges):
            await exchange.close()
        lifespan = self.lifespan
        if lifespan is None:
            return
        self.lifespan = None
        await lifespan.shutdown()
        if lifespan.failed:
            raise RuntimeError(f"Application shutdown failed: {lifespan.error or 'no message'}")

    # -- HTTP ----------------------------------------------------------------------------

    async def request(self, request: httpx.Request, body: AsyncIterable[bytes]) -> Tuple[_Exchange, _Body]:
        url = request.url
        raw_path, _, query = url.raw_path.partition(b"?")
        headers = [(name.lower(), value) for name, value in request.headers.raw]
        # As Pyre serves it: an App on the native path (a RequestHead, no scope dict).
        native = native_app(self.app, self.state)
        if native is None:
            scope: Any = http_scope(self._info(url), request.method, raw_path, query, "1.1", headers, self.state)
            app = self.app
        else:
            scope = request_head(native, self._info(url), request.method, raw_path, query, "1.1", headers)
            app = native.entry
        exchange = _Exchange(app, scope, request.method, body, self.raise_errors)
        self.exchanges.add(exchange)
        try:
            await exchange.head()
        except BaseException:
            await exchange.close()
            self.exchanges.discard(exchange)
            raise
        return exchange, _Body(exchange, self.exchanges.discard)

    # -- WebSocket -------------------------------------------------------------------------

    def websocket(self, request: httpx.Request, subprotocols: Sequence[str]) -> AsyncWebSocketSession:
        url = request.url
        raw_path, _, query = url.raw_path.partition(b"?")
        headers = [(name.lower(), value) for name, value in request.headers.raw]
        headers += [
            (b"connection", b"upgrade"),
            (b"upgrade", b"websocket"),
            (b"sec-websocket-version", b"13"),
            (b"sec-websocket-key", base64.b64encode(os.urandom(16))),
        ]
        if subprotocols:
            headers.append((b"sec-websocket-protocol", ", ".join(subprotocols).encode("latin-1")))
        info = self._info(url)
        info.scheme = "https" if url.scheme in ("https", "wss") else "http"
        scope = websocket_scope(info, raw_path, query, "1.1", headers, list(subprotocols), self.state)
        return AsyncWebSocketSession(self.app, scope, self.raise_errors)


def _response(exchange: _Exchange, stream: Union[httpx.AsyncByteStream, httpx.SyncByteStream]) -> httpx.Response:
    extensions = {"http_version": b"HTTP/1.1", "trailers": exchange.stream.trailers}
    return httpx.Response(exchange.stream.status, headers=exchange.stream.headers, stream=stream, extensions=extensions)


class _AsyncTransport(httpx.AsyncBaseTransport):
    def __init__(self, runner: _AppRunner) -> None:
        self._runner = runner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        stream = request.stream
        body = stream if isinstance(stream, httpx.AsyncByteStream) else _iterate_bytes(request.read())
        exchange, response_body = await self._runner.request(request, body)
        return _response(exchange, response_body)

    async def aclose(self) -> None:
        for exchange in list(self._runner.exchanges):
            await exchange.close()
        self._runner.exchanges.clear()


class AsyncTestClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` calling an ASGI ``app`` in-process.

    ``async with AsyncTestClient(app) as client:`` runs the app's lifespan (startup on
    entry, shutdown on exit; a failure raises). ``raise_server_exceptions`` (default
    True) re-raises an exception of the app in the test; otherwise the client gets the
    500 the server would send. ``root_path`` is the server's ``--root-path``;
    ``client`` the peer address the app sees; ``lifespan`` is ``"auto"`` (an app that
    raises on the lifespan scope does not support it), ``"on"`` or ``"off"``. Other
    keyword arguments go to ``httpx.AsyncClient`` (``headers``, ``cookies``,
    ``follow_redirects``, ...).
    """

    __test__ = False  # not a test class for pytest

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        *,
        raise_server_exceptions: bool = True,
        root_path: str = "",
        client: Tuple[str, int] = ("127.0.0.1", 50000),
        lifespan: str = "auto",
        **kwargs: Any,
    ) -> None:
        self._runner = _AppRunner(
            app, raise_server_exceptions=raise_server_exceptions, root_path=root_path, client=client, lifespan=lifespan
        )
        super().__init__(base_url=base_url, transport=_AsyncTransport(self._runner), **kwargs)

    async def __aenter__(self) -> "AsyncTestClient":
        await super().__aenter__()
        try:
            await self._runner.startup()
        except BaseException:
            await super().__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await self._runner.shutdown()
        finally:
            await super().__aexit__(*exc_info)

    def websocket_connect(
        self,
        url: str,
        subprotocols: Sequence[str] = (),
        headers: Optional[Dict[str, str]] = None,
    ) -> AsyncWebSocketSession:
        """A WebSocket session to ``url`` (relative to ``base_url``), offering
        ``subprotocols``; use it as ``async with``. The client's headers and cookies go along."""
        request = self.build_request("GET", url, headers=headers)
        return self._runner.websocket(request, subprotocols)


# -- the sync client ---------------------------------------------------------------------------


class _Portal:
    """An event loop in a background thread, and a way to run coroutines on it."""

    def __init__(self, loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
        self._loop = loop_factory()
        self._thread = threading.Thread(target=self._run, name="pyre-test-client", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    def call(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        if threading.current_thread() is self._thread:
            raise RuntimeError("a TestClient cannot be called from the app it runs (use AsyncTestClient there)")
        if not self._thread.is_alive():
            raise RuntimeError("the TestClient is closed")

        async def run() -> T:
            return await function(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, body: _Body, portal: _Portal) -> None:
        self._body = body
        self._portal = portal

    def __iter__(self) -> Iterator[bytes]:
        chunks = self._portal.call(self._start)
        end = object()

        async def next_chunk() -> Any:
            try:
                return await chunks.__anext__()
            except StopAsyncIteration:
                return end

        while True:
            chunk = self._portal.call(next_chunk)
            if chunk is end:
                return
            yield chunk

    async def _start(self) -> AsyncIterator[bytes]:
        return self._body.__aiter__()

    def close(self) -> None:
        self._portal.call(self._body.aclose)


class _SyncTransport(httpx.BaseTransport):
    def __init__(self, client: "TestClient") -> None:
        self._client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        portal = self._client._portal_running()
        body = request.read()  # in the caller's thread: a sync body may be a file or generator
        exchange, response_body = portal.call(self._client._runner.request, request, _iterate_bytes(body))
        return _response(exchange, _SyncBody(response_body, portal))

    def close(self) -> None:
        self._client._stop_portal()


class TestClient(httpx.Client):
    """An ``httpx.Client`` calling an ASGI ``app`` in-process, on an event loop in a
    background thread: ``with TestClient(app) as client:`` (the lifespan runs on entry
    and exit). Same options and features as :class:`AsyncTestClient`; ``loop_factory``
    makes the loop (default ``asyncio.new_event_loop``)."""

    __test__ = False  # not a test class for pytest

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        *,
        raise_server_exceptions: bool = True,
        root_path: str = "",
        client: Tuple[str, int] = ("127.0.0.1", 50000),
        lifespan: str = "auto",
        loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
        **kwargs: Any,
    ) -> None:
        self._runner = _AppRunner(
            app, raise_server_exceptions=raise_server_exceptions, root_path=root_path, client=client, lifespan=lifespan
        )
        self._loop_factory = loop_factory
        self._portal: Optional[_Portal] = None
        self._portal_lock = threading.Lock()
        super().__init__(base_url=base_url, transport=_SyncTransport(self), **kwargs)

    def _portal_running(self) -> _Portal:
        with self._portal_lock:
            if self._portal is None:
                self._portal = _Portal(self._loop_factory)
            return self._portal

    def _stop_portal(self) -> None:
        with self._portal_lock:
            portal, self._portal = self._portal, None
        if portal is not None:
            try:
                portal.call(self._runner.shutdown)
            finally:
                portal.stop()

    def __enter__(self) -> "TestClient":
        super().__enter__()
        try:
            self._portal_running().call(self._runner.startup)
        except BaseException:
            super().__exit__(None, None, None)
            raise
        return self

    def websocket_connect(
        self,
        url: str,
        subprotocols: Sequence[str] = (),
        headers: Optional[Dict[str, str]] = None,
    ) -> WebSocketSession:
        """A WebSocket session to ``url``; use it as ``with client.websocket_connect(url) as ws``."""
        request = self.build_request("GET", url, headers=headers)
        session = self._runner.websocket(request, subprotocols)
        return WebSocketSession(session, self._portal_running())


# -- a real server -----------------------------------------------------------------------------------


class LiveServer(NamedTuple):
    """A running Pyre server: ``url`` (``http://127.0.0.1:PORT``) and the ``server``."""

    url: str
    server: Server

    @property
    def port(self) -> int:
        port = self.server.bound_port
        assert port is not None
        return port

    @property
    def ws_url(self) -> str:
        """The base URL for WebSocket clients: ``ws://127.0.0.1:PORT``."""
        return "ws" + self.url[4:]


def _config(app: ASGIApp, config: Dict[str, Any]) -> Config:
    config.setdefault("host", "127.0.0.1")
    config.setdefault("port", 0)
    config.setdefault("log_level", None)  # leave the test run's logging alone
    return Config(app, **config)


def _live(server: Server) -> LiveServer:
    scheme = "https" if server.config.ssl_certfile else "http"
    host = server.config.host
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return LiveServer(f"{scheme}://{host}:{server.bound_port}", server)


def _not_started(server: Server) -> RuntimeError:
    lifespan = server.lifespan
    if lifespan is not None and lifespan.failed:
        return RuntimeError(f"Pyre did not start: application startup failed: {lifespan.error or 'no message'}")
    return RuntimeError("Pyre did not start (the pyre.error log says why)")


@contextlib.contextmanager
def serve(app: ASGIApp, **config: Any) -> Iterator[LiveServer]:
    """Run ``app`` on a real Pyre server in a background thread (with its own event loop)
    while the block runs: ``with serve(app) as live: httpx.get(live.url + "/")``.

    ``config`` takes :class:`pyre.Config`'s settings; the defaults here are
    ``host="127.0.0.1"``, ``port=0`` (a free port) and ``log_level=None``. On exit the
    server shuts down gracefully (lifespan shutdown included) and the thread ends.
    """
    server = Server(_config(app, config))
    started = threading.Event()
    failure: List[BaseException] = []
    server.on_started = lambda _: started.set()

    def run() -> None:
        try:
            server.run()
        except BaseException as exc:
            failure.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=run, name="pyre-test-server", daemon=True)
    thread.start()
    started.wait()
    if failure:
        thread.join()
        raise failure[0]
    if not server.started:
        thread.join()
        raise _not_started(server)
    try:
        yield _live(server)
    finally:
        server.should_exit = True
        thread.join(10 + (server.config.timeout_graceful_shutdown or 0))
        if thread.is_alive():
            server.force_exit = True
            thread.join(10)
        if failure:
            raise failure[0]
        if thread.is_alive():
            raise RuntimeError("the Pyre server thread did not stop")


@contextlib.asynccontextmanager
async def serve_async(app: ASGIApp, **config: Any) -> AsyncIterator[LiveServer]:
    """:func:`serve` on the running event loop: ``async with serve_async(app) as live:``."""
    server = Server(_config(app, config))
    loop = asyncio.get_running_loop()
    started: asyncio.Future[None] = loop.create_future()

    def on_started(_: Server) -> None:
        if not started.done():
            started.set_result(None)

    server.on_started = on_started
    task = loop.create_task(server.serve())
    await asyncio.wait((started, task), return_when=asyncio.FIRST_COMPLETED)
    if not server.started:
        started.cancel()
        await task  # raises what stopped it, if anything
        raise _not_started(server)
    try:
        yield _live(server)
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), 10 + (server.config.timeout_graceful_shutdown or 0))
        except asyncio.TimeoutError:
            server.force_exit = True
            await task
