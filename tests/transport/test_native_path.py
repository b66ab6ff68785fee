"""The native path's server side (pyre.asgi.native): which apps get it, and that the head
every transport builds (both HTTP/1.1 twins, HTTP/2) gives the app what the ASGI path's
scope gives: the same fields, client and scheme after trusted proxy headers, and
``head.scope()`` equal to the scope the ASGI path passes."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import pytest

from pyre.asgi.native import native_app
from pyre.asgi.proxy_headers import ProxyHeadersMiddleware
from tests.helpers import h1conn_twin, server_context
from tests.transport.test_h1_protocol import FakeTransport, settle



async def ok(send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


class Native:
    """An app with a native entry; records what each path hands it."""

    def __init__(self, native: bool = True) -> None:
        self.native = native
        self.scopes: List[Dict[str, Any]] = []
        self.heads: List[Any] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.scopes.append(scope)
            await ok(send)

    def __pyre_native__(self):
        return self._entry if self.native else None

    async def _entry(self, head, receive, send):
        self.heads.append(head)
        await ok(send)


def test_only_an_app_offering_an_entry_gets_the_native_path():
    async def plain(scope, receive, send):
        pass

    assert native_app(plain) is None
    assert native_app(Native(native=False)) is None
    app = Native()
    found = native_app(app, {"k": 1})
    assert found is not None and found.entry == app._entry and found.proxy is None and found.state == {"k": 1}
    proxy = ProxyHeadersMiddleware(app, "127.0.0.1")
    found = native_app(proxy)
    assert found is not None and found.entry == app._entry and found.proxy is proxy
    # Any other wrapper needs the scope: ASGI.
    assert native_app(ProxyHeadersMiddleware(ProxyHeadersMiddleware(app))) is None


REQUEST = (b"GET /caf%C3%A9/x?a=1&a=2 HTTP/1.1\r\nhost: example.test\r\nx-forwarded-for: 203.0.113.7\r\n"
           b"x-forwarded-proto: https\r\nx-m: 1\r\nx-m: 2\r\n\r\n")


@pytest.fixture(params=["c", "py"])
def h1(request):
    return h1conn_twin(request.param).H1Protocol


async def serve_h1(h1, app: Any, **settings: Any) -> None:
    ctx = server_context(app, asyncio.get_running_loop(), date_header=False, access_log=False,
                         lifespan_state={"shared": True}, **settings)
    protocol = h1(ctx)
    transport = FakeTransport()
    protocol.connection_made(transport)
    protocol.data_received(REQUEST)
    await settle()
    assert transport.data.startswith(b"HTTP/1.1 200 OK")


@pytest.mark.parametrize("root_path", ["", "/api"])
@pytest.mark.parametrize("trusted", [True, False])
async def test_the_http11_head_gives_what_the_scope_gives(h1, root_path, trusted):
    app = Native()
    wrapped = ProxyHeadersMiddleware(app, "127.0.0.1" if trusted else "10.0.0.1")
    await serve_h1(h1, wrapped, root_path=root_path)
    app.native = False
    await serve_h1(h1, ProxyHeadersMiddleware(app, "127.0.0.1" if trusted else "10.0.0.1"), root_path=root_path)
    [head], [scope] = app.heads, app.scopes
    assert (head.method, head.path, head.raw_path, head.query_string, head.http_version, head.root_path) == (
        "GET", root_path + "/café/x", root_path.encode() + b"/caf%C3%A9/x", b"a=1&a=2", "1.1", root_path)
    assert head.headers == scope["headers"] and head.server == scope["server"]
    assert (head.client, head.scheme) == (scope["client"], scope["scheme"])
    assert (head.client, head.scheme) == ((("203.0.113.7", 0), "https") if trusted else (("127.0.0.1", 50000), "http"))
    assert head.scope() == scope and head.scope() is head.scope()


async def test_the_http2_head_gives_what_the_scope_gives():
    from tests.transport.test_h2_protocol import Client, make, settle as settle_h2

    found = []
    for native in (True, False):
        app = Native(native)
        _, protocol, transport = make(ProxyHeadersMiddleware(app, "127.0.0.1"))
        client = Client(protocol, transport)
        sid = client.request(b"/a%20b?q=1", headers=[(b"x-m", b"1"), (b"x-m", b"2"), (b"x-forwarded-for", b"203.0.113.7")])
        await settle_h2(client)
        assert client.responses[sid]["body"] == b"ok"
        found.append(app.heads or app.scopes)
    [head], [scope] = found
    assert (head.method, head.path, head.raw_path, head.query_string, head.http_version) == (
        "GET", "/a b", b"/a%20b", b"q=1", "2")
    assert head.headers == scope["headers"]
    assert (head.client, head.scheme) == (scope["client"], scope["scheme"]) == (("203.0.113.7", 0), "http")
    assert head.scope() == scope and "http.request.trailers" in head.scope()["extensions"]
