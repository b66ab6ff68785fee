"""Storage for Pyre Board: notes and the records of uploaded files.

``open_store(url)`` picks the database by the URL's scheme:

- ``sqlite:///board.db`` (a path relative to the working directory),
  ``sqlite:////var/lib/board.db`` (an absolute one) or ``sqlite://`` (in memory): the stdlib
  ``sqlite3``, each call run in a worker thread (``asyncio.to_thread``) so the event loop
  never waits on the disk. The embedded default: nothing to install or start.
- ``postgresql://user:password@host:5432/board`` (or ``postgres://``): an asyncpg pool.

Both run the same SQL (``?`` placeholders, numbered ``$1, $2, ...`` for PostgreSQL) and
create their tables when opened.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlsplit

__all__ = ["Note", "PostgresStore", "SQLiteStore", "Store", "StoredFile", "UnsupportedDatabase", "open_store"]


@dataclass
class Note:
    """A note, as the API returns it (a dataclass becomes JSON)."""

    id: int
    title: str
    body: str
    done: bool


@dataclass
class StoredFile:
    """An uploaded file's record; ``key`` is its name in the upload directory (never the
    client's file name, which is only used in ``Content-Disposition``)."""

    id: int
    name: str
    content_type: str
    size: int
    key: str


class UnsupportedDatabase(ValueError):
    """A database URL this app cannot use."""


NOTE_COLUMNS = "id, title, body, done"
FILE_COLUMNS = "id, name, content_type, size, key"
#: The note fields a client may set (the only column names ever put into SQL text).
NOTE_FIELDS = ("title", "body", "done")

Row = Sequence[Any]


def _note(row: Row) -> Note:
    return Note(id=row[0], title=row[1], body=row[2], done=bool(row[3]))


def _file(row: Row) -> StoredFile:
    return StoredFile(id=row[0], name=row[1], content_type=row[2], size=row[3], key=row[4])


class Store:
    """The queries, on top of one primitive a database class provides: ``fetch``."""

    #: The tables, in the database's dialect.
    schema: Tuple[str, ...] = ()

    async def fetch(self, sql: str, *args: Any) -> List[Row]:
        """Run one statement; the rows it returns (``RETURNING`` included)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release the connections."""

    async def create_tables(self) -> None:
        for statement in self.schema:
            await self.fetch(statement)

    # -- notes -------------------------------------------------------------------------

    async def list_notes(self, limit: int, offset: int) -> List[Note]:
        rows = await self.fetch(f"SELECT {NOTE_COLUMNS} FROM note ORDER BY id LIMIT ? OFFSET ?", limit, offset)
        return [_note(row) for row in rows]

    async def get_note(self, note_id: int) -> Optional[Note]:
        rows = await self.fetch(f"SELECT {NOTE_COLUMNS} FROM note WHERE id = ?", note_id)
        return _note(rows[0]) if rows else None

    async def create_note(self, title: str, body: str = "", done: bool = False) -> Note:
        rows = await self.fetch(
            f"INSERT INTO note (title, body, done) VALUES (?, ?, ?) RETURNING {NOTE_COLUMNS}", title, body, done
        )
        return _note(rows[0])

    async def update_note(self, note_id: int, changes: Mapping[str, Any]) -> Optional[Note]:
        """Set the given fields (keys of ``NOTE_FIELDS``); None when there is no such note."""
        columns = [name for name in NOTE_FIELDS if name in changes]
        if not columns:
            return await self.get_note(note_id)
        assignments = ", ".join(f"{name} = ?" for name in columns)
        rows = await self.fetch(
            f"UPDATE note SET {assignments} WHERE id = ? RETURNING {NOTE_COLUMNS}",
            *(changes[name] for name in columns),
            note_id,
        )
        return _note(rows[0]) if rows else None

    async def delete_note(self, note_id: int) -> Optional[Note]:
        """Remove a note; the removed note, or None."""
        rows = await self.fetch(f"DELETE FROM note WHERE id = ? RETURNING {NOTE_COLUMNS}", note_id)
        return _note(rows[0]) if rows else None

    # -- files -------------------------------------------------------------------------

    async def add_file(self, name: str, content_type: str, size: int, key: str) -> StoredFile:
        rows = await self.fetch(
            f"INSERT INTO upload (name, content_type, size, key) VALUES (?, ?, ?, ?) RETURNING {FILE_COLUMNS}",
            name, content_type, size, key,
        )
        return _file(rows[0])

    async def list_files(self) -> List[StoredFile]:
        return [_file(row) for row in await self.fetch(f"SELECT {FILE_COLUMNS} FROM upload ORDER BY id")]

    async def get_file(self, file_id: int) -> Optional[StoredFile]:
        rows = await self.fetch(f"SELECT {FILE_COLUMNS} FROM upload WHERE id = ?", file_id)
        return _file(rows[0]) if rows else None

    async def delete_file(self, file_id: int) -> Optional[StoredFile]:
        """Remove the record; the removed record (to delete its data), or None."""
        rows = await self.fetch(f"DELETE FROM upload WHERE id = ? RETURNING {FILE_COLUMNS}", file_id)
        return _file(rows[0]) if rows else None


class SQLiteStore(Store):
    """The stdlib ``sqlite3``: one connection, used by one worker thread at a time."""

    schema = (
        "CREATE TABLE IF NOT EXISTS note (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL,"
        " body TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0)",
        "CREATE TABLE IF NOT EXISTS upload (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
        " content_type TEXT NOT NULL, size INTEGER NOT NULL, key TEXT NOT NULL UNIQUE)",
    )

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        # sqlite3 connections are not for concurrent use: one statement at a time.
        self.lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str) -> "SQLiteStore":
        connection = await asyncio.to_thread(sqlite3.connect, path, check_same_thread=False, isolation_level=None)
        store = cls(connection)
        await store.fetch("PRAGMA journal_mode=WAL")
        await store.create_tables()
        return store

    def _run(self, sql: str, args: Tuple[Any, ...]) -> List[Row]:
        return self.connection.execute(sql, args).fetchall()

    async def fetch(self, sql: str, *args: Any) -> List[Row]:
        async with self.lock:
            return await asyncio.to_thread(self._run, sql, args)

    async def close(self) -> None:
        async with self.lock:
            await asyncio.to_thread(self.connection.close)


def _numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...`` (the queries have no literal ``?``)."""
    pieces = sql.split("?")
    return "".join(piece + (f"${number}" if number < len(pieces) else "") for number, piece in enumerate(pieces, 1))


class PostgresStore(Store):
    """PostgreSQL through an asyncpg pool."""

    schema = (
        "CREATE TABLE IF NOT EXISTS note (id BIGSERIAL PRIMARY KEY, title TEXT NOT NULL,"
        " body TEXT NOT NULL DEFAULT '', done BOOLEAN NOT NULL DEFAULT FALSE)",
        "CREATE TABLE IF NOT EXISTS upload (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL,"
        " content_type TEXT NOT NULL, size BIGINT NOT NULL, key TEXT NOT NULL UNIQUE)",
    )

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._sql: Dict[str, str] = {}

    @classmethod
    async def open(cls, url: str) -> "PostgresStore":
        try:
            import asyncpg
        except ImportError:
            raise UnsupportedDatabase("a postgresql:// DATABASE_URL needs asyncpg: pip install asyncpg") from None
        store = cls(await asyncpg.create_pool(url, min_size=1, max_size=10))
        await store.create_tables()
        return store

    async def fetch(self, sql: str, *args: Any) -> List[Row]:
        numbered = self._sql.get(sql)
        if numbered is None:
            numbered = self._sql[sql] = _numbered(sql)
        rows: List[Row] = await self.pool.fetch(numbered, *args)
        return rows

    async def close(self) -> None:
        await self.pool.close()


def sqlite_path(url: str) -> str:
    """The database file of a ``sqlite:`` URL (``:memory:`` for ``sqlite://``)."""
    parts = urlsplit(url)
    if parts.netloc or parts.query or parts.fragment:
        raise UnsupportedDatabase("a sqlite URL is sqlite:///relative/path.db, sqlite:////absolute/path.db or sqlite://")
    return parts.path[1:] or ":memory:"


async def open_store(url: str) -> Store:
    """The store for a database URL (see the module docstring); :class:`UnsupportedDatabase`
    for a scheme this app does not know (the message never repeats the URL: it may hold a
    password)."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return await SQLiteStore.open(sqlite_path(url))
    if scheme in ("postgresql", "postgres"):
        return await PostgresStore.open(url)
    raise UnsupportedDatabase(
        f"unsupported database URL scheme {scheme!r}: use sqlite:///path/to/board.db"
        " (the default), sqlite:// (in memory) or postgresql://user:password@host/database"
    )
