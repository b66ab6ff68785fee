"""The download's reference sender: the 100 MB response of bench/apps.py's ``download``
app, sent by a blocking socket server in 1 MiB ``sendall`` calls, with no HTTP parsing and
no event loop. What a receiver (curl, bench/bodyclient.py) reaches against it is what the
kernel and that receiver allow the simplest sender; a server's ratio to it says how much
of the time is the server's own. It is not a strict ceiling: a non-blocking sender that
never fills the socket (Pyre, 512 KiB per ``writev``) can beat it (docs/performance.md).

    taskset -c 0 python bench/raw_download.py --port 8501 --count 3 &
    taskset -c 1 curl -s -o /dev/null -w '%{speed_download}\\n' http://127.0.0.1:8501/

bench/run.py and bench/suite.py run it as the server ``raw-download`` beside the others.
Bounded: it serves ``--count`` downloads, one connection at a time, then exits. A
connection that sends nothing (a readiness probe) or goes away early is not counted.
"""

from __future__ import annotations

import argparse
import socket

# The same size as the download app's. Run as a script, so bench/ is sys.path[0]; not
# ``bench.apps``: bench/run.py's servers run where another ``bench`` package comes first.
from apps import TRANSFER_SIZE

CHUNK = memoryview(bytes(1 << 20))
HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: %d\r\n"
        b"connection: close\r\n\r\n" % TRANSFER_SIZE)


def serve(host: str, port: int, count: int) -> None:
    served = 0
    with socket.create_server((host, port)) as server:
        while served < count:
            conn, _ = server.accept()
            with conn:
                try:
                    if not conn.recv(65536):  # the request head (one read: a GET from curl or bodyclient)
                        continue
                    conn.sendall(HEAD)
                    left = TRANSFER_SIZE
                    while left:
                        n = min(left, len(CHUNK))
                        conn.sendall(CHUNK[:n])
                        left -= n
                except OSError:  # the receiver went away
                    continue
            served += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--count", type=int, default=3, help="downloads to serve before exiting")
    args = parser.parse_args()
    serve(args.host, args.port, args.count)


if __name__ == "__main__":
    main()
