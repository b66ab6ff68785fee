"""A fake ASGI server side for driving pyre.web responses in-process: scope, receive, send."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple


def http_scope(
    method: str = "GET",
    path: str = "/",
    headers: Iterable[Tuple[bytes, bytes]] = (),
    *,
    pathsend: bool = False,
    root_path: str = "",
    raw_path: Optional[bytes] = None,
    query_string: bytes = b"",
) -> Dict[str, Any]:
    extensions: Dict[str, Any] = {"http.response.trailers": {}}
    if pathsend:
        extensions["http.response.pathsend"] = {}
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "root_path": root_path,
        "path": path,
        "raw_path": path.encode("utf-8") if raw_path is None else raw_path,
        "query_string": query_string,
        "headers": list(headers),
        "extensions": extensions,
    }


class Client:
    """Records what the app sends; ``disconnect()`` makes ``receive`` report ``http.disconnect``
    and (with ``send_raises``) makes later sends raise ``OSError`` like Pyre's."""

    def __init__(
        self,
        *,
        fail_after: Optional[int] = None,
        on_send: Optional[Callable[[dict], None]] = None,
        body: bytes = b"",
    ) -> None:
        self.messages: List[Dict[str, Any]] = []
        self.request_body = body
        self.receives = 0
        self.fail_after = fail_after
        self.on_send = on_send
        self._gone = asyncio.Event()
        self._body_sent = False

    def disconnect(self) -> None:
        self._gone.set()

    async def receive(self) -> Dict[str, Any]:
        self.receives += 1
        if not self._body_sent:
            self._body_sent = True
            return {"type": "http.request", "body": self.request_body, "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Dict[str, Any]) -> None:
        if self._gone.is_set() or (self.fail_after is not None and len(self.messages) >= self.fail_after):
            raise ConnectionResetError("client disconnected")
        self.messages.append(message)
        if self.on_send is not None:
            self.on_send(message)

    # -- reading the response -------------------------------------------------------------

    @property
    def types(self) -> List[str]:
        return [message["type"] for message in self.messages]

    @property
    def status(self) -> int:
        return self.messages[0]["status"]

    @property
    def raw_headers(self) -> List[Tuple[bytes, bytes]]:
        return self.messages[0]["headers"]

    @property
    def headers(self) -> Dict[str, str]:
        """Lower-case names; a repeated header's values joined with ", " (set-cookie: use getlist)."""
        out: Dict[str, str] = {}
        for name, value in self.raw_headers:
            key = name.decode("latin-1")
            out[key] = out[key] + ", " + value.decode("latin-1") if key in out else value.decode("latin-1")
        return out

    def getlist(self, name: str) -> List[str]:
        return [v.decode("latin-1") for n, v in self.raw_headers if n == name.encode("latin-1")]

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages if m["type"] == "http.response.body")

    @property
    def complete(self) -> bool:
        last = self.messages[-1]
        return last["type"] == "http.response.pathsend" or (
            last["type"] == "http.response.body" and not last.get("more_body", False)
        )


async def run(app: Any, scope: Optional[Dict[str, Any]] = None, client: Optional[Client] = None) -> Client:
    client = client or Client()
    await app(scope or http_scope(), client.receive, client.send)
    return client
