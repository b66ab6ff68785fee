"""The TFB test types as a bare ASGI 3 callable: no framework, the floor under every other app.

A dict maps the path to a handler that sends a complete response (``content-type`` and
``content-length``; the server adds ``server`` and ``date``). JSON is encoded with
msgspec, the fastest encoder pyre.web may use, so that "framework overhead" compares
like with like. The pool is opened on ``lifespan.startup``.

    pyre bench.tfb.apps.bare:app          uvicorn bench.tfb.apps.bare:app
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict
from urllib.parse import parse_qs

import msgspec

from bench.tfb import common
from bench.tfb.rules import HELLO, PLAINTEXT_BODY, queries_count

_encode = msgspec.json.encode
_template = common.jinja_environment().get_template(common.FORTUNE_TEMPLATE)
db = common.Database()

_JSON = b"application/json"
_TEXT = b"text/plain; charset=utf-8"
_HTML = b"text/html; charset=utf-8"


async def _respond(send: Callable[[dict], Awaitable[None]], body: bytes, content_type: bytes, status: int = 200) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


def _queries(scope: dict) -> int:
    values = parse_qs(scope["query_string"]).get(b"queries")
    return queries_count(values[0] if values else None)


async def _json(scope: dict, send) -> None:
    await _respond(send, _encode({"message": HELLO}), _JSON)


async def _plaintext(scope: dict, send) -> None:
    await _respond(send, PLAINTEXT_BODY, _TEXT)


async def _db(scope: dict, send) -> None:
    await _respond(send, _encode(await db.random_world()), _JSON)


async def _queries_handler(scope: dict, send) -> None:
    await _respond(send, _encode(await db.random_worlds(_queries(scope))), _JSON)


async def _updates(scope: dict, send) -> None:
    await _respond(send, _encode(await db.update_worlds(_queries(scope))), _JSON)


async def _fortunes(scope: dict, send) -> None:
    page = _template.render(fortunes=await db.fortunes())
    await _respond(send, page.encode(), _HTML)


_ROUTES: Dict[str, Callable[[dict, Any], Awaitable[None]]] = {
    "/json": _json,
    "/plaintext": _plaintext,
    "/db": _db,
    "/queries": _queries_handler,
    "/updates": _updates,
    "/fortunes": _fortunes,
}


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await db.open()
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await db.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict, receive, send) -> None:
    if scope["type"] == "http":
        handler = _ROUTES.get(scope["path"])
        if handler is None:
            await _respond(send, b"Not Found", _TEXT, 404)
        else:
            await handler(scope, send)
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)
