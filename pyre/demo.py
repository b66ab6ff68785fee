"""A small bundled ASGI application: ``pyre pyre.demo:app``.

- ``GET /`` says hello;
- ``GET /json`` returns a small JSON document;
- ``POST /echo`` streams the request body back;
- ``GET /stream`` streams ten chunks;
- a WebSocket to ``/ws`` echoes every message.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable, Dict

Scope = Dict[str, Any]
Receive = Callable[[], Awaitable[Dict[str, Any]]]
Send = Callable[[Dict[str, Any]], Awaitable[None]]

HELLO = b"Hello from Pyre!\n"


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await _websocket_echo(scope, receive, send)
        return
    if scope["type"] != "http":
        return
    path, method = scope["path"], scope["method"]
    if path == "/" and method in ("GET", "HEAD"):
        await _respond(send, 200, HELLO, b"text/plain; charset=utf-8")
    elif path == "/json" and method in ("GET", "HEAD"):
        body = json.dumps({"message": "Hello from Pyre!", "http_version": scope["http_version"]}).encode()
        await _respond(send, 200, body, b"application/json")
    elif path == "/echo" and method == "POST":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream")]})
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            more = message.get("more_body", False)
            await send({"type": "http.response.body", "body": message.get("body", b""), "more_body": more})
    elif path == "/stream" and method == "GET":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for i in range(10):
            await send({"type": "http.response.body", "body": b"chunk %d\n" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    else:
        await _respond(send, 404, b"Not Found\n", b"text/plain; charset=utf-8")


async def _websocket_echo(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()  # websocket.connect
    if scope["path"] != "/ws":
        await send({"type": "websocket.close"})  # answered 403
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})


async def _respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})
