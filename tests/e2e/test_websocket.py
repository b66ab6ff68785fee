"""WebSocket over HTTP/1.1 end to end: the `websockets` client, raw sockets for exact
bytes, and a Starlette endpoint, against the embedded server (both loops)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import zlib

import h2.exceptions
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.e2e import stalls

KEY = base64.b64encode(b"0123456789abcdef")


async def echo(scope, receive, send):
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"plain http"})
        return
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept", "subprotocol": (scope["subprotocols"] or [None])[0],
                "headers": [(b"x-accepted", b"yes")]})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "scope":
            safe = {k: v for k, v in scope.items() if k in ("type", "scheme", "path", "query_string", "http_version",
                                                            "subprotocols", "root_path", "extensions")}
            safe["query_string"] = safe["query_string"].decode()
            await send({"type": "websocket.send", "text": json.dumps(safe)})
        elif message.get("text") == "close":
            await send({"type": "websocket.close", "code": 4000, "reason": "as asked"})
            return
        elif message.get("text") == "raise":
            raise RuntimeError("boom")
        elif message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


def ws_url(server, path="/"):
    return f"ws://127.0.0.1:{server.bound_port}{path}"


def handshake(path=b"/", extra=b"", key=KEY, version=b"13"):
    return (b"GET " + path + b" HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: " + version + b"\r\n" + extra + b"\r\n")


def client_frame(opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False) -> bytes:
    mask = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def parse_server_frames(data: bytes):
    frames = []
    while len(data) >= 2:
        opcode = data[0] & 0x0F
        n = data[1] & 0x7F
        pos = 2
        if n == 126:
            n, pos = struct.unpack(">H", data[2:4])[0], 4
        elif n == 127:
            n, pos = struct.unpack(">Q", data[2:10])[0], 10
        frames.append((opcode, data[pos:pos + n]))
        data = data[pos + n:]
    return frames


def close_code(payload: bytes) -> int:
    return struct.unpack(">H", payload[:2])[0]


async def test_text_binary_subprotocol_headers_and_close_codes(serve):
    server = await serve(echo)
    async with websockets.connect(ws_url(server, "/chat?room=1"), subprotocols=["v2", "v1"]) as ws:
        assert ws.subprotocol == "v2"
        assert ws.response.headers["x-accepted"] == "yes"
        assert ws.response.headers["server"] == "pyre"
        await ws.send("héllo")
        assert await ws.recv() == "héllo"
        await ws.send(b"\x00\xff")
        assert await ws.recv() == b"\x00\xff"
        big = os.urandom(300_000)
        await ws.send(big)
        assert await ws.recv() == big
        await ws.send("scope")
        scope = json.loads(await ws.recv())
        assert scope == {"type": "websocket", "scheme": "ws", "path": "/chat", "query_string": "room=1",
                         "http_version": "1.1", "subprotocols": ["v2", "v1"], "root_path": "",
                         "extensions": {"websocket.http.response": {}}}
        await ws.send("close")
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd.code == 4000 and info.value.rcvd.reason == "as asked"


async def test_fragmented_messages_and_ping_are_handled(serve, raw):
    server = await serve(echo)
    conn = await raw(server)
    await conn.send(handshake())
    head = await conn.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    await conn.send(client_frame(0x1, b"hel", fin=False) + client_frame(0x9, b"ping!") +
                    client_frame(0x0, b"lo", fin=True))
    data = await conn.readexactly(2 + 5 + 2 + 5)
    assert parse_server_frames(data) == [(0xA, b"ping!"), (0x1, b"hello")]
    await conn.send(client_frame(0x8, struct.pack(">H", 1000) + b"done"))
    data = await conn.read_all()
    assert parse_server_frames(data) == [(0x8, struct.pack(">H", 1000) + b"done")]


async def test_the_app_gets_the_clients_close_code_and_reason(serve):
    seen = asyncio.get_running_loop().create_future()

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        seen.set_result(await receive())

    server = await serve(app)
    async with websockets.connect(ws_url(server)) as ws:
        await ws.close(code=4321, reason="client leaving")
    assert await asyncio.wait_for(seen, 5) == {"type": "websocket.disconnect", "code": 4321, "reason": "client leaving"}


@pytest.mark.parametrize("request_bytes, status, extra", [
    (handshake(version=b"8"), 426, b"sec-websocket-version: 13"),
    (handshake(key=b"not-base64!"), 400, b""),
    (handshake(key=base64.b64encode(b"short")), 400, b""),
    (handshake().replace(b"Sec-WebSocket-Key: " + KEY + b"\r\n", b""), 400, b""),
    (handshake().replace(b"GET ", b"POST ").replace(b"\r\n\r\n", b"\r\nContent-Length: 0\r\n\r\n"), 400, b""),
])
async def test_invalid_handshakes_are_refused_without_calling_the_app(serve, raw, request_bytes, status, extra):
    called = []

    async def app(scope, receive, send):
        called.append(scope)

    server = await serve(app)
    conn = await raw(server)
    await conn.send(request_bytes)
    status_line, headers, body = await conn.read_response()
    assert status_line.startswith(b"HTTP/1.1 %d " % status)
    if extra:
        name, value = extra.decode().split(": ")
        assert headers[name] == value
    assert await conn.closed()
    assert called == []


async def test_close_before_accept_is_403_and_returning_without_accept_too(serve):
    async def app(scope, receive, send):
        await receive()
        if scope["path"] == "/close":
            await send({"type": "websocket.close"})

    server = await serve(app)
    for path in ("/close", "/return"):
        with pytest.raises(InvalidStatus) as info:
            async with websockets.connect(ws_url(server, path)):
                pass
        assert info.value.response.status_code == 403


async def test_denial_response_extension(serve):
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.http.response.start", "status": 401,
                    "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")]})
        await send({"type": "websocket.http.response.body", "body": b"no ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"entry"})

    server = await serve(app)
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(ws_url(server)):
            pass
    response = info.value.response
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert response.body == b"no entry"


async def test_app_errors_are_500_before_accept_and_1011_after(serve):
    async def app(scope, receive, send):
        await receive()
        if scope["path"] == "/early":
            raise RuntimeError("before accept")
        await send({"type": "websocket.accept"})
        await receive()
        raise RuntimeError("after accept")

    server = await serve(app)
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(ws_url(server, "/early")):
            pass
    assert info.value.response.status_code == 500
    async with websockets.connect(ws_url(server, "/late")) as ws:
        await ws.send("anything")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 1011


async def test_send_after_the_client_left_raises_an_oserror(serve):
    outcome = asyncio.get_running_loop().create_future()

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        assert (await receive())["type"] == "websocket.disconnect"
        try:
            await send({"type": "websocket.send", "text": "too late"})
        except OSError as exc:
            outcome.set_result(type(exc).__name__)
        else:
            outcome.set_result("no error")

    server = await serve(app)
    async with websockets.connect(ws_url(server)) as ws:
        await ws.close()
    assert await asyncio.wait_for(outcome, 5) == "ClientDisconnected"


async def test_message_larger_than_max_size_is_closed_1009(serve):
    server = await serve(echo, ws_max_size=1000)
    async with websockets.connect(ws_url(server), max_size=None) as ws:
        await ws.send("x" * 1000)
        assert await ws.recv() == "x" * 1000
        await ws.send("x" * 1001)
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd.code == 1009


async def test_an_incompressible_echo_just_under_the_clients_max_size_arrives(serve):
    # websockets (compression on by default) checks a frame's length against its
    # max_size (1 MiB) before inflating: deflate made random bytes ~0.03% longer, so an
    # echo just under the limit arrived over it and the client closed with 1009.
    server = await serve(echo)
    async with websockets.connect(ws_url(server)) as ws:
        assert ws.protocol.extensions  # permessage-deflate negotiated
        for size in ((1 << 20) - 16, 100_000):
            data = os.urandom(size)
            await ws.send(data)
            assert await asyncio.wait_for(ws.recv(), 10) == data
        await ws.send("text that compresses, " * 100)  # the context is still right
        assert await asyncio.wait_for(ws.recv(), 10) == "text that compresses, " * 100


async def test_compression_bomb_is_refused_with_1009_before_inflating(serve, raw):
    server = await serve(echo, ws_max_size=64 * 1024)
    conn = await raw(server)
    await conn.send(handshake(extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n"))
    head = await conn.readuntil(b"\r\n\r\n")
    assert b"sec-websocket-extensions: permessage-deflate" in head.lower()
    # 64 MiB of zeros compresses to about 64 KiB: far past the limit once inflated.
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = compressor.compress(b"\0" * (64 * 1024 * 1024)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    bomb = bomb[:-4]  # RFC 7692: the empty block's tail is left out
    await conn.send(client_frame(0x2, bomb, rsv1=True))
    data = await conn.read_all()
    frames = parse_server_frames(data)
    assert frames and frames[-1][0] == 0x8 and close_code(frames[-1][1]) == 1009


async def test_compressed_messages_echo(serve):
    server = await serve(echo)
    async with websockets.connect(ws_url(server), compression="deflate") as ws:
        assert "permessage-deflate" in ws.response.headers["sec-websocket-extensions"]
        text = "compress me " * 1000
        await ws.send(text)
        assert await ws.recv() == text


async def test_compression_can_be_switched_off(serve):
    server = await serve(echo, ws_per_message_deflate=False)
    async with websockets.connect(ws_url(server), compression="deflate") as ws:
        assert "sec-websocket-extensions" not in ws.response.headers
        await ws.send("plain")
        assert await ws.recv() == "plain"


@pytest.mark.parametrize("frame, code", [
    (client_frame(0x1, b"\xff\xfe"), 1007),  # invalid UTF-8
    (client_frame(0x3, b"x"), 1002),  # reserved opcode
    (bytes([0x81, 0x01, 0x41]), 1002),  # unmasked client frame
])
async def test_protocol_errors_close_with_the_rfc_code(serve, raw, frame, code):
    server = await serve(echo)
    conn = await raw(server)
    await conn.send(handshake())
    await conn.readuntil(b"\r\n\r\n")
    await conn.send(frame)
    frames = parse_server_frames(await conn.read_all())
    assert frames and frames[-1][0] == 0x8 and close_code(frames[-1][1]) == code


async def test_a_silent_peer_is_pinged_and_closed_1011(serve, raw):
    server = await serve(echo, ws_ping_interval=0.2, ws_ping_timeout=0.2)
    conn = await raw(server)
    await conn.send(handshake())
    await conn.readuntil(b"\r\n\r\n")
    frames = parse_server_frames(await conn.read_all(timeout=5))
    kinds = [opcode for opcode, _ in frames]
    assert kinds[0] == 0x9 and kinds[-1] == 0x8 and close_code(frames[-1][1]) == 1011


async def test_pongs_keep_the_connection_open(serve):
    server = await serve(echo, ws_ping_interval=0.1, ws_ping_timeout=0.2)
    async with websockets.connect(ws_url(server), ping_interval=None) as ws:  # the client answers pings itself
        await asyncio.sleep(0.8)
        await ws.send("still here")
        assert await ws.recv() == "still here"


async def test_ws_none_serves_upgrade_requests_as_http(serve, raw):
    server = await serve(echo, ws="none")
    conn = await raw(server)
    await conn.send(handshake())
    status_line, headers, body = await conn.read_response()
    assert status_line.startswith(b"HTTP/1.1 200 ") and body == b"plain http"


async def test_a_slow_app_stops_the_reading_at_max_queue(serve):
    release = asyncio.Event()
    got = []

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        await release.wait()
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            got.append(message["text"])
            if len(got) == 200:
                await send({"type": "websocket.send", "text": "all"})

    server = await serve(app, ws_max_queue=4)
    async with websockets.connect(ws_url(server)) as ws:
        for i in range(200):
            await ws.send(f"m{i}")
        await asyncio.sleep(0.2)
        conns = [c for c in server.context.connections if type(c).__name__ == "WSProtocol"]
        assert conns and conns[0].cycle.queued == 4 and conns[0]._read_paused and conns[0].session.backlog
        release.set()
        assert await asyncio.wait_for(ws.recv(), 5) == "all"
    assert got == [f"m{i}" for i in range(200)]


async def test_graceful_shutdown_closes_with_1012(serve):
    server = await serve(echo)
    ws = await websockets.connect(ws_url(server))
    await ws.send("hi")
    assert await ws.recv() == "hi"
    server.should_exit = True
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd.code == 1012
    await ws.close()


async def test_starlette_websocket_endpoint(serve):
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    async def endpoint(websocket):
        await websocket.accept()
        name = await websocket.receive_text()
        await websocket.send_json({"hello": name})
        await websocket.close()

    server = await serve(Starlette(routes=[WebSocketRoute("/ws", endpoint)]))
    async with websockets.connect(ws_url(server, "/ws")) as ws:
        await ws.send("pyre")
        assert json.loads(await ws.recv()) == {"hello": "pyre"}


def test_real_cli_serves_websocket_with_its_options(start_cli):
    running = start_cli("pyre.demo:app", "--port", "0", "--ws-max-size", "100", "--ws-per-message-deflate", "false")
    url = running.url.replace("http://", "ws://") + "/ws"

    async def talk():
        async with websockets.connect(url, compression="deflate") as ws:
            assert "sec-websocket-extensions" not in ws.response.headers
            await ws.send("hi")
            assert await ws.recv() == "hi"
            await ws.send("x" * 101)
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            return info.value.rcvd.code

    assert asyncio.run(talk()) == 1009
    assert running.stop() == 0


# -- WebSocket over HTTP/2 (RFC 8441) ----------------------------------------------------------


class H2WebSocketClient:
    """An h2 client connection opening WebSocket streams with extended CONNECT; frames by wsproto."""

    def __init__(self, reader, writer):
        import h2.config
        import h2.connection

        self.reader, self.writer = reader, writer
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.events: list = []
        self.data: dict = {}
        self.responses: dict = {}
        self.ended: set = set()

    @classmethod
    async def open(cls, server):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
        client = cls(reader, writer)
        client.conn.initiate_connection()
        await client.flush()
        await client.read_until(lambda: any(type(e).__name__ == "RemoteSettingsChanged" for e in client.events))
        return client

    async def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def read_until(self, done, timeout=5):
        import h2.events

        async with asyncio.timeout(timeout):
            while not done():
                chunk = await self.reader.read(65536)
                if not chunk:
                    return
                for event in self.conn.receive_data(chunk):
                    self.events.append(event)
                    if isinstance(event, h2.events.ResponseReceived):
                        self.responses[event.stream_id] = dict(event.headers)
                    elif isinstance(event, h2.events.DataReceived):
                        self.data[event.stream_id] = self.data.get(event.stream_id, b"") + event.data
                        self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                        self.ended.add(event.stream_id)
                await self.flush()

    async def connect(self, path=b"/", extra=()):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"http"),
                                     (b":path", path), (b":authority", b"t"), (b"sec-websocket-version", b"13"),
                                     *extra])
        await self.flush()
        await self.read_until(lambda: sid in self.responses or sid in self.ended)
        return sid

    async def send(self, sid, data: bytes, end=False):
        self.conn.send_data(sid, data, end_stream=end)
        await self.flush()

    def close(self):
        self.writer.close()


async def test_websocket_over_http2(serve):
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import BytesMessage, CloseConnection, TextMessage

    server = await serve(echo)
    client = await H2WebSocketClient.open(server)
    try:
        assert client.conn.remote_settings.get(0x8) == 1  # SETTINGS_ENABLE_CONNECT_PROTOCOL
        sid = await client.connect(b"/h2?x=1", [(b"sec-websocket-protocol", b"v1")])
        assert client.responses[sid][b":status"] == b"200"
        assert client.responses[sid][b"sec-websocket-protocol"] == b"v1"
        ws = Connection(ConnectionType.CLIENT)
        await client.send(sid, ws.send(TextMessage("over h2")) + ws.send(BytesMessage(b"\x01\x02")) +
                          ws.send(TextMessage("scope")))
        received = []

        def got_three():
            ws.receive_data(client.data.pop(sid, b""))
            received.extend(ws.events())
            return len(received) >= 3

        await client.read_until(got_three)
        assert received[0].data == "over h2" and received[1].data == b"\x01\x02"
        scope = json.loads(received[2].data)
        assert scope["http_version"] == "2" and scope["path"] == "/h2" and scope["query_string"] == "x=1"
        assert scope["subprotocols"] == ["v1"]
        await client.send(sid, ws.send(CloseConnection(code=1000, reason="done")))
        await client.read_until(lambda: sid in client.ended)
        ws.receive_data(client.data.pop(sid, b""))
        closing = [e for e in ws.events() if isinstance(e, CloseConnection)]
        assert closing and closing[0].code == 1000
    finally:
        client.close()


async def test_websocket_over_http2_refusals(serve):
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.close"})

    server = await serve(app)
    client = await H2WebSocketClient.open(server)
    try:
        sid = await client.connect()
        assert client.responses[sid][b":status"] == b"403"
        sid3 = client.conn.get_next_available_stream_id()
        client.conn.send_headers(sid3, [(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"http"),
                                        (b":path", b"/"), (b":authority", b"t"), (b"sec-websocket-version", b"8")])
        await client.flush()
        await client.read_until(lambda: sid3 in client.responses)
        assert client.responses[sid3][b":status"] == b"400"
        sid4 = client.conn.get_next_available_stream_id()
        client.conn.send_headers(sid4, [(b":method", b"CONNECT"), (b":protocol", b"webtransport"), (b":scheme", b"http"),
                                        (b":path", b"/"), (b":authority", b"t")])
        await client.flush()
        await client.read_until(lambda: sid4 in client.responses)
        assert client.responses[sid4][b":status"] == b"501"
    finally:
        client.close()


async def test_ws_none_does_not_announce_extended_connect(serve):
    server = await serve(echo, ws="none")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
    client = H2WebSocketClient(reader, writer)
    client.conn.initiate_connection()
    await client.flush()
    try:
        await client.read_until(lambda: any(type(e).__name__ == "RemoteSettingsChanged" for e in client.events))
        assert client.conn.remote_settings.get(0x8) in (None, 0)
    finally:
        client.close()


async def test_websocket_over_http2_is_closed_1012_on_shutdown(serve):
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import CloseConnection, TextMessage

    server = await serve(echo)
    client = await H2WebSocketClient.open(server)
    try:
        sid = await client.connect()
        ws = Connection(ConnectionType.CLIENT)
        await client.send(sid, ws.send(TextMessage("hi")))
        await client.read_until(lambda: sid in client.data)
        server.should_exit = True
        closing = []

        def got_close():
            ws.receive_data(client.data.pop(sid, b""))
            closing.extend(e for e in ws.events() if isinstance(e, CloseConnection))
            return bool(closing)

        try:
            await client.read_until(got_close)
        except h2.exceptions.ProtocolError:
            pass  # the h2 client library refuses frames after the GOAWAY that follows
        assert closing and closing[0].code == 1012
    finally:
        client.close()


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2000, 5000])
async def test_a_close_code_that_cannot_be_sent_is_an_app_error(serve, code):
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": code})

    server = await serve(app)
    async with websockets.connect(ws_url(server)) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd.code == 1011


async def test_send_waits_for_a_client_that_does_not_read(serve, raw):
    sent = []

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        for i in range(256):  # 64 MiB if nothing held it back
            await send({"type": "websocket.send", "bytes": b"x" * 262144})
            sent.append(i)

    server = await serve(app)
    conn = await raw(server)
    conn.transport.pause_reading()  # never read: the kernel buffers fill, then the server's
    await conn.send(handshake())
    await asyncio.sleep(1.0)
    assert len(sent) < 64, len(sent)  # the app is held back, not buffering the whole response
    protocols = [c for c in server.context.connections if type(c).__name__ == "WSProtocol"]
    assert protocols and protocols[0].transport.get_write_buffer_size() < 4 * 1024 * 1024


async def test_access_log_lines(serve, caplog):
    import logging

    server = await serve(echo, log_level="info")
    with caplog.at_level(logging.INFO, logger="pyre.access"):
        async with websockets.connect(ws_url(server, "/a?b=1")) as ws:
            await ws.send("x")
            await ws.recv()
    lines = [r.getMessage() for r in caplog.records if r.name == "pyre.access"]
    assert any(line.endswith('"WebSocket /a?b=1" 101') for line in lines), lines


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_peer_that_never_reads_is_aborted_and_the_send_raises(start_cli, tmp_path, loop):
    report = tmp_path / "report"
    running = start_cli(stalls.STALLS, "--port", "0", "--loop", loop, "--timeout-send", "1",
                        env={"STALL_REPORT": str(report)})
    with stalls.connect(running.url, receive_buffer=65536) as sock:
        sock.sendall(handshake())  # the app sends 50 MB; this peer reads none of it
        assert stalls.wait_for_report(report, "websocket", 1 + stalls.SLACK) == ["websocket: ClientDisconnected"]
        data, closed = stalls.read_until_closed(sock, 5)
    assert closed and len(data) < 50 * stalls.MB
    assert running.stop() == 0
    assert stalls.log_problems(running.output) == []
