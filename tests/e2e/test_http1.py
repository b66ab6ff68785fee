"""HTTP/1.1 end to end over loopback: keep-alive, pipelining, framing, 100-continue."""

from __future__ import annotations

import asyncio
import email.utils

import httpx
import pytest

from tests.apps import echo, hello, respond

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


async def test_hello_with_httpx(serve):
    server = await serve(hello)
    async with httpx.AsyncClient() as client:
        response = await client.get(server.url + "/")
    assert response.status_code == 200
    assert response.text == "Hello, world!"
    assert response.headers["server"] == "pyre"
    assert email.utils.parsedate_to_datetime(response.headers["date"]) is not None
    assert response.http_version == "HTTP/1.1"


async def test_exact_response_bytes(serve, raw):
    server = await serve(hello, date_header=False)
    conn = await raw(server)
    await conn.send(GET)
    data = await conn.readexactly(len(
        b"HTTP/1.1 200 OK\r\nserver: pyre\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n\r\nHello, world!"))
    assert data == b"HTTP/1.1 200 OK\r\nserver: pyre\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n\r\nHello, world!"


async def test_no_server_and_no_date_header(serve, raw):
    server = await serve(hello, server_header=False, date_header=False)
    conn = await raw(server)
    await conn.send(GET)
    _, headers, _ = await conn.read_response()
    assert "server" not in headers and "date" not in headers


async def test_app_server_header_replaces_default(serve, raw):
    server = await serve(respond(200, [(b"server", b"mine"), (b"content-length", b"0")]))
    conn = await raw(server)
    await conn.send(GET)
    _, headers, _ = await conn.read_response()
    assert headers["server"] == "mine"


async def test_keep_alive_many_requests_one_connection(serve, raw):
    server = await serve(hello)
    conn = await raw(server)
    for _ in range(5):
        await conn.send(GET)
        status, headers, body = await conn.read_response()
        assert body == b"Hello, world!" and "connection" not in headers


async def test_connection_close_is_honoured(serve, raw):
    server = await serve(hello)
    conn = await raw(server)
    await conn.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    _, headers, body = await conn.read_response()
    assert headers["connection"] == "close" and body == b"Hello, world!"
    assert await conn.closed()


async def test_requests_after_connection_close_are_ignored(serve, raw):
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["path"])
        await hello(scope, receive, send)

    server = await serve(app)
    conn = await raw(server)
    await conn.send(b"GET /1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\n\r\nInvalid\r\n\r\n")
    data = await conn.read_all()
    assert data.count(b"HTTP/1.1 ") == 1 and b"200 OK" in data
    assert seen == ["/1"]


async def test_http10_closes_by_default_and_never_chunks(serve, raw):
    server = await serve(respond(200, [(b"content-type", b"text/plain")], chunks=[b"a", b"b", b"c"]))
    conn = await raw(server)
    await conn.send(b"GET / HTTP/1.0\r\n\r\n")
    data = await conn.read_all()
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower()
    assert b"connection: close" in head
    assert body == b"abc"


async def test_http10_keep_alive(serve, raw):
    server = await serve(hello)
    conn = await raw(server)
    await conn.send(b"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    _, headers, body = await conn.read_response()
    assert headers["connection"] == "keep-alive" and body == b"Hello, world!"
    await conn.send(b"GET /2 HTTP/1.0\r\n\r\n")
    _, headers, _ = await conn.read_response()
    assert headers["connection"] == "close"
    assert await conn.closed()


async def test_pipelined_requests_answered_in_order(serve, raw):
    async def app(scope, receive, send):
        body = (await receive())["body"]
        if scope["path"] == "/slow":
            await asyncio.sleep(0.05)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(scope["path"]) + len(body)).encode())]})
        await send({"type": "http.response.body", "body": scope["path"].encode() + body})

    server = await serve(app)
    conn = await raw(server)
    await conn.send(
        b"POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /two HTTP/1.1\r\nHost: t\r\n\r\nGET /three HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    bodies = [(await conn.read_response())[2] for _ in range(3)]
    assert bodies == [b"/slowabc", b"/two", b"/three"]


async def test_pipelining_depth_16(serve, raw):
    server = await serve(hello)
    conn = await raw(server)
    await conn.send(GET * 16)
    for _ in range(16):
        assert (await conn.read_response())[2] == b"Hello, world!"


async def test_content_length_request_body(serve):
    server = await serve(echo)
    async with httpx.AsyncClient() as client:
        response = await client.post(server.url + "/echo", content=b"x" * 100_000)
    assert response.status_code == 200 and response.content == b"x" * 100_000


async def test_chunked_request_body(serve):
    server = await serve(echo)

    async def gen():
        for i in range(20):
            yield b"%02d" % i * 1000

    async with httpx.AsyncClient() as client:
        response = await client.post(server.url + "/echo", content=gen())
    assert response.content == b"".join(b"%02d" % i * 1000 for i in range(20))


async def test_chunked_request_trailers_not_in_scope_headers(serve, raw):
    captured = {}

    async def app(scope, receive, send):
        captured["headers"] = scope["headers"]
        body = b""
        while True:
            message = await receive()
            body += message["body"]
            if not message["more_body"]:
                break
        captured["body"] = body
        await respond(200, [(b"content-length", b"0")])(scope, receive, send)

    server = await serve(app)
    conn = await raw(server)
    await conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"5;ext=1\r\nhello\r\n0\r\nX-Trailer: yes\r\nX:POST /smuggled HTTP/1.1\r\n\r\n")
    status, _, _ = await conn.read_response()
    assert b"200" in status
    assert captured["body"] == b"hello"
    assert all(name not in (b"x-trailer", b"x") for name, _ in captured["headers"])


async def test_chunked_response_without_content_length(serve, raw):
    server = await serve(respond(200, [(b"content-type", b"text/plain")], chunks=[b"one,", b"two,", b"three"]))
    conn = await raw(server)
    await conn.send(GET)
    _, headers, body = await conn.read_response()
    assert headers["transfer-encoding"] == "chunked" and body == b"one,two,three"
    await conn.send(GET)  # still usable
    assert (await conn.read_response())[2] == b"one,two,three"


async def test_single_body_without_content_length_is_chunked(serve, raw):
    server = await serve(respond(200, [], body=b"whole"))
    conn = await raw(server)
    await conn.send(GET)
    _, headers, body = await conn.read_response()
    assert headers["transfer-encoding"] == "chunked" and body == b"whole"


async def test_head_has_no_body_but_keeps_content_length(serve, raw):
    server = await serve(hello)
    conn = await raw(server)
    await conn.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n" + GET)
    head = await conn.readuntil(b"\r\n\r\n")
    assert b"content-length: 13" in head
    # The next bytes are the second response, not a body.
    second = await conn.readuntil(b"\r\n\r\n")
    assert second.startswith(b"HTTP/1.1 200 OK")


@pytest.mark.parametrize("status", [204, 304])
async def test_no_body_statuses_have_no_body_or_framing(serve, raw, status):
    server = await serve(respond(status, [(b"content-length", b"5"), (b"x-a", b"1")], body=b"hello"))
    conn = await raw(server)
    await conn.send(GET + GET)
    for _ in range(2):
        head = await conn.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 %d" % status)
        assert b"content-length" not in head and b"transfer-encoding" not in head and b"x-a: 1" in head


async def test_expect_100_continue_sent_when_app_reads(serve, raw):
    server = await serve(echo)
    conn = await raw(server)
    await conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    line = await asyncio.wait_for(conn.readuntil(b"\r\n\r\n"), 5)
    assert line == b"HTTP/1.1 100 Continue\r\n\r\n"
    await conn.send(b"hello")
    _, _, body = await conn.read_response()
    assert body == b"hello"


async def test_expect_100_continue_not_sent_when_app_does_not_read(serve, raw):
    server = await serve(respond(401, [(b"content-length", b"6")], body=b"denied"))
    conn = await raw(server)
    await conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    status, headers, body = await conn.read_response()
    assert b"401" in status and body == b"denied"
    assert headers["connection"] == "close"
    assert await conn.closed()


async def test_a_large_body_left_unread_is_discarded_and_the_connection_kept(serve, raw):
    # Closing with the rest of a 1 MB body unread made the kernel reset the connection,
    # which destroyed the response before a client that sends its whole body first
    # (httpx's AsyncClient) read it: the body is read and discarded instead.
    server = await serve(respond(401, [(b"content-length", b"6")], body=b"denied"))
    conn = await raw(server)
    size = 1_000_000
    await conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size)
    status, headers, body = await conn.read_response()
    assert b"401" in status and body == b"denied" and "connection" not in headers
    await conn.send(b"x" * size)
    await conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    status, _, body = await conn.read_response(timeout=10)
    assert b"401" in status and body == b"denied"


async def test_expect_100_continue_never_for_http10(serve, raw):
    server = await serve(echo)
    conn = await raw(server)
    await conn.send(b"POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    await asyncio.sleep(0.1)
    await conn.send(b"hello")
    data = await conn.read_all()
    assert b"100 Continue" not in data and data.endswith(b"hello")


async def test_absolute_form_target(serve, raw):
    server = await serve(echo)
    conn = await raw(server)
    await conn.send(b"GET http://example.com/x/y?q=1 HTTP/1.1\r\nHost: other\r\n\r\n")
    _, headers, _ = await conn.read_response()
    assert headers["x-path"] == "/x/y"


async def test_early_response_drains_small_body_and_keeps_alive(serve, raw):
    server = await serve(respond(200, [(b"content-length", b"2")], body=b"ok"))
    conn = await raw(server)
    await conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12345")
    _, headers, body = await conn.read_response()
    assert body == b"ok" and "connection" not in headers
    await conn.send(b"67890" + GET)
    assert (await conn.read_response())[2] == b"ok"


async def test_half_closed_client_still_gets_its_response(serve, raw):
    async def app(scope, receive, send):
        await asyncio.sleep(0.05)
        await hello(scope, receive, send)

    server = await serve(app)
    conn = await raw(server)
    await conn.send(GET)
    conn.write_eof()
    data = await conn.read_all()
    assert data.endswith(b"Hello, world!")


async def test_curl_as_independent_client(serve, tmp_path):
    import shutil

    curl = shutil.which("curl")
    assert curl, "curl must be installed (the CI installs it)"
    server = await serve(echo)
    proc = await asyncio.create_subprocess_exec(
        curl, "-s", "-i", "--data-binary", "hello curl", server.url + "/curl",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0, err
    assert out.startswith(b"HTTP/1.1 200 OK") and out.endswith(b"hello curl")
    assert b"x-path: /curl" in out


async def test_h2_preface_on_http1_server_is_505(serve, raw):
    seen = []

    async def app(scope, receive, send):
        seen.append(scope)

    server = await serve(app, http="h1")
    conn = await raw(server)
    await conn.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    data = await conn.read_all()
    assert data.startswith(b"HTTP/1.1 505 ") and seen == []


@pytest.mark.parametrize("upgrade, options", [
    # h2c upgrades happen with --http auto (tests/e2e/test_http2.py); not with h1.
    (b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n", {"http": "h1"}),
    (b"Connection: upgrade\r\nUpgrade: foo/1\r\n", {}),
    # WebSocket upgrades happen with --ws auto (tests/e2e/test_websocket.py); not with none.
    (b"Connection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
     b"Sec-WebSocket-Version: 13\r\n", {"ws": "none"}),
])
async def test_unsupported_upgrades_are_served_as_http11(serve, raw, upgrade, options):
    server = await serve(hello, **options)
    conn = await raw(server)
    await conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n" + upgrade + b"\r\n")
    status, _, body = await conn.read_response()
    assert status.startswith(b"HTTP/1.1 200") and body == b"Hello, world!"
    await conn.send(GET)  # still an HTTP/1.1 connection
    assert (await conn.read_response())[2] == b"Hello, world!"


async def test_get_with_content_length_body_is_framed_by_it(serve, raw):
    server = await serve(echo)
    conn = await raw(server)
    # The body looks like a request; it must be read as body, not parsed.
    await conn.send(b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(GET) + GET + GET)
    assert (await conn.read_response())[2] == GET
    assert (await conn.read_response())[2] == b""


async def test_one_megabyte_of_one_byte_chunks(serve, raw):
    server = await serve(echo)
    conn = await raw(server)
    body = b"1\r\nx\r\n" * 1_000_000 + b"0\r\n\r\n"
    await conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    _, _, received = await conn.read_response(timeout=60)
    assert received == b"x" * 1_000_000


async def test_100_continue_sent_once(serve, raw):
    async def app(scope, receive, send):
        first = await receive()
        second = await receive() if first["more_body"] else {"body": b""}
        await respond(200, [(b"content-length", b"10")], body=first["body"] + second["body"])(scope, receive, send)

    server = await serve(app)
    conn = await raw(server)
    await conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
    assert await conn.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    await conn.send(b"01234")
    await asyncio.sleep(0.05)
    await conn.send(b"56789")
    status, _, body = await conn.read_response()
    assert status.startswith(b"HTTP/1.1 200") and body == b"0123456789"


async def test_access_log_line_and_no_log_injection(serve, raw, caplog):
    import logging

    server = await serve(hello, access_log=True)
    conn = await raw(server)
    with caplog.at_level(logging.INFO, logger="pyre.access"):
        await conn.send(b"GET /%1b[31mred%0d%0aFAKE?q=%0a HTTP/1.1\r\nHost: t\r\n\r\n")
        await conn.read_response()
    lines = [r.getMessage() for r in caplog.records if r.name == "pyre.access"]
    assert len(lines) == 1
    assert lines[0].startswith("127.0.0.1:") and lines[0].endswith(' - "GET /%1b[31mred%0d%0aFAKE?q=%0a HTTP/1.1" 200 OK')
    assert "\x1b" not in lines[0] and "\n" not in lines[0]
