"""Malformed and hostile requests: the exact status, on both twins, however the bytes arrive.

Case ids follow ../shared/reference/hostile-inputs.md (H1-xx) where one applies.
Every case is also checked to never parse a second request after the bad one.
"""

from __future__ import annotations

import pytest

from pyre.protocol.h1.parsing import H1Limits, Request
from tests.helpers import feed_pieces, parse_every_way
from tests.hostile_cases import CASES, SMUGGLED, post

PARAMS = [pytest.param(data, status, id=name) for name, data, status in CASES if data is not None]


@pytest.mark.parametrize("data, status", PARAMS)
def test_rejected_with_status(parser_cls, data, status):
    limits = H1Limits(max_body_size=1024)
    big = len(data) > 20_000
    if big:
        # Large inputs: whole and in 1000-byte pieces (byte by byte would be slow).
        ways = [[data], [data[i : i + 1000] for i in range(0, len(data), 1000)]]
    else:
        ways = None
    if ways is None:
        events, got = parse_every_way(lambda: parser_cls(limits), data + SMUGGLED)
        assert got == status
    else:
        for pieces in ways:
            events, error = feed_pieces(parser_cls(limits), pieces + [SMUGGLED])
            assert error is not None and error.status == status
    # Never parsed as a request after the error, never smuggled.
    parser = parser_cls(limits)
    events, error = feed_pieces(parser, [data, SMUGGLED, SMUGGLED])
    assert error is not None and error.status == status
    assert all(e.path != b"/smuggled" for e in events if type(e) is Request)


def test_smuggled_request_after_cl_te_never_parsed(parser_cls):
    data = post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n") + SMUGGLED
    events, error = feed_pieces(parser_cls(H1Limits()), [data])
    assert error.status == 400 and events == []


def test_slow_trickled_headers_hit_the_limit(parser_cls):
    parser = parser_cls(H1Limits(max_header_size=1024))
    parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\n")
    status = None
    for _ in range(200):
        try:
            parser.feed(b"X-Slow: " + b"v" * 20 + b"\r\n")
        except Exception as exc:  # ParseError
            status = exc.status
            break
    assert status == 431
