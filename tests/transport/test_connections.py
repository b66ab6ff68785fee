"""What every connection offers the server and the metrics (pyre.transport.context.Connection):
its KIND, and the open HTTP/2 streams and WebSockets that connection_gauges reports,
for each kind of connection, driven through fake transports."""

from __future__ import annotations

import asyncio

import pytest

from pyre._accel import load_twins
from pyre.transport.context import Connection, connection_gauges
from pyre.transport.h2 import H2Protocol
from pyre.transport.proxy_protocol import ProxyProtocolGate
from pyre._accel import WSProtocol
from tests.helpers import server_context
from tests.transport.test_h1_protocol import FakeTransport
from tests.transport.test_h2_protocol import Client, make as make_h2, settle as settle_h2

H1CONN_TWINS = load_twins("h1conn")
UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


class SwitchingTransport(FakeTransport):
    """A fake transport that another protocol can take over (an upgrade)."""

    protocol = None

    def set_protocol(self, protocol) -> None:
        self.protocol = protocol

    def get_protocol(self):
        return self.protocol


def h1_twins():
    twins = [H1CONN_TWINS["c"], H1CONN_TWINS["py"]]
    if twins[0] is None:
        pytest.fail("the compiled connection (pyre.transport._h1_c) is not built")
    return twins


def test_every_connection_says_what_it_speaks():
    kinds = {twin.H1Protocol: "http/1.1" for twin in h1_twins()}
    kinds.update({H2Protocol: "h2", WSProtocol: "websocket", ProxyProtocolGate: "proxy"})
    assert {cls: cls.KIND for cls in kinds} == kinds
    # Those with streams or WebSockets say how many; the others have none.
    assert {cls for cls in kinds if hasattr(cls, "gauges")} == {H2Protocol, WSProtocol}
    assert "gauges" in Connection.__dict__ and "KIND" in Connection.__annotations__


def test_anything_without_gauges_has_no_streams_and_no_websockets():
    assert connection_gauges(object()) == (0, 0)

    class Busy:
        def gauges(self):
            return 3, 2

    assert connection_gauges(Busy()) == (3, 2)


class Gate:
    """An application that waits until the test opens the gate."""

    def __init__(self) -> None:
        self.open = asyncio.Event()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            await self.websocket(scope, receive, send)
            return
        await self.open.wait()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def websocket(self, scope, receive, send):
        assert (await receive())["type"] == "websocket.connect"
        await self.open.wait()
        await send({"type": "websocket.accept"})
        await receive()  # until the test's end disconnects it


async def settle(n: int = 10) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


@pytest.mark.parametrize("twin", ["c", "py"])
async def test_an_http1_connection_has_neither_with_a_request_in_flight(twin):
    gate = Gate()
    ctx = server_context(gate, asyncio.get_running_loop(), access_log=False)
    protocol = h1_twins()[twin == "py"].H1Protocol(ctx)
    transport = FakeTransport()
    protocol.connection_made(transport)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await settle()
    assert ctx.connections == {protocol} and ctx.tasks and connection_gauges(protocol) == (0, 0)
    gate.open.set()
    await settle()
    assert b"".join(transport.written).startswith(b"HTTP/1.1 204 ")


async def test_an_http2_connection_counts_its_open_streams():
    gate = Gate()
    ctx, protocol, transport = make_h2(gate)
    client = Client(protocol, transport)
    first, second = client.request(), client.request()
    await settle_h2(client)
    assert connection_gauges(protocol) == (2, 0)
    gate.open.set()
    await settle_h2(client)
    assert client.responses[first]["ended"] and client.responses[second]["ended"]
    assert connection_gauges(protocol) == (0, 0)


async def test_a_websocket_over_http2_counts_once_accepted():
    gate = Gate()
    ctx, protocol, transport = make_h2(gate, ws="auto")
    client = Client(protocol, transport)
    await settle_h2(client)  # the server's SETTINGS (ENABLE_CONNECT_PROTOCOL)
    plain = client.request()
    sid = client.request(method=b"CONNECT", headers=[(b":protocol", b"websocket"), (b"sec-websocket-version", b"13")],
                         end=False)
    await settle_h2(client)
    assert client.responses[plain]["reset"] is None and connection_gauges(protocol) == (2, 0)
    gate.open.set()
    await settle_h2(client)
    assert dict(client.responses[sid]["headers"])[b":status"] == b"200" and client.responses[plain]["ended"]
    assert connection_gauges(protocol) == (1, 1)
    protocol.connection_lost(None)
    await settle()
    assert connection_gauges(protocol) == (0, 0)


@pytest.mark.parametrize("twin", ["c", "py"])
async def test_a_websocket_over_http1_counts_once_accepted(twin):
    gate = Gate()
    ctx = server_context(gate, asyncio.get_running_loop(), access_log=False, ws="auto")
    h1 = h1_twins()[twin == "py"].H1Protocol(ctx)
    transport = SwitchingTransport()
    h1.connection_made(transport)
    h1.data_received(UPGRADE)
    await settle()
    ws = transport.protocol
    assert isinstance(ws, WSProtocol) and ctx.connections == {ws} and connection_gauges(ws) == (0, 0)
    gate.open.set()
    await settle()
    assert b"".join(transport.written).startswith(b"HTTP/1.1 101 ") and connection_gauges(ws) == (0, 1)
    ws.connection_lost(None)
    await settle()
    assert not ctx.connections and not ctx.tasks
