"""Malformed requests are stream errors (RFC 9113 §8.1.1): RST_STREAM PROTOCOL_ERROR, connection usable."""

from __future__ import annotations

import pytest

from pyre.protocol.h2 import ConnectionEnded, DataReceived, RequestReceived, StreamEnded, StreamReset

from .helpers import REQUEST, RawClient, raw_frame, rst_codes

GET = [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a")]

MALFORMED = {
    "missing method": GET[1:],
    "missing scheme": [GET[0], GET[2], GET[3]],
    "missing path": [GET[0], GET[1], GET[3]],
    "empty path": [GET[0], GET[1], (b":path", b""), GET[3]],
    "relative path": [GET[0], GET[1], (b":path", b"a/b"), GET[3]],
    "asterisk with GET": [GET[0], GET[1], (b":path", b"*"), GET[3]],
    "space in path": [GET[0], GET[1], (b":path", b"/a b"), GET[3]],
    "fragment in path": [GET[0], GET[1], (b":path", b"/a#b"), GET[3]],
    "repeated method": GET + [(b":method", b"POST")],
    "repeated path": [*GET[:3], (b":path", b"/x"), GET[3]],
    "unknown pseudo": GET + [(b":foo", b"bar")],
    "status in request": GET + [(b":status", b"200")],
    "pseudo after regular": [*GET[:3], (b"accept", b"*/*"), GET[3]],
    "uppercase name": GET + [(b"Accept", b"*/*")],
    "space in name": GET + [(b"x y", b"1")],
    "empty name": GET + [(b"", b"1")],
    "colon in name": GET + [(b"x:y", b"1")],
    "newline in value": GET + [(b"x", b"a\nb")],
    "nul in value": GET + [(b"x", b"a\x00b")],
    "leading space in value": GET + [(b"x", b" a")],
    "trailing tab in value": GET + [(b"x", b"a\t")],
    "connection": GET + [(b"connection", b"keep-alive")],
    "keep-alive": GET + [(b"keep-alive", b"5")],
    "proxy-connection": GET + [(b"proxy-connection", b"x")],
    "transfer-encoding": GET + [(b"transfer-encoding", b"chunked")],
    "upgrade": GET + [(b"upgrade", b"h2c")],
    "te gzip": GET + [(b"te", b"gzip")],
    "bad content-length": GET + [(b"content-length", b"1x")],
    "negative content-length": GET + [(b"content-length", b"-1")],
    "conflicting content-length": GET + [(b"content-length", b"1"), (b"content-length", b"2")],
    "content-length without body": GET + [(b"content-length", b"5")],
    "host differs from authority": GET + [(b"host", b"b")],
    "two hosts": [*GET[:3], (b"host", b"a"), (b"host", b"a")],
    "userinfo in authority": [*GET[:3], (b":authority", b"user@a")],
    "bad method": [(b":method", b"G T"), *GET[1:]],
    "bad scheme": [GET[0], (b":scheme", b"1http"), *GET[2:]],
    "connect with path": [(b":method", b"CONNECT"), (b":authority", b"a:443"), (b":path", b"/")],
    "connect without authority": [(b":method", b"CONNECT")],
    "protocol not enabled": [(b":method", b"CONNECT"), (b":protocol", b"websocket"), *GET[1:]],
}


def check_stream_error_then_usable(client: RawClient, stream_id: int) -> None:
    frames = client.frames()
    assert rst_codes(frames) == {stream_id: 1}
    assert not [e for e in client.events if isinstance(e, ConnectionEnded)]
    # the connection still works
    events = client.feed(client.headers(stream_id + 2, REQUEST))
    assert isinstance(events[0], RequestReceived) and events[0].stream_id == stream_id + 2


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_request_is_a_stream_error(name):
    client = RawClient()
    events = client.feed(client.headers(1, MALFORMED[name]))
    assert events == []  # the application never hears of it
    check_stream_error_then_usable(client, 1)


def test_valid_edge_cases_are_accepted():
    client = RawClient()
    cases = [
        [(b":method", b"OPTIONS"), (b":scheme", b"https"), (b":path", b"*"), (b":authority", b"a")],
        GET + [(b"te", b"trailers"), (b"x", b""), (b"y", b"a\tb"), (b"z", b"\xc3\xa9")],
        [(b":method", b"CONNECT"), (b":authority", b"a:443")],
        [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/")],  # no authority at all
        GET + [(b"host", b"A")],  # same host, other case
        GET + [(b"content-length", b"0")],
    ]
    for i, headers in enumerate(cases):
        events = client.feed(client.headers(1 + 2 * i, headers))
        assert isinstance(events[0], RequestReceived), headers
    assert rst_codes(client.frames()) == {}


def test_plain_connect_has_empty_path():
    client = RawClient()
    events = client.feed(client.headers(1, [(b":method", b"CONNECT"), (b":authority", b"a:443")], end_stream=False))
    assert (events[0].path, events[0].scheme, events[0].authority) == (b"", "", b"a:443")


def body_request(client: RawClient, length: bytes) -> None:
    events = client.feed(client.headers(1, [(b":method", b"POST"), *GET[1:], (b"content-length", length)], end_stream=False))
    assert isinstance(events[0], RequestReceived)


def test_body_longer_than_content_length():
    client = RawClient()
    body_request(client, b"3")
    events = client.feed(raw_frame(0, 0, 1, b"abcd"))
    assert events == [StreamReset(1, 1, False)]
    check_stream_error_then_usable(client, 1)


def test_body_shorter_than_content_length():
    client = RawClient()
    body_request(client, b"5")
    events = client.feed(raw_frame(0, 1, 1, b"abcd"))
    assert events == [StreamReset(1, 1, False)]  # the frame that makes it malformed is not delivered
    check_stream_error_then_usable(client, 1)


def test_content_length_checked_when_trailers_end_the_stream():
    client = RawClient()
    body_request(client, b"5")
    client.feed(raw_frame(0, 0, 1, b"ab"))
    events = client.feed(client.headers(1, [(b"x", b"y")]))
    assert events == [StreamReset(1, 1, False)]
    check_stream_error_then_usable(client, 1)


@pytest.mark.parametrize("discard", [False, True])
@pytest.mark.parametrize("body, length", [(b"abcd", b"3"), (b"ab", b"3")], ids=["longer", "shorter"])
def test_content_length_checked_after_the_response_is_complete(body, length, discard):
    # h2spec 8.1.2.6/1: HEADERS (content-length: 1), then DATA "test" with END_STREAM.
    # An app that answers at once completes its response first; the DATA that ends the
    # stream is still malformed, so the stream is reset (RFC 9113 8.1.1), not closed.
    client = RawClient()
    body_request(client, length)
    client.session.send_headers(1, 200, [], False)
    client.session.send_data(1, b"ok", True)
    if discard:  # what the transport does when the app is done before the body
        assert client.session.discard_request(1)
    client.frames()
    events = client.feed(raw_frame(0, 1, 1, body))
    assert StreamReset(1, 1, False) in events and StreamEnded(1) not in events
    check_stream_error_then_usable(client, 1)


@pytest.mark.parametrize("trailers", [[(b"x", b"y")], [(b":path", b"/")]], ids=["short body", "bad field"])
def test_trailers_checked_after_the_response_is_complete(trailers):
    # The same as above when trailers end the stream: a body short of its content-length,
    # or a malformed trailer field, is still a stream error once the response is complete.
    client = RawClient()
    body_request(client, b"3" if trailers == [(b"x", b"y")] else b"2")
    client.feed(raw_frame(0, 0, 1, b"ab"))
    client.session.send_headers(1, 200, [], False)
    client.session.send_data(1, b"ok", True)
    client.frames()
    events = client.feed(client.headers(1, trailers))
    assert events == [StreamReset(1, 1, False)]
    check_stream_error_then_usable(client, 1)


def test_exact_content_length_passes():
    client = RawClient()
    body_request(client, b"4")
    events = client.feed(raw_frame(0, 0, 1, b"ab") + raw_frame(0, 1, 1, b"cd"))
    assert [type(e) for e in events] == [DataReceived, DataReceived, StreamEnded]


@pytest.mark.parametrize("trailers", [[(b":path", b"/")], [(b"Upper", b"x")], [(b"connection", b"close")], [(b"x", b"a\rb")]])
def test_malformed_trailers(trailers):
    client = RawClient()
    client.feed(client.headers(1, [(b":method", b"POST"), *GET[1:]], end_stream=False))
    events = client.feed(client.headers(1, trailers))
    assert events == [StreamReset(1, 1, False)]
    check_stream_error_then_usable(client, 1)


def test_trailers_without_end_stream():
    client = RawClient()
    client.feed(client.headers(1, [(b":method", b"POST"), *GET[1:]], end_stream=False))
    events = client.feed(client.headers(1, [(b"x", b"y")], end_stream=False))
    assert events == [StreamReset(1, 1, False)]
    check_stream_error_then_usable(client, 1)


def test_data_after_end_stream_is_a_stream_error():
    client = RawClient()
    client.feed(client.headers(1, REQUEST))
    events = client.feed(raw_frame(0, 0, 1, b"late"))
    assert events == [StreamReset(1, 5, False)]
    assert rst_codes(client.frames()) == {1: 5}


def test_headers_priority_self_dependency():
    client = RawClient()
    block = client.encoder.encode(REQUEST)
    payload = (1).to_bytes(4, "big") + b"\x10" + block
    events = client.feed(raw_frame(1, 0x1 | 0x4 | 0x20, 1, payload))
    assert events == []
    check_stream_error_then_usable(client, 1)
