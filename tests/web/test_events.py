"""Events: lifecycle and user events, listeners collected at startup, errors handled and
logged, and no cost at all for an event nobody listens to."""

from __future__ import annotations

import json

import pytest

import pyre.web.app as app_module
from pyre.web import JSON, App, BackgroundTasks, Controller, HTTPError, Request, Resource, listen
from pyre.web.events import LIFECYCLE_EVENTS, EventHooks, WebSocketListeners, collect_listeners
from tests.web.app_client import Lifespan, WebSocketPeer, call
from tests.web.fake_asgi import Client


def records(caplog, text):
    return [r for r in caplog.records if r.name == "pyre.error" and text in r.getMessage()]


# -- request lifecycle -------------------------------------------------------------------------------


async def test_request_response_after_response_in_order_app_controller_resource():
    order = []

    class MyApp(App):
        async def on_request(self, request):
            order.append("app request")

        async def on_response(self, request, response):
            order.append("app response")
            response.headers["x-app"] = "1"

        async def on_after_response(self, request, response):
            order.append(f"app after {response.status}")

    class Api(Controller):
        prefix = "/api"

        def on_request(self, request):
            order.append("controller request")

        def on_response(self, request, response):
            order.append("controller response")

    class Item(Resource):
        async def on_request(self, request: Request):
            order.append("resource request")
            request.state.user = "ann"

        async def on_response(self, request, response):
            order.append("resource response")
            response.set_cookie("seen", "1")

        async def get(self, request: Request):
            order.append("handler")
            tasks = BackgroundTasks()
            tasks.add(order.append, "background")
            return JSON({"user": request.state.user}, background=tasks)

    api = Api()
    api.add("/item", Item)
    app = MyApp()
    app.include(api)
    client = Client(on_send=lambda message: order.append(message["type"]))
    await call(app, "GET", "/api/item", client=client)
    assert json.loads(client.body) == {"user": "ann"}
    assert client.headers["x-app"] == "1" and client.headers["set-cookie"].startswith("seen=1")
    assert order == [
        "app request", "controller request", "resource request", "handler",
        "app response", "controller response", "resource response",
        "http.response.start", "http.response.body",
        "app after 200", "background",
    ]


async def test_app_listeners_see_the_responses_the_app_makes_itself():
    seen = []
    app = App()

    @app.on("response")
    def response(request, response):
        seen.append(("response", request.path, response.status))

    @app.on("after_response")
    async def after(request, response):
        seen.append(("after", response.status))

    @app.on("request")
    def request(request):
        seen.append(("request", request.path))  # not for a 404: no handler runs

    @app.get("/only")
    async def only(request):
        return "x"

    await call(app, "GET", "/missing")
    await call(app, "POST", "/only")
    assert seen == [("response", "/missing", 404), ("after", 404), ("response", "/only", 405), ("after", 405)]


async def test_a_request_listener_may_refuse_with_http_error():
    class Guarded(Resource):
        async def on_request(self, request):
            raise HTTPError(429, "slow down", headers={"retry-after": "1"})

        async def get(self, request):
            raise AssertionError("never")

    app = App()
    app.add("/", Guarded)
    client = await call(app)
    assert client.status == 429 and client.headers["retry-after"] == "1"


async def test_a_failing_request_or_response_listener_becomes_the_requests_500(caplog):
    app = App()
    errors = []

    @app.on("error")
    def error(request, exc):
        errors.append(type(exc).__name__)

    class Broken(Resource):
        async def get(self, request):
            return "fine"

        async def on_response(self, request, response):
            raise KeyError("oops")

    app.add("/response", Broken)

    @app.get("/request")
    async def handler(request):
        return "fine"

    app.on("request")(lambda request: 1 / 0)
    first = await call(app, "GET", "/response")
    # The app's request listener failed first; the response listeners still see that error
    # response, and the one failing there makes another (not passed to them again).
    assert first.status == 500 and errors == ["ZeroDivisionError", "KeyError"]
    app2 = App()
    app2.add("/", Broken)
    second = await call(app2)
    assert second.status == 500 and json.loads(second.body) == {"status": 500, "detail": "Internal Server Error"}
    assert records(caplog, "Exception in GET /")


async def test_after_response_errors_are_logged_and_the_next_listeners_still_run(caplog):
    ran = []

    class MyApp(App):
        async def on_after_response(self, request, response):
            raise RuntimeError("metrics down")

    app = MyApp()

    @app.on("after_response")
    def second(request, response):
        ran.append(response.status)

    @app.get("/")
    async def index(request):
        return "ok"

    client = await call(app)
    assert client.status == 200 and ran == [200]
    (record,) = records(caplog, "of event 'after_response' failed")
    assert "MyApp.on_after_response" in record.getMessage() and record.exc_info


async def test_shutdown_errors_are_logged_and_shutdown_completes(caplog):
    ran = []
    app = App()

    @app.on("shutdown")
    def first():
        raise OSError("already closed")

    @app.on("shutdown")
    async def second():
        ran.append("second")

    lifespan = Lifespan(app)
    await lifespan.startup()
    assert await lifespan.shutdown() == {"type": "lifespan.shutdown.complete"}
    assert ran == ["second"] and records(caplog, "of event 'shutdown' failed")


# -- user events ---------------------------------------------------------------------------------------


async def test_user_events_reach_listeners_in_registration_order(caplog):
    got = []

    class MyApp(App):
        @listen("order.created")
        async def notify(self, order_id, *, by):
            got.append(("app method", order_id, by))

    class Orders(Resource):
        async def post(self, request: Request):
            await request.app.emit("order.created", 7, by="ann")
            return {"ok": True}

        @listen("order.created", "order.paid")
        def audit(self, order_id, *, by):
            got.append(("resource", order_id, by))

    app = MyApp()

    @app.on("order.created")
    def broken(order_id, *, by):
        raise ValueError("mail server down")

    @app.on("order.created")
    async def counted(order_id, *, by):
        got.append(("app.on", order_id, by))

    app.add("/orders", Orders)
    client = await call(app, "POST", "/orders")
    assert client.status == 200
    assert got == [("app method", 7, "ann"), ("app.on", 7, "ann"), ("resource", 7, "ann")]
    assert records(caplog, "of event 'order.created' failed")
    await app.emit("order.paid", 8, by="bob")
    assert got[-1] == ("resource", 8, "bob")
    await app.emit("nobody.listens")  # nothing happens


async def test_emit_refuses_lifecycle_names_and_listen_needs_names():
    app = App()
    with pytest.raises(ValueError, match="lifecycle event"):
        await app.emit("startup")
    with pytest.raises(TypeError):
        listen()
    with pytest.raises(ValueError):
        listen("")
    with pytest.raises(ValueError):
        app.on("")


def test_only_methods_a_class_defines_are_collected():
    class Quiet(Resource):
        async def get(self, request):
            return 1

    class Loud(Quiet):
        async def on_request(self, request):
            pass

        @listen("a", "b")
        def both(self):
            pass

        @listen("request")
        async def on_response(self, request, response):  # listed once per event
            pass

    assert collect_listeners(Quiet()) == {}
    loud = Loud()
    found = {event: [(ref.__name__, is_async) for ref, is_async in refs] for event, refs in collect_listeners(loud).items()}
    assert found == {
        "request": [("on_request", True), ("on_response", True)],
        "response": [("on_response", True)],
        "a": [("both", False)],
        "b": [("both", False)],
    }
    assert set(LIFECYCLE_EVENTS) == {name[3:] for name in vars(EventHooks) if name.startswith("on_")}


# -- zero cost ---------------------------------------------------------------------------------------------


async def test_an_event_nobody_listens_to_costs_nothing_per_request(monkeypatch):
    """20 listener methods for user events, none for the request's lifecycle: the route's
    plan has no hooks, and a request calls no listener machinery at all."""
    namespace = {f"listener_{index}": listen(f"event.{index}")(lambda self: None) for index in range(20)}

    async def get(self, request):
        return {"message": "Hello, World!"}

    namespace["get"] = get
    Json = type("Json", (Resource,), namespace)
    app = App()
    app.add("/json", Json)
    app.freeze()
    (pattern, target), = app.routes
    assert target.methods["GET"].hooks is None and target.methods["HEAD"].hooks is None
    assert app._app_hooks is None and app._entry == app._dispatch  # no middleware wrapper either
    calls = []
    for name in ("run_listeners", "run_logged"):
        monkeypatch.setattr(app_module, name, lambda *args, name=name: calls.append(name))
    monkeypatch.setattr(App, "_serve_hooked", lambda *args: calls.append("hooked"))
    monkeypatch.setattr(App, "_finish", lambda *args: calls.append("finish"))
    client = await call(app, "GET", "/json")
    assert json.loads(client.body) == {"message": "Hello, World!"} and calls == []
    assert len(app._events.listeners("event.3")) == 1


async def test_a_route_with_listeners_has_hooks_in_its_plan():
    class Listened(Resource):
        async def get(self, request):
            return 1

        async def on_after_response(self, request, response):
            pass

    app = App()
    app.add("/", Listened)
    app.freeze()
    hooks = app.routes[0][1].methods["GET"].hooks
    assert hooks is not None and len(hooks.after_response) == 1 and not hooks.request
    assert repr(hooks) == "RouteHooks(after_response=1)"


# -- websocket events and dispatch -------------------------------------------------------------------------


async def test_websocket_listeners_are_built_only_when_someone_listens(websocket_module):
    assert WebSocketListeners.build({"request": [(print, False)]}) is None
    got = []
    listeners = WebSocketListeners.build({"websocket_receive": [(lambda ws, data: got.append(data), False)]})
    assert listeners is not None
    await listeners.websocket_connect("ws")  # no listener: nothing
    await listeners.websocket_receive("ws", "hi")
    assert got == ["hi"]


async def test_a_websocket_resource_gets_the_events_of_its_app_and_controller(websocket_module):
    events = []

    class MyApp(App):
        async def on_websocket_connect(self, ws):
            events.append("connect")

        def on_websocket_receive(self, ws, data):
            events.append(("receive", data))

    class Chat(websocket_module.WebSocketResource):
        async def on_receive(self, ws, data):
            await ws.send_text(f"echo {data}")

        async def on_disconnect(self, ws, code):
            events.append(("disconnect", code))

    class Rooms(Controller):
        prefix = "/rooms"

        async def on_websocket_disconnect(self, ws, code):
            events.append(("controller disconnect", code))

    rooms = Rooms()
    rooms.websocket("/{room}")(Chat)
    app = MyApp()
    app.include(rooms)
    sent = await WebSocketPeer("/rooms/lobby").run(app, {"type": "websocket.receive", "text": "hi"})
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send"]
    assert sent[1]["text"] == "echo hi"
    assert events == ["connect", ("receive", "hi"), ("disconnect", 1000), ("controller disconnect", 1000)]
    (pattern, target), = app.routes
    assert target.websocket.listeners is not None


async def test_a_websocket_route_without_listeners_passes_none(websocket_module, monkeypatch):
    passed = []
    original = websocket_module.run_websocket_resource

    async def spy(resource, ws, params, listeners=None):
        passed.append((params, listeners))
        await original(resource, ws, params, listeners)

    monkeypatch.setattr(websocket_module, "run_websocket_resource", spy)

    class Echo(websocket_module.WebSocketResource):
        pass

    app = App()
    app.websocket("/echo/{n:int}")(Echo)
    await WebSocketPeer("/echo/3").run(app)
    assert passed == [({"n": 3}, None)]


async def test_function_websocket_endpoints_get_the_socket_and_params(websocket_module):
    app = App()

    @app.websocket("/chat/{room}")
    async def chat(ws: websocket_module.WebSocket, room: str):
        await ws.accept()
        await ws.send_text(f"{room}: {await ws.receive_text()}")
        await ws.close()

    sent = await WebSocketPeer("/chat/lobby").run(app, {"type": "websocket.receive", "text": "hello"})
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert sent[1]["text"] == "lobby: hello"


async def test_websocket_denials_guards_and_errors(websocket_module, caplog):
    def guard(ws):
        if ws.path_params["room"] == "private":
            raise HTTPError(403, "members only")

    app = App()
    api = Controller("/ws", guards=[guard])

    @api.websocket("/{room}")
    async def room(ws, room):
        if room == "broken":
            await ws.accept()
            raise RuntimeError("bug")
        await ws.accept()

    app.include(api)

    @app.get("/http-only")
    async def http_only(request):
        return 1

    denied = await WebSocketPeer("/ws/private").run(app)
    assert denied[0] == {"type": "websocket.http.response.start", "status": 403, "headers": denied[0]["headers"]}
    assert json.loads(denied[1]["body"]) == {"status": 403, "detail": "members only"}
    missing = await WebSocketPeer("/nowhere").run(app)
    assert missing[0]["type"] == "websocket.http.response.start" and missing[0]["status"] == 404
    assert (await WebSocketPeer("/http-only").run(app))[0]["status"] == 404
    closed = await WebSocketPeer("/nowhere", denial=False).run(app)
    assert closed == [{"type": "websocket.close", "code": 1000}]
    broken = await WebSocketPeer("/ws/broken").run(app)
    assert [m["type"] for m in broken] == ["websocket.accept", "websocket.close"] and broken[1]["code"] == 1011
    assert records(caplog, "Exception in websocket /ws/broken")


async def test_websocket_routes_mount_and_trailing_slash(websocket_module):
    inner = App()

    @inner.websocket("/feed")
    async def feed(ws):
        await ws.accept()
        await ws.send_text(ws.scope["root_path"])

    app = App()
    app.mount("/sub", inner)
    sent = await WebSocketPeer("/sub/feed/").run(app)  # a handshake is served, not redirected
    assert sent[1]["text"] == "/sub"
