"""A small stand-in for ``pyre.web.websocket`` (written by another branch), with the
interface in notes/web-design.md "Wave 2 split": used by the app's websocket dispatch
tests only while the real module is missing (see the ``websocket_module`` fixture)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, Dict, Optional


class WebSocketDisconnect(Exception):
    def __init__(self, code: int = 1000) -> None:
        super().__init__(code)
        self.code = code


class WebSocket:
    def __init__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.app: Any = None
        self.path_params: Dict[str, Any] = {}
        self.state = SimpleNamespace()
        self.accepted = False
        self.closed = False

    @property
    def headers(self) -> Dict[str, str]:
        return {name.decode("latin-1"): value.decode("latin-1") for name, value in self.scope["headers"]}

    async def accept(self, subprotocol: Optional[str] = None, headers: Any = None) -> None:
        message = await self._receive()
        assert message["type"] == "websocket.connect", message
        await self._send({"type": "websocket.accept", "subprotocol": subprotocol, "headers": list(headers or [])})
        self.accepted = True

    async def receive_message(self) -> Dict[str, Any]:
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        return message

    async def receive_text(self) -> str:
        return (await self.receive_message())["text"]

    async def send_text(self, text: str) -> None:
        await self._send({"type": "websocket.send", "text": text})

    async def send_json(self, data: Any) -> None:
        await self.send_text(json.dumps(data))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if not self.closed:
            self.closed = True
            await self._send({"type": "websocket.close", "code": code, "reason": reason})

    async def deny(self, response: Any) -> None:
        self.closed = True
        await self._send({"type": "websocket.http.response.start", "status": response.status, "headers": response.raw_headers})
        await self._send({"type": "websocket.http.response.body", "body": response.body})


class WebSocketResource:
    receive = "text"

    async def on_connect(self, ws: WebSocket, **params: Any) -> None:
        await ws.accept()

    async def on_receive(self, ws: WebSocket, data: Any) -> None:
        return None

    async def on_disconnect(self, ws: WebSocket, code: int) -> None:
        return None


async def run_websocket_resource(resource: WebSocketResource, ws: WebSocket, params: Dict[str, Any], listeners: Any = None) -> None:
    code = 1000
    try:
        await resource.on_connect(ws, **params)
        if listeners is not None:
            await listeners.websocket_connect(ws)
        while True:
            try:
                message = await ws.receive_message()
            except WebSocketDisconnect as exc:
                code = exc.code
                break
            data: Any = message.get("text") if message.get("text") is not None else message.get("bytes")
            if resource.receive == "json":
                data = json.loads(data)
            if listeners is not None:
                await listeners.websocket_receive(ws, data)
            await resource.on_receive(ws, data)
    except Exception:
        await ws.close(1011)
        raise
    await resource.on_disconnect(ws, code)
    if listeners is not None:
        await listeners.websocket_disconnect(ws, code)
