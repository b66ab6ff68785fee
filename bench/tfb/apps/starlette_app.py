"""The TFB test types on Starlette, in its documented style: a list of ``Route`` to async
function endpoints, ``JSONResponse`` / ``PlainTextResponse``, ``Jinja2Templates`` for the
fortunes page, a lifespan context manager that creates the pool.

    pyre bench.tfb.apps.starlette_app:app          uvicorn bench.tfb.apps.starlette_app:app
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from bench.tfb import common
from bench.tfb.rules import HELLO, queries_count

templates = Jinja2Templates(env=common.jinja_environment())
pool: Any = None


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global pool
    pool = await common.create_pool()
    try:
        yield
    finally:
        await pool.close()


async def json_serialization(request: Request) -> Response:
    return JSONResponse({"message": HELLO})


async def plaintext(request: Request) -> Response:
    return PlainTextResponse(HELLO)


async def single_query(request: Request) -> Response:
    return JSONResponse(await common.random_world(pool))


async def multiple_queries(request: Request) -> Response:
    return JSONResponse(await common.random_worlds(pool, queries_count(request.query_params.get("queries"))))


async def updates(request: Request) -> Response:
    return JSONResponse(await common.update_worlds(pool, queries_count(request.query_params.get("queries"))))


async def fortunes(request: Request) -> Response:
    return templates.TemplateResponse(request, common.FORTUNE_TEMPLATE, {"fortunes": await common.fortunes(pool)})


app = Starlette(routes=[
    Route("/json", json_serialization),
    Route("/plaintext", plaintext),
    Route("/db", single_query),
    Route("/queries", multiple_queries),
    Route("/updates", updates),
    Route("/fortunes", fortunes),
], lifespan=lifespan)


async def decoy(request: Request) -> Response:
    return PlainTextResponse("decoy")


def routing_app() -> Starlette:
    """The routing benchmark: ``$TFB_ROUTES`` routes, ``/json`` registered last."""
    paths = common.decoy_paths(common.routes_total())
    return Starlette(routes=[*(Route(path, decoy) for path in paths), Route(common.ROUTING_TARGET, json_serialization)])
