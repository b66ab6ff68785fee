"""The lazy request: every property, parsed once; the body through body/json/stream."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from hypothesis import given, settings, strategies as st

from pyre.web import _json
from pyre.web.datastructures import URL, Address, ContentType, Headers, QueryParams
from pyre.web.errors import ClientDisconnect, HTTPError

from .conftest import twins
from tests.web.fake_request import Receiver, make_scope, split


@pytest.fixture
def make(request_module):
    """``make(chunks, disconnect, **scope)``: a request of the twin under test and its receiver."""

    def make(chunks=(b"",), disconnect=False, **scope):
        receiver = Receiver(chunks, disconnect)
        return request_module.Request(make_scope(**scope), receiver), receiver

    return make


@pytest.fixture
def Request(request_module):
    return request_module.Request


class Spy:
    """Wraps a callable of a request module and counts its calls."""

    def __init__(self, monkeypatch, module, name):
        self.calls = 0
        self.wrapped = getattr(module, name)
        monkeypatch.setattr(module, name, self)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.wrapped(*args, **kwargs)


# -- cheap attributes ----------------------------------------------------------------------------


def test_cheap_attributes_come_from_the_scope(Request):
    scope = make_scope("POST", "/a b/é", raw_path=b"/a%20b/%C3%A9", http_version="2", scheme="https")
    receiver = Receiver()
    request = Request(scope, receiver)
    assert request.method == "POST"
    assert request.path == "/a b/é"
    assert request.raw_path == b"/a%20b/%C3%A9"
    assert request.scheme == "https"
    assert request.http_version == "2"
    assert request.scope is scope
    assert request.receive is receiver
    assert request.app is None
    assert request.path_params == {}
    assert request.max_body_size is None
    assert repr(request) == "<Request POST /a b/é>"


def test_defaults_for_optional_scope_keys(Request):
    scope = {"type": "http", "method": "GET", "path": "/é x", "query_string": b"", "headers": []}
    request = Request(scope, Receiver())
    assert request.raw_path == b"/%C3%A9%20x"
    assert request.scheme == "http"
    assert request.http_version == "1.1"
    assert request.client is None
    assert str(request.url) == "http:///%C3%A9%20x"


def test_path_params_and_state_belong_to_one_request(make):
    first, _ = make()
    second, _ = make()
    first.path_params["x"] = 1
    assert second.path_params == {}
    assert isinstance(first.state, SimpleNamespace)
    first.state.user = "ann"
    assert first.state is first.state
    assert not hasattr(second.state, "user")


def test_the_lifespan_state_is_the_scopes(make):
    shared = {"pool": object()}
    request, _ = make(state=shared)
    assert request.scope["state"] is shared


# -- parsed once -----------------------------------------------------------------------------------


def test_headers_are_a_cached_view_over_the_scope_list(make, request_module, monkeypatch):
    spy = Spy(monkeypatch, request_module, "Headers")
    request, _ = make(headers=[(b"accept", b"a"), (b"Accept", b"b")])
    assert spy.calls == 0
    headers = request.headers
    assert isinstance(headers, Headers)
    assert headers.raw is request.scope["headers"]
    assert request.headers is headers
    assert headers.getlist("ACCEPT") == ["a", "b"]
    assert spy.calls == 1


def test_headers_given_as_another_iterable_are_listed_once(Request):
    scope = make_scope()
    scope["headers"] = ([bytearray(b"x-a"), b"1"] for _ in range(2))
    request = Request(scope, Receiver())
    assert request.headers.getlist("x-a") == ["1", "1"]
    assert request.headers is request.headers


def test_query_is_parsed_once(make, request_module, monkeypatch):
    spy = Spy(monkeypatch, request_module, "QueryParams")
    request, _ = make(query=b"a=1&a=2&b=x+y")
    assert spy.calls == 0
    query = request.query
    assert isinstance(query, QueryParams)
    assert query.getlist("a") == ["1", "2"]
    assert query["b"] == "x y"
    assert request.query is query
    assert request.query_params is query
    assert spy.calls == 1


def test_cookies_are_parsed_once_from_every_cookie_header(make, request_module, monkeypatch):
    spy = Spy(monkeypatch, request_module, "parse_cookies")
    request, _ = make(headers=[(b"cookie", b"a=1; b=2"), (b"x", b"y"), (b"cookie", b"c=3")])
    assert request.cookies == {"a": "1", "b": "2", "c": "3"}
    assert request.cookies is request.cookies
    assert spy.calls == 1
    assert make(headers=[(b"cookie", b'q="x y"')])[0].cookies == {"q": "x y"}
    assert make()[0].cookies == {}


def test_client_is_an_address(make):
    request, _ = make()
    assert request.client == Address("10.0.0.7", 50123)
    assert request.client is request.client
    assert request.client.host == "10.0.0.7"
    assert make(client=None)[0].client is None


@pytest.mark.parametrize(
    "scope, url",
    [
        ({"headers": [(b"host", b"example.com:8080")]}, "http://example.com:8080/p/a%20b?x=1&y=%20"),
        ({"server": ("10.0.0.1", 80)}, "http://10.0.0.1/p/a%20b?x=1&y=%20"),
        ({"server": ("10.0.0.1", 8443), "scheme": "https"}, "https://10.0.0.1:8443/p/a%20b?x=1&y=%20"),
        ({"server": ("10.0.0.1", 443), "scheme": "https"}, "https://10.0.0.1/p/a%20b?x=1&y=%20"),
        ({"server": ("/tmp/pyre.sock", None)}, "http:///tmp/pyre.sock/p/a%20b?x=1&y=%20"),
        ({"server": None}, "http:///p/a%20b?x=1&y=%20"),
    ],
)
def test_url_is_built_from_the_host_header_or_the_server(make, scope, url):
    request, _ = make(path="/p/a b", raw_path=b"/p/a%20b", query=b"x=1&y=%20", **scope)
    assert request.url == url
    assert request.url is request.url


def test_url_keeps_the_raw_path_and_escapes_raw_non_ascii_bytes(make):
    request, _ = make(path="/é/a/b", raw_path=b"/\xc3\xa9/a%2Fb", query=b"q=\xc3\xa9", headers=[(b"host", b"h")])
    assert str(request.url) == "http://h/%C3%A9/a%2Fb?q=%C3%A9"
    assert request.url.path == "/%C3%A9/a%2Fb"
    assert request.path == "/é/a/b"
    assert request.url.query == "q=%C3%A9"
    assert isinstance(request.url, URL)
    assert str(make(headers=[(b"host", b"h")])[0].url) == "http://h/"


def test_base_url_has_the_root_path(make):
    request, _ = make(path="/api/items", root_path="/api", headers=[(b"host", b"h")])
    assert request.base_url == "http://h/api/"
    assert request.base_url is request.base_url
    assert make(headers=[(b"host", b"h")])[0].base_url == "http://h/"


def test_content_type_is_parsed_once(make, request_module, monkeypatch):
    spy = Spy(monkeypatch, request_module, "parse_options_header")
    request, _ = make(headers=[(b"content-type", b"Text/Plain; charset=UTF-8")])
    assert request.content_type == ContentType("text/plain", {"charset": "UTF-8"})
    assert request.content_type.media_type == "text/plain"
    assert request.content_type is request.content_type
    assert spy.calls == 1
    assert make()[0].content_type == ("", {})


@pytest.mark.parametrize(
    "headers, length",
    [([], None), ([(b"content-length", b"42")], 42), ([(b"content-length", b" 7 ")], 7),
     ([(b"content-length", b"-1")], None), ([(b"content-length", b"1e3")], None),
     ([(b"content-length", b"\xb2")], None), ([(b"content-length", b"")], None)],
)
def test_content_length(make, headers, length):
    request, _ = make(headers=headers)
    assert request.content_length == length
    assert request.content_length == length


# -- body and json -----------------------------------------------------------------------------------


async def test_body_is_read_until_the_last_message_and_cached(make):
    request, receiver = make([b"ab", b"", b"cd", b"e"])
    assert await request.body() == b"abcde"
    assert receiver.calls == 4
    assert await request.body() == b"abcde"
    assert receiver.calls == 4


async def test_a_body_in_one_message_is_not_copied(make):
    chunk = b"x" * 1000
    request, _ = make([chunk])
    assert await request.body() is chunk


async def test_a_message_without_body_keys_is_an_empty_body(Request):
    async def receive():
        return {"type": "http.request"}

    assert await Request(make_scope(), receive).body() == b""


async def test_content_length_over_the_limit_is_413_before_any_read(make):
    request, receiver = make([b"x" * 10], headers=[(b"content-length", b"10")])
    request.max_body_size = 9
    for read in (request.body, request.json, lambda: request.stream().__anext__()):
        with pytest.raises(HTTPError) as caught:
            await read()
        assert caught.value.status == 413
    assert receiver.calls == 0


async def test_a_streamed_body_passing_the_limit_is_413_when_it_does(make):
    request, receiver = make([b"1234", b"5678", b"9", b"never read"])
    request.max_body_size = 8
    with pytest.raises(HTTPError) as caught:
        await request.body()
    assert caught.value.status == 413
    assert "8 bytes" in caught.value.detail
    assert receiver.calls == 3


async def test_a_body_at_the_limit_is_accepted(make):
    request, _ = make([b"1234", b"5678"], headers=[(b"content-length", b"8")])
    request.max_body_size = 8
    assert await request.body() == b"12345678"


async def test_a_disconnect_while_reading_is_client_disconnect(make):
    request, receiver = make([b"partial"], disconnect=True)
    with pytest.raises(ClientDisconnect) as caught:
        await request.body()
    assert isinstance(caught.value, OSError)
    assert await request.is_disconnected()
    calls = receiver.calls
    with pytest.raises(ClientDisconnect):
        await request.body()
    assert receiver.calls == calls


async def test_an_unexpected_message_is_a_clear_error(Request):
    async def receive():
        return {"type": "websocket.receive"}

    with pytest.raises(RuntimeError, match="unexpected ASGI message 'websocket.receive'"):
        await Request(make_scope(), receive).body()


async def test_json_is_decoded_once(make, monkeypatch):
    calls = []
    original = _json.loads

    def loads(data):
        calls.append(data)
        return original(data)

    monkeypatch.setattr(_json, "loads", loads)
    request, _ = make([b'{"a": [1, ', b'"\xc3\xa9"]}'])
    value = await request.json()
    assert value == {"a": [1, "é"]}
    assert await request.json() is value
    null_request, _ = make([b"null"])
    assert await null_request.json() is None
    assert await null_request.json() is None
    assert len(calls) == 2
    assert await request.body() == b'{"a": [1, "\xc3\xa9"]}'


@pytest.mark.parametrize("body", [b"", b"{", b"[1,]", b"\xff", b"nul"])
async def test_invalid_json_is_400(make, body):
    request, _ = make([body])
    with pytest.raises(HTTPError) as caught:
        await request.json()
    assert caught.value.status == 400
    assert caught.value.detail.startswith("Invalid JSON body: ")
    with pytest.raises(HTTPError):
        await request.json()


# -- stream ------------------------------------------------------------------------------------------


async def test_stream_yields_chunks_as_they_arrive_and_only_once(make):
    request, receiver = make([b"a", b"", b"bc"])
    assert [chunk async for chunk in request.stream()] == [b"a", b"bc"]
    assert receiver.calls == 3
    with pytest.raises(RuntimeError, match=r"stream\(\) already consumed it"):
        [chunk async for chunk in request.stream()]
    for read in (request.body, request.json):
        with pytest.raises(RuntimeError, match=r"cannot read the request body: stream\(\) already consumed it"):
            await read()


async def test_body_after_a_started_stream_is_refused(make):
    request, _ = make([b"a", b"b"])
    stream = request.stream()
    assert await stream.__anext__() == b"a"
    with pytest.raises(RuntimeError, match=r"body\(\) cannot read"):
        await request.body()
    await stream.aclose()


async def test_stream_after_body_yields_the_cached_body(make):
    request, receiver = make([b"ab", b"c"])
    await request.body()
    assert [chunk async for chunk in request.stream()] == [b"abc"]
    assert [chunk async for chunk in request.stream()] == [b"abc"]
    assert receiver.calls == 2
    empty, _ = make()
    await empty.body()
    assert [chunk async for chunk in empty.stream()] == []


async def test_a_streamed_body_over_the_limit_stops_the_stream(make):
    request, _ = make([b"1234", b"5678", b"9"])
    request.max_body_size = 8
    seen = []
    with pytest.raises(HTTPError) as caught:
        async for chunk in request.stream():
            seen.append(chunk)
    assert caught.value.status == 413
    assert seen == [b"1234", b"5678"]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(0, 400), max_size=8))
def test_any_chunking_of_the_body_reads_the_same(body, cuts):
    async def read(Request):
        streamed = Request(make_scope(), Receiver(split(body, cuts)))
        whole = Request(make_scope(), Receiver(split(body, cuts)))
        return b"".join([chunk async for chunk in streamed.stream()]), await whole.body()

    for module in twins("request").values():
        assert asyncio.run(read(module.Request)) == (body, body)


# -- disconnects ---------------------------------------------------------------------------------------


async def test_is_disconnected_polls_without_waiting(make):
    request, receiver = make([b"done"])
    assert await request.body() == b"done"
    assert not await request.is_disconnected()  # receive would wait: still connected
    assert receiver.calls == 2
    receiver.messages.append({"type": "http.disconnect"})
    assert await request.is_disconnected()
    assert await request.is_disconnected()
    assert receiver.calls == 3


async def test_is_disconnected_keeps_a_body_message_it_receives(make):
    request, receiver = make([b"ab", b"cd"])
    assert not await request.is_disconnected()
    assert not await request.is_disconnected()
    assert await request.body() == b"abcd"
    assert receiver.calls == 2


async def test_a_receive_failing_after_the_poll_gave_up_is_not_reported(Request, caplog):
    gate = asyncio.Event()

    async def receive():
        await gate.wait()
        raise OSError("transport gone")

    request = Request(make_scope(), receive)
    assert not await request.is_disconnected()
    gate.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert "exception was never retrieved" not in caplog.text


async def test_close_without_a_form_does_nothing(make):
    request, receiver = make()
    await request.close()
    assert receiver.calls == 0


async def test_needs_close_says_whether_close_has_a_form_to_release(make):
    request, _ = make(headers=[(b"content-type", b"application/x-www-form-urlencoded")], chunks=[b"a=1"])
    assert request.needs_close is False
    await request.form()
    assert request.needs_close is True
    await request.close()
