"""A flow-control-aware HTTP/2 client on a real socket (the ``h2`` library), for the
end-to-end flow-control and timeout tests: any initial stream window, uploads that wait
for the server's window, downloads acknowledged as read (or never), every event kept."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from typing import Dict, List, Optional, Tuple

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

Headers = List[Tuple[bytes, bytes]]


class Response:
    """What the client saw on one stream."""

    def __init__(self) -> None:
        self.headers: Optional[Headers] = None
        self.body = bytearray()
        self.ended = False
        self.reset: Optional[int] = None  # RST_STREAM error code, if the server reset it
        self.done = asyncio.Event()

    @property
    def status(self) -> int:
        assert self.headers is not None, "no response head"
        return int(dict(self.headers)[b":status"])

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


class H2Client:
    """One HTTP/2 connection with the client's SETTINGS_INITIAL_WINDOW_SIZE ``window``.

    ``read=True`` acknowledges DATA as it arrives (a client that keeps up); with
    ``read=False`` nothing is acknowledged, so the server's windows close."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, window: int,
                 read: bool = True) -> None:
        self.reader = reader
        self.writer = writer
        self.read = read
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self.conn = h2.connection.H2Connection(config)
        self.conn.local_settings = h2.settings.Settings(
            client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.responses: Dict[int, Response] = {}
        self.events: list = []
        self.goaway: Optional[h2.events.ConnectionTerminated] = None
        self.closed = asyncio.Event()
        self._window = asyncio.Event()
        self._task: Optional[asyncio.Task] = None

    @classmethod
    async def open(cls, port: int, window: int = 65535, read: bool = True,
                   tls: Optional[ssl.SSLContext] = None) -> "H2Client":
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls)
        client = cls(reader, writer, window, read)
        client.conn.initiate_connection()
        await client.flush()
        client._task = asyncio.create_task(client._read_loop())
        return client

    async def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)
            await self.writer.drain()

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                try:
                    events = self.conn.receive_data(data)
                except h2.exceptions.ProtocolError:
                    break
                for event in events:
                    self._on_event(event)
                await self.flush()
        except (ConnectionError, OSError):
            pass
        finally:
            self.closed.set()
            self._window.set()
            for response in self.responses.values():
                response.done.set()

    def _on_event(self, event) -> None:
        self.events.append(event)
        response = self.responses.get(getattr(event, "stream_id", None) or 0)
        if isinstance(event, h2.events.ResponseReceived) and response is not None:
            response.headers = event.headers
        elif isinstance(event, h2.events.DataReceived) and response is not None:
            response.body += event.data
            if self.read:
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded) and response is not None:
            response.ended = True
            response.done.set()
        elif isinstance(event, h2.events.StreamReset) and response is not None:
            response.reset = event.error_code
            response.done.set()
        elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            self._window.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event
            for waiting in self.responses.values():
                waiting.done.set()

    def start(self, path: str, method: str = "GET", headers: Headers = (), end_stream: bool = True) -> int:
        """Send a request head; the response is collected in ``responses[stream id]``."""
        sid = self.conn.get_next_available_stream_id()
        self.responses[sid] = Response()
        self.conn.send_headers(sid, [(b":method", method.encode()), (b":path", path.encode()),
                                     (b":scheme", b"http"), (b":authority", b"127.0.0.1"), *headers],
                               end_stream=end_stream)
        return sid

    async def upload(self, sid: int, body: bytes, end_stream: bool = True) -> None:
        """Send ``body`` on ``sid`` as fast as the server's windows allow."""
        view = memoryview(body)
        while view:
            if self.closed.is_set() or self.responses[sid].done.is_set():
                return
            n = min(len(view), self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if n <= 0:
                self._window.clear()
                await self.flush()
                await self._window.wait()
                continue
            self.conn.send_data(sid, bytes(view[:n]))
            view = view[n:]
            await self.flush()
        if end_stream:
            self.conn.end_stream(sid)
            await self.flush()

    async def request(self, path: str, method: str = "GET", body: Optional[bytes] = None,
                      timeout: float = 60) -> Response:
        sid = self.start(path, method, end_stream=body is None)
        await self.flush()
        if body is not None:
            await self.upload(sid, body)
        response = self.responses[sid]
        await asyncio.wait_for(response.done.wait(), timeout)
        return response

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
