"""A scope and a receive callable for driving ``pyre.web.Request`` without a server."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, Iterable, List, Optional, Tuple


def make_scope(
    method: str = "GET",
    path: str = "/",
    query: bytes = b"",
    headers: Optional[Iterable[Tuple[bytes, bytes]]] = None,
    **extra: Any,
) -> Dict[str, Any]:
    scope: Dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("10.0.0.7", 50123),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path.encode("utf-8"),
        "query_string": query,
        "headers": list(headers or []),
    }
    scope.update(extra)
    return scope


class Receiver:
    """``receive`` giving the body in ``chunks`` (then blocking forever, as a server
    does until the client goes away), or ``http.disconnect`` after them when
    ``disconnect`` is set. Counts its calls."""

    def __init__(self, chunks: Iterable[bytes] = (b"",), disconnect: bool = False) -> None:
        chunks = list(chunks) or [b""]
        self.messages: List[Dict[str, Any]] = [
            {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
            for index, chunk in enumerate(chunks)
        ]
        if disconnect:
            self.messages[-1]["more_body"] = True
            self.messages.append({"type": "http.disconnect"})
        self.calls = 0

    async def __call__(self) -> Dict[str, Any]:
        self.calls += 1
        if self.messages:
            return self.messages.pop(0)
        await asyncio.Event().wait()  # nothing more: wait like a server would
        raise AssertionError("unreachable")


def split(data: bytes, cuts: Iterable[int]) -> List[bytes]:
    """``data`` cut at the given offsets (taken modulo its length, sorted)."""
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    return [data[start:end] for start, end in zip(points, points[1:])] or [b""]
