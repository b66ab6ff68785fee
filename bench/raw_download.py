"""The download ceiling: the 100 MB response of bench/apps.py's ``download`` app, sent by
a blocking socket server in 1 MiB ``sendall`` calls, with no HTTP parsing and no event
loop. What a receiver (curl, bench/bodyclient.py) reaches against it is the most any
server can deliver to that receiver on this machine.

    taskset -c 0 python bench/raw_download.py --port 8501 --count 3 &
    taskset -c 1 curl -s -o /dev/null -w '%{speed_download}\\n' http://127.0.0.1:8501/

Bounded: it serves ``--count`` downloads, one connection at a time, then exits.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.apps import TRANSFER_SIZE  # noqa: E402  (the same size as the download app's)

CHUNK = memoryview(bytes(1 << 20))
HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: %d\r\n"
        b"connection: close\r\n\r\n" % TRANSFER_SIZE)


def serve(port: int, count: int) -> None:
    with socket.create_server(("127.0.0.1", port)) as server:
        for _ in range(count):
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)  # the request head (one read: a GET from curl or bodyclient)
                conn.sendall(HEAD)
                left = TRANSFER_SIZE
                while left:
                    n = min(left, len(CHUNK))
                    conn.sendall(CHUNK[:n])
                    left -= n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--count", type=int, default=3, help="downloads to serve before exiting")
    args = parser.parse_args()
    serve(args.port, args.count)


if __name__ == "__main__":
    main()
