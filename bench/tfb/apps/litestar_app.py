"""The TFB test types on Litestar, in its documented style: ``@get`` handler functions whose
returned dicts and lists Litestar serialises with msgspec, ``MediaType.TEXT`` for plaintext,
a ``Template`` response through ``TemplateConfig`` with the Jinja engine, a lifespan
context manager that creates the pool.

    pyre bench.tfb.apps.litestar_app:app          uvicorn bench.tfb.apps.litestar_app:app
"""

from __future__ import annotations

from typing import Dict, List, Optional

from litestar import Litestar, MediaType, get
from litestar.params import FromQuery
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

from bench.tfb import common
from bench.tfb.rules import HELLO, queries_count

db = common.Database()


@get("/json")
async def json_serialization() -> Dict[str, str]:
    return {"message": HELLO}


@get("/plaintext", media_type=MediaType.TEXT)
async def plaintext() -> str:
    return HELLO


@get("/db")
async def single_query() -> Dict[str, int]:
    return await db.random_world()


@get("/queries")
async def multiple_queries(queries: FromQuery[Optional[str]] = None) -> List[Dict[str, int]]:
    return await db.random_worlds(queries_count(queries))


@get("/updates")
async def updates(queries: FromQuery[Optional[str]] = None) -> List[Dict[str, int]]:
    return await db.update_worlds(queries_count(queries))


@get("/fortunes")
async def fortunes() -> Template:
    return Template(template_name=common.FORTUNE_TEMPLATE, context={"fortunes": await db.fortunes()},
                    media_type=MediaType.HTML)


app = Litestar(
    route_handlers=[json_serialization, plaintext, single_query, multiple_queries, updates, fortunes],
    lifespan=[db.lifespan],
    template_config=TemplateConfig(directory=common.TEMPLATES, engine=JinjaTemplateEngine),
)


async def decoy() -> str:
    return "decoy"


async def decoy_item(item: str) -> str:
    return item


def routing_app() -> Litestar:
    """The routing benchmark: ``$TFB_ROUTES`` routes, ``/json`` registered last."""
    handlers = [get(path, media_type=MediaType.TEXT, name=f"decoy{i}")(decoy_item if "{" in path else decoy)
                for i, path in enumerate(common.decoy_paths(common.routes_total(), param="{item:str}"))]
    return Litestar(route_handlers=[*handlers, get(common.ROUTING_TARGET, name="target")(json_serialization.fn)])
