"""The TFB test types on BlackSheep, in its documented style: an ``Application`` whose router
maps paths to async functions taking the ``Request``, the ``json``/``text``/``view``
response functions (``view`` renders Jinja2 through the configured renderer), and the
``on_start``/``on_stop`` events for the pool.

    pyre bench.tfb.apps.blacksheep_app:app          uvicorn bench.tfb.apps.blacksheep_app:app
"""

from __future__ import annotations

import jinja2
from blacksheep import Application, Request, Response
from blacksheep.server.rendering.jinja2 import JinjaRenderer
from blacksheep.server.responses import json, text, view
from blacksheep.server.routing import Router
from blacksheep.settings.html import html_settings

from bench.tfb import common
from bench.tfb.rules import HELLO, queries_count

html_settings.use(JinjaRenderer(loader=jinja2.FileSystemLoader(str(common.TEMPLATES))))
db = common.Database()


def _queries(request: Request) -> int:
    values = request.query.get("queries")
    return queries_count(values[0] if values else None)


async def json_serialization(request: Request) -> Response:
    return json({"message": HELLO})


async def plaintext(request: Request) -> Response:
    return text(HELLO)


async def single_query(request: Request) -> Response:
    return json(await db.random_world())


async def multiple_queries(request: Request) -> Response:
    return json(await db.random_worlds(_queries(request)))


async def updates(request: Request) -> Response:
    return json(await db.update_worlds(_queries(request)))


async def fortunes(request: Request) -> Response:
    return view(common.FORTUNE_TEMPLATE, {"fortunes": await db.fortunes()})


app = Application()
app.on_start += db.open
app.on_stop += db.close
app.router.add_get("/json", json_serialization)
app.router.add_get("/plaintext", plaintext)
app.router.add_get("/db", single_query)
app.router.add_get("/queries", multiple_queries)
app.router.add_get("/updates", updates)
app.router.add_get("/fortunes", fortunes)


async def decoy(request: Request) -> Response:
    return text("decoy")


def routing_app() -> Application:
    """The routing benchmark: ``$TFB_ROUTES`` routes, ``/json`` registered last."""
    routed = Application(router=Router())  # the default router belongs to ``app``
    for path in common.decoy_paths(common.routes_total()):
        routed.router.add_get(path, decoy)
    routed.router.add_get(common.ROUTING_TARGET, json_serialization)
    return routed
