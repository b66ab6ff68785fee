"""``--proxy-protocol`` end to end: raw sockets send a PROXY header (v1 or v2) and then
HTTP/1.1, HTTP/2 or a WebSocket handshake; the application sees the header's client.
Malformed, missing, slow or untrusted senders are closed without a byte."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import time

import h2.config
import h2.connection
import h2.events
import pytest

from pyre import Config, Server
from pyre.protocol.proxy_protocol import V2_SIGNATURE
from tests.apps import scope_json

GET = b"GET /where HTTP/1.1\r\nHost: t\r\n\r\n"
V1 = b"PROXY TCP4 203.0.113.7 198.51.100.1 56324 443\r\n"
V1_6 = b"PROXY TCP6 2001:db8::7 2001:db8::1 4000 8443\r\n"


def v2(ver_cmd: int, fam: int, block: bytes) -> bytes:
    return V2_SIGNATURE + bytes([ver_cmd, fam]) + struct.pack("!H", len(block)) + block


V2 = v2(0x21, 0x11, socket.inet_aton("192.0.2.9") + socket.inet_aton("192.0.2.1") + struct.pack("!HH", 1111, 80)
        + b"\xea\x00\x05vpce1")  # with an AWS-style TLV
V2_6 = v2(0x21, 0x21, socket.inet_pton(socket.AF_INET6, "2001:db8::9") + socket.inet_pton(socket.AF_INET6, "::1")
          + struct.pack("!HH", 2222, 8080))
V2_LOCAL = v2(0x20, 0x00, b"")


async def client_of(conn) -> tuple:
    status, headers, body = await conn.read_response()
    assert b" 200 " in status, (status, body)
    scope = json.loads(body)
    return scope["client"], scope["server"]


@pytest.mark.parametrize("header, client, server", [
    (V1, ["203.0.113.7", 56324], ["198.51.100.1", 443]),
    (V1_6, ["2001:db8::7", 4000], ["2001:db8::1", 8443]),
    (V2, ["192.0.2.9", 1111], ["192.0.2.1", 80]),
    (V2_6, ["2001:db8::9", 2222], ["::1", 8080]),
], ids=["v1", "v1-ipv6", "v2", "v2-ipv6"])
async def test_client_address_from_the_header(serve, raw, header, client, server):
    srv = await serve(scope_json, proxy_protocol=True)
    conn = await raw(srv)
    await conn.send(header + GET)
    assert await client_of(conn) == (client, server)
    # Keep-alive: the next request on the connection has the same client.
    await conn.send(GET)
    assert await client_of(conn) == (client, server)


@pytest.mark.parametrize("header", [V2_LOCAL, b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN ::1 ::2 1 2\r\n",
                                    v2(0x21, 0x00, b"")], ids=["v2-local", "v1-unknown", "v1-unknown-long",
                                                               "v2-unspec"])
async def test_local_and_unknown_keep_the_real_addresses(serve, raw, header):
    srv = await serve(scope_json, proxy_protocol=True)
    conn = await raw(srv)
    await conn.send(header + GET)
    client, server = await client_of(conn)
    assert client[0] == "127.0.0.1" and client[1] == conn.transport.get_extra_info("sockname")[1]
    assert server == ["127.0.0.1", srv.bound_port]


async def test_header_split_over_several_writes(serve, raw):
    srv = await serve(scope_json, proxy_protocol=True)
    for header in (V1, V2):
        conn = await raw(srv)
        for i in range(0, len(header), 3):
            await conn.send(header[i:i + 3])
            await asyncio.sleep(0.01)
        await conn.send(GET[:5])
        await asyncio.sleep(0.01)
        await conn.send(GET[5:])
        client, _ = await client_of(conn)
        assert client in (["203.0.113.7", 56324], ["192.0.2.9", 1111])


async def test_header_and_request_in_one_write_with_a_pipelined_request(serve, raw):
    srv = await serve(scope_json, proxy_protocol=True)
    conn = await raw(srv)
    await conn.send(V2 + GET + GET)
    assert (await client_of(conn))[0] == ["192.0.2.9", 1111]
    assert (await client_of(conn))[0] == ["192.0.2.9", 1111]


@pytest.mark.parametrize("data", [
    GET,  # no header at all
    b"PROXY TCP4 203.0.113.7 198.51.100.1 56324 0443\r\n" + GET,
    b"PROXY TCP4 203.0.113.7 198.51.100.1 56324 443\n" + GET,
    b"PROXY TCP4 ::1 198.51.100.1 1 2\r\n" + GET,
    b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n" + GET,
    V2_SIGNATURE + b"\x31\x11\x00\x0c" + bytes(12) + GET,  # version 3
    V2_SIGNATURE + b"\x21\x12\x00\x0c" + bytes(12) + GET,  # UDP
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",  # a TLS ClientHello
], ids=["no-header", "leading-zero-port", "lone-lf", "v6-in-tcp4", "too-long", "v2-version-3", "v2-udp", "tls"])
async def test_malformed_header_is_closed_without_a_byte(serve, raw, data):
    srv = await serve(scope_json, proxy_protocol=True)
    conn = await raw(srv)
    started = time.monotonic()
    try:
        await conn.send(data)
    except ConnectionError:
        pass
    assert await conn.read_all(timeout=5) == b""
    assert time.monotonic() - started < 2  # at once, not at the deadline
    assert not srv.context.connections


async def test_bad_signature_is_rejected_before_a_full_header(serve, raw):
    """A few wrong bytes are enough: the server does not wait for 107 bytes or the deadline."""
    srv = await serve(scope_json, proxy_protocol=True, timeout_request_header=30)
    conn = await raw(srv)
    await conn.send(b"PROXZ")
    assert await conn.read_all(timeout=3) == b""


async def test_no_header_is_closed_after_the_deadline(serve, raw):
    srv = await serve(scope_json, proxy_protocol=True, timeout_request_header=0.5)
    silent = await raw(srv)
    partial = await raw(srv)
    await partial.send(V1[:20])
    started = time.monotonic()
    assert await silent.read_all(timeout=5) == b""
    assert await partial.read_all(timeout=5) == b""
    elapsed = time.monotonic() - started
    assert 0.3 < elapsed < 3
    assert not srv.context.connections


async def test_deadline_does_not_apply_after_the_header(serve, raw):
    """The header timer is cancelled: the HTTP keep-alive deadline takes over."""
    srv = await serve(scope_json, proxy_protocol=True, timeout_request_header=0.3, timeout_keep_alive=5)
    conn = await raw(srv)
    await conn.send(V1 + GET)
    await client_of(conn)
    await asyncio.sleep(0.8)
    await conn.send(GET)
    assert (await client_of(conn))[0] == ["203.0.113.7", 56324]


async def test_untrusted_peer_is_closed_at_once(serve, raw):
    srv = await serve(scope_json, proxy_protocol=True, forwarded_allow_ips=["10.9.9.9"])
    conn = await raw(srv)
    try:
        await conn.send(V1 + GET)
    except ConnectionError:
        pass
    assert await conn.read_all(timeout=3) == b""


async def test_trust_everyone(serve, raw):
    srv = await serve(scope_json, proxy_protocol=True, forwarded_allow_ips="*")
    conn = await raw(srv)
    await conn.send(V1 + GET)
    assert (await client_of(conn))[0] == ["203.0.113.7", 56324]


async def test_off_by_default_the_header_is_a_bad_request(serve, raw):
    srv = await serve(scope_json)
    conn = await raw(srv)
    await conn.send(V1 + GET)
    status, _, _ = await conn.read_response()
    assert b" 400 " in status


# -- other protocols after the header ------------------------------------------------------------


@pytest.mark.parametrize("http", ["auto", "h2"])
async def test_http2_prior_knowledge_after_the_header(serve, http):
    srv = await serve(scope_json, proxy_protocol=True, http=http)
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.bound_port)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    conn.initiate_connection()
    conn.send_headers(1, [(b":method", b"GET"), (b":path", b"/h2"), (b":scheme", b"http"), (b":authority", b"t")],
                      end_stream=True)
    writer.write(V2_6 + conn.data_to_send())
    body = b""
    done = False
    async with asyncio.timeout(5):
        while not done:
            data = await reader.read(65536)
            assert data, "closed"
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.DataReceived):
                    body += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    done = True
            writer.write(conn.data_to_send())
    writer.close()
    scope = json.loads(body)
    assert scope["http_version"] == "2"
    assert scope["client"] == ["2001:db8::9", 2222] and scope["server"] == ["::1", 8080]


async def test_websocket_after_the_header(serve, raw):
    async def app(scope, receive, send):
        if scope["type"] == "websocket":
            assert (await receive())["type"] == "websocket.connect"
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": json.dumps(scope["client"])})
            message = await receive()
            await send({"type": "websocket.send", "text": "echo:" + message["text"]})
            await send({"type": "websocket.close"})
        else:
            await scope_json(scope, receive, send)

    srv = await serve(app, proxy_protocol=True)
    conn = await raw(srv)
    await conn.send(V1 + b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = await conn.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    frame = await conn.readexactly(2)
    assert frame[0] == 0x81
    assert json.loads(await conn.readexactly(frame[1])) == ["203.0.113.7", 56324]
    mask = b"\x01\x02\x03\x04"
    payload = b"hi"
    await conn.send(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    frame = await conn.readexactly(2)
    assert await conn.readexactly(frame[1]) == b"echo:hi"


async def test_pathsend_through_the_proxied_transport(serve, raw, tmp_path):
    """loop.sendfile gets the wrapper: what it looks up on the transport must reach the real one."""
    payload = os.urandom(200_000)
    path = tmp_path / "file.bin"
    path.write_bytes(payload)

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(payload)).encode()),
                                (b"x-client", scope["client"][0].encode())]})
        await send({"type": "http.response.pathsend", "path": str(path)})

    srv = await serve(app, proxy_protocol=True)
    conn = await raw(srv)
    for _ in range(2):
        await conn.send(V1 + GET if _ == 0 else GET)
        status, headers, body = await conn.read_response()
        assert b" 200 " in status and headers["x-client"] == "203.0.113.7" and body == payload


async def test_graceful_shutdown_closes_connections_waiting_for_a_header(serve, raw):
    srv = await serve(scope_json, proxy_protocol=True, timeout_request_header=30)
    waiting = await raw(srv)
    await waiting.send(b"PROXY TCP4 ")
    await asyncio.sleep(0.05)
    assert len(srv.context.connections) == 1
    srv.should_exit = True
    started = time.monotonic()
    assert await waiting.read_all(timeout=5) == b""
    assert time.monotonic() - started < 3


async def test_graceful_shutdown_answers_a_request_whose_header_was_arriving(serve, raw):
    # The header (and a request behind it) may be on its way when the shutdown begins.
    srv = await serve(scope_json, proxy_protocol=True, timeout_request_header=30)
    arriving = await raw(srv)
    await arriving.send(b"PROXY TCP4 ")
    await asyncio.sleep(0.05)
    srv.should_exit = True
    await asyncio.sleep(0.1)  # the shutdown has begun
    await arriving.send(V1[len(b"PROXY TCP4 "):] + GET)
    client, _server = await client_of(arriving)
    assert client == ["203.0.113.7", 56324]
    assert await arriving.closed(timeout=2)


async def test_a_gate_made_during_shutdown_gives_its_header_the_grace_only():
    # Taken from a listener's queue as it closed: not kept for the whole header timeout.
    from pyre.transport.context import SHUTDOWN_GRACE
    from pyre.transport.proxy_protocol import proxy_protocol_factory
    from tests.transport.test_h1_protocol import FakeTransport

    loop = asyncio.get_running_loop()
    connections: set = set()
    gates = {stopping: proxy_protocol_factory(asyncio.Protocol, lambda host: True, 30, loop, connections,
                                              shutting_down=lambda stopping=stopping: stopping)()
             for stopping in (True, False)}
    transports = {stopping: FakeTransport() for stopping in gates}
    for stopping, gate in gates.items():
        gate.connection_made(transports[stopping])
    assert len(connections) == 2
    await asyncio.sleep(SHUTDOWN_GRACE + 0.1)
    assert transports[True].closed and not transports[False].closed
    gates[False].on_timeout()


def test_on_uvloop():
    """The same hand-over on uvloop's transports (set_protocol, bound methods, sendfile fallback)."""
    uvloop = pytest.importorskip("uvloop")

    async def app(scope, receive, send):
        body = json.dumps(scope["client"]).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def scenario():
        config = Config(app, host="127.0.0.1", port=0, lifespan="off", log_level=None, proxy_protocol=True,
                        timeout_request_header=0.5)
        server = Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            assert not task.done()
            await asyncio.sleep(0.005)
        try:
            for header, client in ((V1, ["203.0.113.7", 56324]), (V2_6, ["2001:db8::9", 2222])):
                reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
                writer.write(header[:7])
                await asyncio.sleep(0.01)
                writer.write(header[7:] + GET)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                assert json.loads(await asyncio.wait_for(reader.readexactly(length), 5)) == client
                writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
            writer.write(b"GET / HTTP/1.1\r\n\r\n")
            assert await asyncio.wait_for(reader.read(), 5) == b""
            reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
            assert await asyncio.wait_for(reader.read(), 5) == b""  # the deadline
            writer.close()
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)

    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()
