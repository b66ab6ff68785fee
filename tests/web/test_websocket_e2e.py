"""pyre.web WebSockets end to end on a real Pyre server (pyre.web.testing.serve_async/serve):
over HTTP/1.1 with the `websockets` client, and over HTTP/2 (RFC 8441) with an h2 client."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from pyre.web.testing import serve, serve_async
from pyre.web.websocket import Groups
from tests.e2e.test_websocket import H2WebSocketClient

from .ws_apps import Chat, ws_app


async def until(predicate, timeout=5.0):
    """Wait until ``predicate()`` holds (the server noticing something), within ``timeout``."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


@pytest.fixture
async def chat_server():
    groups = Groups()
    chat = Chat(groups)
    async with serve_async(ws_app({"chat": chat})) as live:
        yield live, chat, groups
    await groups.close()


def connect(live, path, **options):
    return websockets.connect(live.ws_url + path, subprotocols=["v1.chat"], **options)


async def test_a_chat_room_of_three_over_http11(chat_server):
    live, chat, groups = chat_server
    async with connect(live, "/chat/lobby?user=ann") as ann, connect(live, "/chat/lobby?user=bob") as bob:
        assert json.loads(await ann.recv()) == {"joined": "lobby", "members": 1}
        assert json.loads(await bob.recv()) == {"joined": "lobby", "members": 2}
        async with connect(live, "/chat/lobby?user=cy") as cy:
            assert json.loads(await cy.recv()) == {"joined": "lobby", "members": 3}
            assert ann.subprotocol == bob.subprotocol == cy.subprotocol == "v1.chat"
            await cy.send(json.dumps({"text": "hi all"}))
            expected = {"room": "lobby", "user": "cy", "text": "hi all"}
            assert [json.loads(await ws.recv()) for ws in (ann, bob, cy)] == [expected] * 3
            await bob.close(4001, "bob leaves")
            await until(lambda: ("bob", 4001) in chat.disconnects)
            await ann.send(json.dumps({"text": "just us"}))
            assert [json.loads(await ws.recv())["text"] for ws in (ann, cy)] == ["just us"] * 2
            assert sorted(ws.query["user"] for ws in groups.members("lobby")) == ["ann", "cy"]
    await until(lambda: len(chat.disconnects) == 3)
    assert sorted(chat.disconnects) == [("ann", 1000), ("bob", 4001), ("cy", 1000)]
    assert groups.groups() == []


async def test_subprotocol_negotiation(chat_server):
    live, _, _ = chat_server
    async with websockets.connect(live.ws_url + "/chat/a", subprotocols=["v2.chat", "v1.chat"]) as ws:
        assert ws.subprotocol == "v1.chat"
    async with websockets.connect(live.ws_url + "/chat/a") as ws:
        assert ws.subprotocol is None
        assert json.loads(await ws.recv())["joined"] == "a"


async def test_a_denial_response(chat_server):
    live, chat, groups = chat_server
    with pytest.raises(InvalidStatus) as info:
        async with connect(live, "/chat/lobby?user=banned"):
            pass
    response = info.value.response
    assert response.status_code == 403 and response.headers["x-reason"] == "banned"
    assert json.loads(response.body) == {"status": 403, "detail": "banned"}
    assert chat.disconnects == [] and groups.groups() == []


async def test_invalid_json_closes_1007_and_on_disconnect_gets_the_codes(chat_server):
    live, chat, _ = chat_server
    async with connect(live, "/chat/r?user=json") as ws:
        await ws.recv()
        await ws.send("{not json")
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (1007, "invalid JSON")
    async with connect(live, "/chat/r?user=bye") as ws:
        await ws.recv()
        await ws.send(json.dumps({"text": "bye"}))
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "bye")
    ws = await connect(live, "/chat/r?user=drop")
    await ws.recv()
    ws.transport.abort()  # gone without a close frame
    await until(lambda: len(chat.disconnects) == 3)
    assert chat.disconnects == [("json", 1007), ("bye", 4000), ("drop", 1006)]


# -- HTTP/2 (RFC 8441) ------------------------------------------------------------------------


async def test_a_chat_room_over_http2_with_an_http11_member(chat_server):
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import CloseConnection, TextMessage

    live, chat, groups = chat_server
    client = await H2WebSocketClient.open(live.server)
    try:
        sid = await client.connect(b"/chat/mixed?user=h2", [(b"sec-websocket-protocol", b"v1.chat")])
        assert client.responses[sid][b":status"] == b"200"
        assert client.responses[sid][b"sec-websocket-protocol"] == b"v1.chat"
        frames = Connection(ConnectionType.CLIENT)
        received = []

        async def messages(count):
            def enough():
                frames.receive_data(client.data.pop(sid, b""))
                received.extend(json.loads(e.data) for e in frames.events() if isinstance(e, TextMessage))
                return len(received) >= count
            await client.read_until(enough)

        await messages(1)
        assert received[0] == {"joined": "mixed", "members": 1}
        async with connect(live, "/chat/mixed?user=h1") as h1:
            assert json.loads(await h1.recv())["members"] == 2
            await client.send(sid, frames.send(TextMessage(json.dumps({"text": "over h2"}))))
            expected = {"room": "mixed", "user": "h2", "text": "over h2"}
            assert json.loads(await h1.recv()) == expected
            await messages(2)
            assert received[1] == expected
            await h1.send(json.dumps({"text": "over h1"}))
            await messages(3)
            assert received[2]["text"] == "over h1" and json.loads(await h1.recv())["text"] == "over h1"
        await client.send(sid, frames.send(CloseConnection(code=4002, reason="h2 leaves")))
        await client.read_until(lambda: sid in client.ended)
        await until(lambda: ("h2", 4002) in chat.disconnects)
    finally:
        client.close()
    assert groups.members("mixed") == ()


async def test_a_denial_over_http2(chat_server):
    live, _, _ = chat_server
    client = await H2WebSocketClient.open(live.server)
    try:
        sid = await client.connect(b"/chat/lobby?user=banned")
        await client.read_until(lambda: sid in client.ended)
        assert client.responses[sid][b":status"] == b"403"
        assert client.responses[sid][b"x-reason"] == b"banned"
        assert json.loads(client.data[sid]) == {"status": 403, "detail": "banned"}
    finally:
        client.close()


# -- the sync helper ---------------------------------------------------------------------------


def test_serve_in_a_thread_with_a_sync_websocket_client():
    from websockets.sync.client import connect as sync_connect

    async def echo(ws):
        await ws.accept()
        async for message in ws:
            await ws.send_text(f"echo {message}")

    with serve(ws_app({"echo": echo})) as live:
        with sync_connect(live.ws_url + "/echo") as ws:
            ws.send("one")
            assert ws.recv(timeout=5) == "echo one"
