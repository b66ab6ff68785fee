"""Lifespan: startup, shutdown, state, failure, unsupported apps."""

from __future__ import annotations

import asyncio

from pyre import Config, Server
from tests.apps import hello


def lifespan_app(events, fail_startup=None, raise_in_startup=False, state=None, fail_shutdown=None):
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            message = await receive()
            events.append(message["type"])
            if raise_in_startup:
                raise RuntimeError("startup exploded")
            if fail_startup is not None:
                await send({"type": "lifespan.startup.failed", "message": fail_startup})
                return
            if state:
                scope["state"].update(state)
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            events.append(message["type"])
            if fail_shutdown is not None:
                await send({"type": "lifespan.shutdown.failed", "message": fail_shutdown})
            else:
                await send({"type": "lifespan.shutdown.complete"})
            return
        await hello(scope, receive, send)
    return app


async def run_server(app, **kwargs):
    server = Server(Config(app, port=0, log_level=None, **kwargs))
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    return server, task


async def test_startup_and_shutdown_run_in_order():
    events = []
    server, task = await run_server(lifespan_app(events), lifespan="on")
    assert server.started and events == ["lifespan.startup"]
    server.should_exit = True
    await asyncio.wait_for(task, 5)
    assert events == ["lifespan.startup", "lifespan.shutdown"]


async def test_startup_failure_does_not_start(caplog):
    events = []
    server, task = await run_server(lifespan_app(events, fail_startup="database unreachable"), lifespan="on")
    await asyncio.wait_for(task, 5)
    assert not server.started and server.servers == []
    assert any("database unreachable" in r.getMessage() for r in caplog.records)


async def test_startup_exception_in_on_mode_does_not_start():
    server, task = await run_server(lifespan_app([], raise_in_startup=True), lifespan="on")
    await asyncio.wait_for(task, 5)
    assert not server.started


async def test_auto_mode_tolerates_apps_without_lifespan():
    async def app(scope, receive, send):
        if scope["type"] != "http":
            raise ValueError("only http here")
        await hello(scope, receive, send)

    server, task = await run_server(app, lifespan="auto")
    assert server.started
    server.should_exit = True
    await asyncio.wait_for(task, 5)


async def test_lifespan_off_never_calls_the_app_with_lifespan():
    types = []

    async def app(scope, receive, send):
        types.append(scope["type"])
        await hello(scope, receive, send)

    server, task = await run_server(app, lifespan="off")
    server.should_exit = True
    await asyncio.wait_for(task, 5)
    assert types == []


async def test_startup_timeout():
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            await receive()
            await asyncio.sleep(30)

    server, task = await run_server(app, lifespan="on", timeout_lifespan=0.2)
    await asyncio.wait_for(task, 5)
    assert not server.started


async def test_shutdown_failure_is_logged(caplog):
    events = []
    server, task = await run_server(lifespan_app(events, fail_shutdown="flush failed"), lifespan="on")
    server.should_exit = True
    await asyncio.wait_for(task, 5)
    assert any("flush failed" in r.getMessage() for r in caplog.records)
