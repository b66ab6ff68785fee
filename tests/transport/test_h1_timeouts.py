"""--timeout-request-body and --timeout-send on H1Protocol, through a fake transport.

Every test runs against both twins of the connection (compiled "c", pure "py"). The
clock is the loop's: timeouts are a fraction of a second, the test sweeps with
``ctx.tick()`` as the server does, and only "not before the deadline" and "within the
deadline plus slack" are asserted.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, List

from pyre.asgi.http import ClientDisconnected
from pyre.transport.context import MIN_BODY_RATE, ServerContext
from tests.helpers import server_context
from tests.transport.test_h1_protocol import FakeTransport

SLACK = 3.0  # seconds past a deadline before a test gives up waiting for it


class BufferedTransport(FakeTransport):
    """A fake transport whose write buffer the test sets (``buffered`` bytes queued for
    the client; with ``full``, each write takes it past the high-water mark);
    ``abort()`` ends the connection as asyncio's do: ``connection_lost`` soon after."""

    def __init__(self) -> None:
        super().__init__()
        self.buffered = 0
        self.full = False
        self.aborted = False
        self.protocol: Any = None

    def write(self, data) -> None:
        super().write(data)
        if self.full:
            self.protocol.pause_writing()

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def abort(self) -> None:
        self.aborted = self.closed = True
        self.buffered = 0
        asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)


def make(twin, app, **timeouts):
    ctx = server_context(app, asyncio.get_running_loop(), date_header=False, access_log=False, **timeouts)
    protocol = twin.H1Protocol(ctx)
    transport = BufferedTransport()
    transport.protocol = protocol
    protocol.connection_made(transport)
    return ctx, protocol, transport


async def settle(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def sweep_until(ctx: ServerContext, done: Callable[[], bool], timeout: float, step: float = 0.02,
                      between: Callable[[], None] = lambda: None) -> bool:
    """Tick like the server until ``done()``; False if ``timeout`` passes first."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        between()
        await asyncio.sleep(step)
        ctx.tick()
        await settle()
        if done():
            return True
    return False


def reader_app(messages: List[dict]):
    """Reads the whole body (or until a disconnect), then answers 200 with its size."""

    async def app(scope, receive, send):
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] == "http.disconnect":
                return
            size += len(message["body"])
            if not message["more_body"]:
                break
        body = b"%d" % size
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    return app


POST = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"


# -- --timeout-request-body ---------------------------------------------------------------------


async def test_a_body_gap_disconnects_the_app_and_answers_408(twin):
    messages: List[dict] = []
    ctx, protocol, transport = make(twin, reader_app(messages), timeout_request_body=0.2)
    loop = asyncio.get_running_loop()
    before = loop.time()
    protocol.data_received(POST % 1000000 + b"x" * 10)
    await settle()
    assert messages[0]["body"] == b"x" * 10  # then the app waits for more
    assert await sweep_until(ctx, lambda: transport.closed, 0.2 + SLACK)
    assert loop.time() - before >= 0.2  # not before the deadline
    assert transport.data.startswith(b"HTTP/1.1 408 ") and b"connection: close\r\n" in transport.data
    assert messages[-1] == {"type": "http.disconnect"}
    await settle()
    assert not ctx.tasks


async def test_a_trickled_body_is_cut(twin):
    messages: List[dict] = []
    ctx, protocol, transport = make(twin, reader_app(messages), timeout_request_body=0.2)
    protocol.data_received(POST % 1000000)
    await settle()
    # One byte every 20 ms: each gap is far below the timeout, but 50 bytes/s is far
    # below MIN_BODY_RATE, so the clock runs out all the same.
    assert await sweep_until(ctx, lambda: transport.closed, 0.2 * MIN_BODY_RATE / (MIN_BODY_RATE - 50) + SLACK,
                             between=lambda: transport.closed or protocol.data_received(b"y"))
    assert transport.data.startswith(b"HTTP/1.1 408 ")
    assert len([m for m in messages if m.get("body")]) > 1 and messages[-1] == {"type": "http.disconnect"}


async def test_a_body_sent_faster_than_the_minimum_rate_is_cut_only_when_it_stops(twin):
    messages: List[dict] = []
    ctx, protocol, transport = make(twin, reader_app(messages), timeout_request_body=0.2)
    protocol.data_received(POST % 1000000)
    sent: List[bytes] = []

    def send_500_bytes():  # before every check (each byte worth 2 ms at MIN_BODY_RATE)
        sent.append(b"z" * 500)
        protocol.data_received(sent[-1])

    assert not await sweep_until(ctx, lambda: transport.closed, 0.6, between=send_500_bytes)  # three timeouts
    assert b"".join(m.get("body", b"") for m in messages) == b"".join(sent)
    # Then nothing more: cut within the timeout.
    assert await sweep_until(ctx, lambda: transport.closed, 0.2 + SLACK)
    assert transport.data.startswith(b"HTTP/1.1 408 ") and messages[-1] == {"type": "http.disconnect"}


async def test_no_body_timeout_while_the_app_is_busy_or_reading_is_paused(twin):
    release = asyncio.Event()
    messages: List[dict] = []
    read = reader_app(messages)

    async def app(scope, receive, send):
        await release.wait()  # busy, not reading
        await read(scope, receive, send)

    ctx, protocol, transport = make(twin, app, timeout_request_body=0.1)
    protocol.data_received(POST % 100000 + b"a" * 70000)
    assert transport.reading is False  # past the high-water mark: reading pauses
    assert not await sweep_until(ctx, lambda: transport.closed, 0.3)  # three timeouts: nothing
    assert transport.data == b""
    release.set()
    await settle()
    assert transport.reading is True and messages[0]["body"] == b"a" * 70000
    # Now the app waits for the rest, which does not come: cut.
    assert await sweep_until(ctx, lambda: transport.closed, 0.1 + SLACK)
    assert transport.data.startswith(b"HTTP/1.1 408 ") and messages[-1] == {"type": "http.disconnect"}


async def test_the_body_clock_stops_while_the_app_is_busy_between_reads(twin):
    release = asyncio.Event()
    got: List[Any] = []

    async def app(scope, receive, send):
        got.append(len((await receive())["body"]))  # waits for the first bytes
        await release.wait()  # then busy, far longer than the timeout
        while True:
            message = await receive()
            got.append(len(message["body"]) if message["type"] == "http.request" else message["type"])
            if message["type"] == "http.disconnect":
                return

    ctx, protocol, transport = make(twin, app, timeout_request_body=0.2)
    protocol.data_received(POST % 1000)
    await settle()
    protocol.data_received(b"c" * 10)
    assert not await sweep_until(ctx, lambda: transport.closed, 0.6)
    release.set()
    await settle()
    ctx.tick()  # the app waits again: the time it was busy did not count
    assert not transport.closed
    protocol.data_received(b"d" * 10)
    await settle()
    assert got == [10, 10]
    assert await sweep_until(ctx, lambda: transport.closed, 0.2 + SLACK)  # then nothing more: cut
    assert got == [10, 10, "http.disconnect"] and transport.data.startswith(b"HTTP/1.1 408 ")


async def test_a_body_timeout_after_the_response_started_only_closes(twin):
    messages: List[dict] = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"streaming", "more_body": True})
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] == "http.disconnect":
                return

    ctx, protocol, transport = make(twin, app, timeout_request_body=0.1)
    protocol.data_received(POST % 1000)
    await settle()
    assert await sweep_until(ctx, lambda: transport.closed, 0.1 + SLACK)
    assert b"408" not in transport.data and transport.data.startswith(b"HTTP/1.1 200 ")
    assert messages == [{"type": "http.disconnect"}]


# -- --timeout-send ----------------------------------------------------------------------------------


def streaming_app(outcome: List[str], chunks: int = 1000):
    """Streams ``chunks`` pieces of 64 KiB (as many as the path says, if it is a number)."""

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        count = int(scope["path"][1:]) if scope["path"][1:].isdigit() else chunks
        try:
            for _ in range(count):
                await send({"type": "http.response.body", "body": b"s" * 65536, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        except ClientDisconnected:
            outcome.append("ClientDisconnected")
            raise
        outcome.append("complete")

    return app


async def test_a_client_that_stops_reading_is_aborted_and_the_send_raises(twin):
    outcome: List[str] = []
    ctx, protocol, transport = make(twin, streaming_app(outcome), timeout_send=0.2)
    loop = asyncio.get_running_loop()
    protocol.data_received(b"GET /2 HTTP/1.1\r\nHost: t\r\n\r\n")  # fits the buffer: nothing watched
    await settle()
    assert outcome == ["complete"] and transport.data.endswith(b"0\r\n\r\n")
    assert 4 < protocol.deadline - loop.time() <= 5  # the keep-alive deadline, as before
    transport.buffered = 1 << 20  # queued for a client that reads nothing
    protocol.pause_writing()
    before = loop.time()
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    assert await sweep_until(ctx, lambda: transport.aborted, 0.2 + SLACK)
    assert loop.time() - before >= 0.2  # not before the deadline
    await settle()
    assert outcome == ["complete", "ClientDisconnected"]
    assert not ctx.tasks and not ctx.connections


async def test_write_progress_resets_the_send_timeout(twin):
    outcome: List[str] = []
    ctx, protocol, transport = make(twin, streaming_app(outcome), timeout_send=0.15)
    transport.buffered = 1 << 20
    transport.full = True
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    writes = len(transport.calls)

    def reads_a_little():
        transport.buffered -= 1000

    # The client reads a little before every check, for three timeouts: never cut.
    assert not await sweep_until(ctx, lambda: transport.aborted, 0.45, between=reads_a_little)
    assert len(transport.calls) == writes  # the app waited in send() all along
    protocol.resume_writing()  # the buffer is below the low-water mark: the app goes on
    await settle()
    assert len(transport.calls) == writes + 1  # and waits again (after one corked write)
    # Now the client stalls: cut after the timeout.
    assert await sweep_until(ctx, lambda: transport.aborted, 0.15 + SLACK)
    await settle()
    assert outcome == ["ClientDisconnected"]


async def test_a_closing_connection_whose_buffer_never_drains_is_aborted(twin):
    outcome: List[str] = []
    ctx, protocol, transport = make(twin, streaming_app(outcome, chunks=2), timeout_send=0.2)
    # What the client leaves unread when the response ends: set first, as the app may run
    # to its end inside data_received (an eager task, Python 3.12+).
    transport.buffered = 3800000
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    await settle()
    assert outcome == ["complete"] and transport.closed and not transport.aborted
    assert protocol in ctx.connections  # closing: the transport waits to flush
    assert await sweep_until(ctx, lambda: transport.aborted, 0.2 + SLACK)
    await settle()
    assert not ctx.connections


async def test_a_closing_connection_that_drains_slowly_is_aborted_only_when_it_stops(twin):
    ctx, protocol, transport = make(twin, streaming_app([], chunks=2), timeout_send=0.15)
    transport.buffered = 100000  # set first: see above
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    await settle()
    assert transport.closed

    def reads_a_little():
        transport.buffered -= 2000

    assert not await sweep_until(ctx, lambda: transport.aborted, 0.45, between=reads_a_little)
    assert await sweep_until(ctx, lambda: transport.aborted, 0.15 + SLACK)
