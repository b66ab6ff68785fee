"""Typed inputs (issue 16, items 1-3): markers, inference, conversion, constraints, the 422
shape, 415 and 400, typed returns, and signatures refused at startup."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import uuid
from typing import Annotated, List, Literal, Optional, TypedDict

import httpx
import msgspec
import pydantic
import pytest

from pyre.web import App, Request, SignatureError, UploadFile
from pyre.web.params import Body, Cookie, File, Form, Header, Path, Query


def client(app):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def call(app, method, path, **kwargs):
    async with client(app) as c:
        return await c.request(method, path, **kwargs)


class Item(msgspec.Struct):
    name: str
    price: float
    tags: List[str] = []


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Movie(TypedDict):
    title: str
    year: int


class User(pydantic.BaseModel):
    name: str
    age: int = pydantic.Field(ge=0)


@dataclasses.dataclass
class Login:
    user: str
    remember: bool = False


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


# -- query, header, cookie, path ------------------------------------------------------------------


async def test_query_parameters_by_marker_by_type_and_by_default():
    app = App()

    @app.get("/search")
    async def search(
        q: str,
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        page: int = Query(1, ge=1),
        exact: bool = False,
        ratio: Optional[float] = None,
        tags: List[str] = Query([]),
    ) -> dict:
        return {"q": q, "limit": limit, "page": page, "exact": exact, "ratio": ratio, "tags": tags}

    response = await call(app, "GET", "/search?q=shoes&limit=5&exact=true&tags=a&tags=b&ratio=0.5")
    assert response.json() == {"q": "shoes", "limit": 5, "page": 1, "exact": True, "ratio": 0.5, "tags": ["a", "b"]}
    response = await call(app, "GET", "/search?q=x")
    assert response.json() == {"q": "x", "limit": 10, "page": 1, "exact": False, "ratio": None, "tags": []}


async def test_alias_and_richer_scalar_types():
    app = App()

    @app.get("/r")
    async def rich(
        item_id: Annotated[uuid.UUID, Query(alias="item-id")],
        when: datetime.date,
        color: Color,
        mode: Literal["fast", "slow"] = "fast",
    ) -> dict:
        return {"id": str(item_id), "when": when.isoformat(), "color": color.value, "mode": mode}

    some = uuid.uuid4()
    response = await call(app, "GET", f"/r?item-id={some}&when=2026-12-06&color=blue&mode=slow")
    assert response.status_code == 200, response.text
    assert response.json() == {"id": str(some), "when": "2026-12-06", "color": "blue", "mode": "slow"}
    bad = await call(app, "GET", "/r?item-id=nope&when=x&color=green&mode=medium")
    assert bad.status_code == 422
    assert [error["loc"] for error in bad.json()["detail"]] == [
        ["query", "item-id"], ["query", "when"], ["query", "color"], ["query", "mode"]
    ]


async def test_headers_and_cookies_are_read_by_name():
    app = App()

    @app.get("/h")
    async def headers(
        user_agent: Annotated[str, Header()],
        x_count: int = Header(0),
        raw_name: Annotated[str, Header(alias="X-Raw")] = "",
        session: Annotated[Optional[str], Cookie()] = None,
    ) -> dict:
        return {"ua": user_agent, "count": x_count, "raw": raw_name, "session": session}

    response = await call(app, "GET", "/h", headers={"user-agent": "t/1", "x-count": "3", "x-raw": "r", "cookie": "session=abc"})
    assert response.json() == {"ua": "t/1", "count": 3, "raw": "r", "session": "abc"}
    missing = await call(app, "GET", "/h", headers={"user-agent": "t/1", "x-count": "three"})
    assert missing.status_code == 422
    assert missing.json()["detail"] == [{"loc": ["header", "x-count"], "msg": "Input should be a valid integer", "type": "int_parsing"}]


async def test_path_marker_checks_constraints_on_the_converted_value():
    app = App()

    @app.get("/items/{item_id:int}")
    async def item(item_id: Annotated[int, Path(ge=1)], request: Request) -> dict:
        return {"id": item_id}

    assert (await call(app, "GET", "/items/4")).json() == {"id": 4}
    response = await call(app, "GET", "/items/0")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "item_id"]


async def test_constraints_on_strings_and_lists():
    app = App()

    @app.get("/s")
    async def strings(
        code: Annotated[str, Query(min_length=2, max_length=4, pattern="[A-Z]+")],
        ids: Annotated[List[int], Query(min_length=1, ge=0)],
    ) -> dict:
        return {"code": code, "ids": ids}

    assert (await call(app, "GET", "/s?code=AB&ids=1&ids=2")).json() == {"code": "AB", "ids": [1, 2]}
    response = await call(app, "GET", "/s?code=abcdef&ids=1&ids=-2&ids=x")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [(error["loc"], error["type"]) for error in detail] == [
        (["query", "code"], "too_long"),
        (["query", "ids", 1], "greater_than_equal"),
        (["query", "ids", 2], "int_parsing"),
    ]


# -- the 422 shape ----------------------------------------------------------------------------------


async def test_every_failed_location_is_reported_in_one_422():
    app = App()

    @app.post("/orders/{order_id:int}")
    async def order(
        order_id: Annotated[int, Path(le=100)],
        item: Item,
        limit: Annotated[int, Query(ge=1)],
        x_trace: Annotated[int, Header()],
    ) -> dict:
        return {}

    response = await call(app, "POST", "/orders/500?limit=0", json={"name": "a", "price": "free"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "status": 422,
        "detail": [
            {"loc": ["path", "order_id"], "msg": "Input should be less than or equal to 100", "type": "less_than_equal"},
            {"loc": ["body", "price"], "msg": "Expected `float`, got `str`", "type": "value_error"},
            {"loc": ["query", "limit"], "msg": "Input should be greater than or equal to 1", "type": "greater_than_equal"},
            {"loc": ["header", "x-trace"], "msg": "Field required", "type": "missing"},
        ],
    }


async def test_a_missing_body_field_names_the_field():
    app = App()

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    response = await call(app, "POST", "/items", json={"price": 1})
    assert response.json()["detail"] == [{"loc": ["body", "name"], "msg": "Field required", "type": "value_error"}]
    nested = await call(app, "POST", "/items", json={"name": "a", "price": 1, "tags": ["x", 2]})
    assert nested.json()["detail"][0]["loc"] == ["body", "tags", 1]
    empty = await call(app, "POST", "/items")
    assert empty.json()["detail"] == [{"loc": ["body"], "msg": "Field required", "type": "missing"}]


# -- bodies -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "annotation, payload, expected",
    [
        (Item, {"name": "a", "price": 2}, {"name": "a", "price": 2.0, "tags": []}),
        (Point, {"x": 1, "y": 2}, {"x": 1, "y": 2}),
        (Movie, {"title": "M", "year": 1999}, {"title": "M", "year": 1999}),
        (List[Point], [{"x": 1, "y": 2}], [{"x": 1, "y": 2}]),
        (dict, {"any": ["thing"]}, {"any": ["thing"]}),
        (User, {"name": "ann", "age": 3}, {"name": "ann", "age": 3}),
    ],
    ids=["struct", "dataclass", "typeddict", "list-of-dataclass", "dict", "pydantic"],
)
async def test_body_types(annotation, payload, expected):
    app = App()

    async def handler(body):
        if isinstance(body, pydantic.BaseModel):
            return body.model_dump()
        return msgspec.to_builtins(body)

    handler.__annotations__ = {"body": annotation, "return": "dict"}
    app.add("/b", handler, methods=["POST"])
    response = await call(app, "POST", "/b", json=payload)
    assert response.status_code == 200, response.text
    assert response.json() == expected


async def test_pydantic_errors_report_every_location():
    app = App()

    @app.post("/users")
    async def create(user: User) -> User:
        return user

    response = await call(app, "POST", "/users", json={"age": -1})
    assert response.status_code == 422
    locs = sorted(error["loc"] for error in response.json()["detail"])
    assert locs == [["body", "age"], ["body", "name"]]
    ok = await call(app, "POST", "/users", json={"name": "ann", "age": 5})
    assert ok.json() == {"name": "ann", "age": 5}


async def test_explicit_body_marker_with_a_scalar_type_and_json_suffix_media_types():
    app = App()

    @app.put("/count")
    async def count(value: Annotated[int, Body(ge=0)]) -> dict:
        return {"value": value}

    assert (await call(app, "PUT", "/count", content=b"7", headers={"content-type": "application/merge-patch+json"})).json() == {"value": 7}
    assert (await call(app, "PUT", "/count", content=b"-1", headers={"content-type": "application/json"})).status_code == 422


async def test_415_for_another_media_type_and_400_for_malformed_json():
    app = App()

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    response = await call(app, "POST", "/items", content=b"name=a", headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415
    malformed = await call(app, "POST", "/items", content=b'{"name": ', headers={"content-type": "application/json"})
    assert malformed.status_code == 400
    assert malformed.json()["detail"].startswith("Invalid JSON body")


async def test_form_fields_models_and_files():
    app = App()

    @app.post("/form")
    async def form(name: Annotated[str, Form()], age: Annotated[int, Form(ge=0)]) -> dict:
        return {"name": name, "age": age}

    @app.post("/login")
    async def login(data: Annotated[Login, Form()]) -> dict:
        return dataclasses.asdict(data)

    @app.post("/upload")
    async def upload(doc: UploadFile, raw: Annotated[bytes, File()], note: Annotated[str, Form()] = "") -> dict:
        return {"name": doc.filename, "size": len(await doc.read()), "raw": raw.decode(), "note": note}

    assert (await call(app, "POST", "/form", data={"name": "ann", "age": "4"})).json() == {"name": "ann", "age": 4}
    bad = await call(app, "POST", "/form", data={"name": "ann", "age": "-4"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["form", "age"]
    assert (await call(app, "POST", "/form", json={"name": "ann"})).status_code == 415
    assert (await call(app, "POST", "/login", data={"user": "u", "remember": "true"})).json() == {"user": "u", "remember": True}
    files = {"doc": ("a.txt", b"hello", "text/plain"), "raw": ("b.bin", b"xyz", "application/octet-stream")}
    response = await call(app, "POST", "/upload", files=files, data={"note": "n"})
    assert response.json() == {"name": "a.txt", "size": 5, "raw": "xyz", "note": "n"}
    missing = await call(app, "POST", "/upload", files={"doc": ("a.txt", b"hello")})
    assert missing.json()["detail"][0]["loc"] == ["file", "raw"]
    urlencoded = await call(app, "POST", "/upload", data={"doc": "x"})
    assert urlencoded.status_code == 415


# -- typed returns ----------------------------------------------------------------------------------


async def test_the_return_annotation_decides_the_encoding():
    app = App()

    @app.get("/struct")
    async def struct() -> Item:
        return Item("a", 1.0)

    @app.get("/models")
    async def models() -> List[User]:
        return [User(name="b", age=2)]

    @app.get("/none")
    async def nothing() -> Optional[Item]:
        return None

    response = await call(app, "GET", "/struct")
    assert response.headers["content-type"] == "application/json"
    assert response.content == b'{"name":"a","price":1.0,"tags":[]}'
    assert (await call(app, "GET", "/models")).json() == [{"name": "b", "age": 2}]
    assert (await call(app, "GET", "/none")).status_code == 204


# -- refused at startup -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "annotation, message",
    [
        ("Annotated[int, Path()]", "parameter 'value' is marked Path() but the route has no {value}"),
        ("Annotated[List[int], Cookie()]", "parameter 'value' is a cookie"),
        ("Annotated[int, File()]", "parameter 'value' is marked File()"),
    ],
)
def test_a_bad_signature_is_refused_at_startup_in_one_line(annotation, message):
    app = App()
    namespace = {"Annotated": Annotated, "List": List, "Path": Path, "Cookie": Cookie, "File": File}
    exec(f"async def broken(value: {annotation}) -> dict:\n    return {{}}", namespace)
    app.add("/x", namespace["broken"])
    with pytest.raises(SignatureError) as caught:
        app.freeze()
    text = str(caught.value)
    assert "\n" not in text and "broken" in text and message in text


def test_an_unannotated_parameter_keeps_the_old_rules():
    app = App()

    @app.get("/x")
    async def handler(request, other) -> dict:
        return {}

    with pytest.raises(SignatureError, match="parameter 'other' is neither the request nor a path parameter"):
        app.freeze()


async def test_an_undeclared_header_is_never_decoded_and_the_plain_shapes_stay_direct():
    app = App()

    @app.get("/plain")
    async def plain(request: Request) -> dict:
        return {}

    @app.get("/typed")
    async def typed(x_a: Annotated[str, Header()]) -> dict:
        return {"a": x_a}

    app.freeze()
    targets = dict(app.routes)
    assert targets["/plain"].methods["GET"].call is plain  # the fast shape: the endpoint itself
    assert (await call(app, "GET", "/typed", headers={"x-a": "1", "x-b": "2"})).json() == {"a": "1"}
