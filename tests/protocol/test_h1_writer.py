"""Response serialisation and framing decisions (sans-IO)."""

from __future__ import annotations

import pytest

from pyre.protocol.h1.writer import (
    FRAME_CHUNKED, FRAME_CLOSE, FRAME_LENGTH, FRAME_NONE, InvalidResponse, encode_head, encode_simple_response,
    status_line,
)

DEFAULTS = dict(server_line=b"server: pyre\r\n", date_line=b"date: D\r\n")


class Head:
    def __init__(self, result):
        self.data, self.framing, self.content_length, self.keep_alive = result


def head(status=200, headers=(), http11=True, head_request=False, keep_alive=True, **kw):
    return Head(encode_head(status, list(headers), http11=http11, head_request=head_request, keep_alive=keep_alive,
                            **{**DEFAULTS, **kw}))


def test_content_length_response():
    h = head(headers=[(b"content-type", b"text/plain"), (b"content-length", b"5")])
    assert h.data == b"HTTP/1.1 200 OK\r\nserver: pyre\r\ndate: D\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\n"
    assert (h.framing, h.content_length, h.keep_alive) == (FRAME_LENGTH, 5, True)


def test_no_content_length_is_chunked_on_http11():
    h = head(headers=[(b"content-type", b"text/plain")])
    assert h.framing == FRAME_CHUNKED and h.data.endswith(b"transfer-encoding: chunked\r\n\r\n")


def test_http10_is_close_delimited_never_chunked():
    h = head(http11=False)
    assert h.framing == FRAME_CLOSE and not h.keep_alive
    assert b"transfer-encoding" not in h.data and h.data.endswith(b"connection: close\r\n\r\n")


def test_http10_keep_alive_with_length():
    h = head(headers=[(b"content-length", b"0")], http11=False)
    assert h.keep_alive and h.data.endswith(b"connection: keep-alive\r\n\r\n")


def test_head_keeps_content_length_without_body():
    h = head(headers=[(b"content-length", b"42")], head_request=True)
    assert h.framing == FRAME_NONE and b"content-length: 42" in h.data


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses_drop_framing_headers(status):
    h = head(status, headers=[(b"content-length", b"5"), (b"transfer-encoding", b"chunked"), (b"etag", b"x")])
    assert h.framing == FRAME_NONE
    assert b"content-length" not in h.data and b"transfer-encoding" not in h.data and b"etag: x" in h.data


def test_app_connection_close_closes():
    h = head(headers=[(b"Connection", b"Close"), (b"content-length", b"0")])
    assert not h.keep_alive and h.data.count(b"onnection") == 1 and b"connection: close" in h.data


def test_app_server_and_date_replace_defaults():
    h = head(headers=[(b"server", b"app"), (b"date", b"then"), (b"content-length", b"0")])
    assert h.data.count(b"server:") == 1 and b"server: app" in h.data and b"date: then" in h.data


def test_app_chunked_transfer_encoding_is_not_doubled():
    h = head(headers=[(b"transfer-encoding", b"chunked")])
    assert h.framing == FRAME_CHUNKED and h.data.count(b"transfer-encoding") == 1


def test_unknown_status_has_empty_reason():
    assert status_line(299) == b"HTTP/1.1 299 \r\n"
    assert status_line(404) == b"HTTP/1.1 404 Not Found\r\n"


@pytest.mark.parametrize("headers", [
    [(b"x", b"a\r\nb")], [(b"x", b"\x00")], [(b"x", b"\x7f")], [(b"x y", b"v")], [(b"", b"v")],
    [(b"x:", b"v")], [(b"x", "str")], [(b"content-length", b"1"), (b"content-length", b"1")],
    [(b"content-length", b"-1")], [(b"transfer-encoding", b"gzip")],
    [(b"content-length", b"1"), (b"transfer-encoding", b"chunked")], [(b"x",)],
])
def test_invalid_headers_raise(headers):
    with pytest.raises(InvalidResponse):
        head(headers=headers)


@pytest.mark.parametrize("status", [99, 1000, "200", 200.0, None, 100, 101])
def test_invalid_or_informational_status_raises(status):
    with pytest.raises(InvalidResponse):
        head(status)


def test_tab_allowed_in_values_and_bytearray_accepted():
    h = head(headers=[(bytearray(b"x-a"), bytearray(b"a\tb")), (b"content-length", b"0")])
    assert b"x-a: a\tb\r\n" in h.data


def test_simple_response():
    data = encode_simple_response(400, b"Bad Request\n", default_lines=b"server: pyre\r\n")
    assert data == (b"HTTP/1.1 400 Bad Request\r\nserver: pyre\r\ncontent-type: text/plain; charset=utf-8\r\n"
                    b"content-length: 12\r\nconnection: close\r\n\r\nBad Request\n")


def test_line_cache_stays_bounded_and_keeps_answering():
    from pyre.protocol.h1 import writer

    for i in range(writer._LINE_CACHE_SIZE + 100):
        head(headers=[(b"x-n", b"%d" % i)])
    assert sum(len(values) for values in writer.LINE_CACHE.values()) <= writer._LINE_CACHE_SIZE
    h = head(headers=[(b"x-n", b"1"), (b"content-length", b"3")])
    assert b"x-n: 1\r\ncontent-length: 3\r\n" in h.data and h.content_length == 3
