"""Events of ``pyre.web``: lifecycle events and user events, with listeners found at startup.

Lifecycle events (:data:`LIFECYCLE_EVENTS`) and what a listener receives:

==========================  ==============================  =========================================
event                       listener arguments              a listener's error
==========================  ==============================  =========================================
``startup``                 ()                              fails the startup (lifespan.startup.failed)
``shutdown``                ()                              logged; the next listeners still run
``request``                 (request)                       the request's error (HTTPError or 500)
``response``                (request, response)             the request's error (HTTPError or 500)
``after_response``          (request, response)             logged; the next listeners still run
``error``                   (request, exception)            logged; the next listeners still run
``websocket_connect``       (ws)                            logged; the next listeners still run
``websocket_receive``       (ws, data)                      logged; the next listeners still run
``websocket_disconnect``    (ws, code)                      logged; the next listeners still run
==========================  ==============================  =========================================

Listeners are methods named ``on_<event>`` that an :class:`~pyre.web.App` subclass, a
:class:`~pyre.web.Controller` or a :class:`~pyre.web.Resource` defines (the defaults in
:class:`EventHooks` do nothing and are never called), methods marked ``@listen("name")``,
and functions registered with ``@app.on("name")``. They are collected once, at startup,
from the methods a class actually defines: a route whose app, controllers and resource
define none has no hooks at all, so an event nobody listens to costs nothing per request.
Listeners may be coroutine functions (awaited) or plain functions (called directly: keep
them short, they run on the event loop). User events (any other name, ``"order.created"``)
are sent with ``await app.emit(name, *args, **kwargs)``: listeners are awaited in
registration order; each error is logged (``pyre.error``) and the next listener still runs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, Iterable, List, Optional, Tuple, TypeVar

from pyre.web.callables import callable_name, is_async_callable
from pyre.web.handlers import ListenerRef

if TYPE_CHECKING:
    from pyre.web.request import Request
    from pyre.web.responses import Response

__all__ = [
    "LIFECYCLE_EVENTS",
    "EventHooks",
    "Events",
    "WebSocketListeners",
    "check_event_name",
    "check_user_event",
    "collect_listeners",
    "listen",
    "run_listeners",
    "run_logged",
]

logger = logging.getLogger("pyre.error")

LIFECYCLE_EVENTS = (
    "startup",
    "shutdown",
    "request",
    "response",
    "after_response",
    "error",
    "websocket_connect",
    "websocket_receive",
    "websocket_disconnect",
)
_LIFECYCLE = frozenset(LIFECYCLE_EVENTS)

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__pyre_events__"


def check_event_name(event: str) -> None:
    """``ValueError`` unless ``event`` is a non-empty str."""
    if not isinstance(event, str) or not event:
        raise ValueError(f"an event name is a non-empty str, got {event!r}")


def listen(*events: str) -> Callable[[F], F]:
    """Mark a method as a listener of ``events``: ``@listen("order.created")`` on a method of
    an App subclass, a Controller or a Resource (collected at startup, like ``on_*``)."""
    if not events:
        raise TypeError("listen() needs at least one event name")
    for event in events:
        check_event_name(event)

    def mark(method: F) -> F:
        setattr(method, _MARK, getattr(method, _MARK, ()) + tuple(events))
        return method

    return mark


class EventHooks:
    """The listener methods of App, Controller and Resource: override those you need.

    The defaults here do nothing and are never called: only a method a class defines
    itself is collected, so an event with no listener costs nothing per request.
    """

    __slots__ = ()

    async def on_startup(self) -> None:
        """The app is starting (lifespan startup): open pools, load data. An error fails the startup."""

    async def on_shutdown(self) -> None:
        """The app is stopping (lifespan shutdown): close what ``on_startup`` opened."""

    async def on_request(self, request: Request) -> None:
        """Before the handler (after the guards); raise :class:`~pyre.web.HTTPError` to answer instead."""

    async def on_response(self, request: Request, response: Response) -> None:
        """Before the response head is sent: change its headers or cookies."""

    async def on_after_response(self, request: Request, response: Response) -> None:
        """After the response's last byte (before its background tasks)."""

    async def on_error(self, request: Request, exc: Exception) -> None:
        """An exception reached the error handlers (``HTTPError`` included)."""

    async def on_websocket_connect(self, ws: Any) -> None:
        """A WebSocket resource's connection was set up (after its ``on_connect``)."""

    async def on_websocket_receive(self, ws: Any, data: Any) -> None:
        """A WebSocket resource received a message (before its ``on_receive``)."""

    async def on_websocket_disconnect(self, ws: Any, code: int) -> None:
        """A WebSocket resource's connection closed (after its ``on_disconnect``)."""


_NAMES: Dict[type, Tuple[Tuple[str, str], ...]] = {}


def _listener_names(cls: type) -> Tuple[Tuple[str, str], ...]:
    """``(event, attribute)`` of every listener method ``cls`` defines, in a stable order:
    ``on_<event>`` methods (overriding :class:`EventHooks`'s), then ``@listen`` ones
    (looked up once per class)."""
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = _find_listener_names(cls)
    return names


def _find_listener_names(cls: type) -> Tuple[Tuple[str, str], ...]:
    found: List[Tuple[str, str]] = []
    for event in LIFECYCLE_EVENTS:
        attribute = "on_" + event
        method = getattr(cls, attribute, None)
        if method is not None and method is not getattr(EventHooks, attribute, None):
            found.append((event, attribute))
    seen = set()
    for klass in cls.__mro__:
        for attribute, value in vars(klass).items():
            if attribute in seen:
                continue
            seen.add(attribute)
            function = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            for event in getattr(function, _MARK, ()):
                if (event, attribute) not in found:  # @listen("request") on on_request itself
                    found.append((event, attribute))
    return tuple(found)


def collect_listeners(owner: Any) -> Dict[str, List[ListenerRef]]:
    """The listeners ``owner``'s class defines, bound to ``owner``: event -> [(callable, is_async)]."""
    listeners: Dict[str, List[ListenerRef]] = {}
    for event, attribute in _listener_names(type(owner)):
        method = getattr(owner, attribute)
        listeners.setdefault(event, []).append((method, is_async_callable(method)))
    return listeners


async def run_listeners(listeners: Iterable[ListenerRef], *args: Any) -> None:
    """Call each listener in order; the first error propagates (``request``/``response``)."""
    for listener, is_async in listeners:
        if is_async:
            await listener(*args)
        else:
            listener(*args)


async def run_logged(event: str, listeners: Iterable[ListenerRef], *args: Any, **kwargs: Any) -> None:
    """Call each listener in order; each error is logged (``pyre.error``) and the next still runs."""
    for listener, is_async in listeners:
        try:
            if is_async:
                await listener(*args, **kwargs)
            else:
                listener(*args, **kwargs)
        except Exception:
            logger.exception("Listener %s of event %r failed", callable_name(listener), event)


class Events:
    """The app's listeners by event, fixed at startup (``App.freeze``)."""

    __slots__ = ("_listeners",)

    def __init__(self, listeners: Dict[str, Tuple[ListenerRef, ...]]) -> None:
        self._listeners = listeners

    def listeners(self, event: str) -> Tuple[ListenerRef, ...]:
        """The listeners of ``event``, in order (empty when nobody listens)."""
        return self._listeners.get(event, ())

    async def emit(self, event: str, *args: Any, **kwargs: Any) -> None:
        """Call ``event``'s listeners in order; each error is logged and the next still runs."""
        listeners = self._listeners.get(event)
        if listeners:
            await run_logged(event, listeners, *args, **kwargs)


def check_user_event(event: str) -> None:
    """``emit`` takes user events only: the app sends the lifecycle ones itself."""
    check_event_name(event)
    if event in _LIFECYCLE:
        raise ValueError(f"{event!r} is a lifecycle event: the app emits it itself; emit your own event names")


def _caller(event: str, listeners: Tuple[ListenerRef, ...]) -> Callable[..., Awaitable[None]]:
    async def call(*args: Any) -> None:
        await run_logged(event, listeners, *args)

    return call


class WebSocketListeners:
    """The websocket events' listeners of one route, for ``run_websocket_resource``:
    ``await listeners.websocket_connect(ws)``, ``websocket_receive(ws, data)``,
    ``websocket_disconnect(ws, code)`` (each error logged, the next listener still runs).
    A route with no such listener gets None instead of this object (zero cost)."""

    __slots__ = ("websocket_connect", "websocket_receive", "websocket_disconnect")

    def __init__(
        self,
        connect: Tuple[ListenerRef, ...],
        receive: Tuple[ListenerRef, ...],
        disconnect: Tuple[ListenerRef, ...],
    ) -> None:
        self.websocket_connect = _caller("websocket_connect", connect)
        self.websocket_receive = _caller("websocket_receive", receive)
        self.websocket_disconnect = _caller("websocket_disconnect", disconnect)

    @classmethod
    def build(cls, listeners: Dict[str, List[ListenerRef]]) -> Optional["WebSocketListeners"]:
        """The object for these listeners, or None when none is for a websocket event."""
        connect = tuple(listeners.get("websocket_connect", ()))
        receive = tuple(listeners.get("websocket_receive", ()))
        disconnect = tuple(listeners.get("websocket_disconnect", ()))
        if not (connect or receive or disconnect):
            return None
        return cls(connect, receive, disconnect)
