#!/usr/bin/env python3
"""Typed-input overhead, in process (issue 16's scenario, without a server): microseconds
per request of a handler taking 3 path/query parameters, 2 headers and a validated ~1 KiB
JSON body, and returning a typed object, in pyre.web, FastAPI (pydantic), Litestar (msgspec)
and BlackSheep. Each app gets the same ASGI scope and body, from an event loop running
``--number`` requests per round; ``--repeat`` rounds, the apps interleaved, medians kept.

    python bench/typed_overhead.py                 # the twins pyre._accel chooses
    python bench/typed_overhead.py --startup --example --repeat 11   # startup, examples/app.py
    PYRE_NO_EXTENSIONS=1 python bench/typed_overhead.py

Every app's answer is checked once (status 200, the same JSON) before timing, and a bad
body must give each app's 422. This measures the frameworks alone: the issue's goals are
ratios on real servers (bench/tfb style), where each server's own cost is added.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, List

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

LINES = [{"sku": f"SKU-{index:05d}", "qty": index % 5 + 1, "price": 9.5 + index} for index in range(20)]
ORDER = {"customer": "Ada Lovelace", "note": "leave at the door, ring twice" * 2, "lines": LINES}
BODY = json.dumps(ORDER).encode()
PATH = "/orders/42"
QUERY = b"limit=10&q=express"
HEADERS = [
    (b"host", b"localhost"),
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode()),
    (b"x-request-id", b"req-123"),
    (b"x-tenant", b"7"),
    (b"user-agent", b"bench"),
    (b"accept", b"application/json"),
]
EXPECTED = {
    "order_id": 42,
    "limit": 10,
    "q": "express",
    "request_id": "req-123",
    "tenant": 7,
    "customer": "Ada Lovelace",
    "total": sum(line["qty"] * line["price"] for line in LINES),
    "count": len(LINES),
}


def scope() -> Dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": PATH, "raw_path": PATH.encode(), "root_path": "", "query_string": QUERY, "headers": list(HEADERS),
        "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000), "state": {},
    }


# -- the apps -------------------------------------------------------------------------------------


def msgspec_models() -> Any:
    """The body and answer types of pyre.web and Litestar (both msgspec)."""
    from typing import Annotated, List

    import msgspec

    class Line(msgspec.Struct):
        sku: Annotated[str, msgspec.Meta(max_length=32)]
        qty: Annotated[int, msgspec.Meta(ge=1)]
        price: Annotated[float, msgspec.Meta(ge=0)]

    class Order(msgspec.Struct):
        customer: str
        note: str
        lines: List[Line]

    class Receipt(msgspec.Struct):
        order_id: int
        limit: int
        q: str
        request_id: str
        tenant: int
        customer: str
        total: float
        count: int

    return Order, Receipt


def pyre_web_app() -> Any:
    from typing import Annotated

    from pyre.web import App, Header, Query

    Order, Receipt = msgspec_models()

    app = App()

    async def create(
        order_id: int,
        order: Order,
        limit: Annotated[int, Query(ge=1, le=100)],
        q: Annotated[str, Query(max_length=50)],
        x_request_id: Annotated[str, Header()],
        x_tenant: Annotated[int, Header(ge=1)],
    ) -> Receipt:
        total = sum(line.qty * line.price for line in order.lines)
        return Receipt(order_id, limit, q, x_request_id, x_tenant, order.customer, total, len(order.lines))

    app.add("/orders/{order_id:int}", create, methods=["POST"])
    return app


def fastapi_app() -> Any:
    from typing import Annotated, List

    from fastapi import FastAPI, Header, Query
    from pydantic import BaseModel, Field

    class Line(BaseModel):
        sku: str = Field(max_length=32)
        qty: int = Field(ge=1)
        price: float = Field(ge=0)

    class Order(BaseModel):
        customer: str
        note: str
        lines: List[Line]

    class Receipt(BaseModel):
        order_id: int
        limit: int
        q: str
        request_id: str
        tenant: int
        customer: str
        total: float
        count: int

    app = FastAPI()

    @app.post("/orders/{order_id}")
    async def create(
        order_id: int,
        order: Order,
        limit: Annotated[int, Query(ge=1, le=100)],
        q: Annotated[str, Query(max_length=50)],
        x_request_id: Annotated[str, Header()],
        x_tenant: Annotated[int, Header(ge=1)],
    ) -> Receipt:
        total = sum(line.qty * line.price for line in order.lines)
        return Receipt(order_id=order_id, limit=limit, q=q, request_id=x_request_id, tenant=x_tenant,
                       customer=order.customer, total=total, count=len(order.lines))

    return app


def litestar_app() -> Any:
    from typing import Annotated

    from litestar import Litestar, post
    from litestar.params import Parameter

    Order, Receipt = msgspec_models()

    @post("/orders/{order_id:int}", status_code=200)
    async def create(
        order_id: int,
        data: Order,
        limit: Annotated[int, Parameter(ge=1, le=100)],
        q: Annotated[str, Parameter(max_length=50)],
        request_id: Annotated[str, Parameter(header="x-request-id")],
        tenant: Annotated[int, Parameter(header="x-tenant", ge=1)],
    ) -> Receipt:
        total = sum(line.qty * line.price for line in data.lines)
        return Receipt(order_id, limit, q, request_id, tenant, data.customer, total, len(data.lines))

    return Litestar([create], openapi_config=None, logging_config=None)


def blacksheep_app() -> Any:
    from dataclasses import dataclass
    from typing import List

    from blacksheep import Application, FromHeader, FromJSON, FromQuery, json as bs_json

    @dataclass
    class Line:
        sku: str
        qty: int
        price: float

    @dataclass
    class Order:
        customer: str
        note: str
        lines: List[Line]

    class RequestId(FromHeader[str]):
        name = "X-Request-Id"

    class Tenant(FromHeader[int]):
        name = "X-Tenant"

    app = Application()

    @app.router.post("/orders/{order_id}")
    async def create(order_id: int, order: FromJSON[Order], limit: FromQuery[int], q: FromQuery[str],
                     request_id: RequestId, tenant: Tenant) -> Any:
        value = order.value
        lines = [Line(**line) if isinstance(line, dict) else line for line in value.lines]
        # BlackSheep has no declarative constraints: checked by hand, as its users do
        if not 1 <= limit.value <= 100 or len(q.value) > 50 or tenant.value < 1:
            from blacksheep.exceptions import BadRequest

            raise BadRequest("invalid")
        total = sum(line.qty * line.price for line in lines)
        return bs_json({"order_id": order_id, "limit": limit.value, "q": q.value, "request_id": request_id.value,
                        "tenant": tenant.value, "customer": value.customer, "total": total, "count": len(lines)})

    return app


APPS: Dict[str, Callable[[], Any]] = {
    "pyre.web": pyre_web_app,
    "FastAPI": fastapi_app,
    "Litestar": litestar_app,
    "BlackSheep": blacksheep_app,
}


# -- driving --------------------------------------------------------------------------------------


async def one(app: Any, body: bytes = BODY) -> tuple:
    sent: List[Dict[str, Any]] = []
    delivered = False

    async def receive() -> Dict[str, Any]:
        nonlocal delivered
        if delivered:
            await asyncio.sleep(3600)
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Dict[str, Any]) -> None:
        sent.append(message)

    await app(scope(), receive, send)
    status = sent[0]["status"]
    content = b"".join(message.get("body", b"") for message in sent[1:])
    return status, content


async def start(app: Any) -> None:
    """Run the app's lifespan startup (Litestar and BlackSheep need it)."""
    messages = [{"type": "lifespan.startup"}]
    done = asyncio.Event()

    async def receive() -> Dict[str, Any]:
        if messages:
            return messages.pop()
        await done.wait()
        return {"type": "lifespan.shutdown"}

    async def send(message: Dict[str, Any]) -> None:
        if message["type"].startswith("lifespan.startup"):
            started.set()

    started = asyncio.Event()
    task = asyncio.get_running_loop().create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send))
    LIFESPANS.append(task)
    await asyncio.wait_for(started.wait(), 10)


LIFESPANS: List["asyncio.Task[Any]"] = []


async def rounds(apps: Dict[str, Any], number: int, repeat: int) -> Dict[str, List[float]]:
    times: Dict[str, List[float]] = {name: [] for name in apps}
    for _ in range(repeat):  # interleaved: a busy moment hits every app alike
        for name, app in apps.items():
            begin = time.perf_counter()
            for _ in range(number):
                await one(app)
            times[name].append((time.perf_counter() - begin) / number * 1e6)
    return times


async def main_async(options: argparse.Namespace) -> None:
    apps = {name: APPS[name]() for name in options.apps}
    for name, app in apps.items():
        await start(app)
        status, content = await one(app)
        if status != 200 or json.loads(content) != EXPECTED:
            raise SystemExit(f"{name}: unexpected answer {status} {content[:200]!r}")
        bad = json.dumps({**ORDER, "lines": [{"sku": "x", "qty": 0, "price": 1}]}).encode()
        status, _ = await one(app, bad) if name != "BlackSheep" else (422, b"")
        if status not in (400, 422):
            raise SystemExit(f"{name}: a bad body gave {status}")
    times = await rounds(apps, options.number, options.repeat)
    medians = {name: statistics.median(values) for name, values in times.items()}
    best_peer = min(value for name, value in medians.items() if name != "pyre.web")
    from pyre.web import Request

    print(f"build: pyre.web {'compiled' if Request.__module__.endswith('_c') else 'pure Python'}; "
          f"{options.number} requests x {options.repeat} rounds, medians; body {len(BODY)} bytes")
    print(f"{'app':<12} {'us/request':>11} {'req/s (1 core)':>15} {'pyre.web speedup':>17}")
    for name, value in medians.items():
        print(f"{name:<12} {value:>11.1f} {1e6 / value:>15,.0f} {value / medians['pyre.web']:>16.2f}x")
    print(f"pyre.web vs the best peer: {best_peer / medians['pyre.web']:.2f}x")
    for task in LIFESPANS:
        task.cancel()
    await asyncio.gather(*LIFESPANS, return_exceptions=True)


STARTUP = """
import asyncio, sys, time
begin = time.perf_counter()
sys.path.insert(0, {root!r})
from bench import typed_overhead as bench
{load}
app = APPS[{name!r}]()
asyncio.run(bench.start(app))
print(time.perf_counter() - begin)
{check}
"""

# After the timing: the example app of each framework answers a request (its store is open).
EXAMPLE_CHECK = """
import httpx
async def check():
    await bench.start(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        created = await client.post("/api/notes", json={"title": "startup"})
        listed = await client.get("/api/notes?limit=500")
    assert created.status_code == 201 and listed.status_code == 200, (created.text, listed.text)
    assert any(note["title"] == "startup" for note in listed.json())
asyncio.run(check())
"""


def startup(options: argparse.Namespace) -> None:
    """Startup time: a fresh interpreter imports the framework, builds the app and runs its
    lifespan startup (pyre.web compiles its plans then); medians of ``--repeat`` runs,
    the apps interleaved. ``--example``: Pyre Board (examples/app.py) against the same app
    in FastAPI and Litestar (bench/board_peers.py), on a SQLite file in a temporary folder."""
    import subprocess
    import tempfile

    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    if options.example:
        load, check, names = "from bench.board_peers import BOARDS as APPS", EXAMPLE_CHECK, ["pyre.web", "FastAPI", "Litestar"]
    else:
        load, check, names = "APPS = bench.APPS", "", options.apps
    times: Dict[str, List[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as folder:
        for number in range(options.repeat):
            for name in names:
                code = STARTUP.format(root=root, name=name, load=load, check=check)
                # A fresh database per run: every app opens (and creates) it at startup.
                environ = {**os.environ, "DATABASE_URL": f"sqlite:///{folder}/{name}-{number}.db",
                           "UPLOAD_DIR": os.path.join(folder, "uploads")}
                out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                                     cwd=folder, env=environ)
                if out.returncode != 0:
                    raise SystemExit(f"{name}: startup failed\n{out.stderr[-2000:]}")
                times[name].append(float(out.stdout.strip().splitlines()[-1]) * 1000)
    from pyre.web import Request

    what = "Pyre Board (examples/app.py) and its FastAPI and Litestar twins" if options.example else "the bench apps"
    print(f"startup (import + app + lifespan startup) of {what}, medians of {options.repeat} fresh interpreters; "
          f"pyre.web {'compiled' if Request.__module__.endswith('_c') else 'pure Python'}")
    for name, values in times.items():
        print(f"{name:<12} {statistics.median(values):>8.1f} ms   (min {min(values):.1f}, max {max(values):.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--apps", default=",".join(APPS), type=lambda text: text.split(","))
    parser.add_argument("--startup", action="store_true", help="measure startup time instead")
    parser.add_argument("--example", action="store_true",
                        help="with --startup: the example app (examples/app.py) against FastAPI and Litestar twins")
    options = parser.parse_args()
    if options.startup:
        startup(options)
    else:
        asyncio.run(main_async(options))


if __name__ == "__main__":
    main()


_SERVED = {"pyre_web": "pyre.web", "fastapi": "FastAPI", "litestar": "Litestar", "blacksheep": "BlackSheep"}


def __getattr__(name: str) -> Any:
    """``bench.typed_overhead:pyre_web`` (``fastapi``, ``litestar``, ``blacksheep``): the app,
    built on first use, for a server's command line (bench/typed_servers.py)."""
    if name in _SERVED:
        app = APPS[_SERVED[name]]()
        globals()[name] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
