"""Limits and timeouts over the wire: 413/414/431, slowloris, keep-alive, concurrency, backpressure."""

from __future__ import annotations

import asyncio
import select
import time

import httpx
import pytest

from pyre.transport import linger
from tests.apps import echo, hello
from tests.e2e import stalls

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


async def test_request_line_limit_414(serve, raw):
    server = await serve(hello, h1_max_request_line=100)
    conn = await raw(server)
    await conn.send(b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    status, headers, body = await conn.read_response()
    assert b" 414 " in status and headers["connection"] == "close"
    assert await conn.closed()


async def test_header_size_limit_431_in_one_segment(serve, raw):
    server = await serve(hello, h1_max_header_size=1024)
    conn = await raw(server)
    await conn.send(b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"v" * 2000 + b"\r\n\r\n")
    status, headers, _ = await conn.read_response()
    assert b" 431 " in status and headers["connection"] == "close"


async def test_header_size_limit_431_trickled(serve, raw):
    server = await serve(hello, h1_max_header_size=1024)
    conn = await raw(server)
    await conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n")
    for _ in range(60):
        try:
            await conn.send(b"X-Trickle: " + b"v" * 20 + b"\r\n")
        except (ConnectionError, OSError):
            break
        await asyncio.sleep(0.002)
    status, _, _ = await conn.read_response()
    assert b" 431 " in status


async def test_header_count_limit_431(serve, raw):
    server = await serve(hello, h1_max_headers=10)
    conn = await raw(server)
    await conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(20)) + b"\r\n")
    status, _, _ = await conn.read_response()
    assert b" 431 " in status


async def test_body_limit_413_from_content_length_before_reading(serve, raw):
    called = []

    async def app(scope, receive, send):
        called.append(scope["path"])
        await echo(scope, receive, send)

    server = await serve(app, limit_request_body=1000)
    conn = await raw(server)
    await conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10737418240\r\n\r\n")
    status, headers, body = await conn.read_response()
    assert b" 413 " in status and headers["connection"] == "close" and called == []
    # One reason-phrase table: the body names the status as the status line does.
    phrase = status.split(b" 413 ", 1)[1].strip()
    assert body.startswith(phrase + b": "), (status, body)


async def test_body_limit_413_as_chunked_body_passes_it(serve, raw):
    got = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            got.append(message["type"])
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break

    server = await serve(app, limit_request_body=1000)
    conn = await raw(server)
    await conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    await asyncio.sleep(0.05)
    await conn.send(b"200\r\n" + b"x" * 512 + b"\r\n")
    await asyncio.sleep(0.05)
    await conn.send(b"200\r\n" + b"x" * 512 + b"\r\n")
    status, headers, _ = await conn.read_response()
    assert b" 413 " in status and headers["connection"] == "close"
    await asyncio.sleep(0.05)
    assert got[-1] == "http.disconnect"


@pytest.mark.parametrize("size", [2_000_000, 16_000_000])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_413_reaches_a_client_that_sends_its_whole_body_first(serve, size, chunked):
    # httpx's AsyncClient writes the whole body before it reads. Closing on the 413 with
    # its body still arriving made the kernel reset the connection, which destroyed the
    # response before the client read it (ReadError): the close lingers instead.
    server = await serve(echo, limit_request_body=1000)
    body = b"x" * size

    async def chunks():
        for start in range(0, size, 65536):
            yield body[start:start + 65536]

    async with httpx.AsyncClient(timeout=20) as client:
        for _ in range(3):
            response = await client.post(server.url + "/", content=chunks() if chunked else body)
            assert response.status_code == 413 and response.headers["connection"] == "close"
    await _no_connections_left(server)


async def test_a_lingering_close_half_closes_and_ends_when_the_client_closes(serve):
    server = await serve(echo, limit_request_body=1000)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)  # keeps a half-closed socket
    writer.write(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000\r\n\r\n")
    response = await asyncio.wait_for(reader.read(), 5)  # up to the server's FIN
    assert b" 413 " in response.split(b"\r\n", 1)[0]
    for _ in range(50):  # the rest of the body is read and discarded, not reset
        writer.write(b"x" * 100_000)
        await asyncio.wait_for(writer.drain(), 5)
    assert len(server.context.connections) == 1
    writer.write_eof()
    await _no_connections_left(server)
    writer.close()


async def test_a_lingering_close_ends_when_the_client_goes_quiet(serve, raw, monkeypatch):
    monkeypatch.setattr(linger, "LINGER_GAP", 0.1)
    server = await serve(echo, limit_request_body=1000)
    conn = await raw(server)
    await conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000\r\n\r\n")
    assert b" 413 " in (await conn.read_response())[0]
    await _no_connections_left(server)  # by the next ticks; the client never closed


async def test_a_lingering_close_ends_at_the_header_deadline_however_much_is_sent(serve, raw):
    server = await serve(echo, limit_request_body=1000, timeout_request_header=0.5)
    conn = await raw(server)
    await conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 500000000\r\n\r\n")
    assert b" 413 " in (await conn.read_response())[0]
    for _ in range(400):  # 10 s of trickle at most: the server goes long before
        if not server.context.connections:
            break
        try:
            await conn.send(b"x" * 1000)
        except ConnectionError:
            break
        await asyncio.sleep(0.025)
    await _no_connections_left(server)


async def _no_connections_left(server, timeout: float = 10.0) -> None:
    async def gone() -> None:
        while server.context.connections:
            await asyncio.sleep(0.02)
    await asyncio.wait_for(gone(), timeout)


async def test_body_within_limit_is_served(serve, raw):
    server = await serve(echo, limit_request_body=1000)
    conn = await raw(server)
    await conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" + b"y" * 1000)
    assert (await conn.read_response())[2] == b"y" * 1000


async def test_slowloris_header_deadline(serve, raw):
    server = await serve(hello, timeout_request_header=0.5, timeout_keep_alive=5)
    conn = await raw(server)
    start = time.monotonic()
    await conn.send(b"GET / HTTP/1.1\r\n")
    try:
        for _ in range(40):  # one header byte every 50 ms: would take 2 s
            await conn.send(b"X")
            await asyncio.sleep(0.05)
    except (ConnectionError, OSError):
        pass
    data = await conn.read_all()
    assert data.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - start < 1.9
    # Other clients are served meanwhile and afterwards.
    conn2 = await raw(server)
    await conn2.send(GET)
    assert (await conn2.read_response())[2] == b"Hello, world!"


async def test_connection_that_sends_nothing_is_closed(serve, raw):
    server = await serve(hello, timeout_keep_alive=0.3)
    conn = await raw(server)
    assert await conn.closed(timeout=3)


async def test_idle_keep_alive_timeout(serve, raw):
    server = await serve(hello, timeout_keep_alive=0.3)
    conn = await raw(server)
    await conn.send(GET)
    await conn.read_response()
    start = time.monotonic()
    assert await conn.closed(timeout=3)
    assert time.monotonic() - start >= 0.25


async def test_keep_alive_timer_does_not_run_during_a_request(serve, raw):
    async def slow(scope, receive, send):
        await asyncio.sleep(0.6)
        await hello(scope, receive, send)

    server = await serve(slow, timeout_keep_alive=0.2)
    conn = await raw(server)
    await conn.send(GET)
    assert (await conn.read_response())[2] == b"Hello, world!"


async def test_limit_concurrency_503(serve, raw):
    release = asyncio.Event()

    async def app(scope, receive, send):
        await release.wait()
        await hello(scope, receive, send)

    server = await serve(app, limit_concurrency=2)
    busy = [await raw(server) for _ in range(2)]
    for conn in busy:
        await conn.send(GET)
    await asyncio.sleep(0.05)
    extra = await raw(server)
    await extra.send(GET)
    status, headers, _ = await extra.read_response()
    assert b" 503 " in status and headers["connection"] == "close"
    release.set()
    for conn in busy:
        assert (await conn.read_response())[2] == b"Hello, world!"
        await conn.close()  # open keep-alive connections count against the limit
    await asyncio.sleep(0.05)
    after = await raw(server)
    await after.send(GET)
    assert b" 200 " in (await after.read_response())[0]


async def test_read_backpressure_when_app_does_not_consume(serve, raw):
    """An app that never reads: the server stops reading instead of buffering 64 MiB."""
    entered = asyncio.Event()
    release = asyncio.Event()

    async def app(scope, receive, send):
        entered.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body"})

    server = await serve(app)
    conn = await raw(server)
    await conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 67108864\r\n\r\n")
    await entered.wait()
    written = 0
    chunk = b"z" * 65536
    stalled_since = None
    loop = asyncio.get_running_loop()
    while written < 64 * 1024 * 1024:
        if conn.transport.get_write_buffer_size() > 1024 * 1024:
            stalled_since = stalled_since or loop.time()
            if loop.time() - stalled_since > 0.5:
                break
            await asyncio.sleep(0.01)
            continue
        stalled_since = None
        conn.transport.write(chunk)
        written += len(chunk)
        await asyncio.sleep(0)
    accepted = written - conn.transport.get_write_buffer_size()
    # The client got stuck long before the whole body was accepted.
    assert accepted < 32 * 1024 * 1024
    (connection,) = server.context.connections
    assert connection.cycle._buffered <= 1024 * 1024
    release.set()


@pytest.mark.parametrize("pieces", [1, 7])
async def test_many_connections_served_concurrently(serve, raw, pieces):
    server = await serve(hello)
    conns = [await raw(server) for _ in range(50)]
    for conn in conns:
        for i in range(pieces):
            part = GET[i * len(GET) // pieces:(i + 1) * len(GET) // pieces]
            await conn.send(part)
    for conn in conns:
        assert (await conn.read_response())[2] == b"Hello, world!"


# -- stalled clients, through the real command (--timeout-request-body, --timeout-send) ------------

STALLS = stalls.STALLS


def test_a_request_body_that_stops_coming_gets_408(start_cli, tmp_path):
    report = tmp_path / "report"
    running = start_cli(STALLS, "--port", "0", "--timeout-request-body", "1", env={"STALL_REPORT": str(report)})
    with stalls.connect(running.url) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000)
        data, closed = stalls.read_until_closed(sock, 1 + stalls.SLACK)
    assert closed and time.monotonic() - started >= 1  # not before the deadline
    assert data.startswith(b"HTTP/1.1 408 ") and b"\r\nconnection: close\r\n" in data
    assert stalls.wait_for_report(report, "upload", 5) == ["upload disconnected after 1000 bytes"]
    assert running.stop() == 0
    assert stalls.log_problems(running.output) == []


def test_a_trickled_request_body_is_cut(start_cli, tmp_path):
    report = tmp_path / "report"
    running = start_cli(STALLS, "--port", "0", "--timeout-request-body", "1", env={"STALL_REPORT": str(report)})
    with stalls.connect(running.url) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n")
        started = time.monotonic()
        sent = 0
        try:
            while time.monotonic() - started < 1 + stalls.SLACK:  # one byte every 0.2 s: 5 bytes/s
                sock.sendall(b"y")
                sent += 1
                readable, _, _ = select.select([sock], [], [], 0.2)
                if readable:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        data, closed = stalls.read_until_closed(sock, 1)
    # A 408, or (rarely) a reset: when a byte arrives just as the server closes, the
    # unread byte makes the kernel answer with RST, which may overtake the response.
    assert closed and (data.startswith(b"HTTP/1.1 408 ") or data == b"")
    assert sent < (1 + stalls.SLACK) / 0.2  # cut although no gap came near the timeout
    assert stalls.wait_for_report(report, "upload", 5)[0].startswith("upload disconnected after ")
    assert running.stop() == 0


def test_stalled_uploads_do_not_hold_concurrency_slots_for_ever(start_cli, tmp_path):
    running = start_cli(STALLS, "--port", "0", "--limit-concurrency", "2", "--timeout-request-body", "1",
                        env={"STALL_REPORT": str(tmp_path / "report")})
    stalled = [stalls.connect(running.url) for _ in range(2)]
    try:
        for sock in stalled:
            sock.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n")
        time.sleep(0.2)
        with stalls.connect(running.url) as sock:
            sock.sendall(GET)
            data, _ = stalls.read_until_closed(sock, 5)
        assert data.startswith(b"HTTP/1.1 503 ")  # while the two stall
        for sock in stalled:
            data, closed = stalls.read_until_closed(sock, 1 + stalls.SLACK)
            assert closed and data.startswith(b"HTTP/1.1 408 ")
        time.sleep(0.2)
        with stalls.connect(running.url) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data, _ = stalls.read_until_closed(sock, 5)
        assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"ok")
    finally:
        for sock in stalled:
            sock.close()
    assert running.stop() == 0


@pytest.mark.parametrize("path", ["/stream", "/file"])
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_client_that_stops_reading_a_large_response_is_aborted(start_cli, tmp_path, loop, path):
    report = tmp_path / "report"
    running = start_cli(STALLS, "--port", "0", "--loop", loop, "--timeout-send", "1",
                        env={"STALL_REPORT": str(report)})
    with stalls.connect(running.url, receive_buffer=65536) as sock:
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path.encode())  # and reads nothing
        assert stalls.wait_for_report(report, "stream", 1 + stalls.SLACK) == ["stream: ClientDisconnected"]
        data, closed = stalls.read_until_closed(sock, 5)
    assert closed and len(data) < 20 * stalls.MB  # aborted: the rest never comes
    assert running.stop() == 0
    assert stalls.log_problems(running.output) == []
