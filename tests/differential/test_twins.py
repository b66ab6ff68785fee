"""Differential tests: the Cython and the pure-Python parser twins behave identically.

Every input is fed to both twins cut at the same random byte boundaries. They must
return the same events from every call (compared by ``repr``, so ``True`` is not
``1``, and the shared ``END_OF_MESSAGE`` where the other has it), have the same
``paused``/``closed``/``buffered``/``trailing_data`` after every call, and raise
:class:`ParseError` with the same status and reason at the same call. Valid inputs
must also parse to what the generator says they mean.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyre.protocol.h1.parsing import H1Limits
from tests.differential import strategies as gen
from tests.differential.twins import COMPILED, PURE, assert_twins_agree, deliver, trace
from tests.helpers import feed_pieces, normalise

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(autouse=True, scope="module")
def _compiled_twin_built():
    if COMPILED is None:
        pytest.fail("the Cython parser is not built; run: python setup.py build_ext --inplace")


@st.composite
def split_pipeline(draw):
    raw, expected = gen.draw_pipeline(draw)
    return raw, expected, gen.draw_pieces(draw, raw)


@st.composite
def split_bytes(draw, source):
    data = draw(source)
    return data, gen.draw_pieces(draw, data)


_SPLIT_PIPELINE = split_pipeline()
_SPLIT_MUTATED = split_bytes(gen.mutated())
_SPLIT_RANDOM = split_bytes(gen.random_bytes)


def expected_events(messages) -> list:
    return [event for msg in messages for event in msg.events()]


@SETTINGS
@given(case=_SPLIT_PIPELINE)
def test_valid_requests_parse_to_the_model_on_both_twins(case):
    raw, expected, pieces = case
    steps = assert_twins_agree(pieces)
    assert all(step[0] == "events" for step in steps)
    for module in (COMPILED, PURE):
        events, error = feed_pieces(module.RequestParser(H1Limits()), pieces)
        assert error is None, f"{module.__name__} rejected a valid request: {error!r}\n{raw!r}"
        assert events == expected_events(expected), raw


@SETTINGS
@given(case=_SPLIT_MUTATED)
def test_mutated_requests(case):
    _, pieces = case
    assert_twins_agree(pieces)


@SETTINGS
@given(case=_SPLIT_MUTATED, limits=gen.small_limits)
def test_mutated_requests_with_small_limits(case, limits):
    _, pieces = case
    assert_twins_agree(pieces, limits)


@SETTINGS
@given(case=_SPLIT_PIPELINE, limits=gen.small_limits)
def test_valid_requests_with_small_limits(case, limits):
    # Exercises 413/414/431 and the chunk-extension budget at every boundary.
    _, _, pieces = case
    assert_twins_agree(pieces, limits)


@SETTINGS
@given(case=_SPLIT_RANDOM, limits=st.one_of(st.just(H1Limits()), gen.small_limits))
def test_random_bytes(case, limits):
    _, pieces = case
    assert_twins_agree(pieces, limits)


@SETTINGS
@given(case=_SPLIT_PIPELINE, hold=st.sets(st.integers(0, 12), max_size=6))
def test_bytes_arriving_while_paused(case, hold):
    # The server answers late: more pieces arrive before resume().
    _, _, pieces = case
    assert_twins_agree(pieces, H1Limits(), hold)


@SETTINGS
@given(case=_SPLIT_MUTATED, hold=st.sets(st.integers(0, 12), max_size=6))
def test_mutated_bytes_arriving_while_paused(case, hold):
    _, pieces = case
    assert_twins_agree(pieces, H1Limits(), hold)


# -- reads into the parser's own buffers (get_buffer / buffer_updated) ----------------------


def _buffered_equals_fed(pieces, limits=None, hold=()) -> None:
    """Reading each piece into a lent buffer is, call by call, the same as feeding it."""
    limits = limits or H1Limits()
    steps = assert_twins_agree(pieces, limits, hold, buffered=True)
    assert steps == trace(PURE, limits, pieces, hold)


@SETTINGS
@given(case=_SPLIT_PIPELINE, hold=st.sets(st.integers(0, 12), max_size=6))
def test_valid_requests_through_lent_buffers(case, hold):
    _, _, pieces = case
    _buffered_equals_fed(pieces, hold=hold)


@SETTINGS
@given(case=_SPLIT_MUTATED, limits=st.one_of(st.just(H1Limits()), gen.small_limits))
def test_mutated_requests_through_lent_buffers(case, limits):
    _, pieces = case
    _buffered_equals_fed(pieces, limits)


@st.composite
def large_body_pipeline(draw):
    """A Content-Length body large enough for the compiled twin's direct reads (into the
    body's own bytes), with requests before and after it, cut anywhere."""
    size = draw(st.integers(16 * 1024 - 2, 300 * 1024))
    body = bytes(draw(st.integers(0, 255)) for _ in range(7)) * (size // 7) + b"z" * (size % 7)
    raw = (b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
           + b"POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size + body
           + b"GET /b HTTP/1.1\r\nHost: a\r\n\r\n")
    cuts = sorted(draw(st.sets(st.integers(1, len(raw) - 1), max_size=8)))
    return [raw[a:b] for a, b in zip([0] + cuts, cuts + [len(raw)])]


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=large_body_pipeline(), hold=st.sets(st.integers(0, 8), max_size=3))
def test_large_bodies_through_lent_buffers(pieces, hold):
    assert_twins_agree(pieces, H1Limits(), hold, buffered=True)
    fed, error = feed_pieces(PURE.RequestParser(H1Limits()), pieces)
    assert error is None
    for module in (COMPILED, PURE):
        parser = module.RequestParser(H1Limits())
        events = []
        for piece in pieces:
            events += deliver(parser, piece, True)
            while parser.paused and not parser.closed:
                more = parser.resume()
                if not more:
                    break
                events += more
        assert normalise(events) == fed


# -- hand-picked boundaries that random generation rarely hits exactly ---------------------

CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"


def _every_split(data: bytes, limits: H1Limits) -> None:
    assert_twins_agree([data], limits)
    assert_twins_agree([data[i : i + 1] for i in range(len(data))], limits)
    for cut in range(1, len(data)):
        assert_twins_agree([data[:cut], data[cut:]], limits)


@pytest.mark.parametrize("extra", [-1, 0, 1, 2])
def test_chunk_line_length_limit_boundary(extra):
    limits = H1Limits(max_chunk_extensions=4)
    line = b"0" * (30 + extra) + b"1;abc"  # 15 + 16 + 4 bytes when extra == 0
    _every_split(CHUNKED_HEAD + line + b"\r\nx\r\n0\r\n\r\n", limits)


@pytest.mark.parametrize("extra", [-1, 0, 1, 2])
def test_header_section_limit_boundary(extra):
    limits = H1Limits(max_request_line=14, max_header_size=20 + extra)
    _every_split(b"GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789\r\n\r\n", limits)


@pytest.mark.parametrize("extra", [-1, 0, 1, 2])
def test_request_line_limit_boundary(extra):
    limits = H1Limits(max_request_line=14 + extra)
    _every_split(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", limits)


@pytest.mark.parametrize("extra", [-1, 0, 1, 2])
def test_trailer_section_limit_boundary(extra):
    limits = H1Limits(max_header_size=60 + extra)
    _every_split(CHUNKED_HEAD + b"1\r\nx\r\n0\r\nX-One: 12345\r\nX-Two: 1234567890123456789012345\r\n\r\n", limits)


@pytest.mark.parametrize("count", [1, 2, 3])
def test_field_count_limits(count):
    limits = H1Limits(max_headers=count)
    _every_split(b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nBad Name: 2\r\n\r\n", limits)
    _every_split(CHUNKED_HEAD.replace(b"Host: a\r\n", b"") + b"0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
                 H1Limits(max_headers=count + 1))


def test_body_limit_boundaries():
    for size in (4, 5, 6):
        limits = H1Limits(max_body_size=size)
        _every_split(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n12345", limits)
        _every_split(CHUNKED_HEAD + b"2\r\n12\r\n3\r\n345\r\n0\r\n\r\n", limits)


def test_h2_preface_and_pipelines():
    _every_split(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00", H1Limits())
    _every_split(b"\r\n\r\nPRI * HTTP/2.0\r\n\r\nSX\r\n\r\n", H1Limits())
    _every_split(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", H1Limits())
    _every_split(
        b"POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab\r\n"
        b"GET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /3 HTTP/1.0\r\n\r\nGET /4 HTTP/1.1\r\n\r\n",
        H1Limits(),
    )
