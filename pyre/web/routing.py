"""The routing API shared by :class:`~pyre.web.App` and :class:`~pyre.web.Controller`.

Declaring a route records it; nothing is compiled until the app starts (see
:mod:`pyre.web.routetable`). Paths are route patterns (``/items/{item_id:int}``, see
:mod:`pyre.web.router`); a controller's routes get its prefix in front (``prefix + path``,
where the path ``/`` alone gives the prefix itself: ``Controller("/api")`` with
``@api.get("/")`` answers ``/api``).

- ``@routes.route(path)`` on a :class:`~pyre.web.Resource` class (its verb methods) or on
  a function (``methods=`` or GET);
- ``@routes.get(path)``, ``post``, ``put``, ``patch``, ``delete``: a function for one method;
- ``routes.add(path, endpoint)``: the same without a decorator (a resource class or
  instance, or a function);
- ``@routes.websocket(path)``: a WebSocket resource class or a function taking the socket;
- ``routes.include(controller, prefix="")``: a controller's routes under its prefix;
- ``routes.mount(prefix, asgi_app)``: any ASGI app under a prefix;
- ``routes.url_for(name, **params)``: the path of a named route.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence, Tuple, TypeVar, Union

if TYPE_CHECKING:
    from pyre.web.routetable import RouteTable

__all__ = ["Guard", "Routes", "check_prefix", "join_path"]

E = TypeVar("E")
#: ``guard(request)``: returns None (or an awaitable of None) to let the request through;
#: raises :class:`~pyre.web.HTTPError` to refuse it (401, 403, ...).
Guard = Callable[[Any], Any]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")


def join_path(prefix: str, path: str) -> str:
    """``prefix`` + ``path``; ``path`` "/" alone gives ``prefix`` itself (when there is one)."""
    if not prefix:
        return path
    if path == "/":
        return prefix
    return prefix + path


def _check_path(path: Any, what: str) -> str:
    if not isinstance(path, str):
        raise TypeError(f"{what} must be a str, not {type(path).__name__}: {path!r}")
    if not path.startswith("/"):
        raise ValueError(f"{what} {path!r} must start with '/'")
    return path


def check_prefix(prefix: Any, what: str) -> str:
    if prefix == "":
        return ""
    prefix = _check_path(prefix, what)
    if prefix != "/" and prefix.endswith("/"):
        raise ValueError(f"{what} {prefix!r} must not end with '/'")
    return "" if prefix == "/" else prefix


def _methods(methods: Optional[Sequence[str]]) -> Optional[Tuple[str, ...]]:
    if methods is None:
        return None
    if isinstance(methods, str):
        methods = (methods,)
    checked: List[str] = []
    for method in methods:
        if not isinstance(method, str) or not _TOKEN.match(method):
            raise ValueError(f"HTTP method {method!r} is not a method name")
        if method.upper() not in checked:
            checked.append(method.upper())
    if not checked:
        raise ValueError("methods= is empty: give at least one HTTP method")
    return tuple(checked)


class Endpoint:
    """A declared route: ``path`` -> ``endpoint`` (a function, or a resource class or instance)."""

    __slots__ = ("path", "endpoint", "name", "methods", "guards", "websocket")

    def __init__(
        self,
        path: str,
        endpoint: Any,
        name: Optional[str],
        methods: Optional[Tuple[str, ...]],
        guards: Tuple[Guard, ...],
        websocket: bool,
    ) -> None:
        self.path = path
        self.endpoint = endpoint
        self.name = name
        self.methods = methods
        self.guards = guards
        self.websocket = websocket


class Include:
    """A declared inclusion of a controller's routes."""

    __slots__ = ("routes", "prefix")

    def __init__(self, routes: "Routes", prefix: str) -> None:
        self.routes = routes
        self.prefix = prefix


class Mount:
    """A declared ASGI app under a prefix."""

    __slots__ = ("prefix", "app", "name")

    def __init__(self, prefix: str, app: Any, name: Optional[str]) -> None:
        self.prefix = prefix
        self.app = app
        self.name = name


Declaration = Union[Endpoint, Include, Mount]


class Routes:
    """The routing API of App and Controller (see the module docstring)."""

    _declarations: List[Declaration]
    _tables: List[Tuple["RouteTable", str]]  # the compiled tables this is part of, with its name prefix

    def _init_routes(self) -> None:
        self._declarations = []
        self._tables = []

    @property
    def declarations(self) -> Tuple[Declaration, ...]:
        """What was declared, in order."""
        return tuple(self._declarations)

    @property
    def frozen(self) -> bool:
        """Whether a started app compiled these routes (no more can be declared)."""
        return bool(self._tables)

    def _declare(self, declaration: Declaration) -> None:
        if self._tables:
            raise RuntimeError(
                f"cannot add routes to {self!r}: routes are fixed when the app starts (at its first "
                "lifespan startup or request); declare every route before"
            )
        self._declarations.append(declaration)

    def add(
        self,
        path: str,
        endpoint: Any,
        *,
        name: Optional[str] = None,
        methods: Optional[Sequence[str]] = None,
        guards: Sequence[Guard] = (),
    ) -> None:
        """Route ``path`` to ``endpoint``: a :class:`~pyre.web.Resource` class (made once per
        app) or instance (its verb methods), or a function (``methods``, GET by default)."""
        _check_path(path, "a route path")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"the name of route {path!r} must be a str, not {type(name).__name__}")
        self._declare(Endpoint(path, endpoint, name, _methods(methods), tuple(guards), False))

    def route(
        self,
        path: str,
        *,
        name: Optional[str] = None,
        methods: Optional[Sequence[str]] = None,
        guards: Sequence[Guard] = (),
    ) -> Callable[[E], E]:
        """Decorator form of :meth:`add`, for a resource class or a function."""

        def register(endpoint: E) -> E:
            self.add(path, endpoint, name=name, methods=methods, guards=guards)
            return endpoint

        return register

    def get(self, path: str, *, name: Optional[str] = None, guards: Sequence[Guard] = ()) -> Callable[[E], E]:
        """A function answering GET (and HEAD) at ``path``."""
        return self.route(path, name=name, methods=("GET",), guards=guards)

    def post(self, path: str, *, name: Optional[str] = None, guards: Sequence[Guard] = ()) -> Callable[[E], E]:
        """A function answering POST at ``path``."""
        return self.route(path, name=name, methods=("POST",), guards=guards)

    def put(self, path: str, *, name: Optional[str] = None, guards: Sequence[Guard] = ()) -> Callable[[E], E]:
        """A function answering PUT at ``path``."""
        return self.route(path, name=name, methods=("PUT",), guards=guards)

    def patch(self, path: str, *, name: Optional[str] = None, guards: Sequence[Guard] = ()) -> Callable[[E], E]:
        """A function answering PATCH at ``path``."""
        return self.route(path, name=name, methods=("PATCH",), guards=guards)

    def delete(self, path: str, *, name: Optional[str] = None, guards: Sequence[Guard] = ()) -> Callable[[E], E]:
        """A function answering DELETE at ``path``."""
        return self.route(path, name=name, methods=("DELETE",), guards=guards)

    def websocket(self, path: str, *, name: Optional[str] = None, guards: Sequence[Guard] = ()) -> Callable[[E], E]:
        """A WebSocket endpoint at ``path``: a ``WebSocketResource`` class (made once per app)
        or instance, or a function called with the socket and the path parameters
        (``async def chat(ws: WebSocket, room: str)``)."""
        _check_path(path, "a websocket path")

        def register(endpoint: E) -> E:
            self._declare(Endpoint(path, endpoint, name, None, tuple(guards), True))
            return endpoint

        return register

    def include(self, controller: Any, prefix: str = "") -> None:
        """Include a controller's routes (an instance, or a Controller subclass made now),
        under ``prefix`` + the controller's own prefix."""
        if isinstance(controller, type) and issubclass(controller, Routes):
            controller = controller()
        if not isinstance(controller, Routes):
            raise TypeError(f"include() takes a Controller (or Controller subclass), not {controller!r}")
        if controller is self:
            raise ValueError(f"{self!r} cannot include itself")
        self._declare(Include(controller, check_prefix(prefix, "an include prefix")))

    def mount(self, prefix: str, app: Any, *, name: Optional[str] = None) -> None:
        """Serve ``prefix`` and everything under it with the ASGI ``app`` (a Starlette or Django
        app, static files, another pyre.web App). The mounted app sees ``root_path`` extended
        by the prefix and the full ``path`` (ASGI); its lifespan is not run by this app."""
        prefix = check_prefix(prefix, "a mount prefix")
        if not callable(app):
            raise TypeError(f"mount({prefix!r}) needs an ASGI app, not {app!r}")
        self._declare(Mount(prefix, app, name))

    def url_for(self, name: str, /, **params: Any) -> str:
        """The path of the route named ``name`` (relative to the app's root; a mount takes
        ``path=``). A route's name is its ``name=``, else its function's or resource class's
        name; a named controller prefixes its routes' names: ``"api.Item"``."""
        tables = self._tables
        if not tables:
            raise RuntimeError(f"url_for: {self!r} is not part of a started app yet")
        if len({id(table) for table, _ in tables}) > 1:
            raise RuntimeError(f"url_for: {self!r} is part of several apps; ask the app: app.url_for(...)")
        table, qualifier = tables[0]
        return table.url_for(qualifier + name, params)

    def _compiled_into(self, table: "RouteTable", qualifier: str) -> None:
        self._tables.append((table, qualifier))
