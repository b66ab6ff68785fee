"""The sans-IO HTTP/2 server session: bytes in, events out, frames queued.

``H2Session`` drives h2's ``H2Connection`` (see ``_connection.py``) and puts a frame
scanner in front of it. ``receive_data`` splits the input into frames itself (the
9-byte header: length, type, flags, stream id) and hands h2 one complete frame at
a time, after checking what h2 does not, or does too late:

- frame length against our SETTINGS_MAX_FRAME_SIZE as soon as the header arrives
  (h2 would buffer the whole frame first);
- header blocks: only CONTINUATION of the same stream may follow an open block,
  and a block may not pass ``max_header_block_size`` bytes or
  ``max_continuation_frames`` frames (checked on the frame header, before
  buffering: the CONTINUATION flood);
- fixed-length frames and the error codes RFC 9113 gives them (a SETTINGS ACK with
  a payload is FRAME_SIZE_ERROR; WINDOW_UPDATE of 0 on a stream and a bad PRIORITY
  are stream errors; RST_STREAM on an idle stream is a connection error);
- floods, as leaky buckets fed with the caller's clock: frames that carry no
  request data (``max_control_frames``, after a credit earned by the data the
  connection moves: see ``_FRAME_COST``) and streams reset by the client or
  refused / reset for its faults (``max_rapid_resets``, CVE-2023-44487). Past
  either: GOAWAY ENHANCE_YOUR_CALM.

Request heads are validated here (``headers.py``): a malformed request is a stream
error (RST_STREAM PROTOCOL_ERROR), as is a body that disagrees with its
Content-Length. Nothing a client sends makes ``receive_data`` raise: connection
errors come out as ``ConnectionEnded`` with the GOAWAY queued.

Receive windows are re-granted only when the transport says the application has
consumed the data (``acknowledge_received``), so a slow application slows the
client instead of filling memory; data of streams that end or are reset unread is
given back to the connection window by the session.

Error codes as h2 raises them, and where Pyre maps them differently:

=========================================  ==========================================
h2                                         Pyre
=========================================  ==========================================
ProtocolError from HPACK decoding          GOAWAY COMPRESSION_ERROR
TooManyStreamsError                        RST_STREAM REFUSED_STREAM (stream error)
field / content-length errors              RST_STREAM PROTOCOL_ERROR (stream error)
InvalidBodyLengthError                     RST_STREAM PROTOCOL_ERROR (stream error)
SETTINGS ACK with payload: PROTOCOL_ERROR  GOAWAY FRAME_SIZE_ERROR
WINDOW_UPDATE 0 on a stream: connection    RST_STREAM PROTOCOL_ERROR
PRIORITY self-dependency: connection       RST_STREAM PROTOCOL_ERROR (idle stream: GOAWAY)
RST_STREAM on an idle stream: ignored      GOAWAY PROTOCOL_ERROR
DenialOfServiceError (HPACK bomb)          GOAWAY ENHANCE_YOUR_CALM (unchanged)
other ProtocolError subclasses             GOAWAY with h2's code (unchanged)
=========================================  ==========================================
"""

from __future__ import annotations

import base64
import re
from typing import Dict, List, Optional, Tuple

from h2 import events as h2e
from h2.errors import ErrorCodes
from h2.exceptions import ProtocolError
from h2.settings import SettingCodes
from h2.stream import StreamState
from hyperframe.frame import GoAwayFrame, RstStreamFrame

from ._connection import LocalReset, ServerConnection
from .events import (
    ConnectionEnded,
    DataReceived,
    Event,
    PingAcked,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)
from .headers import Malformed, parse_request, parse_trailers, response_headers, trailer_headers
from .settings import H2Settings

__all__ = ["H2Session", "PREFACE"]

#: The client connection preface (RFC 9113 §3.4).
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

_DATA, _HEADERS, _PRIORITY, _RST_STREAM, _SETTINGS = 0x0, 0x1, 0x2, 0x3, 0x4
_PUSH_PROMISE, _PING, _GOAWAY, _WINDOW_UPDATE, _CONTINUATION = 0x5, 0x6, 0x7, 0x8, 0x9
_END_STREAM, _ACK, _END_HEADERS, _PADDED = 0x1, 0x1, 0x4, 0x8

_PROTOCOL_ERROR = int(ErrorCodes.PROTOCOL_ERROR)
_FRAME_SIZE_ERROR = int(ErrorCodes.FRAME_SIZE_ERROR)
_CALM = int(ErrorCodes.ENHANCE_YOUR_CALM)
_INTERNAL_ERROR = int(ErrorCodes.INTERNAL_ERROR)

_RECEIVING = (StreamState.OPEN, StreamState.HALF_CLOSED_LOCAL)
_SENDING = (StreamState.OPEN, StreamState.HALF_CLOSED_REMOTE)
_CLOSED = StreamState.CLOSED
_SETTINGS_VALUE = re.compile(rb"[A-Za-z0-9_\-]*")
# Control frames are first paid from a credit earned by the data the connection moves,
# then from the leaky bucket (max_control_frames per flood_window). Credit is counted in
# bytes: a control frame costs _FRAME_COST; each DATA frame we send earns
# _SEND_SHARE x _FRAME_COST, or x its size when the window cut it short (below
# _FRAME_COST: the "data dribble" of CVE-2019-9511), as a small window makes a client
# answer every frame with a WINDOW_UPDATE for the stream and one for the connection (or a
# PING); each DATA frame received on an open stream earns _RECEIVE_SHARE x its size; a
# stream we reset while its client may still send earns the DATA frames its open window
# can still carry (one per _INFLIGHT_FRAME bytes, plus one), which arrive on a closed stream.
# Window-cut tiny frames earn little, so a 1-byte window is no way to buy frames; a
# small response earns in full (clients such as httpx acknowledge each one).
_FRAME_COST = 256
_SEND_SHARE = 2
_RECEIVE_SHARE = 1
_INFLIGHT_FRAME = 1024
_MAX_CREDIT = 100_000 * _FRAME_COST


class _Bucket:
    """A leaky bucket: ``hit`` adds one, ``rate`` drain per second; True when over ``capacity``."""

    __slots__ = ("capacity", "rate", "level", "stamp")

    def __init__(self, capacity: int, window: float) -> None:
        self.capacity = capacity
        self.rate = capacity / window
        self.level = 0.0
        self.stamp: Optional[float] = None

    def hit(self, now: float) -> bool:
        stamp = self.stamp
        if stamp is None or now > stamp:
            if stamp is not None:
                level = self.level - (now - stamp) * self.rate
                self.level = level if level > 0.0 else 0.0
            self.stamp = now
        self.level += 1.0
        return self.level > self.capacity


class _Stream:
    """What the session tracks for a stream the transport knows about."""

    __slots__ = ("expected", "received", "unacked", "remote_ended", "head_sent")

    def __init__(self, expected: Optional[int], remote_ended: bool) -> None:
        self.expected = expected  # Content-Length, or None
        self.received = 0  # body bytes received
        self.unacked = 0  # body bytes delivered and not yet acknowledged
        self.remote_ended = remote_ended
        self.head_sent = False  # final response head sent


class H2Session:
    """One HTTP/2 server connection, without I/O: see the module docstring."""

    __slots__ = (
        "settings",
        "_conn",
        "_streams",
        "_inbuf",
        "_out",
        "_initiated",
        "_preface_pending",
        "_expect_settings",
        "_dead",
        "_goaway_sent",
        "_block_stream",
        "_block_frames",
        "_block_bytes",
        "_control",
        "_resets",
        "_credit",
        "_now",
        "_seen_windows",
    )

    def __init__(self, settings: H2Settings = H2Settings()) -> None:
        self.settings = settings
        conn = ServerConnection(settings.max_concurrent_streams, settings.max_header_list_size)
        conn.receive_data(PREFACE)  # h2 wants the preface; our scanner checks the client's
        self._conn = conn
        self._streams: Dict[int, _Stream] = {}
        self._inbuf = bytearray()
        self._out = bytearray()
        self._initiated = False
        self._preface_pending = True
        self._expect_settings = True
        self._dead = False
        self._goaway_sent = False
        self._block_stream = 0
        self._block_frames = 0
        self._block_bytes = 0
        self._control = _Bucket(settings.max_control_frames, settings.flood_window)
        self._resets = _Bucket(settings.max_rapid_resets, settings.flood_window)
        self._credit = 0
        self._now = 0.0
        self._seen_windows: set = set()

    # -- setting up ---------------------------------------------------------------

    def _local_settings(self) -> Dict[int, int]:
        s = self.settings
        values = {
            SettingCodes.HEADER_TABLE_SIZE: s.max_header_table_size,
            SettingCodes.MAX_CONCURRENT_STREAMS: s.max_concurrent_streams,
            SettingCodes.INITIAL_WINDOW_SIZE: s.initial_window_size,
            SettingCodes.MAX_FRAME_SIZE: s.max_frame_size,
            SettingCodes.MAX_HEADER_LIST_SIZE: s.max_header_list_size,
        }
        if s.enable_connect_protocol:
            values[SettingCodes.ENABLE_CONNECT_PROTOCOL] = 1
        return values

    def _queue_preface(self) -> None:
        # h2 has queued a SETTINGS frame of its defaults; replace it with ours, which
        # take effect (for what we accept) when the client acknowledges them.
        conn = self._conn
        conn.clear_outbound_data_buffer()
        conn.update_settings(self._local_settings())
        extra = self.settings.connection_window_size - 65535
        if extra > 0:
            conn.increment_flow_control_window(extra)
        self._initiated = True

    def initiate(self) -> None:
        """Queue our preface: SETTINGS and the WINDOW_UPDATE that opens the connection window."""
        if self._initiated:
            return
        self._conn.initiate_connection()
        self._queue_preface()

    def initiate_upgrade(self, http2_settings: bytes) -> None:
        """Start an h2c connection upgraded from HTTP/1.1 (RFC 7540 §3.2).

        ``http2_settings`` is the HTTP2-Settings header value (base64url SETTINGS
        payload); a malformed one raises ``ValueError``. Stream 1 is the upgrading
        request, half-closed (remote): the transport answers it with ``send_headers``.
        """
        if self._initiated:
            raise RuntimeError("the session is already initiated")
        payload = _decode_http2_settings(http2_settings)
        try:
            self._conn.initiate_upgrade_connection(base64.urlsafe_b64encode(payload))
        except ProtocolError as exc:  # pragma: no cover - values were checked above
            raise ValueError(f"invalid HTTP2-Settings: {exc}") from exc
        self._queue_preface()
        self._streams[1] = _Stream(None, True)

    # -- receiving ------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> List[Event]:
        """Process bytes from the client; return the events they complete.

        The first bytes must be the client connection preface (RFC 9113 §3.4; a
        transport that saw it already, as the HTTP/1.1 parser detecting prior
        knowledge, passes it on): anything else is a connection error PROTOCOL_ERROR.
        ``now`` is a monotonic time in seconds, for the flood limits.
        After ``ConnectionEnded`` further data is ignored.
        """
        events: List[Event] = []
        if self._dead:
            return events
        if not self._initiated:
            self.initiate()
        self._now = now
        self._seen_windows.clear()
        try:
            self._receive(data, events)
        except Exception as exc:  # noqa: BLE001 - never raise for client input
            if not self._dead:
                self._fail(_INTERNAL_ERROR, f"internal error: {exc!r}", events)
        if self._dead:
            self._inbuf.clear()
        return events

    def _receive(self, data: bytes, events: List[Event]) -> None:
        buf = self._inbuf
        buf += data
        if self._preface_pending:
            have = min(len(buf), 24)
            if buf[:have] != PREFACE[:have]:
                self._fail(_PROTOCOL_ERROR, "invalid connection preface", events)
                return
            if have < 24:
                return
            del buf[:24]
            self._preface_pending = False
        pos = 0
        size = len(buf)
        max_frame = self._conn.max_inbound_frame_size
        while not self._dead and size - pos >= 9:
            length = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2]
            ftype = buf[pos + 3]
            flags = buf[pos + 4]
            stream_id = int.from_bytes(buf[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
            if length > max_frame:
                self._fail(_FRAME_SIZE_ERROR, f"frame of {length} bytes exceeds SETTINGS_MAX_FRAME_SIZE", events)
                break
            if not self._check_header(length, ftype, stream_id, events):
                break
            end = pos + 9 + length
            if end > size:
                break
            frame = bytes(buf[pos:end])
            pos = end
            self._frame(frame, length, ftype, flags, stream_id, events)
            max_frame = self._conn.max_inbound_frame_size
        del buf[:pos]

    def _check_header(self, length: int, ftype: int, stream_id: int, events: List[Event]) -> bool:
        """Checks that need only the frame header (so nothing more is buffered)."""
        settings = self.settings
        if self._expect_settings and ftype != _SETTINGS:
            self._fail(_PROTOCOL_ERROR, "the client preface must be followed by SETTINGS", events)
            return False
        if self._block_stream:
            if ftype != _CONTINUATION or stream_id != self._block_stream:
                self._fail(_PROTOCOL_ERROR, "header block interrupted", events)
                return False
            if self._block_frames >= settings.max_continuation_frames:
                self._fail(_CALM, "too many CONTINUATION frames", events)
                return False
            if self._block_bytes + length > settings.max_header_block_size:
                self._fail(_CALM, "header block too large", events)
                return False
        elif ftype == _CONTINUATION:
            self._fail(_PROTOCOL_ERROR, "CONTINUATION without HEADERS", events)
            return False
        elif ftype == _HEADERS and length > settings.max_header_block_size:
            self._fail(_CALM, "header block too large", events)
            return False
        elif ftype == _PUSH_PROMISE:
            self._fail(_PROTOCOL_ERROR, "a client cannot push", events)
            return False
        return True

    def _control_frame(self, events: List[Event]) -> bool:
        """Count a frame that carries no request data; False (and GOAWAY) past the limit."""
        if self._credit >= _FRAME_COST:
            self._credit -= _FRAME_COST
            return True
        if self._control.hit(self._now):
            self._fail(_CALM, "too many control frames", events)
            return False
        return True

    def _earn(self, credit: int) -> None:
        credit += self._credit
        self._credit = credit if credit < _MAX_CREDIT else _MAX_CREDIT

    def _is_idle(self, stream_id: int) -> bool:
        if stream_id & 1:
            return stream_id > self._conn.highest_inbound_stream_id
        return stream_id > self._conn.highest_outbound_stream_id

    def _frame(self, frame: bytes, length: int, ftype: int, flags: int, stream_id: int, events: List[Event]) -> None:
        conn = self._conn
        if ftype == _DATA:
            stream = conn.streams.get(stream_id)
            if stream is None or stream.state_machine.state not in _RECEIVING:
                if not self._control_frame(events):
                    return
            else:
                data_length = length
                if flags & _PADDED and length:
                    data_length = length - 1 - frame[9]
                if data_length > 0:
                    self._earn(_RECEIVE_SHARE * (data_length if data_length < _FRAME_COST else _FRAME_COST))
                elif not flags & _END_STREAM and not self._control_frame(events):
                    return
        elif ftype == _HEADERS:
            if not flags & _END_HEADERS:
                self._block_stream = stream_id or -1
                self._block_frames = 0
                self._block_bytes = length
            stream = conn.streams.get(stream_id)
            if stream_id <= conn.highest_inbound_stream_id and (stream is None or stream.closed):
                if not self._control_frame(events):
                    return
        elif ftype == _CONTINUATION:
            self._block_frames += 1
            self._block_bytes += length
            if flags & _END_HEADERS:
                self._block_stream = 0
        elif ftype == _SETTINGS:
            if not self._control_frame(events):
                return
            if flags & _ACK and length:
                self._fail(_FRAME_SIZE_ERROR, "SETTINGS ACK with a payload", events)
                return
            if length % 6:
                self._fail(_FRAME_SIZE_ERROR, "SETTINGS length not a multiple of 6", events)
                return
            if self._expect_settings and flags & _ACK:
                self._fail(_PROTOCOL_ERROR, "the client preface must be followed by SETTINGS", events)
                return
            self._expect_settings = False
        elif ftype == _WINDOW_UPDATE:
            if not self._control_frame(events):
                return
            if length != 4:
                self._fail(_FRAME_SIZE_ERROR, "WINDOW_UPDATE length is not 4", events)
                return
            increment = int.from_bytes(frame[9:13], "big") & 0x7FFFFFFF
            if increment == 0:
                if stream_id == 0 or self._is_idle(stream_id):
                    self._fail(_PROTOCOL_ERROR, "WINDOW_UPDATE of 0", events)
                else:
                    self._stream_error(stream_id, _PROTOCOL_ERROR, events)
                return
            frame = frame[:9] + increment.to_bytes(4, "big")  # the reserved bit is ignored
        elif ftype == _PING:
            if not self._control_frame(events):
                return
            if length != 8:
                self._fail(_FRAME_SIZE_ERROR, "PING length is not 8", events)
                return
        elif ftype == _RST_STREAM:
            if length != 4:
                self._fail(_FRAME_SIZE_ERROR, "RST_STREAM length is not 4", events)
                return
            if stream_id and self._is_idle(stream_id):
                self._fail(_PROTOCOL_ERROR, "RST_STREAM on an idle stream", events)
                return
            stream = conn.streams.get(stream_id)
            if (stream is None or stream.closed) and not self._control_frame(events):
                return
        elif ftype == _PRIORITY:
            # Deprecated (RFC 9113 §5.3.2): checked, counted, not given to h2.
            if not self._control_frame(events):
                return
            if stream_id == 0:
                self._fail(_PROTOCOL_ERROR, "PRIORITY on stream 0", events)
            elif length != 5:
                self._priority_error(stream_id, _FRAME_SIZE_ERROR, "PRIORITY length is not 5", events)
            elif int.from_bytes(frame[9:13], "big") & 0x7FFFFFFF == stream_id:
                self._priority_error(stream_id, _PROTOCOL_ERROR, "stream depends on itself", events)
            return
        elif ftype != _GOAWAY:
            # Unknown or unused extension frames (ALTSVC, ORIGIN, ...) are ignored.
            self._control_frame(events)
            return
        self._feed(frame, events)

    def _feed(self, frame: bytes, events: List[Event]) -> None:
        conn = self._conn
        try:
            received = conn.receive_data(frame)
        except ProtocolError as exc:
            # h2 has queued a GOAWAY with exc.error_code.
            self._dead = True
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            events.append(ConnectionEnded(int(exc.error_code), conn.highest_inbound_stream_id, False, reason))
            return
        for event in received:
            if self._dead:
                return
            kind = type(event)
            if kind is h2e.DataReceived:
                self._on_data(event, events)
            elif kind is h2e.RequestReceived:
                self._on_request(event, events)
            elif kind is h2e.StreamEnded:
                self._on_stream_ended(event.stream_id, events)
            elif kind is h2e.WindowUpdated:
                self._window_updated(event.stream_id, events)
            elif kind is h2e.StreamReset:
                self._on_reset(event.stream_id, int(event.error_code), event.remote_reset, events)
            elif kind is LocalReset:
                self._on_reset(event.stream_id, int(event.error_code), False, events)
            elif kind is h2e.TrailersReceived:
                self._on_trailers(event, events)
            elif kind is h2e.RemoteSettingsChanged:
                changed = event.changed_settings.get(SettingCodes.INITIAL_WINDOW_SIZE)
                if changed is not None and changed.new_value > (changed.original_value or 0):
                    self._window_updated(0, events)
            elif kind is h2e.SettingsAcknowledged:
                if SettingCodes.INITIAL_WINDOW_SIZE in event.changed_settings:
                    self._windows_resized()
            elif kind is h2e.PingAckReceived:
                events.append(PingAcked(event.ping_data))
            elif kind is h2e.ConnectionTerminated:
                self._dead = True
                code = int(event.error_code) if event.error_code is not None else 0
                reason = "client sent GOAWAY"
                if event.additional_data:
                    reason += ": " + event.additional_data[:200].decode("latin-1")
                # The reserved bit is ignored (RFC 9113 §6.8); h2 passes it on.
                events.append(ConnectionEnded(code, (event.last_stream_id or 0) & 0x7FFFFFFF, True, reason))
            # PingReceived, SettingsAcknowledged, PriorityUpdated, ...: nothing to do.

    def _on_request(self, event: h2e.RequestReceived, events: List[Event]) -> None:
        stream_id = event.stream_id
        end_stream = event.stream_ended is not None
        try:
            request = parse_request(stream_id, event.headers, end_stream, self.settings.enable_connect_protocol)
        except Malformed:
            self._stream_error(stream_id, _PROTOCOL_ERROR, events)
            return
        self._streams[stream_id] = _Stream(request.content_length, False)
        events.append(request)

    def _on_trailers(self, event: h2e.TrailersReceived, events: List[Event]) -> None:
        stream_id = event.stream_id
        record = self._streams.get(stream_id)
        if record is None:
            return
        try:
            headers = parse_trailers(event.headers)
            if record.expected is not None and record.received != record.expected:
                raise Malformed("body shorter than content-length")
        except Malformed:
            self._stream_error(stream_id, _PROTOCOL_ERROR, events)
            return
        events.append(TrailersReceived(stream_id, headers))

    def _on_data(self, event: h2e.DataReceived, events: List[Event]) -> None:
        stream_id = event.stream_id
        data = event.data
        size = len(data)
        padding = event.flow_controlled_length - size
        record = self._streams.get(stream_id)
        if record is None:  # pragma: no cover - h2 only delivers data of streams we accepted
            self._conn.ack_connection_window(event.flow_controlled_length)
            return
        record.received += size
        if record.expected is not None and record.received > record.expected:
            self._conn.ack_connection_window(event.flow_controlled_length)
            self._stream_error(stream_id, _PROTOCOL_ERROR, events)
            return
        if padding:
            self._acknowledge(stream_id, record, padding)
        if size:
            record.unacked += size
            events.append(DataReceived(stream_id, data, size))

    def _on_stream_ended(self, stream_id: int, events: List[Event]) -> None:
        record = self._streams.get(stream_id)
        if record is None:
            return
        if record.expected is not None and record.received != record.expected:
            self._stream_error(stream_id, _PROTOCOL_ERROR, events)
            return
        record.remote_ended = True
        events.append(StreamEnded(stream_id))
        self._maybe_closed(stream_id)

    def _on_reset(self, stream_id: int, error_code: int, remote: bool, events: List[Event]) -> None:
        record = self._streams.pop(stream_id, None)
        if record is not None:
            self._release(record)
            events.append(StreamReset(stream_id, error_code, remote))
        if self._resets.hit(self._now):
            self._fail(_CALM, "too many reset streams", events)

    def _window_updated(self, stream_id: int, events: List[Event]) -> None:
        if stream_id and stream_id not in self._streams:
            return
        seen = self._seen_windows
        if stream_id not in seen:
            seen.add(stream_id)
            events.append(WindowUpdated(stream_id))

    def _stream_error(self, stream_id: int, error_code: int, events: List[Event]) -> None:
        """Reset a stream for the client's fault; the transport hears of it if it knew it."""
        stream = self._conn.streams.get(stream_id)
        if stream is not None and not stream.closed:
            self._conn.reset_stream(stream_id, error_code)
        self._on_reset(stream_id, error_code, False, events)

    def _priority_error(self, stream_id: int, error_code: int, reason: str, events: List[Event]) -> None:
        """A bad PRIORITY frame is a stream error (RFC 9113 §5.3.1, §6.3): an open stream
        is reset, a closed one gets a RST_STREAM. An idle stream cannot be reset
        (§6.4), so there it is a connection error, as §5.4.1 allows."""
        if self._is_idle(stream_id):
            self._fail(error_code, reason, events)
            return
        stream = self._conn.streams.get(stream_id)
        if stream is not None and not stream.closed:
            self._stream_error(stream_id, error_code, events)
        else:  # h2 sends nothing on a stream it has closed: write the frame here, in order
            self._out += self._conn.data_to_send()
            self._out += RstStreamFrame(stream_id, error_code=error_code).serialize()

    def _fail(self, error_code: int, reason: str, events: List[Event]) -> None:
        """End the connection for the client's fault: GOAWAY queued, ``ConnectionEnded``."""
        conn = self._conn
        self._dead = True
        last = conn.highest_inbound_stream_id
        try:
            conn.close_connection(error_code, last_stream_id=last)
        except Exception:  # noqa: BLE001  # pragma: no cover - h2 accepts GOAWAY in every state
            pass
        events.append(ConnectionEnded(error_code, last, False, reason))

    # -- flow control bookkeeping ---------------------------------------------------------

    def _acknowledge(self, stream_id: int, record: _Stream, size: int) -> None:
        if record.remote_ended:
            self._conn.ack_connection_window(size)
        else:
            self._conn.acknowledge_received_data(size, stream_id)

    def _windows_resized(self) -> None:
        """The client acknowledged a new SETTINGS_INITIAL_WINDOW_SIZE: every receive
        window moved by the difference. Data consumed before then may now be owed to
        a window at or below 0, and no more DATA can come to trigger the update:
        re-run the WINDOW_UPDATE rule for each stream (h2 does not)."""
        for stream_id, record in list(self._streams.items()):
            self._acknowledge(stream_id, record, 0)

    def _release(self, record: _Stream) -> None:
        if record.unacked:
            self._conn.ack_connection_window(record.unacked)
            record.unacked = 0

    def _maybe_closed(self, stream_id: int) -> None:
        stream = self._conn.streams.get(stream_id)
        if stream is None or stream.closed:
            record = self._streams.pop(stream_id, None)
            if record is not None:
                self._release(record)

    def _sendable(self, stream_id: int) -> Optional[_Stream]:
        record = self._streams.get(stream_id)
        if record is None or self._dead:
            return None
        stream = self._conn.streams.get(stream_id)
        if stream is None or stream.state_machine.state not in _SENDING:
            return None
        return record

    # -- sending --------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """The bytes to write now (may be ``b""``)."""
        data = self._conn.data_to_send()
        out = self._out
        if out:
            out += data
            data = bytes(out)
            out.clear()
        return data

    def send_headers(self, stream_id: int, status: int, headers: List[Tuple[bytes, bytes]], end_stream: bool) -> None:
        """Send a response head (1xx heads may precede the final one).

        Names are lower-cased; connection-specific fields (connection, keep-alive,
        proxy-connection, transfer-encoding, upgrade, te) are dropped; nothing is
        added. An invalid status or field raises ``ValueError``; a second final head
        raises ``RuntimeError``. On a stream that is gone this does nothing.
        """
        self.send_head(stream_id, response_headers(status, headers, end_stream), end_stream)

    def send_head(self, stream_id: int, fields: List[Tuple[bytes, bytes]], end_stream: bool) -> None:
        """``send_headers`` for fields already built by ``headers.response_headers``
        (``:status`` first), for a caller that checked them earlier: not checked again."""
        record = self._sendable(stream_id)
        if record is None:
            return
        if record.head_sent:
            raise RuntimeError(f"the response head of stream {stream_id} was already sent")
        if int(fields[0][1]) >= 200:
            record.head_sent = True
        self._conn.send_headers(stream_id, fields, end_stream=end_stream)
        if end_stream:
            self._maybe_closed(stream_id)

    def send_data(self, stream_id: int, data: bytes, end_stream: bool) -> int:
        """Send as much of ``data`` as the windows allow, in frames of the peer's size.

        Returns the number of bytes consumed; ``end_stream`` applies only when all
        were. On a stream (or connection) that is gone, everything is discarded and
        ``len(data)`` returned.
        """
        total = len(data)
        record = self._sendable(stream_id)
        if record is None:
            return total
        if not record.head_sent:
            raise RuntimeError(f"send_data before the response head on stream {stream_id}")
        conn = self._conn
        sent = 0
        if total:
            if type(data) is not bytes:
                data = bytes(data)
            window = conn.local_flow_control_window(stream_id)
            limit = total if total < window else window
            frame_size = conn.max_outbound_frame_size
            earned = 0
            while sent < limit:
                size = min(frame_size, limit - sent)
                chunk = data if size == total else data[sent : sent + size]
                sent += size
                conn.send_data(stream_id, chunk, end_stream=end_stream and sent == total)
                # A frame earns its size only when the window cut it short (a tiny window
                # buys no frames); a small body or chunk is small by the app: full credit,
                # or a client acknowledging every small response would run out.
                earned += size if size < _FRAME_COST and sent < total else _FRAME_COST
            if earned:
                self._earn(_SEND_SHARE * earned)
        elif end_stream:
            conn.end_stream(stream_id)
        if end_stream and sent == total:
            self._maybe_closed(stream_id)
        return sent

    def send_trailers(self, stream_id: int, headers: List[Tuple[bytes, bytes]]) -> None:
        """Send trailer fields and end the stream (checked like ``send_headers``)."""
        record = self._sendable(stream_id)
        if record is None:
            return
        if not record.head_sent:
            raise RuntimeError(f"send_trailers before the response head on stream {stream_id}")
        fields = trailer_headers(headers)
        if fields:
            self._conn.send_headers(stream_id, fields, end_stream=True)
        else:
            self._conn.end_stream(stream_id)
        self._maybe_closed(stream_id)

    def end_stream(self, stream_id: int) -> None:
        """End the response with an empty DATA frame carrying END_STREAM."""
        self.send_data(stream_id, b"", True)

    def send_window(self, stream_id: int) -> int:
        """How many bytes ``send_data`` could send now: min(stream, connection) window; 0 if gone."""
        if self._sendable(stream_id) is None:
            return 0
        window = self._conn.local_flow_control_window(stream_id)
        return window if window > 0 else 0

    def can_send(self, stream_id: int) -> bool:
        """Whether a response can still be sent on ``stream_id`` (not reset, not ended)."""
        return self._sendable(stream_id) is not None

    def acknowledge_received(self, stream_id: int, n: int) -> None:
        """The application consumed ``n`` body bytes of ``stream_id``: re-grant the windows.

        Updates are batched (h2 sends a WINDOW_UPDATE once half a window is
        consumed, or the window is empty); a stream the client has finished sending
        on gets no update, only the connection does. Unknown streams are ignored.
        """
        record = self._streams.get(stream_id)
        if record is None or self._dead or n <= 0:
            return
        if n > record.unacked:
            n = record.unacked
        if n:
            record.unacked -= n
            self._acknowledge(stream_id, record, n)

    def reset_stream(self, stream_id: int, error_code: int = 8) -> None:
        """Reset a stream (CANCEL by default); nothing if it is already closed."""
        if self._dead:
            return
        conn = self._conn
        stream = conn.streams.get(stream_id)
        if stream is not None and not stream.closed:
            if stream.state_machine.state in _RECEIVING:
                # DATA the client sent before it hears of the reset: not a flood.
                window = conn.remote_flow_control_window(stream_id)
                self._earn(_FRAME_COST * ((window if window > 0 else 0) // _INFLIGHT_FRAME + 1))
            conn.reset_stream(stream_id, error_code)
        record = self._streams.pop(stream_id, None)
        if record is not None:
            self._release(record)

    def close(self, error_code: int = 0, last_stream_id: Optional[int] = None) -> None:
        """Send GOAWAY.

        With ``error_code`` 0 the shutdown is graceful: streams up to
        ``last_stream_id`` (default: the highest seen) may finish, newer ones are
        refused, and ``closed`` turns True once none is open. Any other code ends the
        connection at once.
        """
        if self._dead:
            return
        if not self._initiated:
            self.initiate()
        conn = self._conn
        last = conn.highest_inbound_stream_id if last_stream_id is None else last_stream_id
        if error_code:
            conn.close_connection(error_code, last_stream_id=last)
            self._dead = True
            return
        # h2 would refuse to send anything after its own GOAWAY: write the frame here.
        self._out += conn.data_to_send()
        self._out += GoAwayFrame(0, last_stream_id=last, error_code=0).serialize()
        if last < conn.refuse_above:
            conn.refuse_above = last
        self._goaway_sent = True

    def ping(self, data: bytes = b"pyre-kal") -> None:
        """Send a PING (8 bytes of ``data``); the answer comes as ``PingAcked``."""
        if len(data) != 8:
            raise ValueError("PING data must be 8 bytes")
        if self._dead:
            return
        if not self._initiated:
            self.initiate()
        self._conn.ping(bytes(data))

    @property
    def open_streams(self) -> int:
        """Client streams open or half-closed (what SETTINGS_MAX_CONCURRENT_STREAMS counts)."""
        return self._conn.open_inbound_streams

    @property
    def last_stream_id(self) -> int:
        """The highest client stream id seen."""
        return self._conn.highest_inbound_stream_id

    @property
    def going_away(self) -> bool:
        """A GOAWAY was sent or received, or the connection failed: no new streams."""
        return self._goaway_sent or self._dead

    @property
    def closed(self) -> bool:
        """Nothing more will happen: the connection ended, or a graceful GOAWAY was
        sent and no stream is left open. Flush ``data_to_send()`` and close."""
        return self._dead or (self._goaway_sent and self._conn.open_inbound_streams == 0)


def _decode_http2_settings(value: bytes) -> bytes:
    """Decode and check an HTTP2-Settings header value (token68, base64url)."""
    value = bytes(value).strip().rstrip(b"=")
    if _SETTINGS_VALUE.fullmatch(value) is None or len(value) % 4 == 1:
        raise ValueError("HTTP2-Settings is not base64url")
    payload = base64.urlsafe_b64decode(value + b"=" * (-len(value) % 4))
    if len(payload) % 6:
        raise ValueError("HTTP2-Settings is not a SETTINGS payload")
    for i in range(0, len(payload), 6):
        code = int.from_bytes(payload[i : i + 2], "big")
        number = int.from_bytes(payload[i + 2 : i + 6], "big")
        if code == SettingCodes.ENABLE_PUSH and number > 1:
            raise ValueError("invalid SETTINGS_ENABLE_PUSH in HTTP2-Settings")
        if code == SettingCodes.INITIAL_WINDOW_SIZE and number > 2**31 - 1:
            raise ValueError("invalid SETTINGS_INITIAL_WINDOW_SIZE in HTTP2-Settings")
        if code == SettingCodes.MAX_FRAME_SIZE and not 16384 <= number <= 16777215:
            raise ValueError("invalid SETTINGS_MAX_FRAME_SIZE in HTTP2-Settings")
        if code == SettingCodes.ENABLE_CONNECT_PROTOCOL and number > 1:
            raise ValueError("invalid SETTINGS_ENABLE_CONNECT_PROTOCOL in HTTP2-Settings")
    return payload
