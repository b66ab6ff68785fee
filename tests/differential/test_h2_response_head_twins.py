"""The compiled HTTP/2 response-head check against the pure one (pyre.protocol.h2.headers)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyre._accel import load_twins

TWINS = load_twins("h2session")

_NAMES = st.one_of(
    st.sampled_from([b"content-type", b"Content-Length", b"content-length", b"Connection", b"TE", b"x-a", b"Set-Cookie",
                     b"transfer-encoding", b"keep-alive", b"server", b"", b"bad name", b"x\x00y", b"\xff"]),
    st.binary(max_size=12),
)
_VALUES = st.one_of(
    st.sampled_from([b"5", b" 5 ", b"05", b"abc", b"", b"\t text/plain ", b"x\r\ny", b"\x7f", b"\x80\xff", b"1" * 19, b"-1"]),
    st.binary(max_size=12),
)
_STATUS = st.one_of(st.integers(min_value=-5, max_value=1005), st.sampled_from([True, 200.0, "200", None]))
_WRAPPED = st.sampled_from([bytes, bytearray, memoryview])


def outcome(func, status, headers):
    try:
        return ("value", func(status, headers))
    except Exception as exc:  # noqa: BLE001 - the exception is what is compared
        return ("raised", type(exc), str(exc))


@pytest.fixture(scope="module")
def twins():
    if TWINS["c"] is None:
        pytest.fail("the Cython HTTP/2 session (pyre.protocol.h2._session_c) is not built; run: python setup.py build_ext --inplace")
    return TWINS["c"].response_head, TWINS["py"].response_head


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=_STATUS, pairs=st.lists(st.tuples(_NAMES, _VALUES, _WRAPPED), max_size=6))
def test_same_fields_length_and_errors(twins, status, pairs):
    compiled, pure = twins
    headers = [(wrap(name), wrap(value)) for name, value, wrap in pairs]
    assert outcome(compiled, status, headers) == outcome(pure, status, headers)


@pytest.mark.parametrize("headers", [[(b"a", b"b", b"c")], [(b"a",)], [b"ab"], None, 5, [("content-type", b"x")]])
def test_malformed_header_lists_raise_alike(twins, headers):
    compiled, pure = twins
    a, b = outcome(compiled, 200, headers), outcome(pure, 200, headers)
    assert a[0] == b[0] == "raised" and a[1] is b[1]


def test_a_typical_head(twins):
    compiled, pure = twins
    headers = [(b"Content-Type", b"text/plain"), (b"content-length", b"13"), (b"Connection", b"close")]
    expected = ([(b":status", b"200"), (b"content-type", b"text/plain"), (b"content-length", b"13")], 13)
    assert compiled(200, headers) == pure(200, headers) == expected
