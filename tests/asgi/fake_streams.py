"""Fake connections for the ASGI cycles: a ResponseStream and a WebSocketStream that
record every call, so a cycle's state machine is tested without any transport."""

from __future__ import annotations

import asyncio
from typing import Any, List, Optional, Tuple

from pyre.protocol.h1.writer import InvalidResponse


class Recorder:
    """``calls``: (method name, arguments) in order. ``write_paused`` makes the cycle
    wait in :meth:`drain` until :meth:`release` (or raise ``drain_error`` there)."""

    def __init__(self) -> None:
        self.calls: List[Tuple[Any, ...]] = []
        self.write_paused = False
        self.drain_error: Optional[BaseException] = None
        self._drained: Optional[asyncio.Future] = None

    def record(self, *call: Any) -> None:
        self.calls.append(call)

    def names(self) -> List[str]:
        return [call[0] for call in self.calls]

    async def drain(self) -> None:
        self.record("drain")
        self._drained = asyncio.get_running_loop().create_future()
        await self._drained
        if self.drain_error is not None:
            raise self.drain_error

    def release(self) -> None:
        """The client read: a waiting drain() returns."""
        self.write_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)


class FakeResponseStream(Recorder):
    """A :class:`~pyre.asgi.http.ResponseStream`; ``start_response`` refuses a status
    outside 100-999 (as the real ones raise InvalidResponse), ``send_file`` fails for a
    path in ``missing`` (as for a file that does not exist)."""

    def __init__(self) -> None:
        super().__init__()
        self.missing = {"/missing"}

    def start_response(self, status: int, headers: List[Any], trailers: bool) -> None:
        if not isinstance(status, int) or not 100 <= status <= 999:
            raise InvalidResponse(f"invalid status {status!r}")
        self.record("start_response", status, list(headers), trailers)

    def send_body(self, data: bytes, more_body: bool) -> None:
        self.record("send_body", data, more_body)

    def send_trailers(self, headers: List[Any]) -> None:
        self.record("send_trailers", list(headers))

    async def send_file(self, path: str) -> None:
        self.record("send_file", path)
        if path in self.missing:
            raise FileNotFoundError(path)  # nothing written: the cycle stays where it was

    def send_continue(self) -> None:
        self.record("send_continue")

    def waiting_for_body(self, waiting: bool) -> None:
        self.record("waiting_for_body", waiting)

    def pause_reading(self) -> None:
        self.record("pause_reading")

    def resume_reading(self) -> None:
        self.record("resume_reading")

    def response_complete(self) -> None:
        self.record("response_complete")

    def send_error_response(self, status: int) -> None:
        self.record("send_error_response", status)

    def abort(self) -> None:
        self.record("abort")


class FakeWebSocketStream(Recorder):
    """A :class:`~pyre.asgi.websocket.WebSocketStream`."""

    def accept(self, subprotocol: Optional[str], headers: List[Tuple[bytes, bytes]]) -> None:
        self.record("accept", subprotocol, headers)

    def send_message(self, data: Any) -> None:
        self.record("send_message", data)

    def close(self, code: int, reason: str) -> None:
        self.record("close", code, reason)

    def reject(self, status: int) -> None:
        self.record("reject", status)

    def deny_start(self, status: int, headers: List[Tuple[bytes, bytes]]) -> None:
        self.record("deny_start", status, headers)

    def deny_body(self, body: bytes, more_body: bool) -> None:
        self.record("deny_body", body, more_body)

    def abort(self) -> None:
        self.record("abort")

    def message_taken(self) -> None:
        self.record("message_taken")
