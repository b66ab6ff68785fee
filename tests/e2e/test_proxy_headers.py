"""Proxy headers through the real server: raw TCP from 127.0.0.1 (trusted by default)."""

from __future__ import annotations

import json

import httpx
import pytest
import websockets

from pyre.asgi.proxy_headers import ProxyHeadersMiddleware
from pyre.errors import ConfigError
from tests.apps import scope_json

SPOOF = (
    b"GET / HTTP/1.1\r\nHost: t\r\n"
    b"X-Forwarded-For: 6.6.6.6, 203.0.113.7\r\nX-Forwarded-Proto: https\r\n\r\n"
)


async def scope_for(serve, raw, request: bytes, **config) -> dict:
    server = await serve(scope_json, **config)
    conn = await raw(server)
    await conn.send(request)
    status, _, body = await conn.read_response()
    assert b" 200 " in status
    return json.loads(body)


@pytest.fixture(autouse=True)
def _no_env_default(monkeypatch):
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)


async def test_loopback_is_trusted_by_default(serve, raw):
    scope = await scope_for(serve, raw, SPOOF)
    assert scope["client"] == ["203.0.113.7", 0]  # the right-most untrusted, not the spoofed 6.6.6.6
    assert scope["scheme"] == "https"
    assert ["x-forwarded-for", "6.6.6.6, 203.0.113.7"] in scope["headers"]


async def test_forwarded_header_with_ipv6_and_port(serve, raw):
    request = (
        b"GET / HTTP/1.1\r\nHost: t\r\n"
        b'Forwarded: for=6.6.6.6;proto=http, for="[2001:db8::7]:4711";proto=https\r\n'
        b"X-Forwarded-For: 198.51.100.1\r\n\r\n"
    )
    scope = await scope_for(serve, raw, request, proxy_headers_source="auto")
    assert scope["client"] == ["2001:db8::7", 4711]
    assert scope["scheme"] == "https"
    scope = await scope_for(serve, raw, request, proxy_headers_source="forwarded")
    assert scope["client"] == ["2001:db8::7", 4711]


async def test_by_default_only_x_forwarded_headers_count(serve, raw):
    # A proxy that writes X-Forwarded-For passes a client's own Forwarded header on:
    # by default (as uvicorn) it is ignored, so a client cannot choose its address.
    request = (
        b"GET / HTTP/1.1\r\nHost: t\r\n"
        b"Forwarded: for=6.6.6.6;proto=https\r\n"
        b"X-Forwarded-For: 198.51.100.1\r\n\r\n"
    )
    scope = await scope_for(serve, raw, request)
    assert scope["client"] == ["198.51.100.1", 0] and scope["scheme"] == "http"


async def test_headers_from_an_untrusted_peer_are_ignored(serve, raw):
    for allowed in (["10.0.0.0/8"], "192.0.2.1, ::1"):
        scope = await scope_for(serve, raw, SPOOF, forwarded_allow_ips=allowed)
        assert scope["client"][0] == "127.0.0.1" and scope["client"][1] > 0
        assert scope["scheme"] == "http"
        assert ["x-forwarded-for", "6.6.6.6, 203.0.113.7"] in scope["headers"]
        assert ["x-forwarded-proto", "https"] in scope["headers"]


async def test_environment_default_is_read(serve, raw, monkeypatch):
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8")
    scope = await scope_for(serve, raw, SPOOF)
    assert scope["client"][0] == "127.0.0.1" and scope["scheme"] == "http"


async def test_star_trusts_the_whole_chain(serve, raw):
    scope = await scope_for(serve, raw, SPOOF, forwarded_allow_ips="*")
    assert scope["client"] == ["6.6.6.6", 0]


async def test_disabled_leaves_the_app_unwrapped(serve, raw):
    server = await serve(scope_json, proxy_headers=False)
    assert server.context.app is scope_json and server.context.proxy is None
    conn = await raw(server)
    await conn.send(SPOOF)
    _, _, body = await conn.read_response()
    scope = json.loads(body)
    assert scope["client"][0] == "127.0.0.1" and scope["scheme"] == "http"


async def test_enabled_the_connections_apply_it_and_call_the_app_itself(serve, raw):
    # The middleware the server makes is not awaited per request: the connections
    # apply it to the scopes they build and call the app it wraps directly.
    enabled = await serve(scope_json)
    assert isinstance(enabled.context.proxy, ProxyHeadersMiddleware)
    assert enabled.context.proxy.app is scope_json and enabled.context.app is scope_json


async def test_keep_alive_requests_each_get_their_own_scope(serve, raw):
    server = await serve(scope_json)
    conn = await raw(server)
    await conn.send(SPOOF + b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    first = json.loads((await conn.read_response())[2])
    second = json.loads((await conn.read_response())[2])
    assert first["client"] == ["203.0.113.7", 0] and first["scheme"] == "https"
    assert second["client"][0] == "127.0.0.1" and second["scheme"] == "http"


async def test_http2(serve):
    server = await serve(scope_json, proxy_headers_source="forwarded")
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        response = await client.get(server.url, headers={"forwarded": "for=203.0.113.7;proto=https"})
    assert response.http_version == "HTTP/2"
    scope = response.json()
    assert scope["client"] == ["203.0.113.7", 0] and scope["scheme"] == "https"


async def test_websocket_scope(serve):
    async def app(scope, receive, send):
        assert scope["type"] == "websocket"
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps([scope["client"], scope["scheme"]])})
        await send({"type": "websocket.close"})

    server = await serve(app)
    url = f"ws://127.0.0.1:{server.bound_port}/"
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    async with websockets.connect(url, additional_headers=headers) as ws:
        assert json.loads(await ws.recv()) == [["203.0.113.7", 0], "wss"]
    server = await serve(app, forwarded_allow_ips=["10.0.0.0/8"])
    async with websockets.connect(f"ws://127.0.0.1:{server.bound_port}/", additional_headers=headers) as ws:
        client, scheme = json.loads(await ws.recv())
    assert client[0] == "127.0.0.1" and scheme == "ws"


async def test_websocket_over_http2_scope(serve):
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import TextMessage

    from tests.e2e.test_websocket import H2WebSocketClient

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps([scope["client"], scope["scheme"]])})

    server = await serve(app)
    client = await H2WebSocketClient.open(server)
    try:
        sid = await client.connect(extra=[(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-proto", b"https")])
        assert client.responses[sid][b":status"] == b"200"
        ws = Connection(ConnectionType.CLIENT)
        received: list = []

        def got_one():
            ws.receive_data(client.data.pop(sid, b""))
            received.extend(e for e in ws.events() if isinstance(e, TextMessage))
            return bool(received)

        await client.read_until(got_one)
        assert json.loads(received[0].data) == [["203.0.113.7", 0], "wss"]
    finally:
        client.close()


async def test_lifespan_gets_through_and_a_bad_entry_stops_startup(serve, caplog):
    events = []

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        await scope_json(scope, receive, send)

    server = await serve(app, lifespan="on")
    assert server.started and events == ["lifespan.startup"]
    try:
        bad = await serve(app, lifespan="on", forwarded_allow_ips=["10.0.0.0/8", "10.0.0.0/33"])
    except ConfigError as exc:  # once Config validates the entries itself
        assert "'10.0.0.0/33'" in str(exc)
    else:
        assert not bad.started
        assert "forwarded_allow_ips: '10.0.0.0/33'" in caplog.text
        assert events == ["lifespan.startup", "lifespan.startup", "lifespan.shutdown"]
