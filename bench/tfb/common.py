"""What every TFB app shares: the database (asyncpg pool and the work on it), the fortunes template, the
routing benchmark's routes. Only the framework code (routing, request, response) differs per app.

Database work follows the rules: every World row is its own query (a prepared statement
executed once per row, never ``WHERE id IN``); updates read each row, give it a new random
number and write the batch with ``executemany`` (allowed: batched writes); fortunes read
every row, add one at request time and sort by message.
"""

from __future__ import annotations

import os
import random
from contextlib import asynccontextmanager
from operator import itemgetter
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List

import asyncpg
import jinja2

from bench.tfb.rules import ADDITIONAL_FORTUNE, WORLD_ROWS

DSN_ENV = "TFB_DATABASE_URL"  # set by bench/tfb/run.py and the tests to the cluster they started
POOL_SIZE_ENV = "TFB_POOL_SIZE"
ROUTES_ENV = "TFB_ROUTES"  # the routing benchmark's route count
DEFAULT_POOL_SIZE = 16
TEMPLATES = Path(__file__).resolve().parent / "templates"
FORTUNE_TEMPLATE = "fortune.jinja"
ROUTING_TARGET = "/json"  # the routing benchmark requests this route, registered last

READ_ROW_SQL = 'SELECT "randomnumber" FROM "world" WHERE "id" = $1'
WRITE_ROW_SQL = 'UPDATE "world" SET "randomnumber" = $1 WHERE "id" = $2'
FORTUNES_SQL = 'SELECT "id", "message" FROM "fortune"'

_by_message = itemgetter(1)
World = Dict[str, int]


class Database:
    """An app's database: the asyncpg pool (opened at startup by whichever hook the framework
    offers, from ``$TFB_DATABASE_URL``) and the test types' work on it."""

    def __init__(self) -> None:
        self.pool: Any = None

    async def open(self, *_: object) -> None:
        dsn = os.environ.get(DSN_ENV)
        if not dsn:
            raise RuntimeError(f"{DSN_ENV} is not set: the TFB apps need the PostgreSQL database that "
                               "bench/tfb/run.py (or the tests) start")
        size = int(os.environ.get(POOL_SIZE_ENV) or DEFAULT_POOL_SIZE)
        self.pool = await asyncpg.create_pool(dsn, min_size=size, max_size=size)

    async def close(self, *_: object) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    @asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        """The pool for the app's lifetime, as a lifespan context manager (Starlette, FastAPI, Litestar)."""
        await self.open()
        try:
            yield
        finally:
            await self.close()

    async def random_world(self) -> World:
        """db: one random World row."""
        row_id = random.randint(1, WORLD_ROWS)
        async with self.pool.acquire() as connection:
            number = await connection.fetchval(READ_ROW_SQL, row_id)
        return {"id": row_id, "randomNumber": number}

    async def random_worlds(self, count: int) -> List[World]:
        """queries: ``count`` random World rows, one query each."""
        row_ids = [random.randint(1, WORLD_ROWS) for _ in range(count)]
        async with self.pool.acquire() as connection:
            statement = await connection.prepare(READ_ROW_SQL)
            return [{"id": row_id, "randomNumber": await statement.fetchval(row_id)} for row_id in row_ids]

    async def update_worlds(self, count: int) -> List[World]:
        """updates: read ``count`` random rows one by one, give each a new random number, write them."""
        # Distinct ids in ascending order: concurrent batches (executemany is one transaction)
        # then lock their rows in the same order and cannot deadlock.
        row_ids = sorted(random.sample(range(1, WORLD_ROWS + 1), count))
        worlds = []
        async with self.pool.acquire() as connection:
            statement = await connection.prepare(READ_ROW_SQL)
            for row_id in row_ids:
                await statement.fetchval(row_id)
                worlds.append({"id": row_id, "randomNumber": random.randint(1, WORLD_ROWS)})
            await connection.executemany(WRITE_ROW_SQL, [(world["randomNumber"], world["id"]) for world in worlds])
        return worlds

    async def fortunes(self) -> List[Any]:
        """fortunes: every row, plus the one added at request time, sorted by message."""
        async with self.pool.acquire() as connection:
            rows: List[Any] = await connection.fetch(FORTUNES_SQL)
        rows.append(ADDITIONAL_FORTUNE)
        rows.sort(key=_by_message)
        return rows


def jinja_environment() -> jinja2.Environment:
    """A Jinja2 environment on the shared templates, autoescaping on (for apps that render themselves)."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True)


def routes_total() -> int:
    """The routing benchmark's route count, from ``$TFB_ROUTES`` (at least 1: the target)."""
    raw = os.environ.get(ROUTES_ENV, "10")
    try:
        total = int(raw)
    except ValueError:
        total = 0
    if total < 1:
        raise RuntimeError(f"{ROUTES_ENV} must be a whole number of routes >= 1, got {raw!r}")
    return total


def decoy_paths(total: int, param: str = "{item}") -> List[str]:
    """The ``total - 1`` routes registered before the target, every other one with a path parameter.

    ``param`` is the framework's spelling of a string path parameter named ``item``.
    No decoy matches ``ROUTING_TARGET``, so a router that scans its routes in order
    tries them all.
    """
    return [f"/decoy/{i}/{param}" if i % 2 else f"/decoy/{i}" for i in range(total - 1)]
