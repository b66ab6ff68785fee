"""Server-sent events: the wire format, keep-alive pings, disconnects; end to end with httpx."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import pytest
from hypothesis import given, strategies as st

from pyre.web.responses import SSE, ServerSentEvents
from tests.e2e.conftest import serve  # noqa: F401  (a fixture)
from tests.web.fake_asgi import Client, run


def parse_events(stream: bytes):
    """A small EventSource parser (WHATWG HTML 9.2.6): a list of dicts, comments as ":"."""
    events, current = [], {}
    for line in stream.decode("utf-8").split("\n"):
        if line == "":
            if current:
                events.append(current)
            current = {}
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data" and "data" in current:
            current["data"] += "\n" + value
        else:
            current[field] = value
    return events


def test_an_event_with_every_field():
    event = SSE("line 1\nline 2\r\nline 3\rline 4", event="update", id="42", retry=3000, comment="hi\nthere")
    assert event.encode() == (
        b": hi\n: there\nevent: update\nid: 42\nretry: 3000\n"
        b"data: line 1\ndata: line 2\ndata: line 3\ndata: line 4\n\n"
    )


@dataclasses.dataclass
class Point:
    x: int


def test_data_that_is_not_a_string_is_json():
    assert SSE({"a": [1, "é"]}).encode() == 'data: {"a":[1,"é"]}\n\n'.encode()
    assert SSE(Point(3)).encode() == b'data: {"x":3}\n\n'
    assert SSE(event="only").encode() == b"event: only\n\n"
    assert SSE("").encode() == b"data: \n\n"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"event": "a\nb"},
        {"event": "a\rb"},
        {"id": "1\n2"},
        {"id": "1\x002"},
        {"retry": -1},
        {"retry": 1.5},
        {"retry": True},
        {"event": 3},
    ],
)
def test_fields_that_would_break_the_stream_are_refused(kwargs):
    with pytest.raises(ValueError):
        SSE("x", **kwargs)


@given(
    st.text(max_size=50),
    st.one_of(st.none(), st.text(max_size=10).filter(lambda s: "\r" not in s and "\n" not in s)),
    st.one_of(st.none(), st.text(max_size=10).filter(lambda s: not set(s) & {"\r", "\n", "\0"})),
)
def test_any_event_parses_back_to_its_fields(data, event, event_id):
    parsed = parse_events(SSE(data, event=event, id=event_id).encode())
    assert len(parsed) == 1
    expected_data = data.replace("\r\n", "\n").replace("\r", "\n")
    assert parsed[0]["data"] == expected_data
    assert parsed[0].get("event") == event
    assert parsed[0].get("id") == event_id


async def test_headers_and_items_of_every_kind():
    async def events():
        yield "plain"
        yield {"n": 1}
        yield SSE("x", event="e")

    client = await run(ServerSentEvents(events()))
    assert client.raw_headers == [
        (b"content-type", b"text/event-stream; charset=utf-8"),
        (b"cache-control", b"no-cache"),
        (b"x-accel-buffering", b"no"),
    ]
    assert parse_events(client.body) == [{"data": "plain"}, {"data": '{"n":1}'}, {"event": "e", "data": "x"}]
    assert client.complete


def test_given_headers_win_and_ping_is_checked():
    response = ServerSentEvents([], headers={"Cache-Control": "no-store"})
    assert response.headers.getlist("cache-control") == ["no-store"]
    for bad in (-1, "5", True):
        with pytest.raises(ValueError, match="ping"):
            ServerSentEvents([], ping=bad)  # type: ignore[arg-type]


async def test_silence_is_filled_with_ping_comments():
    pinged = asyncio.Event()

    def on_send(message):
        if message.get("body") == b": ping\n\n":
            pinged.set()

    async def events():
        yield "first"
        await pinged.wait()  # only a ping lets the generator go on
        yield "second"

    client = await asyncio.wait_for(run(ServerSentEvents(events(), ping=0.01), client=Client(on_send=on_send)), 5)
    bodies = [m["body"] for m in client.messages[1:]]
    assert bodies[0] == b"data: first\n\n"
    assert b": ping\n\n" in bodies
    assert bodies[-2:] == [b"data: second\n\n", b""]
    assert [e for e in parse_events(client.body) if "data" in e] == [{"data": "first"}, {"data": "second"}]


async def test_a_sync_iterable_and_no_ping():
    client = await run(ServerSentEvents(iter(["a", "b"]), ping=None))
    assert client.body == b"data: a\n\ndata: b\n\n"
    client = await run(ServerSentEvents(["a"], ping=0.5))
    assert client.body == b"data: a\n\n"


@pytest.mark.parametrize("ping", [None, 30.0])
async def test_disconnect_stops_the_events_cleanly(ping, caplog):
    waiting, closed = asyncio.Event(), []

    async def events():
        try:
            yield "hello"
            waiting.set()
            await asyncio.Event().wait()
            yield "never"
        finally:
            closed.append(True)

    client = Client()
    task = asyncio.create_task(run(ServerSentEvents(events(), ping=ping), client=client))
    await waiting.wait()
    client.disconnect()
    await asyncio.wait_for(task, 5)
    assert closed == [True]
    assert parse_events(client.body) == [{"data": "hello"}]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_iterator_errors_propagate_with_ping():
    async def events():
        yield "a"
        raise LookupError("gone")

    with pytest.raises(LookupError, match="gone"):
        await run(ServerSentEvents(events(), ping=10))


# -- end to end over a real Pyre server --------------------------------------------------------


async def test_sse_end_to_end_with_httpx_streaming_and_a_mid_stream_disconnect(serve, caplog):
    closed = asyncio.Event()
    sent = []

    async def events():
        try:
            n = 0
            while True:
                sent.append(n)
                yield SSE({"n": n}, id=str(n), event="tick")
                n += 1
                await asyncio.sleep(0.001)
        finally:
            closed.set()

    async def app(scope, receive, send):
        await ServerSentEvents(events(), ping=5)(scope, receive, send)

    server = await serve(app)
    async with httpx.AsyncClient(timeout=10) as client:
        async with client.stream("GET", server.url) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["x-accel-buffering"] == "no"
            lines = []
            async for line in response.aiter_lines():
                lines.append(line)
                if len(lines) == 12:  # three events of four lines each
                    break
    assert lines[:4] == ["event: tick", "id: 0", 'data: {"n":0}', ""]
    assert lines[8:12] == ["event: tick", "id: 2", 'data: {"n":2}', ""]
    # The client went away mid-stream: the server side closes the generator.
    await asyncio.wait_for(closed.wait(), 10)
    await asyncio.sleep(0.05)  # the server settles the response after the app returns
    assert not [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]


async def test_sse_pings_end_to_end(serve):
    async def events():
        yield "start"
        await asyncio.Event().wait()
        yield "never"

    async def app(scope, receive, send):
        await ServerSentEvents(events(), ping=0.05)(scope, receive, send)

    server = await serve(app)
    async with httpx.AsyncClient(timeout=10) as client:
        async with client.stream("GET", server.url) as response:
            lines = []
            async for line in response.aiter_lines():
                lines.append(line)
                if line == ": ping":
                    break
    assert lines[:2] == ["data: start", ""]
    assert lines[-1] == ": ping"
