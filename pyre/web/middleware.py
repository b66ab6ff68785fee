"""Pure ASGI middleware for ``pyre.web`` apps.

``App(middleware=[Middleware(CORSMiddleware, allow_origins=["*"])])`` or
``app.add_middleware(GZipMiddleware, minimum_size=500)``. A middleware is any class (or
factory) called as ``cls(app, *args, **kwargs)`` that returns an ASGI app wrapping ``app``:
Starlette's pure ASGI middlewares (``CORSMiddleware``, ``GZipMiddleware``,
``TrustedHostMiddleware``, ...) work unchanged, and so do Starlette's ``Middleware`` entries.

The list is outermost first: ``[A, B]`` sees a request go through A, then B, then the app.
The stack is built once, when the app starts; an app without middleware has no wrapper at
all. Pure ASGI middleware runs in the request's own task, so what it sets in a
``contextvars.ContextVar`` is seen by the handler, the listeners and the background tasks,
and a streamed response streams through it. (Starlette's ``BaseHTTPMiddleware`` works too,
with its own known limits on streaming and contextvars; prefer pure ASGI middleware.)
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Iterator, MutableMapping, Sequence

__all__ = ["ASGIApp", "Middleware", "build_stack"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class Middleware:
    """One middleware and its options: ``Middleware(cls, *args, **kwargs)``."""

    __slots__ = ("cls", "args", "kwargs")

    def __init__(self, cls: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        if not callable(cls):
            raise TypeError(f"a middleware is a class or factory called with the app, not {cls!r}")
        self.cls = cls
        self.args = args
        self.kwargs = kwargs

    @classmethod
    def of(cls, item: Any) -> "Middleware":
        """``item`` as a :class:`Middleware`: one already, Starlette's ``Middleware`` (or any
        object with ``cls``, ``args`` and ``kwargs``), or a bare class taking only the app."""
        if isinstance(item, Middleware):
            return item
        if hasattr(item, "cls") and hasattr(item, "args") and hasattr(item, "kwargs"):
            return cls(item.cls, *item.args, **item.kwargs)
        return cls(item)

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """The middleware around ``app``."""
        wrapped: ASGIApp = self.cls(app, *self.args, **self.kwargs)
        return wrapped

    def __iter__(self) -> Iterator[Any]:
        # Starlette's shape: cls, args, kwargs = middleware
        return iter((self.cls, self.args, self.kwargs))

    def __repr__(self) -> str:
        options = [repr(arg) for arg in self.args] + [f"{key}={value!r}" for key, value in self.kwargs.items()]
        name = getattr(self.cls, "__name__", repr(self.cls))
        return f"Middleware({', '.join([name, *options])})"


def build_stack(app: ASGIApp, middleware: Sequence[Middleware]) -> ASGIApp:
    """``app`` wrapped by ``middleware`` (outermost first); ``app`` itself when there is none."""
    for item in reversed(middleware):
        app = item.wrap(app)
    return app
