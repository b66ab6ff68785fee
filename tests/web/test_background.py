"""Background tasks: after the last byte, in order, sync ones in threads, failures logged."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading

import httpx
import pytest

from pyre.web.background import BackgroundTasks
from pyre.web.responses import JSON, Text
from tests.e2e.conftest import serve  # noqa: F401  (a fixture)
from tests.web.fake_asgi import Client, run

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


async def test_tasks_run_in_order_after_the_last_body_message():
    order = []

    async def first(tag, *, suffix):
        order.append(f"{tag}{suffix}")

    def second(tag):
        order.append(tag)

    tasks = BackgroundTasks()
    tasks.add(first, "a", suffix="!")
    tasks.add(second, "b")
    tasks.add(functools.partial(first, "c", suffix="?"))
    assert len(tasks) == 3
    client = Client(on_send=lambda message: order.append(message["type"]))
    await run(Text("ok", background=tasks), client=client)
    assert order == ["http.response.start", "http.response.body", "a!", "b", "c?"]


async def test_sync_tasks_run_in_a_thread_with_the_request_context():
    seen = {}

    def blocking():
        seen["thread"] = threading.get_ident()
        seen["request_id"] = REQUEST_ID.get()

    REQUEST_ID.set("req-7")
    tasks = BackgroundTasks()
    tasks.add(blocking)
    await tasks()
    assert seen["thread"] != threading.get_ident()
    assert seen["request_id"] == "req-7"


async def test_an_async_callable_object_and_a_function_returning_a_coroutine():
    ran = []

    class Notifier:
        async def __call__(self, what):
            ran.append(what)

    async def coroutine(what):
        ran.append(what)

    tasks = BackgroundTasks()
    tasks.add(Notifier(), "object")
    tasks.add(lambda: coroutine("lambda"))
    await tasks()
    assert ran == ["object", "lambda"]


async def test_a_failing_task_is_logged_with_traceback_and_the_others_run(caplog):
    ran = []

    async def broken():
        raise ValueError("mail server down")

    def also_broken():
        raise KeyError("missing")

    tasks = BackgroundTasks()
    tasks.add(broken)
    tasks.add(ran.append, 1)
    tasks.add(also_broken)
    tasks.add(ran.append, 2)
    with caplog.at_level(logging.ERROR, logger="pyre.error"):
        await run(JSON({}, background=tasks))
    assert ran == [1, 2]
    errors = [r for r in caplog.records if r.name == "pyre.error" and r.levelname == "ERROR"]
    assert len(errors) == 2
    assert "broken" in errors[0].getMessage() and errors[0].exc_info[0] is ValueError
    assert "also_broken" in errors[1].getMessage() and errors[1].exc_info[0] is KeyError


async def test_cancellation_is_not_swallowed():
    started = asyncio.Event()

    async def forever():
        started.set()
        await asyncio.Event().wait()

    tasks = BackgroundTasks()
    tasks.add(forever)
    runner = asyncio.create_task(tasks())
    await started.wait()
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner


def test_only_callables():
    with pytest.raises(TypeError, match="callable"):
        BackgroundTasks().add("not a function")  # type: ignore[arg-type]


async def test_end_to_end_the_client_has_the_whole_response_before_the_task_runs(serve):
    """The task waits for the client to confirm it got the response: were it run before the
    last byte, the client would never get it and the test would time out."""
    client_has_it = asyncio.Event()
    finished = asyncio.Event()

    async def after():
        await client_has_it.wait()
        finished.set()

    async def app(scope, receive, send):
        tasks = BackgroundTasks()
        tasks.add(after)
        await JSON({"ok": True}, background=tasks)(scope, receive, send)

    server = await serve(app)
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(server.url)
    assert response.json() == {"ok": True}
    client_has_it.set()
    await asyncio.wait_for(finished.wait(), 10)
