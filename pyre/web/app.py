"""The :class:`App`: a plain ASGI 3 application that routes to resources and functions.

::

    app = App()

    @app.get("/")
    async def index(request: Request) -> dict:
        return {"hello": "world"}

An app runs under any ASGI server (``pyre module:app``, uvicorn, hypercorn, granian, the
gunicorn worker). It handles ``http``, ``websocket`` and ``lifespan`` scopes. Routes are
declared with the API of :class:`~pyre.web.routing.Routes` and compiled once, when the app
starts: at the lifespan startup, or at the first request when the server runs no lifespan
(call :meth:`App.freeze` to check the routes yourself, in a test). From then on the route
table is fixed. A request's path is routed without the ``root_path`` (ASGI: ``path``
includes it).

Per request, for a matched route without guards or listeners: one router lookup (a dict hit
for a static path), the :class:`~pyre.web.Request` (lazy: nothing parsed), the handler's
plan call, the conversion of its return value (:func:`~pyre.web.responses.to_response`),
and two ``send`` calls. Middleware, guards and listeners cost only where they are declared.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from types import ModuleType, SimpleNamespace
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Dict,
    Generic,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
    cast,
    overload,
)

from pyre.web._json import dumps
from pyre.web.converters import ConverterSpec, RouteError
from pyre.web.di import Injector
from pyre.web.error_handlers import ExceptionHandler, ExceptionHandlers, HandlerKey, render_error
from pyre.web.errors import ClientDisconnect, HTTPError
from pyre.web.events import (
    EventHooks,
    Events,
    check_event_name,
    check_user_event,
    collect_listeners,
    run_listeners,
    run_logged,
)
from pyre.web.callables import callable_name, is_async_callable
from pyre.web.handlers import ListenerRef, RouteHooks, SignatureError
from pyre.web.middleware import ASGIApp, Middleware, build_stack
from pyre.web.responses import HTML, JSON, Redirect, Response, Text, to_response
from pyre.web.routetable import MountTarget, RouteTable, Target, compile_routes
from pyre.web.routing import Routes

if TYPE_CHECKING:
    from pyre.web.request import Message, Receive, Request, Scope, Send
else:  # the compiled twin when built (pyre._accel chooses)
    from pyre._accel import Request

__all__ = ["App", "TrailingSlash"]

logger = logging.getLogger("pyre.error")

StateT = TypeVar("StateT")
F = TypeVar("F", bound=Callable[..., Any])
TrailingSlash = Literal["redirect", "strict", "ignore"]

#: The default bound of a request body (``max_body_size``): 10 MiB.
DEFAULT_MAX_BODY_SIZE = 10 * 1024 * 1024
# Responses whose __call__ is Response's: the dispatcher sends them itself, without a call.
_PLAIN = frozenset({Response, JSON, HTML, Text, Redirect})
_JSON_TYPE = JSON._content_type_header
_LENGTH = b"content-length"
_TRAILING_SLASH = ("redirect", "strict", "ignore")


def _route_path(path: str, root_path: str) -> str:
    """``path`` without ``root_path`` when it starts with it (ASGI: path includes root_path)."""
    root_path = root_path.rstrip("/")
    if not root_path or not path.startswith(root_path):
        return path
    rest = path[len(root_path) :]
    if not rest:
        return "/"
    return rest if rest[0] == "/" else path


def _other_slash(path: str) -> str:
    return path[:-1] if path.endswith("/") else path + "/"


class _StartTracker:
    """Wraps ``send`` for a streamed response: whether its head went out (so an error after
    it cannot become an error response)."""

    __slots__ = ("send", "started")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        self.started = True
        await self.send(message)


class App(Routes, EventHooks, Generic[StateT]):
    """A ``pyre.web`` application (see the module docstring).

    - ``debug``: 500 responses carry the traceback (never in production).
    - ``state``: the app's typed state, ``app.state`` (``App[MyState]``); a
      ``SimpleNamespace`` by default. Handlers reach it as ``request.app.state``.
    - ``trailing_slash``: for a path that matches only with its trailing slash added or
      removed: ``"redirect"`` (308 to the registered form, keeping the method and query),
      ``"strict"`` (404) or ``"ignore"`` (serve it).
    - ``max_body_size``: the bound of a request body in bytes (None: none); a larger
      ``Content-Length`` gets 413 before the body is read, a longer streamed body when it
      passes the bound.
    - ``middleware``: pure ASGI middleware, outermost first (see :mod:`pyre.web.middleware`).
    - ``exception_handlers``: exception class or status -> handler (see
      :mod:`pyre.web.error_handlers`).
    - ``converters``: user path converters by name (see :mod:`pyre.web.converters`).
    - ``dependencies``: providers by parameter name (``{"db": Provide(get_db)}``; see
      :mod:`pyre.web.di`); ``app.dependency_overrides`` replaces providers (tests).
    - ``native``: served by Pyre, HTTP requests take the native path (no ASGI scope dict
      unless read: see :mod:`pyre.asgi.native`); False serves them through ASGI as any
      other server does. Read once, when the server starts. An app with ``middleware``
      takes the ASGI path either way.
    """

    state: StateT

    @overload
    def __init__(
        self: "App[SimpleNamespace]",
        *,
        debug: bool = ...,
        state: None = ...,
        trailing_slash: TrailingSlash = ...,
        max_body_size: Optional[int] = ...,
        middleware: Sequence[Any] = ...,
        exception_handlers: Optional[Mapping[HandlerKey, ExceptionHandler]] = ...,
        converters: Optional[Mapping[str, ConverterSpec]] = ...,
        dependencies: Optional[Mapping[str, Any]] = ...,
        native: bool = ...,
    ) -> None: ...

    @overload
    def __init__(
        self,
        *,
        debug: bool = ...,
        state: StateT,
        trailing_slash: TrailingSlash = ...,
        max_body_size: Optional[int] = ...,
        middleware: Sequence[Any] = ...,
        exception_handlers: Optional[Mapping[HandlerKey, ExceptionHandler]] = ...,
        converters: Optional[Mapping[str, ConverterSpec]] = ...,
        dependencies: Optional[Mapping[str, Any]] = ...,
        native: bool = ...,
    ) -> None: ...

    def __init__(
        self,
        *,
        debug: bool = False,
        state: Any = None,
        trailing_slash: TrailingSlash = "redirect",
        max_body_size: Optional[int] = DEFAULT_MAX_BODY_SIZE,
        middleware: Sequence[Any] = (),
        exception_handlers: Optional[Mapping[HandlerKey, ExceptionHandler]] = None,
        converters: Optional[Mapping[str, ConverterSpec]] = None,
        dependencies: Optional[Mapping[str, Any]] = None,
        native: bool = True,
    ) -> None:
        if trailing_slash not in _TRAILING_SLASH:
            raise ValueError(f"trailing_slash must be one of {', '.join(_TRAILING_SLASH)}, got {trailing_slash!r}")
        if max_body_size is not None and (type(max_body_size) is not int or max_body_size < 0):
            raise ValueError(f"max_body_size must be a number of bytes (an int >= 0) or None, got {max_body_size!r}")
        self._init_routes()
        self.debug = debug
        self.state = cast(StateT, SimpleNamespace() if state is None else state)
        self.trailing_slash: TrailingSlash = trailing_slash
        self.max_body_size = max_body_size
        self.native = native
        self._middleware: List[Middleware] = [Middleware.of(item) for item in middleware]
        self._handlers = ExceptionHandlers(exception_handlers)
        self._converters = converters
        #: The app's dependencies: providers by name, overrides, app-scoped values.
        self.injector = Injector(dependencies)
        self._on: Dict[str, List[ListenerRef]] = {}
        # Set by freeze():
        self._table: Optional[RouteTable] = None
        self._router: Any = None
        self._entry: Optional[ASGIApp] = None
        self._events = Events({})
        self._app_hooks: Optional[RouteHooks] = None
        self._websocket: Optional[ModuleType] = None

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} {'started' if self._table is not None else 'not started'}>"

    # -- configuration (before startup) ----------------------------------------------------------

    def _configure(self, what: str) -> None:
        if self._table is not None:
            raise RuntimeError(f"cannot {what}: the app has started (its configuration is fixed at startup)")

    def add_middleware(self, cls: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Wrap the app in ``cls(app, *args, **kwargs)``, outside the middleware already given."""
        self._configure("add middleware")
        self._middleware.insert(0, Middleware(cls, *args, **kwargs))

    @property
    def dependency_overrides(self) -> Dict[Callable[..., Any], Callable[..., Any]]:
        """Provider -> replacement, wherever the provider is used (tests; see :mod:`pyre.web.di`)."""
        return self.injector.overrides

    @property
    def middleware(self) -> Tuple[Middleware, ...]:
        """The middleware, outermost first."""
        return tuple(self._middleware)

    def exception_handler(self, key: HandlerKey) -> Callable[[F], F]:
        """Decorator: handle exceptions of class ``key`` (and subclasses), or ``HTTPError``\\ s of
        status ``key``, with ``handler(request, exc)``."""
        self._configure("add an exception handler")

        def register(handler: F) -> F:
            self._handlers.add(key, handler)
            return handler

        return register

    def on(self, event: str) -> Callable[[F], F]:
        """Decorator: ``listener`` listens to ``event`` (a lifecycle event or your own name),
        after the App subclass's own listener methods, in registration order."""
        check_event_name(event)
        self._configure(f"listen to {event!r}")

        def register(listener: F) -> F:
            if not callable(listener):
                raise TypeError(f"a listener must be callable, got {listener!r}")
            self._on.setdefault(event, []).append((listener, is_async_callable(listener)))
            return listener

        return register

    async def emit(self, event: str, /, *args: Any, **kwargs: Any) -> None:
        """Send the user event ``event`` to its listeners, awaited in registration order; each
        error is logged (``pyre.error``) and the next listener still runs."""
        check_user_event(event)
        if self._table is None:
            self.freeze()
        await self._events.emit(event, *args, **kwargs)

    # -- startup ---------------------------------------------------------------------------------

    def freeze(self) -> None:
        """Compile the routes, plans, listeners and middleware (once; later calls do nothing).

        Done at the lifespan startup or the first request; raises :class:`RouteError` or
        :class:`~pyre.web.handlers.SignatureError` (one line) for a route that cannot be served.
        """
        if self._table is not None:
            return
        listeners = collect_listeners(self)
        for event, refs in self._on.items():
            listeners.setdefault(event, []).extend(refs)
        table = compile_routes(
            self, converters=self._converters, app_listeners=listeners, injector=self.injector
        )
        merged = {event: list(refs) for event, refs in listeners.items()}
        for owned in table.owner_listeners:
            for event, refs in owned.items():
                merged.setdefault(event, []).extend(refs)
        hooks = RouteHooks(
            response=tuple(listeners.get("response", ())),
            after_response=tuple(listeners.get("after_response", ())),
            error=tuple(listeners.get("error", ())),
        )
        if any(isinstance(target, Target) and target.websocket is not None for _, target, _ in table.router.routes):
            self._websocket = importlib.import_module("pyre.web.websocket")
        self._events = Events({event: tuple(refs) for event, refs in merged.items()})
        self._app_hooks = hooks if hooks else None
        self._entry = build_stack(self._dispatch, self._middleware)
        self._router = table.router
        self._table = table

    @property
    def routes(self) -> Tuple[Tuple[str, Any], ...]:
        """``(pattern, target)`` of every compiled route (after startup), in declaration order:
        a :class:`~pyre.web.routetable.Target` (``methods``: the plan per HTTP method) or a
        :class:`~pyre.web.routetable.MountTarget`."""
        self.freeze()
        assert self._table is not None
        return tuple((pattern, target) for pattern, target, _ in self._table.router.routes)

    def url_for(self, name: str, /, **params: Any) -> str:
        """The path of the route named ``name`` (see :meth:`Routes.url_for`); raises
        :class:`RouteError` for an unknown name or missing/extra parameters."""
        self.freeze()
        assert self._table is not None
        return self._table.url_for(name, params)

    # -- ASGI ------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        entry = self._entry
        if entry is None:
            if scope["type"] == "lifespan":
                try:
                    self.freeze()
                except Exception as exc:  # the routes cannot be served: say so and stop
                    await receive()  # lifespan.startup
                    await self._startup_failed(send, exc)
                    return
            else:
                self.freeze()
            entry = self._entry
            assert entry is not None
        await entry(scope, receive, send)

    def __pyre_native__(self) -> Optional[Callable[[Any, Receive, Send], Awaitable[None]]]:
        """Pyre's native entry (see :mod:`pyre.asgi.native`): HTTP requests without an ASGI
        scope dict; None when ``native`` is off or the app has middleware (which takes a scope)."""
        return self._native if self.native and not self._middleware else None

    def _native(self, head: Any, receive: Receive, send: Send) -> Awaitable[None]:
        """One HTTP request on Pyre's native path: ``head`` is a ``RequestHead``. Returns the
        request's coroutine (one coroutine frame fewer than an ``async def`` around it)."""
        entry = self._entry
        if entry is None or self._middleware:
            if entry is None:
                self.freeze()
                entry = self._entry
                assert entry is not None
            if self._middleware:  # added after the server looked: the ASGI path, as under any server
                return entry(head.scope(), receive, send)
        path = head.path
        root_path = head.root_path
        if root_path:
            path = _route_path(path, root_path)
        return self._serve(Request.from_head(head, receive, send), path, receive, send)

    def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The ASGI app under the middleware: returns the scope's coroutine."""
        if scope["type"] != "http":
            return self._dispatch_other(scope, receive, send)
        path = scope["path"]
        root_path = scope.get("root_path")
        if root_path:
            path = _route_path(path, root_path)
        return self._serve(Request(scope, receive, send), path, receive, send)

    async def _dispatch_other(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await self._serve_websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _serve(self, request: Request, path: str, receive: Receive, send: Send) -> None:
        """One HTTP request, routed by ``path`` (without the root path); the same on the
        ASGI and the native path (where ``request.scope`` is assembled only if read)."""
        matched = self._router.match(path)
        if matched is None:
            matched = await self._unmatched(path, request, receive, send)
            if matched is None:
                return
        target, params = matched
        plan = target.methods.get(request.method)
        if plan is None:
            await self._no_plan(target, params, request, receive, send)
            return
        request.app = self
        request.path_params = params
        request.max_body_size = self.max_body_size
        hooks = plan.hooks
        if hooks is not None:
            await self._serve_hooked(plan.call, hooks, request, receive, send)
            return
        response: Optional[Response]
        try:
            value = await plan.call(request)
            if type(value) is dict:
                # The commonest return: sent as JSON(value) would be, without making the JSON.
                body = dumps(value)
                start = {"type": "http.response.start", "status": 200, "headers": [_JSON_TYPE, (_LENGTH, b"%d" % len(body))]}
                response = None
            else:
                response = to_response(value)
        except Exception as exc:
            response = await self._error_response(request, exc, ())
        if response is not None:
            if type(response) not in _PLAIN:
                await self._finish(request, response, None, receive, send)
                return
            start = {"type": "http.response.start", "status": response.status, "headers": response.raw_headers}
            body = response.body
        # Inline (the common case): what Response.__call__ does, without its call.
        try:
            await send(start)
            await send({"type": "http.response.body", "body": body})
        except OSError:  # the client went away; the server knows already
            pass
        if response is not None and response.background is not None:
            await response.background()
        if request.needs_close:
            await request.close()

    async def _serve_hooked(
        self,
        call: Callable[[Any], Awaitable[Any]],
        hooks: RouteHooks,
        request: Request,
        receive: Receive,
        send: Send,
    ) -> None:
        """A route with guards or listeners: guards, request listeners, the handler, then
        :meth:`_finish` with the response listeners."""
        try:
            if hooks.guards:
                await _run_guards(hooks.guards, request)
            if hooks.request:
                await run_listeners(hooks.request, request)
            response = to_response(await call(request))
        except Exception as exc:
            response = await self._error_response(request, exc, hooks.error)
        await self._finish(request, response, hooks, receive, send)

    async def _finish(
        self,
        request: Request,
        response: Response,
        hooks: Optional[RouteHooks],
        receive: Receive,
        send: Send,
    ) -> None:
        """``response`` listeners, the response, ``after_response`` listeners, the background
        tasks, and the request's cleanup."""
        try:
            errors = () if hooks is None else hooks.error
            if hooks is not None and hooks.response:
                try:
                    await run_listeners(hooks.response, request, response)
                except Exception as exc:
                    response = await self._error_response(request, exc, errors)
            sent = await self._send_response(request, response, receive, send, errors)
            if hooks is not None and hooks.after_response:
                await run_logged("after_response", hooks.after_response, request, sent)
            if sent.background is not None:
                await sent.background()
        finally:
            if request.needs_close:
                await request.close()

    async def _send_response(
        self,
        request: Request,
        response: Response,
        receive: Receive,
        send: Send,
        errors: Tuple[ListenerRef, ...],
    ) -> Response:
        """Send ``response`` without running its background tasks; returns what was sent
        (an error response when ``response`` failed before its head went out)."""
        if type(response) in _PLAIN:
            try:
                await send({"type": "http.response.start", "status": response.status, "headers": response.raw_headers})
                await send({"type": "http.response.body", "body": response.body})
            except OSError:
                pass
            return response
        tracker = _StartTracker(send)
        background = response.background
        response.background = None  # run by _finish, after the after_response listeners
        try:
            await response(request.scope, receive, tracker)
        except Exception as exc:
            if tracker.started:  # too late for an error response: the server aborts the response
                if errors:
                    await run_logged("error", errors, request, exc)
                raise
            failed = await self._error_response(request, exc, errors)
            return await self._send_response(request, failed, receive, send, ())
        finally:
            response.background = background
        return response

    async def _error_response(self, request: Request, exc: Exception, listeners: Tuple[ListenerRef, ...]) -> Response:
        """The response for ``exc`` (see :mod:`pyre.web.error_handlers`), after the ``error``
        listeners."""
        if listeners:
            await run_logged("error", listeners, request, exc)
        found = self._handlers.find(exc)
        if found is not None:
            handler, is_async = found
            try:
                result = handler(request, exc)
                if is_async:
                    result = await result
                return to_response(result)
            except Exception as failure:
                logger.error(
                    "Exception handler %s failed on %s %s",
                    callable_name(handler),
                    request.method,
                    request.path,
                    exc_info=failure,
                )
                return render_error(request, 500, None, None, failure if self.debug else None)
        if isinstance(exc, HTTPError):
            return render_error(request, exc.status, exc.detail, exc.headers)
        if isinstance(exc, ClientDisconnect):  # nobody to answer; the server drops this
            return render_error(request, 400, "Client disconnected")
        logger.error("Exception in %s %s", request.method, request.path, exc_info=exc)
        return render_error(request, 500, None, None, exc if self.debug else None)

    # -- what no handler answers -----------------------------------------------------------------

    async def _answer(
        self, request: Request, receive: Receive, send: Send, response: Union[Response, HTTPError], params: Dict[str, Any]
    ) -> None:
        """Send a response the app makes itself (404, 405, OPTIONS, a redirect), with the
        app's own response listeners."""
        request.app = self
        request.path_params = params
        request.max_body_size = self.max_body_size
        hooks = self._app_hooks
        if isinstance(response, HTTPError):
            response = await self._error_response(request, response, () if hooks is None else hooks.error)
        await self._finish(request, response, hooks, receive, send)

    async def _unmatched(
        self, path: str, request: Request, receive: Receive, send: Send
    ) -> Optional[Tuple[Any, Dict[str, Any]]]:
        """No route has ``path``: the trailing-slash policy, else 404. Returns the match to
        serve, or None when answered here."""
        if self.trailing_slash != "strict" and path != "/":
            matched = self._router.match(_other_slash(path))
            if matched is not None:
                if self.trailing_slash == "ignore":
                    result: Tuple[Any, Dict[str, Any]] = matched
                    return result
                location = _other_slash(request.raw_path.decode("latin-1"))
                # "//host/..." (or "/\host") is another site to a browser: never redirect there.
                if location[:2] not in ("//", "/\\"):
                    query = request.scope.get("query_string")
                    if query:
                        location += "?" + query.decode("latin-1")
                    await self._answer(request, receive, send, Redirect(location, 308), {})
                    return None
        await self._answer(request, receive, send, HTTPError(404), {})
        return None

    async def _no_plan(self, target: Any, params: Dict[str, Any], request: Request, receive: Receive, send: Send) -> None:
        """The path matched but no plan takes the method: a mount, OPTIONS, or 405."""
        if type(target) is MountTarget:
            await self._forward(target, request.scope, receive, send)
        elif not target.methods:  # a websocket-only path
            await self._answer(request, receive, send, HTTPError(404), params)
        elif request.method == "OPTIONS":
            await self._answer(request, receive, send, Response(status=204, headers={"allow": target.allow}), params)
        else:
            await self._answer(request, receive, send, HTTPError(405, headers={"allow": target.allow}), params)

    async def _forward(self, target: MountTarget, scope: Scope, receive: Receive, send: Send) -> None:
        child = dict(scope)
        child["root_path"] = (scope.get("root_path") or "").rstrip("/") + target.prefix
        await target.app(child, receive, send)

    # -- websocket -------------------------------------------------------------------------------

    async def _serve_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        root_path = scope.get("root_path")
        if root_path:
            path = _route_path(path, root_path)
        router = self._router
        matched = router.match(path)
        if matched is None and self.trailing_slash != "strict" and path != "/":
            matched = router.match(_other_slash(path))  # a handshake cannot be redirected
        if matched is None:
            await _deny(scope, send, render_error(None, 404))
            return
        target, params = matched
        if type(target) is MountTarget:
            await self._forward(target, scope, receive, send)
            return
        route = target.websocket
        if route is None:
            await _deny(scope, send, render_error(None, 404))
            return
        module = self._websocket
        assert module is not None
        ws = module.WebSocket(scope, receive, send)
        ws.app = self
        ws.path_params = params
        try:
            if route.guards:
                await _run_guards(route.guards, ws)
        except Exception as exc:
            await run_logged("error", route.error, ws, exc)
            if isinstance(exc, HTTPError):
                await ws.deny(render_error(ws, exc.status, exc.detail, exc.headers))
            else:
                logger.error("Exception in a guard of websocket %s (%s)", scope["path"], route.name, exc_info=exc)
                await ws.deny(render_error(ws, 500))
            return
        try:
            if route.resource is not None:
                await module.run_websocket_resource(route.resource, ws, params, route.listeners)
            else:
                assert route.plan is not None
                await route.plan.call(ws)
        except Exception as exc:
            await run_logged("error", route.error, ws, exc)
            logger.error("Exception in websocket %s (%s)", scope["path"], route.name, exc_info=exc)
            if route.resource is None:  # the resource runner closes its own sockets
                try:
                    await ws.close(1011)
                except Exception:  # noqa: BLE001 - already closed, or the client is gone
                    pass

    # -- lifespan --------------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "lifespan.startup":
                try:
                    await run_listeners(self._events.listeners("startup"))
                except Exception as exc:
                    logger.error("Startup listener failed", exc_info=exc)
                    await self._startup_failed(send, exc)
                    return
                await send({"type": "lifespan.startup.complete"})
            elif kind == "lifespan.shutdown":
                await run_logged("shutdown", self._events.listeners("shutdown"))
                await self.injector.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _startup_failed(self, send: Send, exc: Exception) -> None:
        message = str(exc) or type(exc).__name__
        if not isinstance(exc, (RouteError, SignatureError)):
            message = f"{type(exc).__name__}: {message}"
        await send({"type": "lifespan.startup.failed", "message": message})


async def _run_guards(guards: Tuple[ListenerRef, ...], connection: Any) -> None:
    """Each guard in order; a plain function returning an awaitable has it awaited."""
    for guard, is_async in guards:
        result = guard(connection)
        if is_async or (result is not None and inspect.isawaitable(result)):
            await result


async def _deny(scope: Scope, send: Send, response: Response) -> None:
    """Refuse a WebSocket handshake before any endpoint took it: ``response`` when the server
    offers the denial extension, else a close (which the server answers with 403)."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await send({"type": "websocket.http.response.start", "status": response.status, "headers": response.raw_headers})
        await send({"type": "websocket.http.response.body", "body": response.body})
    else:
        await send({"type": "websocket.close", "code": 1000})
