"""Lingering close: an HTTP/1.1 connection the server ended while its client may still
be sending (a request body, or the rest of a head).

Closing a socket with received bytes unread, or receiving bytes after the close, makes
the kernel answer with a reset, and a reset destroys data the client has received and
not yet read: a 413 or an early answer is lost to a client that sends its whole body
before it reads (httpx's ``AsyncClient``, or any client blocked in a large write). So
the connection hands its transport to a :class:`Linger`, which half-closes it (FIN
after the response, where the transport can: not over TLS), reads and discards what
the client still sends, and closes once the client closes its side, after a gap of
:data:`LINGER_GAP` seconds without data, or ``--timeout-request-header`` seconds in
all, whichever comes first: nginx's lingering close (``lingering_timeout`` 5 s,
``lingering_time`` 30 s).
"""

from __future__ import annotations

import asyncio
from typing import Any, Optional

from pyre.transport.context import SHUTDOWN_GRACE, SendWatch

__all__ = ["LINGER_GAP", "Linger"]

# Seconds without data from the client after which a lingering close ends.
LINGER_GAP = 5.0


class Linger(asyncio.Protocol):
    """Takes over ``transport`` (see the module's docstring); one of the server's
    connections (:class:`~pyre.transport.context.Connection`) until the socket is gone."""

    KIND = "http/1.1"

    __slots__ = ("ctx", "loop", "transport", "deadline", "_end", "_send_watch")

    def __init__(self, ctx: Any, loop: asyncio.AbstractEventLoop, transport: Any) -> None:
        self.ctx = ctx
        self.loop = loop
        self.transport: Optional[Any] = transport
        self._send_watch: Optional[SendWatch] = None
        now = loop.time()
        self._end = now + ctx.timeout_request_header
        self.deadline = min(self._end, now + LINGER_GAP)
        transport.set_protocol(self)
        if transport.can_write_eof():
            transport.write_eof()  # after the response still queued, if any
        transport.resume_reading()
        ctx.connections.add(self)
        if ctx.shutting_down:
            self.shutdown()

    def data_received(self, data: bytes) -> None:
        if self._send_watch is None:
            self.deadline = min(self._end, self.loop.time() + LINGER_GAP)

    def eof_received(self) -> bool:
        self._close()
        return True  # closed above, once what is queued is sent

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.transport = None
        self.deadline = 0.0
        self._send_watch = None
        self.ctx.connections.discard(self)

    def on_timeout(self) -> None:
        watch = self._send_watch
        if watch is None:
            self._close()
        elif watch.stalled(self.loop.time(), self.ctx.timeout_send):
            self.transport.abort()  # type: ignore[union-attr]  # the client reads nothing
        else:
            self.deadline = self.loop.time()  # checked again at the next tick

    def shutdown(self) -> None:
        if self._send_watch is None:
            self._end = min(self._end, self.loop.time() + SHUTDOWN_GRACE)
            self.deadline = min(self.deadline, self._end)

    def _close(self) -> None:
        transport = self.transport
        if transport is None or self._send_watch is not None:
            return
        transport.close()
        if transport.get_write_buffer_size():
            # As a closed HTTP/1.1 connection: --timeout-send bounds how long a client
            # that does not read keeps the socket.
            now = self.loop.time()
            self._send_watch = SendWatch(transport, now)
            self.deadline = now
        else:
            self.deadline = 0.0
