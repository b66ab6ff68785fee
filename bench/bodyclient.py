#!/usr/bin/env python3
"""One bounded HTTP/1.1 transfer of a large body, cheaper for the client than curl, so that
the server, not the load generator, sets the pace of bench/run.py's upload and download.

    python bench/bodyclient.py --upload-file FILE http://127.0.0.1:8000/upload
    python bench/bodyclient.py http://127.0.0.1:8000/download
    python bench/bodyclient.py --splice http://127.0.0.1:8000/download

The upload is sent with ``sendfile`` from the page cache (the kernel moves it; curl reads
the file into its own 64 KiB buffer and writes it again, and took a whole core to send
100 MB at the pace Pyre receives it); the download is read with ``recv_into`` into one
256 KiB buffer and discarded (bench/run.py still receives with curl by default: it was the
faster receiver in our measurements). With ``--splice`` (Linux) the body moves from the
socket through a pipe to /dev/null with ``os.splice`` and is never copied to user space:
the cheapest receiver, so that the sender, not the receiver, sets the pace. The response is checked as
curl's is: the output is curl's ``--write-out`` of bench/run.py, the response body (of
an upload: the app's count) and then a line ``status uploaded downloaded seconds``.
Bounded: ``--max-time`` seconds for the whole transfer (an alarm), one connection.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time
from urllib.parse import urlsplit

BUFFER = 1 << 18  # bytes per recv_into, and per splice
F_SETPIPE_SZ = 1031  # fcntl: the pipe's capacity (Linux)
KEEP = 65536  # response body bytes kept to print (an upload's count is a few digits)


def transfer(url: str, upload_file: str | None, max_time: float, splice: bool = False) -> str:
    """Run one transfer; the curl-like output (see the module's docstring)."""
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
    t0 = time.perf_counter()
    sock = socket.create_connection((host, port), timeout=max_time)
    uploaded = 0
    with sock:
        if upload_file is not None:
            size = os.path.getsize(upload_file)
            sock.sendall(f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/octet-stream\r\n"
                         f"content-length: {size}\r\nconnection: close\r\n\r\n".encode())
            with open(upload_file, "rb") as f:
                uploaded = sock.sendfile(f)
        else:
            sock.sendall(f"GET {path} HTTP/1.1\r\nhost: {host}:{port}\r\nconnection: close\r\n\r\n".encode())
        status, body, downloaded = read_response(sock, splice)
    seconds = time.perf_counter() - t0
    shown = body.decode("latin-1") if upload_file is not None else ""  # curl's download went to /dev/null
    return f"{shown}\n{status} {uploaded} {downloaded} {seconds:.6f}\n"


def read_response(sock: socket.socket, splice: bool = False) -> tuple[int, bytes, int]:
    """(status, the first KEEP bytes of the body, body bytes) of a response with a
    content-length (or read to the end of the connection without one); with ``splice``,
    the body after the head's read is spliced to /dev/null and none of it is kept."""
    buf = bytearray(BUFFER)
    view = memoryview(buf)
    head = b""
    while b"\r\n\r\n" not in head:
        n = sock.recv_into(view)
        if not n:
            return 0, b"", 0
        head += view[:n]
    head, _, rest = head.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = -1
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    kept, received = rest[:KEEP], len(rest)
    if splice:
        return status, b"", received + splice_to_null(sock, length - received if length >= 0 else -1)
    while length < 0 or received < length:
        n = sock.recv_into(view)
        if not n:
            break
        if len(kept) < KEEP:
            kept += view[: min(n, KEEP - len(kept))]
        received += n
    return status, kept, received


def splice_to_null(sock: socket.socket, count: int) -> int:
    """Move ``count`` bytes (-1: to the end of the connection) from ``sock`` to /dev/null
    through a pipe, with no copy to user space; the bytes moved."""
    import fcntl  # here, not at the top: POSIX only, and only --splice needs it

    sock.settimeout(None)  # splice on a non-blocking socket fails with EAGAIN; the alarm still bounds it
    read_end, write_end = os.pipe()
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        fcntl.fcntl(write_end, F_SETPIPE_SZ, BUFFER)
        moved = 0
        while count < 0 or moved < count:
            n = os.splice(sock.fileno(), write_end, BUFFER if count < 0 else min(BUFFER, count - moved))
            if not n:
                break
            left = n
            while left:
                left -= os.splice(read_end, null, left)
            moved += n
        return moved
    finally:
        for fd in (read_end, write_end, null):
            os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--upload-file", help="POST this file (sendfile); without it, GET")
    parser.add_argument("--max-time", type=float, default=60.0, help="seconds for the whole transfer")
    parser.add_argument("--splice", action="store_true",
                        help="receive the body with os.splice into /dev/null, no copy (Linux)")
    args = parser.parse_args()
    if args.splice and (args.upload_file is not None or not hasattr(os, "splice")):
        parser.error("--splice receives a download, and needs os.splice (Linux, Python 3.10+)")
    signal.signal(signal.SIGALRM, lambda *_: sys.exit("bodyclient: --max-time reached"))
    signal.setitimer(signal.ITIMER_REAL, args.max_time)
    try:
        out = transfer(args.url, args.upload_file, args.max_time, args.splice)
    except OSError as exc:
        sys.exit(f"bodyclient: {exc}")
    sys.stdout.write(out)


if __name__ == "__main__":
    main()
