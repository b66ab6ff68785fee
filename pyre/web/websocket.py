"""WebSockets in ``pyre.web``: the connection, class endpoints, and groups for broadcast.

- :class:`WebSocket` wraps one ASGI ``websocket`` connection. It shares the request's
  accessors (``headers``, ``query``, ``cookies``, ``url``, ``client``, ``path_params``,
  ``state``) through :class:`~pyre.web.request.HTTPConnection`, and checks the order of
  operations: sending or receiving before :meth:`WebSocket.accept` raises a
  ``RuntimeError`` that says so; once the peer is gone, receiving and sending raise
  :class:`WebSocketDisconnect` (with the close code).
- :class:`WebSocketResource`: a class endpoint with ``on_connect``, ``on_receive`` (messages
  decoded as text, bytes or JSON, as the class declares) and ``on_disconnect``;
  :func:`run_websocket_resource` runs one connection through it, and
  :func:`run_websocket_endpoint` runs a function endpoint with the same error policy.
- :class:`Groups`: named groups of WebSockets for broadcast, over a :class:`Broker`.

The Broker interface
--------------------
A broker carries messages between the processes that serve an app; :class:`Groups` is
its only user in the framework. Three coroutine methods::

    async def publish(self, channel: str, message: str | bytes) -> None
    async def subscribe(self, channel: str, callback: Callable[[str | bytes], None]) -> None
    async def unsubscribe(self, channel: str, callback: Callable[[str | bytes], None]) -> None

- ``publish`` delivers ``message`` to every callback subscribed to ``channel`` when it is
  published, in every process; a ``str`` must arrive as a ``str``, ``bytes`` as ``bytes``.
  It returns once the message is handed on (not once every subscriber has it).
- ``subscribe`` returns once messages published afterwards will reach ``callback``.
- The callback is called on the event loop the broker runs on, once per message, in the
  order each publisher published; it must not block (Groups only queues the message).
  An exception it raises is the callback's own failure: log it and go on.
- ``unsubscribe`` stops the deliveries to that callback (the same object given to
  ``subscribe``); a broker may drop its channel subscription when none is left.

:class:`InProcessBroker` (the default) calls the callbacks directly in ``publish``. A
broker over Redis (``PUBLISH``/``SUBSCRIBE``) or PostgreSQL (``NOTIFY``/``LISTEN``) keeps
one connection that listens, subscribes a channel when its first callback arrives and
calls the callbacks from its reader task: docs/web/websocket.md sketches one.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from functools import partial
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    ClassVar,
    Deque,
    Dict,
    List,
    Mapping,
    NoReturn,
    Optional,
    Protocol,
    Sequence,
    Set,
    Tuple,
    Union,
)

from . import _json
from .errors import HTTPError
from .request import Message, Receive, Scope, Send
from .responses import JSON, HeadersArg, Response, _encode_headers

if TYPE_CHECKING:
    from .request import HTTPConnection
else:  # the compiled twin when built (pyre._accel chooses)
    from pyre._accel import HTTPConnection

__all__ = [
    "Broker",
    "BrokerCallback",
    "Groups",
    "InProcessBroker",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketListeners",
    "WebSocketResource",
    "WebSocketState",
    "run_websocket_endpoint",
    "run_websocket_resource",
]

logger = logging.getLogger("pyre.error")

#: A message as a WebSocket carries it: text or binary.
Data = Union[str, bytes]
BrokerCallback = Callable[[Data], None]

_RECEIVE_MODES = ("text", "bytes", "json")
# RFC 6455 7.4: the codes a close frame may carry (registered ones; 3000-4999 for
# libraries and applications). A close reason is at most 123 bytes of UTF-8.
_MAX_REASON = 123


def _check_close(code: int, reason: str) -> None:
    if isinstance(code, bool) or not isinstance(code, int) or not (
        1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999
    ):
        raise ValueError(f"close code {code!r} cannot be sent in a close frame (use 1000-1003, 1007-1014 or 3000-4999)")
    if not isinstance(reason, str) or len(reason.encode("utf-8")) > _MAX_REASON:
        raise ValueError(f"close reason must be a str of at most {_MAX_REASON} bytes in UTF-8, got {reason!r}")


class WebSocketState(enum.Enum):
    """Where a :class:`WebSocket` is: waiting for ``accept()``, open, or closed (by either
    side, refused or denied)."""

    CONNECTING = "connecting"
    OPEN = "open"
    CLOSED = "closed"


class WebSocketDisconnect(Exception):
    """The WebSocket is closed: ``code`` and ``reason`` are the close frame's (1006 when
    the connection dropped without one). Raised by the ``receive_*`` methods when the
    peer closed, by the ``send_*`` methods when it is gone, and by ``receive_text``/
    ``receive_bytes``/``receive_json`` after they closed the connection themselves
    because a message had the wrong type (1003) or was not JSON (1007)."""

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __repr__(self) -> str:
        return f"WebSocketDisconnect({self.code}, {self.reason!r})"


def _denial_send(send: Send) -> Send:
    """``send`` for a :class:`Response` answering a WebSocket handshake through the
    ``websocket.http.response`` extension: the same messages, prefixed ``websocket.``."""

    async def denial_send(message: Message) -> None:
        kind = message["type"]
        if kind != "http.response.start" and kind != "http.response.body":
            raise RuntimeError(f"a denial response can send only a head and a body, not {kind!r}")
        await send({**message, "type": "websocket." + kind})

    return denial_send


class WebSocket(HTTPConnection):
    """One WebSocket connection: ``WebSocket(scope, receive, send)`` on a ``websocket`` scope.

    ``await ws.accept()`` (or ``deny(response)``, or ``close()`` to refuse), then
    ``receive_text``/``receive_bytes``/``receive_json`` and ``send_text``/``send_bytes``/
    ``send_json``; ``async for message in ws`` gives each message (``str`` or ``bytes``)
    until the peer closes. ``close_code``/``close_reason`` say how it ended, once it did.
    Everything a :class:`~pyre.web.Request` parses lazily is here too: ``headers``,
    ``query``, ``cookies``, ``url``, ``client``, ``path_params``, ``state``, ``scope``.
    """

    __slots__ = ("_connection_state", "_accepted", "_connect_received", "_peer_closed", "_close_callbacks",
                 "subprotocol", "close_code", "close_reason")

    subprotocol: Optional[str]
    close_code: Optional[int]
    close_reason: str
    _send: Send  # required here

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "websocket":
            raise ValueError(f"WebSocket needs a 'websocket' scope, got a {scope.get('type')!r} scope")
        HTTPConnection.__init__(self, scope, receive, send)
        self._connection_state = WebSocketState.CONNECTING
        self._accepted = False
        self._connect_received = False
        self._peer_closed = False
        self._close_callbacks: Optional[List[Callable[[WebSocket], None]]] = None
        #: The subprotocol accepted (None before accept, or when none was chosen).
        self.subprotocol = None
        #: How the connection ended: the close code (None while it has not).
        self.close_code = None
        self.close_reason = ""

    # -- state ---------------------------------------------------------------------------

    @property
    def connection_state(self) -> WebSocketState:
        """``CONNECTING`` until accepted, ``OPEN``, then ``CLOSED``."""
        return self._connection_state

    @property
    def subprotocols(self) -> List[str]:
        """The subprotocols the client offered, in its order of preference."""
        offered: List[str] = self.scope.get("subprotocols") or []
        return offered

    def _ended(self, code: Optional[int], reason: str) -> None:
        """The connection is over (either side closed, or it dropped; ``code`` None: it
        never opened)."""
        self._connection_state = WebSocketState.CLOSED
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
        callbacks = self._close_callbacks
        if callbacks is not None:
            self._close_callbacks = None
            for callback in callbacks:
                try:
                    callback(self)
                except Exception:
                    logger.exception("WebSocket close callback %r failed", callback)

    def _peer_gone(self, code: int, reason: str) -> None:
        self._peer_closed = True
        self._ended(code, reason)

    def _on_close(self, callback: Callable[[WebSocket], None]) -> None:
        """Call ``callback(ws)`` once when the connection is known to be over (a callback
        given again is not added twice)."""
        callbacks = self._close_callbacks
        if self._connection_state is WebSocketState.CLOSED:
            callback(self)
        elif callbacks is None:
            self._close_callbacks = [callback]
        elif callback not in callbacks:
            callbacks.append(callback)

    # -- the handshake ---------------------------------------------------------------------

    async def accept(self, subprotocol: Optional[str] = None, headers: HeadersArg = None) -> None:
        """Accept the connection, with one of the client's ``subprotocols`` (or none) and
        extra response ``headers`` (a mapping or ``(name, value)`` pairs)."""
        if self._connection_state is not WebSocketState.CONNECTING:
            raise RuntimeError(f"WebSocket.accept(): the WebSocket is already {self._connection_state.value}")
        if subprotocol is not None and subprotocol not in self.subprotocols:
            raise ValueError(
                f"WebSocket.accept(): subprotocol {subprotocol!r} was not offered by the client "
                f"(offered: {self.subprotocols!r})"
            )
        message: Message = {"type": "websocket.accept", "subprotocol": subprotocol}
        if headers is not None:
            message["headers"] = _encode_headers(headers)
        if not self._connect_received:
            await self.receive()  # websocket.connect (or the client left: raises below)
            if self._peer_closed:
                raise WebSocketDisconnect(self.close_code or 1006, self.close_reason)
        try:
            await self._send(message)
        except OSError as exc:  # the client went away meanwhile
            self._peer_gone(1006, "")
            raise WebSocketDisconnect(1006, "") from exc
        self._connection_state = WebSocketState.OPEN
        self._accepted = True
        self.subprotocol = subprotocol

    async def deny(self, response: Response) -> None:
        """Refuse the handshake with an HTTP ``response`` (any :class:`Response`), sent
        through the ``websocket.http.response`` extension. A server that does not offer
        it gets ``close()`` instead, which it answers with ``403``."""
        if self._connection_state is not WebSocketState.CONNECTING:
            raise RuntimeError(
                f"WebSocket.deny(): the WebSocket is already {self._connection_state.value}; "
                "a denial response can only answer the handshake (close() an open WebSocket)"
            )
        self._connection_state = WebSocketState.CLOSED
        try:
            if "websocket.http.response" in (self.scope.get("extensions") or ()):
                await response(self.scope, self._receive, _denial_send(self._send))
            else:
                await self._send({"type": "websocket.close", "code": 1008, "reason": ""})
        except OSError:  # the client went away: no one to answer
            pass
        self._ended(None, "")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection with ``code`` and ``reason`` (before ``accept()``: refuse
        the handshake, answered ``403``). Closing a closed WebSocket does nothing."""
        if self._connection_state is WebSocketState.CLOSED:
            return
        _check_close(code, reason)
        was_open = self._connection_state is WebSocketState.OPEN
        self._connection_state = WebSocketState.CLOSED
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except OSError:  # already gone
            pass
        if was_open:
            self._ended(code, reason)
        else:  # a refusal: the connection never opened
            self._ended(None, "")

    # -- receiving ---------------------------------------------------------------------

    async def receive(self) -> Message:
        """The next ASGI message as is (``websocket.connect``, ``websocket.receive`` or
        ``websocket.disconnect``). Most code wants :meth:`receive_text` and friends."""
        if self._peer_closed:
            raise RuntimeError(f"WebSocket.receive(): the client already disconnected (code {self.close_code})")
        message = await self._receive()
        kind = message["type"]
        if kind == "websocket.disconnect":
            code = message.get("code")
            self._peer_gone(1005 if code is None else code, message.get("reason") or "")
        elif kind == "websocket.connect":
            self._connect_received = True
        return message

    def _not_open(self, caller: str) -> NoReturn:
        if self._peer_closed:
            raise WebSocketDisconnect(self.close_code or 1006, self.close_reason)
        if self._connection_state is WebSocketState.CONNECTING:
            raise RuntimeError(f"WebSocket.{caller}() before accept(): call await ws.accept() first")
        raise RuntimeError(f"WebSocket.{caller}() after close(): the WebSocket is closed")

    async def _receive_data(self, caller: str) -> Data:
        if self._connection_state is not WebSocketState.OPEN:
            self._not_open(caller)
        message = await self.receive()
        kind = message["type"]
        if kind == "websocket.receive":
            text = message.get("text")
            if text is not None:
                return str(text)
            return bytes(message.get("bytes") or b"")
        if kind == "websocket.disconnect":
            raise WebSocketDisconnect(self.close_code or 1006, self.close_reason)
        raise RuntimeError(f"WebSocket.{caller}(): unexpected ASGI message {kind!r}")

    async def _refuse_message(self, code: int, reason: str) -> NoReturn:
        await self.close(code, reason)
        raise WebSocketDisconnect(code, reason)

    async def receive_text(self) -> str:
        """The next message, which must be text: a binary one closes the connection with
        1003 (unsupported data) and raises :class:`WebSocketDisconnect`."""
        data = await self._receive_data("receive_text")
        if not isinstance(data, str):
            await self._refuse_message(1003, "expected a text message")
        return data

    async def receive_bytes(self) -> bytes:
        """The next message, which must be binary: a text one closes the connection with
        1003 (unsupported data) and raises :class:`WebSocketDisconnect`."""
        data = await self._receive_data("receive_bytes")
        if not isinstance(data, bytes):
            await self._refuse_message(1003, "expected a binary message")
        return data

    async def receive_json(self) -> Any:
        """The next message (text or binary) decoded as JSON: one that is not JSON closes
        the connection with 1007 (invalid data), reason ``"invalid JSON"``, and raises
        :class:`WebSocketDisconnect`. To tolerate bad messages, ``receive_text()`` and
        decode yourself."""
        data = await self._receive_data("receive_json")
        try:
            return _json.loads(data)
        except _json.JSONDecodeError:
            await self._refuse_message(1007, "invalid JSON")

    def __aiter__(self) -> AsyncIterator[Data]:
        """Each message (``str`` or ``bytes``) until the peer closes."""
        return self._iterate(WebSocket._receive_any)

    def iter_text(self) -> AsyncIterator[str]:
        """Each text message until the peer closes (see :meth:`receive_text`)."""
        return self._iterate(WebSocket.receive_text)

    def iter_bytes(self) -> AsyncIterator[bytes]:
        """Each binary message until the peer closes (see :meth:`receive_bytes`)."""
        return self._iterate(WebSocket.receive_bytes)

    def iter_json(self) -> AsyncIterator[Any]:
        """Each message decoded as JSON until the peer closes (see :meth:`receive_json`)."""
        return self._iterate(WebSocket.receive_json)

    async def _receive_any(self) -> Data:
        return await self._receive_data("__anext__")

    async def _iterate(self, receive: Callable[[WebSocket], Awaitable[Any]]) -> AsyncIterator[Any]:
        while True:
            try:
                data = await receive(self)
            except WebSocketDisconnect:
                return
            yield data

    # -- sending ---------------------------------------------------------------------------

    async def _send_message(self, message: Message, caller: str) -> None:
        if self._connection_state is not WebSocketState.OPEN:
            self._not_open(caller)
        try:
            await self._send(message)
        except OSError as exc:  # the server's way of saying the client is gone (ASGI 2.4)
            self._peer_gone(1006, "")
            raise WebSocketDisconnect(1006, "") from exc

    async def send_text(self, data: str) -> None:
        """Send a text message."""
        if not isinstance(data, str):
            raise TypeError(f"send_text() needs a str, got {type(data).__name__} (bytes go through send_bytes())")
        await self._send_message({"type": "websocket.send", "text": data}, "send_text")

    async def send_bytes(self, data: Union[bytes, bytearray, memoryview]) -> None:
        """Send a binary message."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"send_bytes() needs bytes, got {type(data).__name__} (text goes through send_text())")
        await self._send_message({"type": "websocket.send", "bytes": bytes(data)}, "send_bytes")

    async def send_json(self, data: Any, binary: bool = False) -> None:
        """Send ``data`` encoded as JSON (as :class:`~pyre.web.JSON` encodes it), in a text
        message, or a binary one with ``binary=True``."""
        encoded = _json.dumps(data)
        if binary:
            await self._send_message({"type": "websocket.send", "bytes": encoded}, "send_json")
        else:
            await self._send_message({"type": "websocket.send", "text": encoded.decode("utf-8")}, "send_json")

    def __repr__(self) -> str:
        return f"<WebSocket {self.path} {self._connection_state.value}>"


# -- endpoints ---------------------------------------------------------------------------------


class WebSocketListeners:
    """The app's listeners of the WebSocket events, collected at startup: each is None
    when nobody listens, and a connection with no listeners at all gets ``None`` instead
    of this object (nothing to call, nothing to check)."""

    __slots__ = ("websocket_connect", "websocket_receive", "websocket_disconnect")

    def __init__(
        self,
        websocket_connect: Optional[Callable[[WebSocket], Awaitable[None]]] = None,
        websocket_receive: Optional[Callable[[WebSocket, Any], Awaitable[None]]] = None,
        websocket_disconnect: Optional[Callable[[WebSocket, int], Awaitable[None]]] = None,
    ) -> None:
        #: Before the endpoint runs (before accept): may raise HTTPError to deny.
        self.websocket_connect = websocket_connect
        #: Before ``on_receive``, with the decoded message (class endpoints).
        self.websocket_receive = websocket_receive
        #: After ``on_disconnect``, with the close code (connections that were accepted).
        self.websocket_disconnect = websocket_disconnect


class WebSocketResource:
    """A class endpoint: one instance per app (like a Resource), one call of each event
    per connection.

    - ``receive``: how messages are decoded for ``on_receive``: ``"text"`` (a binary
      message closes with 1003), ``"bytes"`` (a text message closes with 1003) or
      ``"json"`` (text or binary JSON; invalid JSON closes with 1007 ``"invalid JSON"``).
    - ``subprotocols``: the subprotocols this endpoint speaks; the default ``on_connect``
      accepts with the first one the client offers that is in this list (or none).
    - ``on_connect(ws, **params)`` gets the path parameters; the default accepts. It may
      instead ``deny(response)``, ``close()`` (refused with 403), or raise
      ``HTTPError`` (denied with that status). Returning without accepting refuses.
    - ``on_receive(ws, data)`` per message; ``on_disconnect(ws, code)`` once, after a
      connection that was accepted ends, however it ended (1011 after an error).
    """

    receive: ClassVar[str] = "text"
    subprotocols: ClassVar[Sequence[str]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.receive not in _RECEIVE_MODES:
            raise TypeError(f"{cls.__qualname__}.receive must be 'text', 'bytes' or 'json', got {cls.receive!r}")
        if isinstance(cls.subprotocols, str):
            raise TypeError(f"{cls.__qualname__}.subprotocols must be a sequence of names, not one str")

    async def on_connect(self, ws: WebSocket, **params: Any) -> None:
        offered = ws.subprotocols
        chosen = next((name for name in offered if name in self.subprotocols), None)
        await ws.accept(subprotocol=chosen)

    async def on_receive(self, ws: WebSocket, data: Any) -> None:
        pass

    async def on_disconnect(self, ws: WebSocket, code: int) -> None:
        pass


_RECEIVERS: Dict[str, Callable[[WebSocket], Awaitable[Any]]] = {
    "text": WebSocket.receive_text,
    "bytes": WebSocket.receive_bytes,
    "json": WebSocket.receive_json,
}


def _error_response(status: int, detail: Any, headers: Optional[Mapping[str, str]] = None) -> Response:
    # The shape of the app's JSON error bodies.
    return JSON({"status": status, "detail": detail}, status=status, headers=headers)


async def _converse(
    ws: WebSocket,
    conversation: Callable[[], Awaitable[None]],
    on_disconnect: Optional[Callable[[WebSocket, int], Awaitable[None]]],
    listeners: Optional[WebSocketListeners],
) -> None:
    """Run one connection: the error policy shared by class and function endpoints."""
    try:
        if listeners is not None and listeners.websocket_connect is not None:
            await listeners.websocket_connect(ws)
        await conversation()
        state = ws.connection_state
        if state is WebSocketState.CONNECTING:
            logger.info("WebSocket endpoint for %s returned without accepting: refused (403)", ws.path)
            await ws.close()
        elif state is WebSocketState.OPEN:  # a function endpoint returned with it open
            await ws.close()
    except WebSocketDisconnect:  # the peer left: the end of a conversation, not an error
        pass
    except Exception as exc:
        state = ws.connection_state
        if state is WebSocketState.CONNECTING:
            if isinstance(exc, HTTPError):  # a refusal, not an error
                await ws.deny(_error_response(exc.status, exc.detail, exc.headers))
                return
            await ws.deny(_error_response(500, "Internal Server Error"))
        elif state is WebSocketState.OPEN:
            await ws.close(1011)
        raise
    finally:
        if ws._accepted:
            code = ws.close_code if ws.close_code is not None else 1006
            if on_disconnect is not None:
                await on_disconnect(ws, code)
            if listeners is not None and listeners.websocket_disconnect is not None:
                await listeners.websocket_disconnect(ws, code)


async def run_websocket_resource(
    resource: WebSocketResource,
    ws: WebSocket,
    params: Dict[str, Any],
    listeners: Optional[WebSocketListeners] = None,
) -> None:
    """Run one connection through a class endpoint: ``on_connect(ws, **params)``, then
    ``on_receive(ws, data)`` per message (decoded per ``resource.receive``) while the
    WebSocket is open, then ``on_disconnect(ws, code)``.

    An exception before the WebSocket is accepted denies it with a 500 (``HTTPError``:
    with its status, and is not re-raised); after, it closes the WebSocket with 1011.
    Either way ``on_disconnect`` runs for an accepted connection, and the exception is
    re-raised for the app to log.
    """
    receive = _RECEIVERS[resource.receive]
    on_receive = resource.on_receive
    heard = listeners.websocket_receive if listeners is not None else None

    async def conversation() -> None:
        await resource.on_connect(ws, **params)
        while ws._connection_state is WebSocketState.OPEN:
            data = await receive(ws)
            if heard is not None:
                await heard(ws, data)
            await on_receive(ws, data)

    await _converse(ws, conversation, resource.on_disconnect, listeners)


async def run_websocket_endpoint(
    endpoint: Callable[..., Awaitable[Any]],
    ws: WebSocket,
    params: Dict[str, Any],
    listeners: Optional[WebSocketListeners] = None,
) -> None:
    """Run one connection through a function endpoint, ``await endpoint(ws, **params)``,
    with the error policy of :func:`run_websocket_resource`. An endpoint that returns
    without accepting refuses the connection (403); one that returns with it open closes
    it (1000); :class:`WebSocketDisconnect` escaping it is the peer leaving, not an error."""

    async def conversation() -> None:
        await endpoint(ws, **params)

    await _converse(ws, conversation, None, listeners)


# -- groups and brokers --------------------------------------------------------------------------


class Broker(Protocol):
    """Carries messages on named channels, within or across processes (see the module
    docstring for the contract a Redis or PostgreSQL broker implements)."""

    async def publish(self, channel: str, message: Data) -> None: ...

    async def subscribe(self, channel: str, callback: BrokerCallback) -> None: ...

    async def unsubscribe(self, channel: str, callback: BrokerCallback) -> None: ...


class InProcessBroker:
    """The broker of one process: ``publish`` calls the channel's callbacks directly."""

    __slots__ = ("_callbacks",)

    def __init__(self) -> None:
        self._callbacks: Dict[str, List[BrokerCallback]] = {}

    async def publish(self, channel: str, message: Data) -> None:
        for callback in tuple(self._callbacks.get(channel, ())):
            try:
                callback(message)
            except Exception:
                logger.exception("Subscriber %r of channel %r failed", callback, channel)

    async def subscribe(self, channel: str, callback: BrokerCallback) -> None:
        self._callbacks.setdefault(channel, []).append(callback)

    async def unsubscribe(self, channel: str, callback: BrokerCallback) -> None:
        callbacks = self._callbacks.get(channel)
        if callbacks is not None and callback in callbacks:
            callbacks.remove(callback)
            if not callbacks:
                del self._callbacks[channel]

    def channels(self) -> List[str]:
        """The channels with at least one subscriber."""
        return list(self._callbacks)


class _Member:
    """A WebSocket in one or more groups: its outbox and the task that empties it."""

    __slots__ = ("ws", "groups", "outbox", "sending", "sender", "_waiter")

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.groups: Set[str] = set()
        self.outbox: Deque[Data] = deque()
        self.sending = False  # the sender is waiting in a send: the connection takes no writes
        self.sender: Optional[asyncio.Task[None]] = None
        self._waiter: Optional[asyncio.Future[None]] = None

    def put(self, message: Data) -> None:
        self.outbox.append(message)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def get(self) -> Data:
        while not self.outbox:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            await waiter
        return self.outbox.popleft()


class Groups:
    """Named groups of WebSockets, for broadcast: ``await groups.join("room", ws)``,
    ``await groups.broadcast("room", message)``.

    A broadcast goes through the :class:`Broker` (in-process by default; a Redis or
    PostgreSQL one reaches the members of every process) and reaches each member of
    this process through the member's own outbox, emptied by its own task: a slow
    member never holds up the others. Delivery policy:

    - a member is too slow when a message arrives while its sender is still waiting
      in a send (its connection takes no more writes) and ``max_queue`` messages are
      already waiting behind it: it is removed from its groups and closed with 1008
      (``"too slow"``). A burst of broadcasts between two turns of the event loop is
      not slowness: those messages wait, however many, and leave at the next turn;
    - a member whose send fails (the client left) is removed;
    - a WebSocket leaves its groups by itself when it closes.

    Each member gets the messages of a group in the order they were published.

    Call ``await groups.close()`` when the app shuts down.
    """

    def __init__(self, broker: Optional[Broker] = None, *, max_queue: int = 64) -> None:
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 1:
            raise ValueError(f"Groups(max_queue=...) must be a positive int, got {max_queue!r}")
        self.broker: Broker = broker if broker is not None else InProcessBroker()
        self.max_queue = max_queue
        self._groups: Dict[str, Dict[WebSocket, _Member]] = {}  # in join order
        self._members: Dict[WebSocket, _Member] = {}
        # group -> (its subscription: a task that completes once subscribed, its callback)
        self._subscriptions: Dict[str, Tuple[asyncio.Task[None], BrokerCallback]] = {}
        self._background: Set[asyncio.Task[None]] = set()

    # -- membership ------------------------------------------------------------------------

    async def join(self, name: str, ws: WebSocket) -> None:
        """Add ``ws`` (accepted) to group ``name``; returns once messages broadcast from now
        on will reach it (the broker has subscribed the group's channel)."""
        if ws.connection_state is not WebSocketState.OPEN:
            raise RuntimeError(f"Groups.join(): the WebSocket is {ws.connection_state.value}; join after accept()")
        members = self._groups.setdefault(name, {})
        if ws not in members:
            member = self._members.get(ws)
            if member is None:
                member = self._members[ws] = _Member(ws)
                member.sender = asyncio.get_running_loop().create_task(self._send_loop(member))
                ws._on_close(self._forget)
            members[ws] = member
            member.groups.add(name)
        subscription = self._subscriptions.get(name)
        if subscription is None:
            callback = partial(self._deliver, name)
            task = asyncio.get_running_loop().create_task(self.broker.subscribe(name, callback))
            subscription = self._subscriptions[name] = (task, callback)
        try:
            await asyncio.shield(subscription[0])
        except Exception:
            if self._subscriptions.get(name) is subscription:
                del self._subscriptions[name]
            self._remove(name, ws)
            raise

    async def leave(self, name: str, ws: WebSocket) -> None:
        """Remove ``ws`` from group ``name`` (nothing if it is not a member)."""
        if self._remove(name, ws):
            await self._unsubscribe(name)

    def members(self, name: str) -> Tuple[WebSocket, ...]:
        """The members of group ``name`` in this process, in the order they joined."""
        return tuple(self._groups.get(name, ()))

    def groups(self) -> List[str]:
        """The groups with members in this process."""
        return list(self._groups)

    def _remove(self, name: str, ws: WebSocket) -> bool:
        """Take ``ws`` out of one group; True if the group is now empty here."""
        members = self._groups.get(name)
        if members is None or ws not in members:
            return False
        member = members.pop(ws)
        member.groups.discard(name)
        if not member.groups:
            self._stop(member)
        if members:
            return False
        del self._groups[name]
        return True

    def _stop(self, member: _Member) -> None:
        del self._members[member.ws]
        sender = member.sender
        if sender is not None and sender is not asyncio.current_task():
            sender.cancel()

    def _forget(self, ws: WebSocket) -> None:
        """``ws`` is closed or unusable: out of every group (unsubscribing emptied ones)."""
        member = self._members.get(ws)
        if member is None:
            return
        for name in tuple(member.groups):
            if self._remove(name, ws):
                self._in_background(self._unsubscribe(name))

    async def _unsubscribe(self, name: str) -> None:
        subscription = self._subscriptions.get(name)
        if subscription is None or name in self._groups:  # gone, or someone joined again
            return
        del self._subscriptions[name]
        task, callback = subscription
        try:
            await task
            await self.broker.unsubscribe(name, callback)
        except Exception:
            logger.exception("Could not unsubscribe group %r from the broker", name)

    def _in_background(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- delivery --------------------------------------------------------------------------

    async def broadcast(self, name: str, message: Any) -> None:
        """Send ``message`` to every member of group ``name`` (in every process the broker
        reaches): a ``str`` as a text message, ``bytes`` as a binary one, anything else
        encoded as JSON text. Returns once the broker has it, not once members do."""
        if isinstance(message, (bytearray, memoryview)):
            message = bytes(message)
        elif not isinstance(message, (str, bytes)):
            message = _json.dumps(message).decode("utf-8")
        await self.broker.publish(name, message)

    def _deliver(self, name: str, message: Data) -> None:
        """The broker's callback for group ``name``: queue the message for each member."""
        members = self._groups.get(name)
        if not members:
            return
        slow: Optional[List[WebSocket]] = None
        max_queue = self.max_queue
        for member in members.values():
            if member.sending and len(member.outbox) >= max_queue:
                if slow is None:
                    slow = []
                slow.append(member.ws)
            else:
                member.put(message)
        if slow is not None:
            for ws in slow:
                logger.warning("WebSocket %s is too slow for group %r (%d messages unsent): closed",
                               ws.path, name, self.max_queue)
                self._forget(ws)
                self._in_background(ws.close(1008, "too slow"))

    async def _send_loop(self, member: _Member) -> None:
        ws = member.ws
        try:
            while True:
                message = await member.get()
                member.sending = True
                if isinstance(message, str):
                    await ws.send_text(message)
                else:
                    await ws.send_bytes(message)
                member.sending = False
        except (WebSocketDisconnect, RuntimeError):  # gone, or closed by the app meanwhile
            self._forget(ws)
        except Exception:
            logger.exception("Sending a group message to WebSocket %s failed", ws.path)
            self._forget(ws)

    async def close(self) -> None:
        """Stop every member's sender and unsubscribe every group (at app shutdown)."""
        for member in list(self._members.values()):
            self._stop(member)
        self._groups.clear()
        for name in list(self._subscriptions):
            await self._unsubscribe(name)
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
