"""``--proxy-protocol``: read the PROXY protocol header before the real protocol starts.

:func:`proxy_protocol_factory` wraps a protocol factory. Each connection first gets a
:class:`ProxyProtocolGate`, which

1. closes the connection at once unless the direct peer is a trusted proxy (with the
   PROXY protocol on, every connection must come from one: anyone else could claim
   any address);
2. buffers what arrives (at most one header: the parser rejects more) until the
   header is complete, under a deadline (one ``call_later`` timer per connection,
   cancelled when the header is in);
3. closes the connection, writing nothing, on a malformed header, on EOF or on the
   deadline;
4. then creates the real protocol, makes it the transport's protocol (later reads go
   straight to it: no per-read indirection), calls its ``connection_made`` with a
   :class:`ProxiedTransport` (``peername``/``sockname`` from the header, everything
   else the real transport's own bound methods) and hands it the bytes that followed
   the header. A LOCAL or UNKNOWN/UNSPEC header keeps the real addresses: the real
   transport itself is passed on.

TLS (``--ssl-certfile``) cannot be combined this way: asyncio decrypts before a
protocol sees a byte, and the header precedes the ClientHello on the wire.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Optional, Set

from pyre.protocol.proxy_protocol import Address, ProxyHeader, ProxyProtocolError, parse_proxy_header
from pyre.transport.context import SHUTDOWN_GRACE

__all__ = ["ProxiedTransport", "ProxyProtocolGate", "proxy_protocol_factory"]

logger = logging.getLogger("pyre.error")

# Methods of the real transport the wrapper exposes as the real bound methods: a
# call costs what it costs on the real transport.
_BOUND = (
    "write", "writelines", "write_eof", "can_write_eof", "close", "abort", "is_closing",
    "pause_reading", "resume_reading", "is_reading", "get_write_buffer_size",
    "get_write_buffer_limits", "set_write_buffer_limits", "get_read_buffer_size",
    "set_protocol", "get_protocol",
)


class ProxiedTransport(asyncio.Transport):
    """The real transport with the addresses of a PROXY header.

    ``get_extra_info("peername")`` is the header's source and ``"sockname"`` its
    destination, in the form ``socket.getpeername()`` gives for the family; every
    other key (``socket``, ``sslcontext``, ...) is the real transport's. The
    transport methods are the real transport's bound methods, set on the instance;
    anything else (private attributes the event loop may look for, as
    ``loop.sendfile`` does) is looked up on the real transport.
    ``set_protocol`` therefore switches the real transport's protocol.
    """

    def __init__(self, transport: asyncio.BaseTransport, peername: Address, sockname: Address) -> None:
        super().__init__()
        self.transport = transport
        self.peername = peername
        self.sockname = sockname
        for name in _BOUND:
            method = getattr(transport, name, None)
            if method is not None:
                setattr(self, name, method)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self.peername
        if name == "sockname":
            return self.sockname
        return self.transport.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:
        if name == "transport":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.transport, name)

    def __repr__(self) -> str:
        return f"<ProxiedTransport peer={self.peername!r} of {self.transport!r}>"


class _GateSettings:
    """What every gate of one factory shares."""

    __slots__ = ("factory", "trusted", "timeout", "loop", "connections", "shutting_down", "untrusted_logged")

    def __init__(self, factory: Callable[[], asyncio.BaseProtocol], trusted: Callable[[Optional[str]], bool],
                 timeout: Optional[float], loop: Optional[asyncio.AbstractEventLoop],
                 connections: Optional[Set[Any]], shutting_down: Optional[Callable[[], bool]]) -> None:
        self.factory = factory
        self.trusted = trusted
        self.timeout = timeout
        self.loop = loop
        self.connections = connections
        self.shutting_down = shutting_down
        self.untrusted_logged = False


class ProxyProtocolGate(asyncio.Protocol):
    """The first protocol of a connection: waits for the PROXY header (see the module).

    While waiting it is in the server's connection set (if one was given), with the
    interface the server uses (``pyre.transport.context.Connection``): ``KIND``,
    ``transport``, ``deadline`` (0.0: its own timer enforces the deadline, not the
    server's tick), ``shutdown()`` and ``on_timeout()``; it has no streams and no
    WebSocket, so no ``gauges()``.
    """

    KIND = "proxy"

    __slots__ = ("settings", "transport", "deadline", "_buffer", "_timer", "_peer")

    def __init__(self, settings: _GateSettings) -> None:
        self.settings = settings
        self.transport: Optional[asyncio.Transport] = None
        self.deadline = 0.0
        self._buffer: Optional[bytearray] = None
        self._timer: Optional[asyncio.TimerHandle] = None
        self._peer: Any = None

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        settings = self.settings
        peer = transport.get_extra_info("peername")
        self._peer = peer
        host = str(peer[0]) if isinstance(peer, tuple) and peer else None  # None: a Unix socket
        if not settings.trusted(host):
            level = logging.DEBUG if settings.untrusted_logged else logging.INFO
            settings.untrusted_logged = True
            logger.log(level, "PROXY protocol: closing a connection from %s, not a trusted proxy", _text(peer))
            transport.close()
            return
        self.transport = transport  # type: ignore[assignment]
        if settings.connections is not None:
            settings.connections.add(self)
        if settings.timeout:
            loop = settings.loop or asyncio.get_running_loop()
            self._timer = loop.call_later(settings.timeout, self._expired)
        if settings.shutting_down is not None and settings.shutting_down():
            self.shutdown()  # made during a shutdown (taken from a listener's queue as it closed)

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None:
            return  # rejected; nothing more is read
        buffer = self._buffer
        if buffer is not None:
            buffer += data
            data = buffer  # type: ignore[assignment]
        try:
            header = parse_proxy_header(data)
        except ProxyProtocolError as exc:
            logger.info("PROXY protocol: invalid header from %s: %s", _text(self._peer), exc)
            self._close()
            return
        if header is None:
            if buffer is None:
                self._buffer = bytearray(data)
            return
        self._hand_over(transport, header, data)

    def eof_received(self) -> Optional[bool]:
        logger.debug("PROXY protocol: %s closed before sending a header", _text(self._peer))
        self._forget()
        return None  # the transport closes itself

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self._forget()
        self.transport = None

    # -- the server's connection interface ---------------------------------------------------

    def shutdown(self) -> None:
        """Graceful shutdown: no request can be in flight yet, but the header and a
        request behind it may be on their way: they get ``SHUTDOWN_GRACE`` seconds to
        arrive (the request is then answered with ``Connection: close``)."""
        if self.transport is None:
            return
        loop = self.settings.loop or asyncio.get_running_loop()
        timer = self._timer
        if timer is not None:
            if timer.when() <= loop.time() + SHUTDOWN_GRACE:
                return
            timer.cancel()
        self._timer = loop.call_later(SHUTDOWN_GRACE, self._expired)

    def on_timeout(self) -> None:
        self._close()

    # -- internals ---------------------------------------------------------------------------------

    def _expired(self) -> None:
        self._timer = None
        logger.debug("PROXY protocol: no header from %s within %s s", _text(self._peer), self.settings.timeout)
        self._close()

    def _close(self) -> None:
        transport = self.transport
        self._forget()
        self.transport = None
        if transport is not None:
            transport.close()

    def _forget(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._buffer = None
        connections = self.settings.connections
        if connections is not None:
            connections.discard(self)

    def _hand_over(self, transport: asyncio.Transport, header: ProxyHeader, data: Any) -> None:
        self._forget()
        self.transport = None
        rest = bytes(data[header.consumed:])
        if header.source is None:
            wrapped: asyncio.BaseTransport = transport  # LOCAL / UNKNOWN / UNSPEC: the real addresses
        else:
            wrapped = ProxiedTransport(transport, header.source, header.destination)
        protocol = self.settings.factory()
        transport.set_protocol(protocol)
        protocol.connection_made(wrapped)
        if rest and not transport.is_closing():
            if isinstance(protocol, asyncio.BufferedProtocol):
                _feed_buffered(protocol, rest)
            else:
                protocol.data_received(rest)  # type: ignore[attr-defined]


def _feed_buffered(protocol: asyncio.BufferedProtocol, data: bytes) -> None:
    view = memoryview(data)
    while view:
        buffer = protocol.get_buffer(len(view))
        count = min(len(buffer), len(view))
        if not count:
            raise RuntimeError("get_buffer() returned an empty buffer")
        buffer[:count] = view[:count]
        protocol.buffer_updated(count)
        view = view[count:]


def _text(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return repr(peer) if peer else "a Unix socket peer"


def proxy_protocol_factory(
    inner_factory: Callable[[], asyncio.BaseProtocol],
    trusted: Callable[[Optional[str]], bool],
    timeout: Optional[float],
    loop: Optional[asyncio.AbstractEventLoop] = None,
    connections: Optional[Set[Any]] = None,
    shutting_down: Optional[Callable[[], bool]] = None,
) -> Callable[[], asyncio.Protocol]:
    """A protocol factory for ``loop.create_server`` reading the PROXY header first.

    ``trusted(host)`` says whether the direct peer (its address text, None for a Unix
    socket peer) may send a header; others are closed at once. ``timeout``: seconds
    for the whole header from the connection (None or 0: no deadline). ``connections``:
    the server's set of open connections, which gates join while they wait (so a
    graceful shutdown reaches them and ``limit_concurrency`` counts them);
    ``shutting_down()``, whether the server is shutting down (a gate made then
    starts as if told so).
    """
    settings = _GateSettings(inner_factory, trusted, timeout, loop, connections, shutting_down)
    return lambda: ProxyProtocolGate(settings)
