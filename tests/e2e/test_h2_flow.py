"""HTTP/2 flow control over real sockets: responses larger than the client's windows,
small windows both ways, and the keep-alive timer that must not run meanwhile.

A response the application hands over in one piece, larger than the client's window,
used to stall for good after the first window (and the connection then ended on the
keep-alive timeout); small windows, and the WINDOW_UPDATE traffic they cause, were
taken for a flood. Each test checks every byte (sha256) and that nothing was reset or
ended."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from tests.apps import echo
from tests.e2e.h2client import H2Client

BLOCK = bytes(range(256)) * 256  # 64 KiB, every octet value


def pattern(size: int) -> bytes:
    return (BLOCK * (size // len(BLOCK) + 1))[:size]


async def sized(scope, receive, send):
    """``/size/N``: N bytes in one body message (``/chunks/N/K``: in K-byte messages)."""
    while (await receive()).get("more_body"):
        pass
    parts = scope["path"].strip("/").split("/")
    body = pattern(int(parts[1]))
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    if parts[0] == "chunks":
        step = int(parts[2])
        for i in range(0, len(body), step):
            await send({"type": "http.response.body", "body": body[i:i + step], "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    else:
        await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send):
    if scope["path"] == "/echo":
        await echo(scope, receive, send)
    else:
        await sized(scope, receive, send)


def assert_clean(client: H2Client) -> None:
    assert client.goaway is None, f"the server ended the connection: {client.goaway}"
    resets = [r.reset for r in client.responses.values() if r.reset is not None]
    assert not resets, f"streams reset: {resets}"


@pytest.mark.parametrize("path", ["/size/200000", "/chunks/200000/100000"])
async def test_a_response_past_the_first_window_completes(serve, path):
    server = await serve(app, timeout_keep_alive=1)
    client = await H2Client.open(server.bound_port)
    try:
        response = await client.request(path, timeout=30)
        assert response.ended and response.status == 200
        assert response.sha256 == hashlib.sha256(pattern(200000)).hexdigest()
        assert_clean(client)
    finally:
        await client.close()


@pytest.mark.parametrize("window", [1024, 16384, 65536])
async def test_download_through_a_small_client_window(serve, window):
    server = await serve(app)
    client = await H2Client.open(server.bound_port, window=window)
    try:
        response = await client.request(f"/size/{1 << 20}", timeout=60)
        assert response.ended and response.status == 200
        assert response.sha256 == hashlib.sha256(pattern(1 << 20)).hexdigest()
        assert_clean(client)
    finally:
        await client.close()


@pytest.mark.parametrize("server_window, window, size", [
    (65535, 1024, 1 << 20), (65535, 16384, 1 << 20), (65535, 65536, 1 << 20),
    (1024, 16384, 4 << 20),
])
async def test_upload_with_echo_through_small_windows(serve, server_window, window, size):
    """The client uploads in the server's windows, and the echo comes back through
    the client's."""
    server = await serve(app, h2_initial_window_size=server_window)
    client = await H2Client.open(server.bound_port, window=window)
    body = pattern(size)
    try:
        response = await client.request("/echo", "POST", body, timeout=60)
        assert response.ended and response.status == 200
        assert response.sha256 == hashlib.sha256(body).hexdigest()
        assert_clean(client)
    finally:
        await client.close()


async def test_concurrent_streams_share_the_connection_window(serve):
    server = await serve(app, timeout_keep_alive=1)
    client = await H2Client.open(server.bound_port, window=16384)
    sizes = [12, 200000, 15, 300000, 70000]
    try:
        sids = [client.start(f"/size/{size}") for size in sizes]
        await client.flush()
        for sid in sids:
            await asyncio.wait_for(client.responses[sid].done.wait(), 60)
        for sid, size in zip(sids, sizes):
            assert client.responses[sid].body == pattern(size)
        assert_clean(client)
    finally:
        await client.close()


async def test_no_keep_alive_timeout_while_a_response_waits_for_window(serve):
    """A client that grants no window for longer than --timeout-keep-alive, then
    reads: the response completes (the stream was open all along)."""
    server = await serve(app, timeout_keep_alive=0.3)
    client = await H2Client.open(server.bound_port, read=False)
    try:
        sid = client.start("/size/200000")
        await client.flush()
        await asyncio.sleep(1.0)  # past the keep-alive timeout, the window shut
        response = client.responses[sid]
        assert len(response.body) == 65535 and not response.ended and client.goaway is None
        client.read = True
        client.conn.acknowledge_received_data(len(response.body), sid)
        await client.flush()
        await asyncio.wait_for(response.done.wait(), 30)
        assert response.body == pattern(200000)
        assert_clean(client)
    finally:
        await client.close()
