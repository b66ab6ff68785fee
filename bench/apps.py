"""ASGI applications used by the benchmark harness (``bench/run.py``).

Each app is a bare ASGI 3 callable, with no framework in between, so that the
numbers measure the server and not a router. Every app answers the lifespan
scope (startup/shutdown complete), so servers running with ``lifespan=auto``
or ``on`` take the same path.

    hello   GET  -> 200 "Hello, world!" (text/plain, content-length)
    json    GET  -> 200 {"message": "Hello, world!"} (json.dumps per request)
    echo    POST -> 200 the request body, read in full (content-length)
    stream  GET  -> 200 ten small body chunks, no content-length (chunked)
    ws_echo WebSocket -> accepts, echoes every text/bytes message until disconnect
    upload  POST -> 200 the number of body bytes received, counted as they arrive (nothing kept)
    download GET -> 200 TRANSFER_SIZE bytes streamed in TRANSFER_CHUNK-byte messages (content-length)

The expected bodies are exported (``HELLO_BODY``, ``json_body()``,
``STREAM_BODY``) so that the harness can verify a server before measuring it.
"""

from __future__ import annotations

import json as _json

__all__ = ["hello", "json", "echo", "stream", "ws_echo", "upload", "download", "HELLO_BODY", "STREAM_CHUNKS",
           "STREAM_BODY", "TRANSFER_SIZE", "TRANSFER_CHUNK", "json_body"]

HELLO_BODY = b"Hello, world!"
STREAM_CHUNKS = [b"chunk-%d\n" % i for i in range(10)]
STREAM_BODY = b"".join(STREAM_CHUNKS)
JSON_MESSAGE = {"message": "Hello, world!"}

_HELLO_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(HELLO_BODY)).encode()),
    ],
}
_HELLO_BODY = {"type": "http.response.body", "body": HELLO_BODY}


def json_body() -> bytes:
    return _json.dumps(JSON_MESSAGE).encode()


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def hello(scope, receive, send) -> None:
    if scope["type"] == "http":
        await send(_HELLO_START)
        await send(_HELLO_BODY)
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)


async def json(scope, receive, send) -> None:  # noqa: A001 - the scenario's name
    if scope["type"] == "http":
        body = _json.dumps(JSON_MESSAGE).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)


async def echo(scope, receive, send) -> None:
    if scope["type"] == "http":
        parts = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(parts)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/octet-stream"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)


async def stream(scope, receive, send) -> None:
    if scope["type"] == "http":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
        )
        for chunk in STREAM_CHUNKS:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)


async def ws_echo(scope, receive, send) -> None:
    """WebSocket echo (bench/ws.py): accept, then send every message back as it came."""
    if scope["type"] == "websocket":
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.receive":
                text = message.get("text")
                if text is not None:
                    await send({"type": "websocket.send", "text": text})
                else:
                    await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})
            elif message["type"] == "websocket.disconnect":
                return
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)


TRANSFER_SIZE = 100_000_000  # bytes of the upload and download scenarios (100 MB)
TRANSFER_CHUNK = 64 * 1024  # bytes per http.response.body message of ``download``
_CHUNK = b"\x00" * TRANSFER_CHUNK


async def upload(scope, receive, send) -> None:
    """Read the request body message by message, keeping only a count: the app holds one
    message at a time, so the server's own buffering is what its RSS shows."""
    if scope["type"] == "http":
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = str(received).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)


async def download(scope, receive, send) -> None:
    """Stream TRANSFER_SIZE zero bytes in TRANSFER_CHUNK-byte messages with a content-length:
    the server must apply back-pressure (``send`` waits while the client is slower)."""
    if scope["type"] == "http":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/octet-stream"),
                    (b"content-length", str(TRANSFER_SIZE).encode()),
                ],
            }
        )
        left = TRANSFER_SIZE
        while left > TRANSFER_CHUNK:
            await send({"type": "http.response.body", "body": _CHUNK, "more_body": True})
            left -= TRANSFER_CHUNK
        await send({"type": "http.response.body", "body": _CHUNK[:left]})
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)
