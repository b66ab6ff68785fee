"""The ceiling: a raw uvloop ``asyncio.Protocol`` that answers every request.

No HTTP parsing and no ASGI. It counts request terminators (``\\r\\n\\r\\n``) in
the bytes it receives and, per ``data_received`` call, writes one canned
"Hello, world!" response per terminator in a single ``transport.write``. That
is the least work an asyncio server on uvloop can do per request, so its
requests/s are the ceiling any asyncio-based Python server can reach on this
machine (a terminator split across two reads is still counted once).

It only makes sense for bodiless GET requests (the ``plaintext`` and
``pipeline`` scenarios).

    python bench/raw_uvloop.py --host 127.0.0.1 --port 8000 [--workers N]

With ``--workers N`` the socket is bound once and N-1 forked children serve it too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket

import uvloop

BODY = b"Hello, world!"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n"
    b"\r\n" + BODY
)
TERMINATOR = b"\r\n\r\n"


class RawHello(asyncio.Protocol):
    __slots__ = ("transport", "tail")

    def __init__(self) -> None:
        self.transport = None
        self.tail = b""

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.tail:
            data = self.tail + data
        count = data.count(TERMINATOR)
        if count:
            self.transport.write(RESPONSE * count)
            rest = data[data.rfind(TERMINATOR) + 4 :]
        else:
            rest = data
        # Keep at most 3 bytes: enough to spot a terminator split across reads.
        self.tail = rest[-3:] if rest else b""

    def connection_lost(self, exc) -> None:
        self.transport = None


async def serve(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(RawHello, sock=sock)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--backlog", type=int, default=2048)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(args.backlog)
    sock.setblocking(False)
    children = []
    for _ in range(args.workers - 1):
        pid = os.fork()
        if pid == 0:
            uvloop.run(serve(sock))
            os._exit(0)
        children.append(pid)
    try:
        uvloop.run(serve(sock))
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except OSError:
                pass


if __name__ == "__main__":
    main()
