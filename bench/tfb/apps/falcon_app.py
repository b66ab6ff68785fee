"""The TFB test types on Falcon's ASGI flavour, in its documented style: ``falcon.asgi.App``
with one long-lived resource object per route answering ``on_get(req, resp)``,
``resp.media`` through Falcon's default JSON handler, ``resp.text`` with the media type
constants, Jinja2 for the page (Falcon has no template layer), and a middleware's
``process_startup``/``process_shutdown`` for the pool.

    pyre bench.tfb.apps.falcon_app:app          uvicorn bench.tfb.apps.falcon_app:app
"""

from __future__ import annotations

import falcon
import falcon.asgi

from bench.tfb import common
from bench.tfb.rules import HELLO, queries_count

_template = common.jinja_environment().get_template(common.FORTUNE_TEMPLATE)
db = common.Database()


class DatabasePool:
    async def process_startup(self, scope: dict, event: dict) -> None:
        await db.open()

    async def process_shutdown(self, scope: dict, event: dict) -> None:
        await db.close()


class JSONResource:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {"message": HELLO}


class PlaintextResource:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = HELLO


class SingleQueryResource:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = await db.random_world()


class MultipleQueriesResource:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = await db.random_worlds(queries_count(req.get_param("queries")))


class UpdatesResource:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = await db.update_worlds(queries_count(req.get_param("queries")))


class FortunesResource:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = _template.render(fortunes=await db.fortunes())


app = falcon.asgi.App(middleware=[DatabasePool()])
app.add_route("/json", JSONResource())
app.add_route("/plaintext", PlaintextResource())
app.add_route("/db", SingleQueryResource())
app.add_route("/queries", MultipleQueriesResource())
app.add_route("/updates", UpdatesResource())
app.add_route("/fortunes", FortunesResource())


class DecoyResource:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, item: str = "") -> None:
        resp.text = "decoy"


def routing_app() -> falcon.asgi.App:
    """The routing benchmark: ``$TFB_ROUTES`` routes, ``/json`` registered last."""
    routed = falcon.asgi.App()
    decoy = DecoyResource()
    for path in common.decoy_paths(common.routes_total()):
        routed.add_route(path, decoy)
    routed.add_route(common.ROUTING_TARGET, JSONResource())
    return routed
