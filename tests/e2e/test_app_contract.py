"""The ASGI application contract end to end: errors, disconnects, misuse, tasks, context."""

from __future__ import annotations

import asyncio
import contextvars
import logging

import pytest

from pyre.asgi.http import ClientDisconnected
from tests.apps import Recorder, hello, respond

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


async def test_exception_before_start_gives_500_and_server_keeps_serving(serve, raw, caplog):
    calls = []

    async def app(scope, receive, send):
        calls.append(scope["path"])
        if scope["path"] == "/boom":
            raise ValueError("boom")
        await hello(scope, receive, send)

    server = await serve(app)
    conn = await raw(server)
    with caplog.at_level(logging.ERROR, logger="pyre.error"):
        await conn.send(b"GET /boom HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, body = await conn.read_response()
    assert b"500" in status and headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body)
    assert any("Exception in ASGI application" in r.message and r.exc_info for r in caplog.records)
    assert await conn.closed()
    conn2 = await raw(server)
    await conn2.send(GET)
    assert (await conn2.read_response())[2] == b"Hello, world!"


async def test_exception_after_start_before_body_still_gives_500(serve, raw):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("late")

    server = await serve(app)
    conn = await raw(server)
    await conn.send(GET)
    status, _, _ = await conn.read_response()
    assert b"500" in status


async def test_exception_mid_body_closes_connection(serve, raw):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("mid-body")

    server = await serve(app)
    conn = await raw(server)
    await conn.send(GET)
    data = await conn.read_all()
    assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"partial")


async def test_exception_mid_chunked_body_leaves_it_unterminated(serve, raw):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("mid-body")

    server = await serve(app)
    conn = await raw(server)
    await conn.send(GET)
    data = await conn.read_all()
    assert data.endswith(b"7\r\npartial\r\n") and b"0\r\n\r\n" not in data


async def test_no_response_gives_500(serve, raw, caplog):
    async def app(scope, receive, send):
        return None

    server = await serve(app)
    conn = await raw(server)
    with caplog.at_level(logging.ERROR, logger="pyre.error"):
        await conn.send(GET)
        status, _, _ = await conn.read_response()
    assert b"500" in status
    assert any("without starting a response" in r.message for r in caplog.records)


async def test_partial_response_closes(serve, raw):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})

    server = await serve(app)
    conn = await raw(server)
    await conn.send(GET)
    data = await conn.read_all()
    assert data.endswith(b"1\r\nx\r\n")


async def test_returned_value_is_logged(serve, raw, caplog):
    async def app(scope, receive, send):
        await hello(scope, receive, send)
        return 42

    server = await serve(app)
    conn = await raw(server)
    with caplog.at_level(logging.ERROR, logger="pyre.error"):
        await conn.send(GET)
        await conn.read_response()
        await asyncio.sleep(0.05)
    assert any("returned a value" in r.message for r in caplog.records)


@pytest.mark.parametrize("misuse", ["after_complete", "duplicate_start", "body_before_start", "unknown_type"])
async def test_misuse_raises_and_connection_stays_healthy(serve, raw, misuse):
    async def app(scope, receive, send):
        if misuse == "body_before_start":
            await send({"type": "http.response.body", "body": b"x"})
        if misuse == "unknown_type":
            await send({"type": "http.response.nonsense"})
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        if misuse == "duplicate_start":
            await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        if misuse == "after_complete":
            await send({"type": "http.response.body", "body": b"more"})

    recorder = Recorder(app)
    server = await serve(recorder)
    conn = await raw(server)
    await conn.send(GET)
    status, _, body = await conn.read_response()
    await recorder.done.wait()
    assert len(recorder.errors) == 1 and isinstance(recorder.errors[0], RuntimeError)
    if misuse == "after_complete":
        assert body == b"ok"
        await conn.send(GET)  # the connection stays usable, nothing extra was written
        assert (await conn.read_response())[2] == b"ok"
    else:
        # Nothing had reached the wire: the server still answers a clean 500.
        assert b"500" in status


@pytest.mark.parametrize("headers", [
    [(b"x-bad", b"a\r\nInjected: yes")],
    [(b"x-bad", b"a\nb")],
    [(b"x-bad", b"a\x00b")],
    [(b"bad name", b"v")],
    [(b"bad:name", b"v")],
    [(b"x", "not bytes")],
    [(b"content-length", b"5"), (b"transfer-encoding", b"chunked")],
    [(b"content-length", b"five")],
])
async def test_invalid_response_headers_never_written(serve, raw, headers):
    server = await serve(respond(200, headers, body=b"hello"))
    conn = await raw(server)
    await conn.send(GET)
    data = await conn.read_all()
    assert data.startswith(b"HTTP/1.1 500 ")
    assert b"Injected" not in data and b"x-bad" not in data


@pytest.mark.parametrize("status", [0, 99, 1000, "200", None, 101])
async def test_invalid_status_gives_500(serve, raw, status):
    server = await serve(respond(status, [], body=b""))
    conn = await raw(server)
    await conn.send(GET)
    status_line, _, _ = await conn.read_response()
    assert b" 500 " in status_line


async def test_content_length_longer_body_truncated_and_closed(serve, raw):
    server = await serve(respond(200, [(b"content-length", b"2")], chunks=[b"hello", b"world"]))
    conn = await raw(server)
    await conn.send(GET + GET)
    data = await conn.read_all()
    assert data.endswith(b"\r\n\r\nhe")
    assert data.count(b"HTTP/1.1") == 1


async def test_content_length_shorter_body_closes(serve, raw):
    server = await serve(respond(200, [(b"content-length", b"10")], body=b"short"))
    conn = await raw(server)
    await conn.send(GET + GET)
    data = await conn.read_all()
    assert data.endswith(b"short") and data.count(b"HTTP/1.1") == 1


async def test_disconnect_delivered_while_app_waits(serve, raw):
    got = asyncio.get_running_loop().create_future()

    async def app(scope, receive, send):
        message = await receive()  # the (empty) body
        assert message["type"] == "http.request"
        got.set_result(await receive())  # blocks until the client leaves

    server = await serve(app)
    conn = await raw(server)
    await conn.send(GET)
    await asyncio.sleep(0.05)
    await conn.close()
    assert (await asyncio.wait_for(got, 5)) == {"type": "http.disconnect"}


async def test_disconnect_mid_body(serve, raw):
    got = asyncio.get_running_loop().create_future()

    async def app(scope, receive, send):
        messages = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        got.set_result(messages)

    server = await serve(app)
    conn = await raw(server)
    await conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc")
    await asyncio.sleep(0.05)
    await conn.close()
    messages = await asyncio.wait_for(got, 5)
    assert messages[0] == {"type": "http.request", "body": b"abc", "more_body": True}
    assert messages[-1] == {"type": "http.disconnect"}


async def test_send_after_disconnect_raises_oserror(serve, raw):
    result = asyncio.get_running_loop().create_future()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass
        # A FIN may be a half-close, so the server keeps writing until the peer's
        # reset shows the connection is gone; from then on send() raises.
        for _ in range(100):
            try:
                await send({"type": "http.response.body", "body": b"again", "more_body": True})
            except OSError as exc:
                result.set_result(exc)
                return
            await asyncio.sleep(0.01)
        result.set_result(None)

    server = await serve(app)
    conn = await raw(server)
    await conn.send(GET)
    await conn.readuntil(b"first\r\n")
    await conn.close()
    exc = await asyncio.wait_for(result, 5)
    assert isinstance(exc, ClientDisconnected) and isinstance(exc, OSError)


async def test_stopping_a_response_after_http_disconnect_is_not_an_error(serve, raw, caplog):
    """ASGI: http.disconnect tells the app the client is gone, so returning mid-response then is
    normal (a stream or SSE endpoint ending), logged at debug only."""
    returned = asyncio.get_running_loop().create_future()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass
        returned.set_result(True)

    server = await serve(app)
    conn = await raw(server)
    await conn.send(GET)
    await conn.readuntil(b"first\r\n")
    await conn.close()
    await asyncio.wait_for(returned, 5)
    await asyncio.sleep(0.05)  # the server settles the response after the app returns
    assert not [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]


async def test_receive_after_response_is_disconnect(serve, raw):
    got = asyncio.get_running_loop().create_future()

    async def app(scope, receive, send):
        await receive()
        await hello(scope, receive, send)
        got.set_result(await receive())

    server = await serve(app)
    conn = await raw(server)
    await conn.send(GET)
    await conn.read_response()
    assert (await asyncio.wait_for(got, 5)) == {"type": "http.disconnect"}


async def test_asgi2_application(serve, raw):
    class App:
        def __init__(self, scope):
            self.scope = scope

        async def __call__(self, receive, send):
            await hello(self.scope, receive, send)

    server = await serve(App)
    conn = await raw(server)
    await conn.send(GET)
    assert (await conn.read_response())[2] == b"Hello, world!"


async def test_current_task_timeout_and_context_from_first_line(serve, raw):
    var = contextvars.ContextVar("var", default="unset")
    seen = []

    async def app(scope, receive, send):
        task = asyncio.current_task()
        seen.append((task is not None and task.get_name() == "pyre.http", var.get()))
        var.set(scope["path"])
        async with asyncio.timeout(5) if hasattr(asyncio, "timeout") else _null():
            await asyncio.wait_for(asyncio.sleep(0), 1)
        await hello(scope, receive, send)
        seen.append(var.get())

    server = await serve(app)
    conn = await raw(server)
    for path in (b"/a", b"/b"):
        await conn.send(b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        await conn.read_response()
    await asyncio.sleep(0.05)
    # Each request ran in a task, and context set by one never leaked into the next.
    assert seen == [(True, "unset"), "/a", (True, "unset"), "/b"]


class _null:
    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False


async def test_write_backpressure_bounds_memory(serve, raw):
    """A client that does not read: send() blocks instead of buffering without bound."""
    progress = {"sent": 0}
    block = b"x" * 65536

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(2000):  # 128 MiB if nothing held it back
            await send({"type": "http.response.body", "body": block, "more_body": True})
            progress["sent"] += len(block)
        await send({"type": "http.response.body", "body": b""})

    server = await serve(app)
    conn = await raw(server)
    conn.transport.pause_reading()  # the client stops reading
    await conn.send(GET)
    await asyncio.sleep(0.5)
    # Kernel socket buffers plus the transport's high-water mark: a few MiB at most.
    assert progress["sent"] < 16 * 1024 * 1024
    await conn.close()
