"""Loads the ASGI application from an import string and adapts ASGI2 apps."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import sys
from typing import Any, Callable, Optional

from pyre.errors import AppLoadError

__all__ = ["app_traceback", "import_from_string", "load_app", "load_error_text", "wrap_asgi2"]


def import_from_string(import_str: str) -> Any:
    """``"package.module:attr.sub"`` to the object it names."""
    module_str, sep, attrs_str = import_str.partition(":")
    if not sep or not module_str or not attrs_str:
        raise AppLoadError(f'Import string "{import_str}" must be in format "<module>:<attribute>".')
    try:
        module = importlib.import_module(module_str)
    except ModuleNotFoundError as exc:
        if exc.name != module_str and not module_str.startswith(f"{exc.name}."):
            raise AppLoadError(f'Error importing module "{module_str}": {exc}') from exc
        raise AppLoadError(f'Could not import module "{module_str}".') from exc
    except Exception as exc:
        raise AppLoadError(f'Error importing module "{module_str}": {type(exc).__name__}: {exc}') from exc
    instance: Any = module
    try:
        for attr in attrs_str.split("."):
            instance = getattr(instance, attr)
    except AttributeError:
        raise AppLoadError(f'Attribute "{attrs_str}" not found in module "{module_str}".') from None
    return instance


def wrap_asgi2(app: Callable[..., Any]) -> Callable[..., Any]:
    """An ASGI3 callable running an ASGI2 (double-callable) application."""

    async def asgi2_adapter(scope: Any, receive: Any, send: Any) -> None:
        instance = app(scope)
        await instance(receive, send)

    asgi2_adapter.__wrapped__ = app  # type: ignore[attr-defined]
    return asgi2_adapter


def _is_asgi3(app: Any) -> bool:
    if inspect.isclass(app):
        return hasattr(app, "__await__")
    if inspect.isfunction(app) or inspect.ismethod(app):
        return asyncio.iscoroutinefunction(app)
    call = getattr(app, "__call__", None)
    return asyncio.iscoroutinefunction(call)


def load_app(app: Any, *, factory: bool = False, app_dir: Optional[str] = None, interface: str = "auto") -> Callable[..., Any]:
    """Import (``module:attr``), call a factory, and return an ASGI3 callable."""
    if isinstance(app, str):
        if app_dir is not None:
            sys.path.insert(0, os.path.abspath(app_dir))
        app = import_from_string(app)
    if factory:
        try:
            app = app()
        except TypeError as exc:
            raise AppLoadError(f"Error calling the application factory: {exc}") from exc
    if not callable(app):
        raise AppLoadError(f"The application {app!r} is not callable; is it an ASGI application?")
    if interface == "auto":
        interface = "asgi3" if _is_asgi3(app) else "asgi2"
    return wrap_asgi2(app) if interface == "asgi2" else app


def app_traceback(exc: BaseException) -> str:
    """The traceback of an app's import error from the first frame outside Pyre and
    importlib: for a syntax error, just the file, line and caret."""
    import importlib
    import traceback

    internal = (os.path.dirname(os.path.abspath(__file__)) + os.sep,
                os.path.dirname(os.path.abspath(importlib.__file__)) + os.sep, "<frozen ")
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(internal):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip("\n")


def load_error_text(exc: AppLoadError, app: Any) -> str:
    """What to print for an application that failed to load: ``Error loading ASGI app.``
    and the reason, then, for an error raised by the application's own code while it
    was imported (not a module that does not exist, nor a missing attribute), its
    traceback trimmed to the application's frames, as uvicorn prints it."""
    text = f"Error loading ASGI app. {exc}"
    cause = exc.__cause__
    if cause is None:
        return text
    module = str(app).partition(":")[0]
    missing = isinstance(cause, ModuleNotFoundError) and cause.name is not None and (
        module == cause.name or module.startswith(cause.name + "."))
    if missing:
        return text
    return f"{text}\n{app_traceback(cause)}"
