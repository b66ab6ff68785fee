"""The example app over real sockets: a Pyre server (``pyre.web.testing.serve``) and real
clients (httpx over HTTP/1.1 and HTTP/2, websockets)."""

from __future__ import annotations

import asyncio
import json
from typing import Iterator

import httpx
import pytest
import websockets

from examples.app import Board, Settings
from pyre.web.testing import LiveServer, serve

from .sse import read_events


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("board")
    settings = Settings(database_url=f"sqlite:///{folder / 'board.db'}", upload_dir=folder / "uploads")
    with serve(Board(settings)) as live:
        yield live


def test_notes_crud(live):
    with httpx.Client(base_url=live.url) as client:
        created = client.post("/api/notes", json={"title": "over the wire"})
        assert created.status_code == 201 and created.headers["server"] == "pyre"
        url = created.headers["location"]
        assert client.patch(url, json={"done": True}).json()["done"] is True
        assert client.get(url).json()["title"] == "over the wire"
        assert client.delete(url).status_code == 204
        assert client.get(url).status_code == 404


def test_notes_over_http2(live):
    with httpx.Client(base_url=live.url, http1=False, http2=True) as client:
        created = client.post("/api/notes", json={"title": "h2"})
        assert created.http_version == "HTTP/2" and created.status_code == 201
        assert client.get(created.headers["location"]).json()["title"] == "h2"


def test_upload_and_download(live):
    data = bytes(range(256)) * 1000
    with httpx.Client(base_url=live.url) as client:
        created = client.post("/api/files", files={"file": ("data.bin", data, "application/octet-stream")})
        assert created.status_code == 201
        url = created.json()["url"]
        download = client.get(url)
        assert download.content == data and download.headers["content-length"] == str(len(data))
        part = client.get(url, headers={"range": "bytes=256-511"})
        assert part.status_code == 206 and part.content == bytes(range(256))


def test_server_sent_events(live):
    async def scenario():
        async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
            async with client.stream("GET", "/api/notes/events") as stream:
                events = read_events(stream.aiter_lines())
                assert (await anext(events))["event"] == "ready"
                created = (await client.post("/api/notes", json={"title": "pushed"})).json()
                event = await anext(events)
                assert (event["event"], event["data"]) == ("note.created", created)
                await events.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_chat_with_two_clients(live):
    async def scenario():
        room = live.ws_url + "/chat/e2e/ws"
        async with websockets.connect(room + "?name=ann") as ann:
            assert json.loads(await ann.recv()) == {"type": "join", "user": "ann"}
            async with websockets.connect(room + "?name=bob") as bob:
                assert json.loads(await ann.recv()) == {"type": "join", "user": "bob"}
                assert json.loads(await bob.recv()) == {"type": "join", "user": "bob"}
                await bob.send(json.dumps({"text": "hello ann"}))
                for ws in (ann, bob):
                    assert json.loads(await ws.recv()) == {"type": "message", "user": "bob", "text": "hello ann"}
            assert json.loads(await ann.recv()) == {"type": "leave", "user": "bob"}

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_chat_refuses_a_nameless_client(live):
    async def scenario():
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with websockets.connect(live.ws_url + "/chat/e2e/ws"):
                pass
        assert refused.value.response.status_code == 400

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_the_chat_page(live):
    page = httpx.get(live.url + "/chat/lobby")
    assert page.status_code == 200 and "<h1>Room lobby</h1>" in page.text
    assert httpx.get(live.url + "/", follow_redirects=True).url.path == "/chat/lobby"
