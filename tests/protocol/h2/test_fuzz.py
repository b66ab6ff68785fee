"""Whatever a client sends, receive_data never raises and never needs an internal error."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyre.protocol.h2 import PREFACE, ConnectionEnded, H2Session, H2Settings
from hyperframe.frame import SettingsFrame

from .helpers import NOW, REQUEST, raw_frame
from hpack import Encoder

START = PREFACE + SettingsFrame(0).serialize()


def run(chunks, settings_=None):
    session = H2Session(settings_ or H2Settings())
    session.initiate()
    events = []
    now = NOW
    for chunk in chunks:
        events += session.receive_data(chunk, now)
        session.data_to_send()
        now += 0.01
    ended = [e for e in events if isinstance(e, ConnectionEnded)]
    assert len(ended) <= 1
    for e in ended:
        assert e.error_code != 2, e.reason  # INTERNAL_ERROR would mean a bug
    return session, events


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_random_bytes_after_preface(chunks):
    run([START] + chunks)


def _frame():
    return st.builds(
        raw_frame,
        st.integers(0, 12),
        st.integers(0, 255),
        st.sampled_from([0, 1, 2, 3, 5, 2**31 - 1]),
        st.one_of(
            st.binary(max_size=40),
            st.just(Encoder().encode(REQUEST)),
            st.sampled_from([b"\x00\x00\x00\x01", b"\x00\x00\x00\x00", b"12345678", b"\x00\x04\x00\x00\x00\x00"]),
        ),
    )


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(_frame(), max_size=12), st.integers(1, 64))
def test_random_frames(frames, split):
    data = START + b"".join(frames)
    chunks = [data[i : i + split] for i in range(0, len(data), split)]
    run(chunks, H2Settings(max_continuation_frames=2, max_header_block_size=200, max_control_frames=20, max_rapid_resets=5))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=12), st.binary(max_size=12)), max_size=6), st.booleans())
def test_random_header_lists(extra, end_stream):
    encoder = Encoder()
    block = encoder.encode(REQUEST[:2] + extra + REQUEST[2:])
    flags = 0x4 | (0x1 if end_stream else 0)
    session, events = run([START + raw_frame(1, flags, 1, block), raw_frame(1, 0x5, 3, encoder.encode(REQUEST))])
    assert not any(isinstance(e, ConnectionEnded) for e in events)


def _valid_stream() -> bytes:
    from .helpers import client_connection

    conn = client_connection()
    conn.initiate_connection()
    conn.send_headers(1, REQUEST, end_stream=False)
    conn.send_data(1, b"hello")
    conn.send_headers(1, [(b"x-t", b"1")], end_stream=True)
    conn.send_headers(3, REQUEST + [(b"cookie", b"a=b")], end_stream=True)
    conn.ping(b"12345678")
    conn.increment_flow_control_window(1000)
    conn.reset_stream(3)
    conn.send_headers(5, REQUEST, end_stream=True)
    return conn.data_to_send()


VALID = _valid_stream()


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=4), st.integers(1, 97))
def test_mutated_valid_stream(flips, split):
    data = bytearray(VALID)
    for index, value in flips:
        data[index] = value
    data = bytes(data)
    run([data[i : i + split] for i in range(0, len(data), split)])


def test_valid_stream_is_valid():
    session, events = run([VALID])
    assert not any(isinstance(e, ConnectionEnded) for e in events)
