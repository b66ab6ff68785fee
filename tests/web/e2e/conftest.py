"""The same pyre.web app served end to end on three paths: Pyre's native path (HTTP/1.1 and
HTTP/2), Pyre's ASGI path (the same, with ``App(native=False)``) and uvicorn."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Callable, List

import httpx
import pytest

from pyre.web import App

SERVERS = ["pyre-http1", "pyre-http2", "pyre-http1-asgi", "pyre-http2-asgi", "uvicorn"]


class Served:
    """A running server: ``url``, an httpx client speaking the right protocol, and
    ``server`` (the Pyre or uvicorn server object)."""

    def __init__(self, kind: str, url: str, server: Any) -> None:
        self.kind = kind
        self.url = url
        self.ws_url = "ws" + url[len("http") :]
        self.server = server

    @property
    def native(self) -> bool:
        """Whether HTTP requests take Pyre's native path."""
        return self.kind.startswith("pyre") and self.server.context.native is not None

    @property
    def http2(self) -> bool:
        return self.kind.startswith("pyre-http2")

    async def stop(self) -> None:
        """Stop the server (graceful shutdown, lifespan included); set by the fixture."""

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        http2 = self.http2  # prior knowledge on http:// (h2c)
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


async def _start_pyre(app: Any, config: Any) -> "tuple[Any, asyncio.Task, str]":
    from pyre import Config, Server

    server = Server(Config(app, host="127.0.0.1", port=0, lifespan="on", log_level=None, **config))
    task = await _started(server, "pyre")
    return server, task, f"http://127.0.0.1:{server.bound_port}"


async def _start_uvicorn(app: Any, config: Any) -> "tuple[Any, asyncio.Task, str]":
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_level="warning", **config))
    task = await _started(server, "uvicorn")
    return server, task, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


class _Servers:
    """Starts servers of one kind; stops every one still running at the end."""

    def __init__(self, kind: str, web_path: str) -> None:
        self.kind = kind
        self.web_path = web_path
        self.running: List["tuple[Any, asyncio.Task]"] = []

    async def start(self, app: Any, **config: Any) -> Served:
        """Serve ``app``; ``config``: settings both servers' Config take (``root_path``)."""
        asgi = self.kind.endswith("-asgi")
        if asgi and isinstance(app, App):
            app.native = False  # the documented switch
        if self.kind == "uvicorn":
            server, task, url = await _start_uvicorn(app, config)
        else:
            server, task, url = await _start_pyre(app, config)
        self.running.append((server, task))
        served = Served(self.kind, url, server)
        served.stop = lambda: self._stop(server, task)  # type: ignore[method-assign]
        if isinstance(app, App) and self.kind != "uvicorn":  # the path the kind names is the one taken
            expected = not asgi and self.web_path == "native" and not app.middleware
            assert served.native == expected, self.kind
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
async def serve(request, web_path) -> AsyncIterator[Callable[..., Any]]:
    """``await serve(app, **config)`` -> :class:`Served`, under each server and path in turn;
    stopped at the end."""
    servers = _Servers(request.param, web_path)
    yield servers.start
    await servers.stop_all()


@pytest.fixture(params=["pyre-http1", "pyre-http2", "pyre-http1-asgi", "pyre-http2-asgi"])
async def serve_pyre(request, web_path) -> AsyncIterator[Callable[..., Any]]:
    """:func:`serve` for Pyre only (its own settings: the access log, metrics), on both paths."""
    servers = _Servers(request.param, web_path)
    yield servers.start
    await servers.stop_all()


@pytest.fixture(params=["pyre-http1", "pyre-http1-asgi", "uvicorn"])
async def serve_http1(request, web_path) -> AsyncIterator[Callable[..., Any]]:
    """:func:`serve` for HTTP/1.1 only (WebSocket and raw-socket clients here speak HTTP/1.1)."""
    servers = _Servers(request.param, web_path)
    yield servers.start
    await servers.stop_all()
