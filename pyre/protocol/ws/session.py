"""A WebSocket connection after the handshake: bytes in, whole messages out.

``WSSession`` reads the common frames with its frame reader (:mod:`.frames`) and
hands the stream to ``wsproto``'s frame-level ``Connection`` at the first frame the
reader leaves (a fragment, a close, an error); it adds what a server needs around it:
fragments are joined into whole messages up to ``max_size`` bytes (a larger one is
refused with close code 1009), pings are answered, and permessage-deflate (Pyre's
own, :mod:`.deflate`, the same zlib streams on both paths) inflates with the same
bound, so a small compressed frame cannot expand past it (a compression bomb is
refused with 1009 before the memory is spent). Protocol errors close with wsproto's
code (1002, 1007 for invalid UTF-8); the session queues the close frame and reports
``CloseReceived`` with ``local=True`` so the transport can drop the connection after
writing it.

A pure-mode twin: this module is the pure-Python twin, and setup.py (PURE_MODE)
compiles it as ``pyre.protocol.ws._session_c``, typed by ``_session_c.pxd``;
pyre/_accel.py chooses. The events are :mod:`.events`' classes, one set for both twins.
"""

from __future__ import annotations

from typing import List, Optional, Union

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import CloseConnection, Message, Ping, Pong, TextMessage

from pyre._accel import FrameReader, frame_message, write_frame

from .deflate import InflateError, PerMessageDeflate
from .events import CloseReceived, Event, PongReceived

try:
    import cython  # type: ignore[import-untyped,import-not-found,unused-ignore]

    COMPILED: bool = cython.compiled
except ImportError:  # Cython is needed to build, never to run
    COMPILED = False

__all__ = ["CloseReceived", "Event", "PongReceived", "WSSession"]

MESSAGE_TOO_BIG = 1009
_MAX_LENGTH = (1 << 63) - 1  # RFC 6455 §5.2: the most significant bit of a 64-bit length is 0


class WSSession:
    """One server-side WebSocket connection, without I/O."""

    __slots__ = ("max_size", "backlog", "out", "_conn", "_parts", "_size", "_closed", "_compress", "_fast",
                 "_reader")

    def __init__(self, max_size: int, deflate: Optional[PerMessageDeflate] = None, trailing_data: bytes = b"",
                 fast: bool = True) -> None:
        self.max_size = max_size
        if deflate is not None and not deflate.enabled():
            deflate = None
        self._conn = Connection(ConnectionType.SERVER, extensions=[deflate] if deflate is not None else [])
        # Messages are framed (and compressed) here, never by wsproto.
        self._compress = deflate.deflate if deflate is not None else None
        # The fast path reads frames itself until the first one it leaves to wsproto.
        self._fast: Optional[bytearray] = bytearray() if fast else None
        # A frame's length fits 63 bits, so a larger bound is no bound, and the compiled
        # reader holds it in a C integer. The compiled session calls the compiled frame
        # layer in C (cimported in _session_c.pxd); the pure one, what pyre._accel chose.
        inflate = deflate.inflate if deflate is not None else None
        if COMPILED:
            self._reader = CFrameReader(min(max_size, _MAX_LENGTH), inflate)  # noqa: F821
        else:
            self._reader = FrameReader(min(max_size, _MAX_LENGTH), inflate)
        self._parts: List[Union[str, bytes]] = []
        self._size = 0
        # Frames queued for the peer (answers, closes, messages sent): ``data_to_send``
        # takes them; a transport may test it for emptiness (cheaper than ``buffered``).
        self.out = bytearray()
        self._closed = False
        self.backlog = False  # frames received but not parsed yet (see receive_data)
        if trailing_data:
            self._handover(trailing_data)

    @property
    def closed(self) -> bool:
        """No more frames will be sent (a close frame was sent, or the connection failed)."""
        return self._closed

    @property
    def remote_closed(self) -> bool:
        return self._conn.state in (ConnectionState.REMOTE_CLOSING, ConnectionState.CLOSED)

    def receive_data(self, data: Optional[bytes], max_messages: Optional[int] = None) -> List[Event]:
        """Bytes from the peer (``None``: the connection was closed); the events they
        complete: each message as its data (``str`` or ``bytes``), ``CloseReceived``,
        ``PongReceived``.

        With ``max_messages``, parsing stops after that many messages: the rest stays
        buffered (``backlog`` is True) until a later call, with ``b""`` for no new
        data, asks for more. That is how a slow application stops the reading.
        """
        events: List[Event] = []
        if self._closed and self._conn.state is not ConnectionState.LOCAL_CLOSING:
            return events
        buf = self._fast
        if buf is not None and data is not None:
            # The frame reader's path (the common case, several times cheaper than
            # wsproto's generators): whole, unfragmented, masked text/binary frames
            # and pings; anything else (see :mod:`pyre.protocol.ws.frames`) hands the
            # stream over to wsproto at that frame's boundary, for good.
            if COMPILED and type(data) is bytes:  # buf += data, without the number protocol
                size = len(buf)
                extra = len(data)
                if extra:
                    PyByteArray_Resize(buf, size + extra)  # noqa: F821
                    memcpy(PyByteArray_AS_STRING(buf) + size, PyBytes_AS_STRING(data), extra)  # noqa: F821
            else:
                buf += data
            limit = -1 if max_messages is None else max(max_messages, 0)
            try:
                used = self._reader.read(buf, limit, events, self.out, not self._closed)
            except InflateError as exc:  # a compressed message: nothing to hand over, close
                self.backlog = False
                self._fast = None
                self._fail(exc.code, exc.reason, events)
                return events
            if used:
                if COMPILED and used == len(buf):  # all of it read (the common case): no slice
                    PyByteArray_Resize(buf, 0)  # noqa: F821
                else:
                    del buf[:used]
            if not self._reader.stopped:
                self.backlog = limit >= 0 and len(events) >= limit and bool(buf)
                return events
            self._handover(b"")  # wsproto goes on from the same frame boundary
            data = b""
        return self._receive_slow(data, max_messages, events)

    def _receive_slow(self, data: Optional[bytes], max_messages: Optional[int], events: List[Event]) -> List[Event]:
        """The rest of ``receive_data``: wsproto's events (after ``data``, if any)."""
        self.backlog = False
        produced = len(events)  # read by the frame reader before a handover
        if self._fast is not None:  # the end of the stream (data is None)
            self._handover(None)
        elif data is None or data:
            try:
                self._conn.receive_data(data)
            except Exception:  # noqa: BLE001 - wsproto raises if data arrives in a closed state
                return events
        if max_messages is not None and produced >= max_messages:
            self.backlog = True
            return events
        for event in self._conn.events():
            if isinstance(event, Message):
                before = len(events)
                self._on_message(event, events)
                if self._closed:
                    break
                if len(events) > before:
                    produced += 1
                    if max_messages is not None and produced >= max_messages:
                        self.backlog = True  # perhaps nothing is left: a later call finds out cheaply
                        break
            elif isinstance(event, Ping):
                if not self._closed:
                    self.out += self._conn.send(event.response())
            elif isinstance(event, Pong):
                events.append(PongReceived(bytes(event.payload)))
            elif isinstance(event, CloseConnection):
                self._on_close(event, events)
                break
        return events

    def _handover(self, data: Optional[bytes]) -> None:
        """From now on wsproto reads the stream: what the fast path holds, then ``data``."""
        held = bytes(self._fast) if self._fast else b""
        self._fast = None
        try:
            if held:
                self._conn.receive_data(held)
            if data is None or data:
                self._conn.receive_data(data)
        except Exception:  # noqa: BLE001 - wsproto raises if data arrives in a closed state
            pass

    def _on_message(self, event: Message, events: List[Event]) -> None:
        data = event.data
        self._size += len(data.encode("utf-8")) if isinstance(data, str) else len(data)
        if self._size > self.max_size:
            self._fail(MESSAGE_TOO_BIG, "message too big", events)
            return
        if data:
            self._parts.append(data)
        if event.message_finished:
            text = isinstance(event, TextMessage)
            parts = self._parts
            if len(parts) == 1:
                message: Union[str, bytes] = parts[0] if text else bytes(parts[0])
            else:
                message = "".join(parts) if text else b"".join(parts)  # type: ignore[arg-type]
            if not parts:
                message = "" if text else b""
            self._parts = []
            self._size = 0
            events.append(message)

    def _on_close(self, event: CloseConnection, events: List[Event]) -> None:
        state = self._conn.state
        code = int(event.code)
        reason = event.reason or ""
        if state is ConnectionState.REMOTE_CLOSING:
            # The peer started the closing handshake: answer it.
            if not self._closed:
                self.out += self._conn.send(event.response())
                self._closed = True
            events.append(CloseReceived(code, reason, False))
        elif state is ConnectionState.CLOSED:
            # The peer answered our close frame.
            events.append(CloseReceived(code, reason, False))
        else:
            # wsproto found a protocol error (ParseFailed): close with its code. Its 1009
            # comes from the deflate hooks' size bound ("error in extension"): the same
            # words as the one-frame path's.
            if code == MESSAGE_TOO_BIG:
                reason = "message too big"
            self._fail(code, reason, events)

    def _fail(self, code: int, reason: str, events: List[Event]) -> None:
        if not self._closed:
            self.out += self._conn.send(CloseConnection(code=code, reason=reason[:120]))
            self._closed = True
        events.append(CloseReceived(code, reason, True))

    # -- sending ----------------------------------------------------------------------

    def send_message(self, data: Union[str, bytes]) -> None:
        """Queue a text (``str``) or binary message; nothing once closed."""
        if self._closed:
            return
        # A server frame is a fixed header and the payload, unmasked (RFC 6455 §5.2),
        # compressed with permessage-deflate: built by the frame writer, without wsproto.
        if COMPILED:
            c_write_frame(self.out, data, self._compress)  # noqa: F821
        else:
            write_frame(self.out, data, self._compress)

    def data_to_send_with(self, data: Union[str, bytes]) -> bytes:
        """``send_message(data)``, then ``data_to_send()``, in one call: with nothing else
        queued, the message's frame is built as the ``bytes`` returned."""
        if self._closed or self.out:
            self.send_message(data)
            return self.data_to_send()
        if COMPILED:
            return c_frame_message(data, self._compress)  # noqa: F821
        return frame_message(data, self._compress)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Queue a close frame (once)."""
        if self._closed:
            return
        self._closed = True
        if self._conn.state is ConnectionState.OPEN:
            self.out += self._conn.send(CloseConnection(code=code, reason=reason or None))

    def ping(self, payload: bytes = b"") -> None:
        if not self._closed:
            self.out += self._conn.send(Ping(payload=payload))

    @property
    def buffered(self) -> int:
        """Bytes queued and not yet taken by ``data_to_send``."""
        return len(self.out)

    def data_to_send(self) -> bytes:
        data = bytes(self.out)
        self.out.clear()
        return data
