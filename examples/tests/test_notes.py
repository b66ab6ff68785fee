"""The notes API: create, read, update, delete, with its checks and its token guard."""

from __future__ import annotations

import pytest

from examples.app import Board, Settings
from pyre.web.testing import TestClient


def test_create_then_read(client):
    created = client.post("/api/notes", json={"title": "buy milk", "body": "2 litres"})
    assert created.status_code == 201
    note = created.json()
    assert note == {"id": 1, "title": "buy milk", "body": "2 litres", "done": False}
    assert created.headers["location"] == "/api/notes/1"
    assert client.get("/api/notes/1").json() == note
    assert client.get("/api/notes").json() == [note]


def test_list_pages_with_limit_and_offset(client):
    for number in range(5):
        client.post("/api/notes", json={"title": f"note {number}"})
    page = client.get("/api/notes", params={"limit": 2, "offset": 1}).json()
    assert [note["title"] for note in page] == ["note 1", "note 2"]


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=x", "offset=-1", "limit=%C2%B2", "limit=" + "9" * 5000])
def test_a_bad_page_is_422(client, query):
    response = client.get(f"/api/notes?{query}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "query"


def test_patch_changes_the_given_fields(client):
    client.post("/api/notes", json={"title": "call Bob", "body": "about the lamp"})
    patched = client.patch("/api/notes/1", json={"done": True})
    assert patched.json() == {"id": 1, "title": "call Bob", "body": "about the lamp", "done": True}


def test_put_replaces_the_note(client):
    client.post("/api/notes", json={"title": "call Bob", "body": "about the lamp", "done": True})
    replaced = client.put("/api/notes/1", json={"title": "call Ann"})
    assert replaced.json() == {"id": 1, "title": "call Ann", "body": "", "done": False}


def test_delete(client):
    client.post("/api/notes", json={"title": "temporary"})
    assert client.delete("/api/notes/1").status_code == 204
    assert client.get("/api/notes/1").status_code == 404
    assert client.delete("/api/notes/1").status_code == 404


def test_a_missing_note_is_404_with_its_id(client):
    response = client.get("/api/notes/42")
    assert response.status_code == 404
    assert response.json() == {"status": 404, "detail": "no note 42"}
    assert client.patch("/api/notes/42", json={"done": True}).status_code == 404
    assert client.put("/api/notes/42", json={"title": "x"}).status_code == 404


def test_every_problem_of_a_body_is_listed(client):
    response = client.post("/api/notes", json={"body": 3, "done": "yes", "colour": "red"})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["body", "colour"], "msg": "unknown field"},
        {"loc": ["body", "title"], "msg": "field required"},
        {"loc": ["body", "body"], "msg": "must be a string"},
        {"loc": ["body", "done"], "msg": "must be true or false"},
    ]


@pytest.mark.parametrize("body", [[1, 2], "text", {"title": ""}, {"title": "x" * 201}])
def test_a_bad_note_is_422(client, body):
    assert client.post("/api/notes", json=body).status_code == 422


def test_malformed_json_is_400(client):
    response = client.post("/api/notes", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400


def test_a_note_id_is_an_integer(client):
    assert client.get("/api/notes/abc").status_code == 404


def test_405_lists_the_methods(client):
    response = client.post("/api/notes/1", json={})
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH, PUT"


def test_the_notes_survive_a_restart(settings):
    with TestClient(Board(settings)) as client:
        client.post("/api/notes", json={"title": "kept"})
    with TestClient(Board(settings)) as client:
        assert [note["title"] for note in client.get("/api/notes").json()] == ["kept"]


class TestToken:
    @pytest.fixture
    def client(self, tmp_path):
        settings = Settings(database_url="sqlite://", upload_dir=tmp_path, token="s3cret")
        with TestClient(Board(settings)) as client:
            yield client

    def test_writes_need_it(self, client):
        refused = client.post("/api/notes", json={"title": "x"})
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        wrong = client.post("/api/notes", json={"title": "x"}, headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = client.post("/api/notes", json={"title": "x"}, headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 201

    def test_reads_do_not(self, client):
        assert client.get("/api/notes").status_code == 200
