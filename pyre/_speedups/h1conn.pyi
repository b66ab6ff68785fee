"""Type stub for the Cython twin of the per-request path (``pyre.transport.h1.H1Protocol``,
``pyre.asgi.http.HTTPCycle``/``run_asgi``, ``pyre.asgi.scope.http_scope`` and
``pyre.protocol.h1.writer.encode_head``): same public interface as the pure modules."""

import asyncio
from typing import Awaitable, Any, Dict, Iterable, List, Optional, Sequence, Tuple

from pyre.asgi.http import ClientDisconnected as ClientDisconnected
from pyre.protocol.h1.writer import InvalidResponse as InvalidResponse
from pyre.protocol.h1.writer import encode_head as encode_head  # the compiled twin: the same signature and result
from pyre.transport.context import ServerContext
from pyre.transport.h1_common import H1Common

__all__ = ["H1Protocol", "encode_head"]

#: (Request fields read at their slot offsets, Body.data read at its slot offset):
#: whether the direct reads passed their import-time self-check.
FAST_EVENT_READS: Tuple[bool, bool]

class HTTPCycle:
    """``receive``/``send`` for one HTTP request (compiled twin; its stream must be
    this module's connection)."""

    scope: Dict[str, Any]
    stream: "_H1Base"
    state: int
    status: Any
    task: Optional[asyncio.Task]
    def __init__(self, scope: Dict[str, Any], stream: "_H1Base", body_complete: bool, expect_continue: bool) -> None: ...
    @property
    def response_started(self) -> bool: ...
    @property
    def response_complete(self) -> bool: ...
    @property
    def body_complete(self) -> bool: ...
    @property
    def disconnected(self) -> bool: ...
    def feed_body(self, data: bytes) -> None: ...
    def end_body(self) -> None: ...
    def disconnect(self) -> None: ...
    def input_closed(self) -> None: ...
    async def receive(self) -> Dict[str, Any]: ...
    def send(self, message: Dict[str, Any]) -> Awaitable[None]: ...
    def app_finished(self, exc: Optional[BaseException], result: Any = None) -> None: ...

class _H1Base:
    ctx: ServerContext
    loop: asyncio.AbstractEventLoop
    transport: Optional[asyncio.Transport]
    parser: Any
    info: Any
    cycle: Optional[HTTPCycle]
    deadline: float
    phase: int
    write_paused: bool
    def __init__(self, ctx: ServerContext) -> None: ...
    def connection_made(self, transport: asyncio.BaseTransport) -> None: ...
    def data_received(self, data: bytes) -> None: ...
    def start_response(self, status: int, headers: Any, trailers: bool) -> None: ...
    def send_body(self, data: bytes, more_body: bool) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def response_complete(self) -> None: ...

class H1Protocol(_H1Base, H1Common, asyncio.Protocol):
    """One HTTP/1.1 connection (compiled twin of ``pyre.transport.h1.H1Protocol``): its
    per-request path in C (``_H1Base``), the rest shared with the pure twin (``H1Common``)."""
