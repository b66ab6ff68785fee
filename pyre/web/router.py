"""The path matcher of ``pyre.web``: a segment tree with a dict fast path for static paths.

This file is the normative, pure-Python twin. ``setup.py`` compiles this same file with
Cython (pure-Python mode, typed by ``_router_c.pxd``) into ``pyre.web._router_c``, whose
``Router`` behaves identically (differential tests hold them together). Use the twin
:mod:`pyre._accel` chose: ``from pyre._accel import Router`` (the compiled one unless
``PYRE_NO_EXTENSIONS=1`` or it is not built). :class:`RouteError` is one class shared by
both twins (it lives in :mod:`pyre.web.converters`, which is not compiled); import it from
here or from there.

The router knows nothing of HTTP methods or handlers: it maps a decoded path to a target
and converted parameters, and builds paths back from a route's name.

Patterns: ``/``-separated segments, each either static text or one parameter filling the
whole segment, ``{name}`` (a ``str``) or ``{name:converter}`` (see
:mod:`pyre.web.converters`). A pattern starts with ``/``; the last segment may be empty
(``/a/`` differs from ``/a``: trailing-slash policy is the app's); other segments may not;
braces appear only around parameters; names are identifiers and unique within a pattern; a
converter that takes the rest of the path (``path``) only in the last segment.

Matching is exact, on the decoded path, segment by segment. At each segment the
candidates are tried in this order, and a candidate whose subtree fails to match the rest
backtracks to the next:

1. the static segment equal to the path's segment;
2. one-segment converters other than ``str`` (``int``, ``float``, ``uuid``, user ones),
   in the order they were first registered at this position;
3. ``str``;
4. converters taking the rest of the path other than ``path``, in registration order;
5. ``path``.

An empty segment (``//``, or the end of ``/a/``) never matches a one-segment converter.
Two routes of the same shape (the same static text and the same converters at each
position, whatever the parameter names) conflict: the second is refused, naming both.

Cost: a path equal to a static pattern is one dict lookup. Otherwise the walk visits only
the tree nodes whose prefix matches the path, each at most once, with a dict lookup for
static children: it does not grow with the number of routes elsewhere in the tree.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional
from urllib.parse import quote

from pyre.web.converters import (
    Converter,
    ConverterSpec,
    IntConverter,
    PathConverter,
    RouteError,
    StrConverter,
    resolve_converters,
)

try:
    import cython  # type: ignore[import-untyped,import-not-found,unused-ignore]

    COMPILED: bool = cython.compiled
except ImportError:  # Cython is needed to build, never to run
    COMPILED = False

__all__ = ["RouteError", "Router"]

# RFC 3986 pchar: unreserved (never quoted by quote()), sub-delims, ":" and "@".
_SEGMENT_SAFE = "!$&'()*+,;=:@"
_REST_SAFE = _SEGMENT_SAFE + "/"


class _Route:
    """A registered route: what ``match`` returns and ``url_for`` builds from."""

    __slots__ = ("pattern", "target", "name", "names", "parts")

    def __init__(self, pattern: str, target: Any, name: Optional[str], names: tuple[str, ...], parts: tuple[Any, ...]) -> None:
        self.pattern = pattern
        self.target = target
        self.name = name
        self.names = names  # the parameter names, in path order
        self.parts = parts  # per segment: quoted static text (str) or (name, converter, rest?)


class _Node:
    """A tree position: static children by segment text, converter edges in priority order."""

    __slots__ = ("static", "params", "rests", "route")

    def __init__(self) -> None:
        self.static: dict[str, _Node] = {}
        self.params: list[_Edge] = []  # one-segment converters; "str" last
        self.rests: list[_Edge] = []  # rest-of-path converters; "path" last
        self.route: Optional[_Route] = None  # the route ending here


class _Edge:
    """A converter edge: ``convert`` is None for ``str`` and ``path`` (the text as is);
    ``digits`` marks the built-in ``int``, which the walk applies inline."""

    __slots__ = ("converter_name", "convert", "digits", "node")

    def __init__(self, converter_name: str, converter: Converter) -> None:
        self.converter_name = converter_name
        as_is = type(converter) is StrConverter or type(converter) is PathConverter
        self.convert: Any = None if as_is else converter.convert
        self.digits = type(converter) is IntConverter
        self.node = _Node()


def _walk(node: _Node, segments: list[str], index: int, values: list[Any]) -> Optional[_Route]:
    """The first route under ``node`` matching ``segments[index:]``; appends its values."""
    if index == len(segments):
        return node.route
    segment = segments[index]
    child = node.static.get(segment)
    if child is not None:
        found = _walk(child, segments, index + 1, values)
        if found is not None:
            return found
    if segment:
        for edge in node.params:
            if edge.convert is None:
                value: Any = segment
            elif edge.digits:
                # IntConverter.convert's rule, without a call or an exception per refusal
                # (int is the commonest converter; the reference-model test holds the two together).
                if not (segment.isascii() and segment.isdigit()):
                    continue
                try:
                    value = int(segment)
                except ValueError:
                    continue
            else:
                try:
                    value = edge.convert(segment)
                except ValueError:
                    continue
            values.append(value)
            found = _walk(edge.node, segments, index + 1, values)
            if found is not None:
                return found
            values.pop()
    if node.rests:
        rest = "/".join(segments[index:])
        for edge in node.rests:
            if edge.convert is None:
                value = rest
            else:
                try:
                    value = edge.convert(rest)
                except ValueError:
                    continue
            values.append(value)
            return edge.node.route
    return None


def _bad(pattern: str, reason: str) -> RouteError:
    return RouteError(f"bad route pattern {pattern!r}: {reason}")


def _parse(pattern: str, converters: Mapping[str, Converter]) -> list[tuple[str, Optional[str], bool]]:
    """Per segment ``(text, None, False)`` for static text, or ``(name, converter name,
    whether the converter takes the rest of the path)``."""
    if not isinstance(pattern, str):
        raise RouteError(f"a route pattern is a str, not {type(pattern).__name__}: {pattern!r}")
    if not pattern.startswith("/"):
        raise _bad(pattern, "it must start with '/'")
    texts = pattern[1:].split("/")
    parts: list[tuple[str, Optional[str], bool]] = []
    seen: set[str] = set()
    last = len(texts) - 1
    for position, text in enumerate(texts):
        opens = text.count("{")
        closes = text.count("}")
        if opens == 0 and closes == 0:
            if not text and position != last:
                raise _bad(pattern, "empty segment ('//')")
            parts.append((text, None, False))
            continue
        if opens != closes:
            raise _bad(pattern, f"unbalanced braces in {text!r}")
        if opens != 1 or not (text.startswith("{") and text.endswith("}")):
            raise _bad(pattern, f"a parameter must be a whole segment, {{name}} or {{name:converter}}, not {text!r}")
        name, colon, converter_name = text[1:-1].partition(":")
        if not colon:
            converter_name = "str"
        if not name.isidentifier():
            raise _bad(pattern, f"parameter name {name!r} is not an identifier")
        if name in seen:
            raise _bad(pattern, f"parameter {name!r} appears twice")
        converter = converters.get(converter_name)
        if converter is None:
            known = ", ".join(sorted(converters))
            raise _bad(pattern, f"unknown converter {converter_name!r} (known: {known})")
        rest = bool(getattr(converter, "matches_rest", False))
        if rest and position != last:
            raise _bad(pattern, f"{text} takes the rest of the path, so it must be the last segment")
        seen.add(name)
        parts.append((name, converter_name, rest))
    return parts


def _add_edge(edges: list[_Edge], converter_name: str, converter: Converter, generic: str) -> _Edge:
    """The edge for ``converter_name``, made if new: in registration order, ``generic`` last."""
    for edge in edges:
        if edge.converter_name == converter_name:
            return edge
    edge = _Edge(converter_name, converter)
    if converter_name != generic and edges and edges[-1].converter_name == generic:
        edges.insert(len(edges) - 1, edge)
    else:
        edges.append(edge)
    return edge


class Router:
    """Maps decoded paths to targets (see the module docstring for patterns and priority).

    ``converters`` adds user converters by name (classes or instances).
    """

    __slots__ = ("_converters", "_static", "_root", "_routes", "_names", "_shapes")

    def __init__(self, converters: Optional[Mapping[str, ConverterSpec]] = None) -> None:
        self._converters: dict[str, Converter] = resolve_converters(converters)
        self._static: dict[str, _Route] = {}  # the fast path: pattern -> route, for static patterns
        self._root = _Node()
        self._routes: list[_Route] = []
        self._names: dict[str, _Route] = {}
        self._shapes: dict[tuple[str, ...], str] = {}  # shape -> pattern, to find conflicts

    def add(self, pattern: str, target: Any, name: Optional[str] = None) -> None:
        """Registers ``pattern`` -> ``target``, under ``name`` for :meth:`url_for` if given.

        Raises :class:`RouteError` (one line) for a bad pattern, a pattern conflicting with
        an earlier one or a name already taken; the router is then unchanged.
        """
        parts = _parse(pattern, self._converters)
        # Static text never contains braces, so "{int}" cannot be mistaken for one.
        shape = tuple(text if converter_name is None else "{" + converter_name + "}" for text, converter_name, _ in parts)
        other = self._shapes.get(shape)
        if other is not None:
            raise RouteError(
                f"route {pattern!r} conflicts with route {other!r}: they match the same paths", conflicts_with=other
            )
        if name is not None:
            if not isinstance(name, str):
                raise RouteError(f"the name of route {pattern!r} must be a str, not {type(name).__name__}")
            taken = self._names.get(name)
            if taken is not None:
                raise RouteError(f"route name {name!r} of {pattern!r} is already taken by route {taken.pattern!r}")

        url_parts: list[Any] = []
        names: list[str] = []
        for text, converter_name, rest in parts:
            if converter_name is None:
                url_parts.append(quote(text, safe=_SEGMENT_SAFE))
            else:
                url_parts.append((text, converter_name, rest))
                names.append(text)
        route = _Route(pattern, target, name, tuple(names), tuple(url_parts))

        self._shapes[shape] = pattern
        self._routes.append(route)
        if name is not None:
            self._names[name] = route
        if not names:
            self._static[pattern] = route
            return
        node = self._root
        for text, converter_name, rest in parts:
            if converter_name is None:
                child = node.static.get(text)
                if child is None:
                    child = node.static[text] = _Node()
                node = child
            elif rest:
                node = _add_edge(node.rests, converter_name, self._converters[converter_name], "path").node
            else:
                node = _add_edge(node.params, converter_name, self._converters[converter_name], "str").node
        node.route = route

    def parameters(self, pattern: str) -> dict[str, Converter]:
        """The parameters ``pattern`` declares, in path order: name -> its converter.

        Raises :class:`RouteError` for a bad pattern, as :meth:`add` would; adds nothing.
        """
        return {text: self._converters[name] for text, name, _ in _parse(pattern, self._converters) if name is not None}

    def match(self, path: str) -> Optional[tuple[Any, dict[str, Any]]]:
        """``(target, params)`` for the decoded ``path``, or None if no route matches.

        ``params`` is a new dict of converted values, by parameter name.
        """
        route = self._static.get(path)
        if route is not None:
            return (route.target, {})
        segments = path.split("/")
        if segments[0]:  # not starting with "/"
            return None
        values: list[Any] = []
        route = _walk(self._root, segments, 1, values)
        if route is None:
            return None
        params: dict[str, Any] = {}
        names = route.names
        for position in range(len(names)):
            params[names[position]] = values[position]
        return (route.target, params)

    def url_for(self, name: str, /, **params: Any) -> str:
        """The percent-encoded path of the route named ``name`` with ``params`` filled in.

        Each value goes through its converter's ``to_url``. Raises :class:`RouteError` for
        an unknown name, a missing or unexpected parameter, or a value its converter
        cannot write (a one-segment value must be non-empty and contain no ``/``).
        """
        route = self._names.get(name)
        if route is None:
            raise RouteError(f"url_for: no route is named {name!r}")
        missing = [param for param in route.names if param not in params]
        if missing:
            listed = ", ".join(repr(param) for param in missing)
            raise RouteError(f"url_for({name!r}): missing parameter {listed} of {route.pattern!r}")
        unexpected = [param for param in params if param not in route.names]
        if unexpected:
            listed = ", ".join(repr(param) for param in unexpected)
            raise RouteError(f"url_for({name!r}): {route.pattern!r} has no parameter {listed}")
        pieces: list[str] = []
        for part in route.parts:
            if isinstance(part, str):
                pieces.append(part)
                continue
            param, converter_name, rest = part
            value = params[param]
            try:
                text = self._converters[converter_name].to_url(value)
                if not isinstance(text, str):
                    raise ValueError(f"to_url() returned {type(text).__name__}, not str")
                if not rest and (not text or "/" in text):
                    raise ValueError(f"{text!r} is not a single non-empty segment")
            except ValueError as exc:
                raise RouteError(
                    f"url_for({name!r}): {param}={value!r} does not fit {{{param}:{converter_name}}} in {route.pattern!r}: {exc}"
                ) from None
            pieces.append(quote(text, safe=_REST_SAFE if rest else _SEGMENT_SAFE))
        return "/" + "/".join(pieces)

    @property
    def routes(self) -> tuple[tuple[str, Any, Optional[str]], ...]:
        """``(pattern, target, name)`` of every route, in registration order."""
        return tuple((route.pattern, route.target, route.name) for route in self._routes)

    def __repr__(self) -> str:
        return f"<Router: {len(self._routes)} routes>"
