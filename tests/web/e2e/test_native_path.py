"""Issue 15 item 9: on Pyre an App takes the native path (no ASGI scope dict unless read),
and what a handler sees and what the server does are the same as on Pyre's ASGI path and
under uvicorn: request fields, proxy headers, root_path, limits, disconnects, the access
log and the metrics."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pyre.web import App, ClientDisconnect, Request


def fields_app() -> App:
    app = App(max_body_size=100)

    @app.get("/unread")
    async def unread(request: Request) -> dict:
        return {"scope_built": request._scope is not None}

    @app.get("/{name}/fields")
    async def fields(request: Request, name: str) -> dict:
        client = request.client
        return {
            "method": request.method,
            "path": request.path,
            "raw_path": request.raw_path.decode("latin-1"),
            "name": name,
            "query": sorted(request.query.multi_items()),
            "multi": request.headers.getlist("x-multi"),
            "cookies": request.cookies,
            "client": None if client is None else client.host,
            "scheme": request.scheme,
            "url": str(request.url),
            "base_url": str(request.base_url),
            "http_version": request.http_version,
        }

    @app.get("/scope")
    async def scope(request: Request) -> dict:
        built_before = request._scope is not None
        scope = request.scope
        return {
            "built_before": built_before,
            "type": scope["type"],
            "method": scope["method"],
            "path": scope["path"],
            "raw_path": scope["raw_path"].decode("latin-1"),
            "root_path": scope["root_path"],
            "query_string": scope["query_string"].decode("latin-1"),
            "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"] if n.startswith(b"x-")],
            "client": scope["client"][0],
            "scheme": scope["scheme"],
            "same_object": request.scope is scope,
        }

    @app.post("/upload")
    async def upload(request: Request) -> dict:
        return {"size": len(await request.body())}

    return app


async def test_a_handler_that_never_reads_the_scope_leaves_it_unbuilt(serve):
    served = await serve(fields_app())
    async with served.client() as client:
        assert (await client.get("/unread")).json() == {"scope_built": not served.native}
        scope = (await client.get("/scope?x=1", headers={"x-one": "1"})).json()
    # Read, it is assembled once and holds what the ASGI path's scope holds.
    assert scope == {
        "built_before": not served.native, "type": "http", "method": "GET", "path": "/scope",
        "raw_path": "/scope", "root_path": "", "query_string": "x=1", "headers": [["x-one", "1"]],
        "client": "127.0.0.1", "scheme": "http", "same_object": True,
    }


async def test_request_fields_are_the_same_on_every_path(serve):
    served = await serve(fields_app())
    async with served.client() as client:
        response = await client.get(
            "/caf%C3%A9%20x/fields?a=1&a=2&b=%20y",
            headers=[("x-multi", "1"), ("x-multi", "2"), ("cookie", "k=v; s=t")],
        )
    assert response.json() == {
        "method": "GET",
        "path": "/café x/fields",
        "raw_path": "/caf%C3%A9%20x/fields",
        "name": "café x",
        "query": [["a", "1"], ["a", "2"], ["b", " y"]],
        "multi": ["1", "2"],
        "cookies": {"k": "v", "s": "t"},
        "client": "127.0.0.1",
        "scheme": "http",
        "url": f"{served.url}/caf%C3%A9%20x/fields?a=1&a=2&b=%20y",
        "base_url": f"{served.url}/",
        "http_version": "2" if served.http2 else "1.1",
    }


async def test_trusted_proxy_headers_set_client_and_scheme_on_every_path(serve):
    served = await serve(fields_app())  # both servers trust 127.0.0.1 by default
    headers = {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}
    async with served.client() as client:
        fields = (await client.get("/p/fields", headers=headers)).json()
        scope = (await client.get("/scope", headers=headers)).json()
    assert (fields["client"], fields["scheme"]) == ("203.0.113.7", "https")
    assert fields["url"] == "https://" + served.url.split("://")[1] + "/p/fields"
    assert (scope["client"], scope["scheme"]) == ("203.0.113.7", "https")


async def test_proxy_headers_are_ignored_when_off_on_every_path(serve):
    served = await serve(fields_app(), proxy_headers=False)
    headers = {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}
    async with served.client() as client:
        fields = (await client.get("/p/fields", headers=headers)).json()
        scope = (await client.get("/scope", headers=headers)).json()
    assert (fields["client"], fields["scheme"]) == ("127.0.0.1", "http")
    assert (scope["client"], scope["scheme"]) == ("127.0.0.1", "http")


async def test_an_untrusted_peer_cannot_forward_on_every_path(serve):
    served = await serve(fields_app(), forwarded_allow_ips="10.1.2.3")
    async with served.client() as client:
        fields = (await client.get("/p/fields", headers={"x-forwarded-for": "203.0.113.7"})).json()
    assert fields["client"] == "127.0.0.1"


async def test_root_path_on_every_path(serve):
    served = await serve(fields_app(), root_path="/api")
    async with served.client() as client:
        fields = (await client.get("/p/fields?q=1")).json()
        scope = (await client.get("/scope")).json()
    assert (fields["path"], fields["raw_path"], fields["name"]) == ("/api/p/fields", "/api/p/fields", "p")
    assert fields["base_url"] == f"{served.url}/api/"
    assert fields["url"] == f"{served.url}/api/p/fields?q=1"
    assert (scope["path"], scope["raw_path"], scope["root_path"]) == ("/api/scope", "/api/scope", "/api")


async def test_a_declared_body_over_the_limit_gets_413_unread_on_every_path(serve):
    served = await serve(fields_app())
    async with served.client() as client:
        assert (await client.post("/upload", content=b"x" * 100)).json() == {"size": 100}
        response = await client.post("/upload", content=b"x" * 101)
    assert response.status_code == 413
    assert response.json() == {"status": 413, "detail": "Request body larger than 100 bytes"}


async def test_a_client_gone_mid_body_is_a_disconnect_on_every_path(serve_http1):
    app = App()
    seen: List[str] = []
    done = asyncio.Event()

    @app.post("/slow")
    async def slow(request: Request) -> dict:
        try:
            await request.body()
        except ClientDisconnect:
            seen.append("disconnect")
            done.set()
            raise
        return {"read": True}

    served = await serve_http1(app)
    host, port = served.url.split("//")[1].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /slow HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n" + b"y" * 10)
    await writer.drain()
    await asyncio.sleep(0.05)  # the handler waits for the rest of the body
    writer.close()
    await asyncio.wait_for(done.wait(), 5)
    assert seen == ["disconnect"]


@pytest.fixture
def access():
    """Every ``pyre.access`` record of the test."""
    records: List[logging.LogRecord] = []

    class Records(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("pyre.access")
    saved = (logger.handlers, logger.propagate, logger.level, logger.disabled)
    logger.handlers, logger.propagate, logger.disabled = [Records()], False, False
    logger.setLevel(logging.INFO)
    yield records
    logger.handlers, logger.propagate, _, logger.disabled = saved
    logger.setLevel(saved[2])


async def _until(predicate: Any) -> None:
    async with asyncio.timeout(5):
        while not predicate():
            await asyncio.sleep(0.005)


async def test_access_log_lines_are_the_same_on_both_pyre_paths(serve_pyre, access):
    served = await serve_pyre(fields_app())
    async with served.client() as client:
        await client.get("/p/fields?a=1", headers={"x-forwarded-for": "203.0.113.7", "x-request-id": "r1"})
        await client.post("/upload", content=b"x" * 101)
    await _until(lambda: len(access) == 2)
    version = "2" if served.http2 else "1.1"
    got = [{k: f[k] for k in ("client", "method", "path", "status", "request_id", "http_version")}
           for f in (record.pyre for record in access)]  # type: ignore[attr-defined]
    assert got[0] == {"client": "203.0.113.7:0", "method": "GET", "path": "/p/fields?a=1", "status": 200,
                      "request_id": "r1", "http_version": version}
    assert got[1]["status"] == 413 and got[1]["path"] == "/upload"


def _requests_total(text: str) -> Dict[str, float]:
    totals: Dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "pyre_requests_total":
                status = sample.labels.get("status", "")
                totals[status] = totals.get(status, 0) + sample.value
    return totals


async def test_metrics_count_requests_the_same_on_both_pyre_paths(serve_pyre):
    served = await serve_pyre(fields_app(), metrics_port=0)
    async with served.client() as client:
        for _ in range(3):
            assert (await client.get("/unread")).status_code == 200
        assert (await client.get("/nowhere")).status_code == 404
    url = f"http://127.0.0.1:{served.server.metrics_port}/metrics"
    async with httpx.AsyncClient(timeout=5) as scraper:
        totals: Dict[str, float] = {}

        async def counted() -> bool:
            totals.update(_requests_total((await scraper.get(url)).text))
            return sum(totals.values()) >= 4

        async with asyncio.timeout(10):
            while not await counted():
                await asyncio.sleep(0.2)
    assert totals == {"200": 3, "404": 1}


async def test_the_shutdown_deadline_answers_503_on_both_pyre_paths(serve_pyre):
    app = App()
    cancelled = asyncio.Event()

    @app.get("/forever")
    async def forever(request: Request) -> dict:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return {}

    served = await serve_pyre(app, timeout_graceful_shutdown=0.3)
    async with served.client() as client:
        pending = asyncio.ensure_future(client.get("/forever"))
        await asyncio.sleep(0.2)  # the handler waits
        await served.stop()
        response = await pending
    assert cancelled.is_set()
    assert (response.status_code, response.text) == (503, "Service Unavailable\n")
