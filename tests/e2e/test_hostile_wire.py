"""Every malformed request of the parser table, sent over a real socket.

For each: the exact status with ``Connection: close`` and a correct Content-Length,
the connection closed, the app never called for it, and the pipelined
``/smuggled`` request after it never executed.
"""

from __future__ import annotations

import pytest

from tests.hostile_cases import CASES, SMUGGLED

WIRE_CASES = [pytest.param(data, status, id=name) for name, data, status in CASES if data is not None]


@pytest.fixture
async def strict_server(serve):
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["path"])
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    server = await serve(app, limit_request_body=1024)
    server.seen = seen
    return server


@pytest.mark.parametrize("data, status", WIRE_CASES)
async def test_rejected_over_the_wire(strict_server, raw, data, status):
    conn = await raw(strict_server)
    await conn.send(data + SMUGGLED)
    data_back = await conn.read_all(timeout=10)
    assert data_back.startswith(b"HTTP/1.1 %d " % status), data_back[:80]
    head, _, body = data_back.partition(b"\r\n\r\n")
    assert b"\r\nconnection: close\r\n" in head + b"\r\n"
    assert b"content-length: %d\r\n" % len(body) in head + b"\r\n"
    assert data_back.count(b"HTTP/1.1 ") == 1
    assert "/smuggled" not in strict_server.seen
