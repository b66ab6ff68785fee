"""pyre.web responses driven as ASGI apps: messages, headers, streams, disconnects, to_response."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import enum

import pytest
from hypothesis import given, strategies as st

from pyre.web._json import dumps
from pyre.web.background import BackgroundTasks
from pyre.web.datastructures import MutableHeaders
from pyre.web.responses import (
    HTML,
    JSON,
    Redirect,
    Response,
    Stream,
    Text,
    to_response,
)
from tests.e2e.conftest import serve  # noqa: F401  (a fixture)
from tests.web.fake_asgi import Client, http_scope, run


# -- the two-message common case ---------------------------------------------------------------


async def test_a_bytes_response_sends_exactly_start_and_one_body():
    client = await run(Response(b"hello", media_type="application/octet-stream"))
    assert client.messages == [
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/octet-stream"), (b"content-length", b"5")],
        },
        {"type": "http.response.body", "body": b"hello"},
    ]


async def test_json_body_and_headers():
    client = await run(JSON({"message": "Hello, World!", "é": [1, 2]}, status=201))
    assert client.status == 201
    assert client.body == dumps({"message": "Hello, World!", "é": [1, 2]})
    assert client.raw_headers == [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(client.body))]
    assert client.types == ["http.response.start", "http.response.body"]


@pytest.mark.parametrize("cls, media", [(Text, b"text/plain; charset=utf-8"), (HTML, b"text/html; charset=utf-8")])
async def test_text_types_carry_a_charset(cls, media):
    client = await run(cls("héllo"))
    assert client.headers["content-type"] == media.decode()
    assert client.body == "héllo".encode("utf-8")
    assert client.headers["content-length"] == str(len("héllo".encode("utf-8")))


def test_a_media_type_naming_its_charset_is_kept_and_non_text_gets_none():
    assert Response("x", media_type="text/csv; charset=latin-1").headers["content-type"] == "text/csv; charset=latin-1"
    assert Response(b"x", media_type="application/xml").headers["content-type"] == "application/xml"
    assert "content-type" not in Response(b"x").headers


def test_given_headers_are_lower_cased_and_win_over_the_defaults():
    response = Text("hi", headers={"X-Custom": "1", "Content-Type": "text/markdown"})
    assert response.raw_headers == [(b"x-custom", b"1"), (b"content-type", b"text/markdown"), (b"content-length", b"2")]
    listed = Response(b"", headers=[("X-A", "1"), (b"x-a", b"2"), ("content-length", "42")])
    assert listed.raw_headers == [(b"x-a", b"1"), (b"x-a", b"2"), (b"content-length", b"42")]


@pytest.mark.parametrize("value", ["a\r\nset-cookie: x=1", "a\nb", "a\rb", "a\0b", "a\x7fb", "\x01"])
def test_header_values_with_controls_are_refused_at_construction(value):
    with pytest.raises(ValueError, match="control"):
        Response(b"", headers={"x-a": value})
    response = Response(b"")
    with pytest.raises(ValueError):
        response.headers["x-a"] = value
    with pytest.raises(ValueError):
        response.headers.append("x-a", value)
    assert response.raw_headers == [(b"content-length", b"0")]


@pytest.mark.parametrize("name", ["", "x a", "x:a", "x\r\na", "é", "x\0"])
def test_bad_header_names_are_refused(name):
    with pytest.raises(ValueError, match="header name"):
        Response(b"", headers={name: "1"})


def test_non_latin1_header_values_are_refused_with_a_hint():
    with pytest.raises(ValueError, match="latin-1"):
        Response(b"", headers={"x-name": "日本"})
    with pytest.raises(TypeError):
        Response(b"", headers={"x-n": 1})  # type: ignore[dict-item]


_VALUE_CHARS = st.characters(min_codepoint=0, max_codepoint=255)


@given(st.text(_VALUE_CHARS, max_size=30))
def test_any_header_value_is_sent_verbatim_or_refused(value):
    bad = any(c in value for c in "\r\n\0") or any(ord(c) < 32 and c != "\t" or ord(c) == 127 for c in value)
    if bad:
        with pytest.raises(ValueError):
            Response(b"", headers={"x-v": value})
    else:
        assert Response(b"", headers={"x-v": value}).raw_headers[0] == (b"x-v", value.encode("latin-1"))


def test_status_is_checked_and_bodyless_statuses_have_no_length():
    for status in (99, 600, "200", 200.0):
        with pytest.raises(ValueError, match="status"):
            Response(b"", status=status)  # type: ignore[arg-type]
    assert Response(status=204).raw_headers == []
    assert Response(status=304, media_type="text/plain").raw_headers == []
    with pytest.raises(ValueError, match="204 response cannot have a body"):
        Response(b"x", status=204)
    with pytest.raises(TypeError, match="bytes or str"):
        Response(123)  # type: ignore[arg-type]
    assert Response(bytearray(b"ab")).body == b"ab"


def test_a_plain_200_takes_the_short_path_with_the_same_result():
    for cls, content_type in ((Response, None), (HTML, b"text/html; charset=utf-8"), (Text, b"text/plain; charset=utf-8")):
        short = cls("é", background=None)
        general = cls("é", headers=[])  # any headers argument takes the general path
        assert short.raw_headers == general.raw_headers
        assert short.raw_headers == ([(b"content-type", content_type)] if content_type else []) + [(b"content-length", b"2")]
        assert (short.status, short.body, short.background) == (200, "é".encode(), None)
        assert short.headers["content-length"] == "2"


def test_the_headers_view_writes_through_to_raw_headers():
    response = Response(b"x", headers=[("x-a", "1"), ("x-b", "2"), ("x-a", "3")])
    headers = response.headers
    assert headers is response.headers
    assert isinstance(headers, MutableHeaders) and headers.raw is response.raw_headers
    assert headers["X-A"] == "1" and headers.getlist("x-a") == ["1", "3"]
    assert "x-b" in headers and "X-B" in headers and "nope" not in headers and 3 not in headers
    assert list(headers) == ["x-a", "x-b", "x-a", "content-length"] and len(headers) == 4
    headers["x-a"] = "9"
    assert response.raw_headers == [(b"x-a", b"9"), (b"x-b", b"2"), (b"content-length", b"1")]
    headers.append("x-b", "4")
    del headers["x-b"]
    assert response.raw_headers == [(b"x-a", b"9"), (b"content-length", b"1")]
    del headers["x-b"]  # nothing to remove: no error
    with pytest.raises(KeyError):
        headers["x-b"]
    headers["x-new"] = "n"
    assert response.raw_headers[-1] == (b"x-new", b"n")
    assert headers.get("x-none") is None


def test_set_cookie_and_delete_cookie_add_set_cookie_headers():
    response = Response(b"")
    response.set_cookie("session", "abc", max_age=60)
    response.delete_cookie("old")
    cookies = [v for n, v in response.raw_headers if n == b"set-cookie"]
    assert cookies[0] == b"session=abc; Max-Age=60; Path=/; SameSite=Lax; Secure; HttpOnly"
    assert cookies[1].startswith(b"old=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/")
    with pytest.raises(ValueError):
        response.set_cookie("bad name", "x")


async def test_a_disconnected_client_is_not_an_error_and_background_still_runs():
    ran = []
    tasks = BackgroundTasks()
    tasks.add(ran.append, "done")
    client = Client(fail_after=1)
    await run(Text("hi", background=tasks), client=client)
    assert client.types == ["http.response.start"]
    assert ran == ["done"]


# -- redirects ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, location",
    [
        ("/next", b"/next"),
        ("https://example.com/a?b=1&c=%20d#frag", b"https://example.com/a?b=1&c=%20d#frag"),
        ("/a b/é", b"/a%20b/%C3%A9"),
        ("/x\r\nSet-Cookie: evil=1", b"/x%0D%0ASet-Cookie:%20evil=1"),
        ("/nul\0", b"/nul%00"),
    ],
)
async def test_redirect_location_is_quoted_safely(url, location):
    client = await run(Redirect(url))
    assert client.status == 307
    assert client.headers["location"] == location.decode()
    assert client.body == b"" and client.headers["content-length"] == "0"


@given(st.text(max_size=40))
def test_any_redirect_url_gives_a_valid_location(url):
    value = dict(Redirect(url, 302).raw_headers)[b"location"]
    assert all(0x21 <= byte <= 0x7E for byte in value)


def test_redirect_status_must_be_3xx():
    for status in (301, 302, 303, 307, 308):
        assert Redirect("/", status).status == status
    with pytest.raises(ValueError, match="3xx"):
        Redirect("/", 200)


# -- streams -----------------------------------------------------------------------------------


async def test_stream_sends_each_item_then_an_empty_last_body():
    async def numbers():
        for i in range(3):
            yield f"n{i}\n"
        yield b""  # empty chunks are skipped
        yield bytearray(b"end")

    client = await run(Stream(numbers(), media_type="text/plain"))
    assert client.headers == {"content-type": "text/plain; charset=utf-8"}  # no content-length: chunked
    assert [m.get("body") for m in client.messages[1:]] == [b"n0\n", b"n1\n", b"n2\n", b"end", b""]
    assert [m.get("more_body", False) for m in client.messages[1:]] == [True, True, True, True, False]


async def test_stream_of_a_list_and_of_a_blocking_generator():
    assert (await run(Stream([b"a", "b"]))).body == b"ab"
    import threading

    threads = set()

    def blocking():
        for item in ("x", "y"):
            threads.add(threading.get_ident())
            yield item

    assert (await run(Stream(blocking()))).body == b"xy"
    assert threading.get_ident() not in threads  # advanced in the thread pool


def test_stream_refuses_a_complete_body_or_a_non_iterable():
    for bad in ("text", b"bytes", 42):
        with pytest.raises(TypeError, match="Stream needs an iterable"):
            Stream(bad)  # type: ignore[arg-type]


async def test_a_bad_stream_item_raises_after_closing_the_iterator():
    closed = []

    async def items():
        try:
            yield b"ok"
            yield 3
        finally:
            closed.append(True)

    with pytest.raises(TypeError, match="items must be bytes or str, got int"):
        await run(Stream(items()))
    assert closed == [True]


async def test_stream_errors_propagate():
    async def failing():
        yield b"a"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await run(Stream(failing()))


async def test_disconnect_while_the_iterator_waits_closes_it_quietly(caplog):
    started, closed = asyncio.Event(), []

    async def slow():
        try:
            yield b"first"
            started.set()
            await asyncio.Event().wait()  # never produces again
            yield b"never"
        finally:
            closed.append("closed")

    client = Client()
    task = asyncio.create_task(run(Stream(slow()), client=client))
    await started.wait()
    client.disconnect()
    await asyncio.wait_for(task, 5)
    assert closed == ["closed"]
    assert client.body == b"first" and not client.complete
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


async def test_send_raising_oserror_closes_the_iterator_at_its_yield():
    closed, produced = [], []

    async def endless():
        try:
            n = 0
            while True:
                produced.append(n)
                yield b"%d" % n
                n += 1
        finally:
            closed.append(True)

    client = Client(fail_after=3)  # start + two chunks, then the client is gone
    await asyncio.wait_for(run(Stream(endless()), client=client), 5)
    assert closed == [True]
    assert client.body == b"01"


async def test_a_cancelled_stream_closes_its_iterator():
    started, closed = asyncio.Event(), []

    async def slow():
        try:
            started.set()
            await asyncio.Event().wait()
            yield b"never"
        finally:
            closed.append(True)

    task = asyncio.create_task(run(Stream(slow())))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed == [True]


async def test_stream_runs_background_after_the_last_body_message():
    order = []
    tasks = BackgroundTasks()

    async def after():
        order.append("background")

    tasks.add(after)
    client = Client(on_send=lambda message: order.append(message["type"]))
    await run(Stream([b"a", b"b"], background=tasks), client=client)
    assert order == ["http.response.start"] + ["http.response.body"] * 3 + ["background"]


# -- to_response -------------------------------------------------------------------------------


@dataclasses.dataclass
class Item:
    id: int
    name: str


class WithJson:
    def __json__(self):
        return {"custom": 1}


class Colour(str, enum.Enum):
    RED = "red"


@pytest.mark.parametrize(
    "value, cls, body",
    [
        ({"a": 1}, JSON, b'{"a":1}'),
        ([1, 2], JSON, b"[1,2]"),
        ((1, "x"), JSON, b'[1,"x"]'),
        (Item(1, "n"), JSON, b'{"id":1,"name":"n"}'),
        (WithJson(), JSON, b'{"custom":1}'),
        (collections.OrderedDict(b=2), JSON, b'{"b":2}'),
        (3, JSON, b"3"),
        (True, JSON, b"true"),
        ("héllo", Text, "héllo".encode()),
        (Colour.RED, Text, b"red"),
        (b"\x00\x01", Response, b"\x00\x01"),
    ],
)
def test_to_response_chooses_by_type(value, cls, body):
    response = to_response(value)
    assert type(response) is cls
    assert response.body == body


def test_to_response_media_types_and_passthrough():
    assert to_response("x").headers["content-type"] == "text/plain; charset=utf-8"
    assert to_response(b"x").headers["content-type"] == "application/octet-stream"
    assert to_response({}).headers["content-type"] == "application/json"
    none = to_response(None)
    assert none.status == 204 and none.raw_headers == [] and none.body == b""
    html = HTML("<p>")
    assert to_response(html) is html
    with pytest.raises(TypeError, match="cannot make a response from object"):
        to_response(object())


async def test_http_scope_helper_is_unused_by_plain_responses():
    # A plain response ignores the request: the same response object serves twice.
    response = JSON({"x": 1})
    first = await run(response, http_scope("HEAD"))
    second = await run(response, http_scope("GET"))
    assert first.messages == second.messages


# -- end to end over a real Pyre server ---------------------------------------------------------


async def test_stream_end_to_end_chunked_and_a_client_leaving_mid_stream(serve, caplog):
    import httpx

    closed = asyncio.Event()

    async def endless():
        try:
            n = 0
            while True:
                yield f"line {n}\n"
                n += 1
                await asyncio.sleep(0.001)
        finally:
            closed.set()

    async def app(scope, receive, send):
        if scope["path"] == "/finite":
            await Stream([b"a", "é", b"c"], media_type="text/plain")(scope, receive, send)
        else:
            await Stream(endless(), media_type="text/plain")(scope, receive, send)

    server = await serve(app)
    async with httpx.AsyncClient(timeout=10) as client:
        finite = await client.get(server.url + "/finite")
        assert finite.headers["transfer-encoding"] == "chunked" and finite.text == "aéc"
        async with client.stream("GET", server.url) as response:
            lines = []
            async for line in response.aiter_lines():
                lines.append(line)
                if len(lines) == 3:
                    break
    assert lines == ["line 0", "line 1", "line 2"]
    await asyncio.wait_for(closed.wait(), 10)
    await asyncio.sleep(0.05)  # the server settles the response after the app returns
    assert not [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]


async def test_a_failing_receive_is_raised_not_taken_for_a_disconnect():
    async def slow():
        await asyncio.Event().wait()
        yield b"never"

    async def receive():
        raise RuntimeError("receive broke")

    async def send(message):
        pass

    with pytest.raises(RuntimeError, match="receive broke"):
        await asyncio.wait_for(Stream(slow())(http_scope(), receive, send), 5)
