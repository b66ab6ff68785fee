"""The WebSocket ceiling for bench/ws.py: a raw uvloop ``asyncio.Protocol`` echo.

It does the least a WebSocket echo server can: the opening handshake (the accept key,
nothing checked), then per read every complete frame unmasked and sent back re-framed
in one write; a close frame is answered and the connection closed. No ASGI, no
validation, no extensions: a ceiling, not a server.

    python bench/ws_raw.py --host 127.0.0.1 --port 8000

Standalone (stdlib and uvloop only): bench/ws.py runs it in the servers' run directory.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import signal

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def raw_server(host: str, port: int) -> None:
    """A uvloop Protocol that does the least a WebSocket echo can: no ASGI, no validation."""
    import asyncio

    import uvloop

    head_end = b"\r\n\r\n"
    key_re = re.compile(rb"\r\nsec-websocket-key:[ \t]*([^\r\n]+?)[ \t]*\r\n", re.I)

    class RawWSEcho(asyncio.Protocol):
        __slots__ = ("transport", "buf", "open")

        def connection_made(self, transport) -> None:
            self.transport = transport
            self.buf = b""
            self.open = False

        def data_received(self, data: bytes) -> None:
            buf = self.buf + data if self.buf else data
            if not self.open:
                end = buf.find(head_end)
                if end < 0:
                    self.buf = buf
                    return
                m = key_re.search(buf, 0, end + 4)
                if not m:
                    self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    self.transport.close()
                    return
                accept = base64.b64encode(hashlib.sha1(m.group(1) + GUID).digest())
                self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
                self.open = True
                buf = buf[end + 4:]
            out = []
            i, n = 0, len(buf)
            while n - i >= 2:
                b0, b1 = buf[i], buf[i + 1]
                length, hdr = b1 & 0x7F, 2
                if length == 126:
                    if n - i < 4:
                        break
                    length, hdr = int.from_bytes(buf[i + 2:i + 4], "big"), 4
                elif length == 127:
                    if n - i < 10:
                        break
                    length, hdr = int.from_bytes(buf[i + 2:i + 10], "big"), 10
                masked = b1 & 0x80
                start = i + hdr + (4 if masked else 0)
                if n - start < length:
                    break
                payload = buf[start:start + length]
                if masked and length:
                    key = buf[start - 4:start] * (length // 4 + 1)
                    payload = (int.from_bytes(payload, "little") ^ int.from_bytes(key[:length], "little")).to_bytes(
                        length, "little")
                i = start + length
                opcode = b0 & 0x0F
                if opcode == 8:
                    out.append(b"\x88\x02\x03\xe8")
                    self.transport.write(b"".join(out))
                    self.transport.close()
                    return
                if opcode == 9:
                    b0, opcode = (b0 & 0xF0) | 0xA, 0xA
                elif opcode == 0xA:
                    continue
                if length < 126:
                    out.append(bytes((b0, length)) + payload)
                elif length < 65536:
                    out.append(bytes((b0, 126)) + length.to_bytes(2, "big") + payload)
                else:
                    out.append(bytes((b0, 127)) + length.to_bytes(8, "big") + payload)
            self.buf = buf[i:]
            if out:
                self.transport.write(b"".join(out))

        def connection_lost(self, exc) -> None:
            self.transport = None

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(RawWSEcho, host, port, backlog=2048)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with server:
            await stop.wait()

    uvloop.run(main())


def main() -> None:
    p = argparse.ArgumentParser(description="raw uvloop WebSocket echo (a ceiling for bench/ws.py)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    raw_server(args.host, args.port)


if __name__ == "__main__":
    main()
