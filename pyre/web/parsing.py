"""Parsers of a request's raw inputs: the header list (:class:`Headers`, a view over
it), header values (``Content-Type`` parameters, cookies) and the query string.

The hottest code of a request (most handlers read a header or a query parameter), so
it is one unit compiled in pure mode (``pyre.web._parsing_c``, typed by
``_parsing_c.pxd``); ``pyre._accel`` chooses the twin and
:mod:`pyre.web.datastructures` exports its names.
"""

from __future__ import annotations

import re
from operator import itemgetter
from typing import Any, Iterator, List, NamedTuple, Optional, Sequence, Tuple, TypeVar, Union, overload
from urllib.parse import unquote, unquote_to_bytes

__all__ = ["ContentType", "Headers", "RawHeaders", "parse_cookies", "parse_options_header", "parse_query"]

RawHeaders = Sequence[Tuple[bytes, bytes]]
D = TypeVar("D")


def _header_key(name: str) -> Optional[bytes]:
    """A header name as compared with the raw names; None if no header can have it."""
    try:
        return name.lower().encode("latin-1")
    except UnicodeEncodeError:
        return None


class Headers:
    """Read-only, case-insensitive, multi-value view over raw ``(name, value)`` byte pairs.

    No copy is made: lookups scan the list the server gave, comparing names lower-case
    (a mixed-case name from a server that does not lower-case them still matches), and
    decode values as latin-1. ``headers["accept"]`` and ``get`` give the first value,
    ``getlist`` every value in order; ``items()``, ``keys()``, ``values()`` and ``len()``
    count every header line, names lower-cased.
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: Optional[RawHeaders] = None) -> None:
        self._raw: RawHeaders = [] if raw is None else raw

    @property
    def raw(self) -> RawHeaders:
        """The underlying ``(name, value)`` byte pairs."""
        return self._raw

    @overload
    def get(self, name: str) -> Optional[str]: ...
    @overload
    def get(self, name: str, default: D) -> Union[str, D]: ...
    def get(self, name: str, default: Any = None) -> Any:
        """The first value of header ``name`` (any case), or ``default``."""
        key = _header_key(name)
        if key is None:
            return default
        size = len(key)
        for raw_name, value in self._raw:
            if raw_name == key or (len(raw_name) == size and raw_name.lower() == key):
                return value.decode("latin-1")
        return default

    def getlist(self, name: str) -> List[str]:
        """Every value of header ``name`` (any case), in order."""
        key = _header_key(name)
        if key is None:
            return []
        size = len(key)
        return [
            value.decode("latin-1")
            for raw_name, value in self._raw
            if raw_name == key or (len(raw_name) == size and raw_name.lower() == key)
        ]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def keys(self) -> List[str]:
        """Every header name, lower-cased, in order (a repeated header repeats)."""
        return [name.decode("latin-1").lower() for name, _ in self._raw]

    def values(self) -> List[str]:
        """Every header value, in order."""
        return [value.decode("latin-1") for _, value in self._raw]

    def items(self) -> List[Tuple[str, str]]:
        """Every ``(name, value)`` pair, names lower-cased, in order."""
        return [(name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in self._raw]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._raw)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        # The order of different names carries no meaning; that of one name's values does.
        return sorted(self.items(), key=itemgetter(0)) == sorted(other.items(), key=itemgetter(0))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.items()!r})"


class ContentType(NamedTuple):
    """A ``Content-Type``: the media type, lower-cased (``"text/html"``), and its
    parameters (names lower-cased, quoted values unquoted): ``{"charset": "utf-8"}``."""

    media_type: str
    params: dict[str, str]


def parse_query(raw: bytes) -> List[Tuple[str, str]]:
    """``name=value`` pairs of a query string or urlencoded body, in order.

    The semantics of ``urllib.parse.parse_qsl(..., keep_blank_values=True)``: fields
    split on ``&``, ``+`` is a space, percent-escapes decode as UTF-8 (invalid
    sequences become U+FFFD), a field without ``=`` has the value ``""``, empty
    fields are skipped. Unlike ``parse_qsl`` it takes bytes, and raw non-ASCII bytes
    decode as UTF-8 like escaped ones.
    """
    pairs: List[Tuple[str, str]] = []
    if not raw:
        return pairs
    if not raw.isascii():
        # Rare: percent-decode bytes first, so raw and escaped UTF-8 decode as one.
        for field_bytes in raw.split(b"&"):
            if field_bytes:
                name_bytes, _, value_bytes = field_bytes.partition(b"=")
                pairs.append((
                    unquote_to_bytes(name_bytes.replace(b"+", b" ")).decode("utf-8", "replace"),
                    unquote_to_bytes(value_bytes.replace(b"+", b" ")).decode("utf-8", "replace"),
                ))
        return pairs
    text = raw.decode("ascii")
    if "%" not in text and "+" not in text:
        for field in text.split("&"):
            if field:
                name, _, value = field.partition("=")
                pairs.append((name, value))
        return pairs
    for field in text.split("&"):
        if field:
            name, _, value = field.partition("=")
            if "+" in name:
                name = name.replace("+", " ")
            if "%" in name:
                name = unquote(name)
            if "+" in value:
                value = value.replace("+", " ")
            if "%" in value:
                value = unquote(value)
            pairs.append((name, value))
    return pairs


# -- header values --------------------------------------------------------------------------

_QUOTED_PARAMS = re.compile(r';[ \t]*([^;=]*?)[ \t]*(?:=[ \t]*("(?:[^"\\]|\\.)*"|[^;]*?))?[ \t]*(?=;|$)', re.S)
_QUOTED_PAIR = re.compile(r'\\([\\"])')


def parse_options_header(value: str) -> ContentType:
    """Split ``text/html; charset="utf-8"`` into the lower-cased main value and its
    parameters (names lower-cased; quoted values unquoted; ``;`` inside quotes kept).

    Tolerant: a parameter without ``=`` gets ``""``; for a repeated parameter the
    last wins. Used for ``Content-Type`` and a form part's ``Content-Disposition``.
    """
    main, sep, rest = value.partition(";")
    params: dict[str, str] = {}
    if sep:
        if '"' not in rest:
            for item in rest.split(";"):
                name, _, param = item.partition("=")
                name = name.strip(" \t").lower()
                if name:
                    params[name] = param.strip(" \t")
        else:
            for match in _QUOTED_PARAMS.finditer(";" + rest):
                name = match[1].lower()
                if name:
                    param = match[2] or ""
                    if len(param) >= 2 and param[0] == '"' == param[-1]:
                        param = _QUOTED_PAIR.sub(r"\1", param[1:-1])
                    params[name] = param
    return ContentType(main.strip(" \t").lower(), params)


_COOKIE_ESCAPE = re.compile(r"\\(?:([0-3][0-7][0-7])|(.))", re.S)


def _cookie_unescape(match: "re.Match[str]") -> str:
    return chr(int(match[1], 8)) if match[1] else match[2]


def parse_cookies(header: str) -> dict[str, str]:
    """The ``name=value`` pairs of a request's ``Cookie`` header (RFC 6265 5.4).

    Tolerant like browsers: pairs split on ``;``, spaces and tabs around names and
    values dropped, a pair without ``=`` is a value with an empty name, invalid
    characters kept as they are. A quoted value is unquoted, undoing the escapes
    Python's ``http.cookies`` writes (``\\"``, ``\\054``). For a repeated name the
    first value wins: browsers list the cookie of the most specific path first.
    """
    cookies: dict[str, str] = {}
    for crumb in header.split(";"):
        name, sep, value = crumb.partition("=")
        if not sep:
            name, value = "", name
        name = name.strip(" \t")
        value = value.strip(" \t")
        if not name and not value:
            continue
        if len(value) >= 2 and value[0] == '"' == value[-1]:
            value = value[1:-1]
            if "\\" in value:
                value = _COOKIE_ESCAPE.sub(_cookie_unescape, value)
        if name not in cookies:
            cookies[name] = value
    return cookies
