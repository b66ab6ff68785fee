"""The routing API: verbs, automatic HEAD/OPTIONS, 405, trailing slashes, url_for, mounts,
nested controllers, and everything refused at startup with one line."""

from __future__ import annotations

import json

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from pyre.web import App, Controller, Request, Resource, RouteError, SignatureError, StaticFiles
from pyre.web.routing import join_path
from tests.web.app_client import call


def body(client):
    return json.loads(client.body)


# -- verbs, HEAD, OPTIONS, 405 ------------------------------------------------------------------------


async def test_function_routes_per_method_share_a_path():
    app = App()

    @app.get("/items")
    async def list_items(request):
        return ["list"]

    @app.post("/items")
    async def create_item(request):
        return {"created": True}

    @app.put("/items")
    async def replace(request):
        return "put"

    @app.patch("/items")
    async def update(request):
        return "patch"

    @app.delete("/items")
    async def remove(request):
        return None

    @app.route("/any", methods=["get", "REPORT"])
    async def any_method(request: Request):
        return request.method

    assert body(await call(app, "GET", "/items")) == ["list"]
    assert body(await call(app, "POST", "/items")) == {"created": True}
    assert (await call(app, "PUT", "/items")).body == b"put"
    assert (await call(app, "PATCH", "/items")).body == b"patch"
    assert (await call(app, "DELETE", "/items")).status == 204
    assert (await call(app, "REPORT", "/any")).body == b"REPORT"
    assert (await call(app, "GET", "/any")).body == b"GET"


async def test_head_is_answered_by_get_and_options_lists_allow():
    app = App()

    @app.route("/r")
    class Thing(Resource):
        async def get(self, request: Request):
            return {"method": request.method}

        async def post(self, request):
            return "posted"

    head = await call(app, "HEAD", "/r")
    assert head.status == 200 and head.headers["content-length"] == str(len(b'{"method":"HEAD"}'))
    options = await call(app, "OPTIONS", "/r")
    assert options.status == 204 and options.headers["allow"] == "GET, HEAD, OPTIONS, POST" and options.body == b""


async def test_a_resource_may_answer_head_and_options_itself():
    app = App()

    @app.route("/r")
    class Thing(Resource):
        async def get(self, request):
            return "get"

        async def head(self, request):
            return "head"

        async def options(self, request):
            return {"custom": True}

    assert (await call(app, "HEAD", "/r")).body == b"head"
    assert body(await call(app, "OPTIONS", "/r")) == {"custom": True}


async def test_another_method_gets_405_with_allow():
    app = App()

    @app.post("/submit")
    async def submit(request):
        return "ok"

    client = await call(app, "GET", "/submit", headers=[(b"accept", b"application/json")])
    assert client.status == 405 and client.headers["allow"] == "OPTIONS, POST"
    assert body(client) == {"status": 405, "detail": "Method Not Allowed"}


async def test_unknown_paths_get_404():
    app = App()

    @app.get("/")
    async def index(request):
        return "home"

    client = await call(app, "GET", "/missing")
    assert client.status == 404 and body(client) == {"status": 404, "detail": "Not Found"}


# -- trailing slash -------------------------------------------------------------------------------------


def slash_app(policy):
    app = App(trailing_slash=policy)

    @app.get("/a")
    async def a(request: Request):
        return {"path": request.path}

    @app.post("/b/")
    async def b(request: Request):
        return {"path": request.path}

    return app


async def test_trailing_slash_redirect_answers_308_to_the_registered_form():
    app = slash_app("redirect")
    client = await call(app, "GET", "/a/", query=b"x=1&y=%20")
    assert client.status == 308 and client.headers["location"] == "/a?x=1&y=%20"
    post = await call(app, "POST", "/b")
    assert post.status == 308 and post.headers["location"] == "/b/"  # 308 keeps the method
    assert body(await call(app, "GET", "/a")) == {"path": "/a"}


async def test_the_redirect_keeps_the_root_path_and_the_raw_encoding():
    app = App()

    @app.get("/caf\u00e9 x")
    async def cafe(request):
        return "ok"

    client = await call(app, "GET", "/caf\u00e9 x/", root_path="/api", raw_path=b"/api/caf%C3%A9%20x/")
    assert client.status == 308 and client.headers["location"] == "/api/caf%C3%A9%20x"


async def test_the_redirect_never_points_to_another_host():
    class NoTrailingSlash:
        """The rest of the path, without a trailing slash: "/x/" only matches via the policy."""

        matches_rest = True

        def convert(self, segment: str) -> str:
            if segment.endswith("/"):
                raise ValueError("trailing slash")
            return segment

        def to_url(self, value: str) -> str:
            return value

    app = App(converters={"rest": NoTrailingSlash})

    @app.get("/{page:rest}")
    async def catch_all(request, page):
        return page

    for raw in (b"//evil.example/", b"/\\evil.example/"):
        client = await call(app, "GET", raw.decode(), raw_path=raw)
        assert client.status == 404 and "location" not in client.headers
    assert (await call(app, "GET", "/a/b/")).headers["location"] == "/a/b"


async def test_trailing_slash_strict_and_ignore():
    strict = slash_app("strict")
    assert (await call(strict, "GET", "/a/")).status == 404
    ignore = slash_app("ignore")
    assert body(await call(ignore, "GET", "/a/")) == {"path": "/a/"}
    assert body(await call(ignore, "POST", "/b")) == {"path": "/b"}
    assert (await call(ignore, "GET", "/c/")).status == 404


# -- root_path ------------------------------------------------------------------------------------------


async def test_routes_match_the_path_below_the_root_path():
    app = App()

    @app.get("/items/{item_id:int}")
    async def item(request: Request, item_id: int):
        return {"id": item_id, "path": request.path, "base": str(request.base_url)}

    client = await call(app, "GET", "/items/3", root_path="/api")
    assert body(client) == {"id": 3, "path": "/api/items/3", "base": "http:///api/"}
    assert (await call(app, "GET", "/", root_path="/api")).status == 404  # "/api" alone is "/"


# -- controllers and nesting ----------------------------------------------------------------------------


async def test_controllers_nest_under_their_prefixes():
    app = App()
    api = Controller("/api", name="api")
    v1 = Controller("/v1", name="v1")

    @v1.get("/")
    async def root(request: Request):
        return {"path": request.path}

    @v1.route("/users/{user_id:int}")
    class User(Resource):
        async def get(self, request, user_id: int):
            return {"user": user_id}

    class Health(Controller):
        prefix = "/health"

    health = Health()

    @health.get("/")
    async def ok(request):
        return "ok"

    api.include(v1)
    app.include(api, prefix="/svc")
    app.include(health)
    assert body(await call(app, "GET", "/svc/api/v1")) == {"path": "/svc/api/v1"}
    assert body(await call(app, "GET", "/svc/api/v1/users/5")) == {"user": 5}
    assert (await call(app, "GET", "/health")).body == b"ok"
    assert app.url_for("api.v1.User", user_id=9) == "/svc/api/v1/users/9"
    assert v1.url_for("User", user_id=9) == "/svc/api/v1/users/9"
    assert app.url_for("ok") == "/health"


async def test_a_controller_class_is_made_once_when_included():
    class Admin(Controller):
        prefix = "/admin"

    app = App()
    app.include(Admin)
    (controller,) = [d.routes for d in app.declarations]
    assert isinstance(controller, Admin) and controller.prefix == "/admin"
    with pytest.raises(TypeError, match="Controller"):
        app.include(object())
    with pytest.raises(ValueError, match="itself"):
        controller.include(controller)


def test_an_include_cycle_is_refused():
    a, b = Controller("/a"), Controller("/b")
    a.include(b)
    b.include(a)
    app = App()
    app.include(a)
    with pytest.raises(RouteError, match=r"<Controller /a> includes itself \(through <Controller /a> -> <Controller /b>\)"):
        app.freeze()


def test_join_path():
    assert join_path("", "/a") == "/a"
    assert join_path("/api", "/") == "/api"
    assert join_path("/api", "/a/") == "/api/a/"


def test_declarations_are_checked_when_made():
    app = App()
    with pytest.raises(ValueError, match="must start with '/'"):
        app.add("items", lambda: None)
    with pytest.raises(TypeError, match="must be a str"):
        app.add(3, lambda: None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not end with '/'"):
        Controller("/api/")
    with pytest.raises(ValueError, match="not a method name"):
        app.add("/x", lambda: None, methods=["GET POST"])
    with pytest.raises(ValueError, match="empty"):
        app.add("/x", lambda: None, methods=[])
    with pytest.raises(TypeError, match="ASGI app"):
        app.mount("/x", "not an app")
    with pytest.raises(TypeError, match="guard must be callable"):
        Controller("/x", guards=["nope"])  # type: ignore[list-item]


# -- refused at startup ---------------------------------------------------------------------------------


def test_a_conflict_names_both_routes_and_endpoints_in_one_line():
    app = App()
    api = Controller("/api")

    @app.route("/api/items/{item_id:int}")
    class Item(Resource):
        async def get(self, request, item_id):
            return {}

    @api.get("/items/{number:int}")
    async def by_number(request, number):
        return {}

    app.include(api)
    with pytest.raises(RouteError) as info:
        app.freeze()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("route '/api/items/{number:int}' (")
    assert "by_number) conflicts with route '/api/items/{item_id:int}' (" in message
    assert "Item): they match the same paths" in message


def test_two_endpoints_for_one_method_of_one_path_are_refused():
    app = App()

    @app.get("/x")
    async def first(request):
        return 1

    @app.route("/x")
    class Second(Resource):
        async def get(self, request):
            return 2

    with pytest.raises(RouteError, match=r"route '/x': GET is answered by both .*first and .*Second"):
        app.freeze()


def test_a_bad_pattern_names_its_endpoint():
    app = App()

    @app.get("/a/{x")
    async def broken(request):
        return 1

    with pytest.raises(RouteError, match=r"bad route pattern '/a/\{x': unbalanced braces .*\(endpoint .*broken\)"):
        app.freeze()


def test_handler_parameters_are_checked_at_startup():
    app = App()

    @app.get("/items/{item_id}")
    async def item(request, item_id: int):
        return 1

    with pytest.raises(SignatureError) as info:
        app.freeze()
    assert str(info.value) == (
        "handler tests.web.test_routing.test_handler_parameters_are_checked_at_startup.<locals>.item "
        "(route '/items/{item_id}'): parameter 'item_id' is annotated int but the route's converter gives str; "
        "change the annotation or the converter ({item_id:...})"
    )
    other = App()

    @other.get("/search")
    async def search(request, q):
        return q

    with pytest.raises(SignatureError, match=r"parameter 'q' is neither the request nor a path parameter \(the route's: none\)"):
        other.freeze()


def test_resources_must_define_a_verb_and_be_constructible():
    app = App()

    @app.route("/empty")
    class Empty(Resource):
        pass

    with pytest.raises(TypeError, match="defines no HTTP method"):
        app.freeze()
    app = App()

    class NeedsArgs(Resource):
        def __init__(self, db):
            self.db = db

        async def get(self, request):
            return "x"

    app.add("/x", NeedsArgs)
    with pytest.raises(TypeError, match="register an instance to give it some"):
        app.freeze()
    app = App()
    app.add("/x", NeedsArgs(db="sqlite"))
    app.freeze()
    app = App()
    app.add("/x", NeedsArgs(db=1), methods=["GET"])
    with pytest.raises(TypeError, match="methods= is for functions"):
        app.freeze()
    app = App()
    app.add("/x", 42)
    with pytest.raises(TypeError, match="neither a Resource"):
        app.freeze()


# -- url_for -------------------------------------------------------------------------------------------


def test_url_for_routes_by_name_class_and_function():
    app = App()

    @app.route("/items/{item_id:int}")
    class Item(Resource):
        async def get(self, request, item_id):
            return {}

    @app.get("/files/{path:path}", name="file")
    async def serve_file(request, path):
        return path

    @app.get("/a b")
    async def spaced(request):
        return 1

    assert app.url_for("Item", item_id=3) == "/items/3"
    assert app.url_for("file", path="a/b c.txt") == "/files/a/b%20c.txt"
    assert app.url_for("spaced") == "/a%20b"
    with pytest.raises(RouteError, match=r"url_for: no route is named 'serve_file'"):
        app.url_for("serve_file")  # its name= replaced the function's
    with pytest.raises(RouteError, match=r"url_for\('Item'\): missing parameter 'item_id'"):
        app.url_for("Item")
    with pytest.raises(RouteError, match=r"url_for\('Item'\): .* has no parameter 'x'"):
        app.url_for("Item", item_id=1, x=2)


def test_url_for_ambiguous_and_duplicate_names():
    app = App()
    a = Controller("/a")
    b = Controller("/b")

    @a.get("/")
    async def index(request):
        return "a"

    @b.get("/")
    async def index_b(request):
        return "b"

    index_b.__name__ = "index"
    app.include(a)
    app.include(b)

    @app.get("/home", name="home")
    async def home(request):
        return 1

    with pytest.raises(RouteError, match=r"the name 'index' is ambiguous \(routes '/a', '/b'\); give them name="):
        app.url_for("index")
    assert app.url_for("home") == "/home"
    dup = App()
    dup.add("/x", home, name="same")
    dup.add("/y", index, name="same")
    with pytest.raises(RouteError, match=r"route name 'same' of '/y' .* is already taken by '/x'"):
        dup.freeze()


def test_url_for_on_a_controller_before_startup_and_in_two_apps():
    api = Controller("/api")

    @api.get("/ping")
    async def ping(request):
        return "pong"

    with pytest.raises(RuntimeError, match="not part of a started app"):
        api.url_for("ping")
    first, second = App(), App()
    first.include(api)
    second.include(api, prefix="/v2")
    first.freeze()
    assert api.url_for("ping") == "/api/ping"
    second.freeze()
    assert second.url_for("ping") == "/v2/api/ping"
    with pytest.raises(RuntimeError, match="several apps"):
        api.url_for("ping")


# -- mounts --------------------------------------------------------------------------------------------


def starlette_app():
    async def where(request):
        return JSONResponse({
            "path": request.scope["path"],
            "root_path": request.scope["root_path"],
            "route_path": request.url.path,
            "url_for": str(request.url_for("where")),
        })

    async def home(request):
        return PlainTextResponse("starlette home")

    return Starlette(routes=[Route("/", home), Route("/where", where, name="where")])


async def test_a_starlette_app_mounted_under_a_prefix_sees_asgi_root_path_semantics():
    app = App()
    app.mount("/legacy", starlette_app(), name="legacy")

    @app.get("/legacy/override")
    async def override(request):
        return "pyre wins"

    client = await call(app, "GET", "/legacy/where", root_path="/svc", headers=[(b"host", b"example.com")])
    assert body(client) == {
        "path": "/svc/legacy/where",  # the full path, as ASGI says
        "root_path": "/svc/legacy",  # extended by the prefix
        "route_path": "/svc/legacy/where",
        "url_for": "http://example.com/svc/legacy/where",
    }
    assert (await call(app, "GET", "/legacy/")).body == b"starlette home"
    assert (await call(app, "GET", "/legacy/override")).body == b"pyre wins"  # a route beats the mount
    assert app.url_for("legacy", path="/where") == "/legacy/where"
    assert app.url_for("legacy") == "/legacy/"
    with pytest.raises(RouteError, match="a mount takes only path="):
        app.url_for("legacy", page=2)


async def test_a_mount_at_the_root_is_the_fallback(tmp_path):
    (tmp_path / "robots.txt").write_text("User-agent: *\n")
    app = App()
    app.mount("/", StaticFiles(tmp_path))

    @app.get("/api")
    async def api(request):
        return "api"

    assert (await call(app, "GET", "/api")).body == b"api"
    static = await call(app, "GET", "/robots.txt")
    assert static.status == 200 and static.body == b"User-agent: *\n"
    assert (await call(app, "GET", "/missing.txt")).status == 404


def test_a_route_on_a_mount_prefix_is_refused():
    app = App()
    app.mount("/legacy", starlette_app())
    app.add("/legacy", lambda request: None)
    with pytest.raises(RouteError, match="conflicts with the app mounted at '/legacy'"):
        app.freeze()


async def test_a_pyre_web_app_mounts_another():
    inner = App()

    @inner.get("/hello/{name}")
    async def hello(request: Request, name: str):
        return {"hello": name, "root": request.scope["root_path"]}

    outer = App()
    outer.mount("/inner", inner)
    assert body(await call(outer, "GET", "/inner/hello/x")) == {"hello": "x", "root": "/inner"}
