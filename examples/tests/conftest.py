"""Fixtures of the example app's tests: a Board on a fresh SQLite file and upload folder."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from examples.app import Board, Settings
from pyre.web.testing import TestClient


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'board.db'}", upload_dir=tmp_path / "uploads")


@pytest.fixture
def board(settings: Settings) -> Board:
    return Board(settings)


@pytest.fixture
def client(board: Board) -> Iterator[TestClient]:
    """An in-process client; ``with`` runs the app's startup (the store opens) and shutdown."""
    with TestClient(board) as client:
        yield client
