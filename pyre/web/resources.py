"""Resources and controllers: the object-oriented units of a ``pyre.web`` app.

A :class:`Resource` is a class whose methods are HTTP verbs::

    @app.route("/items/{item_id:int}")
    class Item(Resource):
        async def get(self, request: Request, item_id: int) -> dict: ...
        async def delete(self, request: Request, item_id: int) -> None: ...

**One instance per app**: the app makes each resource class once, at startup, without
arguments (or takes the instance you registered: ``app.add("/items", Items(db))``), and
every request to it calls a method of that instance, concurrently. Keep per-request data in
locals or ``request.state``, never in ``self``; shared things (a pool, a cache) belong in
``self`` or the app's state. HEAD is answered by ``get`` (the server drops the body) and
OPTIONS with 204 and ``Allow`` unless the resource defines ``head``/``options``; another
method gets 405 with ``Allow``.

A :class:`Controller` groups routes under a path prefix, with guards and listener methods
that apply to every route it holds (its resources', its functions', its sub-controllers')::

    class Admin(Controller):
        prefix = "/admin"
        guards = [require_admin]

        async def on_request(self, request): ...   # before every admin handler

    admin = Admin()              # or Controller("/admin", guards=[require_admin], name="admin")
    admin.add("/users", Users)
    app.include(admin)

Guards are callables ``guard(request)`` (coroutine functions or plain ones) that return
None to let a request through, or raise :class:`~pyre.web.HTTPError` (401, 403) to refuse
it. For a route they run in this order: the controllers' (outermost first), the route's own
(``guards=`` of ``add``/``route``/``get``...), the resource's; then the ``request`` listeners.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Dict, Optional, Sequence, Tuple

from pyre.web.events import EventHooks
from pyre.web.routing import Guard, Routes, check_prefix

__all__ = ["VERBS", "Controller", "Resource", "resource_methods"]

#: The method names a resource may define, one per HTTP method.
VERBS: Tuple[str, ...] = ("get", "post", "put", "patch", "delete", "head", "options")


class Resource(EventHooks):
    """A class whose methods named after HTTP verbs answer requests (see the module
    docstring). ``guards`` run before each of its methods; its ``on_*`` listener methods
    apply to its requests (``on_request``, ``on_response``, ...) or to the app's lifetime
    (``on_startup``, ``on_shutdown``)."""

    guards: ClassVar[Sequence[Guard]] = ()

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} resource>"


def resource_methods(resource: Any) -> Dict[str, Callable[..., Any]]:
    """HTTP method -> the bound verb method, for each verb ``resource`` defines."""
    return {
        verb.upper(): getattr(resource, verb)
        for verb in VERBS
        if callable(getattr(resource, verb, None))
    }


class Controller(Routes, EventHooks):
    """Routes under a common ``prefix``, with ``guards`` and listener methods for all of them
    (see the module docstring). Give ``prefix``, ``guards`` and ``name`` to the constructor or
    as class attributes of a subclass. ``name`` prefixes the names of its routes for
    ``url_for``: ``"admin.Users"``."""

    prefix: str = ""
    guards: Sequence[Guard] = ()
    name: Optional[str] = None

    def __init__(
        self,
        prefix: Optional[str] = None,
        *,
        guards: Optional[Sequence[Guard]] = None,
        name: Optional[str] = None,
    ) -> None:
        self._init_routes()
        self.prefix = check_prefix(self.prefix if prefix is None else prefix, "a controller prefix")
        self.guards = tuple(self.guards if guards is None else guards)
        for guard in self.guards:
            if not callable(guard):
                raise TypeError(f"a guard must be callable, got {guard!r}")
        if name is not None:
            self.name = name
        if self.name is not None and (not isinstance(self.name, str) or not self.name):
            raise ValueError(f"a controller name is a non-empty str, got {self.name!r}")

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} {self.prefix or '/'}>"
