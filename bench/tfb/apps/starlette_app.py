"""The TFB test types on Starlette, in its documented style: a list of ``Route`` to async
function endpoints, ``JSONResponse`` / ``PlainTextResponse``, ``Jinja2Templates`` for the
fortunes page, a lifespan context manager that creates the pool.

    pyre bench.tfb.apps.starlette_app:app          uvicorn bench.tfb.apps.starlette_app:app
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from bench.tfb import common
from bench.tfb.rules import HELLO, queries_count

templates = Jinja2Templates(env=common.jinja_environment())
db = common.Database()


async def json_serialization(request: Request) -> Response:
    return JSONResponse({"message": HELLO})


async def plaintext(request: Request) -> Response:
    return PlainTextResponse(HELLO)


async def single_query(request: Request) -> Response:
    return JSONResponse(await db.random_world())


async def multiple_queries(request: Request) -> Response:
    return JSONResponse(await db.random_worlds(queries_count(request.query_params.get("queries"))))


async def updates(request: Request) -> Response:
    return JSONResponse(await db.update_worlds(queries_count(request.query_params.get("queries"))))


async def fortunes(request: Request) -> Response:
    return templates.TemplateResponse(request, common.FORTUNE_TEMPLATE, {"fortunes": await db.fortunes()})


app = Starlette(routes=[
    Route("/json", json_serialization),
    Route("/plaintext", plaintext),
    Route("/db", single_query),
    Route("/queries", multiple_queries),
    Route("/updates", updates),
    Route("/fortunes", fortunes),
], lifespan=db.lifespan)


async def decoy(request: Request) -> Response:
    return PlainTextResponse("decoy")


def routing_app() -> Starlette:
    """The routing benchmark: ``$TFB_ROUTES`` routes, ``/json`` registered last."""
    paths = common.decoy_paths(common.routes_total())
    return Starlette(routes=[*(Route(path, decoy) for path in paths), Route(common.ROUTING_TARGET, json_serialization)])
