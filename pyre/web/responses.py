"""Responses of ``pyre.web``: each one is an ASGI callable, ``await response(scope, receive, send)``.

- :class:`Response` sends exactly two messages (``http.response.start`` and one
  ``http.response.body``); its header list (``raw_headers``, lower-case ``bytes`` pairs, with
  ``content-type`` and ``content-length``) is built once, at construction, where every name
  and value is validated: CR, LF, NUL or another control character raises
  :class:`ValueError` there, never a broken response later.
- :class:`JSON`, :class:`HTML`, :class:`Text`, :class:`Redirect` are small subclasses.
- :class:`Stream` sends the items of an (async) iterable as they come; if the client goes
  away (``send`` raises ``OSError`` or ``receive()`` yields ``http.disconnect``), the
  iterator is closed (``aclose()``) and nothing is logged.
  :class:`ServerSentEvents` streams :class:`SSE` events with keep-alive comments.
- :class:`File` serves a file with validators, conditional requests and byte ranges.

A response whose client disconnected still runs its ``background`` tasks (see
:mod:`pyre.web.background`); a response that failed with an error does not.
:func:`to_response` turns what a handler returns into a response.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import errno
import functools
import mimetypes
import os
import re
import stat as stat_module
import unicodedata
from email.utils import formatdate, mktime_tz, parsedate_tz
from typing import (
    Any,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    ClassVar,
    Coroutine,
    Dict,
    Iterable,
    List,
    Literal,
    Mapping,
    MutableMapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)
from urllib.parse import quote

from pyre.web._json import dumps
from pyre.web.background import BackgroundTasks
from pyre.web.cookies import DELETED, SameSite, format_cookie
from pyre.web.datastructures import MutableHeaders, header_name, header_value

__all__ = [
    "HTML",
    "JSON",
    "SSE",
    "File",
    "Redirect",
    "Response",
    "ServerSentEvents",
    "Stream",
    "Text",
    "guess_media_type",
    "to_response",
]

Scope = MutableMapping[str, Any]
Message = Dict[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[Message], Awaitable[None]]
RawHeaders = List[Tuple[bytes, bytes]]
HeadersArg = Union[Mapping[str, str], Iterable[Tuple[Union[str, bytes], Union[str, bytes]]], None]
ChunkSource = Union[AsyncIterable[Any], Iterable[Any]]

_NO_BODY_STATUS = frozenset({204, 304})
_CONTENT_TYPE = b"content-type"
_CONTENT_LENGTH = b"content-length"


class _ClientGone(Exception):
    """``send`` raised ``OSError``: the client went away (ASGI spec 2.4)."""


# -- headers ----------------------------------------------------------------------------------


def _encode_headers(headers: HeadersArg) -> RawHeaders:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(header_name(name), header_value(name, value)) for name, value in items]


def _has(raw: RawHeaders, name: bytes) -> bool:
    for key, _ in raw:
        if key == name:
            return True
    return False


@functools.lru_cache(maxsize=256)
def _content_type(media_type: str, charset: str) -> bytes:
    """The ``content-type`` value: text types get ``; charset=...`` unless they name one."""
    if media_type.startswith("text/") and "charset=" not in media_type.lower():
        media_type = f"{media_type}; charset={charset}"
    return header_value("content-type", media_type)


# -- plain responses -------------------------------------------------------------------------


class Response:
    """A response with a complete body: ``Response(b"...", 200, {"x-a": "1"}, "image/png")``.

    ``body`` is ``bytes`` (a ``str`` is encoded with ``charset``). ``headers`` is a mapping or
    a list of (name, value) pairs. ``media_type`` (or the class's) becomes ``content-type``,
    with ``; charset=utf-8`` for ``text/*`` types, unless ``headers`` sets one; a given
    ``content-length`` is kept (a HEAD answer may describe the GET body). 204 and 304
    carry no body and no ``content-length``.
    """

    __slots__ = ("status", "body", "raw_headers", "background", "_headers")

    media_type: ClassVar[Optional[str]] = None
    charset: ClassVar[str] = "utf-8"
    # The class's content-type header, computed once per class (see __init_subclass__).
    _content_type_header: ClassVar[Optional[Tuple[bytes, bytes]]] = None

    status: int
    body: bytes
    #: The header list sent as is: lower-case names, validated, built once.
    raw_headers: RawHeaders
    background: Optional[BackgroundTasks]

    def __init__(
        self,
        body: Union[bytes, bytearray, memoryview, str] = b"",
        status: int = 200,
        headers: HeadersArg = None,
        media_type: Optional[str] = None,
        background: Optional[BackgroundTasks] = None,
    ) -> None:
        if isinstance(body, str):
            body = body.encode(self.charset)
        elif type(body) is not bytes:
            if not isinstance(body, (bytes, bytearray, memoryview)):
                raise TypeError(f"a response body must be bytes or str, got {type(body).__name__}")
            body = bytes(body)
        self.body = body
        self._setup(status, headers, media_type, background, len(body))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._content_type_header = (
            None if cls.media_type is None else (_CONTENT_TYPE, _content_type(cls.media_type, cls.charset))
        )

    def _setup(
        self,
        status: int,
        headers: HeadersArg,
        media_type: Optional[str],
        background: Optional[BackgroundTasks],
        length: Optional[int],
    ) -> None:
        """Status, background and the header list (``length`` None: no ``content-length``)."""
        if type(status) is not int or not 100 <= status <= 599:
            raise ValueError(f"a response status must be an int from 100 to 599, got {status!r}")
        self.status = status
        self.background = background
        self._headers: Optional[MutableHeaders] = None
        if media_type is None:
            content_type = self._content_type_header
        else:
            content_type = (_CONTENT_TYPE, _content_type(media_type, self.charset))
        if status in _NO_BODY_STATUS or status < 200:
            if length:
                raise ValueError(f"a {status} response cannot have a body")
            content_type = length = None
        if headers is None:  # the common case: nothing to search
            if length is None:
                self.raw_headers = [] if content_type is None else [content_type]
            elif content_type is None:
                self.raw_headers = [(_CONTENT_LENGTH, b"%d" % length)]
            else:
                self.raw_headers = [content_type, (_CONTENT_LENGTH, b"%d" % length)]
            return
        raw = _encode_headers(headers)
        if content_type is not None and not _has(raw, _CONTENT_TYPE):
            raw.append(content_type)
        if length is not None and not _has(raw, _CONTENT_LENGTH):
            raw.append((_CONTENT_LENGTH, b"%d" % length))
        self.raw_headers = raw

    @property
    def headers(self) -> MutableHeaders:
        """The headers as a case-insensitive mapping over ``raw_headers`` (changes write through)."""
        if self._headers is None:
            self._headers = MutableHeaders(self.raw_headers)
        return self._headers

    def set_cookie(
        self,
        key: str,
        value: str = "",
        *,
        max_age: Optional[Union[int, datetime.timedelta]] = None,
        expires: Optional[Union[datetime.datetime, int, float]] = None,
        path: Optional[str] = "/",
        domain: Optional[str] = None,
        secure: bool = True,
        httponly: bool = True,
        samesite: Optional[SameSite] = "lax",
        partitioned: bool = False,
    ) -> None:
        """Add a ``Set-Cookie`` header (safe defaults: see :mod:`pyre.web.cookies`)."""
        cookie = format_cookie(key, value, max_age, expires, path, domain, secure, httponly, samesite, partitioned)
        self.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))

    def delete_cookie(
        self,
        key: str,
        *,
        path: Optional[str] = "/",
        domain: Optional[str] = None,
        secure: bool = True,
        httponly: bool = True,
        samesite: Optional[SameSite] = "lax",
        partitioned: bool = False,
    ) -> None:
        """Add a ``Set-Cookie`` header that removes ``key`` (give the ``path``, ``domain`` and
        ``partitioned`` it was set with)."""
        cookie = format_cookie(key, "", 0, DELETED, path, domain, secure, httponly, samesite, partitioned)
        self.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status, "headers": self.raw_headers})
            await send({"type": "http.response.body", "body": self.body})
        except OSError:  # the client went away; the server knows already
            pass
        if self.background is not None:
            await self.background()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status}>"


class JSON(Response):
    """``content`` encoded as JSON (msgspec, orjson or the stdlib: see :mod:`pyre.web._json`)."""

    __slots__ = ()
    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status: int = 200,
        headers: HeadersArg = None,
        media_type: Optional[str] = None,
        background: Optional[BackgroundTasks] = None,
    ) -> None:
        body = dumps(content)
        self.body = body
        content_type = self._content_type_header
        if status == 200 and headers is None and media_type is None and content_type is not None:
            # The hot path of a JSON API, without _setup's call and checks.
            self.status = 200
            self.background = background
            self._headers = None
            self.raw_headers = [content_type, (_CONTENT_LENGTH, b"%d" % len(body))]
            return
        self._setup(status, headers, media_type, background, len(body))

    @classmethod
    def encoded(cls, body: bytes) -> "JSON":
        """A 200 JSON response of ``body``, already encoded (a typed return's msgspec bytes)."""
        response = cls.__new__(cls)
        response.body = body
        response.status = 200
        response.background = None
        response._headers = None
        response.raw_headers = [_JSON_CONTENT_TYPE, (_CONTENT_LENGTH, b"%d" % len(body))]
        return response


_JSON_CONTENT_TYPE = JSON._content_type_header or (b"content-type", b"application/json")


class HTML(Response):
    """An HTML page: ``text/html; charset=utf-8``."""

    __slots__ = ()
    media_type = "text/html"


class Text(Response):
    """Plain text: ``text/plain; charset=utf-8``."""

    __slots__ = ()
    media_type = "text/plain"


# RFC 3986 reserved and unreserved characters stay; "%" too, so an encoded URL is not encoded twice.
_LOCATION_SAFE = ":/?#[]@!$&'()*+,;=%~"


class Redirect(Response):
    """A redirect to ``url`` (307 keeps the method; 301, 302, 303 or 308 on request).

    The ``Location`` is percent-encoded where it needs to be (spaces, non-ASCII, controls),
    so an unusual URL can never split the header.
    """

    __slots__ = ()

    def __init__(
        self,
        url: str,
        status: int = 307,
        headers: HeadersArg = None,
        background: Optional[BackgroundTasks] = None,
    ) -> None:
        if type(status) is not int or not 300 <= status <= 399:
            raise ValueError(f"a redirect status must be 3xx, got {status!r}")
        self.body = b""
        self._setup(status, headers, None, background, 0)
        self.raw_headers.append((b"location", quote(str(url), safe=_LOCATION_SAFE).encode("ascii")))


# -- streams ---------------------------------------------------------------------------------

_END = object()


async def _iterate_sequence(items: Sequence[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


async def _iterate_in_thread(iterable: Iterable[Any]) -> AsyncIterator[Any]:
    """A sync iterator advanced in the default thread pool, so a blocking one cannot stall the loop."""
    iterator = iter(iterable)
    try:
        while True:
            item = await asyncio.to_thread(next, iterator, _END)
            if item is _END:
                return
            yield item
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            try:
                close()
            except ValueError:  # still running next() in its thread: it ends on its own
                pass


def _aiter(source: ChunkSource) -> AsyncIterator[Any]:
    if hasattr(source, "__aiter__"):
        return source.__aiter__()
    if isinstance(source, (list, tuple)):
        return _iterate_sequence(source)
    return _iterate_in_thread(source)


async def _aclose(iterator: AsyncIterator[Any]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            return


async def _send(send: Send, message: Message) -> None:
    try:
        await send(message)
    except OSError as exc:
        raise _ClientGone() from exc


async def _until_disconnect(body: Coroutine[Any, Any, None], receive: Receive) -> None:
    """Run ``body`` until it ends or the client disconnects (then quietly).

    The body runs in its own task, cancelled at the disconnect, so an iterator waiting for
    its next item is interrupted there (and closed by the body's cleanup).
    """
    loop = asyncio.get_running_loop()
    sender = loop.create_task(body)
    watcher = loop.create_task(_wait_for_disconnect(receive))
    try:
        await asyncio.wait((sender, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when this task is cancelled: neither child outlives it
        watcher.cancel()
        sender.cancel()
        await asyncio.wait((sender, watcher))
    if sender.cancelled():  # stopped by the watcher
        failure = None if watcher.cancelled() else watcher.exception()
        if failure is not None:  # receive() itself failed
            raise failure
        return
    exc = sender.exception()
    if exc is not None and not isinstance(exc, _ClientGone):
        raise exc


class Stream(Response):
    """A body sent as it is produced: ``Stream(async_generator(), media_type="text/csv")``.

    ``content`` is an async iterable, or an iterable, of ``bytes`` or ``str`` (encoded with
    ``charset``). A list or tuple is sent as is; any other sync iterable is advanced in the
    default thread pool so a blocking generator cannot stall the event loop. Without a
    ``content-length`` the server frames the body (chunked on HTTP/1.1). When the client
    goes away the iterator is closed (``aclose()``/``close()``) and nothing is logged.
    """

    __slots__ = ("content",)

    def __init__(
        self,
        content: ChunkSource,
        status: int = 200,
        headers: HeadersArg = None,
        media_type: Optional[str] = None,
        background: Optional[BackgroundTasks] = None,
    ) -> None:
        if isinstance(content, (str, bytes, bytearray, memoryview)) or not (
            hasattr(content, "__aiter__") or hasattr(content, "__iter__")
        ):
            raise TypeError(
                f"Stream needs an iterable or async iterable of chunks, got {type(content).__name__}"
                " (a complete body goes into Response)"
            )
        self.content = content
        self.body = b""
        self._setup(status, headers, media_type, background, None)

    def _encode(self, item: Any) -> bytes:
        if type(item) is bytes:
            return item
        if isinstance(item, str):
            return item.encode(self.charset)
        if isinstance(item, (bytearray, memoryview)):
            return bytes(item)
        raise TypeError(f"{type(self).__name__} items must be bytes or str, got {type(item).__name__}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _until_disconnect(self._send_all(send), receive)
        if self.background is not None:
            await self.background()

    async def _send_all(self, send: Send) -> None:
        await _send(send, {"type": "http.response.start", "status": self.status, "headers": self.raw_headers})
        iterator = _aiter(self.content)
        try:
            await self._send_items(iterator, send)
        finally:
            await _aclose(iterator)
        await _send(send, {"type": "http.response.body", "body": b""})

    async def _send_items(self, iterator: AsyncIterator[Any], send: Send) -> None:
        async for item in iterator:
            chunk = self._encode(item)
            if chunk:
                await _send(send, {"type": "http.response.body", "body": chunk, "more_body": True})


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_PING = b": ping\n\n"


class SSE:
    """One server-sent event: ``SSE({"n": 1}, event="tick", id="1", retry=5000)``.

    ``data``: a ``str`` (each line becomes one ``data:`` line), ``None`` (no data field) or
    anything JSON-encodable (sent as JSON). ``event`` and ``id`` may not contain line breaks
    (nor ``id`` NUL); ``retry`` is the client's reconnection delay in milliseconds;
    ``comment`` lines are sent as ``: ...`` (ignored by clients).
    """

    __slots__ = ("data", "event", "id", "retry", "comment")

    def __init__(
        self,
        data: Any = None,
        *,
        event: Optional[str] = None,
        id: Optional[str] = None,
        retry: Optional[int] = None,
        comment: Optional[str] = None,
    ) -> None:
        for field, value in (("event", event), ("id", id)):
            if value is not None and (not isinstance(value, str) or "\r" in value or "\n" in value):
                raise ValueError(f"SSE {field} must be a str without line breaks, got {value!r}")
        if id is not None and "\0" in id:
            raise ValueError(f"SSE id may not contain NUL, got {id!r}")
        if retry is not None and (type(retry) is not int or retry < 0):
            raise ValueError(f"SSE retry must be a non-negative int (milliseconds), got {retry!r}")
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry
        self.comment = comment

    def encode(self) -> bytes:
        """The event as it goes on the wire, ending with the blank line that dispatches it."""
        lines: List[str] = []
        if self.comment is not None:
            lines.extend(": " + line for line in _LINE_BREAK.split(self.comment))
        if self.event is not None:
            lines.append("event: " + self.event)
        if self.id is not None:
            lines.append("id: " + self.id)
        if self.retry is not None:
            lines.append(f"retry: {self.retry}")
        if self.data is not None:
            _data_lines(self.data, lines)
        lines.append("\n")
        return "\n".join(lines).encode("utf-8")

    def __repr__(self) -> str:
        return f"SSE({self.data!r}, event={self.event!r}, id={self.id!r}, retry={self.retry!r})"


def _data_lines(data: Any, lines: List[str]) -> None:
    text = data if isinstance(data, str) else dumps(data).decode("utf-8")
    lines.extend("data: " + line for line in _LINE_BREAK.split(text))


def _encode_event(item: Any) -> bytes:
    if isinstance(item, SSE):
        return item.encode()
    lines: List[str] = []
    _data_lines(item, lines)
    lines.append("\n")
    return "\n".join(lines).encode("utf-8")


async def _next_item(iterator: AsyncIterator[Any]) -> Any:
    try:
        return await iterator.__anext__()
    except StopAsyncIteration:
        return _END


class ServerSentEvents(Stream):
    """An ``text/event-stream`` of the items of ``content`` (an async or sync iterable).

    Items: :class:`SSE` events, ``str`` (the data of an event), or anything JSON-encodable
    (dicts, lists, dataclasses: JSON data). After ``ping`` seconds without an event a
    keep-alive comment ``: ping`` goes out (``ping=None`` turns it off), which also notices
    a vanished client behind a proxy. Sends ``Cache-Control: no-cache`` and
    ``X-Accel-Buffering: no`` (nginx would otherwise buffer the stream).
    """

    __slots__ = ("ping",)
    media_type = "text/event-stream"

    def __init__(
        self,
        content: ChunkSource,
        *,
        ping: Optional[float] = 15.0,
        status: int = 200,
        headers: HeadersArg = None,
        background: Optional[BackgroundTasks] = None,
    ) -> None:
        if ping is not None and (isinstance(ping, bool) or not isinstance(ping, (int, float)) or ping < 0):
            raise ValueError(f"ping must be a number of seconds or None, got {ping!r}")
        super().__init__(content, status, headers, None, background)
        self.ping = ping or None
        raw = self.raw_headers
        if not _has(raw, b"cache-control"):
            raw.append((b"cache-control", b"no-cache"))
        if not _has(raw, b"x-accel-buffering"):
            raw.append((b"x-accel-buffering", b"no"))

    def _encode(self, item: Any) -> bytes:
        return _encode_event(item)

    async def _send_items(self, iterator: AsyncIterator[Any], send: Send) -> None:
        ping = self.ping
        if ping is None:
            await super()._send_items(iterator, send)
            return
        # The next item is awaited in its own task so a silence can be filled with a ping
        # without cancelling (and so breaking) the iterator.
        loop = asyncio.get_running_loop()
        pending: Optional[asyncio.Task[Any]] = None
        try:
            while True:
                if pending is None:
                    pending = loop.create_task(_next_item(iterator))
                done, _ = await asyncio.wait((pending,), timeout=ping)
                if not done:
                    await _send(send, {"type": "http.response.body", "body": _PING, "more_body": True})
                    continue
                item = pending.result()
                pending = None
                if item is _END:
                    return
                await _send(send, {"type": "http.response.body", "body": _encode_event(item), "more_body": True})
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
                await asyncio.wait((pending,))  # the iterator settles before it is closed


# -- files -----------------------------------------------------------------------------------

_COMPRESSED_TYPES = {"gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz",
                     "br": "application/x-brotli", "compress": "application/x-compress"}
# Representation metadata a 304, 412 or 416 does not repeat (RFC 9110 section 15.4.5).
_NOT_FOR_EMPTY = frozenset({_CONTENT_TYPE, _CONTENT_LENGTH, b"content-disposition", b"accept-ranges"})
_FILENAME_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\]')
_RANGE = re.compile(r"\s*bytes\s*=\s*([0-9]*)\s*-\s*([0-9]*)\s*\Z", re.ASCII | re.IGNORECASE)
_HUGE = 1 << 62
_UNSATISFIABLE = (-1, -1)
_EMPTY_STATUS = frozenset({304, 412, 416})
_FILE_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def guess_media_type(name: str) -> str:
    """The media type of a file by its name; compressed files are served as what they are."""
    media_type, encoding = mimetypes.guess_type(name, strict=False)
    if encoding is not None:
        return _COMPRESSED_TYPES.get(encoding, "application/octet-stream")
    return media_type or "application/octet-stream"


def _content_disposition(kind: str, filename: str) -> str:
    """RFC 6266: ``filename`` (ASCII fallback) and, when needed, ``filename*`` (RFC 5987, UTF-8)."""
    fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    fallback = _FILENAME_UNSAFE.sub("_", fallback)
    if fallback == filename:
        return f'{kind}; filename="{filename}"'
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='!#$&+^`|')}"


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= 18 else _HUGE


def _parse_range(value: bytes, size: int) -> Optional[Tuple[int, int]]:
    """``(first, last)`` (inclusive) of a single satisfiable byte range, ``_UNSATISFIABLE``, or
    None to ignore the header (not bytes, malformed, or several ranges: the whole file)."""
    match = _RANGE.match(value.decode("latin-1"))
    if match is None:
        return None
    first, last = match.groups()
    if not first:
        if not last:
            return None
        suffix = _number(last)
        if suffix == 0:
            return _UNSATISFIABLE
        return max(0, size - suffix), size - 1
    start = _number(first)
    end = _number(last) if last else _HUGE
    if end < start:
        return None
    if start >= size:
        return _UNSATISFIABLE
    return start, min(end, size - 1)


def _http_date(value: bytes) -> Optional[int]:
    try:
        parsed = parsedate_tz(value.decode("latin-1"))
        return None if parsed is None else int(mktime_tz(parsed))
    except (ValueError, TypeError, IndexError, OverflowError):
        return None


def _etag_listed(header: bytes, etag: bytes, weak: bool) -> bool:
    """Whether ``etag`` is in the If-Match/If-None-Match list ``header`` (weak or strong comparison)."""
    if header.strip() == b"*":
        return True
    for candidate in header.split(b","):
        candidate = candidate.strip()
        if candidate.startswith(b"W/"):
            if not weak:
                continue
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False


class File(Response):
    """A file from disk: ``File("report.pdf", filename="Report 2024.pdf")``.

    Built from one ``os.stat`` at construction: a missing file raises
    :class:`FileNotFoundError` there (a directory :class:`IsADirectoryError`, anything but a
    regular file :class:`ValueError`). Headers: ``content-type`` from ``media_type`` or the
    name (``mimetypes``), ``content-length``, ``last-modified`` (the mtime), ``etag``,
    ``accept-ranges: bytes`` and, with ``filename``, ``content-disposition``
    (``content_disposition="inline"`` to display rather than download; non-ASCII names get
    an RFC 5987 ``filename*`` and an ASCII ``filename`` fallback).

    - The ETag is strong: ``"<mtime in ns, hex>-<size, hex>"`` (nginx's recipe, finer). It
      changes whenever the file is rewritten (on filesystems with sub-second mtimes), and
      being strong it lets ``If-Range`` resume downloads. It says nothing about the bytes
      themselves: copies of a file with different mtimes have different ETags.
    - Conditional requests (RFC 9110 section 13.2.2, for a 200 File): ``If-Match`` and
      ``If-Unmodified-Since`` failing -> 412; ``If-None-Match`` (weak comparison) or, without
      it, ``If-Modified-Since`` -> 304 with the validators and no body.
    - ``Range`` on GET: one byte range -> 206 with ``Content-Range`` (``If-Range`` must match the
      ETag strongly or equal ``Last-Modified``); a range past the end -> 416 with
      ``Content-Range: bytes */size``. Several ranges, a malformed header, or an empty file:
      the whole file with 200 (RFC 9110 lets a server ignore ``Range``; multipart/byteranges
      is rarely worth its cost).
    - HEAD sends the headers only.
    - The whole file goes out through ``http.response.pathsend`` when the server offers it
      (Pyre does: zero-copy ``sendfile``); otherwise in ``chunk_size`` reads (64 KiB). Those
      reads are plain reads on the event loop: measured on this project's machine, a 64 KiB
      read from the page cache takes about 3 us, against about 40 us to hand the same read
      to a thread, so threads would cost more than they save; a cold read from a slow disk
      does stall the loop for its duration (serve such trees through pathsend or a proxy).
    """

    __slots__ = ("path", "stat_result", "_etag", "_mtime")

    chunk_size: ClassVar[int] = 64 * 1024

    def __init__(
        self,
        path: Union[str, "os.PathLike[str]"],
        status: int = 200,
        headers: HeadersArg = None,
        media_type: Optional[str] = None,
        filename: Optional[str] = None,
        *,
        content_disposition: Literal["attachment", "inline"] = "attachment",
        stat_result: Optional[os.stat_result] = None,
        background: Optional[BackgroundTasks] = None,
    ) -> None:
        self.path = os.path.abspath(os.fspath(path))
        st = os.stat(self.path) if stat_result is None else stat_result
        if stat_module.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "File needs a regular file, got a directory", self.path)
        if not stat_module.S_ISREG(st.st_mode):
            raise ValueError(f"File needs a regular file: {self.path!r} is not one")
        if status in _NO_BODY_STATUS or status < 200:
            raise ValueError(f"a {status} response cannot carry a file")
        if content_disposition not in ("attachment", "inline"):
            raise ValueError(f"content_disposition must be 'attachment' or 'inline', got {content_disposition!r}")
        self.stat_result = st
        self.body = b""
        self._mtime = int(st.st_mtime)
        self._etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'.encode("ascii")
        if media_type is None:
            media_type = guess_media_type(filename or self.path)
        self._setup(status, headers, media_type, background, None)
        raw = self.raw_headers
        if filename is not None:
            raw.append((b"content-disposition", header_value("filename", _content_disposition(content_disposition, filename))))
        raw.append((b"etag", self._etag))
        raw.append((b"last-modified", formatdate(st.st_mtime, usegmt=True).encode("ascii")))
        raw.append((b"accept-ranges", b"bytes"))
        if not _has(raw, _CONTENT_LENGTH):
            raw.append((_CONTENT_LENGTH, b"%d" % st.st_size))

    def _evaluate(self, scope: Scope) -> Tuple[int, int, int]:
        """``(status, first byte, byte count)`` for this request, after its conditional headers."""
        size = self.stat_result.st_size
        if self.status != 200:
            return self.status, 0, size
        if_match = if_none_match = if_modified_since = if_unmodified_since = byte_range = if_range = None
        for name, value in scope.get("headers") or ():
            if name[:3] == b"if-":
                if name == b"if-none-match":
                    if_none_match = value if if_none_match is None else if_none_match + b"," + value
                elif name == b"if-modified-since":
                    if_modified_since = value
                elif name == b"if-match":
                    if_match = value if if_match is None else if_match + b"," + value
                elif name == b"if-unmodified-since":
                    if_unmodified_since = value
                elif name == b"if-range":
                    if_range = value
            elif name == b"range":
                byte_range = value
        method = scope.get("method", "GET")
        etag, mtime = self._etag, self._mtime
        if if_match is not None:
            if not _etag_listed(if_match, etag, weak=False):
                return 412, 0, 0
        elif if_unmodified_since is not None:
            date = _http_date(if_unmodified_since)
            if date is not None and mtime > date:
                return 412, 0, 0
        if if_none_match is not None:
            if _etag_listed(if_none_match, etag, weak=True):
                return (304 if method in ("GET", "HEAD") else 412), 0, 0
        elif if_modified_since is not None and method in ("GET", "HEAD"):
            date = _http_date(if_modified_since)
            if date is not None and mtime <= date:
                return 304, 0, 0
        if byte_range is None or method != "GET" or size == 0:
            return 200, 0, size
        if if_range is not None:
            if_range = if_range.strip()
            if if_range[:1] == b'"' or if_range[:2] == b"W/":
                if if_range != etag:
                    return 200, 0, size
            elif _http_date(if_range) != mtime:
                return 200, 0, size
        span = _parse_range(byte_range, size)
        if span is None:
            return 200, 0, size
        if span is _UNSATISFIABLE:
            return 416, 0, 0
        return 206, span[0], span[1] - span[0] + 1

    def _headers_for(self, status: int, first: int, count: int) -> RawHeaders:
        if status == self.status:
            return self.raw_headers
        size = self.stat_result.st_size
        if status == 206:
            headers = [item for item in self.raw_headers if item[0] != _CONTENT_LENGTH]
            headers.append((b"content-range", b"bytes %d-%d/%d" % (first, first + count - 1, size)))
            headers.append((_CONTENT_LENGTH, b"%d" % count))
            return headers
        headers = [item for item in self.raw_headers if item[0] not in _NOT_FOR_EMPTY]
        if status == 416:
            headers.append((b"content-range", b"bytes */%d" % size))
        if status != 304:
            headers.append((_CONTENT_LENGTH, b"0"))
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, first, count = self._evaluate(scope)
        headers = self._headers_for(status, first, count)
        try:
            if count == 0 or status in _EMPTY_STATUS or scope.get("method") == "HEAD":
                await _send(send, {"type": "http.response.start", "status": status, "headers": headers})
                await _send(send, {"type": "http.response.body", "body": b""})
            elif count == self.stat_result.st_size and "http.response.pathsend" in (scope.get("extensions") or ()):
                await _send(send, {"type": "http.response.start", "status": status, "headers": headers})
                try:
                    await send({"type": "http.response.pathsend", "path": self.path})
                except _FILE_ERRORS:  # the server could not open the file: an error, not a disconnect
                    raise
                except OSError as exc:
                    raise _ClientGone() from exc
            else:
                await self._send_chunks(send, status, headers, first, count)
        except _ClientGone:
            pass
        if self.background is not None:
            await self.background()

    async def _send_chunks(self, send: Send, status: int, headers: RawHeaders, first: int, count: int) -> None:
        with open(self.path, "rb") as file:  # opened before the head goes out: a vanished file is a 500
            if first:
                file.seek(first)
            await _send(send, {"type": "http.response.start", "status": status, "headers": headers})
            chunk_size = self.chunk_size
            left = count
            while left > 0:
                chunk = file.read(min(chunk_size, left))
                if not chunk:
                    raise RuntimeError(f"{self.path} shrank while being sent ({left} bytes missing)")
                left -= len(chunk)
                await _send(send, {"type": "http.response.body", "body": chunk, "more_body": left > 0})


# -- what handlers return --------------------------------------------------------------------


def _no_content(value: None) -> Response:
    return Response(status=204)


def _octets(value: Union[bytes, bytearray, memoryview]) -> Response:
    return Response(value, media_type="application/octet-stream")


_CONVERTERS: Dict[type, Callable[[Any], Response]] = {
    dict: JSON,
    list: JSON,
    tuple: JSON,
    str: Text,
    bytes: _octets,
    bytearray: _octets,
    memoryview: _octets,
    type(None): _no_content,
    int: JSON,
    float: JSON,
    bool: JSON,
}


def to_response(value: Any) -> Response:
    """The response for what a handler returned.

    A :class:`Response` as is; ``dict``, ``list``, ``tuple``, numbers, booleans, dataclass
    instances and objects with ``__json__()`` -> :class:`JSON`; ``str`` -> :class:`Text`
    (``text/plain; charset=utf-8``); ``bytes`` -> ``application/octet-stream``; ``None`` ->
    204 No Content. Anything else raises :class:`TypeError` naming the type.
    """
    convert = _CONVERTERS.get(type(value))
    if convert is not None:
        return convert(value)
    if isinstance(value, Response):
        return value
    for kind, convert in _CONVERTERS.items():  # subclasses (an OrderedDict, a str enum)
        if isinstance(value, kind):
            return convert(value)
    if (dataclasses.is_dataclass(value) and not isinstance(value, type)) or hasattr(value, "__json__"):
        return JSON(value)
    raise TypeError(
        f"cannot make a response from {type(value).__name__}: return a Response, dict, list, "
        "dataclass, str, bytes or None"
    )
