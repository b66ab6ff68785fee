#!/usr/bin/env python3
"""Instructions per request of a TFB test type, app by app, counted by callgrind: where a
framework's request costs more than the bare ASGI app's, repeatably on a noisy machine.

    python bench/tfb/instructions.py                                  # fortunes and db, asgi and pyre.web
    python bench/tfb/instructions.py --tests fortunes --apps asgi,pyre.web,falcon -n 300
    python bench/tfb/instructions.py --tests fortunes --profile /tmp/prof   # cProfile dumps, no valgrind

It starts the throw-away PostgreSQL of bench/tfb/database.py (or uses ``--dsn``), then runs each app in a child
process as ``pyre`` serves it by default: the compiled HTTP/1.1 connection
(``pyre._accel.H1Protocol``) over bench/instructions.py's fake transport on uvloop, the app
behind the server's proxy-headers wrapper (loopback trusted: the ASGI path runs it on every
request, pyre.web's native path only when it reads the client), its lifespan run, its real
asyncpg pool (4 connections). Requests go one at a time. Each count runs N and 3N requests
(after 200 of warm-up); the difference over 2N is one request, without start-up. User-space
instructions only: the system calls' kernel time (a ``stat``, the socket) is not counted.
Counts of the same build move by ~1% (asyncpg's and PostgreSQL's timing, hash randomisation).

``--profile DIR`` instead writes a cProfile dump per app and test (CPU-time clock) for
``pstats``: the Python functions behind a difference.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.tfb.common import DSN_ENV, POOL_SIZE_ENV  # noqa: E402
from bench.tfb.database import PostgresCluster, find_bin_dir  # noqa: E402
from bench.tfb.frameworks import FRAMEWORKS  # noqa: E402

PATHS = {"db": "/db", "queries-20": "/queries?queries=20", "fortunes": "/fortunes", "updates-20": "/updates?queries=20",
         "json": "/json", "plaintext": "/plaintext"}
WARMUP = 200


def request_bytes(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n".encode()


class Lifespan:
    """The app's lifespan, run as a server runs it: startup before the requests, shutdown after."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.inbox: "asyncio.Queue[Dict[str, str]]" = asyncio.Queue()
        self.replies: "asyncio.Queue[Dict[str, Any]]" = asyncio.Queue()
        self.task: "asyncio.Task[None] | None" = None

    async def _step(self, message: str) -> None:
        await self.inbox.put({"type": message})
        reply = await self.replies.get()
        if reply["type"] != message + ".complete":
            raise SystemExit(f"{message}: {reply}")

    async def startup(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.get_running_loop().create_task(self.app(scope, self.inbox.get, self.replies.put))
        await self._step("lifespan.startup")

    async def shutdown(self) -> None:
        await self._step("lifespan.shutdown")
        assert self.task is not None
        await self.task


def child(target: str, test: str, n: int, profile: str) -> None:
    """Serve ``n`` requests of ``test`` to ``target`` (``module:app``) after the warm-up."""
    import uvloop

    from bench.instructions import _FakeTransport, deliver
    from pyre._accel import H1Protocol
    from pyre.asgi.proxy_headers import ProxyHeadersMiddleware
    from pyre.config import Config
    from pyre.transport.context import ServerContext

    module, _, attribute = target.partition(":")
    app = getattr(importlib.import_module(module), attribute)
    data = request_bytes(PATHS[test])

    async def main() -> None:
        loop = asyncio.get_running_loop()
        lifespan = Lifespan(app)
        await lifespan.startup()
        config = Config(app, http="h1", ws="none", access_log=False)
        served = ProxyHeadersMiddleware(app, config.trusted_proxies, source=config.proxy_headers_source)
        ctx = ServerContext.from_config(served, loop, config)
        protocol = H1Protocol(ctx)
        transport = _FakeTransport()
        protocol.connection_made(transport)

        async def one() -> None:
            deliver(protocol, data, isinstance(protocol, asyncio.BufferedProtocol))
            await asyncio.sleep(0)
            while ctx.tasks:
                await asyncio.gather(*ctx.tasks, return_exceptions=True)

        for _ in range(WARMUP):
            await one()
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
        for _ in range(n):
            await one()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        if transport.writes < WARMUP + n:
            raise SystemExit(f"{target}: {transport.writes} responses for {WARMUP + n} requests")
        await lifespan.shutdown()

    uvloop.run(main())


def count(target: str, test: str, n: int, env: Dict[str, str]) -> int:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
           "--child", target, test, str(n)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    match = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or not match:
        raise SystemExit(f"callgrind failed for {target} {test}:\n{result.stderr[-2000:]}")
    return int(match.group(1))


def main(argv: List[str] | None = None) -> int:
    frameworks = {f.name: f for f in FRAMEWORKS}
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--child", nargs=3, metavar=("APP", "TEST", "N"), help=argparse.SUPPRESS)
    p.add_argument("--child-profile", default="", help=argparse.SUPPRESS)
    p.add_argument("--tests", default="fortunes,db", help=f"comma-separated, from: {', '.join(PATHS)}")
    p.add_argument("--apps", default="asgi,pyre.web", help=f"comma-separated, from: {', '.join(frameworks)}")
    p.add_argument("-n", type=int, default=300, help="requests of the smaller run (default: 300)")
    p.add_argument("--profile", type=Path, help="write cProfile dumps (APP-TEST.prof) here instead of counting")
    p.add_argument("--dsn", help="use this TFB database instead of starting one")
    args = p.parse_args(argv)
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]), args.child_profile)
        return 0
    tests, apps = args.tests.split(","), args.apps.split(",")
    unknown = [t for t in tests if t not in PATHS] + [a for a in apps if a not in frameworks]
    if unknown:
        p.error(f"unknown test or app: {', '.join(unknown)}")
    if args.profile is None and not shutil.which("valgrind"):
        p.error("valgrind is not installed (apt-get install valgrind)")
    if args.dsn is None and find_bin_dir() is None:
        p.error("PostgreSQL is not installed (apt-get install postgresql, or set PYRE_PG_BIN)")
    cluster = None if args.dsn else PostgresCluster()
    if cluster is not None:
        cluster.start()
    try:
        dsn = args.dsn or cluster.dsn
        env = dict(os.environ, PYTHONPATH=str(REPO), **{DSN_ENV: dsn, POOL_SIZE_ENV: "4"})
        if args.profile is None:
            print(f"# instructions per request (callgrind), Python {sys.version.split()[0]}, N={args.n}")
            print("| test | " + " | ".join(apps) + " |")
            print("|---|" + "---:|" * len(apps))
        for test in tests:
            row = []
            for name in apps:
                target = frameworks[name].app()
                if args.profile is not None:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    out = args.profile / f"{name}-{test}.prof"
                    subprocess.run([sys.executable, __file__, "--child", target, test, str(args.n),
                                    "--child-profile", str(out)], env=env, check=True, timeout=1800)
                    print(f"wrote {out}", flush=True)
                    continue
                low, high = count(target, test, args.n, env), count(target, test, 3 * args.n, env)
                row.append(f"{(high - low) / (2 * args.n):,.0f}")
            if row:
                print(f"| {test} | " + " | ".join(row) + " |", flush=True)
    finally:
        if cluster is not None:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
