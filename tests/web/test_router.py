"""The router of pyre.web: patterns, priorities, backtracking, converters, conflicts,
bad patterns, url_for and user converters; every test runs on both twins."""

from __future__ import annotations

import sys
import uuid
from typing import Any
from urllib.parse import unquote

import pytest

from pyre._accel import NO_EXTENSIONS, load_twins
from pyre.web import converters
from pyre.web.converters import RouteError

ROUTER_TWINS = load_twins("router")


def router_module(kind: str) -> Any:
    """The compiled ("c") or pure ("py") router module, whatever PYRE_NO_EXTENSIONS says."""
    module = ROUTER_TWINS[kind]
    if module is None:
        if NO_EXTENSIONS:
            pytest.skip("the compiled router is not built and PYRE_NO_EXTENSIONS is set")
        pytest.fail("the compiled router is not built; run: python setup.py build_ext --inplace")
    return module


@pytest.fixture(params=["c", "py"])
def twin(request):
    return router_module(request.param)


@pytest.fixture
def make(twin):
    def make(*patterns: str, converters=None):
        router = twin.Router(converters)
        for pattern in patterns:
            router.add(pattern, pattern, pattern)
        return router

    return make


def target(router, path):
    found = router.match(path)
    return None if found is None else found[0]


# --- patterns and matching -------------------------------------------------------------


def test_static_paths_match_exactly(make):
    router = make("/", "/a", "/a/", "/a/b", "/caf\u00e9 au lait")
    assert router.match("/") == ("/", {})
    assert router.match("/a") == ("/a", {})
    assert router.match("/a/") == ("/a/", {})  # the trailing slash is part of the path
    assert router.match("/a/b") == ("/a/b", {})
    assert router.match("/caf\u00e9 au lait") == ("/caf\u00e9 au lait", {})
    for path in ("", "a", "/A", "/a/b/", "//", "/a//", "/b", "/a/b/c"):
        assert router.match(path) is None, path


def test_parameters_are_converted_and_named(make):
    router = make("/items/{id:int}/tags/{tag}", "/f/{x:float}", "/u/{u:uuid}", "/s/{rest:path}")
    assert router.match("/items/12/tags/red") == ("/items/{id:int}/tags/{tag}", {"id": 12, "tag": "red"})
    assert router.match("/f/2.5") == ("/f/{x:float}", {"x": 2.5})
    u = "0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    assert router.match(f"/u/{u.upper()}") == ("/u/{u:uuid}", {"u": uuid.UUID(u)})
    assert router.match("/s/a/b//c/") == ("/s/{rest:path}", {"rest": "a/b//c/"})


def test_params_are_a_new_dict_each_time(make):
    router = make("/static", "/x/{a}")
    first, second = router.match("/static")[1], router.match("/static")[1]
    assert first == {} and first is not second
    first["mutated"] = True
    assert router.match("/static") == ("/static", {})
    assert router.match("/x/1")[1] is not router.match("/x/1")[1]


def test_same_node_different_parameter_names(make):
    router = make("/a/{x}/b", "/a/{y}/c")
    assert router.match("/a/1/b") == ("/a/{x}/b", {"x": "1"})
    assert router.match("/a/1/c") == ("/a/{y}/c", {"y": "1"})


def test_empty_segments_never_match_a_one_segment_parameter(make):
    router = make("/a/{x}", "/a/{x}/b", "/n/{i:int}")
    for path in ("/a/", "/a//b", "/n/", "//", "/a//"):
        assert router.match(path) is None, path


def test_path_takes_the_rest_which_may_be_empty(make):
    router = make("/static/{p:path}")
    assert router.match("/static/") == ("/static/{p:path}", {"p": ""})
    assert router.match("/static//x") == ("/static/{p:path}", {"p": "/x"})
    assert router.match("/static") is None


def test_root_path_parameter(make):
    router = make("/{p:path}")
    assert router.match("/") == ("/{p:path}", {"p": ""})
    assert router.match("/any/thing") == ("/{p:path}", {"p": "any/thing"})
    assert router.match("") is None


# --- priorities and backtracking ----------------------------------------------------


def test_static_beats_converters_beat_str_beats_path(make):
    router = make("/a/{p:path}", "/a/{s}", "/a/{i:int}", "/a/7")
    assert target(router, "/a/7") == "/a/7"
    assert target(router, "/a/8") == "/a/{i:int}"
    assert target(router, "/a/x") == "/a/{s}"
    assert target(router, "/a/x/y") == "/a/{p:path}"
    assert target(router, "/a/") == "/a/{p:path}"


@pytest.mark.parametrize(
    "patterns, expected",
    [
        (["/a/{x:int}", "/a/{x:float}"], {"/a/3": "/a/{x:int}", "/a/3.5": "/a/{x:float}"}),
        (["/a/{x:float}", "/a/{x:int}"], {"/a/3": "/a/{x:float}", "/a/3.5": "/a/{x:float}"}),
    ],
)
def test_typed_converters_in_registration_order(make, patterns, expected):
    router = make(*patterns)
    for path, pattern in expected.items():
        assert target(router, path) == pattern


def test_str_registered_first_still_comes_after_typed(make):
    router = make("/a/{s}", "/a/{i:int}", "/a/{f:float}")
    assert router.match("/a/3") == ("/a/{i:int}", {"i": 3})
    assert router.match("/a/3.0") == ("/a/{f:float}", {"f": 3.0})
    assert router.match("/a/x") == ("/a/{s}", {"s": "x"})


def test_backtracks_from_static_when_deeper_fails(make):
    router = make("/a/b/c", "/a/{x}/d")
    assert router.match("/a/b/d") == ("/a/{x}/d", {"x": "b"})


def test_backtracks_from_typed_to_str_and_values_are_dropped(make):
    router = make("/a/{i:int}/x", "/a/{s}/y")
    assert router.match("/a/5/y") == ("/a/{s}/y", {"s": "5"})
    assert router.match("/a/5/x") == ("/a/{i:int}/x", {"i": 5})


def test_backtracks_to_path_from_deep_failures(make):
    router = make("/a/{i:int}/{j:int}/end", "/a/{rest:path}")
    assert router.match("/a/1/2/end") == ("/a/{i:int}/{j:int}/end", {"i": 1, "j": 2})
    assert router.match("/a/1/2/other") == ("/a/{rest:path}", {"rest": "1/2/other"})
    assert router.match("/a/1/x/end") == ("/a/{rest:path}", {"rest": "1/x/end"})


def test_static_prefix_of_a_param_route_backtracks_to_a_parent_param(make):
    router = make("/{a}/b/{c:int}", "/x/b/static")
    assert router.match("/x/b/7") == ("/{a}/b/{c:int}", {"a": "x", "c": 7})


# --- built-in converters --------------------------------------------------------------


@pytest.mark.parametrize("text, value", [("0", 0), ("42", 42), ("007", 7), ("9" * 100, int("9" * 100))])
def test_int_accepts_ascii_digits(make, text, value):
    assert make("/{n:int}").match(f"/{text}") == ("/{n:int}", {"n": value})


@pytest.mark.parametrize("text", ["-1", "+1", " 1", "1 ", "1_000", "1.0", "0x1", "\u0663", "\u00b2", "\uff11", "a"])
def test_int_refuses_anything_but_ascii_digits(make, text):
    assert make("/{n:int}").match(f"/{text}") is None


def test_int_beyond_the_interpreters_digit_limit_is_refused(make):
    limit = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 0
    router = make("/{n:int}", "/{s}")
    digits = "1" * ((limit or 5000) + 1)
    assert target(router, "/" + digits) == ("/{s}" if limit else "/{n:int}")


@pytest.mark.parametrize("text, value", [("0", 0.0), ("1.5", 1.5), ("10", 10.0), ("0.000", 0.0), ("007.25", 7.25)])
def test_float_accepts_decimal_notation(make, text, value):
    found = make("/{x:float}").match(f"/{text}")
    assert found == ("/{x:float}", {"x": value}) and type(found[1]["x"]) is float


@pytest.mark.parametrize(
    "text", ["-1.5", "+1", "1.", ".5", "1e5", "1E5", "nan", "inf", "Infinity", "1_0.0", "1.5.1", "\u0661.5", "1" * 400]
)
def test_float_refuses_signs_exponents_non_finite(make, text):
    assert make("/{x:float}").match(f"/{text}") is None


@pytest.mark.parametrize(
    "text",
    [
        "0a1b2c3d4e5f6789abcdef0123456789",
        "{0a1b2c3d-4e5f-6789-abcd-ef0123456789}",
        "urn:uuid:0a1b2c3d-4e5f-6789-abcd-ef0123456789",
        "0a1b2c3d-4e5f-6789-abcd-ef012345678",
        "0a1b2c3d-4e5f-6789-abcd-ef01234567890",
        "0a1b2c3d4-e5f-6789-abcd-ef0123456789",
        "0a1b2c3g-4e5f-6789-abcd-ef0123456789",
        "0a1b2c3d-4e5f-6789-abcd-ef012345678\u0669",
    ],
)
def test_uuid_refuses_non_canonical_forms(make, text):
    assert make("/{u:uuid}").match(f"/{text}") is None


def test_uuid_accepts_either_case(make):
    value = uuid.uuid4()
    router = make("/{u:uuid}")
    assert router.match(f"/{str(value).upper()}")[1] == {"u": value}
    assert router.match(f"/{value}")[1] == {"u": value}


def test_str_takes_any_non_empty_segment_as_is(make):
    router = make("/{s}")
    for text in ("x", "a b", "%2F", "caf\u00e9", "..", "{}", ":"):
        assert router.match(f"/{text}") == ("/{s}", {"s": text})


# --- conflicts and bad patterns ---------------------------------------------------------


@pytest.mark.parametrize(
    "first, second",
    [
        ("/a/{x}", "/a/{y}"),
        ("/a/{x}", "/a/{y:str}"),
        ("/a/{x:int}", "/a/{y:int}"),
        ("/a/{x}/b", "/a/{y}/b"),
        ("/a", "/a"),
        ("/", "/"),
        ("/a/{p:path}", "/a/{q:path}"),
        ("/{a}/{b:int}", "/{c}/{d:int}"),
    ],
)
def test_conflicts_are_refused_naming_both(make, first, second):
    router = make(first)
    with pytest.raises(RouteError) as info:
        router.add(second, "second")
    message = str(info.value)
    assert message == f"route {second!r} conflicts with route {first!r}: they match the same paths"
    assert info.value.conflicts_with == first
    assert "\n" not in message


def test_different_shapes_do_not_conflict(make):
    make("/a/{x}", "/a/{x:int}", "/a/{x:float}", "/a/{x:uuid}", "/a/{x:path}", "/a/x", "/a/{x}/", "/a/")


def test_a_refused_route_leaves_the_router_unchanged(make):
    router = make("/a/{x:int}")
    for pattern in ("/a/{y:int}", "/a/{y:nope}", "/b/{x}/{x}"):
        with pytest.raises(RouteError):
            router.add(pattern, "refused", "refused")
    assert router.routes == (("/a/{x:int}", "/a/{x:int}", "/a/{x:int}"),)
    assert router.match("/b/1/2") is None
    router.add("/b/{x}/{y}", "later", "refused")  # the name was not taken
    assert router.match("/b/1/2") == ("later", {"x": "1", "y": "2"})


def test_duplicate_name_is_refused_naming_both(make):
    router = make()
    router.add("/a", "a", "home")
    with pytest.raises(RouteError, match=r"^route name 'home' of '/b' is already taken by route '/a'$"):
        router.add("/b", "b", "home")
    with pytest.raises(RouteError, match="must be a str"):
        router.add("/c", "c", 3)


@pytest.mark.parametrize(
    "pattern, reason",
    [
        ("a/b", "it must start with '/'"),
        ("", "it must start with '/'"),
        ("/a//b", "empty segment ('//')"),
        ("//", "empty segment ('//')"),
        ("/a/{x", "unbalanced braces in '{x'"),
        ("/a/x}", "unbalanced braces in 'x}'"),
        ("/a/{{x}}", "a parameter must be a whole segment, {name} or {name:converter}, not '{{x}}'"),
        ("/a{x}", "a parameter must be a whole segment, {name} or {name:converter}, not 'a{x}'"),
        ("/{x}.json", "a parameter must be a whole segment, {name} or {name:converter}, not '{x}.json'"),
        ("/{x}{y}", "a parameter must be a whole segment, {name} or {name:converter}, not '{x}{y}'"),
        ("/}x{", "a parameter must be a whole segment, {name} or {name:converter}, not '}x{'"),
        ("/{}", "parameter name '' is not an identifier"),
        ("/{:int}", "parameter name '' is not an identifier"),
        ("/{1x}", "parameter name '1x' is not an identifier"),
        ("/{x }", "parameter name 'x ' is not an identifier"),
        ("/{x}/{x:int}", "parameter 'x' appears twice"),
        ("/{x:nope}", "unknown converter 'nope' (known: float, int, path, str, uuid)"),
        ("/{x:}", "unknown converter '' (known: float, int, path, str, uuid)"),
        ("/{x:int:int}", "unknown converter 'int:int' (known: float, int, path, str, uuid)"),
        ("/{p:path}/x", "{p:path} takes the rest of the path, so it must be the last segment"),
    ],
)
def test_bad_patterns_are_refused_in_one_line(make, pattern, reason):
    with pytest.raises(RouteError) as info:
        make(pattern)
    assert str(info.value) == f"bad route pattern {pattern!r}: {reason}"


def test_a_pattern_must_be_a_str(twin):
    with pytest.raises(RouteError, match=r"^a route pattern is a str, not bytes: b'/a'$"):
        twin.Router().add(b"/a", "x")


def test_route_error_is_one_class_shared_by_both_twins(twin):
    assert twin.RouteError is RouteError and issubclass(RouteError, ValueError)


# --- url_for ------------------------------------------------------------------------------


def test_url_for_fills_and_converts(make):
    u = uuid.UUID("0a1b2c3d-4e5f-6789-abcd-ef0123456789")
    router = make("/", "/a/", "/items/{id:int}/tags/{tag}", "/u/{u:uuid}/{x:float}", "/s/{rest:path}")
    assert router.url_for("/") == "/"
    assert router.url_for("/a/") == "/a/"
    assert router.url_for("/items/{id:int}/tags/{tag}", id=3, tag="red") == "/items/3/tags/red"
    assert router.url_for("/items/{id:int}/tags/{tag}", id="0042", tag="red") == "/items/42/tags/red"
    assert router.url_for("/u/{u:uuid}/{x:float}", u=u, x=1.5) == f"/u/{u}/1.5"
    assert router.url_for("/u/{u:uuid}/{x:float}", u=str(u).upper(), x=2) == f"/u/{u}/2.0"
    assert router.url_for("/s/{rest:path}", rest="") == "/s/"


@pytest.mark.parametrize(
    "value, text", [(1e20, "100000000000000000000"), (1e-7, "0.0000001"), (0.1, "0.1"), (-0.0, "0.0"), (123.0, "123.0")]
)
def test_url_for_writes_floats_in_decimal_notation_that_read_back(make, value, text):
    router = make("/{x:float}")
    url = router.url_for("/{x:float}", x=value)
    assert url == f"/{text}"
    assert router.match(url) == ("/{x:float}", {"x": value})


def test_url_for_percent_encodes_what_is_not_a_path_character(make):
    router = make("/caf\u00e9/{name}", "/f/{p:path}")
    with pytest.raises(RouteError):
        router.url_for("/caf\u00e9/{name}", name="a/b")  # would not come back as one segment
    assert router.url_for("/caf\u00e9/{name}", name="a b?c#d%e") == "/caf%C3%A9/a%20b%3Fc%23d%25e"
    assert router.url_for("/caf\u00e9/{name}", name="!$&'()*+,;=:@-._~") == "/caf%C3%A9/!$&'()*+,;=:@-._~"
    assert router.url_for("/f/{p:path}", p="dir/sub dir/f.txt") == "/f/dir/sub%20dir/f.txt"
    assert router.match(unquote(router.url_for("/caf\u00e9/{name}", name="\u00fc %"))) == (
        "/caf\u00e9/{name}",
        {"name": "\u00fc %"},
    )


def test_url_for_takes_a_parameter_called_name(make):
    router = make("/users/{name}")
    assert router.url_for("/users/{name}", name="ann") == "/users/ann"


def test_url_for_unknown_route_missing_and_unexpected_params(make):
    router = make("/a/{x:int}/{y}")
    with pytest.raises(RouteError, match=r"^url_for: no route is named 'nope'$"):
        router.url_for("nope")
    with pytest.raises(RouteError, match=r"^url_for\('/a/\{x:int\}/\{y\}'\): missing parameter 'x', 'y' of '/a/\{x:int\}/\{y\}'$"):
        router.url_for("/a/{x:int}/{y}")
    with pytest.raises(RouteError, match=r"^url_for\('/a/\{x:int\}/\{y\}'\): '/a/\{x:int\}/\{y\}' has no parameter 'z'$"):
        router.url_for("/a/{x:int}/{y}", x=1, y="b", z=2)


@pytest.mark.parametrize(
    "pattern, value, reason",
    [
        ("/{x:int}", -1, "negative numbers have no URL form in {name:int}"),
        ("/{x:int}", True, "expected an int, got bool"),
        ("/{x:int}", 1.0, "expected an int, got float"),
        ("/{x:int}", "-1", "not ASCII digits"),
        ("/{x:float}", float("inf"), "only finite non-negative numbers have a URL form in {name:float}"),
        ("/{x:float}", -2.5, "only finite non-negative numbers have a URL form in {name:float}"),
        ("/{x:float}", "1e5", "not a finite decimal number"),
        ("/{x:uuid}", "nope", "not a canonical UUID"),
        ("/{x:uuid}", 5, "expected a uuid.UUID, got int"),
        ("/{x}", "", "not a single non-empty segment"),
        ("/{x}", "a/b", "not a single non-empty segment"),
        ("/{x}", 5, "expected a str, got int"),
        ("/{x:path}", None, "expected a str, got NoneType"),
    ],
)
def test_url_for_refuses_values_the_converter_cannot_write(make, pattern, value, reason):
    router = make(pattern)
    with pytest.raises(RouteError) as info:
        router.url_for(pattern, x=value)
    converter_name = pattern[2:-1].partition(":")[2] or "str"
    spec = f"{{x:{converter_name}}}"
    assert str(info.value) == f"url_for({pattern!r}): x={value!r} does not fit {spec} in {pattern!r}: {reason}"


# --- user converters ----------------------------------------------------------------------


class Even:
    """Even numbers only (a class: the router makes one instance)."""

    def convert(self, segment: str) -> int:
        number = converters.IntConverter().convert(segment)
        if number % 2:
            raise ValueError("odd")
        return number

    def to_url(self, value: Any) -> str:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("not an int")
        return str(self.convert(str(value)))


class Upper(converters.StrConverter):
    """Upper-case segments, lower-cased (a subclass of a built-in: not passed as is)."""

    def convert(self, segment: str) -> str:
        if not segment.isupper():
            raise ValueError("not upper case")
        return segment.lower()

    def to_url(self, value: str) -> str:
        return value.upper()


class NoDotDot:
    """A rest-of-path converter refusing '..' segments."""

    matches_rest = True

    def convert(self, rest: str) -> tuple:
        parts = tuple(rest.split("/"))
        if ".." in parts:
            raise ValueError("'..' in path")
        return parts

    def to_url(self, value: tuple) -> str:
        return "/".join(value)


class Broken:
    def convert(self, segment: str) -> str:
        raise RuntimeError("converter bug")

    def to_url(self, value: Any) -> str:
        return 5  # type: ignore[return-value]


def test_user_converters_by_class_and_instance(make):
    router = make(
        "/n/{x:even}",
        "/n/{x:int}",
        "/w/{w:upper}",
        "/w/{w}",
        "/f/{p:safe}",
        "/f/{p:path}",
        converters={"even": Even, "upper": Upper(), "safe": NoDotDot},
    )
    assert router.match("/n/4") == ("/n/{x:even}", {"x": 4})
    assert router.match("/n/5") == ("/n/{x:int}", {"x": 5})
    assert router.match("/w/ABC") == ("/w/{w:upper}", {"w": "abc"})
    assert router.match("/w/abc") == ("/w/{w}", {"w": "abc"})
    assert router.match("/f/a/b") == ("/f/{p:safe}", {"p": ("a", "b")})
    assert router.match("/f/a/../b") == ("/f/{p:path}", {"p": "a/../b"})
    assert router.url_for("/w/{w:upper}", w="abc") == "/w/ABC"
    assert router.url_for("/f/{p:safe}", p=("a b", "c")) == "/f/a%20b/c"


def test_a_user_rest_converter_comes_before_path_whatever_the_order(make):
    router = make("/f/{p:path}", "/f/{p:safe}", converters={"safe": NoDotDot})
    assert router.match("/f/a/b") == ("/f/{p:safe}", {"p": ("a", "b")})
    with pytest.raises(RouteError, match="must be the last segment"):
        router.add("/g/{p:safe}/x", "x")


def test_a_converter_error_other_than_valueerror_propagates(make):
    router = make("/b/{x:broken}", converters={"broken": Broken})
    with pytest.raises(RuntimeError, match="converter bug"):
        router.match("/b/1")
    with pytest.raises(RouteError, match=r"to_url\(\) returned int, not str$"):
        router.url_for("/b/{x:broken}", x="1")


class Writes(Even):
    """Writes a fixed text, whatever the value."""

    def __init__(self, text: str) -> None:
        self.text = text

    def to_url(self, value: int) -> str:
        return self.text


@pytest.mark.parametrize("text", ["", "a/b"])
def test_a_user_one_segment_converter_must_write_one_non_empty_segment(make, text):
    router = make("/e/{x:writes}", converters={"writes": Writes(text)})
    with pytest.raises(RouteError, match=f"{text!r} is not a single non-empty segment$"):
        router.url_for("/e/{x:writes}", x=2)


@pytest.mark.parametrize(
    "user, message",
    [
        ({"int": Even}, "converter name 'int' is built in; register yours under another name"),
        ({"my-conv": Even}, "converter name 'my-conv' is not an identifier"),
        ({"": Even}, "converter name '' is not an identifier"),
        ({"x": object()}, "converter 'x' (object) has no convert() method"),
        ({"x": type("OnlyConvert", (), {"convert": lambda self, s: s})}, "converter 'x' (OnlyConvert) has no to_url() method"),
    ],
)
def test_bad_user_converters_are_refused(twin, user, message):
    with pytest.raises(RouteError) as info:
        twin.Router(user)
    assert str(info.value) == message


def test_user_converters_are_listed_among_the_known(make):
    router = make(converters={"even": Even})
    with pytest.raises(RouteError, match=r"\(known: even, float, int, path, str, uuid\)$"):
        router.add("/{x:odd}", "x")


# --- cost and structure ---------------------------------------------------------------------


class Counting:
    """Counts its calls: how much of the tree a match touches."""

    def __init__(self) -> None:
        self.calls = 0

    def convert(self, segment: str) -> str:
        self.calls += 1
        raise ValueError("never matches")

    def to_url(self, value: Any) -> str:
        return str(value)


@pytest.mark.parametrize("count", [10, 1000])
def test_a_match_only_visits_the_branch_of_its_path(twin, count):
    """Lookup work does not grow with routes elsewhere: converters of other branches
    are never called, whatever their number (counted, not timed)."""
    counter = Counting()
    router = twin.Router({"counting": counter})
    for i in range(count):
        router.add(f"/r{i}/{{x:counting}}", i)
        router.add(f"/r{i}/{{x:int}}/{{y}}", i)
        router.add(f"/r{i}/static", i)
    router.add("/target/{x:counting}", "target")
    router.add("/target/{x:int}", "target-int")
    assert router.match("/target/5") == ("target-int", {"x": 5})
    assert router.match(f"/r{count - 1}/static") == (count - 1, {})
    assert router.match(f"/r{count - 1}/3/y") == (count - 1, {"x": 3, "y": "y"})
    assert counter.calls == 2  # once under /target, once under /r{count - 1}; never elsewhere


def test_routes_in_registration_order_and_repr(make):
    router = make("/b", "/a/{x}")
    router.add("/c", "c-target")
    assert router.routes == (("/b", "/b", "/b"), ("/a/{x}", "/a/{x}", "/a/{x}"), ("/c", "c-target", None))
    assert repr(router) == "<Router: 3 routes>"


def test_the_compiled_twin_is_compiled_with_cdef_tree_classes():
    compiled = router_module("c")
    pure = router_module("py")
    assert compiled.COMPILED is True and pure.COMPILED is False
    heap_type = 1 << 9  # Py_TPFLAGS_HEAPTYPE: set for classes made by a class statement
    for name in ("Router", "_Route", "_Node", "_Edge"):
        assert not getattr(compiled, name).__flags__ & heap_type, f"{name} is not a cdef class"
        assert getattr(pure, name).__flags__ & heap_type
    node = compiled._Node()
    assert not hasattr(node, "__dict__")
    with pytest.raises(AttributeError):
        node.anything = 1


def test_twins_have_the_same_public_interface():
    compiled = router_module("c")
    pure = router_module("py")
    assert compiled.__all__ == pure.__all__
    public = lambda cls: {n for n in dir(cls) if not n.startswith("_")}  # noqa: E731
    assert public(compiled.Router) == public(pure.Router) == {"add", "match", "parameters", "routes", "url_for"}


def test_parameters_lists_a_patterns_converters_without_adding_it(make):
    router = make()
    params = router.parameters("/a/{x:int}/b/{y}/{rest:path}")
    assert list(params) == ["x", "y", "rest"]
    assert [type(converter).__name__ for converter in params.values()] == ["IntConverter", "StrConverter", "PathConverter"]
    assert router.parameters("/static") == {}
    assert router.routes == ()
    with pytest.raises(RouteError, match="unknown converter"):
        router.parameters("/a/{x:nope}")
