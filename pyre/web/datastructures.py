"""The request's parsed pieces: headers, query parameters, URLs, forms, uploads, cookies.

Each structure is built only when a request's property is first read, over the raw
inputs the server gave (header names and values as bytes, the query as bytes), without
copying them: text is decoded when a value is looked up.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from typing import IO, Any, Generic, Iterable, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple, TypeVar, Union, overload
from urllib.parse import SplitResult, unquote, unquote_to_bytes, urlencode, urlsplit

__all__ = [
    "Address",
    "ContentType",
    "FormData",
    "Headers",
    "ImmutableMultiDict",
    "MutableHeaders",
    "QueryParams",
    "URL",
    "UploadFile",
    "parse_cookies",
    "parse_options_header",
    "parse_query",
]

RawHeaders = Sequence[Tuple[bytes, bytes]]
V = TypeVar("V")
D = TypeVar("D")

#: Files of a form move from memory to a temporary file on disk past this size.
SPOOL_THRESHOLD = 1024 * 1024


class Address(NamedTuple):
    """The peer (``request.client``) or the local end of a connection."""

    host: str
    port: int


class ContentType(NamedTuple):
    """A ``Content-Type``: the media type, lower-cased (``"text/html"``), and its
    parameters (names lower-cased, quoted values unquoted): ``{"charset": "utf-8"}``."""

    media_type: str
    params: dict[str, str]


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
        if not isinstance(name, str):
            return False
        key = _header_key(name)
        if key is None:
            return False
        size = len(key)
        for raw_name, _ in self._raw:
            if raw_name == key or (len(raw_name) == size and raw_name.lower() == key):
                return True
        return False

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
        return sorted(self.items(), key=_first) == sorted(other.items(), key=_first)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.items()!r})"


def _first(pair: Tuple[str, str]) -> str:
    return pair[0]


def _encode_header(name: str, value: str) -> Tuple[bytes, bytes]:
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"header {name!r}: a value may not contain CR, LF or NUL")
    return name.lower().encode("latin-1"), value.encode("latin-1")


class MutableHeaders(Headers):
    """Response headers: a list of ``(name, value)`` byte pairs, names stored lower-case.

    ``headers[name] = value`` replaces every value of ``name``, ``append`` adds one,
    ``del headers[name]`` removes every value (no error when there is none).
    A value with CR, LF or NUL is refused with ``ValueError``.
    """

    __slots__ = ()

    _raw: List[Tuple[bytes, bytes]]

    def __init__(self, raw: Optional[List[Tuple[bytes, bytes]]] = None) -> None:
        self._raw = [] if raw is None else raw

    @property
    def raw(self) -> List[Tuple[bytes, bytes]]:
        """The list of ``(name, value)`` byte pairs, as sent."""
        return self._raw

    def __setitem__(self, name: str, value: str) -> None:
        pair = _encode_header(name, value)
        key = pair[0]
        raw = self._raw
        found = -1
        for index in range(len(raw) - 1, -1, -1):
            if raw[index][0].lower() == key:
                if found >= 0:
                    del raw[found]
                found = index
        if found >= 0:
            raw[found] = pair
        else:
            raw.append(pair)

    def __delitem__(self, name: str) -> None:
        key = _header_key(name)
        if key is not None:
            self._raw[:] = [pair for pair in self._raw if pair[0].lower() != key]

    def append(self, name: str, value: str) -> None:
        """Add a value for ``name``, keeping the values it has."""
        self._raw.append(_encode_header(name, value))

    def setdefault(self, name: str, value: str) -> str:
        """The first value of ``name``; set to ``value`` first if it has none."""
        current = self.get(name)
        if current is None:
            self._raw.append(_encode_header(name, value))
            return value
        return current

    def update(self, values: Union[Mapping[str, str], Iterable[Tuple[str, str]]]) -> None:
        """Set each ``name: value`` (replacing that name's values)."""
        pairs = values.items() if isinstance(values, Mapping) else values
        for name, value in pairs:
            self[name] = value


# -- multi-dicts, query parameters -------------------------------------------------------


class ImmutableMultiDict(Generic[V]):
    """A read-only mapping where a key may have several values.

    ``d[key]`` and ``get`` give the key's last value, ``getlist`` all of them in order;
    ``keys``/``values``/``items`` see each key once (with its last value);
    ``multi_items`` gives every pair in order.
    """

    __slots__ = ("_list", "_dict")

    def __init__(self, items: Union[Iterable[Tuple[str, V]], Mapping[str, V], None] = None) -> None:
        if items is None:
            pairs: List[Tuple[str, V]] = []
        elif type(items) is list:
            pairs = list(items)
        elif isinstance(items, ImmutableMultiDict):
            pairs = items.multi_items()
        elif isinstance(items, Mapping):
            pairs = list(items.items())
        else:
            pairs = list(items)
        self._list = pairs
        self._dict: dict[str, V] = dict(pairs)

    @overload
    def get(self, key: str) -> Optional[V]: ...
    @overload
    def get(self, key: str, default: D) -> Union[V, D]: ...
    def get(self, key: str, default: Any = None) -> Any:
        """The last value of ``key``, or ``default``."""
        return self._dict.get(key, default)

    def getlist(self, key: str) -> List[V]:
        """Every value of ``key``, in order."""
        return [value for name, value in self._list if name == key]

    def __getitem__(self, key: str) -> V:
        return self._dict[key]

    def __contains__(self, key: object) -> bool:
        return key in self._dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def keys(self) -> List[str]:
        """Each key once, in order of first appearance."""
        return list(self._dict)

    def values(self) -> List[V]:
        """Each key's last value."""
        return list(self._dict.values())

    def items(self) -> List[Tuple[str, V]]:
        """Each key once, with its last value."""
        return list(self._dict.items())

    def multi_items(self) -> List[Tuple[str, V]]:
        """Every ``(key, value)`` pair, in order."""
        return list(self._list)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ImmutableMultiDict):
            return NotImplemented
        return sorted(self._list, key=_first_key) == sorted(other._list, key=_first_key)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._list!r})"


def _first_key(pair: Tuple[str, Any]) -> str:
    return pair[0]


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


class QueryParams(ImmutableMultiDict[str]):
    """The query parameters of a URL: ``QueryParams(b"a=1&a=2&b")``.

    Built from raw query bytes (or a ``str``, a mapping or ``(name, value)`` pairs);
    see :func:`parse_query` for the decoding. ``str()`` encodes it back.
    """

    __slots__ = ()

    def __init__(self, query: Union[bytes, str, Iterable[Tuple[str, str]], Mapping[str, str], None] = None) -> None:
        if isinstance(query, bytes):
            self._list = parse_query(query)
            self._dict = dict(self._list)
        elif isinstance(query, str):
            super().__init__(parse_query(query.encode("utf-8")))
        else:
            super().__init__(query)

    def __str__(self) -> str:
        return urlencode(self._list)


# -- URLs ---------------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class URL:
    """A URL, split into its pieces only when one is read.

    Built from the request it is the wire form: the path and query stay
    percent-encoded as the client sent them (``request.path`` is the decoded path).
    """

    __slots__ = ("_url", "_split")

    def __init__(self, url: str = "") -> None:
        self._url = url
        self._split: Optional[SplitResult] = None

    @property
    def _parts(self) -> SplitResult:
        split = self._split
        if split is None:
            split = self._split = urlsplit(self._url)
        return split

    @property
    def scheme(self) -> str:
        return self._parts.scheme

    @property
    def netloc(self) -> str:
        """``host[:port]`` (with any ``user:password@``) as written."""
        return self._parts.netloc

    @property
    def hostname(self) -> Optional[str]:
        """The host, lower-cased, without brackets around an IPv6 address."""
        return self._parts.hostname

    @property
    def port(self) -> Optional[int]:
        """The explicit port, or None; an invalid port raises ``ValueError``."""
        return self._parts.port

    @property
    def username(self) -> Optional[str]:
        return self._parts.username

    @property
    def password(self) -> Optional[str]:
        return self._parts.password

    @property
    def path(self) -> str:
        """The path, percent-encoded."""
        return self._parts.path

    @property
    def query(self) -> str:
        """The query string (without ``?``), percent-encoded."""
        return self._parts.query

    @property
    def fragment(self) -> str:
        return self._parts.fragment

    @property
    def is_secure(self) -> bool:
        return self.scheme in ("https", "wss")

    def replace(self, **pieces: Any) -> URL:
        """A copy with some pieces replaced: ``scheme``, ``netloc``, ``path``, ``query``,
        ``fragment``, or ``hostname``/``port``/``username``/``password`` (rebuilding the netloc)."""
        parts = self._parts
        if {"hostname", "port", "username", "password"} & pieces.keys():
            hostname = pieces.pop("hostname", parts.hostname) or ""
            port = pieces.pop("port", parts.port)
            username = pieces.pop("username", parts.username)
            password = pieces.pop("password", parts.password)
            if ":" in hostname and not hostname.startswith("["):
                hostname = f"[{hostname}]"
            netloc = hostname if port is None else f"{hostname}:{port}"
            if username is not None:
                userinfo = username if password is None else f"{username}:{password}"
                netloc = f"{userinfo}@{netloc}"
            pieces["netloc"] = netloc
        return URL(parts._replace(**pieces).geturl())

    def include_query_params(self, **params: Any) -> URL:
        """A copy whose query also has ``params`` (replacing those names' values)."""
        query = QueryParams(self.query).multi_items()
        query = [(name, value) for name, value in query if name not in params]
        query.extend((name, str(value)) for name, value in params.items())
        return self.replace(query=urlencode(query))

    def remove_query_params(self, *names: str) -> URL:
        """A copy without the query parameters ``names``."""
        query = [(name, value) for name, value in QueryParams(self.query).multi_items() if name not in names]
        return self.replace(query=urlencode(query))

    def __str__(self) -> str:
        return self._url

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (URL, str)):
            return self._url == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._url)

    def __repr__(self) -> str:
        return f"URL({self._url!r})"


# -- forms and uploads ---------------------------------------------------------------------


class UploadFile:
    """A file of a multipart form: its name and type as the client sent them (never
    trust ``filename`` as a path), the part's headers, its size, and the data in
    ``file`` (in memory up to the spool threshold, past it in a temporary file).

    ``read``/``seek``/``write``/``close`` are coroutines; on a file on disk they run
    in a worker thread, so a large read does not block the event loop.
    """

    __slots__ = ("file", "filename", "content_type", "headers", "size")

    def __init__(
        self,
        file: Optional[IO[bytes]] = None,
        *,
        filename: Optional[str] = None,
        content_type: Optional[str] = None,
        headers: Optional[Headers] = None,
        size: int = 0,
        spool_threshold: int = SPOOL_THRESHOLD,
    ) -> None:
        self.file: IO[bytes] = (
            file if file is not None else tempfile.SpooledTemporaryFile(max_size=spool_threshold)
        )
        self.filename = filename
        self.content_type = content_type
        self.headers = headers if headers is not None else Headers()
        self.size = size

    @property
    def in_memory(self) -> bool:
        """True while the data is held in memory (a spooled file not rolled to disk)."""
        return not getattr(self.file, "_rolled", True)

    async def _run(self, function: Any, *args: Any) -> Any:
        if self.in_memory:
            return function(*args)
        return await asyncio.get_running_loop().run_in_executor(None, function, *args)

    async def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes from the current position (all of them by default)."""
        data: bytes = await self._run(self.file.read, size)
        return data

    async def seek(self, offset: int, whence: int = 0) -> int:
        position: int = await self._run(self.file.seek, offset, whence)
        return position

    async def write(self, data: bytes) -> int:
        written: int = await self._run(self.file.write, data)
        if self.file.tell() > self.size:
            self.size = self.file.tell()
        return written

    async def close(self) -> None:
        """Close the file (a temporary file on disk is removed)."""
        await self._run(self.file.close)

    def __repr__(self) -> str:
        return f"UploadFile(filename={self.filename!r}, content_type={self.content_type!r}, size={self.size})"


class FormData(ImmutableMultiDict[Union[str, UploadFile]]):
    """A parsed form: field values (``str``) and files (:class:`UploadFile`) by name."""

    __slots__ = ()

    async def close(self) -> None:
        """Close every file of the form."""
        for _, value in self._list:
            if isinstance(value, UploadFile):
                await value.close()


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
