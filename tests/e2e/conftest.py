"""Real servers on loopback: an embedded ``Server.serve()`` on a free port."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, List, Optional, Tuple

import pytest

from pyre import Config, Server
from tests.e2e.cli import start_cli  # noqa: F401  (a fixture)


@pytest.fixture
async def serve():
    """``await serve(app, **config)`` starts a server on a free port and returns it."""
    running: List[Tuple[Server, asyncio.Task]] = []

    async def start(app: Callable[..., Any], **kwargs: Any) -> Server:
        kwargs.setdefault("lifespan", "off")
        kwargs.setdefault("log_level", None)
        config = Config(app, host="127.0.0.1", port=0, **kwargs)
        server = Server(config)
        task = asyncio.create_task(server.serve())
        running.append((server, task))
        while not server.started:
            if task.done():
                task.result()
                return server
            await asyncio.sleep(0.005)
        server.url = f"http://127.0.0.1:{server.bound_port}"  # type: ignore[attr-defined]
        return server

    yield start
    for server, task in running:
        server.should_exit = True
    for server, task in running:
        try:
            await asyncio.wait_for(task, 10)
        except asyncio.TimeoutError:  # pragma: no cover - a hung shutdown is a failure
            server.force_exit = True
            await asyncio.wait_for(task, 5)
            raise AssertionError("server did not shut down within 10 s")


class _Collector(asyncio.Protocol):
    """Keeps every byte received and whether the peer closed, whatever writes do."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.eof = False
        self.transport: Optional[asyncio.Transport] = None
        self._changed = asyncio.Event()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._changed.set()

    def eof_received(self) -> None:
        self.eof = True
        self._changed.set()

    def connection_lost(self, exc) -> None:
        self.eof = True
        self._changed.set()

    async def wait(self) -> None:
        self._changed.clear()
        await self._changed.wait()


class RawConnection:
    """A raw TCP client for exact bytes. Reads never lose data to a failed write."""

    def __init__(self, transport: asyncio.Transport, collector: _Collector) -> None:
        self.transport = transport
        self.collector = collector

    async def send(self, data: bytes) -> None:
        if self.transport.is_closing():
            raise ConnectionResetError("the connection is closed")
        self.transport.write(data)
        await asyncio.sleep(0)

    def write_eof(self) -> None:
        self.transport.write_eof()

    async def _until(self, predicate, timeout: float):
        async def loop():
            while True:
                result = predicate()
                if result is not None:
                    return result
                if self.collector.eof:
                    raise asyncio.IncompleteReadError(bytes(self.collector.buffer), None)
                await self.collector.wait()
        return await asyncio.wait_for(loop(), timeout)

    async def readuntil(self, separator: bytes, timeout: float = 5.0) -> bytes:
        buf = self.collector.buffer

        def found():
            index = buf.find(separator)
            if index < 0:
                return None
            data = bytes(buf[: index + len(separator)])
            del buf[: index + len(separator)]
            return data
        return await self._until(found, timeout)

    async def readexactly(self, n: int, timeout: float = 5.0) -> bytes:
        buf = self.collector.buffer

        def enough():
            if len(buf) < n:
                return None
            data = bytes(buf[:n])
            del buf[:n]
            return data
        return await self._until(enough, timeout)

    async def read_all(self, timeout: float = 5.0) -> bytes:
        """Everything until the server closes the connection."""
        async def loop():
            while not self.collector.eof:
                await self.collector.wait()
        await asyncio.wait_for(loop(), timeout)
        data = bytes(self.collector.buffer)
        self.collector.buffer.clear()
        return data

    async def read_response(self, timeout: float = 5.0) -> Tuple[bytes, dict, bytes]:
        """One response: (status line, headers dict with lower-case names, body)."""
        head = await self.readuntil(b"\r\n\r\n", timeout)
        lines = head[:-4].split(b"\r\n")
        headers: dict = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers.setdefault(name.strip().lower().decode(), []).append(value.strip().decode())
        flat = {k: v[0] if len(v) == 1 else v for k, v in headers.items()}
        status = int(lines[0].split(b" ")[1])
        body = b""
        if status // 100 == 1 or status in (204, 304):
            return lines[0], flat, body
        if "content-length" in flat:
            body = await self.readexactly(int(flat["content-length"]), timeout)
        elif flat.get("transfer-encoding") == "chunked":
            while True:
                size_line = await self.readuntil(b"\r\n", timeout)
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    trailer = await self.readuntil(b"\r\n", timeout)
                    while trailer != b"\r\n":
                        name, _, value = trailer.partition(b":")
                        flat.setdefault("trailers", {})[name.strip().lower().decode()] = value.strip().decode()
                        trailer = await self.readuntil(b"\r\n", timeout)
                    break
                body += (await self.readexactly(size + 2, timeout))[:-2]
        else:  # close-delimited
            body = await self.read_all(timeout)
        return lines[0], flat, body

    async def closed(self, timeout: float = 5.0) -> bool:
        """True if the server closes the connection within ``timeout``."""
        try:
            await self.read_all(timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def close(self) -> None:
        self.transport.close()
        await asyncio.sleep(0)


@pytest.fixture
async def raw():
    """``await raw(server)`` opens a raw TCP connection to the server."""
    opened: List[RawConnection] = []

    async def connect(server: Server) -> RawConnection:
        loop = asyncio.get_running_loop()
        transport, collector = await loop.create_connection(_Collector, "127.0.0.1", server.bound_port)
        conn = RawConnection(transport, collector)
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        await conn.close()
