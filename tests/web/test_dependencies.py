"""Dependency injection (issue 16 item 4): providers, scopes, sync/async/generator kinds,
dependencies of dependencies, teardown order, cycles refused at startup, overrides, use
outside handlers, and resources receiving dependencies."""


import logging
from typing import Annotated, AsyncIterator, Iterator

import httpx
import pytest

from pyre.web import App, BackgroundTasks, Depends, HTTPError, Provide, Request, Resource, SignatureError
from pyre.web.params import Header, Query


async def call(app, method, path, **kwargs):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        return await c.request(method, path, **kwargs)


def test_the_names_are_public():
    import pyre.web

    assert pyre.web.Depends is Depends and pyre.web.Provide is Provide


async def test_sync_async_and_generator_providers_with_teardown_after_the_response_in_reverse_order():
    events = []

    def config() -> dict:
        events.append("config")
        return {"dsn": "x"}

    async def get_db(settings: Annotated[dict, Depends(config)]) -> AsyncIterator[str]:
        events.append("open db " + settings["dsn"])
        yield "db"
        events.append("close db")

    def get_tx(db: Annotated[str, Depends(get_db)]) -> Iterator[str]:
        events.append("begin")
        yield db + "+tx"
        events.append("commit")

    app = App()

    @app.get("/")
    async def index(tx: Annotated[str, Depends(get_tx)], db: str = Depends(get_db), tasks: BackgroundTasks = None) -> dict:
        tasks.add(events.append, "background task")
        events.append("handler")
        return {"tx": tx, "db": db}

    response = await call(app, "GET", "/")
    assert response.json() == {"tx": "db+tx", "db": "db"}
    # get_db is made once for the request (shared by tx and the handler); the teardowns run
    # after the response and its background tasks, last set up first.
    assert events == ["config", "open db x", "begin", "handler", "background task", "commit", "close db"]


async def test_a_failing_handler_throws_its_error_into_the_generators_at_once():
    seen = []

    async def resource() -> AsyncIterator[str]:
        try:
            yield "r"
        except ValueError as exc:
            seen.append(f"rolled back: {exc}")
            raise
        else:
            seen.append("committed")

    app = App()

    @app.get("/")
    async def fail(r: str = Depends(resource)) -> dict:
        raise ValueError("boom")

    @app.get("/denied")
    async def denied(r: str = Depends(resource)) -> dict:
        raise HTTPError(403)

    assert (await call(app, "GET", "/")).status_code == 500
    assert seen == ["rolled back: boom"]
    assert (await call(app, "GET", "/denied")).status_code == 403


async def test_a_teardown_error_is_logged_and_the_other_teardowns_still_run(caplog):
    closed = []

    def first() -> Iterator[int]:
        yield 1
        closed.append("first")

    def second() -> Iterator[int]:
        yield 2
        raise RuntimeError("teardown failed")

    app = App()

    @app.get("/")
    async def handler(a: int = Depends(first), b: int = Depends(second)) -> dict:
        return {"sum": a + b}

    with caplog.at_level(logging.ERROR, logger="pyre.error"):
        assert (await call(app, "GET", "/")).json() == {"sum": 3}
    assert closed == ["first"]
    assert "Dependency teardown failed" in caplog.text


async def test_providers_take_request_inputs_and_their_errors_join_the_422():
    async def current_user(authorization: Annotated[str, Header()]) -> str:
        return authorization.removeprefix("Bearer ")

    def paging(limit: Annotated[int, Query(ge=1)] = 10, offset: int = 0) -> tuple:
        return (limit, offset)

    app = App()

    @app.get("/me")
    async def me(request: Request, user: str = Depends(current_user), page: tuple = Depends(paging)) -> dict:
        return {"user": user, "page": list(page), "path": request.path}

    assert (await call(app, "GET", "/me?limit=2", headers={"authorization": "Bearer ann"})).json() == {
        "user": "ann", "page": [2, 0], "path": "/me"
    }
    response = await call(app, "GET", "/me?limit=0")
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["header", "authorization"], ["query", "limit"]]


async def test_app_scope_is_made_once_and_torn_down_at_shutdown():
    made = []

    def pool() -> Iterator[str]:
        made.append("pool")
        yield "pool-1"
        made.append("pool closed")

    app = App(dependencies={"pool": Provide(pool, scope="app")})

    @app.get("/")
    async def index(pool: str) -> dict:
        return {"pool": pool}

    for _ in range(3):
        assert (await call(app, "GET", "/")).json() == {"pool": "pool-1"}
    assert made == ["pool"]
    await app.injector.aclose()
    assert made == ["pool", "pool closed"]


async def test_named_providers_of_controllers_and_resources():
    from pyre.web import Controller

    class Items(Resource):
        dependencies = {"repo": Provide(lambda: "resource repo")}

        async def get(self, repo: str, clock: str) -> dict:
            return {"repo": repo, "clock": clock}

    api = Controller("/api")
    api.dependencies = {"clock": lambda: "controller clock"}
    api.add("/items", Items)
    app = App(dependencies={"repo": Provide(lambda: "app repo"), "clock": Provide(lambda: "app clock")})
    app.include(api)
    assert (await call(app, "GET", "/api/items")).json() == {"repo": "resource repo", "clock": "controller clock"}


def test_a_cycle_is_refused_at_startup_naming_it():
    def a(b_value=None):
        return 1

    def b(a_value: int = Depends(a)):
        return 2

    a.__defaults__ = (Depends(b),)
    a.__annotations__ = {}
    app = App()

    @app.get("/")
    async def index(value: int = Depends(a)) -> dict:
        return {}

    with pytest.raises(SignatureError) as caught:
        app.freeze()
    assert "dependency cycle" in str(caught.value) and "a -> " in str(caught.value) and "\n" not in str(caught.value)


def test_an_app_scoped_provider_cannot_take_request_inputs():
    def per_user(user: Annotated[str, Header()]) -> str:
        return user

    app = App()

    @app.get("/")
    async def index(value: str = Depends(per_user, scope="app")) -> dict:
        return {}

    with pytest.raises(SignatureError, match="app-scoped provider .*per_user takes 'user'"):
        app.freeze()


async def test_overrides_replace_a_provider_wherever_it_is_used():
    def real_db() -> str:
        return "real"

    def service(db: str = Depends(real_db)) -> str:
        return "service on " + db

    app = App()

    @app.get("/")
    async def index(s: str = Depends(service), db: str = Depends(real_db)) -> dict:
        return {"s": s, "db": db}

    assert (await call(app, "GET", "/")).json() == {"s": "service on real", "db": "real"}
    app.dependency_overrides[real_db] = lambda: "fake"
    assert (await call(app, "GET", "/")).json() == {"s": "service on fake", "db": "fake"}
    app.dependency_overrides.clear()
    with app.injector.override(real_db, lambda: "other"):
        assert (await call(app, "GET", "/")).json() == {"s": "service on other", "db": "other"}
    assert (await call(app, "GET", "/")).json()["db"] == "real"


async def test_the_same_providers_outside_a_handler():
    events = []

    async def get_db() -> AsyncIterator[str]:
        events.append("open")
        yield "db"
        events.append("close")

    def settings() -> dict:
        return {"name": "job"}

    app = App(dependencies={"settings": Provide(settings, scope="app")})

    async def nightly_job(settings: dict, db: str = Depends(get_db), extra: int = 0) -> str:
        events.append(f"job {settings['name']} {db} {extra}")
        return "done"

    async with app.injector.scope() as scope:
        assert await scope.resolve(get_db) == "db"
        assert await scope.call(nightly_job, extra=1) == "done"
    assert events == ["open", "job job db 1", "close"]

    def needs_request(limit: Annotated[int, Query()]) -> int:
        return limit

    async with app.injector.scope() as scope:
        with pytest.raises(SignatureError, match="needs a request"):
            await scope.resolve(needs_request)


async def test_a_resource_receives_dependencies_in_init_once_per_app():
    made = []

    def repository() -> Iterator[str]:
        made.append("repo")
        yield "repo"
        made.append("repo closed")

    class Items(Resource):
        def __init__(self, repo: str = Depends(repository)) -> None:
            self.repo = repo

        async def get(self, request: Request) -> dict:
            return {"repo": self.repo}

    app = App()
    app.add("/items", Items)
    for _ in range(2):
        assert (await call(app, "GET", "/items")).json() == {"repo": "repo"}
    assert made == ["repo"]
    await app.injector.aclose()
    assert made == ["repo", "repo closed"]


def test_an_async_init_dependency_is_refused_at_startup():
    async def slow() -> str:
        import asyncio

        await asyncio.sleep(0)
        return "x"

    class Items(Resource):
        def __init__(self, value: str = Depends(slow)) -> None:
            self.value = value

        async def get(self, request: Request) -> dict:
            return {}

    app = App()
    app.add("/items", Items)
    with pytest.raises(SignatureError, match="a dependency of its __init__ is async"):
        app.freeze()


def test_the_resolution_graph_is_built_once_at_startup():
    def leaf() -> int:
        return 1

    def middle(x: int = Depends(leaf)) -> int:
        return x

    app = App()

    @app.get("/")
    async def index(value: int = Depends(middle)) -> dict:
        return {}

    app.freeze()
    plan = dict(app.routes)["/"].methods["GET"]
    (name, dependency), = plan.parameters
    assert name == "value" and [d.function for d in dependency.dependencies] == [leaf]


async def test_a_websocket_function_takes_typed_inputs_and_dependencies():
    from pyre.web.testing import AsyncTestClient
    from pyre.web.websocket import WebSocket

    closed = []

    async def room_service() -> AsyncIterator[str]:
        yield "rooms"
        closed.append("rooms")

    app = App()

    @app.websocket("/chat/{room}")
    async def chat(ws: WebSocket, room: str, nick: Annotated[str, Query(min_length=2)], rooms: str = Depends(room_service)):
        await ws.accept()
        await ws.send_json({"room": room, "nick": nick, "service": rooms})
        await ws.close()

    async with AsyncTestClient(app) as client:
        async with client.websocket_connect("/chat/lobby?nick=ann") as ws:
            assert await ws.receive_json() == {"room": "lobby", "nick": "ann", "service": "rooms"}
    assert closed == ["rooms"]
