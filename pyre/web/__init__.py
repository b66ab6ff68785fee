"""``pyre.web``: Pyre's web framework.

Object-oriented (resources and controllers are classes), event-driven (lifecycle and
user events that cost nothing when nobody listens), lazily evaluated (nothing about a
request is parsed until it is read, and nothing twice), on a compiled backbone. An
:class:`App` is a plain ASGI 3 application: it runs under any ASGI server, and takes a
faster native path when Pyre serves it.

``import pyre.web`` is light: each public name below is imported from its module on first
use (``from pyre.web import App`` imports the app and what it needs, nothing else).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Dict, List

if TYPE_CHECKING:
    from pyre._accel import Headers, Request
    from pyre.web.app import App
    from pyre.web.background import BackgroundTasks
    from pyre.web.converters import RouteError
    from pyre.web.datastructures import URL, Address, FormData, MutableHeaders, QueryParams, UploadFile
    from pyre.web.errors import ClientDisconnect, HTTPError
    from pyre.web.events import listen
    from pyre.web.handlers import SignatureError
    from pyre.web.middleware import Middleware
    from pyre.web.resources import Controller, Resource
    from pyre.web.responses import HTML, JSON, SSE, File, Redirect, Response, ServerSentEvents, Stream, Text
    from pyre.web.staticfiles import StaticFiles
    from pyre.web.templates import Templates

# Public name -> the module that defines it (imported on first use).
_EXPORTS: Dict[str, str] = {
    "App": "pyre.web.app",
    "Controller": "pyre.web.resources",
    "Resource": "pyre.web.resources",
    "listen": "pyre.web.events",
    "Middleware": "pyre.web.middleware",
    "Request": "pyre._accel",
    "Headers": "pyre._accel",
    "MutableHeaders": "pyre.web.datastructures",
    "QueryParams": "pyre.web.datastructures",
    "URL": "pyre.web.datastructures",
    "Address": "pyre.web.datastructures",
    "FormData": "pyre.web.datastructures",
    "UploadFile": "pyre.web.datastructures",
    "HTTPError": "pyre.web.errors",
    "ClientDisconnect": "pyre.web.errors",
    "RouteError": "pyre.web.converters",
    "SignatureError": "pyre.web.handlers",
    "Response": "pyre.web.responses",
    "JSON": "pyre.web.responses",
    "HTML": "pyre.web.responses",
    "Text": "pyre.web.responses",
    "Redirect": "pyre.web.responses",
    "Stream": "pyre.web.responses",
    "ServerSentEvents": "pyre.web.responses",
    "SSE": "pyre.web.responses",
    "File": "pyre.web.responses",
    "BackgroundTasks": "pyre.web.background",
    "StaticFiles": "pyre.web.staticfiles",
    "Templates": "pyre.web.templates",
}

__all__: List[str] = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pyre.web' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_EXPORTS))
