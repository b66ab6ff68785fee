"""Dependency injection: providers declared once, resolved by a graph built at startup.

A *provider* is a function (sync or ``async``), a generator function (sync or async: the
code after its ``yield`` is the teardown) or a class. A handler (or another provider)
asks for one by a marker or by name::

    async def get_db() -> AsyncIterator[DB]:
        db = await connect()
        try:
            yield db
        finally:
            await db.close()

    @app.get("/items")
    async def items(db: Annotated[DB, Depends(get_db)]) -> list[Item]: ...   # or db: DB = Depends(get_db)

    app = App(dependencies={"settings": Provide(load_settings, scope="app")})
    async def index(settings: Settings) -> dict: ...                           # by name

- **Scopes**: ``"request"`` (the default): made once per request (shared by every parameter
  and provider of that request asking for it); ``"app"``: made once per app on first use,
  torn down at the app's shutdown.
- **Graph**: a provider's own parameters are bound like a handler's (query, headers, body,
  the request, other dependencies), so dependencies depend on each other. The graph is
  compiled when the app starts; a cycle is refused then, naming it.
- **Teardown order**: after the response's last byte, after the response's and the
  handler's background tasks, in reverse order of setup. When the handler raises, the
  teardowns run at once and the exception is thrown into each generator at its ``yield``.
- **Overrides**: ``app.dependency_overrides[get_db] = fake_db`` (or ``with
  app.injector.override(get_db, fake_db):``) replaces a provider wherever it is used.
- **Outside handlers**: ``async with app.injector.scope() as scope: db = await
  scope.resolve(get_db)`` or ``await scope.call(job)`` gives a background job or a CLI
  command the same providers (those that do not need a request).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import typing
from typing import Any, AsyncIterator, Callable, Dict, Iterator, List, Literal, Mapping, Optional, Sequence, Tuple

from pyre.web.callables import callable_name, is_async_callable
from pyre.web.handlers import Binder, BindContext, CallScope, Extractor, SignatureError, bind_signature
from pyre.web.params import find_marker
from pyre.web.validation import Invalid, RequestValidationError, errors_of

__all__ = ["Depends", "Injector", "Provide", "Scope", "bind_dependency", "bind_named_dependency"]

Scope = Literal["request", "app"]
_SCOPES = ("request", "app")


class Provide:
    """A provider of a dependency: ``Provide(get_db)``, ``Provide(load_settings, scope="app")``.
    ``use_cache=False`` makes it anew for each parameter asking for it."""

    __slots__ = ("dependency", "scope", "use_cache")

    def __init__(self, dependency: Callable[..., Any], *, scope: Scope = "request", use_cache: bool = True) -> None:
        if not callable(dependency):
            raise TypeError(f"Provide() needs a callable, got {dependency!r}")
        if scope not in _SCOPES:
            raise ValueError(f"Provide(scope=...) is 'request' or 'app', got {scope!r}")
        self.dependency = dependency
        self.scope = scope
        self.use_cache = use_cache

    def __repr__(self) -> str:
        return f"Provide({callable_name(self.dependency)}, scope={self.scope!r})"


def Depends(dependency: Callable[..., Any], *, scope: Scope = "request", use_cache: bool = True) -> Any:
    """The marker of a parameter taking ``dependency``'s value (``Annotated[DB,
    Depends(get_db)]`` or a default ``= Depends(get_db)``); a :class:`Provide`."""
    return Provide(dependency, scope=scope, use_cache=use_cache)


# -- the graph ------------------------------------------------------------------------------------

_PLAIN, _CORO, _GEN, _ASYNC_GEN = range(4)

# The providers whose graph is being built (startup is one thread): a cycle check.
_building: List[Callable[..., Any]] = []


def _kind(function: Callable[..., Any]) -> int:
    target = function
    if inspect.isclass(target):
        return _PLAIN
    if inspect.isasyncgenfunction(target) or inspect.isasyncgenfunction(getattr(target, "__call__", None)):
        return _ASYNC_GEN
    if inspect.isgeneratorfunction(target) or inspect.isgeneratorfunction(getattr(target, "__call__", None)):
        return _GEN
    return _CORO if is_async_callable(target) else _PLAIN


class Dependency:
    """One provider compiled for one use: its parameters' extractors (built once), its
    kind and scope. ``await extract(connection, scope)`` gives its value."""

    __slots__ = ("provide", "function", "key", "kind", "steps", "context", "binders")
    is_async = True
    validates = True
    scoped = True
    loc: List[Any] = []

    def __init__(self, provide: Provide, context: BindContext) -> None:
        function = provide.dependency
        binders = _binders_of(context)
        if function in _building:
            cycle = " -> ".join(callable_name(f) for f in [*_building[_building.index(function) :], function])
            raise SignatureError(f"handler {context.handler} (route {context.pattern!r}): dependency cycle {cycle}")
        self.provide = provide
        self.function = function
        self.key: Any = function  # the per-request cache's key (an override keeps the original's)
        self.kind = _kind(function)
        self.context = context
        self.binders = binders
        _building.append(function)
        try:
            sub = BindContext(
                f"{context.handler} <- {callable_name(function)}",
                context.pattern,
                context.path_params,
                context.connection_types,
                context.connection_names,
                context.dependencies,
            )
            sub.binders = binders
            bound, _, _ = bind_signature(function, sub, binders)
        finally:
            _building.pop()
        if provide.scope == "app":
            for name, extractor, _ in bound:
                if not isinstance(extractor, Dependency) or extractor.provide.scope != "app":
                    raise SignatureError(
                        f"handler {context.handler} (route {context.pattern!r}): app-scoped provider "
                        f"{callable_name(function)} takes {name!r}, which is not an app-scoped dependency"
                    )
        self.steps: Tuple[Tuple[str, Extractor, List[Any]], ...] = tuple(
            (name, extractor, getattr(extractor, "loc", [])) for name, extractor, _ in bound
        )

    @property
    def dependencies(self) -> Tuple["Dependency", ...]:
        """The providers this one takes directly (for the docs and tests)."""
        found: List[Dependency] = []
        for _, extractor, _ in self.steps:
            if isinstance(extractor, Dependency):
                found.append(extractor)
        return tuple(found)

    def extract(self, connection: Any, scope: Optional[CallScope] = None) -> Any:
        if scope is None:
            raise RuntimeError(f"{self!r} is resolved within a call scope (the plan's, or Injector.scope())")
        injector = scope.container
        if injector is not None and injector.overrides:
            replacement = injector.overrides.get(self.function)
            if replacement is not None:
                return injector.replaced(self, replacement).resolve(connection, scope)
        return self.resolve(connection, scope)

    async def resolve(self, connection: Any, scope: CallScope) -> Any:
        provide = self.provide
        if provide.scope == "app":
            if scope.container is None:
                raise RuntimeError(f"{self!r} is app-scoped: resolve it through an app's injector")
            cache: Dict[Any, Any] = scope.container.values
            lock = scope.container.lock(self.key)
        else:
            cache = scope.cache
            lock = None
        key = self.key
        if provide.use_cache and key in cache:
            return cache[key]
        if lock is not None:
            async with lock:
                if key in cache:
                    return cache[key]
                value = await self._make(connection, scope, scope.container.exits)
                cache[key] = value
                return value
        value = await self._make(connection, scope, scope.exits)
        if provide.use_cache:
            cache[key] = value
        return value

    async def _make(self, connection: Any, scope: CallScope, exits: List[Any]) -> Any:
        kwargs: Dict[str, Any] = {}
        errors: Optional[List[Dict[str, Any]]] = None
        for name, extractor, loc in self.steps:
            try:
                if getattr(extractor, "scoped", False):
                    value = await extractor.extract(connection, scope)  # type: ignore[call-arg]
                else:
                    value = extractor.extract(connection)
                    if extractor.is_async:
                        value = await value
            except Invalid as exc:
                errors = (errors or []) + errors_of(exc, loc)
                continue
            except RequestValidationError as exc:
                errors = (errors or []) + exc.errors
                continue
            kwargs[name] = value
        if errors:
            raise RequestValidationError(errors)
        kind = self.kind
        if kind == _CORO:
            return await self.function(**kwargs)
        if kind == _PLAIN:
            return self.function(**kwargs)
        if kind == _ASYNC_GEN:
            agen = self.function(**kwargs)
            value = await agen.__anext__()
            exits.append(_async_teardown(agen))
            return value
        gen = self.function(**kwargs)
        value = next(gen)
        exits.append(_sync_teardown(gen))
        return value

    def __repr__(self) -> str:
        return f"<Dependency {callable_name(self.function)} ({self.provide.scope})>"


def _async_teardown(agen: Any) -> Callable[[Optional[BaseException]], Any]:
    async def teardown(exc: Optional[BaseException]) -> None:
        if exc is None:
            try:
                await agen.__anext__()
            except StopAsyncIteration:
                return
            raise RuntimeError(f"dependency {agen!r} yielded more than once")
        try:
            await agen.athrow(exc)
        except (StopAsyncIteration, type(exc)):
            pass

    return teardown


def _sync_teardown(gen: Any) -> Callable[[Optional[BaseException]], Any]:
    async def teardown(exc: Optional[BaseException]) -> None:
        if exc is None:
            try:
                next(gen)
            except StopIteration:
                return
            raise RuntimeError(f"dependency {gen!r} yielded more than once")
        try:
            gen.throw(exc)
        except (StopIteration, type(exc)):
            pass

    return teardown


def _provide_of(parameter: inspect.Parameter) -> Optional[Provide]:
    return find_marker(parameter.annotation, parameter.default, Provide)


def _hints(function: Any) -> Dict[str, Any]:
    try:
        return typing.get_type_hints(function, include_extras=True)
    except Exception:  # noqa: BLE001 - an unresolvable annotation: none
        return {}


def _binders_of(context: BindContext) -> Sequence[Binder]:
    return context.binders if context.binders else request_binders()


def bind_dependency(parameter: inspect.Parameter, context: BindContext) -> Optional[Extractor]:
    """Takes a parameter marked ``Depends(provider)`` (or annotated with a :class:`Provide`)."""
    provide = _provide_of(parameter)
    if provide is None:
        return None
    return Dependency(provide, context)


def bind_named_dependency(parameter: inspect.Parameter, context: BindContext) -> Optional[Extractor]:
    """Takes a parameter named like a provider of the app, its controllers or its resource
    (``App(dependencies={"db": Provide(get_db)})``, a ``dependencies`` class attribute)."""
    provide = context.dependencies.get(parameter.name)
    if provide is None:
        return None
    if not isinstance(provide, Provide):
        provide = Provide(provide)
    return Dependency(provide, context)


def request_binders() -> Tuple[Binder, ...]:
    """The binders of an app's plans: ``handlers.DEFAULT_BINDERS`` (read now: the seam),
    the dependency binders, then the typed-input binders of :mod:`pyre.web.binding`."""
    from pyre.web import handlers
    from pyre.web.binding import TYPED_BINDERS

    return (*handlers.DEFAULT_BINDERS, bind_dependency, bind_named_dependency, *TYPED_BINDERS)


def _no_request(parameter: inspect.Parameter, context: BindContext) -> Optional[Extractor]:
    """Outside a request, after the dependency binders: a parameter without a default is refused."""
    if parameter.default is inspect.Parameter.empty:
        raise context.refuse(parameter.name, "needs a request: outside a handler only dependencies can be resolved")
    return None


# -- the injector ---------------------------------------------------------------------------------


class Injector:
    """An app's dependencies: ``overrides`` (provider -> replacement), the app-scoped
    ``values`` and their teardowns (run by :meth:`aclose`, at the app's shutdown), and
    :meth:`scope` for resolving providers outside a request."""

    def __init__(self, dependencies: Optional[Mapping[str, Any]] = None) -> None:
        self.dependencies: Dict[str, Provide] = {
            name: value if isinstance(value, Provide) else Provide(value) for name, value in (dependencies or {}).items()
        }
        self.overrides: Dict[Callable[..., Any], Callable[..., Any]] = {}
        self.values: Dict[Any, Any] = {}
        self.exits: List[Callable[[Optional[BaseException]], Any]] = []
        self._locks: Dict[Any, asyncio.Lock] = {}
        self._replaced: Dict[Tuple[int, Callable[..., Any]], Dependency] = {}

    def lock(self, key: Any) -> asyncio.Lock:
        """The lock making an app-scoped value once, when requests ask for it together."""
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def replaced(self, dependency: Dependency, replacement: Callable[..., Any]) -> Dependency:
        """``dependency`` with its provider overridden (compiled on first use, then kept)."""
        key = (id(dependency), replacement)
        found = self._replaced.get(key)
        if found is None:
            provide = Provide(replacement, scope=dependency.provide.scope, use_cache=dependency.provide.use_cache)
            found = self._replaced[key] = Dependency(provide, dependency.context)
            found.key = dependency.key  # cached under the overridden provider's key
        return found

    @contextlib.contextmanager
    def override(self, provider: Callable[..., Any], replacement: Callable[..., Any]) -> Iterator[None]:
        """Replace ``provider`` within the block (tests)."""
        previous = self.overrides.get(provider)
        self.overrides[provider] = replacement
        try:
            yield
        finally:
            if previous is None:
                self.overrides.pop(provider, None)
            else:
                self.overrides[provider] = previous

    @contextlib.asynccontextmanager
    async def scope(self) -> AsyncIterator["InjectionScope"]:
        """A request-like scope outside any request: its request-scoped values live until
        the block ends, then their teardowns run (with the block's exception, if any)."""
        scope = InjectionScope(self)
        try:
            yield scope
        except BaseException as exc:
            await scope.call_scope.close(exc)
            raise
        await scope.call_scope.close()

    def wants(self, cls: type) -> bool:
        """Whether ``cls.__init__`` takes dependencies (a marker, or a provider's name)."""
        try:
            parameters = inspect.signature(cls).parameters.values()
        except (TypeError, ValueError):
            return False
        hints = _hints(getattr(cls, "__init__"))
        return any(
            _provide_of(parameter.replace(annotation=hints.get(parameter.name, parameter.annotation))) is not None
            or parameter.name in self.dependencies
            for parameter in parameters
        )

    def construct(self, cls: type) -> Any:
        """An instance of ``cls`` with the dependencies its ``__init__`` takes, made now (the
        app makes each resource once, at startup): its providers must be sync (functions,
        generators or classes); their values live as long as the app (generator
        teardowns run at shutdown)."""
        scope = InjectionScope(self)
        running = scope.call(cls)
        try:
            running.send(None)
        except StopIteration as done:
            self.exits.extend(scope.call_scope.exits)
            return done.value
        running.close()
        raise SignatureError(
            f"cannot make {callable_name(cls)}: a dependency of its __init__ is async; take it per "
            "request in the methods instead, or make its provider sync"
        )

    async def aclose(self) -> None:
        """Tear down the app-scoped values, last made first (the app calls it at shutdown)."""
        closing = CallScope(self)
        closing.exits, self.exits = self.exits, []
        self.values.clear()
        await closing.close()


class InjectionScope:
    """Providers resolved outside a request (see :meth:`Injector.scope`)."""

    def __init__(self, injector: Injector) -> None:
        self.injector = injector
        self.call_scope = CallScope(injector)
        self._compiled: Dict[Any, Dependency] = {}

    def _context(self, name: str) -> BindContext:
        context = BindContext(name, "(outside a request)", {}, (), ("request",), self.injector.dependencies)
        context.binders = (bind_dependency, bind_named_dependency, _no_request)
        return context

    async def resolve(self, provider: Callable[..., Any], *, scope: Scope = "request") -> Any:
        """The value of ``provider`` (overrides apply; app-scoped values are the app's)."""
        key = (provider, scope)
        dependency = self._compiled.get(key)
        if dependency is None:
            dependency = self._compiled[key] = Dependency(Provide(provider, scope=scope), self._context(callable_name(provider)))
        return await dependency.extract(None, self.call_scope)

    async def call(self, function: Callable[..., Any], /, **kwargs: Any) -> Any:
        """Call ``function`` with its dependencies resolved (``kwargs`` given as they are)."""
        context = self._context(callable_name(function))
        bound, _, _ = bind_signature(function, context, context.binders or ())
        for name, extractor, _ in bound:
            if name not in kwargs:
                kwargs[name] = await extractor.extract(None, self.call_scope)  # type: ignore[call-arg]
        result = function(**kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result
