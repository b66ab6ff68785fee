"""Instructions per request, counted by valgrind's callgrind: repeatable on a noisy machine.

    python bench/instructions.py                 # both modes, every target
    python bench/instructions.py --targets full  # one target
    python bench/instructions.py --targets h2 --modes c  # the HTTP/2 session, compiled
    python bench/instructions.py --modes c       # compiled twins only

Targets:
- ``parser``: ``RequestParser.feed`` + ``resume`` on a typical 4-header GET;
- ``full``: a whole request through ``H1Protocol`` (the twin ``pyre._accel`` chooses,
  so ``--modes c,py`` compares the compiled and the pure connection) with a fake transport on uvloop:
  parse, scope, task, the app's two sends, serialisation, keep-alive; the app is the
  plaintext hello-world of bench/apps.py;
- ``stream`` and ``pipeline``: the same with a 10-chunk response, and with 16
  pipelined requests per read (per request);
- ``json``: ``full`` with bench/apps.py's bare ASGI json app (``json.dumps`` per request);
- ``web``, ``web-asgi``: ``full`` with a ``pyre.web`` App answering the same JSON from a
  function route (the issue 15 benchmark's json handler): on the native path (the
  default when Pyre serves an App), and forced through ASGI (``App(native=False)``);
  the ratio ``json / web`` is the framework's share of a request (issue 15: >= 0.8);
- ``full-proxy``, ``json-proxy``, ``web-proxy``, ``web-asgi-proxy``: the same behind the
  server's own proxy-headers wrapper, as ``pyre`` runs it by default (``--proxy-headers``,
  loopback trusted: the driver's peer is 127.0.0.1); uvicorn's targets run behind its own,
  as uvicorn runs by default;
- ``full-uvicorn``, ``json-uvicorn``, ``pipeline-uvicorn``: ``full``, ``json`` and ``pipeline`` on
  uvicorn as bench/run.py runs it (httptools on uvloop, no access log), through the same
  fake transport: the baseline of the wire ratios, in user-space instructions (the
  mode column does not apply);
- ``echo``: a POST of a 16 KiB body echoed by bench/apps.py's ``echo`` (the ``echo``
  scenario of bench/run.py); ``upload``: a POST of 1 MiB counted by its ``upload`` app
  (per request, so per MiB);
- every H1 target hands the bytes over as the loop does (``deliver``): into the
  connection's lent buffer (``get_buffer``/``buffer_updated``) when it is a
  ``BufferedProtocol``, or, with ``--receive copied``, as uvloop does for a plain
  ``Protocol`` (a new ``bytes`` per read for ``data_received``): the A/B of the
  receive-buffer pool in one build;
- ``h2``: a whole request through ``H2Protocol`` (HTTP/2, cleartext prior knowledge,
  on the ``H2Session`` twin ``pyre._accel`` chooses): one HEADERS frame (a GET of four
  fields, HPACK without the dynamic table) per stream on one connection, the
  plaintext app, the response's HEADERS and DATA frames. The frame is built per
  request (a few hundred instructions, the same whatever the twin).
- ``h2-m10``: the same with 10 streams' HEADERS in one read, as h2load -m10 sends them
  (per request).
- ``ws``, ``ws-64k``: one WebSocket message echoed (bench/ws.py's one-in-flight load):
  a masked 32-byte (or 64 KiB) text frame read by the connection the upgrade created,
  the ``ws_echo`` app's receive and send, the frame written; per message;
- ``ws-uvicorn``: the ``ws`` target on uvicorn as its users run it (httptools, ``--ws auto``,
  which is websockets-sansio when websockets is installed), through the same fake
  transport: the same work on the baseline of bench/ws.py, in user-space instructions;
- ``ws-deflate``, ``ws-deflate-uvicorn``: the ``ws`` target (on Pyre, on uvicorn) with
  permessage-deflate negotiated: a 1 KiB text message compressed as bench/wsload.c
  compresses it (each message alone), inflated, echoed compressed (context takeover);
- ``ws-frames``: the frame layer alone, ``WSSession.receive_data`` of that 32-byte
  frame and ``send_message`` of its echo, ``data_to_send``; per message.

Each target runs N and 3N iterations under callgrind; the difference divided by 2N
is the cost of one request, without start-up and import costs. The driver's own loop
(an ``await asyncio.sleep(0)`` per iteration) is measured the same way and subtracted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"


# -- the measured programs (run in a child under valgrind) -------------------------------


def _parser(n: int) -> None:
    from pyre._accel import RequestParser
    from pyre.protocol.h1.parsing import H1Limits

    parser = RequestParser(H1Limits())
    for _ in range(n):
        parser.feed(REQUEST)
        parser.resume()


class _FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def get_extra_info(self, name, default=None):
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data) -> None:
        self.writes += 1

    def writelines(self, lines) -> None:
        self.writes += 1

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


# The loop's own receive buffer (uvloop reads a plain Protocol's data into 256 KiB).
_RECV = memoryview(bytearray(256 * 1024))


def deliver(protocol, data: bytes, buffered: bool) -> None:
    """``data`` as the loop hands it over, read by read. ``buffered`` (a BufferedProtocol,
    as uvloop runs one): ``get_buffer(65536)``, the bytes written at its start (the
    kernel's copy), ``buffer_updated(n)``. Otherwise uvloop's way for a plain Protocol:
    the kernel's copy into the loop's buffer, then a new ``bytes`` of it for
    ``data_received``. Both sides pay the emulated kernel copy and a slice or two."""
    view = memoryview(data)
    at, total = 0, len(data)
    while at < total:
        if buffered:
            buf = protocol.get_buffer(65536)
            n = min(len(buf), total - at)
            buf[:n] = view[at : at + n]
            protocol.buffer_updated(n)
        else:
            n = min(len(_RECV), total - at)
            _RECV[:n] = view[at : at + n]
            protocol.data_received(_RECV[:n].tobytes())
        at += n


def _post(size: int) -> bytes:
    return (b"POST / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size)


def _protocol_driver(n: int, app_name: str, per_read: int, idle: bool = False, request: bytes = REQUEST) -> None:
    import uvloop

    sys.path.insert(0, str(ROOT))
    from bench import apps
    from pyre._accel import H1Protocol  # the twin the server would use in this mode
    from pyre.config import Config
    from pyre.transport.context import ServerContext

    base = app_name[: -len("-proxy")] if app_name.endswith("-proxy") else app_name
    app = _web_app(base == "web") if base.startswith("web") else getattr(apps, base)
    data = request * per_read
    buffered = (issubclass(H1Protocol, asyncio.BufferedProtocol)
                and os.environ.get("BENCH_RECEIVE", "buffered") == "buffered")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        config = Config(app, http="h1", ws="none", access_log=False)  # the HTTP/1.1 path alone
        served = app
        if app_name.endswith("-proxy"):  # as pyre.server wraps the app
            from pyre.asgi.proxy_headers import ProxyHeadersMiddleware

            served = ProxyHeadersMiddleware(app, config.trusted_proxies, source=config.proxy_headers_source)
        ctx = ServerContext.from_config(served, loop, config)
        if app_name.startswith("web") and (ctx.native is not None) != (app_name in ("web", "web-proxy")):
            raise SystemExit(f"{app_name}: the native path is {'off' if ctx.native is None else 'on'}")
        protocol = H1Protocol(ctx)
        transport = _FakeTransport()
        protocol.connection_made(transport)
        for _ in range(n):
            if not idle:
                deliver(protocol, data, buffered)
            for _ in range(per_read if not idle else 1):
                await asyncio.sleep(0)
            while not idle and ctx.tasks:
                await asyncio.sleep(0)
        if not idle and transport.writes < n:
            raise SystemExit(f"{app_name}: {transport.writes} writes for {n * per_read} requests")

    uvloop.run(main())


def _uvicorn_driver(n: int, app_name: str, per_read: int) -> None:
    """``_protocol_driver`` on uvicorn as bench/run.py runs it (httptools, uvloop), through the
    same fake transport and reads (``data_received``: uvicorn's protocol is a plain
    ``Protocol``), with its once-a-second default headers (date, server) set as its
    ``Server`` sets them. Waits for the responses' writes, two each (uvicorn writes the
    head at ``http.response.start``), not for its task set (its tasks leave it by a done
    callback, one loop iteration later)."""
    import uvloop
    from uvicorn.config import Config as UvicornConfig
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    sys.path.insert(0, str(ROOT))
    from bench import apps

    app = getattr(apps, app_name)
    data = REQUEST * per_read

    async def main() -> None:
        config = UvicornConfig(app=app, http="httptools", ws="none", lifespan="off", access_log=False,
                               log_level="warning")
        config.load()
        state = ServerState()
        state.default_headers = [(b"date", b"Sun, 06 Dec 2026 10:00:00 GMT")] + config.encoded_headers
        protocol = HttpToolsProtocol(config=config, server_state=state, app_state={})
        transport = _FakeTransport()
        protocol.connection_made(transport)
        for i in range(n):
            deliver(protocol, data, False)
            while transport.writes < 2 * (i + 1) * per_read:
                await asyncio.sleep(0)
        for _ in range(10):
            await asyncio.sleep(0)

    uvloop.run(main())


def _web_app(native: bool):
    """The pyre.web App of the ``web`` targets: ``GET /`` -> bench/apps.py's JSON message."""
    from pyre.web import App

    sys.path.insert(0, str(ROOT))
    from bench import apps

    app = App(native=native)

    @app.get("/")
    async def json(request) -> dict:
        return apps.JSON_MESSAGE

    app.freeze()  # as the lifespan startup does
    return app


# An HTTP/2 client: SETTINGS (empty), the connection window opened wide, and per stream a
# GET / of :method, :scheme, :path (static table), :authority, user-agent and accept
# (literals without indexing: the same block for every stream).
H2_START = (
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
    + b"\x00\x00\x04\x08\x00\x00\x00\x00\x00" + (2**31 - 1 - 65535).to_bytes(4, "big")
)
H2_BLOCK = (
    b"\x82\x86\x84"
    + b"\x01\x0e127.0.0.1:8080"
    + b"\x0f\x2b\x03wrk"
    + b"\x0f\x04\x03*/*"
)
H2_HEAD = len(H2_BLOCK).to_bytes(3, "big") + b"\x01\x05"  # HEADERS, END_STREAM | END_HEADERS


def _h2_driver(n: int, per_read: int = 1) -> None:
    import uvloop

    sys.path.insert(0, str(ROOT))
    from bench import apps
    from pyre.config import Config
    from pyre.transport.context import ServerContext
    from pyre._accel import H2Protocol  # the chosen twin

    async def main() -> None:
        loop = asyncio.get_running_loop()
        config = Config(apps.hello, http="h2", ws="none", access_log=False)
        ctx = ServerContext.from_config(apps.hello, loop, config)
        protocol = H2Protocol(ctx)
        transport = _FakeTransport()
        protocol.connection_made(transport)
        protocol.data_received(H2_START)
        sid = 1
        for _ in range(n):
            frames = []
            for _ in range(per_read):
                frames.append(H2_HEAD + sid.to_bytes(4, "big") + H2_BLOCK)
                sid += 2
            protocol.data_received(b"".join(frames))
            await asyncio.sleep(0)
            while ctx.tasks:
                await asyncio.sleep(0)
        if transport.writes < n:
            raise SystemExit(f"h2: {transport.writes} writes for {n} requests")

    uvloop.run(main())


UPGRADE = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


UPGRADE_DEFLATE = UPGRADE[:-2] + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"


def ws_frame(size: int, mask: bytes = b"\x37\xfa\x21\x3d", deflate: bool = False) -> bytes:
    """A masked text frame of ``size`` bytes, as bench/wsload.c sends it (with ``deflate``:
    compressed alone, raw deflate with a sync flush, the 00 00 ff ff tail cut, RSV1 set)."""
    import zlib

    payload = bytes(ord("a") + i % 26 for i in range(size))
    first = 0x81
    if deflate:
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        payload = (compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
        first = 0xC1
    size = len(payload)
    if size < 126:
        head = bytes((first, 0x80 | size))
    elif size < 65536:
        head = bytes((first, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((first, 0x80 | 127)) + size.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class _SwitchingTransport(_FakeTransport):
    """Follows ``set_protocol`` (the WebSocket upgrade) and counts written bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.protocol = None
        self.nbytes = 0

    def set_protocol(self, protocol) -> None:
        self.protocol = protocol

    def get_protocol(self):
        return self.protocol

    def write(self, data) -> None:
        self.writes += 1
        self.nbytes += len(data)


async def _ws_echoes(protocol, n: int, size: int, deflate: bool = False):
    """Upgrade ``protocol`` (an HTTP/1.1 connection) to WebSocket over a fake transport,
    then send ``n`` frames one at a time, each after the echo of the one before; the
    WebSocket protocol."""
    frame = ws_frame(size, deflate=deflate)
    transport = _SwitchingTransport()
    transport.protocol = protocol
    protocol.connection_made(transport)
    protocol.data_received(UPGRADE_DEFLATE if deflate else UPGRADE)
    while transport.writes < 1:  # the 101
        await asyncio.sleep(0)
    ws = transport.protocol
    assert ws is not protocol, "no upgrade"
    for _ in range(n):
        before = transport.nbytes
        ws.data_received(frame)
        while transport.nbytes == before:  # until the echo is written
            await asyncio.sleep(0)
    assert transport.nbytes > (n * 8 if deflate else n * size)
    return ws


def _ws_driver(n: int, size: int, deflate: bool = False) -> None:
    import uvloop

    sys.path.insert(0, str(ROOT))
    from bench import apps
    from pyre._accel import H1Protocol
    from pyre.config import Config
    from pyre.transport.context import ServerContext

    async def main() -> None:
        loop = asyncio.get_running_loop()
        config = Config(apps.ws_echo, http="h1", access_log=False, ws_ping_interval=0)
        ctx = ServerContext.from_config(apps.ws_echo, loop, config)
        await _ws_echoes(H1Protocol(ctx), n, size, deflate)

    uvloop.run(main())


def _ws_uvicorn(n: int, size: int, deflate: bool = False) -> None:
    import uvloop
    from uvicorn.config import Config as UvicornConfig
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    sys.path.insert(0, str(ROOT))
    from bench import apps

    async def main() -> None:
        config = UvicornConfig(app=apps.ws_echo, http="httptools", ws="auto", lifespan="off", access_log=False,
                               log_level="warning", ws_ping_interval=None)
        config.load()
        ws = await _ws_echoes(HttpToolsProtocol(config=config, server_state=ServerState(), app_state={}), n, size,
                              deflate)
        ws.connection_lost(None)  # the app sees a disconnect and returns (not a cancellation)
        for _ in range(10):
            await asyncio.sleep(0)

    uvloop.run(main())


def _ws_frames(n: int) -> None:
    from pyre.protocol.ws import WSSession

    frame = ws_frame(32)
    session = WSSession(1 << 24)
    for _ in range(n):
        for event in session.receive_data(frame, 16):
            session.send_message(event)  # type: ignore[arg-type]  (a message is its data)
        session.data_to_send()


def child(target: str, n: int) -> None:
    if target == "parser":
        _parser(n)
    elif target == "parser-baseline":
        _parser(0)
    elif target == "full":
        _protocol_driver(n, "hello", 1)
    elif target == "stream":
        _protocol_driver(n, "stream", 1)
    elif target == "pipeline":
        _protocol_driver(n, "hello", 16)
    elif target == "full-proxy":
        _protocol_driver(n, "hello-proxy", 1)
    elif target in ("json", "json-proxy", "web", "web-asgi", "web-proxy", "web-asgi-proxy"):
        _protocol_driver(n, target, 1)
    elif target in ("full-uvicorn", "json-uvicorn"):
        _uvicorn_driver(n, "hello" if target == "full-uvicorn" else "json", 1)
    elif target == "pipeline-uvicorn":
        _uvicorn_driver(n, "hello", 16)
    elif target == "echo":
        _protocol_driver(n, "echo", 1, request=_post(16 * 1024))
    elif target == "upload":
        _protocol_driver(n, "upload", 1, request=_post(1024 * 1024))
    elif target == "h2":
        _h2_driver(n)
    elif target == "h2-m10":
        _h2_driver(n, 10)
    elif target == "driver":
        _protocol_driver(n, "hello", 1, idle=True)
    elif target == "ws":
        _ws_driver(n, 32)
    elif target == "ws-64k":
        _ws_driver(n, 65536)
    elif target == "ws-uvicorn":
        _ws_uvicorn(n, 32)
    elif target == "ws-deflate":
        _ws_driver(n, 1024, deflate=True)
    elif target == "ws-deflate-uvicorn":
        _ws_uvicorn(n, 1024, deflate=True)
    elif target == "ws-frames":
        _ws_frames(n)
    else:
        raise SystemExit(f"unknown target {target}")


# -- the parent: run children under callgrind ------------------------------------------------


def count(target: str, n: int, env: dict) -> int:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
           sys.executable, __file__, "--child", target, str(n)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    match = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or not match:
        raise SystemExit(f"callgrind failed for {target}:\n{result.stderr[-2000:]}")
    return int(match.group(1))


def per_request(target: str, n: int, env: dict) -> float:
    low, high = count(target, n, env), count(target, 3 * n, env)
    return (high - low) / (2 * n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=2, metavar=("TARGET", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--targets", default="parser,full,stream,pipeline,h2")
    parser.add_argument("--modes", default="c,py", help="c (compiled twins), py (PYRE_NO_EXTENSIONS=1)")
    parser.add_argument("-n", type=int, default=1000, help="iterations of the smaller run")
    parser.add_argument("--receive", choices=("buffered", "copied"), default="buffered",
                        help="how H1 targets get their bytes: the lent buffer, or data_received")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    print(f"# instructions per request (callgrind), Python {sys.version.split()[0]}")
    print("| target | " + " | ".join(args.modes.split(",")) + " |")
    print("|---|" + "---:|" * len(args.modes.split(",")))
    driver = {}
    for target in args.targets.split(","):
        row = []
        for mode in args.modes.split(","):
            env = dict(os.environ, PYTHONPATH=str(ROOT))
            env["BENCH_RECEIVE"] = args.receive
            env["PYRE_NO_EXTENSIONS"] = "1" if mode == "py" else "0"
            n = args.n if mode == "c" else max(100, args.n // 5)
            cost = per_request(target, n, env)
            if target not in ("parser", "ws-frames"):
                if mode not in driver:
                    driver[mode] = per_request("driver", n, env)
                cost -= driver[mode]
            if target in ("pipeline", "pipeline-uvicorn"):
                cost /= 16
            elif target == "h2-m10":
                cost /= 10
            row.append(f"{cost:,.0f}")
        print(f"| {target} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
