"""Clients that stall, against the real ``pyre`` command: the application it serves
(``tests.e2e.stalls:app``) and the client-side helpers (plain blocking sockets).

The application writes what happened to it, one line each, to the file named by
``$STALL_REPORT``, which the tests read while the server runs:

- ``/upload`` reads the whole request body and answers 200 with its size; on
  ``http.disconnect`` it reports ``upload disconnected after N bytes``;
- ``/stream`` sends 20 MB in 64 KiB pieces, ``/once`` 20 MB in one message, ``/file``
  a 20 MB file with ``http.response.pathsend``; when a ``send()`` raises it reports
  ``stream: ClientDisconnected`` and re-raises;
- a WebSocket is accepted and sent 50 messages of 1 MB; when a ``send()`` raises it
  reports ``websocket: ClientDisconnected`` and re-raises;
- anything else gets 200 ``ok``.
"""

from __future__ import annotations

import os
import select
import socket
import time
from pathlib import Path
from typing import List, Optional, Tuple

STALLS = "tests.e2e.stalls:app"
MB = 1_000_000
SLACK = 4.0  # seconds past a deadline before a test calls it missed


def report(line: str) -> None:
    with open(os.environ["STALL_REPORT"], "a") as file:
        file.write(line + "\n")


async def app(scope, receive, send):
    kind = scope["type"]
    if kind == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if kind == "websocket":
        await websocket(receive, send)
        return
    path = scope["path"]
    if path == "/upload":
        await upload(receive, send)
    elif path in ("/stream", "/once"):
        await stream(send, 64 * 1024 if path == "/stream" else 20 * MB)
    elif path == "/file":
        await send_file(send)
    else:
        await answer(send, b"ok")


async def answer(send, body: bytes) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


async def upload(receive, send) -> None:
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            report(f"upload disconnected after {size} bytes")
            return
        size += len(message["body"])
        if not message["more_body"]:
            break
    await answer(send, b"%d" % size)


async def stream(send, piece: int) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"%d" % (20 * MB))]})
    sent = 0
    try:
        while sent < 20 * MB:
            size = min(piece, 20 * MB - sent)
            sent += size
            await send({"type": "http.response.body", "body": b"s" * size, "more_body": sent < 20 * MB})
    except OSError as exc:
        report(f"stream: {type(exc).__name__}")
        raise
    report("stream: complete")


async def send_file(send) -> None:
    path = Path(os.environ["STALL_REPORT"]).with_name("20MB.bin")
    if not path.exists():
        path.write_bytes(b"f" * (20 * MB))
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"%d" % (20 * MB))]})
    try:
        await send({"type": "http.response.pathsend", "path": str(path)})
    except OSError as exc:
        report(f"stream: {type(exc).__name__}")
        raise
    report("stream: complete")


async def websocket(receive, send) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    block = b"w" * MB
    try:
        for _ in range(50):
            await send({"type": "websocket.send", "bytes": block})
    except OSError as exc:
        report(f"websocket: {type(exc).__name__}")
        raise
    report("websocket: complete")


# -- the client side -------------------------------------------------------------------------------


def address(url: str) -> Tuple[str, int]:
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    return host, int(port)


def connect(url: str, receive_buffer: Optional[int] = None) -> socket.socket:
    """A blocking TCP connection; ``receive_buffer`` shrinks the kernel's receive buffer
    (set before connecting, so the window is small from the start)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(10)
    sock.connect(address(url))
    return sock


def read_until_closed(sock: socket.socket, timeout: float) -> Tuple[bytes, bool]:
    """Everything the server sends until it closes: (data, closed in time). A reset
    counts as closed."""
    end = time.monotonic() + timeout
    data = bytearray()
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return bytes(data), False
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            continue
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            return bytes(data), True
        if not chunk:
            return bytes(data), True
        data += chunk


def wait_for_report(path: Path, text: str, timeout: float) -> List[str]:
    """The report's lines once one contains ``text``; all of them if ``timeout`` passes first."""
    end = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if any(text in line for line in lines) or time.monotonic() >= end:
            return lines
        time.sleep(0.05)


def log_problems(output: List[str]) -> List[str]:
    """Lines of the server's log that a clean run does not have."""
    return [line for line in "".join(output).splitlines()
            if "ERROR" in line or "Traceback" in line or "Exception" in line or "WARNING" in line]
