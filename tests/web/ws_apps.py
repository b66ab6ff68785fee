"""Small ASGI apps for the WebSocket tests: a minimal runner of ``pyre.web`` WebSocket
endpoints (``/name`` or ``/name/param``), without the App, and a chat room over Groups."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from pyre.web.errors import HTTPError
from pyre.web.websocket import (
    Groups,
    WebSocket,
    WebSocketListeners,
    WebSocketResource,
    run_websocket_endpoint,
    run_websocket_resource,
)


def ws_app(endpoints: Dict[str, Any], listeners: Optional[WebSocketListeners] = None, errors: Optional[list] = None):
    """An ASGI app serving ``endpoints[name]`` at ``/name`` and ``/name/{param}`` (the
    parameter named ``room``): a WebSocketResource instance or an ``async def f(ws, **params)``.
    An exception the runner re-raises is appended to ``errors`` (when given) and re-raised."""

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"{message['type']}.complete"})
                if kind == "shutdown":
                    return
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b"not found"})
            return
        _, name, *rest = scope["path"].split("/")
        endpoint = endpoints.get(name)
        if endpoint is None:
            await send({"type": "websocket.close"})
            return
        params = {"room": rest[0]} if rest else {}
        ws = WebSocket(scope, receive, send)
        ws.path_params = params
        try:
            if isinstance(endpoint, WebSocketResource):
                await run_websocket_resource(endpoint, ws, params, listeners)
            else:
                await run_websocket_endpoint(endpoint, ws, params, listeners)
        except Exception as exc:
            if errors is not None:
                errors.append(exc)
            raise

    return app


class Chat(WebSocketResource):
    """A chat room: JSON messages ``{"text": ...}``, broadcast to the room as
    ``{"room": ..., "user": ..., "text": ...}``; the user name is the ``user`` query
    parameter; ``v1.chat`` is the subprotocol it speaks. Records each disconnect."""

    receive = "json"
    subprotocols = ("v1.chat",)

    def __init__(self, groups: Groups) -> None:
        self.groups = groups
        self.disconnects: List[Tuple[str, int]] = []

    async def on_connect(self, ws: WebSocket, room: str) -> None:
        if ws.query.get("user") == "banned":
            raise HTTPError(403, "banned", {"x-reason": "banned"})
        await super().on_connect(ws)
        await self.groups.join(room, ws)
        await ws.send_json({"joined": room, "members": len(self.groups.members(room))})

    async def on_receive(self, ws: WebSocket, data: Any) -> None:
        if data.get("text") == "bye":
            await ws.close(4000, "bye")
            return
        room = ws.path_params["room"]
        await self.groups.broadcast(room, {"room": room, "user": ws.query.get("user"), "text": data["text"]})

    async def on_disconnect(self, ws: WebSocket, code: int) -> None:
        self.disconnects.append((ws.query.get("user", ""), code))
