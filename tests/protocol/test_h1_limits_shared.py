"""The two decisions both request-parser twins take from pyre.protocol.h1.parsing:
when an incomplete head has passed a limit, and what is wrong with its Host fields."""

from __future__ import annotations

import pytest

from pyre.protocol.h1.parsing import head_limit_error, host_error

LINE, HEADERS = 20, 100  # max_request_line, max_header_size


@pytest.mark.parametrize("pos, line_end, end, expected", [
    (0, -1, 21, None),  # 21 bytes, no CRLF yet: the last may be the line's own CR
    (0, -1, 22, (414, "request line too long")),
    (5, -1, 27, (414, "request line too long")),  # counted from pos
    (0, 20, 22, None),  # a line of exactly the limit
    (0, 21, 23, (414, "request line too long")),
    (0, 20, 123, None),  # the header bytes so far: end - line_end - 2 = 101, one may be a CR
    (0, 20, 124, (431, "request header section too large")),
])
def test_an_incomplete_head_fails_once_a_limit_is_certainly_passed(pos, line_end, end, expected):
    assert head_limit_error(pos, line_end, end, LINE, HEADERS) == expected


@pytest.mark.parametrize("count, http11, expected", [
    (1, True, None), (0, True, "missing Host header"), (2, True, "duplicate Host header"),
    (0, False, None), (1, False, None), (3, False, "duplicate Host header"),
])
def test_host_fields(count, http11, expected):
    assert host_error(count, http11) == expected
