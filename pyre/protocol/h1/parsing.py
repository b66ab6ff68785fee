"""The HTTP/1.1 request parser interface: its events, its error and its limits.

Both twins (``pyre._speedups.h1parser`` in Cython, ``pyre._pure.h1parser`` in
Python) import these classes, so ``isinstance`` checks and error handling are the
same in both modes.

Strategy
--------
The parser is sans-IO. ``feed(data)`` appends bytes and returns a list of events;
one call per socket read. It parses at most one message, then *pauses*: bytes of a
pipelined request stay unparsed until the connection has answered the current one
and calls ``resume()``. So nothing is parsed ahead of the response, a request after
``Connection: close`` or an upgrade is never parsed, and what the parser holds is
bounded by the limits below plus one read.

Events, in order, for each message::

    Request, Body*, EndOfMessage        (a request)
    H2Preface                           (the HTTP/2 connection preface, first message only)

Receiving into pooled buffers: a connection that is an ``asyncio.BufferedProtocol``
asks ``get_buffer()`` for a writable buffer, the loop reads the socket into it, and
``buffer_updated(n)`` parses those ``n`` bytes like ``feed``. The buffer is a block of
a process-wide pool (``RECV_BLOCK_SIZE`` bytes; at most ``RECV_POOL_KEEP`` free blocks
are kept): the parser lends it out, parses it in place and takes it back in the same
call, copying out only what it must keep (a partial head, a pipelined request). No
event ever refers to a block: header values, targets and body bytes are new ``bytes``,
so a block is reused without exposing anything. A ``Content-Length`` body of at least
``DIRECT_BODY_MIN`` bytes still to come is read straight into a new ``bytes`` object
that becomes the ``Body`` event itself (the compiled twin; the pure twin copies).

Any violation of RFC 9112 raises :class:`ParseError` carrying the status to answer
(400, 413, 414, 431, 501, 505). After an error the parser is dead: every further
call raises the same error, so the bytes after a bad request are never read as
another request.
"""

from __future__ import annotations

from typing import List, Optional, Protocol, Tuple, Union

__all__ = [
    "Body",
    "DIRECT_BODY_MAX",
    "DIRECT_BODY_MIN",
    "EndOfMessage",
    "END_OF_MESSAGE",
    "Event",
    "H1Limits",
    "H2Preface",
    "H2_PREFACE",
    "ParseError",
    "Request",
    "RECV_BLOCK_SIZE",
    "RECV_POOL_KEEP",
    "RequestParserAPI",
    "head_limit_error",
    "host_error",
]

Headers = List[Tuple[bytes, bytes]]

#: Bytes in one pooled receive block (libuv offers 64 KiB per read as its hint too).
RECV_BLOCK_SIZE = 64 * 1024
#: Free receive blocks a process keeps; a block is lent only between ``get_buffer`` and
#: ``buffer_updated``, so one is what a single-threaded loop uses.
RECV_POOL_KEEP = 4
#: A Content-Length body with at least this many bytes still to come is read into its own
#: ``bytes`` (no copy out of a block), up to ``DIRECT_BODY_MAX`` bytes per read (what the
#: body still needs plus one byte, when that is less).
DIRECT_BODY_MIN = 16 * 1024
DIRECT_BODY_MAX = 256 * 1024


class Request:
    """The head of a request.

    ``path`` is the raw path (before ``?``; for an absolute-form target, the path
    part of it), ``query`` the raw bytes after the first ``?``. ``headers`` keeps
    order and repeats, names lower-cased. ``content_length`` is -1 when the request
    has no Content-Length; ``chunked`` is True for a chunked body. ``upgrade`` is
    the Upgrade header value when ``Connection: upgrade`` was also sent, else None.
    """

    __slots__ = (
        "method",
        "path",
        "query",
        "http_version",
        "headers",
        "keep_alive",
        "expect_continue",
        "chunked",
        "content_length",
        "upgrade",
    )

    def __init__(
        self,
        method: str,
        path: bytes,
        query: bytes,
        http_version: str,
        headers: Headers,
        keep_alive: bool,
        expect_continue: bool,
        chunked: bool,
        content_length: int,
        upgrade: Optional[bytes],
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.http_version = http_version
        self.headers = headers
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.chunked = chunked
        self.content_length = content_length
        self.upgrade = upgrade

    @property
    def has_body(self) -> bool:
        return self.chunked or self.content_length > 0

    def __repr__(self) -> str:
        return (
            f"Request(method={self.method!r}, path={self.path!r}, query={self.query!r}, "
            f"http_version={self.http_version!r}, headers={self.headers!r}, "
            f"keep_alive={self.keep_alive!r}, expect_continue={self.expect_continue!r}, "
            f"chunked={self.chunked!r}, content_length={self.content_length!r}, "
            f"upgrade={self.upgrade!r})"
        )

    def __eq__(self, other: object) -> bool:
        if type(other) is not Request:
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in Request.__slots__)


class Body:
    """A piece of the request body (all body bytes parsed in one ``feed``)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"Body({self.data!r})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not Body:
            return NotImplemented
        return self.data == other.data


class EndOfMessage:
    """The end of a request; ``trailers`` holds a chunked body's trailer fields.

    Trailers are never merged into the request headers; fields that must not be
    trailers (framing, routing, control) are dropped.
    """

    __slots__ = ("trailers",)

    def __init__(self, trailers: Tuple[Tuple[bytes, bytes], ...] = ()) -> None:
        self.trailers = trailers

    def __repr__(self) -> str:
        return f"EndOfMessage({self.trailers!r})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not EndOfMessage:
            return NotImplemented
        return self.trailers == other.trailers


END_OF_MESSAGE = EndOfMessage()


class H2Preface:
    """The HTTP/2 prior-knowledge preface opened the connection (RFC 9113 §3.4).

    The parser stops; ``trailing_data`` holds the bytes after the preface.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "H2Preface()"

    def __eq__(self, other: object) -> bool:
        return type(other) is H2Preface


H2_PREFACE = H2Preface()

Event = Union[Request, Body, EndOfMessage, H2Preface]


class ParseError(Exception):
    """The peer sent bytes that are not a valid request; answer ``status`` and close."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.status}: {self.reason}"


def head_limit_error(pos: int, line_end: int, end: int, max_request_line: int,
                     max_header_size: int) -> Optional[Tuple[int, str]]:
    """For a request head not complete yet, ``buf[pos:end]`` with its request line ending
    at ``line_end`` (-1 while not seen): ``(status, reason)`` once a limit is certainly
    passed, else None. Both parser twins decide it here.

    A pending last byte may be the CR of the line's own CRLF, which does not count."""
    if line_end < 0:
        if end - pos > max_request_line + 1:
            return 414, "request line too long"
    elif line_end - pos > max_request_line:
        return 414, "request line too long"
    elif end - line_end - 2 > max_header_size + 1:
        return 431, "request header section too large"
    return None


def host_error(host_count: int, http11: bool) -> Optional[str]:
    """What is wrong with a request's ``host_count`` Host fields, or None: HTTP/1.1 needs
    exactly one, HTTP/1.0 at most one (RFC 9112 §3.2)."""
    if host_count > 1:
        return "duplicate Host header"
    if http11 and host_count == 0:
        return "missing Host header"
    return None


class H1Limits:
    """Limits the parser enforces, so memory per connection stays bounded.

    - ``max_request_line``: bytes in the request line (414 beyond).
    - ``max_header_size``: bytes in the header section, and separately in a trailer
      section (431 beyond), whether it arrives in one read or trickles in.
    - ``max_headers``: header fields in the header section or a trailer section (431).
    - ``max_body_size``: request body bytes; 0 means no limit (413 beyond, from the
      Content-Length before any body is read, or as soon as a chunked body passes it).
    - ``max_chunk_extensions``: total bytes of chunk extensions in one body (400).
    """

    __slots__ = (
        "max_request_line",
        "max_header_size",
        "max_headers",
        "max_body_size",
        "max_chunk_extensions",
    )

    def __init__(
        self,
        max_request_line: int = 8192,
        max_header_size: int = 65536,
        max_headers: int = 100,
        max_body_size: int = 0,
        max_chunk_extensions: int = 4096,
    ) -> None:
        for name, value in (
            ("max_request_line", max_request_line),
            ("max_header_size", max_header_size),
            ("max_headers", max_headers),
            ("max_chunk_extensions", max_chunk_extensions),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(max_body_size, int) or max_body_size < 0:
            raise ValueError(f"max_body_size must be an integer >= 0, got {max_body_size!r}")
        self.max_request_line = max_request_line
        self.max_header_size = max_header_size
        self.max_headers = max_headers
        self.max_body_size = max_body_size
        self.max_chunk_extensions = max_chunk_extensions

    def __repr__(self) -> str:
        fields = ", ".join(f"{s}={getattr(self, s)!r}" for s in self.__slots__)
        return f"H1Limits({fields})"


class RequestParserAPI(Protocol):
    """What both parser twins implement."""

    def __init__(self, limits: H1Limits) -> None: ...

    def feed(self, data: bytes) -> List[Event]:
        """Append ``data`` and return the events it completes (within one message)."""

    def resume(self) -> List[Event]:
        """Start on the next message after the current one was answered."""

    def get_buffer(self, sizehint: int) -> memoryview:
        """A writable buffer for the next read (a pooled block, lent until ``buffer_updated``)."""

    def buffer_updated(self, nbytes: int) -> List[Event]:
        """Parse the ``nbytes`` bytes just written at the start of the lent buffer, as ``feed``."""

    @property
    def paused(self) -> bool:
        """True once the current message ended (or the parser stopped for good)."""

    @property
    def closed(self) -> bool:
        """True when no further message will be parsed (``Connection: close``, an
        HTTP/1.0 request without keep-alive, the HTTP/2 preface). An upgrade request
        only pauses: the connection decides whether to switch or go on."""

    @property
    def trailing_data(self) -> bytes:
        """Unparsed bytes held by the parser (for an upgrade or the next request)."""
