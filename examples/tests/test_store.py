"""The database URL: SQLite by default, PostgreSQL by URL, a clear error for anything else."""

from __future__ import annotations

import pytest

from examples.app import Board, Settings
from examples.store import SQLiteStore, UnsupportedDatabase, open_store, sqlite_path
from pyre.web.testing import TestClient


@pytest.mark.parametrize(("url", "path"), [
    ("sqlite:///board.db", "board.db"),
    ("sqlite:////var/lib/board.db", "/var/lib/board.db"),
    ("sqlite:///:memory:", ":memory:"),
    ("sqlite://", ":memory:"),
])
def test_sqlite_urls(url, path):
    assert sqlite_path(url) == path


def test_the_default_is_a_sqlite_file():
    assert Settings.from_env({}).database_url == "sqlite:///board.db"


def test_settings_from_the_environment(tmp_path):
    settings = Settings.from_env({"DATABASE_URL": "postgresql://db/board", "UPLOAD_DIR": str(tmp_path),
                                  "MAX_UPLOAD_SIZE": "1000", "BOARD_TOKEN": "t"})
    assert settings == Settings("postgresql://db/board", tmp_path, 1000, "t")


async def test_an_in_memory_store():
    store = await open_store("sqlite://")
    assert isinstance(store, SQLiteStore)
    note = await store.create_note("x")
    assert await store.get_note(note.id) == note
    await store.close()


@pytest.mark.parametrize("url", ["mysql://user:hunter2@db/board", "board.db", "sqlite://host/board.db"])
async def test_an_unknown_url_is_refused_without_repeating_it(url):
    with pytest.raises(UnsupportedDatabase) as refused:
        await open_store(url)
    assert "hunter2" not in str(refused.value) and "sqlite:///" in str(refused.value)


def test_the_app_does_not_start_on_an_unknown_url(tmp_path):
    board = Board(Settings(database_url="mysql://db/board", upload_dir=tmp_path))
    with pytest.raises(RuntimeError) as failed:
        with TestClient(board):
            pass
    assert "unsupported database URL scheme 'mysql': use sqlite:///" in str(failed.value)
