"""HTTP/2 end to end: httpx (h2c prior knowledge and TLS), curl (prior knowledge and
Upgrade: h2c), and frame-level attacks over real sockets with the server staying healthy."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import struct
import subprocess

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import httpx
import pytest

from tests.apps import echo, hello, respond, scope_json
from tests.e2e.test_tls import client_context, https, pki, tls_settings  # noqa: F401 (pki: a fixture)

CURL = shutil.which("curl")
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def h2c_client(**kwargs) -> httpx.AsyncClient:
    # http1=False with http2=True: prior knowledge on http:// URLs.
    return httpx.AsyncClient(http1=False, http2=True, timeout=10, **kwargs)


async def test_h2c_prior_knowledge_with_httpx(serve):
    server = await serve(scope_json)
    async with h2c_client() as client:
        response = await client.get(server.url + "/a%20b?x=1", headers={"x-test": "yes"})
    assert response.status_code == 200 and response.http_version == "HTTP/2"
    scope = response.json()
    assert scope["http_version"] == "2" and scope["scheme"] == "http"
    assert scope["path"] == "/a b" and scope["query_string"] == "x=1"
    headers = dict(scope["headers"])
    assert headers["x-test"] == "yes" and headers["host"].startswith("127.0.0.1")
    assert response.headers["server"] == "pyre" and "date" in response.headers


async def test_many_concurrent_streams_on_one_connection(serve):
    async def slowish(scope, receive, send):
        await asyncio.sleep(0.01)
        await echo(scope, receive, send)

    server = await serve(slowish)
    async with h2c_client() as client:
        bodies = [bytes([65 + i % 26]) * (i * 100) for i in range(60)]
        responses = await asyncio.gather(*(client.post(server.url + f"/{i}", content=body)
                                           for i, body in enumerate(bodies)))
    assert [r.content for r in responses] == bodies
    assert {r.http_version for r in responses} == {"HTTP/2"}


async def test_large_bodies_both_ways_through_small_windows(serve):
    server = await serve(echo, h2_initial_window_size=1024)
    body = bytes(range(256)) * 4096  # 1 MiB
    async with h2c_client() as client:
        response = await client.post(server.url, content=body)
    assert response.content == body


async def test_tls_with_alpn_h2(serve, pki):
    server = await serve(scope_json, **tls_settings(pki))
    async with httpx.AsyncClient(http2=True, verify=client_context(pki)) as client:
        response = await client.get(https(server) + "/tls")
    assert response.http_version == "HTTP/2"
    scope = response.json()
    assert scope["scheme"] == "https" and scope["http_version"] == "2"
    assert scope["extensions"]["tls"]["tls_version"] in (0x0303, 0x0304)


async def test_http1_and_http2_on_the_same_port(serve):
    server = await serve(hello)
    async with httpx.AsyncClient() as h1, h2c_client() as h2:
        r1, r2 = await asyncio.gather(h1.get(server.url), h2.get(server.url))
    assert (r1.http_version, r2.http_version) == ("HTTP/1.1", "HTTP/2")
    assert r1.text == r2.text == "Hello, world!"


async def test_http_h1_refuses_the_preface(serve, raw):
    server = await serve(hello, http="h1")
    conn = await raw(server)
    await conn.send(PREFACE)
    data = await conn.read_all(timeout=5)
    assert data.startswith(b"HTTP/1.1 505 ")


async def test_http_h2_only(serve, raw):
    server = await serve(hello, http="h2")
    async with h2c_client() as client:
        assert (await client.get(server.url)).text == "Hello, world!"
    conn = await raw(server)
    await conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    data = await conn.read_all(timeout=5)
    assert b"HTTP/1.1" not in data  # an HTTP/2 GOAWAY, then the close


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
@pytest.mark.parametrize("flag", ["--http2-prior-knowledge", "--http2"])
async def test_curl(serve, flag):
    server = await serve(scope_json)
    proc = await asyncio.create_subprocess_exec(
        CURL, "-sS", "-i", flag, server.url + "/curl?q=1", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err
    head, _, body = out.partition(b"\r\n\r\n")
    if flag == "--http2":  # the upgrade: 101, then the answer on stream 1
        assert head.startswith(b"HTTP/1.1 101 ")
        head, _, body = body.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/2 200")
    scope = json.loads(body)
    assert scope["http_version"] == "2" and scope["path"] == "/curl" and scope["query_string"] == "q=1"


async def test_upgrade_with_a_body_stays_http1(serve, raw):
    server = await serve(echo)
    conn = await raw(server)
    await conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                    b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 3\r\n\r\nabc")
    status_line, headers, body = await conn.read_response()
    assert status_line.startswith(b"HTTP/1.1 200") and body == b"abc"


async def test_starlette_over_http2(serve):
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def endpoint(request):
        return JSONResponse({"version": request.scope["http_version"], "body": (await request.body()).decode()})

    server = await serve(Starlette(routes=[Route("/", endpoint, methods=["POST"])]))
    async with h2c_client() as client:
        response = await client.post(server.url, content=b"hi")
    assert response.json() == {"version": "2", "body": "hi"}


# -- attacks: the server ends the abusive connection and keeps serving others -----------------------


class FrameClient:
    """A frame-level HTTP/2 client on a real socket (the h2 library encodes; frames can
    also be written raw)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.events: list = []

    @classmethod
    async def open(cls, server) -> "FrameClient":
        reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
        client = cls(reader, writer)
        client.conn.initiate_connection()
        await client.flush()
        return client

    async def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    def raw(self, frame_type: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
        return struct.pack(">I", len(payload))[1:] + bytes([frame_type, flags]) + struct.pack(">I", stream_id) + payload

    def headers_block(self, stream_id: int) -> bytes:
        return self.conn.encoder.encode([(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"),
                                         (b":authority", b"t")])

    async def read_until_closed(self, timeout: float = 10) -> list:
        """Events until the server closes (or the timeout); returns them."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    data = await self.reader.read(65536)
                    if not data:
                        break
                    try:
                        self.events.extend(self.conn.receive_data(data))
                    except h2.exceptions.ProtocolError:
                        break
        except (TimeoutError, ConnectionError):
            pass
        return self.events

    async def read_raw_until(self, done, data: bytes = b"", timeout: float = 5) -> bytes:
        """Raw bytes from the server until ``done(data)`` or it closes (TimeoutError past ``timeout``)."""
        async with asyncio.timeout(timeout):
            while not done(data):
                chunk = await self.reader.read(65536)
                if not chunk:
                    break
                data += chunk
        return data

    async def read_until(self, done, timeout: float = 10) -> list:
        """Events (DATA acknowledged) until ``done(event)`` for one of them; TimeoutError past ``timeout``."""
        async with asyncio.timeout(timeout):
            while True:
                data = await self.reader.read(65536)
                assert data, "the server closed the connection"
                for event in self.conn.receive_data(data):
                    self.events.append(event)
                    if isinstance(event, h2.events.DataReceived):
                        self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    if done(event):
                        await self.flush()
                        return self.events
                await self.flush()

    def goaway(self):
        return next((e for e in self.events if isinstance(e, h2.events.ConnectionTerminated)), None)

    def close(self) -> None:
        self.writer.close()


async def assert_still_serving(server) -> None:
    async with h2c_client() as client:
        assert (await client.get(server.url)).status_code == 200


async def test_rapid_reset_is_ended_with_enhance_your_calm(serve):
    cancelled = []

    async def slow(scope, receive, send):
        if scope["path"] == "/":
            return await hello(scope, receive, send)
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(scope["path"])
            raise

    server = await serve(slow)
    attacker = await FrameClient.open(server)
    for i in range(400):
        sid = 1 + 2 * i
        attacker.conn.send_headers(sid, [(b":method", b"GET"), (b":path", b"/%d" % i), (b":scheme", b"http"),
                                         (b":authority", b"t")], end_stream=True)
        attacker.conn.reset_stream(sid, 8)
    await attacker.flush()
    await attacker.read_until_closed()
    attacker.close()
    goaway = attacker.goaway()
    assert goaway is not None and goaway.error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    await asyncio.sleep(0.1)
    assert cancelled  # the apps of reset streams were cancelled
    await assert_still_serving(server)


async def test_continuation_flood_ends_the_connection(serve):
    server = await serve(hello)
    attacker = await FrameClient.open(server)
    block = attacker.headers_block(1)
    frames = [attacker.raw(0x1, 0x0, 1, block)]  # HEADERS without END_HEADERS
    frames += [attacker.raw(0x9, 0x0, 1, b"x-a: " + b"b" * 1000) for _ in range(500)]  # CONTINUATION
    attacker.writer.write(b"".join(frames))
    await attacker.read_until_closed()
    attacker.close()
    assert attacker.goaway() is not None
    await assert_still_serving(server)


async def test_ping_flood_ends_the_connection(serve):
    server = await serve(hello)
    attacker = await FrameClient.open(server)
    attacker.writer.write(b"".join(attacker.raw(0x6, 0x0, 0, b"12345678") for _ in range(3000)))
    await attacker.read_until_closed()
    attacker.close()
    goaway = attacker.goaway()
    assert goaway is not None and goaway.error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    await assert_still_serving(server)


async def test_malformed_request_is_a_stream_error_and_the_connection_stays(serve):
    server = await serve(hello)
    client = await FrameClient.open(server)
    bad = client.conn.encoder.encode([(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"),
                                      (b":authority", b"t"), (b"connection", b"keep-alive")])
    client.writer.write(client.raw(0x1, 0x5, 1, bad))  # END_STREAM | END_HEADERS
    await client.writer.drain()
    # Then a good request on stream 3 on the same connection.
    good = client.conn.encoder.encode([(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"),
                                       (b":authority", b"t")])
    client.writer.write(client.raw(0x1, 0x5, 3, good))
    await client.writer.drain()
    try:
        data = await client.read_raw_until(lambda d: b"Hello, world!" in d)
    finally:
        client.close()
    # RST_STREAM on stream 1 with PROTOCOL_ERROR, and stream 3 answered.
    assert client.raw(0x3, 0x0, 1, struct.pack(">I", 1)) in data
    assert b"Hello, world!" in data


async def test_a_client_that_never_reads_cannot_pin_memory(serve):
    async def big(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(256):  # 64 MiB if nothing held it back
            await send({"type": "http.response.body", "body": b"x" * 262144, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    server = await serve(big)
    client = await FrameClient.open(server)
    # A huge window, then never read: the transport's buffer must stop the app.
    client.conn.increment_flow_control_window(2**31 - 1 - 65535)
    client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
    client.conn.send_headers(1, [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"),
                                 (b":authority", b"t")], end_stream=True)
    await client.flush()
    await asyncio.sleep(1.0)
    buffered = sum(c.transport.get_write_buffer_size() for c in server.context.connections
                   if getattr(c, "transport", None) is not None)
    assert buffered < 16 * 1024 * 1024
    client.close()
    await assert_still_serving(server)


@pytest.mark.parametrize("settings", [b"!!not base64!!", b"AAMAAABkAAQAAP__\r\nHTTP2-Settings: AAMAAABkAAQAAP__"])
async def test_upgrade_with_bad_or_repeated_settings_stays_http1(serve, raw, settings):
    server = await serve(hello)
    conn = await raw(server)
    await conn.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                    b"HTTP2-Settings: " + settings + b"\r\n\r\n")
    status_line, headers, body = await conn.read_response()
    assert status_line.startswith(b"HTTP/1.1 200") and body == b"Hello, world!"


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
async def test_graceful_shutdown_finishes_streams_in_flight(serve):
    started = asyncio.Event()

    async def slow(scope, receive, send):
        started.set()
        await asyncio.sleep(0.5)
        await hello(scope, receive, send)

    server = await serve(slow)
    proc = await asyncio.create_subprocess_exec(
        CURL, "-sS", "--http2-prior-knowledge", server.url + "/slow", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    await asyncio.wait_for(started.wait(), 10)
    server.should_exit = True  # GOAWAY now; the stream in flight still completes
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err
    assert out == b"Hello, world!"


async def test_streams_past_the_limit_are_refused_and_the_connection_stays(serve):
    gate = asyncio.Event()

    async def app(scope, receive, send):
        if scope["path"] == "/hold":
            await gate.wait()
        await hello(scope, receive, send)

    server = await serve(app, h2_max_concurrent_streams=2)
    client = await FrameClient.open(server)
    block = client.conn.encoder.encode([(b":method", b"GET"), (b":path", b"/hold"), (b":scheme", b"http"),
                                        (b":authority", b"t")])
    # Three streams at once, ignoring the server's limit of 2 (raw frames: h2 would queue them).
    client.writer.write(b"".join(client.raw(0x1, 0x5, sid, block) for sid in (1, 3, 5)))
    await client.writer.drain()
    refused = client.raw(0x3, 0x0, 5, struct.pack(">I", 7))  # RST_STREAM REFUSED_STREAM
    try:
        data = await client.read_raw_until(lambda d: refused in d)
        gate.set()
        data = await client.read_raw_until(lambda d: d.count(b"Hello, world!") >= 2, data)
    finally:
        client.close()
    assert refused in data
    assert data.count(b"Hello, world!") == 2  # streams 1 and 3 answered on the same connection


def _flood(client: "FrameClient", kind: str) -> bytes:
    raw = client.raw
    if kind == "settings":
        return b"".join(raw(0x4, 0x0, 0, b"") for _ in range(3000))
    if kind == "window_update":
        return b"".join(raw(0x8, 0x0, 0, struct.pack(">I", 1)) for _ in range(3000))
    if kind == "priority":
        return b"".join(raw(0x2, 0x0, 2 * i + 1, struct.pack(">IB", 0, 16)) for i in range(3000))
    if kind == "empty_data":
        head = client.conn.encoder.encode([(b":method", b"POST"), (b":path", b"/"), (b":scheme", b"http"),
                                           (b":authority", b"t")])
        return raw(0x1, 0x4, 1, head) + b"".join(raw(0x0, 0x0, 1, b"") for _ in range(3000))
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["settings", "window_update", "priority", "empty_data"])
async def test_control_frame_floods_end_the_connection(serve, kind):
    async def app(scope, receive, send):
        if scope["path"] == "/":
            while (await receive()).get("more_body"):
                pass
        await hello(scope, receive, send)

    server = await serve(app)
    attacker = await FrameClient.open(server)
    attacker.writer.write(_flood(attacker, kind))
    await attacker.read_until_closed()
    attacker.close()
    goaway = attacker.goaway()
    assert goaway is not None and goaway.error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    await assert_still_serving(server)


async def test_hpack_bomb_is_refused(serve):
    """One large header put in the dynamic table, then referenced many times: the
    decoded header list is bounded before the app is called."""
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["path"])
        await hello(scope, receive, send)

    server = await serve(app)
    attacker = await FrameClient.open(server)
    encoder = attacker.conn.encoder
    big = (b"x-bomb", b"b" * 3000)
    first = encoder.encode([(b":method", b"GET"), (b":path", b"/bomb"), (b":scheme", b"http"),
                            (b":authority", b"t"), big])
    attacker.writer.write(attacker.raw(0x1, 0x5, 1, first))
    # Stream 3: the indexed reference (one byte each) repeated 200 times: 600 KB decoded.
    again = encoder.encode([(b":method", b"GET"), (b":path", b"/bomb"), (b":scheme", b"http"),
                            (b":authority", b"t")] + [big] * 200)
    attacker.writer.write(attacker.raw(0x1, 0x5, 3, again))
    await attacker.writer.drain()
    reset = attacker.raw(0x3, 0x0, 3, b"")[:5]
    try:
        with contextlib.suppress(TimeoutError):
            await attacker.read_raw_until(lambda d: b"431" in d or reset in d)
    finally:
        attacker.close()
    assert seen.count("/bomb") == 1  # the first request was served, the bomb never reached the app
    await assert_still_serving(server)


async def test_request_trailers_reach_the_app_on_the_final_request_message(serve):
    async def trailers_app(scope, receive, send):
        messages = []
        while True:
            message = await receive()
            messages.append(message)
            if not message.get("more_body"):
                break
        body = b"".join(m.get("body", b"") for m in messages)
        final = messages[-1]
        summary = {
            "extension": "http.request.trailers" in scope["extensions"],
            "body": body.decode(),
            "trailers": [[n.decode(), v.decode()] for n, v in final.get("trailers", [])],
            "only_final": all("trailers" not in m for m in messages[:-1]),
        }
        out = json.dumps(summary).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": out})

    server = await serve(trailers_app)
    client = await FrameClient.open(server)
    try:
        headers = [(b":method", b"POST"), (b":path", b"/"), (b":scheme", b"http"), (b":authority", b"t"), (b"te", b"trailers")]
        client.conn.send_headers(1, headers)
        client.conn.send_data(1, b"part one, ")
        client.conn.send_data(1, b"part two")
        client.conn.send_headers(1, [(b"x-checksum", b"abc123"), (b"x-count", b"2")], end_stream=True)
        client.conn.send_headers(3, headers + [(b"content-length", b"0")], end_stream=True)  # no trailers
        await client.flush()
        data = b""
        answers = {}
        async with asyncio.timeout(10):
            while len(answers) < 2:
                chunk = await client.reader.read(65536)
                assert chunk, "the server closed the connection"
                for event in client.conn.receive_data(chunk):
                    if isinstance(event, h2.events.DataReceived):
                        answers[event.stream_id] = answers.get(event.stream_id, b"") + event.data
                        client.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        answers.setdefault(event.stream_id, b"")
                await client.flush()
    finally:
        client.close()
    with_trailers = json.loads(answers[1])
    assert with_trailers == {"extension": True, "body": "part one, part two",
                             "trailers": [["x-checksum", "abc123"], ["x-count", "2"]], "only_final": True}
    without = json.loads(answers[3])
    assert without == {"extension": True, "body": "", "trailers": [], "only_final": True}


async def events_until_reset(server, head, body: bytes = b"") -> list:
    """Send a request head (and some body, never ending it); the events until a RST_STREAM."""
    client = await FrameClient.open(server)
    try:
        client.conn.send_headers(1, head)
        if body:
            client.conn.send_data(1, body)
        await client.flush()
        return await client.read_until(lambda e: isinstance(e, h2.events.StreamReset))
    finally:
        client.close()


def resets_and_statuses(events: list) -> tuple:
    return ([e.error_code for e in events if isinstance(e, h2.events.StreamReset)],
            [dict(e.headers)[b":status"] for e in events if isinstance(e, h2.events.ResponseReceived)])


EXPECT_HEAD = [(b":method", b"POST"), (b":path", b"/"), (b":scheme", b"http"), (b":authority", b"t"),
               (b"content-length", b"5"), (b"expect", b"100-continue")]


async def test_expect_100_continue_answered_when_the_app_reads(serve):
    # curl (-H 'Expect: 100-continue'), Go's and .NET's clients wait for the 100 before
    # the body, up to a timeout (curl's: 1 s per upload).
    server = await serve(echo)
    client = await FrameClient.open(server)
    try:
        client.conn.send_headers(1, EXPECT_HEAD)
        await client.flush()
        await client.read_until(lambda e: isinstance(e, (h2.events.InformationalResponseReceived,
                                                         h2.events.ResponseReceived)))
        interim = client.events[-1]
        assert isinstance(interim, h2.events.InformationalResponseReceived)
        assert dict(interim.headers)[b":status"] == b"100"
        client.conn.send_data(1, b"hello", end_stream=True)
        await client.flush()
        events = await client.read_until(lambda e: isinstance(e, h2.events.StreamEnded))
    finally:
        client.close()
    final = next(e for e in events if isinstance(e, h2.events.ResponseReceived))
    assert dict(final.headers)[b":status"] == b"200"
    assert b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived)) == b"hello"


async def test_expect_100_continue_not_sent_when_the_app_answers_first(serve):
    # No 100 after the final response, and the stream is reset at once rather than its body
    # drained: the client was never told to send (RFC 9110 10.1.1 allows either).
    server = await serve(respond(401, [(b"content-length", b"6")], body=b"denied"))
    events = await events_until_reset(server, EXPECT_HEAD)
    assert resets_and_statuses(events) == ([h2.errors.ErrorCodes.NO_ERROR], [b"401"])
    assert not [e for e in events if isinstance(e, h2.events.InformationalResponseReceived)]


def body_limit_app(seen: list):
    async def app(scope, receive, send):
        while True:
            message = await receive()
            seen.append(message["type"])
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        if seen[-1] == "http.request":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"read"})
    return app


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "no-content-length"])
async def test_limit_request_body_applies_to_http2(serve, length):
    # --limit-request-body was HTTP/1.1's only: over HTTP/2 (any browser on TLS) a body
    # of any size reached the application.
    seen: list = []
    server = await serve(body_limit_app(seen), limit_request_body=1000)
    client = await FrameClient.open(server)
    try:
        head = [(b":method", b"POST"), (b":path", b"/"), (b":scheme", b"http"), (b":authority", b"t")]
        client.conn.send_headers(1, head + ([(b"content-length", b"1500")] if length else []))
        client.conn.send_data(1, b"x" * 1500, end_stream=True)
        await client.flush()
        events = await client.read_until(lambda e: isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)))
        client.conn.send_headers(3, head + [(b"content-length", b"1000")])
        client.conn.send_data(3, b"y" * 1000, end_stream=True)
        await client.flush()
        events = await client.read_until(lambda e: isinstance(e, h2.events.StreamEnded) and e.stream_id == 3)
    finally:
        client.close()
    statuses = {e.stream_id: dict(e.headers)[b":status"] for e in events if isinstance(e, h2.events.ResponseReceived)}
    assert statuses == {1: b"413", 3: b"200"}
    # without a Content-Length the app ran and saw the disconnect; with one it never ran
    assert seen == (["http.request"] if length else ["http.disconnect", "http.request"])


async def test_upgrade_holds_the_response_until_the_client_preface(serve, raw):
    # curl 7.88 (Debian 12) fails an h2c upgrade ("connection buffer size is too small to
    # store data following HTTP Upgrade response header") when more than 32 KiB arrive
    # with the 101: only the 101 and the server's SETTINGS may precede the client's preface.
    answered = asyncio.Event()
    body = b"z" * 100_000

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
        answered.set()

    server = await serve(app)
    conn = await raw(server)
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    settings = client.initiate_upgrade_connection()
    await conn.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                    b"HTTP2-Settings: " + settings + b"\r\n\r\n")
    assert (await conn.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101 ")
    await asyncio.wait_for(answered.wait(), 5)
    await asyncio.sleep(0.2)  # what the server wrote meanwhile crosses loopback
    early = client.receive_data(bytes(conn.collector.buffer))
    conn.collector.buffer.clear()
    assert {type(e) for e in early} == {h2.events.RemoteSettingsChanged, h2.events.WindowUpdated}
    await conn.send(client.data_to_send())
    received = bytearray()
    async with asyncio.timeout(10):
        while True:
            if not conn.collector.buffer:
                assert not conn.collector.eof, "the server closed the connection"
                await conn.collector.wait()
                continue
            events = client.receive_data(bytes(conn.collector.buffer))
            conn.collector.buffer.clear()
            for event in events:
                if isinstance(event, h2.events.DataReceived):
                    received += event.data
                    client.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            await conn.send(client.data_to_send())
            if any(isinstance(e, h2.events.StreamEnded) for e in events):
                break
    assert received == body


# -- a response before the request body: the rest is read and dropped ------------------------


@pytest.mark.parametrize("size", [100_000, 16_000_000])
async def test_httpx_gets_a_response_sent_before_its_upload_is_read(serve, size):
    # httpx's AsyncClient sends the whole body before it reads the response: a RST_STREAM
    # NO_ERROR after the response left it waiting for window forever (nginx drops the body).
    server = await serve(respond(200, [(b"content-length", b"5")], body=b"early"))
    async with httpx.AsyncClient(http1=False, http2=True, timeout=10) as client:
        response = await client.post(server.url + "/upload", content=b"x" * size)
        again = await client.post(server.url + "/again", content=b"y" * size)  # the same connection
    assert (response.status_code, response.content, response.http_version) == (200, b"early", "HTTP/2")
    assert (again.status_code, again.content) == (200, b"early")


EARLY_HEAD = [(b":method", b"POST"), (b":path", b"/"), (b":scheme", b"http"), (b":authority", b"t")]


async def send_window_chunks(client: "FrameClient", sid: int, total: int, end_stream: bool) -> None:
    """Send ``total`` body bytes as the server's windows allow (reading its frames)."""
    left = total
    while left:
        window = min(client.conn.local_flow_control_window(sid), 16384, left)
        if window:
            left -= window
            client.conn.send_data(sid, b"z" * window, end_stream=end_stream and not left)
            await client.flush()
        else:
            await client.read_until(lambda e: isinstance(e, (h2.events.WindowUpdated, h2.events.StreamReset)))
            assert not any(isinstance(e, h2.events.StreamReset) for e in client.events)


async def test_an_unread_body_after_the_response_is_dropped_and_the_stream_ends_cleanly(serve):
    server = await serve(respond(200, [(b"content-length", b"2")], body=b"ok"))
    client = await FrameClient.open(server)
    try:
        client.conn.send_headers(1, EARLY_HEAD)
        await client.flush()
        await client.read_until(lambda e: isinstance(e, h2.events.StreamEnded))
        await send_window_chunks(client, 1, 300_000, True)  # past both initial windows
        client.conn.ping(b"12345678")
        await client.flush()
        events = await client.read_until(lambda e: isinstance(e, h2.events.PingAckReceived))
    finally:
        client.close()
    assert not [e for e in events if isinstance(e, (h2.events.StreamReset, h2.events.ConnectionTerminated))]
    assert [dict(e.headers)[b":status"] for e in events if isinstance(e, h2.events.ResponseReceived)] == [b"200"]


async def test_an_unread_body_still_coming_after_the_header_timeout_is_reset_with_no_error(serve):
    server = await serve(respond(200, [(b"content-length", b"2")], body=b"ok"), timeout_request_header=0.5)
    events = await events_until_reset(server, EARLY_HEAD, b"z" * 1000)  # then the client stalls
    assert resets_and_statuses(events) == ([h2.errors.ErrorCodes.NO_ERROR], [b"200"])


async def uploads(size: int):
    """A body of ``size`` bytes in 64 KiB pieces: httpx sends it without a Content-Length."""
    for start in range(0, size, 65536):
        yield b"x" * min(65536, size - start)


@pytest.mark.parametrize("size", [2_000_000, 16_000_000])
@pytest.mark.parametrize("length", [True, False], ids=["content-length", "no-content-length"])
async def test_httpx_gets_413_for_an_upload_past_limit_request_body(serve, size, length):
    # httpx's AsyncClient sends the whole body before it reads the response. A reset after
    # the 413 lost it: with a Content-Length past the limit httpx waited for window until
    # the keep-alive GOAWAY (ConnectionTerminated), without one it failed at once
    # (LocalProtocolError, data on a reset stream). The rest is now dropped, as after the
    # application's own early answers, and the connection serves the next request.
    seen: list = []
    server = await serve(body_limit_app(seen), limit_request_body=1_000_000)
    async with httpx.AsyncClient(http1=False, http2=True, timeout=10) as client:
        response = await client.post(server.url + "/", content=b"x" * size if length else uploads(size))
        again = await client.post(server.url + "/", content=b"y" * 1000)
    assert (response.status_code, response.http_version) == (413, "HTTP/2")
    assert (again.status_code, again.content) == (200, b"read")


async def test_limit_request_body_drops_the_rest_of_an_upload_in_progress(serve):
    server = await serve(body_limit_app([]), limit_request_body=1000, timeout_request_header=60)
    client = await FrameClient.open(server)
    try:
        client.conn.send_headers(1, EARLY_HEAD + [(b"content-length", b"300000")])
        client.conn.send_data(1, b"x" * 1000)
        client.conn.send_headers(3, EARLY_HEAD)
        client.conn.send_data(3, b"x" * 1500)
        await client.flush()
        await client.read_until(lambda e: isinstance(e, h2.events.StreamEnded) and e.stream_id == 3)
        await send_window_chunks(client, 1, 299_000, True)  # past both initial windows
        await send_window_chunks(client, 3, 200_000, True)
        client.conn.ping(b"12345678")
        await client.flush()
        await client.read_until(lambda e: isinstance(e, h2.events.PingAckReceived))
    finally:
        client.close()
    events = client.events
    statuses = {e.stream_id: dict(e.headers)[b":status"] for e in events if isinstance(e, h2.events.ResponseReceived)}
    assert statuses == {1: b"413", 3: b"413"}
    assert not [e for e in events if isinstance(e, (h2.events.StreamReset, h2.events.ConnectionTerminated))]


async def test_a_413_still_resets_an_upload_that_outlasts_the_header_timeout(serve):
    server = await serve(body_limit_app([]), limit_request_body=1000, timeout_request_header=0.5)
    events = await events_until_reset(server, EARLY_HEAD, b"z" * 1500)  # then the client stalls
    assert resets_and_statuses(events) == ([h2.errors.ErrorCodes.NO_ERROR], [b"413"])


async def test_httpx_gets_503_for_an_upload_past_limit_concurrency(serve):
    # The same drop after the server's own 503 (--limit-concurrency): httpx, which sends
    # its whole body first, used to lose the answer to the reset.
    release = asyncio.Event()

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["path"] == "/hold":
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    server = await serve(app, limit_concurrency=1)
    async with httpx.AsyncClient(http1=False, http2=True, timeout=10) as client:
        held = asyncio.create_task(client.get(server.url + "/hold"))
        for _ in range(100):  # until the held request occupies the one slot
            if server.context is not None and server.context.tasks:
                break
            await asyncio.sleep(0.01)
        response = await client.post(server.url + "/upload", content=b"x" * 2_000_000)
        release.set()
        assert (await held).status_code == 200
    assert (response.status_code, response.http_version) == (503, "HTTP/2")
