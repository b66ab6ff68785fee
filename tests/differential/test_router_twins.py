"""Differential tests of the router: the compiled and the pure twin give identical results
(targets, converted params, errors with identical messages, url_for), and the pure twin
agrees with a reference model: a naive linear matcher implementing the documented rules.

Route sets are drawn from a small vocabulary so that routes share prefixes, collide in
shape (conflicts) and compete at the same position (priorities, backtracking).
"""

from __future__ import annotations

import uuid
from typing import Any, Optional
from urllib.parse import unquote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyre.web.converters import BUILTIN_CONVERTERS, RouteError
from tests.web.test_router import Even, router_module

SETTINGS = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


class Shallow:
    """A user rest-of-path converter: at most two segments."""

    matches_rest = True

    def convert(self, rest: str) -> str:
        if rest.count("/") > 1:
            raise ValueError("too deep")
        return rest

    def to_url(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("not a str")
        return self.convert(value)


USER = {"even": Even, "shallow": Shallow}
STATIC = ["a", "b", "1", "x y", "\u00e9"]
ONE_SEGMENT = ["str", "int", "float", "uuid", "even"]
REST = ["path", "shallow"]
UUID_TEXT = "0a1b2c3d-4e5f-6789-abcd-ef0123456789"


@st.composite
def patterns(draw) -> str:
    """A valid pattern (it may still conflict with another)."""
    count = draw(st.integers(0, 4))
    segments = []
    rest = False
    for position in range(count):
        kind = draw(st.sampled_from(["static", "static", "param", "param", "rest"]))
        if kind == "static":
            segments.append(draw(st.sampled_from(STATIC)))
        elif kind == "param":
            converter = draw(st.sampled_from(ONE_SEGMENT + [""]))
            segments.append(f"{{p{position}}}" if not converter else f"{{p{position}:{converter}}}")
        else:
            segments.append(f"{{p{position}:{draw(st.sampled_from(REST))}}}")
            rest = True
            break
    if not rest and (draw(st.booleans()) or not segments):
        segments.append("")  # a trailing slash (or the root)
    return "/" + "/".join(segments)


# Bad (or odd) patterns: the twins must refuse them with the same message.
junk_patterns = st.text(alphabet="/{}:ab1_ -", max_size=10)

route_lists = st.lists(st.one_of(patterns(), patterns(), patterns(), junk_patterns), max_size=12)

segments_for_paths = st.sampled_from(STATIC + ["", "2", "3", "07", "1.5", "-1", "1e3", "\u0663", "\u00b2", "9" * 5000, UUID_TEXT, UUID_TEXT.upper(), "z", "%2F"])
paths = st.builds(
    lambda parts, prefix: prefix + "/".join(parts),
    st.lists(segments_for_paths, max_size=5),
    st.sampled_from(["/", "/", "/", ""]),
)


def paths_for(pattern_list: list) -> st.SearchStrategy:
    """Random paths, and paths made by filling in the patterns (most of them close calls)."""

    @st.composite
    def filled(draw) -> str:
        pattern = draw(st.sampled_from(pattern_list))
        if not isinstance(pattern, str) or not pattern.startswith("/"):
            return draw(paths)
        segments = []
        for text in pattern[1:].split("/"):
            if not text.startswith("{"):
                segments.append(text)
            elif any(text.endswith(f":{name}}}") for name in REST):
                segments.extend(draw(st.lists(segments_for_paths, max_size=3)))
            else:
                segments.append(draw(segments_for_paths))
        return "/" + "/".join(segments)

    if not pattern_list:
        return paths
    return st.one_of(paths, filled(), filled())


def build(module: Any, pattern_list: list) -> tuple[Any, list]:
    """A router from ``pattern_list`` (target = index, name = "r<index>") and each add's outcome."""
    router = module.Router(USER)
    outcomes = []
    for index, pattern in enumerate(pattern_list):
        try:
            router.add(pattern, index, f"r{index}")
        except RouteError as exc:
            outcomes.append(("RouteError", str(exc)))
        else:
            outcomes.append(None)
    return router, outcomes


def describe(result: Optional[tuple]) -> Any:
    """Strict: each value's type name with the value (1 vs 1.0 vs True differ)."""
    if result is None:
        return None
    target, params = result
    return target, [(name, type(value).__name__, value) for name, value in params.items()]


def outcome(call, *args, **kwargs) -> Any:
    try:
        return ("ok", call(*args, **kwargs))
    except RouteError as exc:
        return ("RouteError", str(exc))


@SETTINGS
@given(route_lists, st.data())
def test_twins_agree_on_adds_and_matches(pattern_list, data):
    path_list = data.draw(st.lists(paths_for(pattern_list), min_size=1, max_size=15))
    pure, pure_outcomes = build(router_module("py"), pattern_list)
    compiled, compiled_outcomes = build(router_module("c"), pattern_list)
    assert compiled_outcomes == pure_outcomes
    assert compiled.routes == pure.routes
    for path in path_list:
        assert describe(compiled.match(path)) == describe(pure.match(path)), path


url_values = st.one_of(
    st.integers(-3, 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet="ab/ %?#\u00e9.", max_size=6),
    st.just(uuid.UUID(UUID_TEXT)),
    st.just(UUID_TEXT.upper()),
    st.booleans(),
    st.none(),
)


@SETTINGS
@given(st.lists(patterns(), min_size=1, max_size=8), st.data())
def test_twins_agree_on_url_for(pattern_list, data):
    pure, _ = build(router_module("py"), pattern_list)
    compiled, _ = build(router_module("c"), pattern_list)
    for pattern, index, name in pure.routes:
        params = {part[1]: data.draw(url_values) for part in parse(pattern) if part[0] == "param"}
        if data.draw(st.booleans()):  # sometimes one too many, or one replaced
            params[data.draw(st.sampled_from(["p0", "p9", "name"]))] = data.draw(url_values)
        expected = outcome(pure.url_for, name, **params)
        assert outcome(compiled.url_for, name, **params) == expected
        if expected[0] == "ok":
            # What url_for writes, decoded as a server would, matches the route again,
            # and its params write the same path.
            alone = router_module("py").Router(USER)
            alone.add(pattern, index, name)
            found = alone.match(unquote(expected[1]))
            assert found is not None and found[0] == index, (pattern, expected)
            assert alone.url_for(name, **found[1]) == expected[1]
    assert outcome(compiled.url_for, "missing") == outcome(pure.url_for, "missing")


# --- the reference model ---------------------------------------------------------------------


def parse(pattern: str) -> list:
    """Per segment ("static", text) or ("param", name, converter name)."""
    parsed = []
    for text in pattern[1:].split("/"):
        if text.startswith("{"):
            name, _, converter = text[1:-1].partition(":")
            parsed.append(("param", name, converter or "str"))
        else:
            parsed.append(("static", text))
    return parsed


def shape_of(parsed: list) -> tuple:
    return tuple(part[1] if part[0] == "static" else "{" + part[2] + "}" for part in parsed)


class Reference:
    """Every route tried in turn; of those that match, the one whose per-segment rank is
    smallest: static (0) < one-segment converters other than str, by first registration
    at that prefix (1, order) < str (2) < rest converters other than path, by first
    registration (3, order) < path (4)."""

    def __init__(self, accepted: list) -> None:
        self.converters = dict(BUILTIN_CONVERTERS)
        self.converters.update({name: cls() for name, cls in USER.items()})
        self.routes = [(target, parse(pattern)) for pattern, target in accepted]

    def first_at(self, prefix: tuple, converter: str) -> int:
        """The index of the first route with ``prefix`` and then ``converter``."""
        for index, (_, parsed) in enumerate(self.routes):
            shape = shape_of(parsed)
            if shape[: len(prefix)] == prefix and len(shape) > len(prefix) and shape[len(prefix)] == "{" + converter + "}":
                return index
        raise AssertionError("unreachable: the route itself qualifies")

    def rank(self, parsed: list) -> tuple:
        shape = shape_of(parsed)
        ranks = []
        for position, part in enumerate(parsed):
            if part[0] == "static":
                ranks.append((0,))
                continue
            converter = part[2]
            rest = getattr(self.converters[converter], "matches_rest", False)
            if converter == "str":
                ranks.append((2,))
            elif converter == "path":
                ranks.append((4,))
            else:
                ranks.append((3 if rest else 1, self.first_at(shape[:position], converter)))
        return tuple(ranks)

    def try_route(self, parsed: list, segments: list) -> Optional[dict]:
        params = {}
        for position, part in enumerate(parsed):
            if part[0] == "param" and getattr(self.converters[part[2]], "matches_rest", False):
                if position >= len(segments):
                    return None
                try:
                    params[part[1]] = self.converters[part[2]].convert("/".join(segments[position:]))
                except ValueError:
                    return None
                return params
            if position >= len(segments):
                return None
            segment = segments[position]
            if part[0] == "static":
                if segment != part[1]:
                    return None
                continue
            if not segment:
                return None
            try:
                params[part[1]] = self.converters[part[2]].convert(segment)
            except ValueError:
                return None
        return params if len(parsed) == len(segments) else None

    def match(self, path: str) -> Optional[tuple]:
        if not path.startswith("/"):
            return None
        segments = path[1:].split("/")
        candidates = []
        for target, parsed in self.routes:
            params = self.try_route(parsed, segments)
            if params is not None:
                candidates.append((self.rank(parsed), target, params))
        if not candidates:
            return None
        candidates.sort(key=lambda candidate: candidate[0])
        assert len(candidates) == 1 or candidates[0][0] != candidates[1][0], "two routes of one shape"
        return candidates[0][1], candidates[0][2]


@SETTINGS
@given(st.lists(patterns(), max_size=12), st.data())
def test_pure_router_agrees_with_the_reference_model(pattern_list, data):
    path_list = data.draw(st.lists(paths_for(pattern_list), min_size=1, max_size=15))
    router, outcomes = build(router_module("py"), pattern_list)
    accepted = [(pattern, index) for index, (pattern, result) in enumerate(zip(pattern_list, outcomes)) if result is None]
    shapes = {}
    for index, pattern in enumerate(pattern_list):  # conflicts: exactly the repeated shapes
        shape = shape_of(parse(pattern))
        assert (outcomes[index] is not None) == (shape in shapes)
        shapes.setdefault(shape, pattern)
    model = Reference(accepted)
    for path in path_list:
        assert describe(router.match(path)) == describe(model.match(path)), path
