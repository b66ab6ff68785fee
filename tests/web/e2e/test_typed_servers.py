"""Typed inputs, validation errors, dependencies and the OpenAPI page over real sockets,
under Pyre (HTTP/1.1, HTTP/2) and uvicorn (issue 16)."""

from typing import Annotated, AsyncIterator, Iterator, List

import msgspec
from openapi_spec_validator import validate

from pyre.web import App, Depends, Header, Provide, Query, Request, UploadFile
from pyre.web.openapi import OpenAPI


class Line(msgspec.Struct):
    sku: str
    qty: Annotated[int, msgspec.Meta(ge=1)]


class Order(msgspec.Struct):
    customer: str
    lines: List[Line]


class Receipt(msgspec.Struct):
    order_id: int
    customer: str
    count: int
    tenant: int
    session: str


def build_app(events: list) -> App:
    def pool() -> Iterator[str]:
        events.append("pool open")
        yield "pool"
        events.append("pool closed")

    async def session(pool: str) -> AsyncIterator[str]:
        events.append("session open")
        try:
            yield f"session on {pool}"
        finally:
            events.append("session closed")

    app = App(dependencies={"pool": Provide(pool, scope="app")})

    @app.post("/orders/{order_id:int}")
    async def create(
        order_id: int,
        order: Order,
        x_tenant: Annotated[int, Header(ge=1)],
        limit: Annotated[int, Query(le=10)] = 5,
        db: str = Depends(session),
    ) -> Receipt:
        return Receipt(order_id, order.customer, len(order.lines), x_tenant, db)

    @app.post("/upload")
    async def upload(doc: UploadFile, request: Request) -> dict:
        return {"name": doc.filename, "size": len(await doc.read())}

    OpenAPI(title="e2e", version="1").mount(app)
    return app


async def test_typed_inputs_dependencies_and_openapi_end_to_end(serve):
    events: list = []
    served = await serve(build_app(events))
    order = {"customer": "ann", "lines": [{"sku": "a", "qty": 2}]}
    async with served.client() as client:
        ok = await client.post("/orders/3?limit=2", json=order, headers={"x-tenant": "7"})
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"order_id": 3, "customer": "ann", "count": 1, "tenant": 7, "session": "session on pool"}
        bad = await client.post("/orders/3?limit=20", json={"customer": "ann", "lines": [{"sku": "a", "qty": 0}]})
        assert bad.status_code == 422
        assert [error["loc"] for error in bad.json()["detail"]] == [
            ["body", "lines", 0, "qty"], ["header", "x-tenant"], ["query", "limit"]
        ]
        assert (await client.post("/orders/3", content=b"{", headers={"content-type": "application/json", "x-tenant": "1"})).status_code == 400
        assert (await client.post("/orders/3", content=b"x", headers={"content-type": "text/plain", "x-tenant": "1"})).status_code == 415
        uploaded = await client.post("/upload", files={"doc": ("d.txt", b"hello world")})
        assert uploaded.json() == {"name": "d.txt", "size": 11}
        document = (await client.get("/openapi.json")).json()
        validate(document)
        assert set(document["paths"]) == {"/orders/{order_id}", "/upload"}
        assert (await client.get("/docs/assets/swagger-ui-bundle.js")).status_code == 200
    # the request-scoped session is torn down after each request, the failed ones too
    assert events.count("session open") == events.count("session closed") >= 1
    await served.stop()
    assert events[0] == "pool open" and events[-1] == "pool closed" and events.count("pool open") == 1
