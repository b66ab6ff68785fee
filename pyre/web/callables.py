"""What the framework needs to know about a callable it is given (a handler, a listener,
a guard, a background task): whether calling it gives a coroutine, and a readable name."""

from __future__ import annotations

import functools
import inspect
from typing import Any

__all__ = ["callable_name", "is_async_callable"]


def is_async_callable(obj: Any) -> bool:
    """Whether calling ``obj`` gives a coroutine: a coroutine function, a ``functools.partial``
    of one, or an object whose ``__call__`` is one."""
    while isinstance(obj, functools.partial):
        obj = obj.func
    return inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(getattr(obj, "__call__", None))


def callable_name(obj: Any) -> str:
    """``module.QualName`` of a function, method or callable object, for messages and logs."""
    while isinstance(obj, functools.partial):
        obj = obj.func
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if name is None:
        name = type(obj).__qualname__
    module = getattr(obj, "__module__", None)
    return f"{module}.{name}" if module else str(name)
