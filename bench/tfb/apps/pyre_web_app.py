"""The TFB test types on pyre.web, in its documented style: an ``App`` subclass that opens
the pool in ``on_startup`` and closes it in ``on_shutdown``; handler functions returning
dicts and lists (JSON) and ``str`` (text/plain); a ``World`` resource class for the
database tests; fortunes rendered through ``Templates`` (Jinja2, autoescaping on).

    pyre bench.tfb.apps.pyre_web_app:app
"""

from __future__ import annotations

from typing import Dict

from pyre.web import HTML, App, Request, Resource, Templates, listen

from bench.tfb import common
from bench.tfb.rules import HELLO, queries_count

db = common.Database()
templates = Templates(common.TEMPLATES)


class TFB(App):
    async def on_startup(self) -> None:
        await db.open()

    async def on_shutdown(self) -> None:
        await db.close()


async def json_serialization(request: Request) -> Dict[str, str]:
    return {"message": HELLO}


async def plaintext(request: Request) -> str:
    return HELLO


class Worlds(Resource):
    """``/db``, ``/queries`` and ``/updates``: one resource instance per route, each with its query."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    async def get(self, request: Request) -> object:
        if self.kind == "db":
            return await db.random_world()
        count = queries_count(request.query.get("queries"))
        if self.kind == "queries":
            return await db.random_worlds(count)
        return await db.update_worlds(count)


async def fortunes(request: Request) -> HTML:
    return await templates.render_async(common.FORTUNE_TEMPLATE, fortunes=await db.fortunes())


def build(app: App) -> App:
    app.get("/json")(json_serialization)
    app.get("/plaintext")(plaintext)
    for kind in ("db", "queries", "updates"):
        app.add(f"/{kind}", Worlds(kind))
    app.get("/fortunes")(fortunes)
    return app


app = build(TFB())


async def decoy(request: Request) -> str:
    return "decoy"


async def decoy_item(request: Request, item: str) -> str:
    return item


def routing_app() -> App:
    """The routing benchmark: ``$TFB_ROUTES`` routes, ``/json`` registered last."""
    routing = App()
    for path in common.decoy_paths(common.routes_total(), param="{item}"):
        routing.get(path)(decoy_item if "{" in path else decoy)
    routing.get(common.ROUTING_TARGET)(json_serialization)
    return routing


def _idle_listener(number: int) -> object:
    async def listener(self: App, *args: object) -> None:
        raise AssertionError(f"user event {number} is never emitted by a request")

    return listen(f"audit.event{number}")(listener)


# The events benchmark: 20 listener methods of user events that no request emits.
Audited = type("Audited", (App,), {f"audit{n}": _idle_listener(n) for n in range(20)})


def events_app() -> App:
    """``/json`` on an app with 20 idle user-event listeners (their cost must stay under 3%)."""
    audited: App = Audited()
    audited.get("/json")(json_serialization)
    return audited
