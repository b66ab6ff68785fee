"""Real Starlette and FastAPI applications served end to end."""

from __future__ import annotations

import asyncio

import anyio
import httpx
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route


def starlette_app(tmp_path):
    async def home(request: Request):
        return PlainTextResponse("home")

    async def echo(request: Request):
        body = await request.body()
        return JSONResponse({"len": len(body), "query": dict(request.query_params),
                             "url": str(request.url), "state": getattr(request.state, "ready", None)})

    async def stream(request: Request):
        async def gen():
            for i in range(5):
                yield f"line {i}\n"
                await asyncio.sleep(0)
        return StreamingResponse(gen(), media_type="text/plain")

    async def timeout(request: Request):
        # anyio cancel scopes need a real task from the first line.
        with anyio.move_on_after(0.01) as scope:
            await anyio.sleep(1)
        return PlainTextResponse(f"cancelled={scope.cancelled_caught}")

    async def file(request: Request):
        path = tmp_path / "static.txt"
        path.write_text("static content\n")
        return FileResponse(path)

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        yield {"ready": "yes"}

    return Starlette(routes=[
        Route("/", home), Route("/echo", echo, methods=["POST"]), Route("/stream", stream),
        Route("/timeout", timeout), Route("/file", file),
    ], lifespan=lifespan)


async def test_starlette(serve, tmp_path):
    server = await serve(starlette_app(tmp_path), lifespan="on", root_path="")
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.get("/")).text == "home"
        response = await client.post("/echo?a=1", content=b"x" * 5000)
        assert response.json() == {"len": 5000, "query": {"a": "1"}, "url": server.url + "/echo?a=1", "state": "yes"}
        assert (await client.get("/stream")).text == "".join(f"line {i}\n" for i in range(5))
        assert (await client.get("/timeout")).text == "cancelled=True"
        response = await client.get("/file")
        assert response.text == "static content\n" and response.headers["content-length"] == "15"
        assert (await client.get("/missing")).status_code == 404


async def test_starlette_behind_root_path(serve, tmp_path):
    # A proxy strips "/api" before forwarding; the app still builds URLs with it.
    server = await serve(starlette_app(tmp_path), lifespan="on", root_path="/api")
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.get("/")).text == "home"
        response = await client.post("/echo", content=b"")
        assert response.json()["url"] == server.url + "/api/echo"


class Item(BaseModel):
    name: str
    price: float


async def test_fastapi(serve):
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int, q: str | None = None):
        return {"item_id": item_id, "q": q}

    @app.post("/items")
    async def create_item(item: Item):
        return {"name": item.name, "total": item.price * 2}

    server = await serve(app, lifespan="on")
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.get("/items/7?q=x")).json() == {"item_id": 7, "q": "x"}
        assert (await client.post("/items", json={"name": "a", "price": 2.5})).json() == {"name": "a", "total": 5.0}
        response = await client.post("/items", json={"name": "a"})
        assert response.status_code == 422
        assert (await client.get("/docs")).status_code == 200
