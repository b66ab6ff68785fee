"""When a WebSocket over HTTP/1.1 writes its frames (pyre.transport.ws.WSProtocol), through
a fake transport: the reply to the last message received leaves at once, inside the
application's send (a chat-like peer waits for it, and the loop needs no extra turn);
the answers to several messages of one read still leave in one write; other sends are
corked until the end of the loop iteration, as before."""

from __future__ import annotations

import asyncio
from typing import List

import pytest

from pyre._accel import WSProtocol
from tests.helpers import server_context
from tests.transport.test_connections import UPGRADE, SwitchingTransport, h1_twins, settle


def masked(text: bytes, mask: bytes = b"\x01\x02\x03\x04") -> bytes:
    return bytes((0x81, 0x80 | len(text))) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(text))


class Recorder:
    """An echo app that notes how many writes the transport had right after each send."""

    def __init__(self, transport: SwitchingTransport, extra: int = 0) -> None:
        self.transport = transport
        self.extra = extra  # more messages sent after each echo, in the same step
        self.after_send: List[int] = []

    async def __call__(self, scope, receive, send):
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            await send({"type": "websocket.send", "text": message["text"]})
            self.after_send.append(len(self.transport.written))
            for i in range(self.extra):
                await send({"type": "websocket.send", "text": f"extra {i}"})


async def open_ws(twin: str, extra: int = 0):
    transport = SwitchingTransport()
    app = Recorder(transport, extra)
    ctx = server_context(app, asyncio.get_running_loop(), access_log=False, ws="auto")
    h1 = h1_twins()[twin == "py"].H1Protocol(ctx)
    h1.connection_made(transport)
    h1.data_received(UPGRADE)
    await settle()
    ws = transport.protocol
    assert isinstance(ws, WSProtocol) and b"".join(transport.written).startswith(b"HTTP/1.1 101 ")
    transport.written.clear()
    return ws, transport, app


def frames_of(data: bytes) -> List[bytes]:
    out = []
    while data:
        n = data[1]
        out.append(data[2:2 + n])
        data = data[2 + n:]
    return out


@pytest.mark.parametrize("twin", ["c", "py"])
async def test_the_reply_to_the_last_message_leaves_inside_send(twin):
    ws, transport, app = await open_ws(twin)
    for i in range(3):
        ws.data_received(masked(b"hello %d" % i))
        await settle()
    # Written before send() returned, one write per message.
    assert app.after_send == [1, 2, 3]
    assert [frames_of(w) for w in transport.written] == [[b"hello 0"], [b"hello 1"], [b"hello 2"]]
    ws.connection_lost(None)
    await settle()


@pytest.mark.parametrize("twin", ["c", "py"])
async def test_answers_to_one_read_share_one_write(twin):
    ws, transport, app = await open_ws(twin)
    ws.data_received(b"".join(masked(b"m%d" % i) for i in range(4)))
    await settle()
    # The first three answers wait in the cork; the last one carries them all.
    assert app.after_send == [0, 0, 0, 1]
    assert [frames_of(w) for w in transport.written] == [[b"m0", b"m1", b"m2", b"m3"]]
    ws.connection_lost(None)
    await settle()


@pytest.mark.parametrize("twin", ["c", "py"])
async def test_more_sends_in_the_step_are_corked_until_the_iteration_ends(twin):
    ws, transport, app = await open_ws(twin, extra=2)
    ws.data_received(masked(b"hi"))
    await settle()
    assert app.after_send == [1]
    assert [frames_of(w) for w in transport.written] == [[b"hi"], [b"extra 0", b"extra 1"]]
    ws.connection_lost(None)
    await settle()
