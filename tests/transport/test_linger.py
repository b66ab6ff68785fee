"""The lingering close of an HTTP/1.1 connection (pyre.transport.linger), through a
fake transport, for both twins of the connection."""

from __future__ import annotations

import asyncio
from typing import Any, List

import pytest

from pyre.transport import linger
from pyre.transport.context import SHUTDOWN_GRACE
from pyre.transport.linger import Linger
from tests.apps import echo
from tests.transport.test_h1_timeouts import SLACK, BufferedTransport, make, settle, sweep_until


HEAD_OVER_LIMIT = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000\r\n\r\n"


class HalfClosingTransport(BufferedTransport):
    """A fake transport that can be handed to another protocol and half-closed (``tls``:
    it cannot, as asyncio's TLS transports)."""

    def __init__(self, tls: bool = False) -> None:
        super().__init__()
        self.tls = tls
        self.eof_written = False
        self.events: List[str] = []

    def write(self, data) -> None:
        super().write(data)
        self.events.append("write")

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def get_protocol(self) -> Any:
        return self.protocol

    def can_write_eof(self) -> bool:
        return not self.tls

    def write_eof(self) -> None:
        self.eof_written = True
        self.events.append("eof")

    def close(self) -> None:
        super().close()
        self.events.append("close")


def start(twin, transport: HalfClosingTransport, app: Any = echo, **settings: Any):
    ctx, protocol, _ = make(twin, app, limit_request_body=1000, **settings)
    transport.protocol = protocol
    protocol.connection_made(transport)
    return ctx, protocol


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
async def test_a_413_with_the_body_still_coming_lingers_instead_of_closing(twin, tls):
    transport = HalfClosingTransport(tls)
    ctx, protocol = start(twin, transport)
    transport.pause_reading()  # as a connection that had paused reading
    protocol.data_received(HEAD_OVER_LIMIT)
    await settle()
    assert b" 413 " in b"".join(transport.written).split(b"\r\n", 1)[0]
    assert isinstance(transport.protocol, Linger) and transport.reading and not transport.closed
    assert ctx.connections == {transport.protocol}  # the H1 connection left the set
    # FIN after the response where the transport can send one: not over TLS.
    assert transport.events == (["write"] if tls else ["write", "eof"])
    transport.protocol.data_received(b"x" * 65536)  # discarded
    assert transport.protocol.eof_received() is True and transport.closed
    transport.protocol.connection_lost(None)
    assert not ctx.connections


async def test_a_chunked_body_left_unread_lingers(twin):
    async def answer_at_once(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    transport = HalfClosingTransport()
    ctx, protocol = start(twin, transport, answer_at_once)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n" + b"x" * 16)
    assert await sweep_until(ctx, lambda: isinstance(transport.protocol, Linger), SLACK)
    assert transport.eof_written and not transport.closed


async def test_a_complete_request_closes_without_lingering(twin):
    transport = HalfClosingTransport()
    ctx, protocol = start(twin, transport)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi")
    assert await sweep_until(ctx, lambda: transport.closed, SLACK)
    assert transport.protocol is protocol and not transport.eof_written


async def test_a_head_deadline_408_does_not_linger(twin):
    transport = HalfClosingTransport()
    ctx, protocol = start(twin, transport, timeout_request_header=0.1)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n")
    assert await sweep_until(ctx, lambda: transport.closed, SLACK)
    assert b" 408 " in transport.written[0] and transport.protocol is protocol


async def test_the_linger_ends_after_a_quiet_gap_and_at_the_header_deadline(twin, monkeypatch):
    monkeypatch.setattr(linger, "LINGER_GAP", 0.1)
    transport = HalfClosingTransport()
    ctx, protocol = start(twin, transport)
    protocol.data_received(HEAD_OVER_LIMIT)
    assert await sweep_until(ctx, lambda: transport.closed, SLACK)  # nothing more came

    transport = HalfClosingTransport()
    ctx, protocol = start(twin, transport, timeout_request_header=0.3)
    protocol.data_received(HEAD_OVER_LIMIT)
    lingering = transport.protocol
    # Data every 20 ms keeps the gap open; the deadline ends it all the same.
    assert await sweep_until(ctx, lambda: transport.closed, SLACK, between=lambda: lingering.data_received(b"x"))


async def test_a_shutdown_shortens_the_linger_to_the_grace(twin):
    transport = HalfClosingTransport()
    ctx, protocol = start(twin, transport)
    protocol.data_received(HEAD_OVER_LIMIT)
    lingering = transport.protocol
    now = asyncio.get_running_loop().time()
    assert lingering.deadline > now + SHUTDOWN_GRACE  # the 5 s gap
    lingering.shutdown()
    assert lingering.deadline <= now + SHUTDOWN_GRACE + 0.1


async def test_output_the_client_never_reads_is_aborted_after_the_send_timeout(twin):
    transport = HalfClosingTransport()
    ctx, protocol = start(twin, transport, timeout_send=0.2)
    protocol.data_received(HEAD_OVER_LIMIT)
    lingering = transport.protocol
    transport.buffered = 100_000  # the 413 (and more) still queued: the client reads nothing
    assert lingering.eof_received() is True and transport.closed and not transport.aborted
    assert await sweep_until(ctx, lambda: transport.aborted, SLACK)
    await settle()
    assert not ctx.connections
