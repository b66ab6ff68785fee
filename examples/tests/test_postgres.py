"""The same app on PostgreSQL (asyncpg), by URL: a throw-away server started here (the
benchmark's cluster helper: initdb in a temporary folder, a Unix socket, stopped at the end)."""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from bench.tfb.database import PostgresCluster, find_bin_dir
from examples.app import Board, Settings
from examples.store import PostgresStore, _numbered, open_store
from pyre.web.testing import TestClient


def test_placeholders_are_numbered():
    assert _numbered("UPDATE note SET title = ?, done = ? WHERE id = ?") == \
        "UPDATE note SET title = $1, done = $2 WHERE id = $3"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    if find_bin_dir() is None:
        if os.environ.get("REQUIRE_TEST_TOOLS"):
            pytest.fail("PostgreSQL is not installed (apt-get install postgresql) and REQUIRE_TEST_TOOLS is set")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture
def client(postgres, tmp_path) -> Iterator[TestClient]:
    settings = Settings(database_url=postgres.dsn, upload_dir=tmp_path)
    try:
        with TestClient(Board(settings)) as client:
            yield client
    finally:
        postgres.query("DROP TABLE IF EXISTS note, upload")


def test_notes_crud_on_postgres(client):
    created = client.post("/api/notes", json={"title": "on postgres", "body": "via asyncpg"})
    assert created.status_code == 201
    assert created.json() == {"id": 1, "title": "on postgres", "body": "via asyncpg", "done": False}
    assert client.patch("/api/notes/1", json={"done": True}).json()["done"] is True
    assert client.put("/api/notes/1", json={"title": "again"}).json() == {"id": 1, "title": "again", "body": "",
                                                                          "done": False}
    assert client.get("/api/notes", params={"limit": 1}).json() == [client.get("/api/notes/1").json()]
    assert client.delete("/api/notes/1").status_code == 204
    assert client.get("/api/notes/1").status_code == 404


def test_files_on_postgres(client):
    created = client.post("/api/files", files={"file": ("a.txt", b"hello", "text/plain")})
    assert created.json()["size"] == 5
    assert client.get(created.json()["url"]).content == b"hello"
    assert client.delete(created.json()["url"]).status_code == 204


async def test_the_postgres_scheme_alias(postgres):
    store = await open_store("postgres" + postgres.dsn[len("postgresql"):])
    try:
        assert isinstance(store, PostgresStore)
        assert await store.list_notes(10, 0) == []
    finally:
        await store.close()
        postgres.query("DROP TABLE IF EXISTS note, upload")
