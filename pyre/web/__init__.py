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

# The explicit `X as X` form re-exports each name for type checkers (mypy --strict).
if TYPE_CHECKING:
    from pyre.web.parsing import Headers as Headers  # at run time: the twin pyre._accel chose
    from pyre.web.request import Request as Request  # likewise
    from pyre.web.app import App as App
    from pyre.web.background import BackgroundTasks as BackgroundTasks
    from pyre.web.converters import RouteError as RouteError
    from pyre.web.datastructures import URL as URL, Address as Address, FormData as FormData
    from pyre.web.datastructures import MutableHeaders as MutableHeaders, QueryParams as QueryParams
    from pyre.web.datastructures import UploadFile as UploadFile
    from pyre.web.errors import ClientDisconnect as ClientDisconnect, HTTPError as HTTPError
    from pyre.web.events import listen as listen
    from pyre.web.handlers import SignatureError as SignatureError
    from pyre.web.middleware import Middleware as Middleware
    from pyre.web.resources import Controller as Controller, Resource as Resource
    from pyre.web.responses import HTML as HTML, JSON as JSON, SSE as SSE, File as File, Redirect as Redirect
    from pyre.web.responses import Response as Response, ServerSentEvents as ServerSentEvents
    from pyre.web.responses import Stream as Stream, Text as Text
    from pyre.web.staticfiles import StaticFiles as StaticFiles
    from pyre.web.templates import Templates as Templates
    from pyre.web.params import Body as Body, Cookie as Cookie, Form as Form, Header as Header
    from pyre.web.params import Path as Path, Query as Query, Upload as Upload
    from pyre.web.di import Depends as Depends, Injector as Injector, Provide as Provide
    from pyre.web.validation import RequestValidationError as RequestValidationError

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
    "Query": "pyre.web.params",
    "Header": "pyre.web.params",
    "Cookie": "pyre.web.params",
    "Path": "pyre.web.params",
    "Body": "pyre.web.params",
    "Form": "pyre.web.params",
    "Upload": "pyre.web.params",
    "Depends": "pyre.web.di",
    "Provide": "pyre.web.di",
    "Injector": "pyre.web.di",
    "RequestValidationError": "pyre.web.validation",
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
