"""Pure ASGI middleware: Starlette's CORS and GZip unchanged, order, streaming and contextvars
preserved, no wrapper when there is none."""

from __future__ import annotations

import asyncio
import contextvars
import gzip
import json

import httpx
import pytest
from starlette.middleware import Middleware as StarletteMiddleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware

from pyre.web import App, BackgroundTasks, JSON, Middleware, Request, Stream
from tests.web.app_client import call
from tests.web.fake_asgi import Client

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdMiddleware:
    """Sets a contextvar for the request and a response header (a pure ASGI middleware)."""

    def __init__(self, app, header: str = "x-request-id"):
        self.app = app
        self.header = header.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        value = dict(scope["headers"]).get(self.header, b"generated").decode()
        token = request_id.set(value)

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message["headers"]) + [(self.header, value.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


class Tag:
    """Appends its name to a list on the way in and on the way out."""

    def __init__(self, app, name, order):
        self.app, self.name, self.order = app, name, order

    async def __call__(self, scope, receive, send):
        self.order.append(f"{self.name} in")
        await self.app(scope, receive, send)
        self.order.append(f"{self.name} out")


async def test_contextvars_set_by_middleware_reach_handler_listeners_and_background_tasks():
    seen = {}
    app = App(middleware=[Middleware(RequestIdMiddleware)])

    @app.on("after_response")
    def after(request, response):
        seen["after_response"] = request_id.get()

    def task():
        seen["background (thread)"] = request_id.get()

    @app.get("/")
    async def index(request: Request):
        seen["handler"] = request_id.get()
        tasks = BackgroundTasks()
        tasks.add(task)
        return JSON({"id": request_id.get()}, background=tasks)

    client = await call(app, headers=[(b"x-request-id", b"abc")])
    assert json.loads(client.body) == {"id": "abc"} and client.headers["x-request-id"] == "abc"
    assert seen == {"handler": "abc", "after_response": "abc", "background (thread)": "abc"}
    assert request_id.get() == "-"


async def test_order_is_outermost_first_and_add_middleware_wraps_the_rest():
    order = []
    app = App(middleware=[Middleware(Tag, "a", order), StarletteMiddleware(Tag, name="b", order=order)])
    app.add_middleware(Tag, "outer", order)

    @app.get("/")
    async def index(request):
        order.append("handler")
        return "ok"

    await call(app)
    assert order == ["outer in", "a in", "b in", "handler", "b out", "a out", "outer out"]
    assert [type(m) for m in app.middleware] == [Middleware] * 3
    assert repr(Middleware(Tag, "x", order=1)) == "Middleware(Tag, 'x', order=1)"
    cls, args, kwargs = app.middleware[1]
    assert cls is Tag and args == ("a", order) and kwargs == {}


async def test_the_lifespan_goes_through_the_middleware_too():
    order = []
    app = App(middleware=[Middleware(Tag, "m", order)])

    @app.on("startup")
    def startup():
        order.append("startup")

    from tests.web.app_client import Lifespan

    lifespan = Lifespan(app)
    await lifespan.startup()
    await lifespan.shutdown()
    assert order == ["m in", "startup", "m out"]


async def test_starlette_cors_middleware_unchanged():
    app = App(middleware=[Middleware(CORSMiddleware, allow_origins=["https://app.example"], allow_methods=["GET", "POST"])])

    @app.post("/api")
    async def api(request):
        return {"ok": True}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        preflight = await client.options(
            "/api", headers={"origin": "https://app.example", "access-control-request-method": "POST"}
        )
        simple = await client.post("/api", headers={"origin": "https://app.example"})
        other = await client.post("/api", headers={"origin": "https://evil.example"})
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert simple.json() == {"ok": True} and simple.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in other.headers


async def test_starlette_gzip_middleware_keeps_a_stream_streaming():
    app = App(middleware=[Middleware(GZipMiddleware, minimum_size=10)])
    first_chunk_sent = asyncio.Event()

    @app.get("/stream")
    async def stream(request):
        async def lines():
            yield "line 0 " * 50 + "\n"
            # Waits until the first chunk left through the middleware: a buffering
            # middleware would never get here (the test would time out).
            await asyncio.wait_for(first_chunk_sent.wait(), 5)
            for index in range(1, 5):
                yield f"line {index} " * 50 + "\n"
        return Stream(lines(), media_type="text/plain")

    @app.get("/big")
    async def big(request):
        return {"data": "x" * 1000}

    def on_send(message):
        if message["type"] == "http.response.body" and message.get("body"):
            first_chunk_sent.set()

    client = Client(on_send=on_send)
    await call(app, "GET", "/stream", headers=[(b"accept-encoding", b"gzip")], client=client)
    assert client.headers["content-encoding"] == "gzip"
    bodies = [m for m in client.messages if m["type"] == "http.response.body"]
    assert len(bodies) > 2
    text = gzip.decompress(client.body).decode()
    assert text.splitlines()[4].startswith("line 4 ")
    whole = await call(app, "GET", "/big", headers=[(b"accept-encoding", b"gzip")])
    assert whole.headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(whole.body)) == {"data": "x" * 1000}


def test_middleware_entries_are_checked():
    with pytest.raises(TypeError, match="class or factory"):
        Middleware("not callable")  # type: ignore[arg-type]
    bare = App(middleware=[CORSMiddleware])
    bare.freeze()
    assert isinstance(bare._entry, CORSMiddleware)
