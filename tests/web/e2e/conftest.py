"""The same pyre.web app served end to end by Pyre (HTTP/1.1 and HTTP/2) and by uvicorn."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Callable, List

import httpx
import pytest

SERVERS = ["pyre-http1", "pyre-http2", "uvicorn"]


class Served:
    """A running server: ``url`` and an httpx client speaking the right protocol."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        self.url = url
        self.ws_url = "ws" + url[len("http") :]

    async def stop(self) -> None:
        """Stop the server (graceful shutdown, lifespan included); set by the fixture."""

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        http2 = self.kind == "pyre-http2"  # prior knowledge on http:// (h2c)
        return httpx.AsyncClient(base_url=self.url, http1=not http2, http2=http2, timeout=10, **kwargs)


async def _started(server: Any, name: str) -> asyncio.Task:
    """Runs ``server.serve()`` until the server says it started."""
    task = asyncio.ensure_future(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise AssertionError(f"{name} did not start")
        await asyncio.sleep(0.005)
    return task


async def _start_pyre(app: Any) -> "tuple[Any, asyncio.Task, str]":
    from pyre import Config, Server

    server = Server(Config(app, host="127.0.0.1", port=0, lifespan="on", log_level=None))
    task = await _started(server, "pyre")
    return server, task, f"http://127.0.0.1:{server.bound_port}"


async def _start_uvicorn(app: Any) -> "tuple[Any, asyncio.Task, str]":
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_level="warning"))
    task = await _started(server, "uvicorn")
    return server, task, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


class _Servers:
    """Starts servers of one kind; stops every one still running at the end."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.running: List["tuple[Any, asyncio.Task]"] = []

    async def start(self, app: Any) -> Served:
        server, task, url = await (_start_uvicorn(app) if self.kind == "uvicorn" else _start_pyre(app))
        self.running.append((server, task))
        served = Served(self.kind, url)
        served.stop = lambda: self._stop(server, task)  # type: ignore[method-assign]
        return served

    async def _stop(self, server: Any, task: "asyncio.Task") -> None:
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), 10)
        except asyncio.TimeoutError:  # pragma: no cover - a hung shutdown is a failure
            server.force_exit = True
            await asyncio.wait_for(task, 5)
            raise AssertionError(f"{self.kind} did not shut down within 10 s")

    async def stop_all(self) -> None:
        for server, task in self.running:
            if not task.done():
                await self._stop(server, task)


@pytest.fixture(params=SERVERS)
async def serve(request) -> AsyncIterator[Callable[[Any], Any]]:
    """``await serve(app)`` -> :class:`Served`, under each server in turn; stopped at the end."""
    servers = _Servers(request.param)
    yield servers.start
    await servers.stop_all()


@pytest.fixture(params=["pyre-http1", "uvicorn"])
async def serve_http1(request) -> AsyncIterator[Callable[[Any], Any]]:
    """:func:`serve` for HTTP/1.1 only (WebSocket clients here speak HTTP/1.1)."""
    servers = _Servers(request.param)
    yield servers.start
    await servers.stop_all()
