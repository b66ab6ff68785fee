"""The ASGI side of one WebSocket connection (asgiref www spec, ``websocket`` scope).

``WebSocketCycle`` gives the application ``receive`` and ``send`` and keeps the
spec's state machine: ``websocket.connect`` first; then the application accepts
(``websocket.accept``), refuses (``websocket.close`` before accepting: HTTP 403) or
answers with its own HTTP response (the ``websocket.http.response`` extension);
after accepting, messages both ways until either side closes. It knows nothing of
frames or sockets: the connection it runs on is a :class:`WebSocketStream`, so
WebSocket over HTTP/1.1 and over HTTP/2 share it.

After the connection is closed, ``send`` raises :class:`ClientDisconnected` (an
``OSError``, as the spec asks) and ``receive`` returns ``websocket.disconnect``.

A pure-mode twin: this module is the pure-Python twin, and setup.py (PURE_MODE)
compiles it as ``pyre.asgi._websocket_c``, typed by ``_websocket_c.pxd``;
pyre/_accel.py chooses. ``receive`` and ``send`` stay coroutine functions in both
(anyio's ``start_soon(receive)`` and ``asyncio.create_task(receive())`` need a
coroutine, not just an awaitable).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Protocol, Tuple, Union

from .http import ClientDisconnected, wake

try:
    import cython  # type: ignore[import-untyped,import-not-found,unused-ignore]

    COMPILED: bool = cython.compiled
except ImportError:  # pragma: no cover - Cython is a build dependency only
    COMPILED = False

__all__ = ["WebSocketCycle", "WebSocketStream"]

logger = logging.getLogger("pyre.error")

_CONNECTING, _OPEN, _DENYING, _CLOSED = 0, 1, 2, 3

Headers = List[Tuple[bytes, bytes]]


class WebSocketStream(Protocol):
    """What a connection offers the cycle of the WebSocket it carries."""

    write_paused: bool

    def accept(self, subprotocol: Optional[str], headers: Headers) -> None: ...
    def send_message(self, data: Union[str, bytes]) -> None: ...
    def close(self, code: int, reason: str) -> None: ...
    def reject(self, status: int) -> None: ...
    def deny_start(self, status: int, headers: Headers) -> None: ...
    def deny_body(self, body: bytes, more_body: bool) -> None: ...
    def abort(self) -> None: ...
    def message_taken(self) -> None: ...
    async def drain(self) -> None: ...


def _sendable_close_code(code: int) -> bool:
    """RFC 6455 §7.4: the codes an endpoint may put in a close frame (registered ones,
    and 3000-4999 for libraries and applications)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def _payload(message: Dict[str, Any]) -> Union[str, bytes]:
    """A ``websocket.send`` message's data, checked."""
    text = message.get("text")
    data = message.get("bytes")
    if (text is None) == (data is None):
        raise RuntimeError("websocket.send: exactly one of 'bytes' and 'text' must be set")
    if text is not None and not isinstance(text, str):
        raise RuntimeError(f"websocket.send: 'text' must be a str, got {type(text).__name__}")
    if data is not None and not isinstance(data, (bytes, bytearray, memoryview)):
        raise RuntimeError(f"websocket.send: 'bytes' must be bytes, got {type(data).__name__}")
    return text if text is not None else bytes(data)


def _send_data(message: Dict[str, Any]) -> Union[str, bytes]:
    """``_payload(message)``, with text alone (the common message) read first (the
    compiled twin reads a ``dict``'s items in C)."""
    data = message.get("text")
    if type(data) is not str or message.get("bytes") is not None:
        return _payload(message)
    return data


def _headers(value: Any, what: str) -> Headers:
    out: Headers = []
    for pair in value or ():
        try:
            name, val = pair
        except (TypeError, ValueError):
            raise RuntimeError(f"{what}: headers must be (name, value) pairs of bytes, got {pair!r}") from None
        if not isinstance(name, (bytes, bytearray)) or not isinstance(val, (bytes, bytearray)):
            raise RuntimeError(f"{what}: header names and values must be bytes, got {pair!r}")
        out.append((bytes(name).lower(), bytes(val)))
    return out


class WebSocketCycle:
    """``receive``/``send`` for one WebSocket connection; see the module docstring."""

    __slots__ = ("scope", "stream", "task", "state", "queued", "_connect_sent", "_messages", "_waiter",
                 "_disconnected", "_close_code", "_close_reason", "_create_future", "_append", "_popleft")

    def __init__(self, scope: Dict[str, Any], stream: WebSocketStream) -> None:
        self.scope = scope
        self.stream = stream
        self.task: Optional[asyncio.Task] = None
        self.state = _CONNECTING
        self._connect_sent = False
        self._messages: Deque[Union[str, bytes]] = deque()
        # Bound once: called per message, not looked up by name each time.
        self._append = self._messages.append
        self._popleft = self._messages.popleft
        self.queued = 0  # messages received and not yet taken by the application
        self._waiter: Optional[asyncio.Future] = None
        # The running loop's create_future, asked for once: on CPython 3.11
        # asyncio.get_running_loop() makes a getpid() system call each time (its check
        # for a fork), once per message here.
        self._create_future: Optional[Callable[[], asyncio.Future]] = None
        self._disconnected = False
        self._close_code = 1005
        self._close_reason = ""

    # -- fed by the connection ------------------------------------------------------

    def feed_message(self, data: Union[str, bytes]) -> None:
        """A message from the peer (``str`` for text, ``bytes`` for binary)."""
        self._append(data)
        self.queued += 1
        waiter = self._waiter  # (_wake, inline: once per message)
        if waiter is not None:
            self._waiter = None
            try:  # (cheaper than asking waiter.done() first, once per message)
                waiter.set_result(None)
            except asyncio.InvalidStateError:  # cancelled with its task: left as it is
                pass

    def disconnect(self, code: int = 1006, reason: str = "") -> None:
        """The connection is closed (by the peer, the server, or the network)."""
        if not self._disconnected:
            self._disconnected = True
            self._close_code = code
            self._close_reason = reason
        self._wake()

    @property
    def disconnected(self) -> bool:
        return self._disconnected

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            wake(waiter)

    # -- the application's callables ------------------------------------------------------

    async def receive(self) -> Dict[str, Any]:
        if not self._connect_sent:
            self._connect_sent = True
            return {"type": "websocket.connect"}
        messages = self._messages
        while True:
            if messages:
                data = self._popleft()
                self.queued -= 1
                if COMPILED and self.stream_calls is not cython.NULL:  # the stream's C function
                    self.stream_calls.message_taken(self.stream)
                else:
                    self.stream.message_taken()
                if type(data) is str:
                    return {"type": "websocket.receive", "text": data}
                return {"type": "websocket.receive", "bytes": data}
            if self._disconnected:
                return {"type": "websocket.disconnect", "code": self._close_code, "reason": self._close_reason}
            # No cleanup if the wait is cancelled: a done waiter is never woken, and the
            # next receive() sets its own.
            create_future = self._create_future
            if create_future is None:
                create_future = self._create_future = asyncio.get_running_loop().create_future
            waiter = self._waiter = create_future()
            await waiter

    async def send(self, message: Dict[str, Any]) -> None:
        if not isinstance(message, dict) or "type" not in message:
            raise TypeError(f"ASGI message must be a dict with a 'type', got {message!r}")
        kind = message["type"]
        state = self.state
        stream = self.stream
        if state == _OPEN and kind == "websocket.send":
            data = _send_data(message) if type(message) is dict else _payload(message)
            if self._disconnected:
                raise ClientDisconnected("the WebSocket is closed")
            if COMPILED and self.stream_calls is not cython.NULL:  # the stream's C functions
                self.stream_calls.send_message(stream, data)
                if self.stream_calls.write_paused(stream):
                    await stream.drain()
            else:
                stream.send_message(data)
                if stream.write_paused:
                    await stream.drain()
        elif state == _CONNECTING:
            if kind == "websocket.accept":
                subprotocol = message.get("subprotocol")
                if subprotocol is not None and not isinstance(subprotocol, str):
                    raise RuntimeError(f"websocket.accept: subprotocol must be a str, got {subprotocol!r}")
                headers = _headers(message.get("headers"), "websocket.accept")
                if self._disconnected:
                    self.state = _CLOSED
                    raise ClientDisconnected("the client went away before the WebSocket was accepted")
                self.state = _OPEN
                stream.accept(subprotocol, headers)
            elif kind == "websocket.close":
                self.state = _CLOSED
                if not self._disconnected:
                    stream.reject(403)
            elif kind == "websocket.http.response.start":
                status = message.get("status")
                if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 999:
                    raise RuntimeError(f"websocket.http.response.start: invalid status {status!r}")
                headers = _headers(message.get("headers"), "websocket.http.response.start")
                self.state = _DENYING
                stream.deny_start(status, headers)
            else:
                raise RuntimeError(
                    f"Expected 'websocket.accept', 'websocket.close' or 'websocket.http.response.start' "
                    f"before the WebSocket is accepted, got {kind!r}"
                )
        elif state == _OPEN:
            if kind == "websocket.close":
                code = message.get("code", 1000)
                if code is None:
                    code = 1000
                reason = message.get("reason") or ""
                if isinstance(code, bool) or not isinstance(code, int) or not isinstance(reason, str):
                    raise RuntimeError(f"websocket.close: invalid code or reason {code!r}, {reason!r}")
                if not _sendable_close_code(code):
                    raise RuntimeError(f"websocket.close: {code} cannot be sent in a close frame "
                                       "(use 1000-1003, 1007-1014 or 3000-4999)")
                self.state = _CLOSED
                if not self._disconnected:
                    stream.close(code, reason)
            else:
                raise RuntimeError(f"Expected 'websocket.send' or 'websocket.close', got {kind!r}")
        elif state == _DENYING:
            if kind != "websocket.http.response.body":
                raise RuntimeError(f"Expected 'websocket.http.response.body', got {kind!r}")
            body = message.get("body", b"")
            if not isinstance(body, (bytes, bytearray, memoryview)):
                raise RuntimeError(f"websocket.http.response.body: 'body' must be bytes, got {type(body).__name__}")
            more = bool(message.get("more_body", False))
            if not more:
                self.state = _CLOSED
            stream.deny_body(bytes(body), more)
        else:
            raise ClientDisconnected(f"the WebSocket is closed; cannot send {kind!r}")

    # -- after the application returns -----------------------------------------------------

    def app_finished(self, exc: Optional[BaseException], result: Any = None) -> None:
        if exc is not None:
            if isinstance(exc, asyncio.CancelledError):
                logger.debug("ASGI application cancelled")
            elif self._disconnected and isinstance(exc, OSError):
                logger.debug("WebSocket client disconnected: %r", exc)
            else:
                logger.error("Exception in ASGI application\n", exc_info=exc)
        elif result is not None:
            logger.error("ASGI callable returned a value instead of None: %r", result)
        state = self.state
        self.state = _CLOSED
        if state == _CONNECTING:
            if self._disconnected:
                self.stream.abort()
            elif exc is None:
                logger.info("ASGI application returned without accepting the WebSocket: answered 403")
                self.stream.reject(403)
            else:
                self.stream.reject(500)
        elif state == _OPEN:
            if not self._disconnected:
                self.stream.close(1011 if exc is not None else 1000, "")
        elif state == _DENYING:
            logger.error("ASGI application returned without completing its HTTP response to a WebSocket request")
            self.stream.abort()
