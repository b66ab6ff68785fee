"""Type stub for the Cython twin of ``pyre._pure.h1parser`` (same public API)."""

from typing import List, Optional, Tuple, Union

from pyre.protocol.h1.parsing import Body, EndOfMessage, H1Limits, H2Preface, Request

__all__ = ["RequestParser"]

Event = Union[Request, Body, EndOfMessage, H2Preface]

#: (Request built without calling __init__, Body built without calling __init__):
#: whether the fast event construction passed its import-time self-check.
FAST_CONSTRUCTION: Tuple[bool, bool]

class RequestParser:
    """Strict incremental HTTP/1.1 request parser (Cython twin)."""

    def __init__(self, limits: Optional[H1Limits] = None) -> None: ...
    def feed(self, data: Union[bytes, bytearray, memoryview]) -> List[Event]:
        """Append ``data`` and return the events it completes (within one message)."""
    def get_buffer(self, sizehint: int) -> memoryview:
        """A writable buffer for the next read (a pooled block, or a large body's own bytes)."""
    def buffer_updated(self, nbytes: int) -> List[Event]:
        """Parse the ``nbytes`` bytes just read into the buffer of ``get_buffer``, as ``feed``."""
    def resume(self) -> List[Event]:
        """Start on the next message after the current one was answered."""
    @property
    def paused(self) -> bool:
        """True once the current message ended (or the parser stopped for good)."""
    @property
    def closed(self) -> bool:
        """True when no further message will be parsed (close, preface, error)."""
    @property
    def buffered(self) -> int:
        """Number of unparsed bytes held."""
    @property
    def trailing_data(self) -> bytes:
        """Unparsed bytes held by the parser (for an upgrade or the next request)."""
