"""Limits and attacks: refused streams, HPACK, frame errors, floods (each ends in the RFC's error)."""

from __future__ import annotations

import h2.events
import pytest
from hpack import Decoder
from hyperframe.frame import ContinuationFrame, HeadersFrame

from pyre.protocol.h2 import ConnectionEnded, H2Settings, RequestReceived, StreamReset

from .helpers import NOW, REQUEST, Client, RawClient, goaway, raw_frame, rst_codes


def ended(events) -> ConnectionEnded:
    found = [e for e in events if isinstance(e, ConnectionEnded)]
    assert len(found) == 1, events
    assert events[-1] is found[0]
    return found[0]


def assert_connection_error(client: RawClient, events, code: int) -> None:
    assert ended(events).error_code == code
    frame = goaway(client.frames())
    assert frame is not None and frame.error_code == code
    assert client.session.closed
    assert client.feed(client.headers(99, REQUEST)) == []


def test_streams_past_the_limit_are_refused():
    client = Client(H2Settings(max_concurrent_streams=3))
    sids = [client.request(end_stream=False) for _ in range(3)]
    client.exchange()
    # the h2 client itself would not exceed the limit: send more by hand
    raw = RawClient(H2Settings(max_concurrent_streams=3))
    for sid in (1, 3, 5, 7, 9):
        raw.feed(raw.headers(sid, REQUEST, end_stream=False))
    assert [e.stream_id for e in raw.events if isinstance(e, RequestReceived)] == [1, 3, 5]
    assert rst_codes(raw.frames()) == {7: 7, 9: 7}
    assert raw.session.open_streams == 3
    raw.session.reset_stream(1)
    events = raw.feed(raw.headers(11, REQUEST))
    assert isinstance(events[0], RequestReceived)  # a slot was free again, HPACK state intact
    assert len(sids) == 3


def test_hpack_failure_is_compression_error():
    client = RawClient()
    events = client.feed(raw_frame(1, 0x5, 1, b"\xff\xff\xff\xff\xff"))  # index far past the tables
    assert_connection_error(client, events, 9)


def test_hpack_table_size_above_our_setting():
    client = RawClient(H2Settings(max_header_table_size=0))
    client.feed(raw_frame(4, 1, 0))  # ACK our SETTINGS: the table limit is now 0
    # a block that first raises the table size to 4096: over the limit we set
    events = client.feed(raw_frame(1, 0x5, 1, b"\x3f\xe1\x1f" + client.encoder.encode(REQUEST)))
    assert_connection_error(client, events, 9)


def test_dynamic_table_bounded_and_zero_table_works():
    client = Client(H2Settings(max_header_table_size=0))
    sid = client.request(REQUEST + [(b"x-long", b"v" * 1000)])
    events = client.exchange()
    assert isinstance(events[0], RequestReceived) and events[0].stream_id == sid
    if hasattr(client.session, "_decoder"):  # white-box: the pure twin's HPACK decoder
        assert client.session._decoder.header_table_size == 0


def test_settings_ack_with_payload_is_frame_size_error():
    client = RawClient()
    events = client.feed(raw_frame(4, 1, 0, b"\x00\x01\x00\x00\x10\x00"))
    assert_connection_error(client, events, 6)


@pytest.mark.parametrize(
    "frame, code",
    [
        (raw_frame(4, 0, 0, b"\x00\x01\x00"), 6),  # SETTINGS not a multiple of 6
        (raw_frame(6, 0, 0, b"1234567"), 6),  # PING of 7 bytes
        (raw_frame(8, 0, 0, b"\x00\x00\x01"), 6),  # WINDOW_UPDATE of 3 bytes
        (raw_frame(3, 0, 1, b"\x00\x00\x00"), 6),  # RST_STREAM of 3 bytes
        (raw_frame(7, 0, 0, b"\x00\x00"), 6),  # short GOAWAY
        (raw_frame(8, 0, 0, b"\x00\x00\x00\x00"), 1),  # connection WINDOW_UPDATE of 0
        (raw_frame(3, 0, 5, b"\x00\x00\x00\x08"), 1),  # RST_STREAM on an idle stream
        (raw_frame(3, 0, 2, b"\x00\x00\x00\x08"), 1),  # RST_STREAM on an idle server stream
        (raw_frame(0, 0, 1, b"data"), 1),  # DATA on an idle stream
        (raw_frame(0, 0, 0, b"data"), 1),  # DATA on stream 0
        (raw_frame(1, 5, 2, b"\x82"), 1),  # HEADERS on an even stream
        (raw_frame(9, 4, 1, b""), 1),  # CONTINUATION without HEADERS
        (raw_frame(5, 4, 1, b"\x00\x00\x00\x02"), 1),  # PUSH_PROMISE from a client
        (raw_frame(6, 0, 1, b"12345678"), 1),  # PING on a stream
        (raw_frame(4, 0, 1, b""), 1),  # SETTINGS on a stream
        (raw_frame(2, 0, 0, b"\x00\x00\x00\x01\x10"), 1),  # PRIORITY on stream 0
        (raw_frame(4, 0, 0, b"\x00\x04\x80\x00\x00\x00"), 3),  # initial window too large: FLOW_CONTROL_ERROR
        (raw_frame(4, 0, 0, b"\x00\x05\x00\x00\x00\x10"), 1),  # max frame size too small
        (raw_frame(8, 0, 0, b"\x7f\xff\xff\xff"), 3),  # connection window overflow
        (raw_frame(0, 0, 1, b"x" * 16385), 6),  # over our max frame size
    ],
)
def test_frame_errors(frame, code):
    client = RawClient()
    events = client.feed(frame)
    assert_connection_error(client, events, code)


def test_oversized_frame_rejected_from_its_header():
    client = RawClient()
    events = client.feed(b"\xff\xff\xff\x00\x00\x00\x00\x00\x01")  # 16 MB announced, none sent
    assert_connection_error(client, events, 6)


def test_first_frame_must_be_settings():
    from pyre.protocol.h2 import PREFACE, H2Session

    session = H2Session()
    events = session.receive_data(PREFACE + raw_frame(6, 0, 0, b"12345678"), NOW)
    assert ended(events).error_code == 1


def test_stream_level_window_update_zero_is_a_stream_error():
    client = RawClient()
    client.feed(client.headers(1, REQUEST))
    events = client.feed(raw_frame(8, 0, 1, b"\x00\x00\x00\x00"))
    assert events == [StreamReset(1, 1, False)]
    assert rst_codes(client.frames()) == {1: 1}


def test_stream_window_overflow_is_a_stream_error():
    client = RawClient()
    client.feed(client.headers(1, REQUEST))
    events = client.feed(raw_frame(8, 0, 1, b"\x7f\xff\xff\xff"))
    assert events == [StreamReset(1, 3, False)]


def test_window_update_reserved_bit_ignored():
    client = RawClient()
    client.feed(client.headers(1, REQUEST))
    events = client.feed(raw_frame(8, 0, 1, b"\x80\x00\x00\x01"))
    assert not any(isinstance(e, ConnectionEnded) for e in events)


@pytest.mark.parametrize("payload, code", [(b"\x00\x00\x00\x03\x10", 1), (b"\x00\x00\x00\x01", 6)])
def test_bad_priority_frames_are_stream_errors(payload, code):
    client = RawClient()
    client.feed(client.headers(3, REQUEST, end_stream=False))
    events = client.feed(raw_frame(2, 0, 3, payload))
    assert events == [StreamReset(3, code, False)]
    assert rst_codes(client.frames()) == {3: code}


def test_priority_frames_are_ignored():
    client = RawClient()
    events = client.feed(raw_frame(2, 0, 5, b"\x00\x00\x00\x03\x10"))
    assert events == [] and client.frames() == []


def test_rapid_reset():
    client = RawClient(H2Settings(max_rapid_resets=10))
    events = []
    for i in range(11):
        sid = 1 + 2 * i
        events += client.feed(client.headers(sid, REQUEST, end_stream=False) + raw_frame(3, 0, sid, b"\x00\x00\x00\x08"))
    resets = [e for e in events if isinstance(e, StreamReset)]
    assert len(resets) == 11 and all(e.remote for e in resets)
    assert_connection_error(client, events, 11)


def test_rapid_reset_budget_refills_over_time():
    client = RawClient(H2Settings(max_rapid_resets=10, flood_window=10.0))
    for i in range(100):
        client.now += 1.0  # one reset a second: within 10 per 10 s
        sid = 1 + 2 * i
        events = client.feed(client.headers(sid, REQUEST, end_stream=False) + raw_frame(3, 0, sid, b"\x00\x00\x00\x08"))
        assert not any(isinstance(e, ConnectionEnded) for e in events)


def test_refused_streams_count_as_resets():
    client = RawClient(H2Settings(max_concurrent_streams=1, max_rapid_resets=5))
    events = client.feed(client.headers(1, REQUEST, end_stream=False))
    for i in range(6):
        events += client.feed(client.headers(3 + 2 * i, REQUEST))
    assert_connection_error(client, events, 11)


def continuation_flood(client: RawClient, count: int, size: int = 10):
    first = HeadersFrame(1)
    first.data = client.encoder.encode(REQUEST)
    data = first.serialize()
    events = client.feed(data)
    for _ in range(count):
        cont = ContinuationFrame(1)
        cont.data = b"\x00" * size  # never ends the block
        events += client.feed(cont.serialize())
        if events:
            break
    return events


def test_continuation_flood_by_count():
    client = RawClient(H2Settings(max_continuation_frames=5))
    events = continuation_flood(client, 100)
    assert_connection_error(client, events, 11)


def test_continuation_flood_by_size_rejected_before_buffering():
    client = RawClient(H2Settings(max_header_block_size=1000))
    first = HeadersFrame(1)
    first.data = client.encoder.encode(REQUEST)
    client.feed(first.serialize())
    # only the 9-byte header of a 16 KB CONTINUATION: refused at once
    events = client.feed((16000).to_bytes(3, "big") + b"\x09\x00\x00\x00\x00\x01")
    assert_connection_error(client, events, 11)


def test_continuation_within_limits_works():
    client = RawClient(H2Settings(max_continuation_frames=3))
    block = client.encoder.encode(REQUEST + [(b"x", b"y" * 100)])
    parts = [block[:10], block[10:20], block[20:30], block[30:]]
    data = raw_frame(1, 0x1, 1, parts[0]) + raw_frame(9, 0, 1, parts[1]) + raw_frame(9, 0, 1, parts[2]) + raw_frame(9, 4, 1, parts[3])
    events = client.feed(data)
    assert isinstance(events[0], RequestReceived) and events[0].headers[-1] == (b"x", b"y" * 100)


def test_header_block_interrupted():
    client = RawClient()
    events = client.feed(raw_frame(1, 0x1, 1, client.encoder.encode(REQUEST)) + raw_frame(6, 0, 0, b"12345678"))
    assert_connection_error(client, events, 1)


def test_header_list_too_large_is_answered_431():
    client = Client(H2Settings(max_header_list_size=1000), validate=False)
    sid = client.request(REQUEST + [(b"x-big", b"v" * 1200)], end_stream=False)
    assert client.exchange() == []
    response = client.client_of(h2.events.ResponseReceived)
    assert response and response[0].headers == [(b":status", b"431")]
    assert client.client_of(h2.events.StreamReset)[0].error_code == 0
    sid2 = client.request()
    assert isinstance(client.exchange()[0], RequestReceived)
    assert sid2 == sid + 2


@pytest.mark.parametrize("fields", [
    [(b"Bad-Name", b"v")] + REQUEST,  # malformed in the middle of the list (a regular field before the pseudo ones)
    [(b":path", b"/"), (b":scheme", b"https")],  # malformed once the list is read (no :method)
    REQUEST + [(b"connection", b"close")],  # a connection-specific field, the last one
    REQUEST,  # well-formed
], ids=["mid-list", "after-the-list", "last-field", "valid"])
@pytest.mark.parametrize("end_stream", [True, False])
def test_a_header_list_too_large_is_answered_431_even_when_malformed(fields, end_stream):
    """The size limit comes first: a request both too large and malformed gets the 431
    (RFC 9113 §10.5.1), wherever its malformation is, not a PROTOCOL_ERROR reset; the
    same fields within the limit are a stream error (or the request)."""
    client = RawClient(H2Settings(max_header_list_size=1000))
    client.session.receive_data(raw_frame(4, 1, 0), client.now)  # the client acks our SETTINGS
    client.frames()
    big = [(b"x-big", b"v" * 1200)]
    events = client.feed(client.headers(1, fields[:-1] + big + fields[-1:], end_stream=end_stream))
    assert events == []
    frames = client.frames()
    heads = [f for f in frames if type(f).__name__ == "HeadersFrame"]
    assert len(heads) == 1 and Decoder().decode(heads[0].data, raw=True) == [(b":status", b"431")]
    assert rst_codes(frames).get(1, 0) == 0
    events = client.feed(client.headers(3, fields, end_stream=end_stream))
    if fields is REQUEST:
        assert isinstance(events[0], RequestReceived)
    else:
        assert rst_codes(client.frames()) == {3: 1}


def test_hpack_bomb_ends_the_connection():
    client = RawClient(H2Settings(max_header_list_size=1000))
    # a 700-byte field enters the dynamic table, then is referenced 100 times
    events = client.feed(client.headers(1, REQUEST + [(b"x-bomb", b"v" * 700)]))
    assert isinstance(events[0], RequestReceived)
    assert not any(isinstance(e, ConnectionEnded) for e in events)
    index = bytes([0x80 | 62])  # the newest dynamic entry
    events = client.feed(raw_frame(1, 0x5, 3, client.encoder.encode(REQUEST) + index * 100))
    assert_connection_error(client, events, 11)


@pytest.mark.parametrize(
    "frame",
    [
        raw_frame(6, 0, 0, b"12345678"),  # PING
        raw_frame(4, 0, 0, b""),  # SETTINGS
        raw_frame(8, 0, 0, b"\x00\x00\x00\x01"),  # WINDOW_UPDATE
        raw_frame(2, 0, 1, b"\x00\x00\x00\x00\x10"),  # PRIORITY
        raw_frame(0xFA, 0, 0, b"unknown"),  # unknown frame type
        raw_frame(3, 0, 1, b"\x00\x00\x00\x08"),  # RST_STREAM of a closed stream
    ],
)
def test_control_frame_floods(frame):
    client = RawClient(H2Settings(max_control_frames=50))
    client.feed(client.headers(1, REQUEST))
    client.session.send_headers(1, 200, [], True)
    client.frames()
    events = client.feed(frame * 49)  # 50 with the preface SETTINGS
    assert not any(isinstance(e, ConnectionEnded) for e in events)
    events = client.feed(frame)
    assert_connection_error(client, events, 11)


def test_empty_data_flood():
    client = RawClient(H2Settings(max_control_frames=20))
    client.feed(client.headers(1, [(b":method", b"POST"), *REQUEST[1:]], end_stream=False))
    events = client.feed(raw_frame(0, 0, 1) * 21)
    assert_connection_error(client, events, 11)


def test_output_is_bounded_when_the_client_never_reads():
    client = RawClient(H2Settings(max_control_frames=1000))
    total = 0
    for _ in range(100):
        client.feed(raw_frame(6, 0, 0, b"12345678") * 100)
        total += len(client.session.data_to_send())
        if client.session.closed:
            break
    assert client.session.closed
    assert total < 1001 * 17 + 100


def test_window_updates_answering_data_are_not_a_flood():
    client = Client(H2Settings(max_control_frames=10), client_settings={0x4: 16384})
    sid = client.request()
    client.exchange()
    client.session.send_headers(sid, 200, [], False)
    for _ in range(100):
        assert client.session.send_data(sid, b"d" * 16384, False) == 16384
        client.exchange()  # the h2 client acknowledges each frame with WINDOW_UPDATEs
        client.conn.acknowledge_received_data(16384, sid)
        client.exchange()
    assert not any(isinstance(e, ConnectionEnded) for e in client.events)
    assert client.session.can_send(sid)
