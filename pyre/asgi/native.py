"""The native path: an HTTP request handed to a framework without an ASGI scope dict.

An application may offer Pyre a second entry beside its ASGI ``__call__``:
``app.__pyre_native__()`` returns ``entry(head, receive, send)``, a callable returning
an awaitable, as an ASGI app is (or None to decline), where ``head`` is a :class:`RequestHead`: the parsed request's
fields as the parser left them (the header list is the parser's own), plus the
connection's. ``receive`` and ``send`` are the request's ASGI callables, and the
request runs in its own task exactly as an ASGI one (``run_asgi``), so disconnects,
backpressure, limits, the access log, metrics and the shutdown deadline are the same.

:func:`native_app` finds the entry once, at startup, under the server's own wrapper:
:class:`~pyre.asgi.proxy_headers.ProxyHeadersMiddleware`, whose effect the head applies
itself, lazily (:attr:`RequestHead.client`, :attr:`RequestHead.scheme`). Any other
wrapper hides the entry, and the app is served through ASGI. WebSockets always take the
ASGI path. :meth:`RequestHead.scope` assembles the ``http`` scope the ASGI path would
have passed (through :func:`~pyre.asgi.scope.http_scope`), on first use only.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from pyre.asgi.proxy_headers import ProxyHeadersMiddleware
from pyre.asgi.scope import ConnectionInfo, decode_path, http_scope

__all__ = ["NativeApp", "RequestHead", "assemble_scope", "forwarded_peer", "native_app", "request_head"]

Address = Optional[Tuple[str, int]]
NativeEntry = Callable[["RequestHead", Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


class NativeApp:
    """What the server serves natively: ``entry`` (the app's native entry), ``proxy`` (the
    server's proxy-headers middleware it stands in for, or None) and ``state`` (the
    lifespan state, copied into a scope when one is assembled)."""

    __slots__ = ("entry", "proxy", "state")

    def __init__(self, entry: NativeEntry, proxy: Optional[ProxyHeadersMiddleware], state: Optional[Dict[str, Any]]) -> None:
        self.entry = entry
        self.proxy = proxy
        self.state = state


def native_app(app: Any, state: Optional[Dict[str, Any]] = None) -> Optional[NativeApp]:
    """The native entry of ``app`` as the server wrapped it, or None (serve it through ASGI)."""
    proxy = None
    if type(app) is ProxyHeadersMiddleware:
        proxy, app = app, app.app
    hook = getattr(app, "__pyre_native__", None)
    if hook is None:
        return None
    entry = hook()
    return None if entry is None else NativeApp(entry, proxy, state)


class RequestHead:
    """One HTTP request on the native path: ``method``, ``path`` (percent-decoded) and
    ``raw_path`` (as sent) both with the root path, ``query_string``, ``http_version``,
    ``headers`` (the parser's list of ``(name, value)`` bytes, names in lower case),
    ``root_path``, ``server``; ``client`` and ``scheme`` after the trusted proxy headers;
    :meth:`scope` on demand."""

    __slots__ = ("native", "info", "method", "path", "raw_path", "query_string", "http_version", "headers",
                 "root_path", "_forwarded", "_scope")

    def __init__(self, native: NativeApp, info: ConnectionInfo, method: str, path: str, raw_path: bytes,
                 query_string: bytes, http_version: str, headers: List[Tuple[bytes, bytes]]) -> None:
        self.native = native
        self.info = info
        self.method = method
        self.path = path
        self.raw_path = raw_path
        self.query_string = query_string
        self.http_version = http_version
        self.headers = headers
        self.root_path = info.root_path
        self._forwarded: Optional[Tuple[Address, str]] = None
        self._scope: Optional[Dict[str, Any]] = None

    @property
    def server(self) -> Address:
        return self.info.server

    @property
    def client(self) -> Address:
        return self._peer()[0]

    @property
    def scheme(self) -> str:
        return self._peer()[1]

    def _peer(self) -> Tuple[Address, str]:
        found = self._forwarded
        if found is None:
            found = self._forwarded = forwarded_peer(self.native, self.info, self.headers)
        return found

    def scope(self) -> Dict[str, Any]:
        """The ``http`` scope the ASGI path would have given the app (assembled once)."""
        scope = self._scope
        if scope is None:
            scope = self._scope = assemble_scope(self)
        return scope

    def __repr__(self) -> str:
        return f"<RequestHead {self.method} {self.path}>"


def forwarded_peer(native: NativeApp, info: ConnectionInfo, headers: List[Tuple[bytes, bytes]]) -> Tuple[Address, str]:
    """(client, scheme) of a request: the connection's, or what a trusted proxy's headers
    say (the rules of :class:`ProxyHeadersMiddleware`)."""
    proxy = native.proxy
    if proxy is None:
        return info.client, info.scheme
    return proxy.forwarded(info.client, info.scheme, headers, "http")


def assemble_scope(head: Any) -> Dict[str, Any]:
    """The ``http`` scope of a :class:`RequestHead` (or of the compiled HTTP/1.1
    connection's twin of it): what the ASGI path would have passed the app."""
    info = head.info
    target = head.raw_path[len(info.raw_root_path):]  # as the client sent it
    scope = http_scope(info, head.method, target, head.query_string, head.http_version, head.headers,
                       head.native.state)
    if head.http_version == "2":  # as pyre.transport.h2 adds it to every HTTP/2 request
        scope["extensions"]["http.request.trailers"] = {}
    scope["client"] = head.client
    scope["scheme"] = head.scheme
    return scope


def request_head(native: NativeApp, info: ConnectionInfo, method: str, target: bytes, query_string: bytes,
                 http_version: str, headers: List[Tuple[bytes, bytes]]) -> RequestHead:
    """The :class:`RequestHead` of a parsed request (``target``: the raw path as sent),
    its path decoded and the root path added as :func:`http_scope` does."""
    path = decode_path(target)
    if info.root_path:
        path = info.root_path + path
        target = info.raw_root_path + target
    return RequestHead(native, info, method, path, target, query_string, http_version, headers)
