"""The ASGI HTTP request/response cycle, shared by every HTTP version.

One :class:`HTTPCycle` serves one request. What carries it (an HTTP/1.1 connection,
or one stream of an HTTP/2 connection) pushes the request body into it (``feed_body``,
``end_body``, ``disconnect``) and implements :class:`ResponseStream`, which the cycle
calls to emit the response.
The cycle knows ASGI messages and their order; it knows no byte formats.

Send-side states (anything not listed raises RuntimeError in ``send``)::

    START --http.response.start--> BODY
    BODY  --http.response.body (more_body)--> BODY
    BODY  --http.response.body / pathsend--> DONE, or TRAILERS if trailers were announced
    TRAILERS --http.response.trailers (more_trailers)--> TRAILERS
    TRAILERS --http.response.trailers--> DONE

After the client disconnected, ``send`` raises :class:`ClientDisconnected` (an
``OSError``, ASGI spec 2.4); ``receive`` returns ``http.disconnect``.

This module is its own compiled twin: Cython compiles it as it is into
``pyre.asgi._http_c`` (typed by ``_http_c.pxd``); :mod:`pyre._accel` chooses. What
every cycle twin shares is :mod:`pyre.asgi.http_common`, re-exported here.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Dict, FrozenSet, Iterator, List, Optional, Set, Tuple

from pyre.asgi.http_common import (
    BODY,
    BODY_HIGH_WATER,
    DONE,
    SHUTDOWN_DEADLINE,
    START,
    TRAILERS,
    ClientDisconnected,
    ResponseStream,
    error_status,
    finish_response,
    unexpected_message,
    wait_for_input,
    wake,
)

try:
    import cython  # type: ignore[import-untyped,import-not-found,unused-ignore]

    COMPILED: bool = cython.compiled
except ImportError:  # pragma: no cover - Cython is a build dependency only
    COMPILED = False

if COMPILED:  # C-API calls of the compiled twin (cimports: never run as Python)
    from cython.cimports.cpython.unicode import (  # type: ignore
        PyUnicode_1BYTE_KIND,
        PyUnicode_CheckExact,
        PyUnicode_DATA,
        PyUnicode_GET_LENGTH,
        PyUnicode_KIND,
    )
    from cython.cimports.libc.string import memcmp  # type: ignore

__all__ = [
    "BODY", "BODY_HIGH_WATER", "DONE", "READY", "SHUTDOWN_DEADLINE", "START", "TRAILERS", "ClientDisconnected",
    "HTTPCycle", "Ready", "ResponseStream", "apply_proxy", "error_status", "finish_response", "new_cycle", "run_asgi", "unexpected_message", "wait_for_input", "wake",
]

_EMPTY_REQUEST_BODY = {"type": "http.request", "body": b"", "more_body": False}
_NO_TYPE = object()


class Ready:
    """What ``send()`` returns when its work is done: ``await`` gives None at once.

    ``__await__`` hands back one shared iterator that is already exhausted, so an
    ``await`` allocates nothing and runs no frame of its own."""

    __slots__ = ()

    def __await__(self) -> Iterator[None]:
        return _EXHAUSTED


_EXHAUSTED: Iterator[None] = iter(())
READY = Ready()


class HTTPCycle:
    """``receive``/``send`` for one HTTP request."""

    __slots__ = (
        "scope",  # the ASGI scope, or on the native path the RequestHead (pyre.asgi.native)
        "stream",
        "state",
        "status",
        "task",
        "_body",
        "_buffered",
        "_body_complete",
        "_final_delivered",
        "_disconnected",
        "_input_closed",
        "_waiter",
        "_reading_paused",
        "_trailers",
        "_trailer_headers",
        "_request_trailers",
        "_expect_continue",
    )

    def __init__(self, scope: Dict[str, Any], stream: ResponseStream, body_complete: bool, expect_continue: bool) -> None:
        self.scope = scope
        self.stream = stream
        self.state = START
        self.status = 0
        self.task: Optional[asyncio.Task] = None
        self._body: Optional[List[bytes]] = None  # made by the first body bytes (most requests have none)
        self._buffered = 0
        self._body_complete = body_complete
        self._final_delivered = False
        self._disconnected = False
        self._input_closed = False
        self._waiter: Optional[asyncio.Future] = None
        self._reading_paused = False
        self._trailers = False
        self._trailer_headers: Optional[List[Any]] = None  # made by the first more_trailers
        self._request_trailers: Optional[List[Tuple[bytes, bytes]]] = None
        self._expect_continue = expect_continue

    # -- fed by the connection ---------------------------------------------------------

    @property
    def response_started(self) -> bool:
        return self.state != START

    @property
    def response_complete(self) -> bool:
        return self.state == DONE

    @property
    def body_complete(self) -> bool:
        return self._body_complete

    @property
    def disconnected(self) -> bool:
        return self._disconnected

    def feed_body(self, data: bytes) -> None:
        if self._body is None:
            self._body = [data]
        else:
            self._body.append(data)
        self._buffered += len(data)
        if self._buffered > BODY_HIGH_WATER and not self._reading_paused:
            self._reading_paused = True
            self.stream.pause_reading()
        self._wake()

    def end_body(self, trailers: Optional[List[Tuple[bytes, bytes]]] = None) -> None:
        """The request body is complete; ``trailers`` (HTTP/2 request trailer fields)
        ride on the final ``http.request`` message as its ``"trailers"`` key."""
        self._body_complete = True
        if trailers:
            self._request_trailers = trailers
        self._wake()

    def disconnect(self) -> None:
        """The connection is gone: receive() says so, send() raises."""
        self._disconnected = True
        self._wake()

    def input_closed(self) -> None:
        """The client stopped sending (EOF) after a complete request.

        It may have closed entirely or only half-closed while still reading, which
        TCP cannot tell apart: receive() reports ``http.disconnect`` so a waiting app
        learns of it, but send() keeps working so a response in progress arrives.
        """
        self._input_closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            wake(waiter)

    # -- the application's callables ---------------------------------------------------------

    async def receive(self) -> Dict[str, Any]:
        while True:
            if self._body:
                body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
                self._body.clear()
                self._buffered = 0
                if self._reading_paused:
                    self._reading_paused = False
                    self.stream.resume_reading()
                more = not self._body_complete
                if not more:
                    self._final_delivered = True
                    if self._request_trailers is not None:
                        return {"type": "http.request", "body": body, "more_body": False, "trailers": self._request_trailers}
                return {"type": "http.request", "body": body, "more_body": more}
            if self._disconnected or self.state == DONE:
                return {"type": "http.disconnect"}
            if self._body_complete and not self._final_delivered:
                self._final_delivered = True
                message = dict(_EMPTY_REQUEST_BODY)
                if self._request_trailers is not None:
                    message["trailers"] = self._request_trailers
                return message
            if self._input_closed:
                return {"type": "http.disconnect"}
            await wait_for_input(self)

    def send(self, message: Dict[str, Any]) -> Awaitable[None]:
        # Not a coroutine function: the message is handled when send() is called, and
        # what comes back is an already-complete awaitable (or, when the transport is
        # above its high-water mark, the wait for it to drain; for pathsend, the file's
        # transfer). An exception is raised by the call itself, inside the app's
        # ``await send(...)`` expression. It saves a coroutine per message.
        return self._send(message if type(message) is dict else _plain_message(message))

    def _send(self, message: Dict[str, Any]) -> Awaitable[None]:
        if COMPILED:  # no try block: in C one saves and restores the exception state
            kind = message.get("type", _NO_TYPE)
        else:
            try:
                kind = message["type"]
            except KeyError:
                kind = _NO_TYPE
        if kind is _NO_TYPE:
            raise TypeError(f"ASGI message must be a dict with a 'type', got {message!r}")
        state = self.state
        # The compiled build compares the two per-message types as same_text does.
        if state == BODY and (same_text(kind, "http.response.body") if COMPILED else kind == "http.response.body"):
            if self._disconnected:
                raise ClientDisconnected("client disconnected")
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if type(body) is not bytes:
                if not isinstance(body, (bytes, bytearray, memoryview)):
                    raise TypeError(f"http.response.body 'body' must be bytes, got {type(body).__name__}")
                body = bytes(body)
            stream = self.stream
            if not more:
                self.state = TRAILERS if self._trailers else DONE
            direct = COMPILED and self.stream_calls is not cython.NULL  # the stream's C functions
            if direct:
                self.stream_calls.send_body(stream, body, more)
            else:
                stream.send_body(body, more)
            if not more and not self._trailers:
                self._complete()
            elif self.stream_calls.write_paused(stream) if direct else stream.write_paused:
                return stream.drain()
            return READY
        if state == START and (same_text(kind, "http.response.start") if COMPILED else kind == "http.response.start"):
            if self._disconnected:
                raise ClientDisconnected("client disconnected")
            status = message.get("status")
            headers = message.get("headers", ())
            trailers = bool(message.get("trailers", False))
            # Invalid status or headers raise here; nothing has been written.
            if COMPILED and self.stream_calls is not cython.NULL:
                self.stream_calls.start_response(self.stream, status, headers, trailers)
            else:
                self.stream.start_response(status, headers, trailers)
            self.status = status
            self._trailers = trailers
            self.state = BODY
            return READY
        if state == BODY and kind == "http.response.pathsend":
            if self._disconnected:
                raise ClientDisconnected("client disconnected")
            path = message.get("path")
            if not isinstance(path, str):
                raise TypeError("http.response.pathsend 'path' must be a str")
            return self._send_path(path)
        if state == TRAILERS and kind == "http.response.trailers":
            if self._disconnected:
                raise ClientDisconnected("client disconnected")
            headers = list(message.get("headers", ()))
            if message.get("more_trailers", False):
                if self._trailer_headers is None:
                    self._trailer_headers = []
                self._trailer_headers.extend(headers)
                return READY
            if self._trailer_headers is not None:
                headers = self._trailer_headers + headers
            self.stream.send_trailers(headers)  # invalid trailers raise; never written
            self.state = DONE
            self._complete()
            return READY
        raise unexpected_message(state, kind)

    async def _send_path(self, path: str) -> None:
        await self.stream.send_file(path)  # on failure the response is aborted
        self.state = TRAILERS if self._trailers else DONE
        if not self._trailers:
            self._complete()

    def _complete(self) -> None:
        self._wake()
        if COMPILED and self.stream_calls is not cython.NULL:
            self.stream_calls.response_complete(self.stream)
        else:
            self.stream.response_complete()

    # -- after the application returns -----------------------------------------------------

    def app_finished(self, exc: Optional[BaseException], result: Any = None) -> None:
        """Settle the response once the application coroutine has ended."""
        if exc is not None or result is not None or self.state != DONE:
            finish_response(self, exc, result, self._disconnected, self._input_closed)


def same_text(kind: Any, name: str) -> bool:
    """``kind == name`` for an ASCII constant ``name``, in the compiled build only (it
    calls C): by identity, then by length and bytes. Cython's ``==`` on two ``str``
    calls ``PyUnicode_Compare`` (before Python 3.14), which orders the strings and so
    compares them character by character without looking at their lengths. An app's
    message types are equal to the server's constants but not the same objects:
    literals with dots are not interned."""
    if kind is name:
        return True
    if PyUnicode_CheckExact(kind) and PyUnicode_KIND(kind) == PyUnicode_1BYTE_KIND:
        n = PyUnicode_GET_LENGTH(name)
        return PyUnicode_GET_LENGTH(kind) == n and memcmp(PyUnicode_DATA(kind), PyUnicode_DATA(name), n) == 0
    return kind == name


def apply_proxy(proxy: Any, names: FrozenSet[bytes], scope: Dict[str, Any], headers: List[Tuple[bytes, bytes]]) -> None:
    """``proxy.apply(scope)`` (the server's --proxy-headers, a trusted peer's request) when
    ``headers`` hold one of ``names``, the headers the proxy reads: most requests carry
    none, and the compiled build looks for them in C."""
    for pair in headers:
        if pair[0] in names:
            proxy.apply(scope)
            return


def new_cycle(scope: Any, stream: ResponseStream, body_complete: bool, expect_continue: bool) -> HTTPCycle:
    """``HTTPCycle(scope, stream, body_complete, expect_continue)``; the compiled build's
    skips ``__init__``'s argument parsing: the fields it does not set are left as the
    allocation made them, which is what ``__init__`` sets them to (0, False, None)."""
    if COMPILED:
        cycle = HTTPCycle.__new__(HTTPCycle)
        cycle.scope = scope
        cycle.stream = stream
        cycle.state = START
        cycle.status = 0
        cycle._body_complete = body_complete
        cycle._expect_continue = expect_continue
        return cycle
    return HTTPCycle(scope, stream, body_complete, expect_continue)


def _plain_message(message: Any) -> Dict[str, Any]:
    """An application's message that is not exactly a ``dict``, as one (its keys read
    once; the error for what is no message at all)."""
    try:
        message["type"]
        return dict(message)
    except (TypeError, KeyError, ValueError):
        raise TypeError(f"ASGI message must be a dict with a 'type', got {message!r}") from None


async def run_asgi(app: Callable[..., Awaitable[Any]], cycle: HTTPCycle, tasks: Set[Any]) -> None:
    """The task body for one request: run the app, settle the response, and leave
    ``tasks`` (cheaper than a done callback, which costs a loop callback per request)."""
    try:
        if COMPILED and type(cycle) is HTTPCycle:  # its scope a C field, not a generic getattr
            scope = cython.cast(HTTPCycle, cycle).scope
        else:
            scope = cycle.scope
        result = await app(scope, cycle.receive, cycle.send)
    except BaseException as exc:
        _settle(cycle, tasks, exc, None)
        if not isinstance(exc, Exception) and not isinstance(exc, asyncio.CancelledError):
            raise
    else:
        _settle(cycle, tasks, None, result)


def _settle(cycle: Any, tasks: Set[Any], exc: Optional[BaseException], result: Any) -> None:
    """The end of :func:`run_asgi`: settle the response, then leave ``tasks``."""
    http = cycle if type(cycle) is HTTPCycle else None  # the compiled build calls it in C
    try:
        if http is not None:
            http.app_finished(exc, result)
        else:  # a WebSocket cycle (pyre.transport.h2ws runs one here too)
            cycle.app_finished(exc, result)
    finally:
        tasks.discard(cycle.task if http is None else http.task)

