"""H1Protocol driven through a fake transport: flow control, deadlines, pipelining bounds.

Every test runs against both twins of the connection (``pyre.transport._h1_c``, id
"c", and the pure ``pyre.transport.h1``, id "py"), whatever PYRE_NO_EXTENSIONS says.
"""

from __future__ import annotations

import asyncio
import copy
import socket
from typing import List

import pytest

from pyre.transport import h1 as h1_module
from pyre.transport import h1_common
from pyre.transport.h1_common import CORK_LIMIT, bounded_writelines, unpaused_writelines
from pyre.transport.proxy_protocol import ProxiedTransport
from tests.helpers import h1conn_twin, server_context



@pytest.fixture(params=["c", "py"], autouse=True)
def twin(request):
    """The module whose ``H1Protocol`` the test drives (``make`` uses it)."""
    module = h1conn_twin(request.param)
    global H1Protocol
    H1Protocol = module.H1Protocol
    return module


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: List[bytes] = []
        self.calls: List[int] = []  # bytes per write() or writelines() call (one syscall each)
        self.on_write = None  # called after each call, e.g. to pause the protocol like a full socket
        self._batch = False
        self.reading = True
        self.closed = False

    def get_extra_info(self, name, default=None):
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data) -> None:
        self.written.append(bytes(data))
        if not self._batch:
            self._called(len(data))

    def writelines(self, lines) -> None:
        self._batch = True  # one call (one writev): subclasses still see each line's write()
        try:
            for line in lines:
                self.write(line)
        finally:
            self._batch = False
        self._called(sum(map(len, lines)))

    def _called(self, size: int) -> None:
        self.calls.append(size)
        if self.on_write is not None:
            self.on_write()

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


def make(app, transport=None, **kwargs):
    loop = asyncio.get_running_loop()
    ctx = server_context(app, loop, date_header=False, access_log=False, **kwargs)
    protocol = H1Protocol(ctx)
    transport = FakeTransport() if transport is None else transport
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


async def test_shutdown_answers_the_request_in_flight_with_connection_close():
    gate = asyncio.Event()

    async def app(scope, receive, send):
        await gate.wait()
        await ok(scope, receive, send)

    ctx, busy, transport = make(app)
    busy.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    ctx.shutting_down = True
    ctx.close_idle()
    assert not transport.closed
    gate.set()
    await settle()
    assert b"connection: close" in transport.data and transport.closed


async def test_shutdown_keeps_a_just_used_connection_for_the_grace_and_answers_its_next_request():
    # The client got its response a moment ago and may be sending the next request
    # right now: closing under it would reset the connection and lose that request.
    ctx, idle, transport = make(ok, timeout_keep_alive=5)
    loop = asyncio.get_running_loop()
    idle.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    assert b"200 OK" in transport.data and b"connection: close" not in transport.data
    ctx.shutting_down = True
    ctx.close_idle()
    ctx.tick()
    assert not transport.closed
    assert loop.time() < idle.deadline <= loop.time() + h1_module.SHUTDOWN_GRACE  # grace, not keep-alive
    idle.data_received(b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    assert transport.data.count(b"200 OK") == 2 and transport.data.endswith(b"connection: close\r\n\r\nok")
    assert transport.closed


async def test_shutdown_closes_a_connection_idle_for_longer_than_the_grace_at_once():
    ctx, idle, transport = make(ok, timeout_keep_alive=5)
    idle.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    idle.deadline -= 2 * h1_module.SHUTDOWN_GRACE  # its response ended that long ago
    ctx.shutting_down = True
    ctx.close_idle()
    assert transport.closed and transport.data.count(b"200 OK") == 1


async def test_shutdown_never_extends_the_keep_alive_deadline():
    ctx, idle, transport = make(ok, timeout_keep_alive=0.2)
    loop = asyncio.get_running_loop()
    idle.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    before = idle.deadline
    ctx.shutting_down = True
    ctx.close_idle()
    assert idle.deadline == before and not transport.closed
    idle.deadline = loop.time() - 0.01
    ctx.tick()
    assert transport.closed


async def test_idle_connection_closes_at_the_end_of_the_grace():
    ctx, idle, transport = make(ok, timeout_keep_alive=5)
    idle.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    ctx.shutting_down = True
    ctx.close_idle()
    ctx.tick()
    assert not transport.closed
    await asyncio.sleep(h1_module.SHUTDOWN_GRACE + 0.05)
    ctx.tick()
    assert transport.closed and transport.data.count(b"200 OK") == 1


async def test_shutdown_lets_a_request_head_that_is_arriving_complete():
    ctx, conn, transport = make(ok)
    loop = asyncio.get_running_loop()
    conn.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    conn.data_received(b"GET /next HTTP/1.1\r\nHo")
    ctx.shutting_down = True
    ctx.close_idle()
    assert not transport.closed and conn.deadline <= loop.time() + h1_module.SHUTDOWN_GRACE
    conn.data_received(b"st: t\r\n\r\n")
    await settle()
    assert transport.data.count(b"200 OK") == 2 and transport.data.endswith(b"connection: close\r\n\r\nok")
    assert transport.closed


async def test_a_keep_alive_response_that_ends_after_shutdown_began_keeps_its_promise():
    # The head said keep-alive before the shutdown: the client may send its next request
    # as soon as the body ends, so the connection waits for the grace instead of closing.
    gate = asyncio.Event()

    async def stream(scope, receive, send):
        if scope["path"] != "/":
            return await ok(scope, receive, send)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await gate.wait()
        await send({"type": "http.response.body", "body": b"b"})

    ctx, conn, transport = make(stream)
    loop = asyncio.get_running_loop()
    conn.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    ctx.shutting_down = True
    ctx.close_idle()
    gate.set()
    await settle()
    assert transport.data.endswith(b"0\r\n\r\n") and b"connection: close" not in transport.data
    assert not transport.closed and conn.deadline <= loop.time() + h1_module.SHUTDOWN_GRACE
    conn.data_received(b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    assert transport.data.endswith(b"connection: close\r\n\r\nok") and transport.closed


async def test_shutdown_finishes_discarding_an_unread_body_before_the_connection_goes():
    # Closing with unread bytes would reset the connection, and the response with it.
    ctx, conn, transport = make(ok)
    loop = asyncio.get_running_loop()
    conn.data_received(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12345")
    await settle()
    assert b"200 OK" in transport.data and conn.phase == h1_module.DRAIN
    ctx.shutting_down = True
    ctx.close_idle()
    assert not transport.closed and conn.deadline <= loop.time() + h1_module.SHUTDOWN_GRACE
    conn.data_received(b"67890")
    assert conn.phase == h1_module.IDLE and not transport.closed
    assert conn.deadline <= loop.time() + h1_module.SHUTDOWN_GRACE


async def test_a_connection_made_during_shutdown_gets_the_grace_and_a_closing_answer():
    # Taken from a listener's queue as it closes, or handed over after a PROXY header.
    loop = asyncio.get_running_loop()
    ctx = server_context(ok, loop, date_header=False, access_log=False, timeout_keep_alive=5)
    ctx.shutting_down = True
    late = H1Protocol(ctx)
    transport = FakeTransport()
    late.connection_made(transport)
    assert loop.time() < late.deadline <= loop.time() + h1_module.SHUTDOWN_GRACE and not transport.closed
    late.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    assert transport.data.endswith(b"connection: close\r\n\r\nok") and transport.closed


async def test_shutdown_gives_a_new_connection_a_moment_for_its_first_request():
    # Accepted just before the shutdown, its request on the way: not closed unanswered.
    ctx, fresh, transport = make(ok)
    loop = asyncio.get_running_loop()
    ctx.shutting_down = True
    ctx.close_idle()
    assert not transport.closed and fresh.deadline <= loop.time() + 1.0
    fresh.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    assert b"200 OK" in transport.data and b"connection: close" in transport.data and transport.closed
    ctx, silent, transport = make(ok)  # one that sends nothing is closed at that deadline
    ctx.shutting_down = True
    ctx.close_idle()
    silent.deadline = loop.time() - 1
    ctx.tick()
    assert transport.closed and transport.data == b""


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
            await send({"type": "http.response.body", "body": b"x" * (CORK_LIMIT // 3), "more_body": True})
            assert protocol._out_size < CORK_LIMIT  # never more than the cork limit held back
        await send({"type": "http.response.body", "body": b""})

    ctx, protocol, transport = make(app)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle(10)
    assert transport.data.count(b"x") == 4 * (CORK_LIMIT // 3)


CHUNK_64K = b"x" * 65536


def _download_app(count: int, progress: List[int]):
    """Streams ``count`` 64 KiB messages with a content-length, never suspending itself."""
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(count * len(CHUNK_64K)).encode())]})
        for i in range(count):
            await send({"type": "http.response.body", "body": CHUNK_64K, "more_body": i < count - 1})
            progress.append(i)
    return app


PER_WRITE = CORK_LIMIT // len(CHUNK_64K)  # 64 KiB messages in one corked write


async def test_64k_messages_sent_without_suspending_leave_half_a_megabyte_per_write():
    # One write per 64 KiB message costs the kernel twice as much per byte on loopback
    # (a full segment and a 53-byte tail each); corked, they leave eight to a writev.
    assert PER_WRITE == 8
    progress: List[int] = []
    ctx, protocol, transport = make(_download_app(32, progress))
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle(10)
    assert progress == list(range(32))
    assert transport.data.count(b"x") == 32 * 65536
    head = transport.data.index(b"\r\n\r\n") + 4
    assert transport.calls == [head + PER_WRITE * 65536] + [PER_WRITE * 65536] * 3


async def test_a_slow_reader_stops_a_corked_stream_at_once():
    # The socket is full after the first write: the app waits at its next send and the
    # connection holds none of its messages (memory stays bounded however large the body).
    progress: List[int] = []
    ctx, protocol, transport = make(_download_app(16, progress))
    transport.on_write = protocol.pause_writing
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle(10)
    # The eighth message filled the cork, was written, and its send waits.
    assert progress == list(range(PER_WRITE - 1))
    assert protocol._out_size == 0
    written = len(transport.data)
    assert transport.data.count(b"x") == PER_WRITE * 65536
    await settle(10)
    assert progress == list(range(PER_WRITE - 1)) and len(transport.data) == written
    transport.on_write = None
    protocol.resume_writing()
    await settle(10)
    assert progress == list(range(16))
    assert transport.data.count(b"x") == 16 * 65536


LOOPBACK_MSS = 65483  # loopback's TCP segment size with timestamps (MTU 65,536)


class SegmentedTransport(FakeTransport):
    """A transport whose socket reports a TCP segment size, as a TCP socket on loopback does."""

    class _Socket:
        def getsockopt(self, level, option):
            assert (level, option) == (socket.IPPROTO_TCP, socket.TCP_MAXSEG)
            return LOOPBACK_MSS

    def get_extra_info(self, name, default=None):
        return self._Socket() if name == "socket" else super().get_extra_info(name, default)


async def test_a_full_cork_leaves_in_whole_segments_and_keeps_the_tail():
    # Under TCP_NODELAY a write that ends inside a segment sends that end as a short segment
    # of its own: a full cork leaves whole segments, and the rest waits for the next write.
    progress: List[int] = []
    ctx, protocol, transport = make(_download_app(32, progress), SegmentedTransport())
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle(10)
    assert progress == list(range(32))
    head = transport.data.index(b"\r\n\r\n") + 4
    assert transport.data[head:] == CHUNK_64K * 32  # every byte, in order
    assert sum(transport.calls) == head + 32 * 65536
    # Three full corks of eight segments each; the last message ends the response, which
    # leaves with the tails in one write.
    assert transport.calls[:-1] == [8 * LOOPBACK_MSS] * 3 and len(transport.calls) == 4


async def test_the_tail_of_a_full_cork_leaves_when_the_app_suspends():
    gate = asyncio.Event()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"%d" % (9 * 65536))]})
        for _ in range(PER_WRITE):
            await send({"type": "http.response.body", "body": CHUNK_64K, "more_body": True})
        await gate.wait()  # suspended: what was sent must be on the wire, the tail too
        await send({"type": "http.response.body", "body": CHUNK_64K})

    ctx, protocol, transport = make(app, SegmentedTransport())
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle(10)
    head = transport.data.index(b"\r\n\r\n") + 4
    assert len(transport.data) == head + PER_WRITE * 65536 and protocol._out_size == 0
    assert transport.calls[0] % LOOPBACK_MSS == 0 and len(transport.calls) == 2
    gate.set()
    await settle(10)
    assert transport.data[head:] == CHUNK_64K * 9


class UnpausedWritelinesTransport(FakeTransport):
    """asyncio's selector transport on CPython 3.12.0-3.12.8 and 3.13.0-3.13.1 (gh-127655):
    ``write`` pauses the protocol when the socket is full, ``writelines`` never does."""

    def writelines(self, lines) -> None:
        on_write, self.on_write = self.on_write, None
        try:
            super().writelines(lines)
        finally:
            self.on_write = on_write


async def test_a_slow_reader_stops_a_corked_stream_where_writelines_skips_flow_control(monkeypatch):
    # Past JOIN_LIMIT the corked output leaves in one writelines(); where the interpreter's
    # writelines never pauses the protocol, it leaves in one joined write() instead, so the
    # app still waits for a client that does not read (else memory grows without bound).
    monkeypatch.setattr(h1_common, "_UNPAUSED_WRITELINES", UnpausedWritelinesTransport.writelines)
    progress: List[int] = []
    transport = UnpausedWritelinesTransport()
    ctx, protocol, transport = make(_download_app(16, progress), transport)
    transport.on_write = protocol.pause_writing
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle(10)
    assert progress == list(range(PER_WRITE - 1))
    assert transport.data.count(b"x") == PER_WRITE * 65536
    transport.on_write = None
    protocol.resume_writing()
    await settle(10)
    assert progress == list(range(16))
    head = transport.data.index(b"\r\n\r\n") + 4
    assert transport.calls == [head + PER_WRITE * 65536, PER_WRITE * 65536]  # still one call each


@pytest.mark.parametrize(
    "version, affected",
    [((3, 11, 7), False), ((3, 12, 0), True), ((3, 12, 8), True), ((3, 12, 9), False),
     ((3, 13, 0), True), ((3, 13, 1), True), ((3, 13, 2), False), ((3, 14, 0), False)],
)
def test_the_interpreters_whose_selector_writelines_skips_flow_control(version, affected):
    from asyncio import selector_events

    expected = selector_events._SelectorSocketTransport.writelines if affected else None
    assert unpaused_writelines(version + ("final", 0)) is expected


async def test_bounded_writelines_sees_through_a_proxied_transport(monkeypatch):
    monkeypatch.setattr(h1_common, "_UNPAUSED_WRITELINES", UnpausedWritelinesTransport.writelines)
    healthy, leaky = FakeTransport(), UnpausedWritelinesTransport()
    assert bounded_writelines(healthy) == healthy.writelines
    for transport in (leaky, ProxiedTransport(leaky, ("10.0.0.1", 1), ("10.0.0.2", 2))):
        bounded_writelines(transport)([b"ab", b"cd"])
    assert leaky.written == [b"abcd", b"abcd"] and leaky.calls == [4, 4]


# -- the application's view: a real task, fresh scopes, same scope as http_scope -------------------


async def test_app_runs_in_its_own_task_with_its_own_context_from_the_first_line():
    import contextvars

    var = contextvars.ContextVar("var", default="unset")
    seen = []

    async def app(scope, receive, send):
        task = asyncio.current_task()
        seen.append((task is not None, var.get()))
        var.set(scope["path"])
        async with asyncio.timeout(5):  # needs the current task before any suspension
            assert asyncio.iscoroutine(receive_coro := receive())
            message = await receive_coro
        assert message == {"type": "http.request", "body": b"", "more_body": False}
        await ok(scope, receive, send)

    ctx, protocol, transport = make(app)
    protocol.data_received(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle(10)
    protocol.data_received(b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle(10)
    assert seen == [(True, "unset"), (True, "unset")]
    assert transport.data.count(b"200 OK") == 2 and not ctx.tasks


async def test_send_returns_an_awaitable_that_asyncio_helpers_accept():
    """send() may return any awaitable (ASGI: "an awaitable callable"); gather,
    wait_for and ensure_future must work with it, and misuse raises at the await."""
    errors = []

    async def app(scope, receive, send):
        await asyncio.gather(send({"type": "http.response.start", "status": 200, "headers": []}))
        await asyncio.wait_for(send({"type": "http.response.body", "body": b"a", "more_body": True}), 1)
        await asyncio.ensure_future(send({"type": "http.response.body", "body": b"b"}))
        try:
            await send({"type": "http.response.body", "body": b"late"})
        except RuntimeError as exc:
            errors.append(str(exc))

    ctx, protocol, transport = make(app)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle(10)
    assert transport.data.endswith(b"1\r\na\r\n1\r\nb\r\n0\r\n\r\n")
    assert errors and "after response already completed" in errors[0]
    assert not ctx.tasks


@pytest.mark.parametrize("root_path", ["", "/root"])
@pytest.mark.parametrize("state", [None, {"db": "x"}])
async def test_scope_is_what_http_scope_builds(root_path, state):
    from pyre.asgi.scope import ConnectionInfo, http_scope

    scopes = []

    async def app(scope, receive, send):
        scopes.append(scope)
        await ok(scope, receive, send)

    ctx, protocol, transport = make(app, root_path=root_path, lifespan_state=state)
    protocol.data_received(b"GET /caf%C3%A9/x%2Fy?q=1&r=%20 HTTP/1.1\r\nHost: t\r\nX-A: b\r\n\r\n"
                           b"POST /p HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
    await settle(10)
    info = ConnectionInfo(("127.0.0.1", 8000), ("127.0.0.1", 50000), "http", root_path)
    expected = [
        http_scope(info, "GET", b"/caf%C3%A9/x%2Fy", b"q=1&r=%20", "1.1", [(b"host", b"t"), (b"x-a", b"b")], state),
        http_scope(info, "POST", b"/p", b"", "1.0", [(b"content-length", b"0")], state),
    ]
    assert [list(s.items()) for s in scopes] == [list(s.items()) for s in expected]  # same keys, same order


class _FakeSSLObject:
    """What ``tls_scope_info`` reads from a transport's ``ssl_object``."""

    def __init__(self) -> None:
        import ssl

        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)

    def cipher(self):
        return ("TLS_AES_128_GCM_SHA256", "TLSv1.3", 128)

    def version(self):
        return "TLSv1.3"

    def getpeercert(self, binary_form=False):
        return None


class FakeTLSTransport(FakeTransport):
    def __init__(self) -> None:
        super().__init__()
        self.ssl_object = _FakeSSLObject()

    def get_extra_info(self, name, default=None):
        if name == "sslcontext":
            return self.ssl_object.context
        if name == "ssl_object":
            return self.ssl_object
        return super().get_extra_info(name, default)


async def test_tls_scope_is_what_http_scope_builds():
    """Over TLS both twins add the same ``tls`` extension, a fresh copy per request."""
    from pyre.asgi.scope import ConnectionInfo, http_scope
    from pyre.tls import tls_scope_info

    scopes = []

    async def app(scope, receive, send):
        scopes.append(copy.deepcopy(scope))
        scope["extensions"]["tls"]["client_cert_chain"].append("mutated")
        scope["extensions"]["tls"]["cipher_suite"] = None
        await ok(scope, receive, send)

    ctx = server_context(app, asyncio.get_running_loop(), date_header=False, access_log=False)
    protocol = H1Protocol(ctx)
    transport = FakeTLSTransport()
    protocol.connection_made(transport)
    for _ in range(2):
        protocol.data_received(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
        await settle()
    tls = tls_scope_info(transport)
    assert tls == {"server_cert": None, "client_cert_chain": [], "client_cert_name": None,
                   "client_cert_error": None, "tls_version": 0x0304, "cipher_suite": 0x1301}
    info = ConnectionInfo(("127.0.0.1", 8000), ("127.0.0.1", 50000), "https", "", tls)
    expected = http_scope(info, "GET", b"/x", b"", "1.1", [(b"host", b"t")], None)
    assert list(expected["extensions"]) == ["http.response.trailers", "http.response.pathsend", "tls"]
    assert [list(s.items()) for s in scopes] == [list(expected.items())] * 2
    assert protocol.info.tls == tls  # the connection's own copy was never touched


async def test_every_scope_is_a_fresh_object_tree():
    """The compiled twin copies a per-connection template: nothing may leak between requests."""
    import copy

    state = {"counter": 0}
    scopes, snapshots = [], []

    async def app(scope, receive, send):
        scopes.append(scope)
        snapshots.append(copy.deepcopy(scope))  # as the app found it
        scope["asgi"]["version"] = "mutated"
        scope["extensions"]["http.response.trailers"]["x"] = 1
        scope["extensions"]["mine"] = {}
        scope["state"]["counter"] += 1
        scope["client"] = None
        scope["added"] = True
        await ok(scope, receive, send)

    ctx, protocol, transport = make(app, lifespan_state=state)
    for _ in range(3):
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        await settle()
    assert len(scopes) == 3 and state == {"counter": 0}
    for snapshot in snapshots:
        assert snapshot == snapshots[0]
    first = snapshots[0]
    assert first["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert first["extensions"] == {"http.response.trailers": {}, "http.response.pathsend": {}}
    assert first["state"] == {"counter": 0} and first["client"] == ("127.0.0.1", 50000) and "added" not in first
    assert len({id(s) for s in scopes}) == 3
    assert len({id(s["asgi"]) for s in scopes}) == 3 and len({id(s["extensions"]) for s in scopes}) == 3
    assert protocol.info.client == ("127.0.0.1", 50000)


async def test_server_settings_that_change_are_read_on_every_request():
    """date_line (refreshed every second), shutting_down and total_requests stay live."""
    ctx, protocol, transport = make(ok)
    ctx.date_line = b"date: first\r\n"
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    ctx.date_line = b"date: second\r\n"
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    assert b"date: first\r\n" in transport.written[0] and b"date: second\r\n" in transport.written[1]
    assert ctx.total_requests == 2 and not transport.closed
    ctx.shutting_down = True
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    assert b"connection: close" in transport.written[2] and transport.closed


async def test_body_events_reach_the_app_in_order_across_reads():
    bodies = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            bodies.append(message["body"])
            if not message["more_body"]:
                break
        await ok(scope, receive, send)

    ctx, protocol, transport = make(app)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    await settle()
    protocol.data_received(b"2\r\nde\r\n0\r\n\r\n")
    await settle()
    assert b"".join(bodies) == b"abcde"
    assert transport.data.endswith(b"ok")


async def test_trailers_and_100_continue():
    async def app(scope, receive, send):
        message = await receive()  # asks for the body: 100 Continue goes out first
        assert message["body"] == b"hi"
        await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
        await send({"type": "http.response.body", "body": b"data"})
        await send({"type": "http.response.trailers", "headers": [(b"x-a", b"1")], "more_trailers": True})
        await send({"type": "http.response.trailers", "headers": [(b"x-b", b"2")]})

    ctx, protocol, transport = make(app)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    await settle()
    assert transport.data == b"HTTP/1.1 100 Continue\r\n\r\n"
    protocol.data_received(b"hi")
    await settle()
    assert transport.data.endswith(b"4\r\ndata\r\n0\r\nx-a: 1\r\nx-b: 2\r\n\r\n") and not transport.closed


async def test_app_errors_give_500_or_abort():
    async def before_start(scope, receive, send):
        raise RuntimeError("boom")

    async def mid_body(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("boom")

    ctx, protocol, transport = make(before_start)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    assert transport.data.startswith(b"HTTP/1.1 500 ") and transport.closed
    ctx, protocol, transport = make(mid_body)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    assert transport.data.endswith(b"4\r\npart\r\n") and transport.closed


async def test_send_after_connection_lost_raises_client_disconnected():
    from pyre.asgi.http import ClientDisconnected

    gate = asyncio.Event()
    outcome = []

    async def app(scope, receive, send):
        await gate.wait()
        assert await receive() == {"type": "http.disconnect"}
        try:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        except ClientDisconnected as exc:
            outcome.append(exc)

    ctx, protocol, transport = make(app)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    protocol.connection_lost(None)
    gate.set()
    await settle()
    assert len(outcome) == 1 and type(outcome[0]) is ClientDisconnected and not ctx.tasks


# -- the head encoder: the compiled twin agrees with pyre.protocol.h1.writer -----------------------

_HEADER_CASES = [
    [],
    [(b"content-type", b"text/plain"), (b"content-length", b"13")],
    [(b"content-length", b" 7\t")],
    [(b"Content-Length", b"0"), (b"X-A", b"b")],
    [(b"transfer-encoding", b"chunked")],
    [(b"connection", b"keep-alive, Close")],
    [(b"connection", b"upgrade")],
    [(b"server", b"mine"), (b"date", b"today")],
    [[b"x-list", b"pair"]],
    [(bytearray(b"x-a"), bytearray(b"a\tb"))],
    [[bytearray(b"x-unhashable"), b"v"]],
    [(b"x", b"a\r\nb")],
    [(b"x y", b"v")],
    [(b"x", "str")],
    [(b"x",)],
    [5],
    [(b"content-length", b"1"), (b"content-length", b"1")],
    [(b"content-length", b"-1")],
    [(b"transfer-encoding", b"gzip")],
    [(b"content-length", b"1"), (b"transfer-encoding", b"chunked")],
    # LINE_CACHE is looked up by name, then value: a cached pair with more items, an
    # unhashable value under a cached name, and bytes subclasses still take their own path.
    [(b"content-type", b"text/plain", b"more")],
    [(b"content-type", bytearray(b"text/plain"))],
    [(type("B", (bytes,), {})(b"content-length"), type("B", (bytes,), {})(b"13"))],
    # A memoryview pair whose bytes twin is cached is judged as any memoryview pair.
    [(b"content-type", b"text/plain"), (memoryview(b"content-type"), memoryview(b"text/plain"))],
]


def _outcome(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome compared
        return type(exc), str(exc)


@pytest.mark.parametrize("headers", _HEADER_CASES, ids=range(len(_HEADER_CASES)))
@pytest.mark.parametrize("status", [200, 204, 304, 404, 599, 600, 999, 99, 1000, 101, "200", True, None, 10**30])
@pytest.mark.parametrize("mode", ["c", "py"])
def test_encode_head_twins_agree(mode, status, headers):
    from pyre._accel import load_twins
    from pyre.protocol.h1 import writer

    twin = load_twins("h1writer")[mode]
    assert twin is not None, "the compiled head encoder is not built"

    for http11 in (True, False):
        for head_request in (True, False):
            for keep_alive in (True, False):
                for lines in ({}, {"server_line": b"server: pyre\r\n", "date_line": b"date: D\r\n",
                                  "extra_lines": b"x-extra: 1\r\n"}):
                    kwargs = dict(http11=http11, head_request=head_request, keep_alive=keep_alive, **lines)
                    expected = _outcome(writer.encode_head, status, iter(headers), **kwargs)
                    assert _outcome(twin.encode_head, status, iter(headers), **kwargs) == expected
                    assert _outcome(twin.encode_head, status, list(headers), **kwargs) == expected


@pytest.mark.parametrize("mode", ["c", "py"])
def test_a_pair_that_is_an_iterator_is_read_once_whatever_the_cache_holds(mode):
    from pyre._accel import load_twins

    twin = load_twins("h1writer")[mode]
    assert twin is not None, "the compiled head encoder is not built"
    for _ in range(2):  # not cached yet, then cached
        head, framing, length, keep_alive = twin.encode_head(
            200, [iter([b"x-gen", b"v"]), (b"content-length", b"0")], http11=True, head_request=False,
            keep_alive=True)
        assert b"\r\nx-gen: v\r\n" in head and framing == twin.FRAME_LENGTH and length == 0


def test_the_connection_classes_override_none_of_the_methods_the_compiled_build_calls_through_its_base():
    """``transport/h1.py`` calls ``send_body``, ``start_response``, ``response_complete``
    and ``_emit`` through ``_H1Connection`` (a direct C call in the compiled build): no
    subclass may define them again."""
    for mode in ("c", "py"):
        module = h1conn_twin(mode)
        for name in ("send_body", "start_response", "response_complete", "_emit"):
            assert name not in vars(module.H1Protocol), (mode, name)
            assert getattr(module.H1Protocol, name) is getattr(module._H1Connection, name), (mode, name)


async def test_compiled_twin_calls_the_compiled_parser_in_c():
    from pyre._accel import RequestParser

    ctx = server_context(ok, asyncio.get_running_loop())
    assert h1conn_twin("c").H1Protocol(ctx)._cparser is (RequestParser.__module__ == "pyre._speedups.h1parser")
    assert h1conn_twin("py").H1Protocol(ctx)._cparser is False


async def test_request_bytes_reported_are_the_body_bytes_received_in_any_split():
    """``request_bytes``: body bytes as the parser delivers them (no chunk framing), per
    request on a keep-alive connection, including what arrived before an early answer."""

    async def reader(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        await ok(scope, receive, send)

    seen = []
    ctx, protocol, transport = make(reader, request_observers=[seen.append])
    stream = (b"POST /length HTTP/1.1\r\nHost: t\r\nContent-Length: 12\r\n\r\nhello world!"
              b"POST /chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n"
              b"GET /get HTTP/1.1\r\nHost: t\r\n\r\n")
    for size in (len(stream), 1, 7):  # all at once, byte by byte, and in odd pieces
        seen.clear()
        for i in range(0, len(stream), size):
            protocol.data_received(stream[i:i + size])
            await settle()
        assert [(r.path, r.request_bytes) for r in seen] == [("/length", 12), ("/chunked", 19), ("/get", 0)]
        assert [r.fields()["request_bytes"] for r in seen] == [12, 19, 0]

    # An answer before the body is read: only what had arrived counts; the rest is drained.
    seen.clear()
    ctx, protocol, transport = make(ok, request_observers=[seen.append])
    protocol.data_received(b"PUT /early HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabcd")
    await settle()
    protocol.data_received(b"efghij" + b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    assert [(r.path, r.request_bytes) for r in seen] == [("/early", 4), ("/next", 0)]


async def test_untracked_requests_are_not_reported():
    seen = []
    ctx, protocol, transport = make(ok)  # access log off, no observer
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
    await settle()
    ctx.add_request_observer(seen.append)  # from the next request on
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde")
    await settle()
    assert transport.data.count(b"HTTP/1.1 200 OK") == 2
    assert [r.request_bytes for r in seen] == [5]


class _PropertyContext:
    """A server context whose live state is computed: the compiled connection reads
    ``shutting_down``, ``date_line`` and ``request_observers`` through attribute access
    (not its instance ``__dict__``, which it reads for a plain context) when a
    descriptor decides them, and counts requests through it."""

    def __init__(self, ctx):
        object.__setattr__(self, "_ctx", ctx)
        object.__setattr__(self, "requests_counted", 0)

    def __getattr__(self, name):
        return getattr(self._ctx, name)

    @property
    def shutting_down(self):
        return True  # every response closes its connection

    @property
    def date_line(self):
        return b"date: computed\r\n"

    @property
    def total_requests(self):
        return self._ctx.total_requests

    @total_requests.setter
    def total_requests(self, value):
        object.__setattr__(self, "requests_counted", self.requests_counted + 1)
        self._ctx.total_requests = value


async def test_live_state_of_a_context_with_descriptors_is_read_through_them():
    loop = asyncio.get_running_loop()
    base = server_context(ok, loop, access_log=False)
    base.__dict__["shutting_down"] = False  # what a direct read of the instance dict would find
    base.__dict__["date_line"] = b"date: stale\r\n"
    ctx = _PropertyContext(base)
    ctx.__dict__["shutting_down"] = False
    ctx.__dict__["date_line"] = b"date: stale\r\n"
    protocol = H1Protocol(ctx)
    transport = FakeTransport()
    protocol.connection_made(transport)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    assert b"date: computed\r\n" in transport.data and b"date: stale" not in transport.data
    assert b"connection: close" in transport.data and transport.closed
    assert ctx.requests_counted == 1 and base.total_requests == 1
