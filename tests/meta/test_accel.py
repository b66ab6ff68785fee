"""The active twins follow PYRE_NO_EXTENSIONS, and the suite really runs both modes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pyre import _accel
from pyre._accel import load_twins
from pyre.transport import h1


def test_mode_follows_the_environment():
    from pyre import server

    if os.environ.get("PYRE_NO_EXTENSIONS", "") not in ("", "0"):
        assert not _accel.ACCELERATED and _accel.MODE == "pure Python"
        assert _accel.modes() == {
            "h1parser": "py", "h1conn": "py", "hpack": "py", "h2session": "py", "wsframes": "py", "h1framing": "py", "router": "py",
            "parsing": "py", "request": "py", "http": "py", "h2conn": "py", "wssession": "py", "wscycle": "py",
            "wsconn": "py", "escaping": "py", "h1writer": "py",
        }
        assert _accel.FrameReader.__module__ == "pyre.protocol.ws.frames"
        assert _accel.WebSocketCycle.__module__ == "pyre.asgi.websocket"
        assert _accel.WSSession.__module__ == "pyre.protocol.ws.session"
        assert _accel.WSProtocol.__module__ == "pyre.transport.ws"
        assert type(_accel.CHUNKED_WRITER).__module__ == "pyre.protocol.h1.framing"
        assert _accel.HPACKEncoder.__module__ == "hpack.hpack"
        assert _accel.H2Session.__module__ == "pyre.protocol.h2.session"
        assert h1.RequestParser.__module__ == "pyre._pure.h1parser"
        assert _accel.H1Protocol is h1.H1Protocol
        assert _accel.Router.__module__ == "pyre.web.router"
        assert _accel.Request.__module__ == "pyre.web.request"
        assert _accel.Headers.__module__ == "pyre.web.parsing"
        assert _accel.HTTPCycle.__module__ == "pyre.asgi.http"
        assert _accel.H2Protocol.__module__ == "pyre.transport.h2"
        assert _accel.HTMLEscaper.__module__ == "pyre.web.escaping"
    else:
        # A build that silently fell back to pure Python must not pass as accelerated.
        assert _accel.ACCELERATED, "the Cython speed-ups are not built (pip install -e . needs a C compiler)"
        assert _accel.MODE == "accelerated (Cython)"
        assert _accel.modes() == {
            "h1parser": "c", "h1conn": "c", "hpack": "c", "h2session": "c", "wsframes": "c", "h1framing": "c", "router": "c",
            "parsing": "c", "request": "c", "http": "c", "h2conn": "c", "wssession": "c", "wscycle": "c",
            "wsconn": "c", "escaping": "c", "h1writer": "c",
        }
        assert _accel.FrameReader.__module__ == "pyre.protocol.ws._frames_c"
        assert _accel.WebSocketCycle.__module__ == "pyre.asgi._websocket_c"
        assert _accel.WSSession.__module__ == "pyre.protocol.ws._session_c"
        assert _accel.WSProtocol.__module__ == "pyre.transport._ws_c"
        assert type(_accel.CHUNKED_WRITER).__module__ == "pyre.protocol.h1._framing_c"
        assert _accel.HPACKEncoder.__module__ == "pyre._speedups.hpack"
        assert _accel.H2Session.__module__ == "pyre.protocol.h2._session_c"
        assert h1.RequestParser.__module__ == "pyre._speedups.h1parser"
        assert _accel.H1Protocol.__module__ == "pyre.transport._h1_c"
        assert _accel.Router.__module__ == "pyre.web._router_c"
        assert _accel.Request.__module__ == "pyre.web._request_c"
        assert _accel.Headers.__module__ == "pyre.web._parsing_c"
        assert _accel.HTTPCycle.__module__ == "pyre.asgi._http_c"
        assert _accel.H2Protocol.__module__ == "pyre.transport._h2_c" and _accel.switch_to_h2.__module__ == "pyre.transport._h2_c"
        assert _accel.HTMLEscaper.__module__ == "pyre.web._escaping_c"
    assert server.H1Protocol is _accel.H1Protocol  # the server uses the chosen twin
    from pyre.transport import h2 as h2_transport

    assert h2_transport.H2Session is _accel.H2Session
    assert h2_transport.HTTPCycle is _accel.HTTPCycle and h2_transport.run_asgi is _accel.run_asgi
    compiled_h2 = load_twins("h2conn")["c"]  # the compiled connection takes the chosen session and cycle too
    assert compiled_h2 is not None and compiled_h2.COMPILED is True and h2_transport.COMPILED is False
    assert compiled_h2.H2Session is _accel.H2Session and compiled_h2.HTTPCycle is _accel.HTTPCycle
    from pyre.config import Config
    from pyre.transport.context import ServerContext

    config = Config(lambda *args: None, http="h2")
    ctx = ServerContext.from_config(config.app, None, config, None)
    assert type(server._protocol_factory(ctx, config, False)()) is _accel.H2Protocol  # the server serves the chosen twin
    from pyre.protocol.ws import session as ws_session

    assert ws_session.FrameReader is _accel.FrameReader and ws_session.write_frame is _accel.write_frame


def test_environment_switch_in_a_fresh_interpreter():
    code = ("from pyre import _accel; print(_accel.ACCELERATED, _accel.H1Protocol.__module__, "
            "_accel.Router.__module__, _accel.Request.__module__)")
    env = dict(os.environ, PYRE_NO_EXTENSIONS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "pyre.transport.h1", "pyre.web.router", "pyre.web.request"]
    env["PYRE_NO_EXTENSIONS"] = "0"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "pyre.transport._h1_c", "pyre.web._router_c", "pyre.web._request_c"]


@pytest.mark.parametrize(
    "first",
    [
        "pyre.transport.h1", "pyre._accel", "pyre.transport._h1_c", "pyre.protocol.h1._writer_c",
        "pyre.web.request", "pyre.web.datastructures", "pyre.web.parsing", "pyre.web._request_c",
    ],
)
@pytest.mark.parametrize("no_extensions", ["0", "1"])
def test_no_import_cycle_whatever_is_imported_first(first, no_extensions):
    """pyre.transport.h1 and pyre.web import _accel, which chooses H1Protocol and Request
    lazily: any order works."""
    code = f"import {first}; from pyre._accel import H1Protocol, Request, MODE; print(H1Protocol.__module__, Request.__module__)"
    env = dict(os.environ, PYRE_NO_EXTENSIONS=no_extensions)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    if no_extensions == "1":
        assert out.stdout.split() == ["pyre.transport.h1", "pyre.web.request"]
    else:
        assert out.stdout.split() == ["pyre.transport._h1_c", "pyre.web._request_c"]
