"""The notes' changes as server-sent events, read in-process event by event."""

from __future__ import annotations

from examples.app import Board
from pyre.web.testing import AsyncTestClient

from .sse import read_events


async def test_every_change_is_an_event(settings):
    async with AsyncTestClient(Board(settings)) as client:
        async with client.stream("GET", "/api/notes/events") as stream:
            assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
            assert stream.headers["cache-control"] == "no-cache"
            events = read_events(stream.aiter_lines())
            assert await anext(events) == {"event": "ready", "retry": "5000", "data": {"subscribers": 1}}
            await client.post("/api/notes", json={"title": "watch me"})
            await client.patch("/api/notes/1", json={"done": True})
            await client.delete("/api/notes/1")
            created, updated, deleted = [await anext(events) for _ in range(3)]
    note = {"id": 1, "title": "watch me", "body": "", "done": False}
    assert created == {"event": "note.created", "id": "1", "data": note}
    assert updated == {"event": "note.updated", "id": "2", "data": {**note, "done": True}}
    assert deleted == {"event": "note.deleted", "id": "3", "data": {**note, "done": True}}


async def test_a_closed_stream_unsubscribes(settings):
    async with AsyncTestClient(Board(settings)) as client:
        async with client.stream("GET", "/api/notes/events") as stream:
            await anext(read_events(stream.aiter_lines()))
        await client.post("/api/notes", json={"title": "nobody listens"})
        # The first reader left: the next one is the only subscriber.
        async with client.stream("GET", "/api/notes/events") as stream:
            ready = await anext(read_events(stream.aiter_lines()))
            assert ready == {"event": "ready", "retry": "5000", "data": {"subscribers": 1}}
