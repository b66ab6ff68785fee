"""H1Protocol driven through a fake transport: flow control, deadlines, pipelining bounds."""

from __future__ import annotations

import asyncio
from typing import List

from pyre.protocol.h1.parsing import H1Limits
from pyre.transport import h1 as h1_module
from pyre.transport.context import ServerContext
from pyre.transport.h1 import H1Protocol


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: List[bytes] = []
        self.reading = True
        self.closed = False

    def get_extra_info(self, name, default=None):
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data) -> None:
        self.written.append(bytes(data))

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0

    @property
    def data(self) -> bytes:
        return b"".join(self.written)


def make(app, **kwargs):
    loop = asyncio.get_running_loop()
    ctx = ServerContext(app, loop, limits=H1Limits(), date_header=False, access_log=False, **kwargs)
    protocol = H1Protocol(ctx)
    transport = FakeTransport()
    protocol.connection_made(transport)
    return ctx, protocol, transport


async def settle(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def ok(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def test_body_backpressure_pauses_and_resumes_reading():
    gate = asyncio.Event()
    received = []

    async def app(scope, receive, send):
        await gate.wait()
        while True:
            message = await receive()
            received.append(len(message["body"]))
            if not message["more_body"]:
                break
        await ok(scope, receive, send)

    ctx, protocol, transport = make(app)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n")
    await settle()
    protocol.data_received(b"x" * 70000)
    assert transport.reading is False  # more than the high-water mark is buffered
    gate.set()
    await settle()
    assert transport.reading is True
    protocol.data_received(b"x" * 130000)
    await settle()
    assert sum(received) == 200000 and transport.data.endswith(b"ok")


async def test_pipelined_bytes_beyond_limit_pause_reading():
    gate = asyncio.Event()

    async def app(scope, receive, send):
        await gate.wait()
        await ok(scope, receive, send)

    ctx, protocol, transport = make(app)
    request = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
    protocol.data_received(request * (h1_module.PIPELINE_BUFFER_LIMIT // len(request) + 10))
    assert transport.reading is False
    assert len(ctx.tasks) == 1  # only the first request runs; the rest is not parsed ahead
    gate.set()
    expected = h1_module.PIPELINE_BUFFER_LIMIT // len(request) + 10
    for _ in range(expected * 4):
        if transport.data.count(b"HTTP/1.1 200 OK") == expected:
            break
        await asyncio.sleep(0)
    assert transport.data.count(b"HTTP/1.1 200 OK") == expected
    assert transport.reading is True


async def test_write_pause_blocks_send_until_resumed():
    progress = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(3):
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
            progress.append(i)
        await send({"type": "http.response.body", "body": b""})

    ctx, protocol, transport = make(app)
    protocol.pause_writing()
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    assert progress == []  # the first send wrote, then waited for the buffer to drain
    protocol.resume_writing()
    await settle()
    assert progress == [0, 1, 2]


async def test_deadlines_follow_the_phases():
    gate = asyncio.Event()

    async def app(scope, receive, send):
        await gate.wait()
        await ok(scope, receive, send)

    ctx, protocol, transport = make(app, timeout_keep_alive=5, timeout_request_header=30)
    loop = asyncio.get_running_loop()
    assert 4 < protocol.deadline - loop.time() <= 5  # a new connection must speak soon
    protocol.data_received(b"GET / HTTP/1.1\r\n")
    assert 29 < protocol.deadline - loop.time() <= 30  # header deadline from the first byte
    protocol.data_received(b"Host: t\r\n\r\n")
    assert protocol.deadline == 0.0  # no deadline while the request is in flight
    gate.set()
    await settle()
    assert 4 < protocol.deadline - loop.time() <= 5  # keep-alive after the response


async def test_timeouts_close_idle_and_answer_408_to_slow_heads():
    ctx, protocol, transport = make(ok)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost")
    protocol.on_timeout()
    assert transport.data.startswith(b"HTTP/1.1 408 ") and transport.closed
    ctx, protocol, transport = make(ok)
    protocol.on_timeout()
    assert transport.data == b"" and transport.closed


async def test_tick_sweeps_expired_connections():
    ctx, protocol, transport = make(ok)
    protocol.deadline = asyncio.get_running_loop().time() - 1
    ctx.tick()
    assert transport.closed


async def test_shutdown_closes_idle_and_finishes_busy():
    gate = asyncio.Event()

    async def app(scope, receive, send):
        await gate.wait()
        await ok(scope, receive, send)

    ctx, idle, idle_transport = make(app)
    busy = H1Protocol(ctx)
    busy_transport = FakeTransport()
    busy.connection_made(busy_transport)
    busy.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    ctx.shutting_down = True
    ctx.close_idle()
    assert idle_transport.closed and not busy_transport.closed
    gate.set()
    await settle()
    assert b"connection: close" in busy_transport.data and busy_transport.closed


async def test_thousands_of_pipelined_requests_answered_without_recursion():
    """Apps that finish synchronously (eager tasks) must not recurse per request."""
    ctx, protocol, transport = make(ok)
    request = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
    protocol.data_received(request * 3000)
    for _ in range(20000):
        if transport.data.count(b"HTTP/1.1 200 OK") == 3000:
            break
        await asyncio.sleep(0)
    assert transport.data.count(b"HTTP/1.1 200 OK") == 3000


async def test_request_body_applied_before_an_eager_app_runs():
    """A request and its whole body in one read: the app sees all of it, in order."""
    seen = []

    async def app(scope, receive, send):
        message = await receive()
        seen.append((message["body"], message["more_body"]))
        await ok(scope, receive, send)

    ctx, protocol, transport = make(app)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                           b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nde")
    await settle(20)
    assert seen == [(b"abc", False), (b"de", False)]
    assert transport.data.count(b"200 OK") == 2


async def test_chunks_sent_without_suspending_leave_in_one_write():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(10):
            await send({"type": "http.response.body", "body": b"chunk %d" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    ctx, protocol, transport = make(app)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    assert len(transport.written) == 1
    assert transport.data.endswith(b"7\r\nchunk 9\r\n0\r\n\r\n")


async def test_streaming_app_that_suspends_gets_each_chunk_out_before_it_waits():
    release = asyncio.Event()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await release.wait()
        await send({"type": "http.response.body", "body": b"second"})

    ctx, protocol, transport = make(app)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    assert transport.data.endswith(b"5\r\nfirst\r\n")  # flushed while the app waits
    release.set()
    await settle()
    assert transport.data.endswith(b"6\r\nsecond\r\n0\r\n\r\n")


async def test_large_bodies_are_not_held_back():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(4):
            await send({"type": "http.response.body", "body": b"x" * 40000, "more_body": True})
            assert protocol._out_size < 65536  # never more than the cork limit held back
        await send({"type": "http.response.body", "body": b""})

    ctx, protocol, transport = make(app)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle(10)
    assert transport.data.count(b"x") == 160000
