"""How an app answers errors: exception handlers by class or status, and the default pages.

``App(exception_handlers={LookupError: handler, 404: handler})`` or
``@app.exception_handler(LookupError)``: a handler is ``(request, exc) -> response`` (a
coroutine function or a plain one; it may return anything a route may return). For an
exception, the app takes the handler registered for its ``HTTPError`` status, else for the
nearest class in its MRO (found once per exception class, then cached), else the default:

- :class:`~pyre.web.HTTPError` -> its status, detail and headers (404, 405, 413, 422, ...);
- anything else -> 500 "Internal Server Error", logged through ``pyre.error`` with its
  traceback (the traceback goes into the response only when the app has ``debug=True``).

The default body follows the request's ``Accept``: HTML when it prefers ``text/html`` to
``application/json`` (a browser), else JSON: ``{"status": 404, "detail": "Not Found"}``.
"""

from __future__ import annotations

import html
import traceback
from http import HTTPStatus
from typing import Any, Callable, Dict, List, Mapping, Optional, Type, Union

from pyre.web._json import dumps
from pyre.web.errors import HTTPError
from pyre.web.callables import is_async_callable
from pyre.web.handlers import ListenerRef
from pyre.web.responses import HTML, JSON, Response

__all__ = ["ExceptionHandler", "ExceptionHandlers", "render_error", "wants_html"]

ExceptionHandler = Callable[[Any, Any], Any]
HandlerKey = Union[Type[BaseException], int]


class ExceptionHandlers:
    """Handlers by exception class (MRO lookup, cached per class) and by ``HTTPError`` status."""

    __slots__ = ("_by_class", "_by_status", "_cache")

    def __init__(self, handlers: Optional[Mapping[HandlerKey, ExceptionHandler]] = None) -> None:
        self._by_class: Dict[type, ListenerRef] = {}
        self._by_status: Dict[int, ListenerRef] = {}
        self._cache: Dict[type, Optional[ListenerRef]] = {}
        for key, handler in (handlers or {}).items():
            self.add(key, handler)

    def add(self, key: HandlerKey, handler: ExceptionHandler) -> None:
        """Register ``handler`` for an exception class (and its subclasses) or an HTTP status."""
        if not callable(handler):
            raise TypeError(f"exception handler for {key!r} is not callable: {handler!r}")
        entry = (handler, is_async_callable(handler))
        if isinstance(key, int) and not isinstance(key, bool):
            if not 400 <= key <= 599:
                raise ValueError(f"an exception handler status must be 4xx or 5xx, got {key}")
            self._by_status[key] = entry
        elif isinstance(key, type) and issubclass(key, BaseException):
            self._by_class[key] = entry
        else:
            raise TypeError(f"an exception handler key is an exception class or a status, got {key!r}")
        self._cache.clear()

    def find(self, exc: BaseException) -> Optional[ListenerRef]:
        """The handler for ``exc``, or None for the default."""
        if self._by_status and isinstance(exc, HTTPError):
            found = self._by_status.get(exc.status)
            if found is not None:
                return found
        kind = type(exc)
        try:
            return self._cache[kind]
        except KeyError:
            pass
        entry: Optional[ListenerRef] = None
        for klass in kind.__mro__:
            entry = self._by_class.get(klass)
            if entry is not None:
                break
        self._cache[kind] = entry
        return entry

    def __repr__(self) -> str:
        keys: List[str] = [klass.__name__ for klass in self._by_class] + [str(status) for status in self._by_status]
        return f"ExceptionHandlers({', '.join(keys)})"


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value.strip()), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def wants_html(accept: Optional[str]) -> bool:
    """Whether an ``Accept`` header prefers ``text/html`` to ``application/json`` (a tie,
    ``*/*`` or no header: JSON)."""
    if not accept or ("html" not in accept and "text/*" not in accept):
        return False
    found: Dict[str, float] = {}
    for item in accept.split(","):
        media, _, params = item.partition(";")
        media = media.strip().lower()
        quality = _quality(params)
        if quality > found.get(media, -1.0):
            found[media] = quality
    anything = found.get("*/*", 0.0)
    as_html = found.get("text/html", found.get("text/*", anything))
    as_json = found.get("application/json", found.get("application/*", anything))
    return as_html > as_json


_PAGE = (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>\n'
    "<body><h1>{title}</h1>\n{body}</body></html>\n"
)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _json_text(value: Any) -> str:
    try:
        return dumps(value).decode("utf-8")
    except TypeError:
        return str(value)


def render_error(
    request: Any,
    status: int,
    detail: Any = None,
    headers: Optional[Mapping[str, str]] = None,
    exc: Optional[BaseException] = None,
) -> Response:
    """The default error response: JSON ``{"status": ..., "detail": ...}`` or a small HTML
    page, by the request's ``Accept``; with ``exc``, its traceback too (debug mode only)."""
    if detail is None:
        detail = _phrase(status)
    trace: Optional[List[str]] = None
    if exc is not None:
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).splitlines()
    accept = None if request is None else request.headers.get("accept")
    if wants_html(accept):
        title = html.escape(f"{status} {_phrase(status)}")
        text = detail if isinstance(detail, str) else _json_text(detail)
        body = f"<p>{html.escape(text)}</p>\n"
        if trace is not None:
            body += f"<pre>{html.escape(chr(10).join(trace))}</pre>\n"
        return HTML(_PAGE.format(title=title, body=body), status, headers)
    content: Dict[str, Any] = {"status": status, "detail": detail}
    if trace is not None:
        content["traceback"] = trace
    try:
        return JSON(content, status, headers)
    except TypeError:  # a detail JSON cannot encode
        content["detail"] = str(detail)
        return JSON(content, status, headers)

