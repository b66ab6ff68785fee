"""H1Protocol reads into the parser's pooled buffers (asyncio.BufferedProtocol).

Both twins of the connection (compiled id "c", pure id "py"), whatever
PYRE_NO_EXTENSIONS says: the loop asks ``get_buffer``, writes the read at its start and
calls ``buffer_updated``. What the application receives must never change when a
block is reused, and a connection holds no block between reads.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest

from pyre._accel import load_twins
from pyre.protocol.h1 import recvpool
from pyre.protocol.h1.parsing import DIRECT_BODY_MAX, DIRECT_BODY_MIN, RECV_BLOCK_SIZE, RECV_POOL_KEEP
from tests.helpers import h1conn_twin, server_context
from tests.transport.test_h1_protocol import FakeTransport, settle



@pytest.fixture(params=["c", "py"])
def H1Protocol(request):
    return h1conn_twin(request.param).H1Protocol


def make(H1Protocol, app):
    ctx = server_context(app, asyncio.get_running_loop(), date_header=False, access_log=False)
    protocol = H1Protocol(ctx)
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


def read(protocol, data: bytes) -> None:
    """The loop's reads of ``data`` into the protocol's buffers."""
    at = 0
    while at < len(data):
        buf = protocol.get_buffer(65536)
        n = min(len(buf), len(data) - at)
        buf[:n] = data[at : at + n]
        protocol.buffer_updated(n)
        at += n


def post(body: bytes, path: bytes = b"/") -> bytes:
    return b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (path, len(body), body)


def chunked(body: bytes) -> bytes:
    return b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


def collecting_app(seen: list):
    async def app(scope, receive, send):
        while True:
            message = await receive()
            seen.append((scope["path"], message["body"]))
            if not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def test_the_connection_is_a_buffered_protocol(H1Protocol):
    # uvloop and asyncio only call get_buffer on a BufferedProtocol (uvloop: not a Protocol).
    assert issubclass(H1Protocol, asyncio.BufferedProtocol)
    assert not issubclass(H1Protocol, asyncio.Protocol)


@pytest.mark.parametrize("size", [10, 4000, DIRECT_BODY_MIN - 1, DIRECT_BODY_MIN, 3 * RECV_BLOCK_SIZE + 5])
@pytest.mark.parametrize("frame", [post, chunked])
async def test_bodies_the_app_got_survive_the_reuse_of_the_block(H1Protocol, size, frame):
    seen: list = []
    protocol, transport = make(H1Protocol, collecting_app(seen))
    first, second = bytes([65 + i % 26 for i in range(size)]), b"\xff" * size
    read(protocol, frame(first))
    await settle()
    kept = list(seen)
    read(protocol, frame(second) + frame(second))  # the same block(s) again, filled with 0xff
    await settle()
    assert all(type(body) is bytes for _, body in seen)
    assert b"".join(body for _, body in kept) == first
    assert b"".join(body for _, body in seen) == first + second + second
    assert transport.data.count(b"ok") == 3


async def test_a_partial_head_is_kept_and_the_block_goes_back(H1Protocol):
    seen: list = []
    protocol, transport = make(H1Protocol, collecting_app(seen))
    recvpool.FREE_BLOCKS.clear()
    read(protocol, b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Le")
    assert recvpool.free_blocks() == 1  # the block came back; the partial head was copied
    read(protocol, b"ngth: 3\r\n\r\nabc" + post(b"xyz", b"/b")[:20])  # a pipelined head begins
    await settle()
    read(protocol, post(b"xyz", b"/b")[20:])
    await settle()
    assert seen == [("/a", b"abc"), ("/b", b"xyz")]
    assert recvpool.free_blocks() == 1


async def test_the_pool_keeps_a_bounded_number_of_free_blocks(H1Protocol):
    seen: list = []
    protocols = [make(H1Protocol, collecting_app(seen))[0] for _ in range(RECV_POOL_KEEP + 3)]
    # Every connection asks for a buffer before any read completes (never done by one
    # loop, but allowed): each gets its own block, and only RECV_POOL_KEEP are kept after.
    buffers = [p.get_buffer(65536) for p in protocols]
    assert len({id(b) for b in buffers}) == len(protocols)
    request = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
    for protocol, buf in zip(protocols, buffers):
        buf[: len(request)] = request
        protocol.buffer_updated(len(request))
    await settle()
    assert len(seen) == len(protocols)
    assert recvpool.free_blocks() == RECV_POOL_KEEP


def read_like_libuv(protocol, data: bytes) -> None:
    """libuv's read loop with ``data`` all in the socket: it asks for another buffer after
    every read that filled one, and leaves it unused when the socket has nothing more."""
    at = 0
    while True:
        buf = protocol.get_buffer(65536)
        n = min(len(buf), len(data) - at)
        if n == 0:
            return  # EAGAIN: no buffer_updated
        buf[:n] = data[at : at + n]
        protocol.buffer_updated(n)
        at += n
        if n < len(buf):
            return


async def test_a_connection_idle_after_a_large_upload_holds_no_block(H1Protocol):
    seen: list = []
    protocol, transport = make(H1Protocol, collecting_app(seen))
    recvpool.FREE_BLOCKS.clear()
    body = b"u" * 100_000  # the compiled parser ends it with a read into the body's own bytes
    read_like_libuv(protocol, post(body))
    await settle()
    assert b"".join(data for _, data in seen) == body and transport.data.endswith(b"ok")
    assert recvpool.free_blocks() == 1  # the one block used is back: none held while idle


@pytest.mark.parametrize("size", [DIRECT_BODY_MIN, 100_000, DIRECT_BODY_MAX, 2 * DIRECT_BODY_MAX])
def test_the_read_that_ends_a_large_body_never_fills_its_buffer(size):
    # The compiled parser's own body buffers (the pure twin reads every body into blocks).
    compiled = load_twins("h1parser")["c"]
    assert compiled is not None, "the compiled parser is not built"
    parser = compiled.RequestParser()
    recvpool.FREE_BLOCKS.clear()
    read_like_libuv(parser, b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size)
    assert recvpool.free_blocks() == 1
    read_like_libuv(parser, b"u" * size)
    assert parser.paused
    assert recvpool.free_blocks() == 1  # no block lent after the body's last read


async def test_asked_twice_without_a_read_the_same_buffer_is_lent(H1Protocol):
    # asyncio's SSL transport asks get_buffer and may read nothing (no buffer_updated).
    protocol, _ = make(H1Protocol, collecting_app([]))
    assert protocol.get_buffer(-1) is protocol.get_buffer(-1)


# A fresh interpreter: where the compiled parser's first read buffer for a large body lives.
# Without priming, glibc maps a 256 KiB block on its own, and a short read's buffer (shrunk,
# then freed) never raises the threshold: an mmap, an mremap and a munmap per read.
_DIRECT_PROBE = textwrap.dedent("""
    import ctypes
    from pyre._speedups.h1parser import RequestParser  # alone: _accel's imports happen to prime
    parser = RequestParser()
    head = b"POST / HTTP/1.1\\r\\nHost: a\\r\\nContent-Length: 100000000\\r\\n\\r\\n"
    buf = parser.get_buffer(65536)
    buf[: len(head)] = head
    parser.buffer_updated(len(head))
    buf = parser.get_buffer(65536)
    address = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    for line in open("/proc/self/maps"):
        if line.rstrip().endswith("[heap]"):
            low, high = (int(x, 16) for x in line.split()[0].split("-"))
            print(len(buf), "heap" if low <= address < high else "mmap")
            break
    else:
        print(len(buf), "mmap")
""")


def test_a_large_body_read_buffer_comes_from_the_heap():
    out = subprocess.run([sys.executable, "-c", _DIRECT_PROBE], capture_output=True, text=True, timeout=60,
                         check=True).stdout.split()
    assert out == [str(256 * 1024), "heap"]
