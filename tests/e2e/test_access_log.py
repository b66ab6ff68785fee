"""The access log and the request hook over real sockets: named fields per request
(``record.pyre``), the uvicorn-style line, bytes, duration, request id, for HTTP/1.1,
HTTP/2 and WebSocket (over both), and observers attached to ``ServerContext``.

The whole suite runs once per mode, so both HTTP/1.1 twins are covered."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import List

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from pyre.access_log import RequestRecord
from pyre.logs import AccessFormatter, JSONAccessFormatter
from tests.apps import echo as http_echo
from tests.apps import hello
from tests.e2e.test_websocket import H2WebSocketClient, echo, ws_url


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def fields(self) -> List[dict]:
        return [r.pyre for r in self.records]


@pytest.fixture
def access():
    """Every ``pyre.access`` record, whatever another test did to the logger."""
    logger = logging.getLogger("pyre.access")
    saved = (logger.handlers, logger.propagate, logger.level, logger.disabled)
    handler = _Records()
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.disabled = False
    yield handler
    logger.handlers, logger.propagate, _, logger.disabled = saved
    logger.setLevel(saved[2])


async def wait_for(predicate, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def slow(scope, receive, send):
    """Answers after 50 ms; the body depends on the path."""
    if scope["type"] != "http":
        return
    await asyncio.sleep(0.05)
    body = b"x" * 1000 if scope["path"] == "/big" else b"slow!"
    await send({"type": "http.response.start", "status": 201,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def streaming(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for part in (b"abc", b"", b"defgh", b"ij"):
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def failing(scope, receive, send):
    raise RuntimeError("boom")


# -- HTTP/1.1 --------------------------------------------------------------------------------------


async def test_http11_fields_and_the_default_line(serve, access):
    server = await serve(slow)
    async with httpx.AsyncClient() as client:
        response = await client.get(server.url + "/p/a%20b?q=1&r", headers={
            "X-Request-ID": "req-42", "User-Agent": "agent/1.0", "Referer": "http://example.test/from"})
    assert response.status_code == 201
    await wait_for(lambda: access.records)
    [record] = access.records
    fields = record.pyre
    port = fields["client"].rsplit(":", 1)[1]
    assert fields["client"] == f"127.0.0.1:{port}" and int(port) > 0
    assert fields == {
        "client": fields["client"], "method": "GET", "path": "/p/a%20b?q=1&r", "status": 201, "bytes": 5,
        "request_bytes": 0, "duration_ms": fields["duration_ms"], "protocol": "HTTP/1.1", "request_id": "req-42",
        "http_version": "1.1", "user_agent": "agent/1.0", "referer": "http://example.test/from",
    }
    assert 45 <= fields["duration_ms"] < 5000
    # The line and the args are uvicorn's, the status with its reason phrase.
    assert record.getMessage() == f'127.0.0.1:{port} - "GET /p/a%20b?q=1&r HTTP/1.1" 201 Created'
    assert record.args == (f"127.0.0.1:{port}", "GET", "/p/a%20b?q=1&r", "1.1", 201)
    assert record.levelno == logging.INFO and record.name == "pyre.access"


async def test_one_record_per_request_on_a_keep_alive_connection(serve, access):
    server = await serve(slow)
    async with httpx.AsyncClient() as client:
        await client.get(server.url + "/big")
        await client.head(server.url + "/big")
        await client.get(server.url + "/small")
    await wait_for(lambda: len(access.records) == 3)
    got = [(f["method"], f["path"], f["bytes"], f["request_id"]) for f in access.fields()]
    # HEAD sends no body; without X-Request-ID the field is "-".
    assert got == [("GET", "/big", 1000, "-"), ("HEAD", "/big", 0, "-"), ("GET", "/small", 5, "-")]


async def test_pipelined_requests_and_http10(serve, raw, access):
    server = await serve(hello)
    conn = await raw(server)
    await conn.send(b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\nX-Request-ID: two\r\n\r\n")
    await conn.read_response()
    await conn.read_response()
    conn10 = await raw(server)
    await conn10.send(b"GET /old HTTP/1.0\r\n\r\n")
    await conn10.read_response()
    await wait_for(lambda: len(access.records) == 3)
    got = [(f["path"], f["bytes"], f["protocol"], f["http_version"], f["request_id"]) for f in access.fields()]
    assert got == [("/1", 13, "HTTP/1.1", "1.1", "-"), ("/2", 13, "HTTP/1.1", "1.1", "two"),
                   ("/old", 13, "HTTP/1.0", "1.0", "-")]
    assert access.records[2].getMessage().endswith('"GET /old HTTP/1.0" 200 OK')


async def test_chunked_bytes_count_the_body_not_the_framing(serve, access):
    server = await serve(streaming)
    async with httpx.AsyncClient() as client:
        response = await client.get(server.url + "/s")
    assert response.content == b"abcdefghij"
    await wait_for(lambda: access.records)
    assert access.records[0].pyre["bytes"] == 10


async def test_request_bytes_count_the_body_received_not_its_framing(serve, raw, access):
    server = await serve(http_echo)
    conn = await raw(server)  # one keep-alive connection: the count starts again at each request
    await conn.send(b"POST /length HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" + b"a" * 300)
    await asyncio.sleep(0.02)
    await conn.send(b"b" * 700)  # a second read: a second Body event
    assert (await conn.read_response())[2] == b"a" * 300 + b"b" * 700
    await conn.send(b"POST /chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
    assert (await conn.read_response())[2] == b"hello world"
    await conn.send(b"GET /get HTTP/1.1\r\nHost: t\r\n\r\n")
    await conn.read_response()
    async with httpx.AsyncClient() as client:
        response = await client.post(server.url + "/httpx", content=b"z" * 70000)
        assert len(response.content) == 70000
        async def parts():
            for part in (b"12345", b"", b"6789"):
                yield part

        response = await client.put(server.url + "/stream", content=parts())  # chunked
        assert response.content == b"123456789"
    await wait_for(lambda: len(access.records) == 5)
    got = [(f["method"], f["path"], f["request_bytes"], f["bytes"]) for f in access.fields()]
    assert got == [("POST", "/length", 1000, 1000), ("POST", "/chunked", 11, 11), ("GET", "/get", 0, 0),
                   ("POST", "/httpx", 70000, 70000), ("PUT", "/stream", 9, 9)]


async def test_request_bytes_are_those_received_before_the_response_was_complete(serve, raw, access):
    server = await serve(hello)  # answers without reading the body
    conn = await raw(server)
    await conn.send(b"POST /early HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n1234")
    await conn.read_response()
    await conn.send(b"567890GET /next HTTP/1.1\r\nHost: t\r\n\r\n")  # the rest is read and discarded
    await conn.read_response()
    await wait_for(lambda: len(access.records) == 2)
    assert [(f["path"], f["request_bytes"]) for f in access.fields()] == [("/early", 4), ("/next", 0)]


async def test_server_generated_500_is_logged_with_its_body(serve, access):
    server = await serve(failing)
    async with httpx.AsyncClient() as client:
        response = await client.get(server.url + "/f")
    assert response.status_code == 500
    await wait_for(lambda: access.records)
    [fields] = access.fields()
    assert fields["status"] == 500 and fields["bytes"] == len(response.content) > 0


async def test_access_log_off_or_level_above_info_logs_nothing(serve, access):
    off = await serve(hello, access_log=False)
    async with httpx.AsyncClient() as client:
        await client.get(off.url + "/")
    on = await serve(hello)
    logging.getLogger("pyre.access").setLevel(logging.WARNING)
    async with httpx.AsyncClient() as client:
        await client.get(on.url + "/")
    await asyncio.sleep(0.05)
    assert access.records == []


# -- the hook: observers -------------------------------------------------------------------------


async def test_observers_see_every_request_even_with_the_access_log_off(serve, access):
    server = await serve(slow, access_log=False)
    seen: List[RequestRecord] = []
    server.context.add_request_observer(seen.append)

    def broken(record):
        raise ValueError("observer bug")

    server.context.add_request_observer(broken)  # logged to pyre.error; serving goes on
    async with httpx.AsyncClient() as client:
        await client.get(server.url + "/big?x", headers={"x-request-id": "obs"})
        await client.get(server.url + "/again")
    await wait_for(lambda: len(seen) == 2)
    first = seen[0]
    assert (first.protocol, first.method, first.path, first.status, first.bytes, first.request_id) == (
        "HTTP/1.1", "GET", "/big?x", 201, 1000, "obs")
    assert first.duration >= 0.045 and first.duration_ms == round(first.duration * 1000, 3)
    assert first.request_bytes == 0 and first.fields()["request_bytes"] == 0
    assert seen[1].path == "/again"
    assert access.records == []
    server.context.remove_request_observer(seen.append)
    server.context.remove_request_observer(broken)
    assert server.context.request_observers == ()


# -- HTTP/2 --------------------------------------------------------------------------------------------


async def test_http2_fields(serve, access):
    server = await serve(slow)
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        response = await client.get(server.url + "/big?h=2", headers={"x-request-id": "h2-id"})
        assert response.http_version == "HTTP/2"
        await client.head(server.url + "/big")
    await wait_for(lambda: len(access.records) == 2)
    fields = access.records[0].pyre
    assert (fields["method"], fields["path"], fields["status"], fields["bytes"], fields["protocol"],
            fields["http_version"], fields["request_id"]) == ("GET", "/big?h=2", 201, 1000, "HTTP/2", "2", "h2-id")
    assert fields["duration_ms"] >= 45
    assert access.records[0].getMessage() == f'{fields["client"]} - "GET /big?h=2 HTTP/2" 201 Created'
    assert access.records[1].pyre["bytes"] == 0  # HEAD
    assert [f["request_bytes"] for f in access.fields()] == [0, 0]


async def test_http2_request_bytes_count_data_payloads_without_padding(serve, access):
    server = await serve(http_echo)
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        response = await client.post(server.url + "/big", content=b"q" * 100000)  # many DATA frames
        assert response.http_version == "HTTP/2" and len(response.content) == 100000
    client = await H2WebSocketClient.open(server)
    try:
        sid = client.conn.get_next_available_stream_id()
        client.conn.send_headers(sid, [(b":method", b"POST"), (b":path", b"/padded"), (b":scheme", b"http"),
                                       (b":authority", b"t")])
        client.conn.send_data(sid, b"abc", pad_length=40)
        client.conn.send_data(sid, b"defg", end_stream=True, pad_length=7)
        await client.flush()
        await client.read_until(lambda: sid in client.ended)
        assert client.data[sid] == b"abcdefg"
    finally:
        client.close()
    await wait_for(lambda: len(access.records) == 2)
    got = [(f["path"], f["request_bytes"], f["bytes"], f["protocol"]) for f in access.fields()]
    assert got == [("/big", 100000, 100000, "HTTP/2"), ("/padded", 7, 7, "HTTP/2")]


async def test_http2_streamed_response_bytes(serve, access):
    server = await serve(streaming)
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        response = await client.get(server.url + "/s")
    assert response.content == b"abcdefghij"
    await wait_for(lambda: access.records)
    assert access.records[0].pyre["bytes"] == 10


# -- WebSocket -----------------------------------------------------------------------------------------


async def test_websocket_handshake_is_one_record(serve, access):
    server = await serve(echo)
    async with websockets.connect(ws_url(server, "/a?b=1"), additional_headers={"X-Request-ID": "ws-1"}) as ws:
        await ws.send("x")
        assert await ws.recv() == "x"
        await ws.send(b"y" * 100)
        await ws.recv()
    await asyncio.sleep(0.05)
    [record] = access.records
    fields = record.pyre
    assert (fields["method"], fields["path"], fields["status"], fields["bytes"], fields["protocol"],
            fields["http_version"], fields["request_id"]) == ("GET", "/a?b=1", 101, 0, "WebSocket", "1.1", "ws-1")
    assert fields["request_bytes"] == 0  # frames are not a request body
    assert record.getMessage() == f'{fields["client"]} - "WebSocket /a?b=1" 101'


async def test_websocket_denials_and_refusals(serve, raw, access):
    async def app(scope, receive, send):
        await receive()
        if scope["path"] == "/deny":
            await send({"type": "websocket.http.response.start", "status": 451,
                        "headers": [(b"content-length", b"7")]})
            await send({"type": "websocket.http.response.body", "body": b"den", "more_body": True})
            await send({"type": "websocket.http.response.body", "body": b"ied!"})
        else:
            await send({"type": "websocket.close"})

    server = await serve(app)
    for path, status in (("/deny", 451), ("/close", 403)):
        with pytest.raises(InvalidStatus):
            async with websockets.connect(ws_url(server, path)):
                pass
    conn = await raw(server)  # a bad handshake (no key): answered 400, the app never called
    await conn.send(b"GET /bad HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                    b"Sec-WebSocket-Version: 13\r\n\r\n")
    status, _, body = await conn.read_response()
    assert status.startswith(b"HTTP/1.1 400")
    await wait_for(lambda: len(access.records) == 3)
    got = [(f["path"], f["status"], f["bytes"], f["protocol"]) for f in access.fields()]
    assert got == [("/deny", 451, 7, "WebSocket"), ("/close", 403, len(b"Forbidden\n"), "WebSocket"),
                   ("/bad", 400, len(body), "WebSocket")]


async def test_websocket_over_http2_is_one_record_at_the_handshake(serve, access):
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import CloseConnection, TextMessage

    server = await serve(echo)
    client = await H2WebSocketClient.open(server)
    try:
        sid = await client.connect(b"/h2ws?z=9", [(b"x-request-id", b"over-h2")])
        assert client.responses[sid][b":status"] == b"200"
        await wait_for(lambda: access.records)  # logged when accepted, not when closed
        ws = Connection(ConnectionType.CLIENT)
        await client.send(sid, ws.send(TextMessage("hello")))
        await client.read_until(lambda: sid in client.data)
        await client.send(sid, ws.send(CloseConnection(code=1000)))
        await client.read_until(lambda: sid in client.ended)
    finally:
        client.close()
    await asyncio.sleep(0.05)
    [record] = access.records
    fields = record.pyre
    assert (fields["method"], fields["path"], fields["status"], fields["bytes"], fields["protocol"],
            fields["http_version"], fields["request_id"]) == ("CONNECT", "/h2ws?z=9", 200, 0, "WebSocket", "2",
                                                              "over-h2")
    assert fields["request_bytes"] == 0
    assert record.getMessage() == f'{fields["client"]} - "WebSocket /h2ws?z=9" 200'


# -- formatters on live records -------------------------------------------------------------------


async def test_formatters_render_live_records(serve, access):
    server = await serve(slow)
    async with httpx.AsyncClient() as client:
        await client.get(server.url + "/big?j=1", headers={"x-request-id": "fmt"})
    await wait_for(lambda: access.records)
    record = access.records[0]
    line = json.loads(JSONAccessFormatter().format(record))
    assert list(line)[:2] == ["time", "level"] and line["level"] == "INFO"
    assert {k: line[k] for k in ("path", "status", "bytes", "protocol", "request_id")} == {
        "path": "/big?j=1", "status": 201, "bytes": 1000, "protocol": "HTTP/1.1", "request_id": "fmt"}
    text = AccessFormatter("{method} {path} {status} {bytes} {request_id}", use_colors=False).format(record)
    assert text == "INFO:     GET /big?j=1 201 1000 fmt"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AccessFormatter(use_colors=False))  # no template: the default line
    handler.handle(record)
    assert stream.getvalue() == f"INFO:     {record.getMessage()}\n"


async def test_the_access_log_names_the_forwarded_client_of_a_trusted_proxy(serve, access):
    spoofed = {"x-forwarded-for": "6.6.6.6, 203.0.113.7"}
    server = await serve(hello)  # 127.0.0.1 is trusted by default
    async with httpx.AsyncClient() as client:
        await client.get(server.url + "/a", headers=spoofed)
        await client.get(server.url + "/b")
    untrusted = await serve(hello, forwarded_allow_ips="10.0.0.0/8")
    async with httpx.AsyncClient() as client:
        await client.get(untrusted.url + "/c", headers=spoofed)
    await wait_for(lambda: len(access.records) == 3)
    clients = [(f["path"], f["client"].rpartition(":")[0]) for f in access.fields()]
    assert clients == [("/a", "203.0.113.7"), ("/b", "127.0.0.1"), ("/c", "127.0.0.1")]
    assert access.records[0].getMessage().startswith('203.0.113.7:0 - "GET /a HTTP/1.1" 200')
