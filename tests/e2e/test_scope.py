"""The ASGI HTTP scope, exactly."""

from __future__ import annotations

import json

import httpx

from tests.apps import scope_json


async def get_scope(serve, raw, request: bytes, **config) -> dict:
    server = await serve(scope_json, **config)
    conn = await raw(server)
    await conn.send(request)
    _, _, body = await conn.read_response()
    scope = json.loads(body)
    scope["_port"] = server.bound_port
    return scope


async def test_scope_keys_and_values(serve, raw):
    scope = await get_scope(serve, raw, b"GET /a%20b/caf%C3%A9?x=1&y=%20 HTTP/1.1\r\nHost: example\r\nX-Dup: 1\r\nUser-Agent: t\r\nX-Dup: 2\r\n\r\n")
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/a b/café"
    assert scope["raw_path"] == "/a%20b/caf%C3%A9"
    assert scope["query_string"] == "x=1&y=%20"
    assert scope["root_path"] == ""
    assert scope["headers"] == [["host", "example"], ["x-dup", "1"], ["user-agent", "t"], ["x-dup", "2"]]
    assert scope["server"] == ["127.0.0.1", scope["_port"]]
    assert scope["client"][0] == "127.0.0.1" and isinstance(scope["client"][1], int)
    assert set(scope["extensions"]) == {"http.response.trailers", "http.response.pathsend"}
    assert "state" not in scope  # lifespan off: no state


async def test_scope_root_path(serve, raw):
    scope = await get_scope(serve, raw, b"GET /items?q HTTP/1.1\r\nHost: t\r\n\r\n", root_path="/api")
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/items"
    assert scope["raw_path"] == "/api/items"


async def test_scope_http10_and_raw_header_bytes(serve, raw):
    scope = await get_scope(serve, raw, b"GET / HTTP/1.0\r\nX-Bin: caf\xe9\r\n\r\n")
    assert scope["http_version"] == "1.0"
    assert scope["headers"] == [["x-bin", "caf\xe9"]]


async def test_scope_state_from_lifespan_is_copied(serve):
    seen = []

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            message = await receive()
            scope["state"]["db"] = "connected"
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            assert message["type"] == "lifespan.shutdown"
            await send({"type": "lifespan.shutdown.complete"})
            return
        seen.append(dict(scope["state"]))
        scope["state"]["mutated"] = True  # must not leak into the next request
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body"})

    server = await serve(app, lifespan="on")
    async with httpx.AsyncClient() as client:
        await client.get(server.url)
        await client.get(server.url)
    assert seen == [{"db": "connected"}, {"db": "connected"}]


async def test_percent_decoding_with_invalid_utf8_does_not_crash(serve, raw):
    scope = await get_scope(serve, raw, b"GET /%ff%fe HTTP/1.1\r\nHost: t\r\n\r\n")
    assert scope["raw_path"] == "/%ff%fe"
    assert scope["path"] == "/\ufffd\ufffd"
