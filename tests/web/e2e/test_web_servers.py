"""One pyre.web app over real sockets, under Pyre (HTTP/1.1, HTTP/2; native and ASGI paths) and uvicorn: routing,
resources, controllers, errors, body limits, streaming, middleware, mounts, lifespan."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import List

import pytest
import websockets
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from pyre.web import JSON, App, BackgroundTasks, Controller, HTTPError, Middleware, Request, Resource, Stream


@dataclass
class State:
    started: bool = False
    stopped: bool = False
    done: List[str] = field(default_factory=list)
    event: asyncio.Event = field(default_factory=asyncio.Event)


def build_app() -> App[State]:
    class Shop(App[State]):
        async def on_startup(self) -> None:
            self.state.started = True

        async def on_shutdown(self) -> None:
            self.state.stopped = True

        async def on_response(self, request, response):
            response.headers["x-served-by"] = "pyre.web"

    app = Shop(state=State(), max_body_size=1000, middleware=[Middleware(GZipMiddleware, minimum_size=100)])

    @app.get("/")
    async def index(request: Request):
        return {"started": request.app.state.started, "http_version": request.http_version}

    @app.route("/items/{item_id:int}")
    class Item(Resource):
        async def get(self, request: Request, item_id: int):
            return {"id": item_id, "url": request.app.url_for("Item", item_id=item_id)}

        async def put(self, request: Request, item_id: int):
            return {"id": item_id, "body": await request.json()}

    def require_key(request: Request):
        if request.headers.get("x-key") != "k":
            raise HTTPError(401, "key required")

    admin = Controller("/admin", guards=[require_key])

    @admin.get("/stats")
    async def stats(request):
        return {"ok": True}

    app.include(admin)

    @app.post("/upload")
    async def upload(request: Request):
        return {"size": len(await request.body())}

    @app.get("/stream")
    async def stream(request):
        async def lines():
            for index in range(5):
                yield f"line {index}\n"
                await asyncio.sleep(0)
        return Stream(lines(), media_type="text/plain")

    @app.get("/big")
    async def big(request):
        return {"data": "x" * 2000}

    @app.get("/later")
    async def later(request: Request):
        tasks = BackgroundTasks()

        async def record():
            request.app.state.done.append("background")
            request.app.state.event.set()

        tasks.add(record)
        return JSON({"scheduled": True}, background=tasks)

    @app.get("/sync")
    def sync_route(request):
        return "from a thread"

    async def legacy_home(request):
        return PlainTextResponse(f"starlette at {request.scope['root_path']}")

    app.mount("/legacy", Starlette(routes=[Route("/", legacy_home)]))
    return app


async def test_the_app_end_to_end(serve):
    app = build_app()
    served = await serve(app)
    async with served.client() as client:
        home = await client.get("/")
        assert home.json() == {"started": True, "http_version": "2" if served.http2 else "1.1"}
        assert home.headers["x-served-by"] == "pyre.web"
        item = await client.get("/items/42")
        assert item.json() == {"id": 42, "url": "/items/42"}
        put = await client.put("/items/3", json={"name": "lamp"})
        assert put.json() == {"id": 3, "body": {"name": "lamp"}}
        head = await client.head("/items/42")
        assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(item.content))
        options = await client.options("/items/42")
        assert options.status_code == 204 and options.headers["allow"] == "GET, HEAD, OPTIONS, PUT"
        wrong = await client.delete("/items/42")
        assert wrong.status_code == 405 and wrong.headers["allow"] == "GET, HEAD, OPTIONS, PUT"
        missing = await client.get("/nope", headers={"accept": "text/html"})
        assert missing.status_code == 404 and "<h1>404 Not Found</h1>" in missing.text
        assert (await client.get("/nope")).json() == {"status": 404, "detail": "Not Found"}
        slash = await client.get("/items/42/?a=1")
        assert slash.status_code == 308 and slash.headers["location"] == "/items/42?a=1"
        assert (await client.get("/admin/stats")).status_code == 401
        assert (await client.get("/admin/stats", headers={"x-key": "k"})).json() == {"ok": True}
        assert (await client.get("/sync")).text == "from a thread"
        assert (await client.get("/legacy/")).text == "starlette at /legacy"


async def test_body_limit_streaming_and_middleware_end_to_end(serve):
    app = build_app()
    served = await serve(app)
    async with served.client() as client:
        assert (await client.post("/upload", content=b"x" * 1000)).json() == {"size": 1000}
        too_big = await client.post("/upload", content=b"x" * 1001)
        assert too_big.status_code == 413 and too_big.json()["detail"] == "Request body larger than 1000 bytes"

        async def chunks():
            yield b"y" * 1001  # one chunk, so the client is not still writing when the 413 comes

        streamed = await client.post("/upload", content=chunks())  # no content-length: stopped at the limit
        assert streamed.status_code == 413
        async with client.stream("GET", "/stream") as response:
            parts = [chunk async for chunk in response.aiter_text()]
        assert "".join(parts) == "".join(f"line {i}\n" for i in range(5))
        if not served.http2:
            assert response.headers["transfer-encoding"] == "chunked"
        big = await client.get("/big", headers={"accept-encoding": "gzip"})
        assert big.headers["content-encoding"] == "gzip" and big.json() == {"data": "x" * 2000}
        later = await client.get("/later")
        assert later.json() == {"scheduled": True}
        await asyncio.wait_for(app.state.event.wait(), 5)
        assert app.state.done == ["background"]


async def test_lifespan_startup_and_shutdown_run(serve):
    app = build_app()
    served = await serve(app)
    assert app.state.started and not app.state.stopped
    await served.stop()
    assert app.state.stopped


async def test_websocket_routes_end_to_end(serve_http1, websocket_module):
    app = App()

    @app.websocket("/echo/{room}")
    async def echo(ws, room: str):
        await ws.accept()
        text = await ws.receive_text()
        await ws.send_text(f"{room}: {text}")
        await ws.close()

    served = await serve_http1(app)
    async with websockets.connect(served.ws_url + "/echo/lobby") as ws:
        await ws.send("hi")
        assert await ws.recv() == "lobby: hi"
    with pytest.raises(websockets.exceptions.InvalidStatus) as info:
        async with websockets.connect(served.ws_url + "/nowhere"):
            pass
    # 404 where the server offers the denial extension, else the server's 403 for a close
    assert info.value.response.status_code in (403, 404)
