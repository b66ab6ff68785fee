"""pyre.web.testing: the in-process clients (async and sync), WebSocket sessions, and the
real-server helpers, on plain ASGI apps and pyre.web responses."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import threading

import httpx
import pytest

from pyre.web.responses import SSE, File, JSON, ServerSentEvents, Stream, Text
from pyre.web.testing import (
    AsyncTestClient,
    LiveServer,
    TestClient,
    WebSocketDenied,
    WebSocketDisconnect,
    serve,
    serve_async,
)


async def echo_scope(scope, receive, send):
    """Answers with the scope (JSON-safe parts) and the request body it read."""
    if scope["type"] == "lifespan":
        return await lifespan_app(scope, receive, send)
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    safe = {key: scope[key] for key in ("type", "http_version", "method", "scheme", "path", "root_path", "server",
                                         "client")}
    safe.update(raw_path=scope["raw_path"].decode(), query_string=scope["query_string"].decode(),
                headers=[[k.decode(), v.decode()] for k, v in scope["headers"]],
                extensions=sorted(scope["extensions"]), asgi=scope["asgi"], state=scope.get("state"),
                body_length=len(body), body_head=body[:20].decode("latin-1"))
    await JSON(safe)(scope, receive, send)


async def lifespan_app(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            scope["state"]["db"] = "connected"
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


# -- HTTP through the async client ------------------------------------------------------------


async def test_the_scope_is_the_one_pyre_builds():
    async with AsyncTestClient(echo_scope, root_path="/api", cookies={"sid": "1"}) as client:
        response = await client.get("/caf%C3%A9/x?a=1&a=2", headers={"X-Token": "t"})
    assert response.status_code == 200
    scope = response.json()
    assert scope["type"] == "http" and scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1" and scope["method"] == "GET" and scope["scheme"] == "http"
    assert scope["path"] == "/api/caf\u00e9/x" and scope["raw_path"] == "/api/caf%C3%A9/x"
    assert scope["root_path"] == "/api" and scope["query_string"] == "a=1&a=2"
    assert scope["server"] == ["testserver", 80] and scope["client"] == ["127.0.0.1", 50000]
    headers = dict(scope["headers"])
    assert headers["host"] == "testserver" and headers["x-token"] == "t" and headers["cookie"] == "sid=1"
    assert scope["extensions"] == ["http.response.pathsend", "http.response.trailers"]
    assert scope["state"] == {"db": "connected"}


async def test_a_streamed_request_body_reaches_the_app_in_full():
    async def chunks():
        for n in range(40):
            yield bytes([65 + n % 26]) * 10_000  # 400 kB: past the cycle's read buffer

    async with AsyncTestClient(echo_scope) as client:
        response = await client.post("https://example.com:8443/upload", content=chunks())
    scope = response.json()
    assert scope["body_length"] == 400_000 and scope["body_head"] == "A" * 20
    assert scope["scheme"] == "https" and scope["server"] == ["example.com", 8443]


async def test_responses_stream_event_by_event():
    """The app makes the next event only once the client has read the previous one: a
    client that buffered the response would wait forever."""
    read = asyncio.Event()

    async def events():
        yield SSE("first", event="tick", id="1")
        await read.wait()
        yield SSE({"n": 2})

    async def app(scope, receive, send):
        await ServerSentEvents(events(), ping=None)(scope, receive, send)

    async with AsyncTestClient(app) as client:
        async with asyncio.timeout(5), client.stream("GET", "/events") as response:
            assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
            lines = response.aiter_lines()
            assert [await anext(lines) for _ in range(4)] == ["event: tick", "id: 1", "data: first", ""]
            read.set()
            assert [await anext(lines) for _ in range(2)] == ['data: {"n":2}', ""]


async def test_closing_a_response_early_is_a_disconnect_for_the_app():
    seen = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        seen.append(await receive())  # waits until the client goes away
        try:
            await send({"type": "http.response.body", "body": b"more", "more_body": True})
        except OSError as exc:
            seen.append(type(exc).__name__)

    async with AsyncTestClient(app) as client:
        async with client.stream("GET", "/") as response:
            assert await anext(response.aiter_raw()) == b"first"
    assert seen == [{"type": "http.disconnect"}, "ClientDisconnected"]


async def test_a_stream_that_never_ends_stops_when_the_client_closes():
    stopped = asyncio.Event()

    async def forever():
        try:
            while True:
                yield b"x" * 1000
        finally:
            stopped.set()

    async def app(scope, receive, send):
        await Stream(forever())(scope, receive, send)

    async with AsyncTestClient(app) as client:
        async with client.stream("GET", "/") as response:
            total = 0
            async for chunk in response.aiter_raw():
                total += len(chunk)
                if total > 200_000:  # past the client's read-ahead bound: the app was held back
                    break
    async with asyncio.timeout(5):
        await stopped.wait()


async def test_pathsend_is_offered_and_the_file_is_read(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(200_000))

    async def app(scope, receive, send):
        await File(str(path))(scope, receive, send)

    async with AsyncTestClient(app) as client:
        response = await client.get("/")
        assert response.content == path.read_bytes() and response.headers["content-length"] == "200000"
        partial = await client.get("/", headers={"range": "bytes=10-19"})
        assert partial.status_code == 206 and partial.content == path.read_bytes()[10:20]
        head = await client.head("/")
        assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == "200000"


async def test_a_raw_pathsend_message_sends_the_file(tmp_path):
    path = tmp_path / "raw.txt"
    path.write_bytes(b"through pathsend")

    async def app(scope, receive, send):
        assert "http.response.pathsend" in scope["extensions"]
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"16")]})
        await send({"type": "http.response.pathsend", "path": str(path)})

    async with AsyncTestClient(app) as client:
        assert (await client.get("/")).content == b"through pathsend"


async def test_trailers_are_kept_in_the_response_extensions():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
        await send({"type": "http.response.body", "body": b"data"})
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")]})

    async with AsyncTestClient(app) as client:
        response = await client.get("/")
    assert response.content == b"data" and response.extensions["trailers"] == [(b"x-checksum", b"abc")]


async def test_work_after_the_last_byte_is_done_when_the_request_returns():
    done = []

    async def app(scope, receive, send):
        await Text("ok")(scope, receive, send)
        await asyncio.sleep(0.01)
        done.append("background")

    async with AsyncTestClient(app) as client:
        assert (await client.get("/")).text == "ok"
        assert done == ["background"]


async def test_app_errors_raise_in_the_test_or_become_the_servers_500(caplog):
    async def broken(scope, receive, send):
        raise ZeroDivisionError("before the response")

    with pytest.raises(ZeroDivisionError, match="before the response"):
        async with AsyncTestClient(broken, lifespan="off") as client:
            await client.get("/")
    with caplog.at_level(logging.ERROR, logger="pyre.error"):
        async with AsyncTestClient(broken, raise_server_exceptions=False, lifespan="off") as client:
            response = await client.get("/")
    assert response.status_code == 500 and response.text == "Internal Server Error"
    assert "Exception in ASGI application" in caplog.text

    async def midway(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise KeyError("in the middle")

    with pytest.raises(KeyError, match="in the middle"):
        async with AsyncTestClient(midway, lifespan="off") as client:
            await client.get("/")
    async with AsyncTestClient(midway, raise_server_exceptions=False, lifespan="off") as client:
        with pytest.raises(httpx.RemoteProtocolError, match="stopped before the response was complete"):
            await client.get("/")


async def test_the_servers_checks_apply(caplog):
    async def bad_status(scope, receive, send):
        await send({"type": "http.response.start", "status": "200", "headers": []})

    with pytest.raises(ValueError, match="status must be an int, got str"):
        async with AsyncTestClient(bad_status, lifespan="off") as client:
            await client.get("/")

    async def silent(scope, receive, send):
        pass

    async with AsyncTestClient(silent, lifespan="off") as client:
        with caplog.at_level(logging.ERROR, logger="pyre.error"):
            assert (await client.get("/")).status_code == 500
    assert "returned without starting a response" in caplog.text


# -- lifespan ---------------------------------------------------------------------------------


def lifespan_events(fail_on=None, message=""):
    events = []

    async def app(scope, receive, send):
        if scope["type"] != "lifespan":
            await Text(scope["state"]["phase"])(scope, receive, send)
            return
        while True:
            received = (await receive())["type"]
            events.append(received)
            phase = received.split(".")[1]
            if phase == fail_on:
                await send({"type": f"{received}.failed", "message": message})
            else:
                scope["state"]["phase"] = "started"
                await send({"type": f"{received}.complete"})
            if phase == "shutdown":
                return

    return app, events


async def test_async_with_runs_startup_and_shutdown():
    app, events = lifespan_events()
    client = AsyncTestClient(app)
    assert events == []
    async with client:
        assert events == ["lifespan.startup"]
        assert (await client.get("/")).text == "started"
    assert events == ["lifespan.startup", "lifespan.shutdown"]


@pytest.mark.parametrize("phase", ["startup", "shutdown"])
async def test_a_failed_lifespan_phase_raises_with_its_message(phase):
    app, _ = lifespan_events(fail_on=phase, message="no database")
    with pytest.raises(RuntimeError, match=f"Application {phase} failed: no database"):
        async with AsyncTestClient(app):
            pass


async def test_lifespan_modes():
    async def http_only(scope, receive, send):
        assert scope["type"] == "http", "no lifespan here"
        await Text(str(scope.get("state")))(scope, receive, send)

    async with AsyncTestClient(http_only) as client:  # auto: an app that raises does not support it
        assert (await client.get("/")).text == "None"
    with pytest.raises(AssertionError, match="no lifespan here"):
        async with AsyncTestClient(http_only, lifespan="on"):
            pass
    app, events = lifespan_events()
    async with AsyncTestClient(app, lifespan="off"):
        pass
    assert events == []
    with pytest.raises(ValueError, match="lifespan must be 'auto', 'on' or 'off', got 'yes'"):
        AsyncTestClient(app, lifespan="yes")


# -- WebSocket sessions -----------------------------------------------------------------------


async def test_a_websocket_session_sees_the_scope_pyre_builds():
    async def app(scope, receive, send):
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept", "subprotocol": "v2", "headers": [(b"x-a", b"1")]})
        safe = {k: scope[k] for k in ("type", "scheme", "path", "query_string", "subprotocols", "http_version")}
        safe["query_string"] = safe["query_string"].decode()
        safe["headers"] = {k.decode(): v.decode() for k, v in scope["headers"]}
        safe["extensions"] = sorted(scope["extensions"])
        await send({"type": "websocket.send", "text": json.dumps(safe)})
        message = await receive()
        await send({"type": "websocket.send", "bytes": message["bytes"][::-1]})
        message = await receive()
        await send({"type": "websocket.send", "text": message["text"]})
        assert (await receive())["type"] == "websocket.disconnect"

    async with AsyncTestClient(app, headers={"authorization": "Bearer x"}) as client:
        async with client.websocket_connect("/ws?room=1", subprotocols=["v1", "v2"], headers={"x-b": "2"}) as ws:
            assert ws.subprotocol == "v2" and ws.headers == [(b"x-a", b"1")]
            scope = await ws.receive_json()
            await ws.send_bytes(b"abc")
            assert await ws.receive_bytes() == b"cba"
            await ws.send_text("x")
            with pytest.raises(TypeError, match="expected a binary message, got a text one: 'x'"):
                await ws.receive_bytes()
    assert scope["type"] == "websocket" and scope["scheme"] == "ws" and scope["path"] == "/ws"
    assert scope["query_string"] == "room=1" and scope["subprotocols"] == ["v1", "v2"]
    assert scope["extensions"] == ["websocket.http.response"] and scope["http_version"] == "1.1"
    headers = scope["headers"]
    assert headers["authorization"] == "Bearer x" and headers["x-b"] == "2" and headers["host"] == "testserver"
    assert headers["upgrade"] == "websocket" and headers["sec-websocket-protocol"] == "v1, v2"


async def test_the_apps_close_code_and_the_clients_reach_the_other_side():
    codes = []

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        if message["type"] == "websocket.receive":
            await send({"type": "websocket.close", "code": 4200, "reason": "as asked"})
            message = await receive()
        codes.append((message["code"], message["reason"]))

    async with AsyncTestClient(app, lifespan="off") as client:
        async with client.websocket_connect("/") as ws:
            await ws.send_text("close please")
            with pytest.raises(WebSocketDisconnect) as info:
                await ws.receive()
            with pytest.raises(WebSocketDisconnect):
                await ws.send_text("after")
        assert (info.value.code, info.value.reason) == (4200, "as asked") and ws.close_code == 4200
        async with client.websocket_connect("/") as ws:
            await ws.close(4300, "client leaves")
    assert codes == [(4200, "as asked"), (4300, "client leaves")]


async def test_refusals_raise_websocket_denied():
    async def denial(scope, receive, send):
        await send({"type": "websocket.http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "websocket.http.response.body", "body": b'{"detail":', "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b'"no"}'})

    async with AsyncTestClient(denial, lifespan="off") as client:
        with pytest.raises(WebSocketDenied) as info:
            async with client.websocket_connect("/"):
                pass
    assert info.value.status == 401 and info.value.json() == {"detail": "no"}
    assert info.value.headers == [(b"content-type", b"application/json")]
    assert "denied with 401" in str(info.value)

    async def broken(scope, receive, send):
        raise OSError("not a disconnect: the client is still there")

    async with AsyncTestClient(broken, lifespan="off") as client:
        with pytest.raises(OSError, match="not a disconnect"):
            async with client.websocket_connect("/"):
                pass
    async with AsyncTestClient(broken, lifespan="off", raise_server_exceptions=False) as client:
        with pytest.raises(WebSocketDenied) as info:
            async with client.websocket_connect("/"):
                pass
    assert info.value.status == 500


async def test_an_app_error_after_accept_reaches_the_session():
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "before"})
        raise RuntimeError("after accept")

    async with AsyncTestClient(app, lifespan="off") as client:
        async with client.websocket_connect("/") as ws:
            assert await ws.receive_text() == "before"
            with pytest.raises(RuntimeError, match="after accept"):
                await ws.receive_text()
        assert ws.close_code == 1011


# -- the sync client --------------------------------------------------------------------------


def portal_threads():
    return sum(thread.name == "pyre-test-client" for thread in threading.enumerate())


def test_the_sync_client_runs_the_app_on_a_loop_in_a_thread():
    app, events = lifespan_events()
    with TestClient(app) as client:
        assert events == ["lifespan.startup"]
        assert client.get("/").text == "started"
        assert portal_threads() == 1
    assert events == ["lifespan.startup", "lifespan.shutdown"]
    assert portal_threads() == 0


def test_the_sync_client_streams_and_uploads():
    release = threading.Event()

    async def events():
        yield SSE("one")
        while not release.is_set():  # the test thread sets it after reading the first event
            await asyncio.sleep(0.001)
        yield SSE("two")

    async def app(scope, receive, send):
        if scope["path"] == "/events":
            await ServerSentEvents(events(), ping=None)(scope, receive, send)
        else:
            await echo_scope(scope, receive, send)

    with TestClient(app, lifespan="off") as client:
        with client.stream("GET", "/events") as response:
            lines = response.iter_lines()
            assert [next(lines) for _ in range(2)] == ["data: one", ""]
            release.set()
            assert [next(lines) for _ in range(2)] == ["data: two", ""]
        upload = client.post("/up", content=(b"z" * 1000 for _ in range(300)))
        assert upload.json()["body_length"] == 300_000


def test_the_sync_client_without_a_with_block_and_its_errors():
    async def app(scope, receive, send):
        if scope["path"] == "/boom":
            raise ValueError("sync boom")
        await Text("plain")(scope, receive, send)

    client = TestClient(app)
    assert portal_threads() == 0  # the loop starts with the first request
    assert client.get("/").text == "plain"  # no lifespan without `with`
    assert portal_threads() == 1
    with pytest.raises(ValueError, match="sync boom"):
        client.get("/boom")
    client.close()
    assert portal_threads() == 0


def test_sync_websocket_sessions():
    async def app(scope, receive, send):
        await receive()
        if scope["path"] == "/deny":
            await send({"type": "websocket.close"})
            return
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "json":
                await send({"type": "websocket.send", "text": '{"a":1}'})
            else:
                await send({"type": "websocket.send", **{k: v for k, v in message.items() if k in ("text", "bytes")}})

    with TestClient(app, lifespan="off") as client:
        with client.websocket_connect("/ws") as ws:
            ws.send_text("hi")
            assert ws.receive_text() == "hi"
            ws.send_bytes(b"\x00")
            assert ws.receive_bytes() == b"\x00"
            ws.send_text("json")
            assert ws.receive_json() == {"a": 1}
            ws.send_json([1])
            assert ws.receive() == "[1]"
        assert ws.close_code == 1000
        with pytest.raises(WebSocketDenied) as info:
            with client.websocket_connect("/deny"):
                pass
        assert info.value.status == 403


def test_the_test_classes_are_not_collected_by_pytest():
    assert TestClient.__test__ is False and AsyncTestClient.__test__ is False


# -- imports ------------------------------------------------------------------------------------


def run_python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_without_httpx_the_import_error_names_it():
    out = run_python("import sys; sys.modules['httpx'] = None\nimport pyre.web.testing")
    assert out.returncode == 1
    assert "ImportError: pyre.web.testing needs the httpx package: pip install httpx" in out.stderr


def test_pyre_web_does_not_import_the_testing_module_or_httpx():
    out = run_python("import sys, pyre.web, pyre.web.websocket; print('pyre.web.testing' in sys.modules, 'httpx' in sys.modules)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


# -- a real server --------------------------------------------------------------------------------


def test_serve_runs_a_real_pyre_server_in_a_thread():
    with serve(echo_scope, lifespan="on") as live:
        assert isinstance(live, LiveServer) and live.url == f"http://127.0.0.1:{live.port}"
        assert live.ws_url == f"ws://127.0.0.1:{live.port}" and live.server.started
        response = httpx.post(live.url + "/x?y=1", content=b"body")
        scope = response.json()
        assert response.headers["server"] == "pyre"  # the real server's head
        assert scope["path"] == "/x" and scope["body_length"] == 4 and scope["state"] == {"db": "connected"}
        assert scope["client"][0] == "127.0.0.1"
        port = live.port
    assert not live.server.started or live.server.should_exit
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)


def test_serve_raises_when_the_server_does_not_start():
    app, _ = lifespan_events(fail_on="startup", message="no database")
    with pytest.raises(RuntimeError, match="Pyre did not start: application startup failed: no database"):
        with serve(app, lifespan="on"):
            pass


async def test_serve_async_runs_on_the_running_loop():
    async with serve_async(echo_scope) as live:
        async with httpx.AsyncClient(base_url=live.url) as client:
            response = await client.get("/async")
        assert response.json()["path"] == "/async"
        port = live.port
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    app, _ = lifespan_events(fail_on="startup", message="nope")
    with pytest.raises(RuntimeError, match="application startup failed: nope"):
        async with serve_async(app, lifespan="on"):
            pass


async def test_a_request_body_that_fails_raises_in_the_test_and_disconnects_the_app():
    seen = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            seen.append(message["type"])
            if message["type"] == "http.disconnect":
                return

    async def body():
        yield b"start"
        raise OSError("the upload source broke")

    async with AsyncTestClient(app, lifespan="off") as client:
        with pytest.raises(OSError, match="the upload source broke"):
            await client.post("/", content=body())
    assert seen == ["http.request", "http.disconnect"]


def test_a_session_of_a_closed_sync_client_says_so():
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        await receive()

    client = TestClient(app, lifespan="off")
    session = client.websocket_connect("/")
    with session:
        session.send_text("x")
    client.close()
    with pytest.raises(RuntimeError, match="the TestClient is closed"):
        session.send_text("late")
