"""Small ASGI applications used across the tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, List


async def hello(scope, receive, send):
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")]})
    await send({"type": "http.response.body", "body": b"Hello, world!"})


async def echo(scope, receive, send):
    """Echoes the request body; reports method, path and body length in headers."""
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-length", str(len(body)).encode()),
        (b"x-method", scope["method"].encode()),
        (b"x-path", scope["path"].encode("utf-8")),
    ]})
    await send({"type": "http.response.body", "body": body})


async def scope_json(scope, receive, send):
    """Returns the scope (JSON-friendly) as the body."""
    def clean(value: Any) -> Any:
        if isinstance(value, bytes):
            return value.decode("latin-1")
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return value

    while (await receive()).get("more_body"):
        pass
    body = json.dumps(clean(dict(scope))).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def respond(status: int = 200, headers=(), body: bytes = b"", chunks: List[bytes] = None):
    """An app answering with fixed status, headers and body (or streamed chunks)."""
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": status, "headers": list(headers)})
        if chunks is None:
            await send({"type": "http.response.body", "body": body})
        else:
            for piece in chunks:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
    return app


class Recorder:
    """An app wrapper that records exceptions raised by send()/the app."""

    def __init__(self, app):
        self.app = app
        self.errors: List[BaseException] = []
        self.done = asyncio.Event()

    async def __call__(self, scope, receive, send):
        try:
            await self.app(scope, receive, send)
        except BaseException as exc:
            self.errors.append(exc)
            raise
        finally:
            self.done.set()
