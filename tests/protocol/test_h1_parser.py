"""HTTP/1.1 parser: accepted requests, on both twins, fed whole, byte by byte and split."""

from __future__ import annotations

import pytest

from pyre.protocol.h1.parsing import END_OF_MESSAGE, H2_PREFACE, Body, EndOfMessage, H1Limits, ParseError, Request
from tests.helpers import feed_pieces, parse_every_way


def parse(parser_cls, data: bytes, limits: H1Limits | None = None):
    events, status = parse_every_way(lambda: parser_cls(limits or H1Limits()), data)
    assert status is None, f"unexpected error {status}"
    return events


def only_request(events) -> Request:
    requests = [e for e in events if type(e) is Request]
    assert len(requests) == 1
    return requests[0]


def test_simple_get(parser_cls):
    events = parse(parser_cls, b"GET /hello?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n")
    assert events == [
        Request("GET", b"/hello", b"x=1&y=2", "1.1", [(b"host", b"example.com"), (b"user-agent", b"t")],
                True, False, False, -1, None),
        END_OF_MESSAGE,
    ]


def test_header_names_lowercased_order_and_repeats_kept(parser_cls):
    req = only_request(parse(parser_cls, b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\nCoOkIe: c=1\r\nX-A: 3\r\n\r\n"))
    assert req.headers == [(b"host", b"a"), (b"x-a", b"1"), (b"x-a", b"2"), (b"cookie", b"c=1"), (b"x-a", b"3")]


def test_value_whitespace_trimmed_inner_kept(parser_cls):
    req = only_request(parse(parser_cls, b"GET / HTTP/1.1\r\nHost: a\r\nX:  \t a \t b\t \r\nY:\r\n\r\n"))
    assert req.headers[1:] == [(b"x", b"a \t b"), (b"y", b"")]


def test_obs_text_in_value_passed_through(parser_cls):
    req = only_request(parse(parser_cls, b"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xe9\xa0\x85\r\n\r\n"))
    assert req.headers[1] == (b"x", b"caf\xe9\xa0\x85")


def test_content_length_body(parser_cls):
    events = parse(parser_cls, b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world")
    req = events[0]
    assert req.content_length == 11 and not req.chunked and req.has_body
    assert events[1:] == [Body(b"hello world"), END_OF_MESSAGE]


def test_content_length_leading_zeros(parser_cls):
    events = parse(parser_cls, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 003\r\n\r\nabc")
    assert events[0].content_length == 3 and events[1] == Body(b"abc")


def test_content_length_zero(parser_cls):
    events = parse(parser_cls, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
    assert events[0].content_length == 0 and not events[0].has_body
    assert events[1:] == [END_OF_MESSAGE]


def test_chunked_body_with_extensions_and_trailers(parser_cls):
    data = (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value;x\r\nhello\r\n1 ; a=\"q\"\r\n \r\nA\r\n0123456789\r\n"
        b"0\r\nX-Trailer: t1\r\nContent-Length: 99\r\nX:POST /smuggled HTTP/1.1\r\n\r\n"
    )
    events = parse(parser_cls, data)
    assert events[0].chunked and events[0].content_length == -1
    assert events[1] == Body(b"hello 0123456789")
    # Forbidden trailer fields are dropped; trailers never become headers.
    assert events[2] == EndOfMessage(((b"x-trailer", b"t1"), (b"x", b"POST /smuggled HTTP/1.1")))
    assert events[0].headers == [(b"host", b"a"), (b"transfer-encoding", b"chunked")]


def test_chunked_case_insensitive_and_empty_list_members(parser_cls):
    for te in (b"ChUnKeD", b",chunked", b"chunked,", b" , chunked"):
        events = parse(parser_cls, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: " + te + b"\r\n\r\n0\r\n\r\n")
        assert events[0].chunked and events[-1] == END_OF_MESSAGE


def test_chunk_size_trailing_whitespace_and_uppercase_hex(parser_cls):
    data = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nA \r\n0123456789\r\n0\r\n\r\n"
    assert parse(parser_cls, data)[1] == Body(b"0123456789")


def test_many_tiny_chunks(parser_cls):
    body = b"".join(b"1\r\n%c\r\n" % (65 + i % 26) for i in range(2000)) + b"0\r\n\r\n"
    parser = parser_cls(H1Limits())
    events = parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    assert len(events) == 3  # body pieces of one read arrive as one event
    assert len(events[1].data) == 2000


def test_http10_defaults_to_close(parser_cls):
    events = parse(parser_cls, b"GET / HTTP/1.0\r\n\r\n")
    req = events[0]
    assert req.http_version == "1.0" and req.keep_alive is False


def test_http10_keep_alive(parser_cls):
    req = only_request(parse(parser_cls, b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"))
    assert req.keep_alive is True


def test_http10_ignores_expect(parser_cls):
    req = only_request(parse(parser_cls, b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx"))
    assert req.expect_continue is False


def test_connection_close_wins(parser_cls):
    req = only_request(parse(parser_cls, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n"))
    assert req.keep_alive is False


def test_duplicate_connection_headers(parser_cls):
    req = only_request(parse(parser_cls, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"))
    assert req.keep_alive is False


def test_http_1_2_is_served_as_1_1(parser_cls):
    assert only_request(parse(parser_cls, b"GET / HTTP/1.2\r\nHost: a\r\n\r\n")).http_version == "1.1"


def test_expect_100_continue(parser_cls):
    for value in (b"100-continue", b"100-Continue"):
        req = only_request(parse(parser_cls, b"POST / HTTP/1.1\r\nHost: a\r\nExpect: " + value + b"\r\nContent-Length: 1\r\n\r\nx"))
        assert req.expect_continue is True
    req = only_request(parse(parser_cls, b"GET / HTTP/1.1\r\nHost: a\r\nExpect: foo\r\n\r\n"))
    assert req.expect_continue is False


def test_upgrade_needs_connection_upgrade(parser_cls):
    req = only_request(parse(parser_cls, b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"))
    assert req.upgrade is None
    req = only_request(parse(parser_cls, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"))
    assert req.upgrade == b"websocket"


def test_absolute_form_authority_replaces_host(parser_cls):
    req = only_request(parse(parser_cls, b"GET http://b.example:8080/x/y?q=1 HTTP/1.1\r\nHost: a\r\n\r\n"))
    assert (req.path, req.query) == (b"/x/y", b"q=1")
    assert req.headers == [(b"host", b"b.example:8080")]
    req = only_request(parse(parser_cls, b"GET http://b?q HTTP/1.1\r\nHost: a\r\n\r\n"))
    assert (req.path, req.query) == (b"/", b"q")


def test_options_asterisk(parser_cls):
    req = only_request(parse(parser_cls, b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"))
    assert (req.method, req.path) == ("OPTIONS", b"*")


def test_unknown_methods_passed_through(parser_cls):
    for method in (b"FOO", b"get", b"M-SEARCH"):
        assert only_request(parse(parser_cls, method + b" / HTTP/1.1\r\nHost: a\r\n\r\n")).method == method.decode()


def test_leading_empty_lines_ignored(parser_cls):
    req = only_request(parse(parser_cls, b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"))
    assert req.path == b"/"


def test_host_optional_on_http10_and_may_be_empty(parser_cls):
    assert only_request(parse(parser_cls, b"GET / HTTP/1.0\r\n\r\n")).headers == []
    assert only_request(parse(parser_cls, b"GET / HTTP/1.1\r\nHost:\r\n\r\n")).headers == [(b"host", b"")]
    assert only_request(parse(parser_cls, b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n")).headers == [(b"host", b"[::1]:80")]


def test_pipelined_requests_pause_between_messages(parser_cls):
    parser = parser_cls(H1Limits())
    data = (b"POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
            b"GET /two HTTP/1.1\r\nHost: a\r\n\r\nGET /three HTTP/1.1\r\nHost: a\r\n\r\n")
    first = parser.feed(data)
    assert [type(e) for e in first] == [Request, Body, EndOfMessage]
    assert parser.paused and not parser.closed
    assert parser.feed(b"") == []  # nothing is parsed ahead while paused
    second = parser.resume()
    assert second[0].path == b"/two" and second[1] == END_OF_MESSAGE
    third = parser.resume()
    assert third[0].path == b"/three"
    assert parser.resume() == []
    assert not parser.paused


def test_connection_close_stops_parsing(parser_cls):
    parser = parser_cls(H1Limits())
    events = parser.feed(b"GET /1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGARBAGE")
    assert len(events) == 2 and events[0].path == b"/1"
    assert parser.closed
    assert parser.resume() == [] and parser.feed(b"more") == []
    assert parser.buffered == 0


def test_upgrade_request_pauses_with_trailing_data(parser_cls):
    parser = parser_cls(H1Limits())
    events = parser.feed(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello")
    assert events[0].upgrade == b"websocket" and parser.paused
    assert parser.trailing_data == b"\x81\x05hello"


def test_h2_preface(parser_cls):
    parser = parser_cls(H1Limits())
    assert parser.feed(b"PRI * HTTP/2.0\r\n\r\nSM\r") == []
    assert parser.feed(b"\n\r\n\x00\x00\x00") == [H2_PREFACE]
    assert parser.closed and parser.trailing_data == b"\x00\x00\x00"


def test_h2_preface_only_first_message(parser_cls):
    parser = parser_cls(H1Limits())
    parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    parser.feed(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    with pytest.raises(ParseError) as info:
        parser.resume()
    assert info.value.status == 505


def test_error_is_sticky(parser_cls):
    parser = parser_cls(H1Limits())
    with pytest.raises(ParseError) as first:
        parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n")
    with pytest.raises(ParseError) as again:
        parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert first.value.status == again.value.status == 400


def test_limits_at_exact_boundaries(parser_cls):
    limits = H1Limits(max_request_line=30, max_header_size=40, max_headers=3)
    line = b"GET /" + b"a" * 11 + b" HTTP/1.1"  # 25 bytes
    assert len(line) == 25
    target = b"/" + b"a" * (30 - len(b"GET  HTTP/1.1") - 1)
    line = b"GET " + target + b" HTTP/1.1"
    assert len(line) == 30
    fields = b"Host: a\r\n" + b"X: " + b"b" * (40 - 9 - 5) + b"\r\n"
    assert len(fields) == 40
    parse(parser_cls, line + b"\r\n" + fields + b"\r\n", limits)
    _, status = parse_every_way(lambda: parser_cls(limits), b"GET /" + target + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    assert status == 414
    _, status = parse_every_way(lambda: parser_cls(limits), line + b"\r\n" + fields.replace(b"X: ", b"X:  ") + b"\r\n")
    assert status == 431


def test_body_limit_allows_exact_size(parser_cls):
    limits = H1Limits(max_body_size=5)
    parse(parser_cls, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n12345", limits)
    parse(parser_cls, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n12\r\n3\r\n345\r\n0\r\n\r\n", limits)


def test_feed_returns_body_progressively(parser_cls):
    parser = parser_cls(H1Limits())
    events = parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n1234")
    assert [type(e) for e in events] == [Request, Body]
    assert parser.feed(b"567") == [Body(b"567")]
    assert parser.feed(b"890GET") == [Body(b"890"), END_OF_MESSAGE]
    assert parser.buffered == 3


def test_feed_pieces_helper_sees_every_message(parser_cls):
    events, error = feed_pieces(parser_cls(H1Limits()), [b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n"])
    assert error is None and [e.path for e in events if type(e) is Request] == [b"/a", b"/b"]
