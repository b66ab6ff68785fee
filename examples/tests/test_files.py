"""File upload (a multipart form) and download (a File response)."""

from __future__ import annotations

from examples.app import Board, Settings
from pyre.web.testing import TestClient

PDF = b"%PDF-1.4 " + bytes(range(256)) * 40


def upload(client, name="report.pdf", data=PDF, content_type="application/pdf"):
    return client.post("/api/files", files={"file": (name, data, content_type)})


def test_upload_then_download(client, settings):
    created = upload(client)
    assert created.status_code == 201
    record = created.json()
    assert record == {"id": 1, "name": "report.pdf", "content_type": "application/pdf", "size": len(PDF),
                      "url": "/api/files/1"}
    assert created.headers["location"] == "/api/files/1"
    # Stored under a random key, never under the client's name.
    assert [path.name for path in settings.upload_dir.iterdir()] != ["report.pdf"]
    download = client.get("/api/files/1")
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"] == 'attachment; filename="report.pdf"'
    assert download.headers["x-content-type-options"] == "nosniff"
    assert client.get("/api/files").json() == [record]


def test_download_is_conditional_and_ranged(client):
    upload(client)
    etag = client.get("/api/files/1").headers["etag"]
    assert client.get("/api/files/1", headers={"if-none-match": etag}).status_code == 304
    part = client.get("/api/files/1", headers={"range": "bytes=0-3"})
    assert part.status_code == 206 and part.content == b"%PDF"
    assert part.headers["content-range"] == f"bytes 0-3/{len(PDF)}"


def test_a_client_file_name_is_only_a_name(client, settings):
    created = upload(client, name="../../etc/passwd", data=b"x", content_type="text/plain")
    assert created.json()["name"] == "passwd"
    assert client.get("/api/files/1").headers["content-disposition"] == 'attachment; filename="passwd"'
    assert len(list(settings.upload_dir.iterdir())) == 1


def test_a_non_ascii_name_is_kept_for_the_download(client):
    upload(client, name="Übersicht 2026.txt", data=b"hello", content_type="text/plain")
    disposition = client.get("/api/files/1").headers["content-disposition"]
    assert disposition == "attachment; filename=\"Ubersicht 2026.txt\"; filename*=UTF-8''%C3%9Cbersicht%202026.txt"


def test_a_form_without_the_file_is_422(client):
    response = client.post("/api/files", data={"note": "no file here"})
    assert response.status_code == 422
    assert response.json()["detail"] == [{"loc": ["body", "file"], "msg": "a file field named 'file' is required"}]


def test_a_file_over_the_limit_is_413(tmp_path):
    settings = Settings(database_url="sqlite://", upload_dir=tmp_path, max_upload_size=1000)
    with TestClient(Board(settings)) as client:
        assert upload(client, data=b"x" * 1000).status_code == 201
        assert upload(client, data=b"x" * 1001).status_code == 413
        assert upload(client, data=b"x" * 200_000).status_code == 413


def test_malformed_multipart_is_400(client):
    response = client.post("/api/files", content=b"--nope\r\ngarbage",
                           headers={"content-type": "multipart/form-data; boundary=b"})
    assert response.status_code == 400


def test_delete_removes_the_record_and_the_data(client, settings):
    upload(client)
    assert client.delete("/api/files/1").status_code == 204
    assert client.get("/api/files/1").status_code == 404
    assert list(settings.upload_dir.iterdir()) == []
    assert client.delete("/api/files/1").status_code == 404


def test_no_file_is_left_without_its_record(board, settings):
    with TestClient(board, raise_server_exceptions=False) as client:
        async def broken(**fields):
            raise OSError("disk full")

        board.state.store.add_file = broken
        assert upload(client).status_code == 500
    assert list(settings.upload_dir.iterdir()) == []
