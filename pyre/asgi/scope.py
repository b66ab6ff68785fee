"""Builds ASGI connection scopes from a parsed request head and connection facts."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple
from urllib.parse import unquote

__all__ = [
    "ASGI_VERSION",
    "HTTP_SPEC_VERSION",
    "ConnectionInfo",
    "decode_path",
    "http_scope",
    "http_scope_template",
    "tls_extension",
    "websocket_scope",
]

ASGI_VERSION = "3.0"
HTTP_SPEC_VERSION = "2.4"

Address = Optional[Tuple[str, int]]


class ConnectionInfo:
    """Per-connection facts every scope repeats, computed once per connection.

    ``tls`` is the content of the ``tls`` extension (see ``pyre.tls.tls_scope_info``)
    on a TLS connection, None otherwise (the extension is then absent, as the ASGI TLS
    extension requires).
    """

    __slots__ = ("server", "client", "scheme", "root_path", "raw_root_path", "tls")

    def __init__(
        self,
        server: Address,
        client: Address,
        scheme: str,
        root_path: str,
        tls: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.server = server
        self.client = client
        self.scheme = scheme
        self.root_path = root_path
        self.raw_root_path = root_path.encode("utf-8")
        self.tls = tls


def tls_extension(tls: Dict[str, Any]) -> Dict[str, Any]:
    """A request's own copy of the connection's ``tls`` extension (apps may mutate it)."""
    copy = tls.copy()
    copy["client_cert_chain"] = list(tls["client_cert_chain"])
    return copy


def decode_path(raw_path: bytes) -> str:
    """Percent-decode a raw (ASCII) path into text, UTF-8 sequences decoded."""
    text = raw_path.decode("latin-1")
    if "%" in text:
        return unquote(text)
    return text


def http_scope(
    info: ConnectionInfo,
    method: str,
    raw_path: bytes,
    query: bytes,
    http_version: str,
    headers: list,
    state: Optional[Dict[str, Any]],
) -> Dict[str, Any]:
    """The ``http`` scope (asgiref www spec); ``path`` and ``raw_path`` include root_path."""
    root_path = info.root_path
    path = raw_path.decode("latin-1")  # the parser admits ASCII only
    if "%" in path:
        path = unquote(path)
    if root_path:
        path = root_path + path
        raw_path = info.raw_root_path + raw_path
    scope = {
        "type": "http",
        "asgi": {"version": ASGI_VERSION, "spec_version": HTTP_SPEC_VERSION},
        "http_version": http_version,
        "server": info.server,
        "client": info.client,
        "scheme": info.scheme,
        "method": method,
        "root_path": root_path,
        "path": path,
        "raw_path": raw_path,
        "query_string": query,
        "headers": headers,
        # A fresh dict per request (apps may mutate theirs); a literal is cheapest.
        "extensions": {"http.response.trailers": {}, "http.response.pathsend": {}},
    }
    if info.tls is not None:
        scope["extensions"]["tls"] = tls_extension(info.tls)
    if state is not None:
        scope["state"] = state.copy()
    return scope


def http_scope_template(info: ConnectionInfo, http_version: Optional[str]) -> Dict[str, Any]:
    """What every ``http`` scope of one connection shares, for a compiled connection to
    copy per request: :func:`http_scope`'s keys in its order, the per-request values
    None (``asgi`` and ``extensions`` included: each request gets dicts of its own;
    ``http_version`` too where it is the request's)."""
    return {
        "type": "http",
        "asgi": None,
        "http_version": http_version,
        "server": info.server,
        "client": info.client,
        "scheme": info.scheme,
        "method": None,
        "root_path": info.root_path,
        "path": None,
        "raw_path": None,
        "query_string": None,
        "headers": None,
        "extensions": None,
    }


def websocket_scope(
    info: ConnectionInfo,
    raw_path: bytes,
    query: bytes,
    http_version: str,
    headers: list,
    subprotocols: list,
    state: Optional[Dict[str, Any]],
) -> Dict[str, Any]:
    """The ``websocket`` scope (asgiref www spec): the ``http`` scope's connection and
    target keys, with ``ws``/``wss``, the client's subprotocols and the denial-response
    extension instead of the method and the HTTP response extensions."""
    scope = http_scope(info, "GET", raw_path, query, http_version, headers, state)
    del scope["method"]
    scope["type"] = "websocket"
    scope["scheme"] = "wss" if info.scheme == "https" else "ws"
    scope["subprotocols"] = subprotocols
    extensions = scope["extensions"]
    del extensions["http.response.trailers"], extensions["http.response.pathsend"]
    extensions["websocket.http.response"] = {}
    return scope
