"""HTTP/2 stream deadlines over real sockets: --timeout-request-body (a request body
that stops coming) and --timeout-send (a client that stops reading), each ending only
the stream concerned, returning its --limit-concurrency slot, and bounding a graceful
shutdown. Deadlines are checked loosely: "within the deadline plus slack"."""

from __future__ import annotations

import asyncio

import h2.events

from tests.e2e.h2client import H2Client
from tests.e2e.test_h2_flow import pattern

CANCEL = 8
SLACK = 3.0  # seconds past a deadline within which it must have acted (the tick, a busy machine)


async def app(scope, receive, send):
    """``/slow-upload``: reads the body, reports what it saw; ``/stream/N``: N bytes in
    64 KiB messages, recording how send() ended; anything else: a short answer."""
    path = scope["path"]
    if path == "/slow-upload":
        seen = []
        while True:
            message = await receive()
            seen.append(message["type"])
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        app.seen.append(seen)
        if seen[-1] == "http.disconnect":
            return
    elif path.startswith("/stream/"):
        body = pattern(int(path.rsplit("/", 1)[1]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            for i in range(0, len(body), 65536):
                await send({"type": "http.response.body", "body": body[i:i + 65536], "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        except OSError as exc:
            app.send_errors.append(type(exc).__name__)
            raise
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


app.seen = []
app.send_errors = []


async def fresh(serve, **config):
    app.seen.clear()
    app.send_errors.clear()
    return await serve(app, timeout_keep_alive=30, **config)


async def test_a_stalled_request_body_gets_408_and_a_stream_reset(serve):
    server = await fresh(serve, timeout_request_body=1)
    client = await H2Client.open(server.bound_port)
    try:
        loop = asyncio.get_running_loop()
        sid = client.start("/slow-upload", "POST", end_stream=False)
        await client.upload(sid, b"first part", end_stream=False)  # then nothing more
        start = loop.time()
        response = client.responses[sid]
        await asyncio.wait_for(response.done.wait(), 1 + SLACK)
        assert loop.time() - start >= 0.9  # not before the deadline
        assert response.status == 408 and response.reset == CANCEL
        assert app.seen == [["http.request", "http.disconnect"]]
        other = await client.request("/")  # the connection serves on
        assert other.status == 200 and bytes(other.body) == b"ok" and client.goaway is None
    finally:
        await client.close()


async def test_a_client_that_stops_reading_loses_the_stream_not_the_connection(serve):
    server = await fresh(serve, timeout_send=1)
    # A large connection window, stream windows that are never opened again.
    client = await H2Client.open(server.bound_port, read=False)
    client.conn.increment_flow_control_window(1 << 30)
    try:
        loop = asyncio.get_running_loop()
        sid = client.start("/stream/10000000")
        await client.flush()
        start = loop.time()
        response = client.responses[sid]
        await asyncio.wait_for(response.done.wait(), 1 + SLACK)
        assert loop.time() - start >= 0.9
        assert response.reset == CANCEL and len(response.body) == 65535
        other = await client.request("/", timeout=SLACK)
        assert other.status == 200 and bytes(other.body) == b"ok" and client.goaway is None
        await asyncio.sleep(0.1)
        assert app.send_errors == ["ClientDisconnected"]
    finally:
        await client.close()


async def test_stalled_streams_return_their_concurrency_slots(serve):
    server = await fresh(serve, timeout_send=1, limit_concurrency=2)
    client = await H2Client.open(server.bound_port, read=False)
    client.conn.increment_flow_control_window(1 << 30)
    try:
        stalled = [client.start("/stream/10000000") for _ in range(2)]
        await client.flush()
        await asyncio.sleep(0.3)
        busy = await client.request("/", timeout=SLACK)
        assert busy.status == 503  # both slots held by applications waiting in send()
        for sid in stalled:
            await asyncio.wait_for(client.responses[sid].done.wait(), 1 + SLACK)
            assert client.responses[sid].reset == CANCEL
        await asyncio.sleep(0.1)
        again = await client.request("/", timeout=SLACK)
        assert again.status == 200
    finally:
        await client.close()


async def test_graceful_shutdown_is_not_held_by_a_client_that_stopped_reading(serve):
    server = await fresh(serve, timeout_send=1)  # and no --timeout-graceful-shutdown
    client = await H2Client.open(server.bound_port, read=False)
    try:
        sid = client.start("/stream/10000000")
        await client.flush()
        await asyncio.sleep(0.3)
        assert len(client.responses[sid].body) == 65535
        loop = asyncio.get_running_loop()
        start = loop.time()
        server.should_exit = True
        while server.context.connections and loop.time() - start < 1 + SLACK:
            await asyncio.sleep(0.05)
        assert not server.context.connections and not server.context.tasks
    finally:
        await client.close()


async def test_websocket_over_http2_sends_are_bounded_too(serve):
    sent = []

    async def ws_app(scope, receive, send):
        if scope["type"] == "http":
            return await app(scope, receive, send)
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        try:
            while True:
                await send({"type": "websocket.send", "bytes": b"w" * 65536})
                sent.append(1)
        except OSError as exc:
            sent.append(type(exc).__name__)
            raise

    server = await serve(ws_app, timeout_send=1)
    client = await H2Client.open(server.bound_port, read=False)
    client.conn.increment_flow_control_window(1 << 30)
    try:
        for _ in range(100):
            if any(isinstance(e, h2.events.RemoteSettingsChanged) for e in client.events):
                break
            await asyncio.sleep(0.01)
        sid = client.start("/ws", "CONNECT", headers=[(b":protocol", b"websocket"), (b"sec-websocket-version", b"13")],
                           end_stream=False)
        await client.flush()
        response = client.responses[sid]
        await asyncio.wait_for(response.done.wait(), 1 + SLACK)
        assert response.status == 200 and response.reset == CANCEL
        other = await client.request("/", timeout=SLACK)
        assert other.status == 200 and client.goaway is None
        await asyncio.sleep(0.1)
        assert sent[-1] == "ClientDisconnected"
    finally:
        await client.close()
