"""Resources (one instance per app) and controllers (prefix, guards, listeners inherited)."""

from __future__ import annotations

import asyncio
import json

import pytest

from pyre.web import App, Controller, HTTPError, Request, Resource
from tests.web.app_client import call


async def test_one_instance_per_app_shared_by_every_route_and_request():
    made = []

    class Counter(Resource):
        def __init__(self):
            made.append(self)
            self.hits = 0

        async def get(self, request):
            self.hits += 1
            return {"hits": self.hits, "instance": id(self)}

    app = App()
    app.add("/a", Counter)
    app.add("/b", Counter)
    await asyncio.gather(*(call(app, "GET", "/a") for _ in range(3)))
    client = await call(app, "GET", "/b")
    assert len(made) == 1 and json.loads(client.body) == {"hits": 4, "instance": id(made[0])}
    other = App()
    other.add("/a", Counter)
    await call(other, "GET", "/a")
    assert len(made) == 2  # another app, another instance


async def test_a_registered_instance_is_used_as_is():
    class Items(Resource):
        def __init__(self, db):
            self.db = db

        async def get(self, request):
            return {"db": self.db}

    items = Items("sqlite://")
    app = App()
    app.add("/items", items)
    assert json.loads((await call(app, "GET", "/items")).body) == {"db": "sqlite://"}
    assert app.routes[0][1].methods["GET"].endpoint == items.get


async def test_verbs_with_path_parameters_and_the_request():
    app = App()

    @app.route("/items/{item_id:int}/tags/{tag}")
    class Tag(Resource):
        async def get(self, request: Request, item_id: int, tag: str):
            return {"item": item_id, "tag": tag, "method": request.method}

        async def put(self, item_id: int, tag: str):
            return {"put": [item_id, tag]}

    assert json.loads((await call(app, "GET", "/items/4/tags/new")).body) == {"item": 4, "tag": "new", "method": "GET"}
    assert json.loads((await call(app, "PUT", "/items/4/tags/new")).body) == {"put": [4, "new"]}


async def test_guards_run_controller_then_route_then_resource_then_request_listeners():
    order = []

    def controller_guard(request):
        order.append("controller")

    async def inner_guard(request):
        order.append("inner controller")

    def route_guard(request):
        order.append("route")

    async def resource_guard(request):
        order.append("resource")

    class Outer(Controller):
        prefix = "/outer"
        guards = [controller_guard]

    outer = Outer()
    inner = Controller("/inner", guards=[inner_guard])

    class Thing(Resource):
        guards = [resource_guard]

        async def on_request(self, request):
            order.append("on_request")

        async def get(self, request):
            order.append("handler")
            return "ok"

    inner.add("/thing", Thing, guards=[route_guard])
    outer.include(inner)
    app = App()
    app.include(outer)
    client = await call(app, "GET", "/outer/inner/thing")
    assert client.body == b"ok"
    assert order == ["controller", "inner controller", "route", "resource", "on_request", "handler"]


async def test_a_guard_refuses_with_http_error_and_the_handler_never_runs():
    ran = []

    async def require_token(request: Request):
        if request.headers.get("authorization") != "Bearer secret":
            raise HTTPError(401, "token required", headers={"www-authenticate": "Bearer"})

    api = Controller("/api", guards=[require_token])

    @api.get("/me")
    async def me(request):
        ran.append(True)
        return {"me": "ann"}

    app = App()
    app.include(api)
    refused = await call(app, "GET", "/api/me")
    assert refused.status == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert json.loads(refused.body) == {"status": 401, "detail": "token required"}
    assert ran == []
    allowed = await call(app, "GET", "/api/me", headers=[(b"authorization", b"Bearer secret")])
    assert json.loads(allowed.body) == {"me": "ann"}


async def test_a_sync_guard_returning_an_awaitable_is_awaited():
    seen = []

    async def check(request):
        seen.append(request.path)
        raise HTTPError(403)

    def guard(request):
        return check(request)

    app = App()
    app.add("/x", lambda request: "never", guards=[guard])
    client = await call(app, "GET", "/x")
    assert client.status == 403 and seen == ["/x"]


async def test_controller_listeners_apply_to_all_its_routes_only():
    seen = []

    class Audited(Controller):
        prefix = "/audited"

        async def on_request(self, request):
            seen.append(("request", request.path))

        def on_response(self, request, response):
            response.headers["x-audited"] = "yes"

    audited = Audited()

    @audited.get("/a")
    async def a(request):
        return "a"

    @audited.route("/b")
    class B(Resource):
        async def get(self, request):
            return "b"

    app = App()
    app.include(audited)

    @app.get("/plain")
    async def plain(request):
        return "plain"

    first = await call(app, "GET", "/audited/a")
    second = await call(app, "GET", "/audited/b")
    third = await call(app, "GET", "/plain")
    assert first.headers["x-audited"] == second.headers["x-audited"] == "yes"
    assert "x-audited" not in third.headers
    assert seen == [("request", "/audited/a"), ("request", "/audited/b")]
    assert app.routes[-1][1].methods["GET"].hooks is None


def test_controller_options_by_constructor_or_class_attributes():
    def guard(request):
        return None

    made = Controller("/x", guards=[guard], name="x")
    assert (made.prefix, made.guards, made.name) == ("/x", (guard,), "x")

    class Admin(Controller):
        prefix = "/admin"
        guards = [guard]
        name = "admin"

    admin = Admin()
    assert (admin.prefix, admin.guards, admin.name) == ("/admin", (guard,), "admin")
    assert Admin("/other").prefix == "/other"
    assert Controller("/").prefix == ""
    with pytest.raises(ValueError, match="non-empty str"):
        Controller("/x", name="")
    assert repr(admin) == "<test_controller_options_by_constructor_or_class_attributes.<locals>.Admin /admin>"
