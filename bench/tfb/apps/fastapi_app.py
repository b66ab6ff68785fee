"""The TFB test types on FastAPI, in its documented fast style: path operations that declare a
``response_model`` (pydantic models), which FastAPI validates and serialises straight to JSON
bytes with pydantic (its docs' replacement for ``ORJSONResponse``); ``PlainTextResponse``;
``Jinja2Templates``; a lifespan context manager that creates the pool.

    pyre bench.tfb.apps.fastapi_app:app          uvicorn bench.tfb.apps.fastapi_app:app
"""

from __future__ import annotations

from typing import List, Optional

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel

from bench.tfb import common
from bench.tfb.rules import HELLO, queries_count

templates = Jinja2Templates(env=common.jinja_environment())
db = common.Database()


class Message(BaseModel):
    message: str


class World(BaseModel):
    id: int
    randomNumber: int


app = FastAPI(lifespan=db.lifespan)


@app.get("/json", response_model=Message)
async def json_serialization():
    return {"message": HELLO}


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext():
    return HELLO


@app.get("/db", response_model=World)
async def single_query():
    return await db.random_world()


@app.get("/queries", response_model=List[World])
async def multiple_queries(queries: Optional[str] = None):
    return await db.random_worlds(queries_count(queries))


@app.get("/updates", response_model=List[World])
async def updates(queries: Optional[str] = None):
    return await db.update_worlds(queries_count(queries))


@app.get("/fortunes", response_class=HTMLResponse)
async def fortunes(request: Request):
    return templates.TemplateResponse(request, common.FORTUNE_TEMPLATE, {"fortunes": await db.fortunes()})


async def decoy():
    return "decoy"


async def decoy_item(item: str):
    return item


def routing_app() -> FastAPI:
    """The routing benchmark: ``$TFB_ROUTES`` routes, ``/json`` registered last."""
    routed = FastAPI()
    for path in common.decoy_paths(common.routes_total()):
        routed.add_api_route(path, decoy_item if "{" in path else decoy)
    routed.add_api_route(common.ROUTING_TARGET, json_serialization, response_model=Message)
    return routed
