"""pyre.web.websocket in-process: the WebSocket state machine, class and function
endpoints, groups and brokers (through pyre.web.testing's WebSocket sessions)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys

import pytest

from pyre.web.errors import HTTPError
from pyre.web.responses import Response, Text
from pyre.web.testing import AsyncTestClient, WebSocketDenied
from pyre.web.websocket import (
    Groups,
    InProcessBroker,
    WebSocket,
    WebSocketDisconnect,
    WebSocketListeners,
    WebSocketResource,
    WebSocketState,
    run_websocket_endpoint,
)

from .ws_apps import Chat, ws_app


def endpoint_app(endpoint):
    """An ASGI app running ``await endpoint(ws)`` on every WebSocket (errors re-raised)."""

    async def app(scope, receive, send):
        await endpoint(WebSocket(scope, receive, send))

    return app


@pytest.fixture
async def client():
    clients = []

    def make(app, **options):
        client = AsyncTestClient(app, **options)
        clients.append(client)
        return client

    yield make
    for made in clients:
        await made.aclose()


# -- the connection object: accessors shared with Request ---------------------------------------


def ws_scope(**extra):
    scope = {
        "type": "websocket", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "wss",
        "server": ("example.org", 443), "client": ("10.0.0.7", 50123), "root_path": "",
        "path": "/chat/caf\u00e9", "raw_path": b"/chat/caf%C3%A9", "query_string": b"user=ann&x=1&x=2",
        "headers": [(b"host", b"example.org"), (b"cookie", b"sid=abc; theme=dark"), (b"X-Mixed", b"v")],
        "subprotocols": ["v2", "v1"], "extensions": {"websocket.http.response": {}},
    }
    scope.update(extra)
    return scope


async def never():
    raise AssertionError("not called")


def test_http_connection_accessors_on_a_websocket_scope_in_both_twins(request_module):
    connection = request_module.HTTPConnection(ws_scope(), never, never)
    assert connection.headers.get("x-mixed") == "v" and connection.headers["HOST"] == "example.org"
    assert connection.query.getlist("x") == ["1", "2"] and connection.query["user"] == "ann"
    assert connection.cookies == {"sid": "abc", "theme": "dark"}
    assert str(connection.url) == "wss://example.org/chat/caf%C3%A9?user=ann&x=1&x=2"
    assert str(connection.base_url) == "wss://example.org/"
    assert connection.client == ("10.0.0.7", 50123) and connection.client.host == "10.0.0.7"
    assert connection.path == "/chat/caf\u00e9" and connection.raw_path == b"/chat/caf%C3%A9"
    assert connection.scheme == "wss" and connection.http_version == "1.1"
    assert connection.path_params == {} and connection.app is None
    connection.state.user = "ann"
    assert connection.state.user == "ann"
    assert issubclass(request_module.Request, request_module.HTTPConnection)


def test_websocket_is_an_http_connection_of_the_chosen_twin():
    from pyre import _accel

    ws = WebSocket(ws_scope(), never, never)
    assert isinstance(ws, _accel.HTTPConnection)
    assert ws.headers.get("cookie") == "sid=abc; theme=dark" and ws.query["user"] == "ann"
    assert ws.subprotocols == ["v2", "v1"] and ws.connection_state is WebSocketState.CONNECTING
    ws.path_params = {"room": "café"}
    assert ws.path_params["room"] == "café"
    assert repr(ws) == "<WebSocket /chat/caf\u00e9 connecting>"


@pytest.mark.parametrize("no_extensions", ["0", "1"])
def test_importing_the_websocket_module_first_chooses_the_twin(no_extensions):
    code = ("import pyre.web.websocket as w; from pyre._accel import Request; "
            "print(w.WebSocket.__mro__[1].__module__, Request.__module__)")
    env = dict(os.environ, PYRE_NO_EXTENSIONS=no_extensions)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    expected = "pyre.web.request" if no_extensions == "1" else "pyre.web._request_c"
    assert out.stdout.split() == [expected, expected]


def test_a_websocket_needs_a_websocket_scope():
    with pytest.raises(ValueError, match="needs a 'websocket' scope, got a 'http' scope"):
        WebSocket(dict(ws_scope(), type="http"), never, never)


# -- the state machine --------------------------------------------------------------------------


async def test_sending_or_receiving_before_accept_is_a_clear_runtime_error(client):
    seen = []

    async def endpoint(ws):
        for attempt in (ws.send_text("x"), ws.send_bytes(b"x"), ws.send_json({}), ws.receive_text(), ws.receive_json()):
            with pytest.raises(RuntimeError, match=r"before accept\(\): call await ws.accept\(\) first") as info:
                await attempt
            seen.append(str(info.value))
        await ws.accept()
        with pytest.raises(RuntimeError, match="already open"):
            await ws.accept()
        await ws.send_text("done")

    async with client(endpoint_app(endpoint)).websocket_connect("/") as session:
        assert await session.receive_text() == "done"
    assert [text.split("(")[0] for text in seen] == [
        "WebSocket.send_text", "WebSocket.send_bytes", "WebSocket.send_json", "WebSocket.receive_text",
        "WebSocket.receive_json"]


async def test_accept_with_a_subprotocol_and_headers(client):
    async def endpoint(ws):
        with pytest.raises(ValueError, match=r"subprotocol 'v3' was not offered by the client \(offered: \['v2', 'v1'\]\)"):
            await ws.accept(subprotocol="v3")
        assert ws.connection_state is WebSocketState.CONNECTING
        await ws.accept(subprotocol="v1", headers={"x-room": "lobby"})
        assert ws.subprotocol == "v1" and ws.connection_state is WebSocketState.OPEN
        await ws.send_text("ok")

    async with client(endpoint_app(endpoint)).websocket_connect("/", subprotocols=["v2", "v1"]) as session:
        assert session.subprotocol == "v1" and (b"x-room", b"lobby") in session.headers
        assert await session.receive_text() == "ok"


async def test_text_bytes_json_and_iteration(client):
    async def endpoint(ws):
        await ws.accept()
        await ws.send_text(await ws.receive_text())
        await ws.send_bytes(await ws.receive_bytes())
        await ws.send_json(await ws.receive_json())
        await ws.send_json(await ws.receive_json(), binary=True)  # JSON may come in a binary message
        with pytest.raises(TypeError, match="send_text\\(\\) needs a str, got bytes"):
            await ws.send_text(b"x")
        with pytest.raises(TypeError, match="send_bytes\\(\\) needs bytes, got str"):
            await ws.send_bytes("x")
        received = [message async for message in ws]
        await ws_log.put(received)

    ws_log = asyncio.Queue()
    async with client(endpoint_app(endpoint)).websocket_connect("/") as session:
        await session.send_text("h\u00e9")
        assert await session.receive_text() == "h\u00e9"
        await session.send_bytes(b"\x00\xff")
        assert await session.receive_bytes() == b"\x00\xff"
        await session.send_json({"a": [1, "\u00e9"]})
        assert await session.receive_text() == '{"a":[1,"\u00e9"]}'
        await session.send_bytes(b'{"b": true}')
        assert await session.receive_bytes() == b'{"b":true}'
        await session.send_text("one")
        await session.send_bytes(b"two")
        await session.close(4001, "done")
    assert await ws_log.get() == ["one", b"two"]


async def test_iter_text_and_iter_json_end_at_the_disconnect(client):
    out = []

    async def endpoint(ws):
        await ws.accept()
        async for data in ws.iter_json():
            out.append(data)
        out.append((ws.close_code, ws.close_reason, ws.connection_state))

    async with client(endpoint_app(endpoint)).websocket_connect("/") as session:
        await session.send_json([1])
        await session.send_text('{"x": 2}')
        await session.close(1001, "away")
    assert out == [[1], {"x": 2}, (1001, "away", WebSocketState.CLOSED)]


async def test_after_the_peer_closed_receive_and_send_raise_websocket_disconnect(client):
    outcomes = []

    async def endpoint(ws):
        await ws.accept()
        with pytest.raises(WebSocketDisconnect) as first:
            await ws.receive_text()
        with pytest.raises(WebSocketDisconnect) as again:
            await ws.receive_bytes()
        with pytest.raises(WebSocketDisconnect):
            await ws.send_text("late")
        with pytest.raises(RuntimeError, match="already disconnected"):
            await ws.receive()
        await ws.close()  # closing a closed WebSocket does nothing
        outcomes.append((first.value.code, first.value.reason, again.value.code, ws.close_code))

    async with client(endpoint_app(endpoint)).websocket_connect("/") as session:
        await session.close(4002, "leaving")
    assert outcomes == [(4002, "leaving", 4002, 4002)]


async def test_after_the_app_closed_sending_is_a_runtime_error_and_close_is_idempotent(client):
    async def endpoint(ws):
        await ws.accept()
        await ws.close(4003, "enough")
        await ws.close(4004, "ignored")
        assert ws.close_code == 4003 and ws.close_reason == "enough"
        with pytest.raises(RuntimeError, match=r"send_text\(\) after close\(\)"):
            await ws.send_text("x")
        with pytest.raises(RuntimeError, match=r"receive_text\(\) after close\(\)"):
            await ws.receive_text()

    async with client(endpoint_app(endpoint)).websocket_connect("/") as session:
        with pytest.raises(WebSocketDisconnect) as info:
            await session.receive_text()
    assert (info.value.code, info.value.reason) == (4003, "enough")
    assert session.close_code == 4003


@pytest.mark.parametrize("code, reason, message", [
    (1005, "", "close code 1005 cannot be sent"),
    (999, "", "close code 999 cannot be sent"),
    (5000, "", "close code 5000 cannot be sent"),
    (True, "", "close code True cannot be sent"),
    (1000, "x" * 124, "at most 123 bytes"),
    (1000, "\u00e9" * 62, "at most 123 bytes"),
])
async def test_close_refuses_a_code_or_reason_a_close_frame_cannot_carry(client, code, reason, message):
    async def endpoint(ws):
        await ws.accept()
        with pytest.raises(ValueError, match=message):
            await ws.close(code, reason)
        assert ws.connection_state is WebSocketState.OPEN
        await ws.close(1000, "\u00e9" * 61)

    async with client(endpoint_app(endpoint)).websocket_connect("/") as session:
        with pytest.raises(WebSocketDisconnect) as info:
            await session.receive()
    assert info.value.code == 1000


async def test_a_message_of_the_wrong_type_closes_1003(client):
    async def endpoint(ws):
        await ws.accept()
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.receive_text()
        assert (info.value.code, info.value.reason) == (1003, "expected a text message")

    async with client(endpoint_app(endpoint)).websocket_connect("/") as session:
        await session.send_bytes(b"binary")
        with pytest.raises(WebSocketDisconnect) as info:
            await session.receive()
    assert (info.value.code, info.value.reason) == (1003, "expected a text message")

    async def wants_bytes(ws):
        await ws.accept()
        await ws.receive_bytes()

    async with client(endpoint_app(wants_bytes)).websocket_connect("/") as session:
        await session.send_text("text")
        with pytest.raises(WebSocketDisconnect) as info:
            await session.receive()
    assert (info.value.code, info.value.reason) == (1003, "expected a binary message")


async def test_invalid_json_closes_1007(client):
    async def endpoint(ws):
        await ws.accept()
        await ws.receive_json()

    async with client(endpoint_app(endpoint)).websocket_connect("/") as session:
        await session.send_text("{not json")
        with pytest.raises(WebSocketDisconnect) as info:
            await session.receive()
    assert (info.value.code, info.value.reason) == (1007, "invalid JSON")


# -- refusing the handshake --------------------------------------------------------------------


async def test_deny_sends_the_response_through_the_denial_extension(client):
    async def endpoint(ws):
        response = Text("who are you?", status=401, headers={"www-authenticate": "Bearer"})
        await ws.deny(response)
        assert ws.connection_state is WebSocketState.CLOSED and ws.close_code is None
        with pytest.raises(RuntimeError, match="already closed"):
            await ws.accept()

    with pytest.raises(WebSocketDenied) as info:
        async with client(endpoint_app(endpoint)).websocket_connect("/"):
            pass
    denied = info.value
    assert denied.status == 401 and denied.body == b"who are you?"
    assert (b"www-authenticate", b"Bearer") in denied.headers


async def test_without_the_extension_deny_closes_and_the_server_answers_403(client):
    async def endpoint(ws):
        await ws.deny(Response(b"nope", status=401))

    app = endpoint_app(endpoint)

    async def no_extension(scope, receive, send):
        del scope["extensions"]["websocket.http.response"]
        await app(scope, receive, send)

    with pytest.raises(WebSocketDenied) as info:
        async with client(no_extension).websocket_connect("/"):
            pass
    assert info.value.status == 403 and info.value.body == b""


async def test_close_before_accept_refuses_with_403_and_deny_after_accept_is_an_error(client):
    async def refuse(ws):
        await ws.close()
        assert ws.close_code is None

    with pytest.raises(WebSocketDenied) as info:
        async with client(endpoint_app(refuse)).websocket_connect("/"):
            pass
    assert info.value.status == 403

    async def late(ws):
        await ws.accept()
        with pytest.raises(RuntimeError, match=r"already open; a denial response can only answer the handshake"):
            await ws.deny(Response(b"", status=403))
        await ws.send_text("still open")

    async with client(endpoint_app(late)).websocket_connect("/") as session:
        assert await session.receive_text() == "still open"


# -- class endpoints ---------------------------------------------------------------------------


def test_receive_is_checked_when_the_class_is_defined():
    with pytest.raises(TypeError, match=r"Bad.receive must be 'text', 'bytes' or 'json', got 'xml'"):
        class Bad(WebSocketResource):
            receive = "xml"
    with pytest.raises(TypeError, match="must be a sequence of names, not one str"):
        class Bad2(WebSocketResource):
            subprotocols = "v1"


class Recorder(WebSocketResource):
    """Records every event; behaviour chosen by the messages."""

    def __init__(self, mode="text"):
        self.receive = mode
        self.events = []

    async def on_connect(self, ws, **params):
        self.events.append(("connect", params))
        await ws.accept()

    async def on_receive(self, ws, data):
        self.events.append(("receive", data))
        if data in ("raise", b"raise"):
            raise ValueError("on_receive failed")
        if data == "close":
            await ws.close(4000, "asked")
            return
        await ws.send_text(f"echo {data!r}")

    async def on_disconnect(self, ws, code):
        self.events.append(("disconnect", code))


async def test_a_resource_gets_connect_receive_disconnect_with_the_clients_code(client):
    resource = Recorder()
    async with client(ws_app({"r": resource})).websocket_connect("/r/lobby") as session:
        await session.send_text("hi")
        assert await session.receive_text() == "echo 'hi'"
        await session.close(4001, "bye")
    assert resource.events == [("connect", {"room": "lobby"}), ("receive", "hi"), ("disconnect", 4001)]


@pytest.mark.parametrize("mode, send, payload, expected", [
    ("text", "send_text", "h\u00e9", "h\u00e9"),
    ("bytes", "send_bytes", b"\x01\x02", b"\x01\x02"),
    ("json", "send_text", '{"a": 1}', {"a": 1}),
    ("json", "send_bytes", b"[1, 2]", [1, 2]),
])
async def test_messages_are_decoded_as_the_resource_declares(client, mode, send, payload, expected):
    resource = Recorder(mode)
    async with client(ws_app({"r": resource})).websocket_connect("/r") as session:
        await getattr(session, send)(payload)
        assert await session.receive_text() == f"echo {expected!r}"
    assert resource.events == [("connect", {}), ("receive", expected), ("disconnect", 1000)]


@pytest.mark.parametrize("mode, send, code, reason", [
    ("json", ("send_text", "{oops"), 1007, "invalid JSON"),
    ("text", ("send_bytes", b"\x00"), 1003, "expected a text message"),
    ("bytes", ("send_text", "text"), 1003, "expected a binary message"),
])
async def test_a_message_the_declaration_refuses_closes_with_its_code(client, mode, send, code, reason):
    resource = Recorder(mode)
    async with client(ws_app({"r": resource})).websocket_connect("/r") as session:
        await getattr(session, send[0])(send[1])
        with pytest.raises(WebSocketDisconnect) as info:
            await session.receive()
    assert (info.value.code, info.value.reason) == (code, reason)
    assert resource.events == [("connect", {}), ("disconnect", code)]


async def test_the_resource_closing_stops_the_loop_with_its_code(client):
    resource = Recorder()
    async with client(ws_app({"r": resource})).websocket_connect("/r") as session:
        await session.send_text("close")
        with pytest.raises(WebSocketDisconnect) as info:
            await session.receive()
    assert info.value.code == 4000
    assert resource.events == [("connect", {}), ("receive", "close"), ("disconnect", 4000)]


async def test_an_error_after_accept_closes_1011_runs_on_disconnect_and_is_reraised(client, caplog):
    resource = Recorder()
    errors = []
    app = ws_app({"r": resource}, errors=errors)
    async with client(app).websocket_connect("/r") as session:
        await session.send_text("raise")
        with pytest.raises(ValueError, match="on_receive failed"):
            await session.receive()
    assert session.close_code == 1011
    assert resource.events[-1] == ("disconnect", 1011)
    assert [str(e) for e in errors] == ["on_receive failed"]

    # Without raise_server_exceptions the session sees only the close frame.
    resource = Recorder()
    async with client(ws_app({"r": resource}), raise_server_exceptions=False).websocket_connect("/r") as session:
        await session.send_text("raise")
        with pytest.raises(WebSocketDisconnect) as info:
            await session.receive()
    assert info.value.code == 1011 and resource.events[-1] == ("disconnect", 1011)


class Failing(WebSocketResource):
    def __init__(self, exc):
        self.exc = exc
        self.disconnected = False

    async def on_connect(self, ws, **params):
        raise self.exc

    async def on_disconnect(self, ws, code):
        self.disconnected = True


async def test_an_error_before_accept_denies_with_500_and_is_reraised(client):
    resource = Failing(KeyError("lost"))
    with pytest.raises(KeyError, match="lost"):
        async with client(ws_app({"r": resource})).websocket_connect("/r"):
            pass
    errors = []
    with pytest.raises(WebSocketDenied) as info:
        async with client(ws_app({"r": resource}, errors=errors), raise_server_exceptions=False).websocket_connect("/r"):
            pass
    assert info.value.status == 500 and info.value.json() == {"status": 500, "detail": "Internal Server Error"}
    assert [type(e) for e in errors] == [KeyError] and not resource.disconnected


async def test_an_http_error_before_accept_is_a_denial_with_its_status_not_an_error(client):
    resource = Failing(HTTPError(401, "token expired", {"www-authenticate": "Bearer"}))
    errors = []
    with pytest.raises(WebSocketDenied) as info:
        async with client(ws_app({"r": resource}, errors=errors)).websocket_connect("/r"):
            pass
    denied = info.value
    assert denied.status == 401 and denied.json() == {"status": 401, "detail": "token expired"}
    assert (b"www-authenticate", b"Bearer") in denied.headers and errors == []


async def test_on_connect_returning_without_accepting_refuses_403(client, caplog):
    class Silent(WebSocketResource):
        async def on_connect(self, ws, **params):
            pass

    with caplog.at_level(logging.INFO, logger="pyre.error"), pytest.raises(WebSocketDenied) as info:
        async with client(ws_app({"r": Silent()})).websocket_connect("/r"):
            pass
    assert info.value.status == 403
    assert "returned without accepting: refused (403)" in caplog.text


async def test_the_default_on_connect_picks_the_first_offered_subprotocol_it_speaks(client):
    class Speaks(WebSocketResource):
        subprotocols = ("v1", "v2")

    app = ws_app({"r": Speaks()})
    async with client(app).websocket_connect("/r", subprotocols=["v3", "v2", "v1"]) as session:
        assert session.subprotocol == "v2"
    async with client(app).websocket_connect("/r", subprotocols=["v3"]) as session:
        assert session.subprotocol is None


async def test_listeners_are_called_around_the_resource_events(client):
    calls = []

    async def on_connect(ws):
        calls.append("connect")
        if ws.query.get("deny"):
            raise HTTPError(403)

    async def on_receive(ws, data):
        calls.append(("receive", data))

    async def on_disconnect(ws, code):
        calls.append(("disconnect", code))

    resource = Recorder("json")
    listeners = WebSocketListeners(on_connect, on_receive, on_disconnect)
    app = ws_app({"r": resource}, listeners)
    async with client(app).websocket_connect("/r") as session:
        await session.send_json({"n": 1})
        await session.receive_text()
    assert calls == ["connect", ("receive", {"n": 1}), ("disconnect", 1000)]
    assert resource.events == [("connect", {}), ("receive", {"n": 1}), ("disconnect", 1000)]
    with pytest.raises(WebSocketDenied) as info:
        async with client(app).websocket_connect("/r?deny=1"):
            pass
    assert info.value.status == 403 and calls[-1] == "connect" and len(resource.events) == 3


# -- function endpoints ------------------------------------------------------------------------


async def test_a_function_endpoint_returning_with_the_websocket_open_closes_it_1000(client):
    async def endpoint(ws, room):
        await ws.accept()
        await ws.send_text(room)

    async with client(ws_app({"f": endpoint})).websocket_connect("/f/blue") as session:
        assert await session.receive_text() == "blue"
        with pytest.raises(WebSocketDisconnect) as info:
            await session.receive()
    assert info.value.code == 1000


async def test_a_function_endpoint_that_never_accepts_refuses_and_a_disconnect_is_not_an_error(client):
    async def silent(ws):
        pass

    with pytest.raises(WebSocketDenied) as info:
        async with client(ws_app({"f": silent})).websocket_connect("/f"):
            pass
    assert info.value.status == 403

    errors = []
    disconnects = []

    async def reader(ws):
        await ws.accept()
        while True:
            await ws.receive_text()  # raises WebSocketDisconnect at the end: the endpoint's end

    listeners = WebSocketListeners(websocket_disconnect=lambda ws, code: _record(disconnects, code))
    async with client(ws_app({"f": reader}, listeners, errors=errors)).websocket_connect("/f") as session:
        await session.send_text("x")
        await session.close(1001)
    assert errors == [] and disconnects == [1001]


async def _record(into, value):
    into.append(value)


async def test_a_function_endpoint_error_closes_1011_and_is_reraised(client):
    async def broken(ws):
        await ws.accept()
        raise LookupError("broken")

    errors = []
    async with client(ws_app({"f": broken}, errors=errors), raise_server_exceptions=False).websocket_connect("/f") as session:
        with pytest.raises(WebSocketDisconnect) as info:
            await session.receive()
    assert info.value.code == 1011 and [str(e) for e in errors] == ["broken"]


async def test_run_websocket_endpoint_passes_the_params():
    got = []

    async def endpoint(ws, room, user):
        got.append((room, user))
        await ws.close()

    messages = []

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        messages.append(message)

    ws = WebSocket(ws_scope(), receive, send)
    await run_websocket_endpoint(endpoint, ws, {"room": "r", "user": "u"})
    assert got == [("r", "u")] and messages == [{"type": "websocket.close", "code": 1000, "reason": ""}]


# -- groups and brokers ------------------------------------------------------------------------


async def test_a_chat_room_broadcasts_to_every_member_and_members_leave_when_they_close(client):
    groups = Groups()
    chat = Chat(groups)
    app = ws_app({"chat": chat})
    test = client(app)
    async with test.websocket_connect("/chat/lobby?user=ann") as ann:
        assert await ann.receive_json() == {"joined": "lobby", "members": 1}
        async with test.websocket_connect("/chat/lobby?user=bob") as bob, \
                test.websocket_connect("/chat/lobby?user=cy") as cy:
            assert (await bob.receive_json())["members"] == 2
            assert (await cy.receive_json())["members"] == 3
            await bob.send_json({"text": "hello"})
            expected = {"room": "lobby", "user": "bob", "text": "hello"}
            assert [await member.receive_json() for member in (ann, bob, cy)] == [expected] * 3
            assert [m.query["user"] for m in groups.members("lobby")] == ["ann", "bob", "cy"]
        assert [m.query["user"] for m in groups.members("lobby")] == ["ann"]
        await ann.send_json({"text": "alone"})
        assert (await ann.receive_json())["text"] == "alone"
    assert groups.members("lobby") == () and groups.groups() == []
    assert sorted(chat.disconnects) == [("ann", 1000), ("bob", 1000), ("cy", 1000)]
    assert groups.broker.channels() == []  # the last member left: unsubscribed


async def test_a_denied_chat_member_never_joins(client):
    groups = Groups()
    with pytest.raises(WebSocketDenied) as info:
        async with client(ws_app({"chat": Chat(groups)})).websocket_connect("/chat/lobby?user=banned"):
            pass
    assert info.value.status == 403 and (b"x-reason", b"banned") in info.value.headers
    assert info.value.json() == {"status": 403, "detail": "banned"}
    assert groups.groups() == []


class FakeConnection:
    """A WebSocket over a fake server: ``block`` makes its sends wait forever, ``fail``
    makes them raise OSError; ``arrived`` is set once ``expect`` messages were sent."""

    def __init__(self, name, *, block=False, fail=False, expect=0):
        self.sent = []
        self.closed = []
        self.block = block
        self.fail = fail
        self.expect = expect
        self.arrived = asyncio.Event()
        self.ws = WebSocket(dict(ws_scope(), path=f"/{name}"), self.receive, self.send)

    async def receive(self):
        return {"type": "websocket.connect"}

    async def send(self, message):
        if message["type"] == "websocket.close":
            self.closed.append((message["code"], message["reason"]))
            return
        if message["type"] == "websocket.send":
            if self.fail:
                raise ConnectionResetError("gone")
            if self.block:
                await asyncio.Event().wait()
            self.sent.append(message.get("text", message.get("bytes")))
            if len(self.sent) == self.expect:
                self.arrived.set()

    async def accepted(self):
        await self.ws.accept()
        return self.ws


async def test_a_slow_member_is_closed_1008_and_never_holds_up_the_others(caplog):
    groups = Groups(max_queue=3)
    fast = [FakeConnection(f"fast{i}", expect=10) for i in range(2)]
    slow = FakeConnection("slow", block=True)
    for connection in [fast[0], slow, fast[1]]:
        await groups.join("room", await connection.accepted())
    with caplog.at_level(logging.WARNING, logger="pyre.error"):
        for n in range(10):
            await groups.broadcast("room", f"m{n}")
            await asyncio.sleep(0)  # messages that come over time: the senders run between them
        async with asyncio.timeout(5):
            for connection in fast:
                await connection.arrived.wait()
    assert [c.sent for c in fast] == [[f"m{n}" for n in range(10)]] * 2
    # The slow member's send of m0 never ends; m1-m3 wait behind it; m4 finds it too slow.
    assert slow.sent == [] and slow.closed == [(1008, "too slow")]
    assert slow.ws.connection_state is WebSocketState.CLOSED
    assert [c.ws for c in fast] == list(groups.members("room"))
    assert "WebSocket /slow is too slow for group 'room' (3 messages unsent): closed" in caplog.text
    await groups.close()


async def test_a_burst_of_broadcasts_is_not_slowness():
    groups = Groups(max_queue=2)
    members = [FakeConnection(f"m{i}", expect=50) for i in range(3)]
    for connection in members:
        await groups.join("room", await connection.accepted())
    for n in range(50):  # no turn of the event loop between them
        await groups.broadcast("room", n.to_bytes(1, "big"))
    async with asyncio.timeout(5):
        for connection in members:
            await connection.arrived.wait()
    assert all(c.sent == [n.to_bytes(1, "big") for n in range(50)] and not c.closed for c in members)
    assert len(groups.members("room")) == 3
    await groups.close()


async def test_a_member_whose_send_fails_is_removed():
    groups = Groups()
    ok = FakeConnection("ok", expect=2)
    gone = FakeConnection("gone", fail=True)
    await groups.join("room", await ok.accepted())
    await groups.join("room", await gone.accepted())
    await groups.join("other", gone.ws)
    await groups.broadcast("room", "one")
    for _ in range(5):  # let the senders run
        await asyncio.sleep(0)
    assert groups.members("room") == (ok.ws,) and groups.members("other") == ()
    assert gone.ws.close_code == 1006 and groups.groups() == ["room"]
    await groups.broadcast("room", b"two")
    async with asyncio.timeout(5):
        await ok.arrived.wait()
    assert ok.sent == ["one", b"two"]
    await groups.close()


async def test_broadcast_encodes_str_bytes_and_json_once_and_keeps_the_order():
    groups = Groups()
    connection = FakeConnection("a", expect=4)
    await groups.join("room", await connection.accepted())
    await groups.join("room", connection.ws)  # joining twice is one membership
    await groups.broadcast("room", "text")
    await groups.broadcast("room", b"\x00bin")
    await groups.broadcast("room", {"n": [1, 2], "s": "\u00e9"})
    await groups.broadcast("room", bytearray(b"ba"))
    await groups.broadcast("nobody-here", "lost")
    async with asyncio.timeout(5):
        await connection.arrived.wait()
    assert connection.sent == ["text", b"\x00bin", '{"n":[1,2],"s":"\u00e9"}', b"ba"]
    await groups.close()


async def test_join_needs_an_open_websocket_and_leave_unsubscribes_the_last():
    broker = InProcessBroker()
    groups = Groups(broker)
    connection = FakeConnection("a")
    with pytest.raises(RuntimeError, match="the WebSocket is connecting; join after accept"):
        await groups.join("room", connection.ws)
    ws = await connection.accepted()
    await groups.join("room", ws)
    await groups.join("hall", ws)
    assert sorted(broker.channels()) == ["hall", "room"]
    await groups.leave("room", ws)
    await groups.leave("room", ws)  # not a member: nothing
    assert broker.channels() == ["hall"] and groups.members("hall") == (ws,)
    await ws.close()  # leaves the rest by itself
    assert groups.groups() == []
    await groups.close()
    assert broker.channels() == []
    with pytest.raises(RuntimeError, match="the WebSocket is closed"):
        await groups.join("room", ws)


async def test_two_processes_sharing_a_broker_reach_each_others_members():
    broker = InProcessBroker()  # stands for Redis or PostgreSQL between two processes
    here, there = Groups(broker), Groups(broker)
    a, b = FakeConnection("a", expect=2), FakeConnection("b", expect=2)
    await here.join("room", await a.accepted())
    await there.join("room", await b.accepted())
    await here.broadcast("room", "from here")
    await there.broadcast("room", "from there")
    async with asyncio.timeout(5):
        await a.arrived.wait()
        await b.arrived.wait()
    assert a.sent == b.sent == ["from here", "from there"]
    assert here.members("room") == (a.ws,) and there.members("room") == (b.ws,)
    await here.close()
    await there.close()


async def test_the_in_process_broker_logs_a_failing_callback_and_goes_on(caplog):
    broker = InProcessBroker()
    got = []

    def broken(message):
        raise ValueError("bad subscriber")

    await broker.subscribe("c", broken)
    await broker.subscribe("c", got.append)
    with caplog.at_level(logging.ERROR, logger="pyre.error"):
        await broker.publish("c", "m")
    assert got == ["m"] and "Subscriber" in caplog.text and "bad subscriber" in caplog.text
    await broker.unsubscribe("c", broken)
    await broker.unsubscribe("c", broken)  # not subscribed: nothing
    await broker.publish("c", b"n")
    assert got == ["m", b"n"]


async def test_a_join_whose_subscription_fails_raises_and_leaves_no_member():
    class Down(InProcessBroker):
        async def subscribe(self, channel, callback):
            raise ConnectionError("broker down")

    groups = Groups(Down())
    connection = FakeConnection("a")
    ws = await connection.accepted()
    with pytest.raises(ConnectionError, match="broker down"):
        await groups.join("room", ws)
    assert groups.members("room") == () and groups.groups() == []


async def test_joins_racing_a_slow_subscription_all_wait_for_it():
    class Slow(InProcessBroker):
        def __init__(self):
            super().__init__()
            self.release = asyncio.Event()
            self.entered = asyncio.Event()
            self.subscribes = 0

        async def subscribe(self, channel, callback):
            self.subscribes += 1
            self.entered.set()
            await self.release.wait()
            await super().subscribe(channel, callback)

    broker = Slow()
    groups = Groups(broker)
    a, b = FakeConnection("a", expect=1), FakeConnection("b", expect=1)
    joins = [asyncio.ensure_future(groups.join("room", await c.accepted())) for c in (a, b)]
    await broker.entered.wait()
    for _ in range(3):
        await asyncio.sleep(0)
    assert not any(join.done() for join in joins) and broker.subscribes == 1
    broker.release.set()
    await asyncio.gather(*joins)
    await groups.broadcast("room", "both")
    async with asyncio.timeout(5):
        await a.arrived.wait()
        await b.arrived.wait()
    await groups.close()


def test_groups_refuse_a_bad_max_queue():
    with pytest.raises(ValueError, match="max_queue=...\\) must be a positive int, got 0"):
        Groups(max_queue=0)
