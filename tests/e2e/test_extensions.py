"""ASGI extensions over HTTP/1.1: http.response.trailers and http.response.pathsend."""

from __future__ import annotations

import os

import httpx
import pytest

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


async def test_trailers_over_chunked(serve, raw):
    async def app(scope, receive, send):
        assert "http.response.trailers" in scope["extensions"]
        await send({"type": "http.response.start", "status": 200, "trailers": True,
                    "headers": [(b"trailer", b"x-checksum")]})
        await send({"type": "http.response.body", "body": b"data", "more_body": True})
        await send({"type": "http.response.body", "body": b"more"})
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")], "more_trailers": True})
        await send({"type": "http.response.trailers", "headers": [(b"x-other", b"1")]})

    server = await serve(app)
    conn = await raw(server)
    await conn.send(GET)
    _, headers, body = await conn.read_response()
    assert body == b"datamore"
    assert headers["trailers"] == {"x-checksum": "abc", "x-other": "1"}
    await conn.send(GET)  # the connection is still in sync
    assert (await conn.read_response())[2] == b"datamore"


async def test_trailers_with_content_length_are_dropped(serve, raw):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "trailers": True,
                    "headers": [(b"content-length", b"4")]})
        await send({"type": "http.response.body", "body": b"data"})
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")]})

    server = await serve(app)
    conn = await raw(server)
    await conn.send(GET + GET)
    for _ in range(2):
        _, headers, body = await conn.read_response()
        assert body == b"data" and "trailers" not in headers


async def test_invalid_trailer_is_never_written(serve, raw):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "trailers": True, "headers": []})
        await send({"type": "http.response.body", "body": b"data"})
        await send({"type": "http.response.trailers", "headers": [(b"x-bad", b"a\r\nInjected: 1")]})

    server = await serve(app)
    conn = await raw(server)
    await conn.send(GET)
    data = await conn.read_all()
    assert b"Injected" not in data and not data.endswith(b"0\r\n\r\n")


@pytest.mark.parametrize("content_length", [True, False])
async def test_pathsend(serve, tmp_path, content_length):
    payload = os.urandom(300_000)
    path = tmp_path / "file.bin"
    path.write_bytes(payload)

    async def app(scope, receive, send):
        assert "http.response.pathsend" in scope["extensions"]
        headers = [(b"content-type", b"application/octet-stream")]
        if content_length:
            headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.pathsend", "path": str(path)})

    server = await serve(app)
    async with httpx.AsyncClient() as client:
        for _ in range(2):
            response = await client.get(server.url)
            assert response.content == payload


async def test_pathsend_head_request_sends_no_body(serve, raw, tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"hello file")

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]})
        await send({"type": "http.response.pathsend", "path": str(path)})

    server = await serve(app)
    conn = await raw(server)
    await conn.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n" + GET)
    head = await conn.readuntil(b"\r\n\r\n")
    assert b"content-length: 10" in head
    _, _, body = await conn.read_response()
    assert body == b"hello file"


async def test_pathsend_missing_file_gives_500(serve, raw, tmp_path):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(tmp_path / "missing")})

    server = await serve(app)
    conn = await raw(server)
    await conn.send(GET)
    status, _, _ = await conn.read_response()
    assert b" 500 " in status


async def test_pathsend_is_zero_copy_and_survives_a_slow_reader(serve, raw, tmp_path, monkeypatch):
    """os.sendfile carries the body (on both loops), also when the socket fills up."""
    import asyncio

    calls = []
    real_sendfile = os.sendfile

    def counting_sendfile(*args):
        calls.append(args)
        return real_sendfile(*args)

    monkeypatch.setattr(os, "sendfile", counting_sendfile)
    payload = os.urandom(8 * 1024 * 1024)
    path = tmp_path / "big.bin"
    path.write_bytes(payload)

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.pathsend", "path": str(path)})

    server = await serve(app)
    conn = await raw(server)
    conn.transport.pause_reading()  # let the server's socket buffer fill up first
    await conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 2)
    await asyncio.sleep(0.3)
    conn.transport.resume_reading()
    for _ in range(2):
        _, headers, body = await conn.read_response(timeout=30)
        assert body == payload
    assert calls, "os.sendfile was never used"
