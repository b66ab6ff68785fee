"""HTTP/1.1 response body framing (RFC 9112 §6, §7): bytes in, framed bytes out.

One small writer per framing, as h11's ``_writers.py``, indexed by the ``FRAME_*`` of
:mod:`pyre.protocol.h1.writer` in ``WRITERS``:

- ``LengthWriter``: a Content-Length body, cut to the bytes the length leaves (the
  caller flags the overflow when what comes back is shorter than what went in);
- ``ChunkedWriter``: the chunked coding, the last chunk with trailers (``end``) and the
  chunk head and tail around a file sent by sendfile;
- ``CloseWriter``: a body delimited by closing the connection (HTTP/1.0): as it is;
- ``BodyWriter``: no body may be sent (HEAD, 204, 304): nothing.

The writers hold no state (the connection keeps the bytes left), so one shared
instance of each serves every response, and these are the only places that write
framing bytes.

A pure-mode twin: this module is the pure-Python twin, and setup.py (PURE_MODE) compiles
it as ``pyre.protocol.h1._framing_c``, typed by ``_framing_c.pxd``; the compiled HTTP/1.1
connection (pyre/transport/h1.py's compiled build) cimports it, so a chunk costs a C call there.
"""

from __future__ import annotations

from typing import Iterable, Optional, Tuple

from pyre.protocol.h1.writer import InvalidResponse, validate_header

try:
    import cython  # type: ignore[import-untyped,import-not-found,unused-ignore]

    COMPILED: bool = cython.compiled
except ImportError:  # Cython is needed to build, never to run
    COMPILED = False

if COMPILED:  # C-API calls of the compiled twin's chunk (cimports: never run as Python)
    from cython.cimports.cpython.bytes import PyBytes_AS_STRING, PyBytes_FromStringAndSize  # type: ignore
    from cython.cimports.libc.string import memcpy  # type: ignore

__all__ = [
    "CHUNKED",
    "CLOSE",
    "LENGTH",
    "NO_BODY",
    "WRITERS",
    "BodyWriter",
    "ChunkedWriter",
    "CloseWriter",
    "LengthWriter",
    "chunk",
    "last_chunk",
]

_LAST_CHUNK = b"0\r\n\r\n"
_HEX = b"0123456789abcdef"


class BodyWriter:
    """Frames no body: the writer of HEAD, 204 and 304 responses, and the base of the others."""

    __slots__ = ()

    def frame(self, data: bytes, last: bool, remaining: int) -> bytes:
        """``data`` framed; ``last`` ends the body, ``remaining`` is what a Content-Length leaves."""
        return b""


class LengthWriter(BodyWriter):
    """A Content-Length body: ``data`` cut to ``remaining`` bytes."""

    __slots__ = ()

    def frame(self, data: bytes, last: bool, remaining: int) -> bytes:
        if len(data) <= remaining:
            return data
        return data[:remaining]


class CloseWriter(BodyWriter):
    """A body delimited by closing the connection: the bytes as they are."""

    __slots__ = ()

    def frame(self, data: bytes, last: bool, remaining: int) -> bytes:
        return data


class ChunkedWriter(BodyWriter):
    """The chunked transfer coding (RFC 9112 §7.1)."""

    __slots__ = ()

    def frame(self, data: bytes, last: bool, remaining: int) -> bytes:
        """One chunk of ``data`` (none when empty), then the last chunk when ``last``."""
        n = len(data)
        if not n:
            return _LAST_CHUNK if last else b""
        if COMPILED:
            # The hex size, the CRLFs and the data in one allocation (the hot path of a stream).
            digits = 0
            v = n
            while v:
                digits += 1
                v >>= 4
            size = digits + 2 + n + 2 + (5 if last else 0)
            out = PyBytes_FromStringAndSize(cython.NULL, size)
            p = PyBytes_AS_STRING(out)
            hexits = cython.cast(cython.p_char, _HEX)
            v = n
            for i in range(digits - 1, -1, -1):
                p[i] = hexits[v & 15]
                v >>= 4
            p += digits
            p[0] = 13
            p[1] = 10
            memcpy(p + 2, PyBytes_AS_STRING(data), n)
            p += 2 + n
            p[0] = 13
            p[1] = 10
            if last:
                memcpy(p + 2, PyBytes_AS_STRING(_LAST_CHUNK), 5)
            return out
        if last:
            return b"%x\r\n%s\r\n0\r\n\r\n" % (n, data)
        return b"%x\r\n%s\r\n" % (n, data)

    def end(self, trailers: Optional[Iterable[Tuple[bytes, bytes]]] = None) -> bytes:
        """The last chunk, with trailer fields (validated like headers)."""
        if not trailers:
            return _LAST_CHUNK
        parts = [b"0\r\n"]
        for pair in trailers:
            if not isinstance(pair[0], bytes) or not isinstance(pair[1], bytes):
                raise InvalidResponse("trailer names and values must be bytes")
            parts.append(validate_header(pair)[0])
        parts.append(b"\r\n")
        return b"".join(parts)

    def file_head(self, count: int) -> bytes:
        """The chunk head before ``count`` bytes sent straight from a file (none for 0)."""
        return b"%x\r\n" % count if count else b""

    def file_tail(self, count: int) -> bytes:
        """What ends a body whose one chunk was ``count`` bytes of a file: the chunk's CRLF
        and the last chunk."""
        return b"\r\n0\r\n\r\n" if count else _LAST_CHUNK


NO_BODY = BodyWriter()
LENGTH = LengthWriter()
CHUNKED = ChunkedWriter()
CLOSE = CloseWriter()
# By FRAME_LENGTH, FRAME_CHUNKED, FRAME_NONE, FRAME_CLOSE.
WRITERS: Tuple[BodyWriter, BodyWriter, BodyWriter, BodyWriter] = (LENGTH, CHUNKED, NO_BODY, CLOSE)


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (``data`` must not be empty)."""
    return CHUNKED.frame(data, False, 0)


def last_chunk(trailers: Optional[Iterable[Tuple[bytes, bytes]]] = None) -> bytes:
    """The end of a chunked body, with trailer fields (validated like headers)."""
    return CHUNKED.end(trailers)
