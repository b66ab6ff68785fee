"""h2's ``H2Connection`` with Pyre's own handling of received header blocks.

h2 treats every problem it finds in a header block as a connection error, and its
checks run after the HPACK decoder and the stream state have moved on, so it
cannot be recovered from outside. This subclass replaces one private method,
``_receive_headers_frame`` (h2 4.x), so that:

- an HPACK failure is COMPRESSION_ERROR (h2 says PROTOCOL_ERROR);
- a new stream past our concurrency limit, or above the last stream id of our
  graceful GOAWAY, is decoded (to keep the HPACK state) and reset REFUSED_STREAM
  (h2 would end the connection);
- a header list over ``max_header_list_size`` is answered ``431`` (trailers: reset
  ENHANCE_YOUR_CALM); one over ``decode_cap`` ends the connection (an HPACK bomb);
- trailers without END_STREAM and a self-dependent priority are stream errors;
- h2 sees no fields at all (its content-length and field checks are connection
  errors): the decoded list rides on its event to the session, which validates it.

Markers (``LocalReset``) tell the session which streams were reset here.

The HPACK coder is the twin chosen by ``pyre._accel`` (the compiled one, or the
``hpack`` library's own classes, which h2 would use anyway): it replaces h2's
``encoder`` and ``decoder`` right after construction, keeping their settings.
"""

from __future__ import annotations

from typing import Any, List, Tuple

from h2.config import H2Configuration
from h2.connection import AllowedStreamIDs, ConnectionInputs, H2Connection
from h2.errors import ErrorCodes
from h2.events import RequestReceived as H2RequestReceived
from h2.exceptions import DenialOfServiceError, ProtocolError, StreamClosedError
from hpack.exceptions import HPACKError, OversizedHeaderListError
from hyperframe.frame import WindowUpdateFrame

from pyre._accel import HPACKDecoder, HPACKEncoder

__all__ = ["CompressionError", "LocalReset", "ServerConnection"]

HIGHEST_STREAM_ID = 2**31 - 1


class CompressionError(ProtocolError):
    """The client's header block could not be decoded (RFC 7541): GOAWAY COMPRESSION_ERROR."""

    error_code = ErrorCodes.COMPRESSION_ERROR


class LocalReset:
    """Marker event: we reset (or refused) ``stream_id`` while reading its headers."""

    __slots__ = ("stream_id", "error_code", "reason")

    def __init__(self, stream_id: int, error_code: int, reason: str) -> None:
        self.stream_id = stream_id
        self.error_code = error_code
        self.reason = reason

    def __repr__(self) -> str:
        return f"LocalReset({self.stream_id}, {self.error_code}, {self.reason!r})"


def field_list_size(headers: List[Tuple[bytes, bytes]]) -> int:
    """RFC 9113 §6.5.2: name and value lengths plus 32 octets per field."""
    return sum(len(name) + len(value) + 32 for name, value in headers)


class ServerConnection(H2Connection):
    """A server-side ``H2Connection`` whose header handling the session controls."""

    def __init__(self, max_streams: int, max_header_list_size: int) -> None:
        super().__init__(
            H2Configuration(
                client_side=False,
                header_encoding=None,
                validate_inbound_headers=False,
                normalize_inbound_headers=False,
                validate_outbound_headers=False,
                normalize_outbound_headers=False,  # headers.py has lower-cased and checked them
            )
        )
        self._install_hpack()
        self.max_streams = max_streams
        self.max_list_size = max_header_list_size
        # Decoding must go to the end of a block to keep the HPACK state; past this
        # the connection dies instead (a small block that inflates enormously).
        self.decode_cap = 2 * max_header_list_size
        self.refuse_above = HIGHEST_STREAM_ID

    def _install_hpack(self) -> None:
        """Swap h2's HPACK coder for the chosen twin's, with the same settings."""
        encoder, decoder = HPACKEncoder(), HPACKDecoder()
        if encoder.header_table_size != self.encoder.header_table_size:
            encoder.header_table_size = self.encoder.header_table_size
        decoder.header_table_size = self.decoder.header_table_size
        decoder.max_allowed_table_size = self.decoder.max_allowed_table_size
        decoder.max_header_list_size = self.decoder.max_header_list_size
        self.encoder, self.decoder = encoder, decoder

    def ack_connection_window(self, size: int) -> None:
        """Give ``size`` bytes back to the connection receive window only (batched by h2)."""
        increment = self._inbound_flow_control_window_manager.process_bytes(size)
        if increment:
            frame = WindowUpdateFrame(0)
            frame.window_increment = increment
            self._prepare_for_sending([frame])

    def _receive_headers_frame(self, frame: Any) -> Tuple[list, list]:
        stream_id = frame.stream_id
        refuse = stream_id not in self.streams and (
            stream_id > self.refuse_above or self.open_inbound_streams >= self.max_streams
        )
        decoder = self.decoder
        decoder.max_header_list_size = self.decode_cap
        try:
            headers = decoder.decode(frame.data, raw=True)
        except OversizedHeaderListError as exc:
            raise DenialOfServiceError(f"header list larger than {self.decode_cap} bytes") from exc
        except (HPACKError, IndexError, TypeError, UnicodeDecodeError, ValueError) as exc:
            raise CompressionError(f"cannot decode header block: {exc}") from exc

        events = self.state_machine.process_input(ConnectionInputs.RECV_HEADERS)
        stream = self._get_or_create_stream(stream_id, AllowedStreamIDs.ODD)
        try:
            frames, stream_events = stream.receive_headers((), "END_STREAM" in frame.flags, None)
        except StreamClosedError:
            raise  # h2's _receive_frame makes it the right stream or connection error
        except ProtocolError:
            frames = stream.reset_stream(ErrorCodes.PROTOCOL_ERROR)
            return frames, events + [LocalReset(stream_id, ErrorCodes.PROTOCOL_ERROR, "trailers without END_STREAM")]

        is_request = isinstance(stream_events[0], H2RequestReceived)
        if refuse:
            frames = stream.reset_stream(ErrorCodes.REFUSED_STREAM)
            return frames, events + [LocalReset(stream_id, ErrorCodes.REFUSED_STREAM, "stream refused")]
        if "PRIORITY" in frame.flags and frame.depends_on == stream_id:
            frames = stream.reset_stream(ErrorCodes.PROTOCOL_ERROR)
            return frames, events + [LocalReset(stream_id, ErrorCodes.PROTOCOL_ERROR, "stream depends on itself")]
        if field_list_size(headers) > self.max_list_size:
            if is_request:
                # RFC 9113 §10.5.1: answer 431 and stop reading the request.
                self.send_headers(stream_id, [(b":status", b"431")], end_stream=True)
                frames = [] if stream.closed else stream.reset_stream(ErrorCodes.NO_ERROR)
                return frames, events + [LocalReset(stream_id, ErrorCodes.NO_ERROR, "request header fields too large")]
            frames = stream.reset_stream(ErrorCodes.ENHANCE_YOUR_CALM)
            return frames, events + [LocalReset(stream_id, ErrorCodes.ENHANCE_YOUR_CALM, "trailer fields too large")]
        stream_events[0].headers = headers
        return frames, events + stream_events
