"""Handler plans: built once per endpoint, the direct call for the common shapes, signatures
refused with one line, and the extractor seam that typed inputs plug into."""

from __future__ import annotations

import asyncio
import functools
import inspect
import uuid
from typing import Annotated, Any, Optional, Union

import pytest

from pyre import _accel
from pyre.web import App, Request, SignatureError
from pyre.web.callables import callable_name, is_async_callable
from pyre.web.handlers import DEFAULT_BINDERS, BindContext, build_plan
from tests.web.app_client import call


def context(pattern="/x", path_params=None, name="h"):
    return BindContext(name, pattern, path_params or {}, (_accel.Request,), ("request",))


class FakeConnection:
    def __init__(self, **params):
        self.path_params = params


def run(plan, connection):
    return asyncio.run(_await(plan.call(connection)))


async def _await(awaitable):
    return await awaitable


def test_the_request_only_shape_calls_the_endpoint_itself():
    async def handler(request):
        return request

    plan = build_plan(handler, context())
    assert plan.call is handler and plan.is_async and plan.hooks is None
    connection = FakeConnection()
    assert run(plan, connection) is connection
    assert repr(plan) == "<HandlerPlan h(request)>"


def test_request_and_all_path_params_are_passed_by_keyword():
    async def handler(request: Request, item_id: int, tag):
        return (request, item_id, tag)

    plan = build_plan(handler, context("/i/{item_id:int}/{tag}", {"item_id": int, "tag": str}))
    connection = FakeConnection(item_id=3, tag="t")
    assert run(plan, connection) == (connection, 3, "t")
    assert [name for name, _ in plan.parameters] == ["request", "item_id", "tag"]


def test_params_only_no_params_and_a_subset_of_params():
    async def only(item_id: int):
        return item_id

    async def nothing():
        return "none"

    async def subset(request, a):
        return a

    params = {"a": str, "b": str}
    assert run(build_plan(only, context(path_params={"item_id": int})), FakeConnection(item_id=5)) == 5
    assert run(build_plan(nothing, context()), FakeConnection()) == "none"
    assert run(build_plan(subset, context(path_params=params)), FakeConnection(a="1", b="2")) == "1"


def test_kwargs_positional_only_and_keyword_only():
    async def rest(request, a, **others):
        return a, others

    async def positional(request, /, a):
        return request, a

    async def keyword_only(*, request, a):
        return request, a

    params = {"a": str, "b": str, "c": str}
    connection = FakeConnection(a="1", b="2", c="3")
    assert run(build_plan(rest, context(path_params=params)), connection) == ("1", {"b": "2", "c": "3"})
    assert run(build_plan(positional, context(path_params={"a": str})), FakeConnection(a="x"))[1] == "x"
    assert run(build_plan(keyword_only, context(path_params={"a": str})), FakeConnection(a="y"))[1] == "y"


def test_sync_handlers_and_callable_objects_and_partials():
    def sync(request, a):
        return ("sync", a)

    class Callable:
        async def __call__(self, request):
            return "object"

    async def with_default(request, a, extra):
        return extra

    partial = functools.partial(with_default, extra="bound")
    assert not is_async_callable(sync) and is_async_callable(Callable()) and is_async_callable(partial)
    assert run(build_plan(sync, context(path_params={"a": str})), FakeConnection(a="1")) == ("sync", "1")
    assert run(build_plan(Callable(), context()), FakeConnection()) == "object"
    assert run(build_plan(partial, context(path_params={"a": str})), FakeConnection(a="1")) == "bound"
    assert callable_name(partial) == f"{__name__}.test_sync_handlers_and_callable_objects_and_partials.<locals>.with_default"
    assert callable_name(Callable()).endswith("Callable")


@pytest.mark.parametrize(
    "annotation, value_type, ok",
    [
        (int, int, True),
        (float, int, True),  # the numeric tower
        (Optional[int], int, True),
        (Union[str, int], int, True),
        (Annotated[int, "meta"], int, True),
        (Any, int, True),
        (object, uuid.UUID, True),
        ("SomethingUnresolved", int, True),
        (str, int, False),
        (int, str, False),
        (uuid.UUID, str, False),
        (Optional[str], int, False),
        (int, Any, True),  # a user converter without a return annotation
    ],
)
def test_path_parameter_annotations_must_accept_the_converters_type(annotation, value_type, ok):
    def make():
        async def handler(request, x):
            return x

        handler.__annotations__ = {"x": annotation}
        return build_plan(handler, context("/{x}", {"x": value_type}))

    if ok:
        make()
    else:
        with pytest.raises(SignatureError, match="parameter 'x' is annotated"):
            make()


def test_the_connection_by_annotation_or_name():
    async def named(req: Request):
        return req

    async def by_string(req: "Request"):
        return req

    async def wrong(request: int):
        return request

    connection = FakeConnection()
    assert run(build_plan(named, context()), connection) is connection
    by_string.__annotations__ = {"req": "pyre.web.Request"}
    assert run(build_plan(by_string, context()), connection) is connection
    with pytest.raises(SignatureError, match="parameter 'request' is neither the request nor a path parameter"):
        build_plan(wrong, context())


def test_unbindable_signatures_are_refused_with_one_line():
    async def star(request, *args):
        return args

    with pytest.raises(SignatureError) as info:
        build_plan(star, context(name="mod.star"))
    assert str(info.value) == "handler mod.star (route '/x'): parameter 'args' is *args: a handler's parameters are bound by name"
    with pytest.raises(SignatureError, match="is not callable"):
        build_plan(42, context())  # type: ignore[arg-type]
    with pytest.raises(SignatureError, match="cannot read its signature"):
        build_plan(range, context())


# -- the extractor seam --------------------------------------------------------------------------------


class QueryValue:
    """What issue 16's query extractor will look like: reads one query parameter, lazily."""

    is_async = False

    def __init__(self, name, convert):
        self.name = name
        self.convert = convert

    def extract(self, request):
        return self.convert(request.query.get(self.name, "1"))


class JSONBody:
    """An extractor that awaits (the body)."""

    is_async = True

    def extract(self, request):
        return request.json()


def bind_query(parameter: inspect.Parameter, context: BindContext):
    if parameter.annotation in (int, str) and parameter.name not in context.path_params:
        return QueryValue(parameter.name, parameter.annotation)
    return None


def bind_body(parameter: inspect.Parameter, context: BindContext):
    return JSONBody() if parameter.name == "payload" else None


async def test_a_binder_plugs_extractors_into_the_plan(monkeypatch):
    import json

    from pyre.web import handlers

    monkeypatch.setattr(handlers, "DEFAULT_BINDERS", DEFAULT_BINDERS + (bind_query, bind_body))

    async def handler(request, item_id: int, page: int, payload):
        return {"item": item_id, "page": page, "payload": payload}

    app = App()
    app.add("/items/{item_id:int}", handler, methods=["POST"])
    client = await call(app, "POST", "/items/4", query=b"page=3", body=b'{"a": 1}')
    assert json.loads(client.body) == {"item": 4, "page": 3, "payload": {"a": 1}}
    plan = app.routes[0][1].methods["POST"]
    assert [type(extractor).__name__ for _, extractor in plan.parameters] == ["_Connection", "_PathParameter", "QueryValue", "JSONBody"]


def test_a_parameter_no_binder_takes_keeps_its_default():
    async def handler(request, page: int = 1):
        return page

    plan = build_plan(handler, context())
    assert [name for name, _ in plan.parameters] == ["request"] and run(plan, FakeConnection()) == 1
