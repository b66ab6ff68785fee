"""OpenAPI 3.1 (issue 16 item 5): the document from routes, resources, controllers and
types; served at /openapi.json with a Swagger UI page from an installed package; valid under
openapi-spec-validator (tests/web/conftest.py checks every test app's document too)."""

from __future__ import annotations

import dataclasses
import os
from typing import Annotated, List, Optional

import httpx
import msgspec
import pydantic
import pytest
from openapi_spec_validator import validate

from pyre.web import App, Controller, Depends, Request, Resource, UploadFile
from pyre.web.openapi import OpenAPI, operation, swagger_ui_directory
from pyre.web.params import Cookie, Form, Header, Query


async def call(app, method, path, **kwargs):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        return await c.request(method, path, **kwargs)


class Item(msgspec.Struct):
    name: str
    price: Annotated[float, msgspec.Meta(ge=0)]


@dataclasses.dataclass
class Note:
    text: str


class Account(pydantic.BaseModel):
    owner: str
    balance: int = 0


def current_user(authorization: Annotated[str, Header(description="Bearer token")]) -> str:
    return authorization


class Items(Resource):
    tags = ["items"]
    security = [{"bearer": []}]

    async def get(self, request: Request, item_id: int) -> Item:
        """Read one item."""
        return Item("a", 1.0)

    async def delete(self, request: Request, item_id: int) -> None:
        return None


def shop_app() -> App:
    app = App()

    @app.get("/search")
    async def search(
        q: Annotated[str, Query(min_length=1, description="what to look for")],
        limit: Annotated[int, Query(ge=1, le=50)] = 10,
        tags: Annotated[List[str], Query(max_length=3)] = [],
        session: Annotated[Optional[str], Cookie()] = None,
        user: str = Depends(current_user),
    ) -> List[Item]:
        """Search the catalogue.

        Every item whose name matches."""
        return []

    @app.post("/notes")
    @operation(tags=["notes"], responses={409: "a note with that text exists"})
    async def add_note(note: Note) -> Note:
        return note

    @app.post("/accounts")
    async def open_account(account: Account) -> Account:
        return account

    @app.post("/upload")
    async def upload(doc: UploadFile, title: Annotated[str, Form()] = "") -> dict:
        return {}

    @app.get("/hidden")
    @operation(include_in_schema=False)
    async def hidden(request: Request) -> dict:
        return {}

    api = Controller("/api", name="api")
    api.add("/items/{item_id:int}", Items)
    app.include(api)
    OpenAPI(
        title="Shop",
        version="2.0",
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
    ).mount(app)
    return app


async def test_the_document_is_served_and_valid():
    app = shop_app()
    response = await call(app, "GET", "/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    document = response.json()
    validate(document)
    assert document["openapi"] == "3.1.0" and document["info"] == {"title": "Shop", "version": "2.0"}
    assert set(document["paths"]) == {"/search", "/notes", "/accounts", "/upload", "/api/items/{item_id}"}
    assert document["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}


async def test_operations_parameters_and_responses():
    document = (await call(shop_app(), "GET", "/openapi.json")).json()
    search = document["paths"]["/search"]["get"]
    assert search["operationId"] == "search"
    assert search["summary"] == "Search the catalogue." and search["description"] == "Every item whose name matches."
    parameters = {(p["in"], p["name"]): p for p in search["parameters"]}
    assert set(parameters) == {("query", "q"), ("query", "limit"), ("query", "tags"), ("cookie", "session"), ("header", "authorization")}
    assert parameters[("query", "q")]["required"] is True
    assert parameters[("query", "q")]["description"] == "what to look for"
    assert parameters[("query", "limit")]["schema"] == {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}
    assert parameters[("query", "tags")]["schema"]["maxItems"] == 3
    assert parameters[("header", "authorization")]["required"] is True  # from the dependency
    assert search["responses"]["200"]["content"]["application/json"]["schema"] == {
        "type": "array", "items": {"$ref": "#/components/schemas/Item"}
    }
    assert search["responses"]["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ValidationError"}
    item = document["components"]["schemas"]["Item"]
    assert item["required"] == ["name", "price"] and item["properties"]["price"]["minimum"] == 0


async def test_bodies_tags_security_and_resources():
    document = (await call(shop_app(), "GET", "/openapi.json")).json()
    schemas = document["components"]["schemas"]
    note = document["paths"]["/notes"]["post"]
    assert note["tags"] == ["notes"] and note["responses"]["409"] == {"description": "a note with that text exists"}
    assert note["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Note"}
    account = document["paths"]["/accounts"]["post"]
    assert account["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Account"}
    assert schemas["Account"]["required"] == ["owner"]
    upload = document["paths"]["/upload"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert upload["required"] == ["doc"] and set(upload["properties"]) == {"doc", "title"}
    items = document["paths"]["/api/items/{item_id}"]
    assert set(items) == {"get", "delete"}  # HEAD and OPTIONS are the app's own
    assert items["get"]["operationId"] == "Items_get" and items["get"]["tags"] == ["items"]
    assert items["get"]["security"] == [{"bearer": []}]
    assert items["get"]["parameters"] == [{"name": "item_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    assert "204" in items["delete"]["responses"]
    assert "422" not in items["get"]["responses"]  # nothing validated beyond the route's converter


async def test_operation_ids_are_unique_and_the_controller_names_the_tag():
    app = App()
    one, two = Controller("/one", name="first"), Controller("/two")

    async def listing(request: Request) -> dict:
        return {}

    one.add("/x", listing)
    two.add("/x", listing)
    app.include(one)
    app.include(two)
    document = OpenAPI().document(app)
    validate(document)
    ids = [document["paths"][path]["get"]["operationId"] for path in ("/one/x", "/two/x")]
    assert len(set(ids)) == 2
    assert document["paths"]["/one/x"]["get"]["tags"] == ["first"]


async def test_the_page_is_served_from_the_installed_package_not_a_cdn():
    app = shop_app()
    page = await call(app, "GET", "/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="/docs/assets/swagger-ui-bundle.js"' in page.text and 'url: "/openapi.json"' in page.text
    assert "http://" not in page.text and "https://" not in page.text
    script = await call(app, "GET", "/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200
    with open(os.path.join(swagger_ui_directory(), "swagger-ui-bundle.js"), "rb") as installed:
        assert script.content == installed.read()
    assert (await call(app, "GET", "/docs/assets/swagger-ui.css")).status_code == 200


async def test_the_page_honours_the_root_path_and_can_be_left_out():
    app = shop_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, root_path="/shop"), base_url="http://test") as c:
        page = await c.get("/shop/docs")
    assert 'src="/shop/docs/assets/swagger-ui-bundle.js"' in page.text and 'url: "/shop/openapi.json"' in page.text
    bare = App()
    OpenAPI(docs_path=None).mount(bare)
    assert (await call(bare, "GET", "/docs")).status_code == 404
    assert (await call(bare, "GET", "/openapi.json")).json()["paths"] == {}


def test_a_missing_swagger_package_is_named(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match=r"pip install 'pyre-server\[openapi\]'"):
        OpenAPI().mount(App())
