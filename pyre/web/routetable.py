"""The route table: an app's declared routes compiled, once, at startup.

:func:`compile_routes` walks the app's declarations (and its controllers', recursively),
makes each resource class once, builds every endpoint's :class:`~pyre.web.handlers.HandlerPlan`
with the route's guards and listeners resolved into it, and fills the router. Every problem
is refused here with one line naming the route(s) and endpoint(s): a bad pattern, two
routes matching the same paths, two endpoints for one method of one path, a handler
parameter that cannot be bound, a route name given twice.

The router's target for a pattern is a :class:`Target` (the plan per HTTP method, with HEAD
served by GET's plan unless the resource defines ``head``, and the websocket route), or a
:class:`MountTarget` for a mounted ASGI app (``prefix`` and ``prefix/{path:path}``: routes
declared under a mount's prefix take precedence over it, whatever the order).
"""

from __future__ import annotations

import importlib
import typing
from itertools import chain
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import quote

from pyre.web.converters import BUILTIN_CONVERTERS, ConverterSpec, RouteError, resolve_converters
from pyre.web.events import WebSocketListeners, collect_listeners
from pyre.web.callables import callable_name, is_async_callable
from pyre.web.di import Injector, request_binders
from pyre.web.handlers import BindContext, HandlerPlan, ListenerRef, RouteHooks, build_plan
from pyre.web.resources import Resource, resource_methods
from pyre.web.routing import Endpoint, Guard, Include, Mount, Routes, join_path

if TYPE_CHECKING:
    from pyre.web.router import Router
else:  # the compiled twin when built (pyre._accel chooses)
    from pyre._accel import Router

__all__ = ["MountTarget", "RouteTable", "Target", "WebSocketRoute", "compile_routes"]

_ROUTE_EVENTS = ("request", "response", "after_response", "error")
_MOUNT_PATH = "{path:path}"
# What url_for leaves unquoted in a mount's path: RFC 3986 pchar and "/".
_PATH_SAFE = "/!$&'()*+,;=:@%"


class WebSocketRoute:
    """A websocket endpoint: a resource instance or a function's plan, with its guards,
    websocket listeners (None when nobody listens) and error listeners."""

    __slots__ = ("name", "resource", "plan", "guards", "listeners", "error")

    def __init__(
        self,
        name: str,
        resource: Any,
        plan: Optional[HandlerPlan],
        guards: Tuple[ListenerRef, ...],
        listeners: Optional[WebSocketListeners],
        error: Tuple[ListenerRef, ...],
    ) -> None:
        self.name = name
        self.resource = resource
        self.plan = plan
        self.guards = guards
        self.listeners = listeners
        self.error = error


class Target:
    """The router's target for one pattern."""

    __slots__ = ("pattern", "methods", "allow", "websocket", "endpoints")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        #: HTTP method -> plan ("HEAD" shares GET's unless defined).
        self.methods: Dict[str, HandlerPlan] = {}
        #: The ``Allow`` header value (with HEAD and OPTIONS).
        self.allow = ""
        self.websocket: Optional[WebSocketRoute] = None
        #: method (or "websocket") -> the endpoint's name, for messages.
        self.endpoints: Dict[str, str] = {}

    def describe(self) -> str:
        return ", ".join(dict.fromkeys(self.endpoints.values()))

    def __repr__(self) -> str:
        return f"<Target {self.pattern!r} {sorted(self.methods)}>"


class MountTarget:
    """The router's target for a mounted ASGI app (no plans: the app answers everything)."""

    __slots__ = ("prefix", "app", "methods", "websocket")

    def __init__(self, prefix: str, app: Any) -> None:
        self.prefix = prefix
        self.app = app
        self.methods: Dict[str, HandlerPlan] = {}
        self.websocket = None

    def __repr__(self) -> str:
        return f"<MountTarget {self.prefix or '/'} {self.app!r}>"


class RouteTable:
    """The compiled routes of an app."""

    __slots__ = ("router", "owner_listeners", "_names", "_mounts", "_ambiguous")

    def __init__(self, router: Router, owner_listeners: List[Dict[str, List[ListenerRef]]]) -> None:
        self.router = router
        #: The listeners of the controllers and resource instances, in declaration order (for
        #: startup, shutdown and user events): event -> [(callable, is_async)] per owner.
        self.owner_listeners = owner_listeners
        self._names: Dict[str, str] = {}  # route name -> pattern (the router's name for it)
        self._mounts: Dict[str, str] = {}  # mount name -> prefix
        self._ambiguous: Dict[str, List[str]] = {}  # implicit name -> the patterns sharing it

    def url_for(self, name: str, params: Dict[str, Any]) -> str:
        """See :meth:`Routes.url_for`."""
        pattern = self._names.get(name)
        if pattern is not None:
            try:
                return self.router.url_for(pattern, **params)
            except RouteError as exc:
                raise RouteError(str(exc).replace(f"url_for({pattern!r})", f"url_for({name!r})", 1)) from None
        prefix = self._mounts.get(name)
        if prefix is not None:
            path = params.pop("path", "/")
            if params or not isinstance(path, str) or not path.startswith("/"):
                raise RouteError(f"url_for({name!r}): a mount takes only path='/...' (a str starting with '/')")
            return (prefix + quote(path, safe=_PATH_SAFE)) or "/"
        shared = self._ambiguous.get(name)
        if shared is not None:
            raise RouteError(
                f"url_for: the name {name!r} is ambiguous (routes {', '.join(map(repr, shared))}); give them name="
            )
        raise RouteError(f"url_for: no route is named {name!r}")

    def name_routes(self, declared: List[Tuple[str, Optional[str], str, str, bool]]) -> None:
        """Record route names: (name, explicit name or None, pattern, endpoint, is mount)."""
        explicit: Dict[str, Tuple[str, str]] = {}
        implicit: Dict[str, str] = {}
        for name, given, pattern, endpoint, is_mount in declared:
            if given is not None:
                taken = explicit.get(name)
                if taken is not None and (taken[0] != pattern or is_mount):
                    raise RouteError(
                        f"route name {name!r} of {pattern!r} ({endpoint}) is already taken by {taken[0]!r} ({taken[1]})"
                    )
                explicit[name] = (pattern, endpoint)
                if is_mount:
                    self._mounts[name] = pattern
                else:
                    self._names[name] = pattern
            elif implicit.setdefault(name, pattern) != pattern:
                shared = self._ambiguous.setdefault(name, [implicit[name]])
                if pattern not in shared:
                    shared.append(pattern)
        for name, pattern in implicit.items():
            if name not in explicit and name not in self._ambiguous:
                self._names[name] = pattern


def _default_name(endpoint: Any) -> str:
    if isinstance(endpoint, type):
        return endpoint.__name__
    name = getattr(endpoint, "__name__", None)
    return name if isinstance(name, str) else type(endpoint).__name__


def _refs(callables: Any) -> Tuple[ListenerRef, ...]:
    refs = []
    for function in callables:
        if not callable(function):
            raise TypeError(f"a guard must be callable, got {function!r}")
        refs.append((function, is_async_callable(function)))
    return tuple(refs)


class _Compiler:
    """One compilation of an app's routes (see the module docstring)."""

    def __init__(
        self,
        converters: Optional[Mapping[str, ConverterSpec]],
        app_listeners: Dict[str, List[ListenerRef]],
        injector: Optional[Injector] = None,
    ) -> None:
        self.injector = injector
        self.dependencies: Mapping[str, Any] = injector.dependencies if injector is not None else {}
        self.binders = request_binders()
        resolved = resolve_converters(converters)
        self.value_types = {id(converter): _value_type(converter) for converter in resolved.values()}
        user = {name: converter for name, converter in resolved.items() if name not in BUILTIN_CONVERTERS}
        self.router = Router(user)
        self.app_listeners = app_listeners
        self.targets: Dict[str, Any] = {}  # pattern -> Target or MountTarget, in declaration order
        self.instances: Dict[type, Any] = {}  # resource class -> its one instance
        self.owner_listeners: Dict[int, Dict[str, List[ListenerRef]]] = {}  # by id(owner), in order
        self.names: List[Tuple[str, Optional[str], str, str, bool]] = []
        self.tables: List[Tuple[Routes, str]] = []
        self._request_types: Optional[Tuple[type, ...]] = None

    # -- walking the declarations -----------------------------------------------------------

    def walk(self, routes: Routes, prefix: str, controllers: Tuple[Any, ...], qualifier: str) -> None:
        self.tables.append((routes, qualifier))
        for declaration in routes.declarations:
            if isinstance(declaration, Include):
                controller = declaration.routes
                if any(controller is outer for outer in controllers):
                    raise RouteError(f"{controller!r} includes itself (through {' -> '.join(map(repr, controllers))})")
                self._own(controller)
                name = getattr(controller, "name", None)
                self.walk(
                    controller,
                    prefix + declaration.prefix + getattr(controller, "prefix", ""),
                    controllers + (controller,),
                    qualifier + name + "." if name else qualifier,
                )
            elif isinstance(declaration, Mount):
                self.mount(declaration, prefix + declaration.prefix, qualifier)
            elif declaration.websocket:
                self.websocket(declaration, join_path(prefix, declaration.path), controllers, qualifier)
            else:
                self.http(declaration, join_path(prefix, declaration.path), controllers, qualifier)

    def _own(self, owner: Any) -> Dict[str, List[ListenerRef]]:
        listeners = self.owner_listeners.get(id(owner))
        if listeners is None:
            listeners = self.owner_listeners[id(owner)] = collect_listeners(owner)
        return listeners

    def _instance(self, endpoint: Any, base: type, pattern: str) -> Any:
        if not isinstance(endpoint, type):
            return endpoint
        instance = self.instances.get(endpoint)
        if instance is None and self.injector is not None and self.injector.wants(endpoint):
            instance = self.instances[endpoint] = self.injector.construct(endpoint)
        if instance is None:
            try:
                instance = self.instances[endpoint] = endpoint()
            except TypeError as exc:
                raise TypeError(
                    f"cannot make {callable_name(endpoint)} for route {pattern!r}: {exc} (a {base.__name__} "
                    "class is made once per app, without arguments; register an instance to give it some)"
                ) from None
        return instance

    def _target(self, pattern: str, endpoint: str) -> Target:
        target = self.targets.get(pattern)
        if target is None:
            target = self.targets[pattern] = Target(pattern)
        elif isinstance(target, MountTarget):
            raise RouteError(f"route {pattern!r} ({endpoint}) conflicts with the app mounted at {pattern!r}")
        assert isinstance(target, Target)
        return target

    def _context(
        self,
        name: str,
        pattern: str,
        connection_types: Tuple[type, ...],
        names: Tuple[str, ...],
        owners: Sequence[Any] = (),
    ) -> BindContext:
        try:
            parameters = self.router.parameters(pattern)
        except RouteError as exc:
            raise RouteError(f"{exc} (endpoint {name})") from None
        types = {param: self.value_types.get(id(converter), Any) for param, converter in parameters.items()}
        dependencies = dict(self.dependencies)
        for owner in owners:  # the controllers from the outermost, then the resource
            dependencies.update(getattr(owner, "dependencies", None) or {})
        return BindContext(name, pattern, types, connection_types, names, dependencies)

    def _hooks(self, owners: List[Dict[str, List[ListenerRef]]], guards: Tuple[ListenerRef, ...]) -> Optional[RouteHooks]:
        events = [
            tuple(chain(self.app_listeners.get(event, ()), *(owner.get(event, ()) for owner in owners)))
            for event in _ROUTE_EVENTS
        ]
        hooks = RouteHooks(guards, *events)
        return hooks if hooks else None

    # -- declarations ----------------------------------------------------------------------

    def _resource(self, declaration: Endpoint, base: type, pattern: str) -> Any:
        """The one instance of a ``base`` resource the declaration names, or None for a function."""
        endpoint = declaration.endpoint
        if isinstance(endpoint, base) or (isinstance(endpoint, type) and issubclass(endpoint, base)):
            return self._instance(endpoint, base, pattern)
        if isinstance(endpoint, type) or not callable(endpoint):
            kind = "websocket route" if declaration.websocket else "route"
            raise TypeError(f"{kind} {pattern!r}: {endpoint!r} is neither a {base.__name__} (class or instance) nor a function")
        return None

    def _layers(
        self, declaration: Endpoint, controllers: Tuple[Any, ...], resource: Any
    ) -> Tuple[List[Dict[str, List[ListenerRef]]], Tuple[ListenerRef, ...]]:
        """The listeners of the route's owners (controllers from the outermost, the resource)
        and its guards in the order they run (the controllers', the route's, the resource's)."""
        owners = [self._own(controller) for controller in controllers]
        guards: List[Guard] = [guard for controller in controllers for guard in getattr(controller, "guards", ())]
        guards.extend(declaration.guards)
        if resource is not None:
            owners.append(self._own(resource))
            guards.extend(getattr(resource, "guards", ()))
        return owners, _refs(guards)

    def http(self, declaration: Endpoint, pattern: str, controllers: Tuple[Any, ...], qualifier: str) -> None:
        resource = self._resource(declaration, Resource, pattern)
        if resource is not None:
            if declaration.methods is not None:
                raise TypeError(
                    f"route {pattern!r}: methods= is for functions; resource {callable_name(type(resource))} "
                    "answers the verbs it defines"
                )
            methods = resource_methods(resource)
            if not methods:
                raise TypeError(
                    f"resource {callable_name(type(resource))} (route {pattern!r}) defines no HTTP method "
                    "(get, post, put, patch, delete, head, options)"
                )
            endpoint_name = callable_name(type(resource))
        else:
            methods = {method: declaration.endpoint for method in (declaration.methods or ("GET",))}
            endpoint_name = callable_name(declaration.endpoint)
        owners, guards = self._layers(declaration, controllers, resource)
        hooks = self._hooks(owners, guards)
        target = self._target(pattern, endpoint_name)
        for method, function in methods.items():
            other = target.endpoints.get(method)
            if other is not None:
                raise RouteError(f"route {pattern!r}: {method} is answered by both {other} and {endpoint_name}")
            name = callable_name(function)
            route_owners = (*controllers, resource) if resource is not None else controllers
            context = self._context(name, pattern, self.request_types(), ("request",), route_owners)
            plan = build_plan(function, context, self.binders)
            plan.hooks = hooks
            plan.owners = route_owners
            target.methods[method] = plan
            target.endpoints[method] = endpoint_name
        self._name(declaration, qualifier, resource, pattern, endpoint_name)

    def websocket(self, declaration: Endpoint, pattern: str, controllers: Tuple[Any, ...], qualifier: str) -> None:
        module = importlib.import_module("pyre.web.websocket")
        resource = self._resource(declaration, module.WebSocketResource, pattern)
        endpoint_name = callable_name(declaration.endpoint if resource is None else type(resource))
        context = self._context(endpoint_name, pattern, (module.WebSocket,), ("ws", "websocket"), controllers)
        plan = None if resource is not None else build_plan(declaration.endpoint, context, self.binders)
        owners, guards = self._layers(declaration, controllers, resource)
        target = self._target(pattern, endpoint_name)
        if target.websocket is not None:
            raise RouteError(
                f"websocket route {pattern!r} is answered by both {target.endpoints['websocket']} and {endpoint_name}"
            )
        merged: Dict[str, List[ListenerRef]] = {}
        for listeners in [self.app_listeners, *owners]:
            for event, refs in listeners.items():
                merged.setdefault(event, []).extend(refs)
        target.websocket = WebSocketRoute(
            endpoint_name, resource, plan, guards, WebSocketListeners.build(merged), tuple(merged.get("error", ()))
        )
        target.endpoints["websocket"] = endpoint_name
        self._name(declaration, qualifier, resource, pattern, endpoint_name)

    def _name(self, declaration: Endpoint, qualifier: str, resource: Any, pattern: str, endpoint_name: str) -> None:
        name = declaration.name or _default_name(declaration.endpoint if resource is None else type(resource))
        self.names.append((qualifier + name, declaration.name, pattern, endpoint_name, False))

    def mount(self, declaration: Mount, prefix: str, qualifier: str) -> None:
        target = MountTarget(prefix, declaration.app)
        app_name = callable_name(declaration.app)
        for pattern in ([prefix] if prefix else []) + [prefix + "/" + _MOUNT_PATH]:
            if pattern in self.targets:
                raise RouteError(f"the app mounted at {prefix or '/'!r} ({app_name}) conflicts with route {pattern!r}")
            self.targets[pattern] = target
        if declaration.name is not None:
            self.names.append((qualifier + declaration.name, declaration.name, prefix, app_name, True))

    def request_types(self) -> Tuple[type, ...]:
        """The Request classes a parameter may be annotated with: both twins."""
        if self._request_types is None:
            from pyre._accel import Request
            from pyre.web.request import Request as PureRequest

            self._request_types = (Request,) if Request is PureRequest else (Request, PureRequest)
        return self._request_types

    # -- the router ------------------------------------------------------------------------

    def fill_router(self) -> None:
        added: Dict[str, str] = {}  # pattern -> endpoints, for conflict messages
        for pattern, target in self.targets.items():
            if isinstance(target, Target):
                methods = target.methods
                if "GET" in methods and "HEAD" not in methods:
                    methods["HEAD"] = methods["GET"]
                if methods:
                    target.allow = ", ".join(sorted(set(methods) | {"OPTIONS"}))
                described = target.describe()
            else:
                described = f"app mounted at {target.prefix or '/'!r}"
            try:
                self.router.add(pattern, target, pattern)
            except RouteError as exc:
                other = exc.conflicts_with
                if other is not None:
                    raise RouteError(
                        f"route {pattern!r} ({described}) conflicts with route {other!r} ({added[other]}): "
                        "they match the same paths"
                    ) from None
                raise RouteError(f"{exc} ({described})") from None
            added[pattern] = described


def _value_type(converter: Any) -> Any:
    """The type a converter's ``convert`` gives (its return annotation), or Any."""
    try:
        return typing.get_type_hints(converter.convert).get("return", Any)
    except Exception:  # noqa: BLE001 - an unresolvable annotation: no check
        return Any


def compile_routes(
    app: Routes,
    *,
    converters: Optional[Mapping[str, ConverterSpec]],
    app_listeners: Dict[str, List[ListenerRef]],
    injector: Optional[Injector] = None,
) -> RouteTable:
    """Compile ``app``'s routes (see the module docstring); ``injector``: the app's
    dependencies (providers by name, and the makers of resources taking dependencies)."""
    compiler = _Compiler(converters, app_listeners, injector)
    compiler.walk(app, "", (), "")
    compiler.fill_router()
    table = RouteTable(compiler.router, list(compiler.owner_listeners.values()))
    table.name_routes(compiler.names)
    for routes, qualifier in compiler.tables:
        routes._compiled_into(table, qualifier)
    return table

