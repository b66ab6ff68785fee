"""A TFB app that breaks the rules the verifier must catch, for tests/bench/test_tfb.py.

Served by Pyre with ``--no-date-header``; every response carries a fixed Date. /json has
the wrong message; /queries reads every row with one ``= ANY($1)`` query and does not
clamp; /updates answers new numbers without writing them; /fortunes is not escaped,
lacks the added fortune and is sorted by id. /plaintext and /db are the bare app's.
"""

from __future__ import annotations

import json
import random
from urllib.parse import parse_qs

import jinja2

from bench.tfb import common
from bench.tfb.apps import bare

FIXED_DATE = b"Sun, 06 Nov 1994 08:49:37 GMT"
_template = jinja2.Environment(loader=jinja2.FileSystemLoader(str(common.TEMPLATES)), autoescape=False) \
    .get_template(common.FORTUNE_TEMPLATE)


def _count(scope) -> int:
    values = parse_qs(scope["query_string"]).get(b"queries")
    try:
        return int(values[0]) if values else 1
    except ValueError:
        return 1


async def _respond(send, body: bytes, content_type: bytes) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


async def _queries(scope, send) -> None:
    ids = [random.randint(1, 10000) for _ in range(max(1, _count(scope)))]
    async with bare.db.pool.acquire() as connection:
        rows = await connection.fetch('SELECT "id", "randomnumber" FROM "world" WHERE "id" = ANY($1)', ids)
    body = [{"id": row[0], "randomNumber": row[1]} for row in rows]
    body += body[:1] * (len(ids) - len(body))  # duplicates drawn: pad to the asked length
    await _respond(send, json.dumps(body).encode(), b"application/json")


async def _updates(scope, send) -> None:
    ids = random.sample(range(1, 10001), max(1, min(_count(scope), 500)))
    async with bare.db.pool.acquire() as connection:
        for row_id in ids:
            await connection.fetchval(common.READ_ROW_SQL, row_id)
    body = [{"id": i, "randomNumber": random.randint(1, 10000)} for i in ids]
    await _respond(send, json.dumps(body).encode(), b"application/json")


async def _fortunes(scope, send) -> None:
    async with bare.db.pool.acquire() as connection:
        rows = await connection.fetch(common.FORTUNES_SQL)
    rows.sort(key=lambda row: row[0])
    await _respond(send, _template.render(fortunes=rows).encode(), b"text/html; charset=utf-8")


async def _json(scope, send) -> None:
    await _respond(send, b'{"message":"Hello, world!"}', b"application/json")


_BROKEN = {"/json": _json, "/queries": _queries, "/updates": _updates, "/fortunes": _fortunes}


async def app(scope, receive, send) -> None:
    async def dated_send(message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message["headers"], (b"date", FIXED_DATE)]}
        await send(message)

    handler = _BROKEN.get(scope.get("path", "")) if scope["type"] == "http" else None
    if handler is None:
        await bare.app(scope, receive, dated_send if scope["type"] == "http" else send)
    else:
        await handler(scope, dated_send)
