"""Property tests (issue 16): over generated handler signatures (query, header and cookie
inputs of several types, with constraints, defaults and Optional) and generated requests,
the plan's arguments or 422 locations equal those of a straightforward reference binder."""

import asyncio
import inspect
import re
from typing import Annotated, List, Optional
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyre.web.di import request_binders
from pyre.web.handlers import BindContext, build_plan
from pyre.web.params import MISSING, Cookie, Header, Query
from pyre.web.request import Request
from pyre.web.validation import RequestValidationError

KINDS = ["int", "float", "bool", "str", "list[int]"]
MARKERS = {"query": Query, "header": Header, "cookie": Cookie}
TYPES = {"int": int, "float": float, "bool": bool, "str": str, "list[int]": List[int]}


@st.composite
def specs(draw):
    """One parameter: (name, location, kind, optional, default, constraints)."""
    location = draw(st.sampled_from(["query", "header", "cookie"]))
    kind = draw(st.sampled_from(KINDS if location != "cookie" else KINDS[:-1]))
    optional = draw(st.booleans())
    constraints = {}
    if kind in ("int", "float", "list[int]") and draw(st.booleans()):
        constraints["ge"] = draw(st.integers(-5, 5))
    if kind in ("int", "float") and draw(st.booleans()):
        constraints["le"] = draw(st.integers(0, 50))
    if kind == "str" and draw(st.booleans()):
        constraints["min_length"] = draw(st.integers(0, 3))
        constraints["max_length"] = draw(st.integers(3, 6))
    if kind == "list[int]" and draw(st.booleans()):
        constraints["max_length"] = draw(st.integers(1, 3))
    default = MISSING
    if draw(st.booleans()):
        default = {"int": 7, "float": 1.5, "bool": True, "str": "d", "list[int]": []}[kind]
    return location, kind, optional, default, constraints


TEXT = st.text(alphabet="0123456789-+.xaeyt", max_size=5)
BOOL_TEXT = st.sampled_from(["true", "false", "1", "0", "yes", "no", "on", "off", "TRUE", "maybe", "", "2"])


def value_strategy(kind):
    if kind == "bool":
        return st.one_of(BOOL_TEXT, TEXT)
    if kind == "str":
        return st.text(alphabet="abcXYZ0-_.", max_size=7)
    return st.one_of(st.integers(-20, 60).map(str), st.floats(-20, 60, allow_nan=False).map(repr), TEXT)


# -- the reference binder -------------------------------------------------------------------------


def reference_scalar(kind, text, constraints):
    """(value, None) or (None, error type)."""
    if kind == "int":
        if not re.fullmatch(r"[+-]?[0-9]+", text):
            return None, "int_parsing"
        value = int(text)
    elif kind == "float":
        if not re.fullmatch(r"\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*", text):
            return None, "float_parsing"
        value = float(text)
    elif kind == "bool":
        lowered = text.lower()
        if lowered in ("true", "1", "yes", "on"):
            value = True
        elif lowered in ("false", "0", "no", "off"):
            value = False
        else:
            return None, "bool_parsing"
    else:
        value = text
    if "ge" in constraints and not value >= constraints["ge"]:
        return None, "greater_than_equal"
    if "le" in constraints and not value <= constraints["le"]:
        return None, "less_than_equal"
    if "min_length" in constraints and len(value) < constraints["min_length"]:
        return None, "too_short"
    if "max_length" in constraints and len(value) > constraints["max_length"]:
        return None, "too_long"
    return value, None


def reference_bind(parameters, sent):
    """``parameters``: name -> spec; ``sent``: name -> list of texts sent. Returns the
    arguments, or the sorted 422 locations."""
    arguments, errors = {}, []
    for name, (location, kind, optional, default, constraints) in parameters.items():
        wire = name.replace("_", "-") if location == "header" else name
        texts = sent.get(name, [])
        if not texts:
            if default is not MISSING:
                arguments[name] = default
            elif optional:
                arguments[name] = None
            else:
                errors.append([location, wire])
            continue
        if kind == "list[int]":
            values, failed = [], False
            for index, text in enumerate(texts):
                value, error = reference_scalar("int", text, {"ge": constraints["ge"]} if "ge" in constraints else {})
                if error:
                    errors.append([location, wire, index])
                    failed = True
                values.append(value)
            if not failed:
                if "max_length" in constraints and len(values) > constraints["max_length"]:
                    errors.append([location, wire])
                else:
                    arguments[name] = values
            continue
        value, error = reference_scalar(kind, texts[-1], constraints)
        if error:
            errors.append([location, wire])
        else:
            arguments[name] = value
    return (arguments, None) if not errors else (None, sorted(errors, key=repr))


# -- the plan -------------------------------------------------------------------------------------


def make_handler(parameters):
    async def handler(**arguments):
        return arguments

    signature, annotations = [], {}
    for name, (location, kind, optional, default, constraints) in parameters.items():
        annotation = TYPES[kind]
        if optional:
            annotation = Optional[annotation]
        annotations[name] = Annotated[annotation, MARKERS[location](default, **constraints)]
        signature.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotations[name]))
    handler.__signature__ = inspect.Signature(signature)
    handler.__annotations__ = annotations
    return handler


def request_for(parameters, sent):
    query, headers, cookies = [], [], []
    for name, texts in sent.items():
        location = parameters[name][0]
        for text in texts:
            if location == "query":
                query.append((name, text))
            elif location == "header":
                headers.append((name.replace("_", "-").encode(), text.encode()))
        if location == "cookie" and texts:
            cookies.append(f"{name}={texts[-1]}")
    if cookies:
        headers.append((b"cookie", "; ".join(cookies).encode()))
    scope = {"type": "http", "method": "GET", "path": "/", "query_string": urlencode(query).encode(), "headers": headers}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    request = Request(scope, receive)
    return request


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_plan_binds_like_the_reference_binder(data):
    specs_list = data.draw(st.lists(specs(), min_size=1, max_size=5))
    parameters = {f"p_{index}": spec for index, spec in enumerate(specs_list)}
    sent = {}
    for name, (location, kind, optional, default, constraints) in parameters.items():
        if location == "header" and kind == "str":
            strategy = st.text(alphabet="abcXYZ0-_.", min_size=1, max_size=7)  # a header value is never empty here
        else:
            strategy = value_strategy(kind)
        if location == "cookie":
            strategy = strategy.filter(lambda text: text.strip() == text and text != "")
        if location == "header":
            strategy = strategy.filter(lambda text: text.strip() == text and text != "")
        many = kind == "list[int]" or location == "query"
        texts = data.draw(st.lists(strategy, max_size=3 if many else 1))
        if location == "cookie":
            texts = texts[-1:]
        if texts:
            sent[name] = texts
    context = BindContext("generated", "/", {}, (Request,), ("request",))
    plan = build_plan(make_handler(parameters), context, request_binders())
    expected, expected_errors = reference_bind(parameters, sent)
    try:
        result = asyncio.run(plan.call(request_for(parameters, sent)))
    except RequestValidationError as exc:
        locations = sorted((error["loc"] for error in exc.errors), key=repr)
        assert expected_errors == locations, (parameters, sent, exc.errors)
        return
    assert expected_errors is None, (parameters, sent, result)
    assert result == expected, (parameters, sent)
