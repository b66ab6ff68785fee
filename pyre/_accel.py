"""Chooses, once, between the Cython speed-ups and their pure-Python twins.

This is the only module that imports from ``pyre._speedups`` or ``pyre._pure`` (or a
compiled pure-mode module, such as ``pyre.web._router_c``, ``pyre.asgi._http_c``, ``pyre.transport._h2_c``,
``pyre.protocol.h2._session_c``, ``pyre.protocol.ws._frames_c``, ``pyre.protocol.ws._session_c``,
``pyre.transport._ws_c`` or ``pyre.asgi._websocket_c``).
``PYRE_NO_EXTENSIONS=1`` forces the twins; so does a missing or broken extension.

The speed-ups, chosen separately (each falls back on its own):

- ``h1parser``: ``RequestParser``, chosen at import;
- ``h1conn``: ``H1Protocol``, an HTTP/1.1 connection. A pure-mode twin: the compiled
  ``pyre.transport._h1_c`` is built from the pure ``pyre.transport.h1`` itself (which
  itself imports ``RequestParser`` from here, so it cannot be imported eagerly). Chosen
  on first use of ``H1Protocol``, ``MODE``, ``ACCELERATED`` or :func:`modes`.
- ``h1writer``: the response head encoder of ``pyre.protocol.h1.writer``, compiled
  from it as ``pyre.protocol.h1._writer_c``; only the compiled connection uses it (a
  cimport, one C call per head). Reported by :func:`modes`.
- ``hpack``: ``HPACKEncoder`` and ``HPACKDecoder``, the HPACK coder of an HTTP/2
  connection (the pure twin is the ``hpack`` library's). Chosen on first use of
  either name, ``MODE``, ``ACCELERATED`` or :func:`modes`.
- ``h2session``: ``H2Session``, the sans-IO HTTP/2 server session, and
  ``h2_response_head``, its check of an application's response head. A pure-mode
  twin: the compiled ``pyre.protocol.h2._session_c`` is built from the pure
  ``pyre.protocol.h2.session`` itself. Chosen on first use of either name, ``MODE``,
  ``ACCELERATED`` or :func:`modes`.
- ``wsframes``: ``FrameReader``, ``write_frame`` and ``frame_message``, the WebSocket
  frame reader (of the common client frames), writer and unmasking under :class:`pyre.protocol.ws.WSSession`.
  A pure-mode twin: ``pyre.protocol.ws._frames_c`` is compiled from the pure
  ``pyre.protocol.ws.frames`` itself. Chosen on first use of either name (when the
  session module is imported), ``MODE``, ``ACCELERATED`` or :func:`modes`.
- ``wssession``: ``WSSession``, the sans-IO WebSocket session over the frame layer
  (messages out of frames, wsproto for the rare frames, pings, closes). A pure-mode
  twin: ``pyre.protocol.ws._session_c`` is compiled from the pure
  ``pyre.protocol.ws.session`` itself; both use the event classes of
  ``pyre.protocol.ws.events``. Chosen on first use of the name (when
  ``pyre.protocol.ws`` is imported), ``MODE``, ``ACCELERATED`` or :func:`modes`.
- ``wscycle``: ``WebSocketCycle``, the ASGI side of a WebSocket (``receive``/``send``
  and the spec's state machine). A pure-mode twin: ``pyre.asgi._websocket_c`` is
  compiled from the pure ``pyre.asgi.websocket`` itself. Chosen on first use of the
  name (the WebSocket transports and ``pyre.web.testing`` import it from here),
  ``MODE``, ``ACCELERATED`` or :func:`modes`.
- ``wsconn``: ``WSProtocol`` and ``switch_to_ws``, a WebSocket connection over HTTP/1.1
  (its data path: frames in, messages to the cycle, the reply written). A pure-mode
  twin: ``pyre.transport._ws_c`` is compiled from the pure ``pyre.transport.ws``
  itself. Chosen on first use of either name (an upgrade request), ``MODE``,
  ``ACCELERATED`` or :func:`modes`.
- ``http``: ``HTTPCycle`` and ``run_asgi``, the ASGI request/response cycle of an HTTP/2
  stream and of an HTTP/1.1 connection (both twins of each). A pure-mode twin: ``pyre.asgi._http_c`` is compiled from the pure
  ``pyre.asgi.http`` itself; what every cycle shares (``ClientDisconnected``, the
  states) is one module, ``pyre.asgi.http_common``. Chosen on first use of either name,
  ``H1Protocol``, ``MODE``, ``ACCELERATED`` or :func:`modes`.
- ``h2conn``: ``H2Protocol``, ``ALPNSelector`` and ``switch_to_h2``, an HTTP/2
  connection and its streams (the transport over the ``h2session`` session). A
  pure-mode twin: ``pyre.transport._h2_c`` is compiled from the pure
  ``pyre.transport.h2`` itself. Chosen on first use of a name (only a server that
  sees HTTP/2 imports it), ``MODE``, ``ACCELERATED`` or :func:`modes`.
- ``h1framing``: ``CHUNKED_WRITER`` and ``LENGTH_WRITER``, the HTTP/1.1 body writers of
  ``pyre.protocol.h1.framing`` (the pure twin of the HTTP/1.1 connection and the shared
  sendfile path use them; the compiled connection cimports the compiled twin
  ``pyre.protocol.h1._framing_c``). Chosen on first use of either name, ``MODE``,
  ``ACCELERATED`` or :func:`modes`.
- ``router``: ``Router``, the path matcher of ``pyre.web``. A pure-mode twin: the
  compiled ``pyre.web._router_c`` is built from the pure ``pyre.web.router`` itself.
  Chosen on first use of ``Router``, ``MODE``, ``ACCELERATED`` or :func:`modes`
  (importing ``pyre.web`` and the router module only then). The framework imports
  ``Router`` from here; ``RouteError`` is one class shared by both twins.
- ``parsing`` and ``request`` of ``pyre.web``: ``Headers``, ``ContentType``,
  ``parse_query``, ``parse_cookies``, ``parse_options_header``; ``HTTPConnection``
  (what ``Request`` and ``pyre.web.websocket.WebSocket`` share) and ``Request``.
  Pure-mode twins: ``pyre.web._parsing_c`` and ``pyre.web._request_c`` are compiled
  from the pure ``pyre.web.parsing`` and ``pyre.web.request`` themselves. Chosen on
  first use of a name (importing ``pyre.web`` only then), ``MODE``, ``ACCELERATED`` or
  :func:`modes`. ``pyre.web`` imports them from here, so one process uses one class of
  each.
- ``escaping`` of ``pyre.web``: ``HTMLEscaper``, MarkupSafe's ``escape`` for the
  templates of :class:`pyre.web.Templates`. A pure-mode twin: ``pyre.web._escaping_c`` is
  compiled from the pure ``pyre.web.escaping``. Chosen on first use (a ``Templates``),
  ``MODE``, ``ACCELERATED`` or :func:`modes`.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any, Dict, Optional, Tuple

__all__ = [
    "ACCELERATED",
    "ALPNSelector",
    "MODE",
    "NO_EXTENSIONS",
    "CHUNKED_WRITER",
    "FrameReader",
    "H1Protocol",
    "H2Protocol",
    "H2Session",
    "HPACKDecoder",
    "HPACKEncoder",
    "HTMLEscaper",
    "HTTPConnection",
    "HTTPCycle",
    "Headers",
    "LENGTH_WRITER",
    "Request",
    "RequestParser",
    "Router",
    "WSProtocol",
    "WSSession",
    "WebSocketCycle",
    "apply_proxy",
    "h2_response_head",
    "load_twins",
    "modes",
    "parse_cookies",
    "parse_options_header",
    "parse_query",
    "pure_build_warning",
    "run_asgi",
    "switch_to_h2",
    "switch_to_ws",
    "write_frame",
    "frame_message",
]

NO_EXTENSIONS = os.environ.get("PYRE_NO_EXTENSIONS", "") not in ("", "0")
# Each speed-up: (the compiled module, its pure-Python twin).
_TWINS: Dict[str, Tuple[str, str]] = {
    "h1parser": ("pyre._speedups.h1parser", "pyre._pure.h1parser"),
    "h1conn": ("pyre.transport._h1_c", "pyre.transport.h1"),
    "h1writer": ("pyre.protocol.h1._writer_c", "pyre.protocol.h1.writer"),
    "hpack": ("pyre._speedups.hpack", "pyre._pure.hpack"),
    "h2session": ("pyre.protocol.h2._session_c", "pyre.protocol.h2.session"),
    "wsframes": ("pyre.protocol.ws._frames_c", "pyre.protocol.ws.frames"),
    "wssession": ("pyre.protocol.ws._session_c", "pyre.protocol.ws.session"),
    "wscycle": ("pyre.asgi._websocket_c", "pyre.asgi.websocket"),
    "wsconn": ("pyre.transport._ws_c", "pyre.transport.ws"),
    "h1framing": ("pyre.protocol.h1._framing_c", "pyre.protocol.h1.framing"),
    "router": ("pyre.web._router_c", "pyre.web.router"),
    "parsing": ("pyre.web._parsing_c", "pyre.web.parsing"),
    "request": ("pyre.web._request_c", "pyre.web.request"),
    "escaping": ("pyre.web._escaping_c", "pyre.web.escaping"),
    "http": ("pyre.asgi._http_c", "pyre.asgi.http"),
    "h2conn": ("pyre.transport._h2_c", "pyre.transport.h2"),
}
_SPEEDUPS = tuple(_TWINS)
_SERVER_SPEEDUPS = ("h1parser", "h1writer", "h1framing", "http", "h1conn", "hpack", "h2session", "wsframes")
# The names chosen on first use, and their speed-up: the server's HTTP/2 and WebSocket
# twins, then the names pyre.web takes from here.
_LAZY_NAMES = {
    "H2Protocol": "h2conn",
    "ALPNSelector": "h2conn",
    "switch_to_h2": "h2conn",
    "HTTPCycle": "http",
    "run_asgi": "http",
    "apply_proxy": "http",
    "FrameReader": "wsframes",
    "write_frame": "wsframes",
    "frame_message": "wsframes",
    "WSSession": "wssession",
    "WebSocketCycle": "wscycle",
    "WSProtocol": "wsconn",
    "switch_to_ws": "wsconn",

    "Router": "router",
    "ContentType": "parsing",
    "Headers": "parsing",
    "parse_cookies": "parsing",
    "parse_options_header": "parsing",
    "parse_query": "parsing",
    "HTTPConnection": "request",
    "Request": "request",
    "HTMLEscaper": "escaping",
}


def load_twins(name: str) -> Dict[str, Optional[ModuleType]]:
    """Both twins of a speed-up module: ``{"c": module or None, "py": module}``."""
    import importlib

    compiled_name, pure_name = _TWINS[name]
    compiled: Optional[ModuleType]
    try:
        compiled = importlib.import_module(compiled_name)
    except ImportError:
        compiled = None
    return {"c": compiled, "py": importlib.import_module(pure_name)}


def _choose(name: str) -> ModuleType:
    import importlib

    compiled_name, pure_name = _TWINS[name]
    if not NO_EXTENSIONS:
        try:
            return importlib.import_module(compiled_name)
        except ImportError:
            pass
    return importlib.import_module(pure_name)


def _choose_each(names: Tuple[str, ...]) -> None:
    for name in names:
        if name not in _chosen:
            _chosen[name] = _choose(name)


_chosen: Dict[str, ModuleType] = {"h1parser": _choose("h1parser")}
RequestParser = _chosen["h1parser"].RequestParser


def modes() -> Dict[str, str]:
    """Which twin each speed-up uses: ``{"h1parser": "c" or "py", "h1conn": ..., "hpack": ...,
    "h2session": ..., "wsframes": ..., "h1framing": ..., "h1writer": ..., "wssession": ..., "wscycle": ..., "wsconn": ...,
    "router": ..., "parsing": ..., "request": ..., "escaping": ..., "http": ..., "h2conn": ...}``."""
    _choose_each(_SPEEDUPS)
    return {name: "c" if _chosen[name].__name__ == _TWINS[name][0] else "py" for name in _SPEEDUPS}


def _mode_text(chosen: Dict[str, str]) -> str:
    if all(m == "c" for m in chosen.values()):
        return "accelerated (Cython)"
    if all(m == "py" for m in chosen.values()):
        return "pure Python"
    compiled = ", ".join(n for n, m in chosen.items() if m == "c")
    pure = ", ".join(n for n, m in chosen.items() if m == "py")
    return f"partly accelerated (Cython: {compiled}; pure Python: {pure})"


PURE_BUILD_WARNING = "pure-Python parser: about 2x slower; install a C compiler and reinstall"


def pure_build_warning() -> Optional[str]:
    """The one warning line for a build without (some of) the compiled speed-ups, which
    pip installs silently without a C compiler; None when they are all active, or
    when ``PYRE_NO_EXTENSIONS=1`` asked for the pure-Python twins."""
    if NO_EXTENSIONS:
        return None
    chosen = modes()
    pure = [name for name, mode in chosen.items() if mode == "py"]
    if not pure:
        return None
    if len(pure) == len(chosen):
        return PURE_BUILD_WARNING
    return f"{PURE_BUILD_WARNING} (pure-Python: {', '.join(pure)})"


def __getattr__(name: str) -> Any:
    # Resolved on first use and then cached as ordinary module attributes.
    if name == "H1Protocol":
        # The server's speed-ups, chosen together when the server starts; not the
        # router, so that serving a plain ASGI app never imports pyre.web.
        _choose_each(_SERVER_SPEEDUPS)
        value: Any = _chosen["h1conn"].H1Protocol
    elif name in ("HPACKEncoder", "HPACKDecoder"):
        # Only this speed-up: pyre.protocol.h2 imports these, and choosing h1conn
        # from there could import the transport layer (the pure twin) mid-import.
        if "hpack" not in _chosen:
            _chosen["hpack"] = _choose("hpack")
        value = getattr(_chosen["hpack"], name[len("HPACK") :])
    elif name in ("H2Session", "h2_response_head"):
        if "h2session" not in _chosen:
            _chosen["h2session"] = _choose("h2session")
        value = getattr(_chosen["h2session"], "H2Session" if name == "H2Session" else "response_head")
    elif name in ("CHUNKED_WRITER", "LENGTH_WRITER"):
        # Only this speed-up: the HTTP/1.1 transport imports these at its own import.
        if "h1framing" not in _chosen:
            _chosen["h1framing"] = _choose("h1framing")
        value = getattr(_chosen["h1framing"], name[: -len("_WRITER")])
    elif name in _LAZY_NAMES:
        # Chosen on first use: only a server that sees HTTP/2 or a WebSocket imports these.
        twin = _LAZY_NAMES[name]
        if twin not in _chosen:
            _chosen[twin] = _choose(twin)
        value = getattr(_chosen[twin], name)
    elif name == "ACCELERATED":
        value = all(m == "c" for m in modes().values())
    elif name == "MODE":
        value = _mode_text(modes())
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
