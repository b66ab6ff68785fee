"""Driving a pyre.web App in process: one request, the lifespan protocol, a WebSocket
handshake, all over plain ASGI messages (no server, no httpx)."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, Iterable, List, Optional, Tuple

from tests.web.fake_asgi import Client, http_scope


async def call(
    app: Any,
    method: str = "GET",
    path: str = "/",
    *,
    headers: Iterable[Tuple[bytes, bytes]] = (),
    body: bytes = b"",
    query: bytes = b"",
    root_path: str = "",
    client: Optional[Client] = None,
    **scope_extra: Any,
) -> Client:
    """One request to ``app``; the Client holds what it sent. ``path`` is the path below
    ``root_path`` (the scope's path gets both, as servers send it)."""
    scope = http_scope(method, root_path + path, headers, root_path=root_path, query_string=query)
    scope.update(scope_extra)
    client = client or Client(body=body)
    await app(scope, client.receive, client.send)
    return client


class Lifespan:
    """Runs the lifespan scope: ``await lifespan.startup()`` -> the message the app sent,
    ``await lifespan.shutdown()`` -> the same."""

    def __init__(self, app: Any, state: Optional[Dict[str, Any]] = None) -> None:
        self.app = app
        self.state = {} if state is None else state
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.task: Optional[asyncio.Task] = None

    async def _receive(self) -> Dict[str, Any]:
        return await self.inbox.get()

    async def _send(self, message: Dict[str, Any]) -> None:
        await self.outbox.put(message)

    async def startup(self) -> Dict[str, Any]:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        self.task = asyncio.ensure_future(self.app(scope, self._receive, self._send))
        await self.inbox.put({"type": "lifespan.startup"})
        return await asyncio.wait_for(self.outbox.get(), 5)

    async def shutdown(self) -> Dict[str, Any]:
        await self.inbox.put({"type": "lifespan.shutdown"})
        message = await asyncio.wait_for(self.outbox.get(), 5)
        assert self.task is not None
        await asyncio.wait_for(self.task, 5)
        return message


class WebSocketPeer:
    """The server side of one WebSocket scope, in process: queue client messages with
    ``put``, read what the app sent from ``sent``."""

    def __init__(self, path: str, *, denial: bool = True, root_path: str = "") -> None:
        self.scope: Dict[str, Any] = {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": "ws",
            "path": root_path + path,
            "raw_path": (root_path + path).encode(),
            "root_path": root_path,
            "query_string": b"",
            "headers": [(b"host", b"test")],
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 80),
            "subprotocols": [],
            "extensions": {"websocket.http.response": {}} if denial else {},
        }
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.sent: List[Dict[str, Any]] = []

    async def receive(self) -> Dict[str, Any]:
        return await self.inbox.get()

    async def send(self, message: Dict[str, Any]) -> None:
        self.sent.append(message)

    def put(self, message: Dict[str, Any]) -> None:
        self.inbox.put_nowait(message)

    async def run(self, app: Any, *messages: Dict[str, Any]) -> List[Dict[str, Any]]:
        """Connect, send ``messages``, disconnect; what the app sent."""
        self.put({"type": "websocket.connect"})
        for message in messages:
            self.put(message)
        self.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(app(self.scope, self.receive, self.send), 5)
        return self.sent
