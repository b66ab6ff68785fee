"""Drive an H2Session with a real h2 client connection, or with hand-built frames."""

from __future__ import annotations

from typing import List, Optional

import h2.config
import h2.connection
import h2.events
import h2.settings
from hpack import Encoder
from hyperframe.frame import Frame, HeadersFrame, SettingsFrame

from pyre.protocol.h2 import PREFACE, H2Session, H2Settings

NOW = 1000.0


def client_connection(validate: bool = True) -> h2.connection.H2Connection:
    """An h2 client; with ``validate=False`` it sends whatever headers it is given."""
    config = h2.config.H2Configuration(
        client_side=True,
        header_encoding=None,
        validate_outbound_headers=validate,
        normalize_outbound_headers=validate,
        validate_inbound_headers=True,
    )
    return h2.connection.H2Connection(config)


def parse_frames(data: bytes) -> List[Frame]:
    """Split server output into hyperframe frames."""
    frames = []
    view = memoryview(data)
    while view:
        frame, length = Frame.parse_frame_header(view[:9])
        frame.parse_body(view[9 : 9 + length])
        frames.append(frame)
        view = view[9 + length :]
    return frames


def frame_types(frames: List[Frame]) -> List[str]:
    return [type(f).__name__ for f in frames]


def raw_frame(ftype: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + stream_id.to_bytes(4, "big") + payload


REQUEST = [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"example.com")]


class Client:
    """An h2 client connection wired to a session; ``now`` is the clock fed to the session."""

    def __init__(self, settings: Optional[H2Settings] = None, validate: bool = True, client_settings: Optional[dict] = None) -> None:
        self.session = H2Session(settings or H2Settings())
        self.session.initiate()
        self.conn = client_connection(validate)
        if client_settings:
            self.conn.local_settings = h2.settings.Settings(client=True, initial_values=client_settings)
        self.conn.initiate_connection()
        self.now = NOW
        self.events: list = []  # session events
        self.client_events: list = []
        self.exchange()

    def exchange(self) -> list:
        """Shuttle bytes both ways until quiet; return the new session events."""
        new: list = []
        for _ in range(100):
            out = self.conn.data_to_send()
            if out:
                new += self.session.receive_data(out, self.now)
            back = self.session.data_to_send()
            if back:
                self.client_events += self.conn.receive_data(back)
            if not out and not back:
                break
        self.events += new
        return new

    def feed(self, data: bytes) -> list:
        """Give the session raw bytes as if the client sent them; return its events."""
        events = self.session.receive_data(data, self.now)
        self.events += events
        return events

    def server_frames(self) -> List[Frame]:
        """What the session queued, parsed (not given to the client)."""
        return parse_frames(self.session.data_to_send())

    def request(self, headers=REQUEST, end_stream: bool = True, body: bytes = b"") -> int:
        stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream_id, headers, end_stream=end_stream and not body)
        if body:
            self.send_body(stream_id, body, end_stream)
        return stream_id

    def send_body(self, stream_id: int, body: bytes, end_stream: bool) -> None:
        size = self.conn.max_outbound_frame_size
        for i in range(0, len(body), size):
            self.conn.send_data(stream_id, body[i : i + size], end_stream=end_stream and i + size >= len(body))

    def of(self, kind, stream_id: Optional[int] = None, events: Optional[list] = None) -> list:
        return [e for e in (self.events if events is None else events) if isinstance(e, kind) and (stream_id is None or getattr(e, "stream_id", None) == stream_id)]

    def client_of(self, kind) -> list:
        return [e for e in self.client_events if isinstance(e, kind)]


class RawClient:
    """A session fed hand-built frames after a valid preface and SETTINGS."""

    def __init__(self, settings: Optional[H2Settings] = None) -> None:
        self.session = H2Session(settings or H2Settings())
        self.session.initiate()
        self.encoder = Encoder()
        self.now = NOW
        self.events: list = self.session.receive_data(PREFACE + SettingsFrame(0).serialize(), self.now)
        self.preface_frames = parse_frames(self.session.data_to_send())

    def feed(self, data: bytes) -> list:
        events = self.session.receive_data(data, self.now)
        self.events += events
        return events

    def frames(self) -> List[Frame]:
        return parse_frames(self.session.data_to_send())

    def headers(self, stream_id: int, headers, end_stream: bool = True, end_headers: bool = True) -> bytes:
        frame = HeadersFrame(stream_id)
        frame.data = self.encoder.encode(headers)
        if end_stream:
            frame.flags.add("END_STREAM")
        if end_headers:
            frame.flags.add("END_HEADERS")
        return frame.serialize()


def rst_codes(frames: List[Frame]) -> dict:
    return {f.stream_id: f.error_code for f in frames if type(f).__name__ == "RstStreamFrame"}


def goaway(frames: List[Frame]):
    found = [f for f in frames if type(f).__name__ == "GoAwayFrame"]
    return found[-1] if found else None


__all__ = ["Client", "RawClient", "NOW", "REQUEST", "client_connection", "frame_types", "goaway", "parse_frames", "raw_frame", "rst_codes", "h2"]
