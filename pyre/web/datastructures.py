"""The request's parsed pieces: headers, query parameters, URLs, forms, uploads, cookies.

Each structure is built only when a request's property is first read, over the raw
inputs the server gave (header names and values as bytes, the query as bytes), without
copying them: text is decoded when a value is looked up. The parsers themselves and
:class:`Headers` live in :mod:`pyre.web.parsing` (a compiled unit); import them from here.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from operator import itemgetter
from typing import IO, TYPE_CHECKING, Any, Generic, Iterable, Iterator, List, Mapping, NamedTuple, Optional, Tuple, TypeVar, Union, overload
from urllib.parse import SplitResult, urlencode, urlsplit

from .parsing import RawHeaders, _header_key

if TYPE_CHECKING:
    from .parsing import ContentType, Headers, parse_cookies, parse_options_header, parse_query
else:  # the compiled twins when built (pyre._accel chooses)
    from pyre._accel import ContentType, Headers, parse_cookies, parse_options_header, parse_query

__all__ = [
    "Address",
    "ContentType",
    "FormData",
    "Headers",
    "ImmutableMultiDict",
    "MutableHeaders",
    "QueryParams",
    "RawHeaders",
    "URL",
    "UploadFile",
    "header_name",
    "header_value",
    "parse_cookies",
    "parse_options_header",
    "parse_query",
]

V = TypeVar("V")
D = TypeVar("D")

#: Files of a form move from memory to a temporary file on disk past this size.
SPOOL_THRESHOLD = 1024 * 1024


class Address(NamedTuple):
    """The peer (``request.client``) or the local end of a connection."""

    host: str
    port: int


_HEADER_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_HEADER_VALUE_BAD = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def header_name(name: Union[str, bytes]) -> bytes:
    """A header name as sent: lower-case bytes; ``ValueError`` unless it is an HTTP token."""
    raw = name.encode("latin-1", "replace") if isinstance(name, str) else bytes(name)
    if not _HEADER_NAME.match(raw):
        raise ValueError(f"invalid header name {name!r}: not an HTTP token (letters, digits, !#$%&'*+-.^_`|~)")
    return raw.lower()


def header_value(name: Union[str, bytes], value: Union[str, bytes]) -> bytes:
    """A header value as sent (``str`` encoded latin-1); ``ValueError`` for a control
    character (CR, LF and NUL would split the response head), ``TypeError`` for a non-text."""
    if isinstance(value, str):
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"header {name!r} value {value!r} is not latin-1; percent-encode it") from None
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    else:
        raise TypeError(f"header {name!r} value must be str or bytes, got {type(value).__name__}")
    if _HEADER_VALUE_BAD.search(raw):
        raise ValueError(f"header {name!r} value {value!r} may not contain CR, LF or NUL (nor another control character)")
    return raw


class MutableHeaders(Headers):
    """Response headers (``response.headers``): a view writing through to a list of
    ``(name, value)`` byte pairs (``response.raw_headers``), names stored lower-case.

    Reads as :class:`Headers` does (case-insensitive, multi-value). ``headers[name] =
    value`` replaces every value of ``name``, ``append`` adds one, ``del headers[name]``
    removes every value (no error when there is none). A name that is not an HTTP token,
    or a value with a control character (CR, LF, NUL, ...), is refused with ``ValueError``
    (either could split the response head).
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
        key = header_name(name)
        pair = (key, header_value(name, value))
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
        self._raw.append((header_name(name), header_value(name, value)))

    def setdefault(self, name: str, value: str) -> str:
        """The first value of ``name``; set to ``value`` first if it has none."""
        current = self.get(name)
        if current is None:
            self._raw.append((header_name(name), header_value(name, value)))
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
        elif type(items) is list:  # the common case, without the ABC checks below
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
        return sorted(self._list, key=itemgetter(0)) == sorted(other._list, key=itemgetter(0))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._list!r})"


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
