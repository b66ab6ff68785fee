"""Handler plans: how each endpoint is called, decided once at startup.

When the app starts (:meth:`App.freeze`), every endpoint (a function, or a verb method of
a :class:`~pyre.web.Resource` bound to its one instance) is inspected once into a
:class:`HandlerPlan`: the callable, whether it is a coroutine function (a plain function
runs in the default thread pool, ``asyncio.to_thread``, so it cannot stall the event loop),
and one :class:`Extractor` per parameter. Calling a handler is ``plan.call(connection)``
(``connection`` is the :class:`~pyre.web.Request`, or the WebSocket of a websocket route):
no ``inspect`` at request time, no dict built beyond the keyword arguments the handler takes.
The common shapes call the endpoint directly: ``async def get(self, request)`` is called as
``endpoint(request)``, ``async def get(self, request, item_id)`` as
``endpoint(request, **request.path_params)``.

The extractor seam (where typed inputs plug in)
-----------------------------------------------
Each parameter of a handler is offered, in order, to the *binders* of
:data:`DEFAULT_BINDERS`. A binder is a function ``(parameter, context) -> Extractor | None``:

- ``parameter`` is the :class:`inspect.Parameter` with its annotation resolved
  (``typing.get_type_hints(..., include_extras=True)``, so ``Annotated[int, Query(ge=1)]``
  arrives whole; an annotation that cannot be resolved stays a string);
- ``context`` is a :class:`BindContext`: the handler's name, the route pattern, the route's
  path parameters with the type each converter gives, and the connection kind;
- it returns an :class:`Extractor` when it takes the parameter, ``None`` to pass it on, or
  raises :class:`SignatureError` (one line naming the handler and the parameter) when the
  parameter is its kind but wrong (an annotation contradicting the route's converter).

An extractor has ``is_async`` (whether ``extract`` returns an awaitable, for a body read)
and ``extract(connection)``, which produces the argument from the lazy request: read only
what the parameter needs, so an undeclared header is never decoded. A parameter no binder
takes is refused at startup. This module's binders take the connection (a parameter named
``request``, or annotated with the connection's class: ``Request``/``WebSocket``), path
parameters by name, and a parameter annotated ``BackgroundTasks`` (a new one per request,
run after the response); query, header, cookie, body, form, file and dependency binders are
added to :data:`DEFAULT_BINDERS` the same way, and the plan's call adapts: an extractor
with ``is_async`` makes the plan await it before calling the handler. A parameter with a
default that no binder takes keeps its default (so ``functools.partial`` endpoints work).

Typed inputs and dependencies (issue 16) use the same seam, with three optional attributes
on an extractor: ``validates`` (its ``extract`` may raise
:class:`~pyre.web.validation.Invalid`), ``loc`` (where: ``["query", "limit"]``) and
``scoped`` (``extract(connection, scope)`` takes the call's :class:`CallScope`, for
dependencies). A plan with such an extractor, or with a typed return annotation, gets the
*checked call*: every extractor runs, the failures are gathered into one 422, dependency
teardowns run after the response, and the return value is encoded by its annotation. The
plain shapes above are untouched: a handler without typed inputs costs what it did.
:func:`pyre.web.di.request_binders` is what an app offers a parameter: these binders, then
the dependency binders, then the typed-input binders of :mod:`pyre.web.binding`.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import inspect
import logging
import typing
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple

from pyre.web.background import BackgroundTasks
from pyre.web.callables import is_async_callable
from pyre.web.params import Param, find_marker
from pyre.web.responses import Response, to_response
from pyre.web.validation import Invalid, RequestValidationError, errors_of, response_encoder

__all__ = [
    "DEFAULT_BINDERS",
    "BindContext",
    "Binder",
    "CallScope",
    "Extractor",
    "HandlerPlan",
    "RouteHooks",
    "SignatureError",
    "bind_connection",
    "bind_path_parameter",
    "bind_background_tasks",
    "bind_signature",
    "build_plan",
]

_EMPTY = inspect.Parameter.empty
logger = logging.getLogger("pyre.error")


class SignatureError(TypeError):
    """A handler signature the plan cannot serve (one line naming the handler and the parameter)."""


# -- extractors ----------------------------------------------------------------------------------


class Extractor(Protocol):
    """Produces one argument of a handler for each request (see the module docstring)."""

    is_async: bool

    def extract(self, connection: Any) -> Any:
        """The argument (an awaitable of it when ``is_async``)."""


class _Connection:
    """The request (or WebSocket) itself."""

    __slots__ = ()
    is_async: bool = False

    def extract(self, connection: Any) -> Any:
        return connection


class _PathParameter:
    """One converted path parameter, by name."""

    __slots__ = ("name",)
    is_async: bool = False

    def __init__(self, name: str) -> None:
        self.name = name

    def extract(self, connection: Any) -> Any:
        return connection.path_params[self.name]


class _OtherPathParameters:
    """The path parameters no other parameter took, for a handler's ``**kwargs``."""

    __slots__ = ("taken",)
    is_async: bool = False

    def __init__(self, taken: frozenset[str]) -> None:
        self.taken = taken

    def extract(self, connection: Any) -> Dict[str, Any]:
        taken = self.taken
        return {name: value for name, value in connection.path_params.items() if name not in taken}


class _BackgroundTasksParameter:
    """A ``BackgroundTasks`` made for the request: the plan passes the same one to every such
    parameter and attaches it to the handler's response (see :func:`bind_background_tasks`)."""

    __slots__ = ()
    is_async: bool = False

    def extract(self, connection: Any) -> BackgroundTasks:
        return BackgroundTasks()  # the plan's call makes it itself; this serves a direct use


_CONNECTION = _Connection()
_BACKGROUND = _BackgroundTasksParameter()


# -- binders -------------------------------------------------------------------------------------


class BindContext:
    """What a binder knows about the handler it binds (see the module docstring)."""

    __slots__ = ("handler", "pattern", "path_params", "connection_types", "connection_names", "dependencies", "binders")

    def __init__(
        self,
        handler: str,
        pattern: str,
        path_params: Mapping[str, Any],
        connection_types: Tuple[type, ...],
        connection_names: Tuple[str, ...],
        dependencies: Optional[Mapping[str, Any]] = None,
    ) -> None:
        self.handler = handler
        #: The route pattern, as the app registered it (with every prefix).
        self.pattern = pattern
        #: Path parameter name -> the type its converter gives (``Any`` when unknown).
        self.path_params = path_params
        #: The classes a connection parameter may be annotated with (``Request``, ...).
        self.connection_types = connection_types
        #: The names that take the connection without an annotation (``request``; ``ws``).
        self.connection_names = connection_names
        #: Providers by parameter name (the app's, its controllers', the resource's).
        self.dependencies: Mapping[str, Any] = dependencies if dependencies is not None else {}
        #: The binders the plan is built with (set by :func:`build_plan`; providers use them too).
        self.binders: Optional[Sequence["Binder"]] = None

    def refuse(self, parameter: str, reason: str) -> SignatureError:
        """The one-line error for ``parameter`` of this handler."""
        return SignatureError(f"handler {self.handler} (route {self.pattern!r}): parameter {parameter!r} {reason}")


Binder = Callable[[inspect.Parameter, BindContext], Optional[Extractor]]


def _strip(annotation: Any) -> Any:
    """``Annotated[X, ...]`` -> ``X``."""
    if typing.get_origin(annotation) is typing.Annotated:
        return typing.get_args(annotation)[0]
    return annotation


def _members(annotation: Any) -> Tuple[Any, ...]:
    """The alternatives of a union (``Optional[X]``, ``X | None``), else the annotation alone."""
    annotation = _strip(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Union or (origin is not None and getattr(origin, "__name__", "") == "UnionType"):
        return tuple(_strip(member) for member in typing.get_args(annotation) if member is not type(None))
    return (annotation,)


def bind_connection(parameter: inspect.Parameter, context: BindContext) -> Optional[Extractor]:
    """Takes the parameter annotated with the connection's class (``request: Request``), or
    named ``request`` (``ws``/``websocket`` on a websocket route) without an annotation."""
    annotation = parameter.annotation
    if annotation is _EMPTY or annotation is Any:
        return _CONNECTION if parameter.name in context.connection_names else None
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, context.connection_types):
            return _CONNECTION
        if isinstance(member, str) and member.rpartition(".")[2] in {kind.__name__ for kind in context.connection_types}:
            return _CONNECTION  # a string annotation typing could not resolve
    return None


def _accepts(annotation: Any, value_type: Any) -> bool:
    """Whether a parameter annotated ``annotation`` can take a ``value_type`` (unknown: yes)."""
    if annotation is _EMPTY or value_type is Any or not isinstance(value_type, type):
        return True
    for member in _members(annotation):
        if member is Any or member is object or not isinstance(member, type):
            return True  # a string, a TypeVar, a generic alias: nothing to compare
        if issubclass(value_type, member) or (member is float and value_type is int):
            return True
    return False


def _type_name(value: Any) -> str:
    if isinstance(value, type):
        return value.__name__ if value.__module__ == "builtins" else f"{value.__module__}.{value.__qualname__}"
    return str(value).replace("typing.", "")


def bind_path_parameter(parameter: inspect.Parameter, context: BindContext) -> Optional[Extractor]:
    """Takes a parameter named like one of the route's path parameters; its annotation
    must accept what the converter gives (``item_id: int`` with ``{item_id:int}``)."""
    if parameter.name not in context.path_params or _marked(parameter):
        return None
    value_type = context.path_params[parameter.name]
    if not _accepts(parameter.annotation, value_type):
        raise context.refuse(
            parameter.name,
            f"is annotated {_type_name(parameter.annotation)} but the route's converter gives "
            f"{_type_name(value_type)}; change the annotation or the converter ({{{parameter.name}:...}})",
        )
    return _PathParameter(parameter.name)


def _marked(parameter: inspect.Parameter) -> bool:
    """Whether the parameter has a marker (``Annotated[int, Path(ge=1)]``): its binder takes it."""
    return find_marker(parameter.annotation, parameter.default, Param) is not None


def bind_background_tasks(parameter: inspect.Parameter, context: BindContext) -> Optional[Extractor]:
    """Takes a parameter annotated ``BackgroundTasks``: a new one per request, whose tasks run
    after the response's last byte (after the response's own background tasks)."""
    for member in _members(parameter.annotation):
        if isinstance(member, type) and issubclass(member, BackgroundTasks):
            return _BACKGROUND
    return None


#: The binders every parameter is offered to, in order. An app's plans add, after these, the
#: dependency binders (:mod:`pyre.web.di`) and the typed-input binders (:mod:`pyre.web.binding`):
#: see :func:`pyre.web.di.request_binders`.
DEFAULT_BINDERS: Tuple[Binder, ...] = (bind_connection, bind_path_parameter, bind_background_tasks)


# -- plans ---------------------------------------------------------------------------------------

ListenerRef = Tuple[Callable[..., Any], bool]  # (callable, whether it returns an awaitable)


class RouteHooks:
    """What runs around one route's handler, resolved at startup (app, then controllers
    from the outermost, then the resource): guards, then ``request`` listeners, the handler,
    ``response`` listeners, the response, ``after_response`` listeners; ``error`` listeners
    when an exception reaches the error handlers. Each is a tuple of (callable, is_async).
    A route with none of them has no RouteHooks at all (``plan.hooks is None``)."""

    __slots__ = ("guards", "request", "response", "after_response", "error")

    def __init__(
        self,
        guards: Tuple[ListenerRef, ...] = (),
        request: Tuple[ListenerRef, ...] = (),
        response: Tuple[ListenerRef, ...] = (),
        after_response: Tuple[ListenerRef, ...] = (),
        error: Tuple[ListenerRef, ...] = (),
    ) -> None:
        self.guards = guards
        self.request = request
        self.response = response
        self.after_response = after_response
        self.error = error

    def __bool__(self) -> bool:
        return bool(self.guards or self.request or self.response or self.after_response or self.error)

    def __repr__(self) -> str:
        counts = ", ".join(f"{name}={len(getattr(self, name))}" for name in self.__slots__ if getattr(self, name))
        return f"RouteHooks({counts})"


class HandlerPlan:
    """How one endpoint is called: ``await plan.call(connection)`` gives its return value.

    ``endpoint`` is the callable (a bound method for a resource), ``name`` its dotted name,
    ``is_async`` whether it is a coroutine function, ``parameters`` the (name, extractor) pairs
    in signature order, ``hooks`` the route's :class:`RouteHooks` or None (set by the app).
    """

    __slots__ = ("endpoint", "name", "is_async", "parameters", "call", "hooks", "owners", "returns")

    call: Callable[[Any], Awaitable[Any]]
    hooks: Optional[RouteHooks]
    #: The controllers (outermost first) and the resource the route belongs to (set by the app).
    owners: Tuple[Any, ...]
    #: The handler's return annotation (``inspect.Parameter.empty`` when it has none).
    returns: Any

    def __init__(
        self,
        endpoint: Callable[..., Any],
        name: str,
        is_async: bool,
        parameters: Tuple[Tuple[str, Extractor], ...],
        call: Callable[[Any], Awaitable[Any]],
    ) -> None:
        self.endpoint = endpoint
        self.name = name
        self.is_async = is_async
        self.parameters = parameters
        self.call = call
        self.hooks = None
        self.owners = ()
        self.returns = _EMPTY

    def __repr__(self) -> str:
        return f"<HandlerPlan {self.name}({', '.join(name for name, _ in self.parameters)})>"


def _type_hints(endpoint: Any) -> Dict[str, Any]:
    target = endpoint
    while isinstance(target, functools.partial):
        target = target.func
    if inspect.isclass(target):
        target = target.__init__  # a class as a provider: its constructor's parameters
    elif not (inspect.isfunction(target) or inspect.ismethod(target)):
        target = getattr(target, "__call__", target)
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:  # noqa: BLE001 - a forward reference typing cannot resolve: keep the strings
        return {}


def bind_signature(
    endpoint: Callable[..., Any],
    context: BindContext,
    binders: Sequence[Binder],
) -> Tuple[List[Tuple[str, Extractor, Any]], bool, Dict[str, Any]]:
    """Offer each parameter of ``endpoint`` to ``binders`` (see :func:`build_plan`): the
    (name, extractor, kind) triples, whether it takes ``**kwargs``, and its type hints."""
    if not callable(endpoint):
        raise SignatureError(f"handler {context.handler} (route {context.pattern!r}) is not callable")
    try:
        signature = inspect.signature(endpoint)
    except (TypeError, ValueError) as exc:
        raise SignatureError(f"handler {context.handler} (route {context.pattern!r}): cannot read its signature ({exc})") from None
    hints = _type_hints(endpoint)
    bound: List[Tuple[str, Extractor, Any]] = []  # (name, extractor, parameter kind)
    var_keyword = False
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            raise context.refuse(parameter.name, "is *args: a handler's parameters are bound by name")
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            var_keyword = True
            continue
        resolved = parameter.replace(annotation=hints.get(parameter.name, parameter.annotation))
        extractor: Optional[Extractor] = None
        for binder in binders:
            extractor = binder(resolved, context)
            if extractor is not None:
                break
        if extractor is None:
            if parameter.default is not _EMPTY:
                continue  # left to its default (a functools.partial's arguments, too)
            params = ", ".join(context.path_params) or "none"
            raise context.refuse(
                parameter.name,
                f"is neither the {context.connection_names[0]} nor a path parameter (the route's: {params})",
            )
        bound.append((parameter.name, extractor, parameter.kind))
    return bound, var_keyword, hints


def build_plan(
    endpoint: Callable[..., Any],
    context: BindContext,
    binders: Optional[Sequence[Binder]] = None,
) -> HandlerPlan:
    """Inspect ``endpoint`` once into its plan, offering each parameter to ``binders``
    (:data:`DEFAULT_BINDERS` by default). A parameter no binder takes keeps its default
    value; without one it is refused (:class:`SignatureError`), as are ``*args``, a
    parameter a binder refuses, and an unreadable signature. A return annotation naming an
    object type (a msgspec Struct, dataclass, TypedDict, pydantic model, or a list of
    them) encodes the return value with msgspec (or pydantic) into a JSON response."""
    if binders is None:
        binders = DEFAULT_BINDERS
    if context.binders is None:
        context.binders = binders
    bound, var_keyword, hints = bind_signature(endpoint, context, binders)
    extra: Optional[_OtherPathParameters] = None
    if var_keyword:
        extra = _OtherPathParameters(frozenset(name for name, _, _ in bound))
    is_async = is_async_callable(endpoint)
    encode = response_encoder(hints.get("return", _EMPTY))
    call = _make_call(endpoint, is_async, bound, extra, context, encode)
    plan = HandlerPlan(endpoint, context.handler, is_async, tuple((name, e) for name, e, _ in bound), call)
    plan.returns = hints.get("return", _EMPTY)
    return plan


def _make_call(
    endpoint: Callable[..., Any],
    is_async: bool,
    bound: List[Tuple[str, Extractor, Any]],
    extra: Optional[_OtherPathParameters],
    context: BindContext,
    encode: Optional[Callable[[Any], Any]] = None,
) -> Callable[[Any], Awaitable[Any]]:
    """The fastest call for the handler's shape (see the module docstring)."""
    positional_only = inspect.Parameter.POSITIONAL_ONLY
    checked = any(getattr(extractor, "validates", False) for _, extractor, _ in bound)
    if checked or encode is not None:
        return _checked_call(endpoint, is_async, bound, extra, encode, _answers_http(context))
    if is_async and extra is None:
        kinds = [extractor for _, extractor, _ in bound]
        path_names = [name for name, extractor, _ in bound if type(extractor) is _PathParameter]
        all_params = sorted(path_names) == sorted(context.path_params)
        by_name = all(kind is not positional_only for _, _, kind in bound[1:])
        first_positional = bool(bound) and bound[0][2] is not inspect.Parameter.KEYWORD_ONLY
        if not kinds:
            return lambda connection: endpoint()
        if kinds == [_CONNECTION] and first_positional:
            return endpoint  # the endpoint itself: endpoint(request)
        if all_params and by_name and first_positional and kinds[0] is _CONNECTION and len(path_names) == len(kinds) - 1:
            return lambda connection: endpoint(connection, **connection.path_params)
        if all_params and by_name and bound[0][2] is not positional_only and len(path_names) == len(kinds):
            return lambda connection: endpoint(**connection.path_params)
    positional = tuple(extractor for _, extractor, kind in bound if kind is positional_only)
    keyword = tuple((name, extractor) for name, extractor, kind in bound if kind is not positional_only)
    if any(extractor.is_async or extractor is _BACKGROUND for _, extractor, _ in bound):
        return _checked_call(endpoint, is_async, bound, extra, None, _answers_http(context))

    def arguments(connection: Any) -> Tuple[List[Any], Dict[str, Any]]:
        args = [extractor.extract(connection) for extractor in positional]
        kwargs = {name: extractor.extract(connection) for name, extractor in keyword}
        if extra is not None:
            kwargs.update(extra.extract(connection))
        return args, kwargs

    if is_async:

        def call(connection: Any) -> Awaitable[Any]:
            args, kwargs = arguments(connection)
            result: Awaitable[Any] = endpoint(*args, **kwargs)
            return result

    else:

        def call(connection: Any) -> Awaitable[Any]:
            args, kwargs = arguments(connection)
            return asyncio.to_thread(endpoint, *args, **kwargs)

    return call


class CallScope:
    """What the extractors of one call share: ``cache`` (a request-scoped dependency's
    value, by provider), ``container`` (the app's :class:`~pyre.web.di.Injector`, for
    app-scoped values and overrides) and ``exits``: teardowns run by :meth:`close` in
    reverse order (the last set up is the first torn down)."""

    __slots__ = ("cache", "container", "exits")

    def __init__(self, container: Any) -> None:
        self.cache: Dict[Any, Any] = {}
        self.container = container
        self.exits: List[Callable[[Optional[BaseException]], Awaitable[None]]] = []

    async def close(self, exc: Optional[BaseException] = None) -> None:
        """Run the teardowns, last first; a teardown's own error is logged, and the rest still run."""
        exits, self.exits = self.exits, []
        for teardown in reversed(exits):
            try:
                await teardown(exc)
            except Exception as failure:  # noqa: BLE001 - logged, the others still run
                logger.error("Dependency teardown failed", exc_info=failure)


def _answers_http(context: BindContext) -> bool:
    """Whether the handler's value becomes a response (an HTTP route), or not (a websocket
    function, whose dependencies are torn down when it returns)."""
    return "request" in context.connection_names


def _checked_call(
    endpoint: Callable[..., Any],
    is_async: bool,
    bound: List[Tuple[str, Extractor, Any]],
    extra: Optional[_OtherPathParameters],
    encode: Optional[Callable[[Any], Any]],
    http: bool = True,
) -> Callable[[Any], Awaitable[Any]]:
    """The call of a plan with extractors that validate (typed inputs, dependencies), read
    the body or otherwise await, or with a ``BackgroundTasks`` parameter: every
    extractor runs, the failures are gathered into one 422
    (:class:`~pyre.web.validation.RequestValidationError`); dependency teardowns run after
    the response (as its last background task), or at once, with the error, when the
    handler fails. ``encode`` turns a typed return value into its response."""
    positional_only = inspect.Parameter.POSITIONAL_ONLY
    # (positional?, name, extractor, how): how 0 plain, 1 awaited, 2 scoped, 3 background tasks
    steps = tuple(
        (
            kind is positional_only,
            name,
            extractor,
            3 if extractor is _BACKGROUND else 2 if getattr(extractor, "scoped", False) else 1 if extractor.is_async else 0,
            getattr(extractor, "loc", []),
        )
        for name, extractor, kind in bound
    )
    scoped = any(step[3] == 2 for step in steps)
    background = any(step[3] == 3 for step in steps)

    async def call(connection: Any) -> Any:
        tasks = BackgroundTasks() if background else None
        scope = CallScope(getattr(connection.app, "injector", None)) if scoped else None
        args: List[Any] = []
        kwargs: Dict[str, Any] = {}
        errors: Optional[List[Dict[str, Any]]] = None
        try:
            for positional, name, extractor, how, loc in steps:
                try:
                    if how == 0:
                        value = extractor.extract(connection)
                    elif how == 1:
                        value = await extractor.extract(connection)
                    elif how == 2:
                        value = await extractor.extract(connection, scope)  # type: ignore[call-arg]
                    else:
                        value = tasks
                except Invalid as exc:
                    if errors is None:
                        errors = []
                    errors.extend(errors_of(exc, loc))
                    continue
                except RequestValidationError as exc:  # a dependency's own inputs
                    if errors is None:
                        errors = []
                    errors.extend(exc.errors)
                    continue
                if positional:
                    args.append(value)
                else:
                    kwargs[name] = value
            if errors is not None:
                raise RequestValidationError(errors)
            if extra is not None:
                kwargs.update(extra.extract(connection))
            if is_async:
                result = await endpoint(*args, **kwargs)
            else:
                result = await asyncio.to_thread(endpoint, *args, **kwargs)
            if encode is not None:
                result = encode(result)
        except BaseException as exc:
            if scope is not None:
                await scope.close(exc)
            raise
        if scope is not None and scope.exits:
            if not http:
                await scope.close()
                return result
            if tasks is None:
                tasks = BackgroundTasks()
            tasks.add(scope.close)
        if tasks is not None and len(tasks):
            return _with_background(result, tasks)
        return result

    return call


def _with_background(result: Any, tasks: BackgroundTasks) -> Response:
    """The handler's response carrying ``tasks`` after its own background tasks. A copy: the
    handler may return a response object it shares between requests."""
    response = copy.copy(to_response(result))
    own = response.background
    if own is None:
        response.background = tasks
    else:
        combined = BackgroundTasks()
        combined.add(own)
        combined.add(tasks)
        response.background = combined
    return response
