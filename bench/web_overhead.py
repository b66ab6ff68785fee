#!/usr/bin/env python3
"""Framework overhead of ``pyre.web``, in process: nanoseconds per json request with a fake
server (one reused scope, ``receive``/``send`` that never wait; no sockets, no event loop).

    python bench/web_overhead.py            # the twins pyre._accel chooses (compiled when built)
    PYRE_NO_EXTENSIONS=1 python bench/web_overhead.py

Apps, each answering ``GET /json`` with ``{"message": "Hello, World!"}``:

- bare ASGI, ``json.dumps`` (``bench/apps.py``'s json app, the one the suite measures);
- bare ASGI with ``pyre.web._json.dumps`` (the same encoder as the framework: the
  difference to pyre.web below is the framework alone);
- pyre.web: a function route; a Resource; a Resource whose class defines 20 listener
  methods for user events the request does not emit (the issue's events goal);
- Starlette (``Route`` + ``JSONResponse``).

Bounded: ``--number`` requests (default 20,000) times ``--repeat`` (default 5) per app, best
kept, the apps interleaved: a few seconds in all. The ratio column is bare ASGI (json.dumps) / app: the issue asks
for pyre.web on Pyre to reach 80% of the bare app's throughput on a real server, where the
server's own per-request cost (parsing, the scope, writing) is added to both sides.
"""

from __future__ import annotations

import argparse
import os
import sys
import timeit
from typing import Any, Callable, Dict, List, Tuple

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench import apps  # noqa: E402
from bench import request as request_bench  # noqa: E402
from pyre import _accel  # noqa: E402

MESSAGE = {"message": "Hello, World!"}
# bench/request.py's browser scope, as a JSON API client would send it.
SCOPE: Dict[str, Any] = dict(
    request_bench.SCOPE,
    path="/json",
    raw_path=b"/json",
    query_string=b"",
    headers=[(b"host", b"localhost:8000"), (b"user-agent", b"wrk"), (b"accept", b"application/json")],
    state={},
    extensions={"http.response.pathsend": {}},
)


async def receive() -> Dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


sent: List[Dict[str, Any]] = []


async def send(message: Dict[str, Any]) -> None:
    sent.append(message)


def drive(app: Callable[..., Any]) -> None:
    """One request, run to completion without an event loop (nothing here waits)."""
    coroutine = app(dict(SCOPE) if app is STARLETTE else SCOPE, receive, send)
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise RuntimeError(f"{app!r} waited on something: not measurable in process")


def bare_framework_encoder() -> Callable[..., Any]:
    from pyre.web._json import dumps

    async def app(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        body = dumps(MESSAGE)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    return app


def pyre_web_function() -> Any:
    from pyre.web import App

    app: Any = App()

    @app.get("/json")
    async def json(request: Any) -> Dict[str, str]:
        return {"message": "Hello, World!"}

    app.freeze()
    return app


def pyre_web_resource(listeners: int = 0) -> Any:
    from pyre.web import App, Resource, listen

    async def get(self: Any, request: Any) -> Dict[str, str]:
        return {"message": "Hello, World!"}

    namespace: Dict[str, Any] = {"get": get}
    for index in range(listeners):
        async def listener(self: Any, *args: Any) -> None:
            return None
        namespace[f"on_event_{index}"] = listen(f"event.{index}")(listener)
    resource = type("Json", (Resource,), namespace)
    app: Any = App()
    app.add("/json", resource)
    app.freeze()
    return app


def starlette() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def json(request: Any) -> Any:
        return JSONResponse({"message": "Hello, World!"})

    app = Starlette(routes=[Route("/json", json)])
    return app


STARLETTE: Any = None


def main() -> None:
    global STARLETTE
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()

    STARLETTE = starlette()
    cases: List[Tuple[str, Any]] = [
        ("bare ASGI (json.dumps)", apps.json),
        ("bare ASGI (pyre.web encoder)", bare_framework_encoder()),
        ("pyre.web function route", pyre_web_function()),
        ("pyre.web Resource", pyre_web_resource()),
        ("pyre.web Resource + 20 user-event listeners", pyre_web_resource(20)),
        ("Starlette", STARLETTE),
    ]
    from pyre.web._json import BACKEND

    modes = _accel.modes()
    print(f"pyre.web twins: router={modes['router']} request={modes['request']} parsing={modes['parsing']} "
          f"({_accel.MODE}); JSON encoder: {BACKEND}; Python {sys.version.split()[0]}")
    print(f"{options.number} requests x {options.repeat}, best kept\n")
    results: Dict[str, float] = {}
    for _, app in cases:
        drive(app)  # warm up (and check it runs without waiting)
    for _ in range(options.repeat):  # interleaved, so a busy moment hits every app alike
        for name, app in cases:
            sent.clear()
            elapsed = timeit.timeit(lambda: drive(app), number=options.number)
            results[name] = min(results.get(name, elapsed), elapsed)
    sent.clear()
    results = {name: best / options.number * 1e9 for name, best in results.items()}
    base = results["bare ASGI (json.dumps)"]
    width = max(len(name) for name in results)
    print(f"{'app':<{width}}  {'ns/request':>10}  {'bare/app':>8}")
    for name, ns in results.items():
        print(f"{name:<{width}}  {ns:>10.0f}  {base / ns:>8.2f}")


if __name__ == "__main__":
    main()
