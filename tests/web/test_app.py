"""The App: an ASGI 3 app with lifespan, typed state, the per-request path, body limits."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from types import SimpleNamespace

import httpx
import pytest

from pyre import _accel
from pyre.web import JSON, App, BackgroundTasks, Controller, HTTPError, Request, Resource, Response, RouteError, Stream
from pyre.web.app import DEFAULT_MAX_BODY_SIZE
from pyre.web.responses import to_response
from tests.web.app_client import Lifespan, call
from tests.web.fake_asgi import Client


def client_for(app):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


# -- ASGI 3 and the plain path ----------------------------------------------------------------------


async def test_an_app_is_an_asgi3_app_under_any_client():
    app = App()

    @app.get("/")
    async def index(request: Request):
        return {"hello": "world"}

    async with client_for(app) as client:
        response = await client.get("/")
    assert response.status_code == 200 and response.json() == {"hello": "world"}
    assert response.headers["content-type"] == "application/json"
    assert asyncio.iscoroutinefunction(app.__call__)


async def test_the_request_is_the_accelerated_twin_with_app_params_and_limits():
    app = App(max_body_size=1234)
    seen = {}

    @app.get("/items/{item_id:int}")
    async def item(request: Request, item_id: int):
        seen.update(kind=type(request), app=request.app, params=request.path_params, limit=request.max_body_size)
        return {"id": item_id}

    client = await call(app, "GET", "/items/7")
    assert client.status == 200 and json.loads(client.body) == {"id": 7}
    assert seen == {"kind": _accel.Request, "app": app, "params": {"item_id": 7}, "limit": 1234}


async def test_two_sends_for_a_plain_response_and_the_dict_fast_path_matches_json():
    app = App()
    values = {"a": {"message": "Hello, World!", "n": [1, 2.5, None]}, "b": [1, 2], "c": "text", "d": b"raw"}

    @app.get("/{key}")
    async def value(request, key):
        return values[key]

    for key, returned in values.items():
        client = await call(app, "GET", "/" + key)
        expected = to_response(returned)
        assert client.types == ["http.response.start", "http.response.body"]
        assert client.status == expected.status and client.raw_headers == expected.raw_headers
        assert client.body == expected.body and not client.messages[1].get("more_body", False)


async def test_a_dict_that_json_cannot_encode_is_a_500():
    app = App()

    @app.get("/")
    async def bad(request):
        return {"x": object()}

    client = await call(app)
    assert client.status == 500 and json.loads(client.body)["status"] == 500


async def test_a_streamed_response_goes_through_its_own_call():
    app = App()

    @app.get("/")
    async def stream(request):
        async def chunks():
            yield b"a"
            yield "b"
        return Stream(chunks(), media_type="text/plain")

    client = await call(app)
    assert client.status == 200 and client.body == b"ab"
    assert client.messages[1]["more_body"] is True and client.complete


async def test_dataclasses_and_none_and_other_returns_use_to_response():
    app = App()

    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    @app.get("/point")
    async def point(request):
        return Point(1, 2)

    @app.get("/none")
    async def nothing(request):
        return None

    @app.get("/custom")
    async def custom(request):
        return Response(b"<x/>", 201, {"x-a": "1"}, media_type="application/xml")

    assert json.loads((await call(app, "GET", "/point")).body) == {"x": 1, "y": 2}
    none = await call(app, "GET", "/none")
    assert none.status == 204 and none.body == b""
    custom_response = await call(app, "GET", "/custom")
    assert custom_response.status == 201 and custom_response.headers["x-a"] == "1"


async def test_sync_handlers_run_in_the_thread_pool():
    app = App()
    threads = []

    @app.get("/")
    def blocking(request: Request):
        threads.append(threading.get_ident())
        return {"sync": True}

    client = await call(app)
    assert json.loads(client.body) == {"sync": True}
    assert threads and threads[0] != threading.get_ident()


async def test_functions_without_the_request_and_with_params_only():
    app = App()

    @app.get("/")
    async def index():
        return "home"

    @app.get("/users/{name}/posts/{post:int}")
    async def post(name: str, post: int):
        return {"name": name, "post": post}

    assert (await call(app)).body == b"home"
    assert json.loads((await call(app, "GET", "/users/ann/posts/3")).body) == {"name": "ann", "post": 3}


# -- state ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class AppState:
    hits: int = 0


async def test_typed_state_is_shared_into_each_request():
    app: App[AppState] = App(state=AppState())

    @app.get("/")
    async def hit(request: Request):
        state: AppState = request.app.state
        state.hits += 1
        return {"hits": state.hits}

    await call(app)
    assert json.loads((await call(app)).body) == {"hits": 2}
    assert app.state.hits == 2
    assert isinstance(App().state, SimpleNamespace)


async def test_the_lifespan_state_dict_reaches_requests_through_the_scope():
    app = App()

    @app.on("startup")
    async def startup():
        pass

    @app.get("/")
    async def index(request: Request):
        return {"pool": request.scope["state"]["pool"]}

    lifespan = Lifespan(app, state={"pool": "db"})
    assert await lifespan.startup() == {"type": "lifespan.startup.complete"}
    client = await call(app, state=dict(lifespan.state))
    assert json.loads(client.body) == {"pool": "db"}
    assert await lifespan.shutdown() == {"type": "lifespan.shutdown.complete"}


# -- lifespan and startup ---------------------------------------------------------------------------


async def test_lifespan_runs_startup_and_shutdown_listeners_in_registration_order():
    order = []

    class MyApp(App):
        async def on_startup(self):
            order.append("app method")

        def on_shutdown(self):  # a plain function is called directly
            order.append("app shutdown method")

    app = MyApp()

    @app.on("startup")
    def startup():
        order.append("app.on")

    api = Controller("/api")

    class Listening(Controller):
        async def on_startup(self):
            order.append("controller")

    class Items(Resource):
        async def get(self, request):
            return []

        async def on_startup(self):
            order.append("resource")

        async def on_shutdown(self):
            order.append("resource shutdown")

    api.add("/items", Items)
    app.include(Listening("/x"))
    app.include(api)
    lifespan = Lifespan(app)
    assert await lifespan.startup() == {"type": "lifespan.startup.complete"}
    assert order == ["app method", "app.on", "controller", "resource"]
    assert await lifespan.shutdown() == {"type": "lifespan.shutdown.complete"}
    assert order[4:] == ["app shutdown method", "resource shutdown"]


async def test_a_failing_startup_listener_fails_the_lifespan_with_its_message(caplog):
    app = App()

    @app.on("startup")
    async def connect():
        raise ConnectionRefusedError("database at db:5432 refused the connection")

    message = await Lifespan(app).startup()
    assert message == {
        "type": "lifespan.startup.failed",
        "message": "ConnectionRefusedError: database at db:5432 refused the connection",
    }
    assert any(record.name == "pyre.error" and record.exc_info for record in caplog.records)


async def test_a_route_conflict_fails_the_startup_with_one_line_naming_both():
    app = App()

    @app.get("/items/{item_id}")
    async def first(request, item_id):
        return {}

    @app.get("/items/{name}")
    async def second(request, name):
        return {}

    message = await Lifespan(app).startup()
    assert message["type"] == "lifespan.startup.failed"
    text = message["message"]
    assert "\n" not in text
    assert "'/items/{name}'" in text and "'/items/{item_id}'" in text
    assert "test_app.test_a_route_conflict_fails_the_startup_with_one_line_naming_both.<locals>.first" in text
    assert "<locals>.second" in text


async def test_without_lifespan_the_first_request_freezes_the_routes():
    app = App()

    @app.get("/")
    async def index(request):
        return "ok"

    assert not app.frozen
    await call(app)
    assert app.frozen
    with pytest.raises(RuntimeError, match="routes are fixed when the app starts"):
        app.add("/late", index)
    with pytest.raises(RuntimeError, match="has started"):
        app.add_middleware(object)
    with pytest.raises(RuntimeError, match="has started"):
        app.on("startup")


async def test_a_broken_route_table_raises_at_the_first_request_too():
    app = App()
    app.add("/a/{x:nope}", lambda request: None)
    with pytest.raises(RouteError, match="unknown converter 'nope'"):
        await call(app)


def test_app_options_are_checked():
    with pytest.raises(ValueError, match="trailing_slash"):
        App(trailing_slash="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_body_size"):
        App(max_body_size=-1)
    assert App().max_body_size == DEFAULT_MAX_BODY_SIZE == 10 * 1024 * 1024


# -- body limits, request cleanup, background ---------------------------------------------------------


async def test_max_body_size_answers_413_before_reading_the_body():
    app = App(max_body_size=10)

    @app.post("/")
    async def upload(request: Request):
        return {"size": len(await request.body())}

    client = Client(body=b"x" * 100)
    await call(app, "POST", "/", headers=[(b"content-length", b"100")], client=client)
    assert client.status == 413 and json.loads(client.body)["detail"] == "Request body larger than 10 bytes"
    assert client.receives == 0  # refused on the header alone
    ok = await call(app, "POST", "/", headers=[(b"content-length", b"5")], body=b"x" * 5)
    assert json.loads(ok.body) == {"size": 5}


async def test_a_streamed_body_past_the_limit_gets_413():
    app = App(max_body_size=10)

    @app.post("/")
    async def upload(request: Request):
        return {"size": len(await request.body())}

    client = await call(app, "POST", "/", body=b"x" * 11)  # no content-length
    assert client.status == 413


async def test_the_request_is_closed_after_the_response_so_form_files_are_released():
    app = App()
    files = []

    @app.post("/upload")
    async def upload(request: Request):
        form = await request.form()
        upload = form["file"]
        files.append(upload)
        return {"name": upload.filename}

    body = (
        b"--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
        b"Content-Type: text/plain\r\n\r\nhello\r\n--XX--\r\n"
    )
    client = await call(
        app, "POST", "/upload", headers=[(b"content-type", b"multipart/form-data; boundary=XX")], body=body
    )
    assert json.loads(client.body) == {"name": "a.txt"}
    assert files[0].file.closed


async def test_background_tasks_run_after_the_last_byte():
    app = App()
    order = []

    @app.get("/")
    async def index(request):
        tasks = BackgroundTasks()
        tasks.add(order.append, "background")
        return JSON({"ok": True}, background=tasks)

    client = Client(on_send=lambda message: order.append(message["type"]))
    await call(app, client=client)
    assert order == ["http.response.start", "http.response.body", "background"]


async def test_a_handler_raising_http_error_answers_with_it():
    app = App()

    @app.get("/")
    async def refuse(request):
        raise HTTPError(409, "name taken", headers={"x-reason": "dup"})

    client = await call(app)
    assert client.status == 409 and client.headers["x-reason"] == "dup"
    assert json.loads(client.body) == {"status": 409, "detail": "name taken"}


def test_import_pyre_web_is_light_and_exports_the_public_names():
    import subprocess
    import sys

    code = (
        "import sys, pyre.web; heavy = [m for m in ('pyre.web.app', 'pyre.web.request', 'pyre.web.responses', "
        "'pyre.web._request_c', 'pyre.web._router_c') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    import pyre.web

    assert pyre.web.Request is _accel.Request and pyre.web.Headers is _accel.Headers
    for name in pyre.web.__all__:
        assert getattr(pyre.web, name) is not None
    with pytest.raises(AttributeError):
        pyre.web.Nope  # noqa: B018


async def test_a_background_tasks_parameter_runs_after_the_response_and_its_own_tasks():
    order = []
    shared = Response(b"shared")  # one response object for every request: never changed

    @dataclasses.dataclass
    class Done:
        ok: bool

    app = App()

    @app.post("/signup")
    async def signup(request: Request, tasks: BackgroundTasks):
        tasks.add(order.append, "welcome mail")
        own = BackgroundTasks()
        own.add(order.append, "response's own")
        return JSON({"ok": True}, background=own)

    @app.get("/shared")
    def shared_route(request, later: BackgroundTasks):  # a sync handler too
        later.add(order.append, "shared")
        return shared

    @app.get("/none")
    async def nothing_scheduled(tasks: BackgroundTasks):
        return Done(True)

    client = Client(on_send=lambda message: order.append(message["type"]))
    await call(app, "POST", "/signup", client=client)
    assert order == ["http.response.start", "http.response.body", "response's own", "welcome mail"]
    order.clear()
    assert (await call(app, "GET", "/shared")).body == b"shared"
    assert order == ["shared"] and shared.background is None
    assert json.loads((await call(app, "GET", "/none")).body) == {"ok": True}


def test_every_public_name_is_re_exported_for_type_checkers():
    import re
    from pathlib import Path

    import pyre.web

    source = Path(pyre.web.__file__).read_text()
    typed = set(re.findall(r"import .*", source.split("if TYPE_CHECKING:")[1].split("\n\n")[0]))
    typed = {name for line in typed for name in re.findall(r"\b(\w+) as \1\b", line)}
    assert typed == set(pyre.web.__all__)
