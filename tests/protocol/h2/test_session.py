"""Normal HTTP/2 exchanges between an h2 client and the session."""

from __future__ import annotations

import base64

import h2.events
import pytest
from hyperframe.frame import SettingsFrame

from pyre.protocol.h2 import (
    PREFACE,
    ConnectionEnded,
    DataReceived,
    H2Session,
    H2Settings,
    PingAcked,
    RequestReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)
from pyre.protocol.h2.session import _decode_http2_settings

from .helpers import NOW, REQUEST, Client, client_connection, goaway, parse_frames, raw_frame, rst_codes


def test_preface_advertises_our_settings():
    settings = H2Settings(max_concurrent_streams=7, initial_window_size=1000, max_frame_size=32768, max_header_list_size=9999, enable_connect_protocol=True, connection_window_size=2**20)
    client = Client(settings)
    changed = client.client_of(h2.events.RemoteSettingsChanged)[0].changed_settings
    values = {int(code): c.new_value for code, c in changed.items()}
    assert values[0x3] == 7 and values[0x4] == 1000 and values[0x5] == 32768 and values[0x6] == 9999 and values[0x8] == 1
    assert 0x2 not in values  # a server does not send ENABLE_PUSH
    assert client.conn.outbound_flow_control_window == 2**20
    assert client.client_of(h2.events.SettingsAcknowledged)


def test_get():
    client = Client()
    sid = client.request()
    events = client.exchange()
    assert events == [
        RequestReceived(sid, "GET", "https", b"example.com", b"/", b"", [(b"host", b"example.com")], None, True, None),
        StreamEnded(sid),
    ]
    assert client.session.open_streams == 1 and client.session.last_stream_id == sid
    client.session.send_headers(sid, 200, [(b"Content-Type", b"text/plain"), (b"Connection", b"close"), (b"transfer-encoding", b"chunked")], False)
    assert client.session.send_data(sid, b"hello", True) == 5
    client.exchange()
    response = client.client_of(h2.events.ResponseReceived)[0]
    assert response.headers == [(b":status", b"200"), (b"content-type", b"text/plain")]
    assert b"".join(e.data for e in client.client_of(h2.events.DataReceived)) == b"hello"
    assert client.client_of(h2.events.StreamEnded)
    assert client.session.open_streams == 0 and not client.session.can_send(sid)


def test_query_host_and_cookies():
    client = Client()
    headers = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/a/b?x=1&y=2"), (b":authority", b"h"), (b"cookie", b"a=1"), (b"accept", b"*/*"), (b"cookie", b"b=2")]
    sid = client.request(headers)
    request = client.exchange()[0]
    assert (request.path, request.query_string, request.scheme) == (b"/a/b", b"x=1&y=2", "http")
    assert request.headers == [(b"host", b"h"), (b"cookie", b"a=1; b=2"), (b"accept", b"*/*")]
    headers = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":authority", b"h"), (b"host", b"h")]
    client.request(headers)
    assert client.exchange()[0].headers == [(b"host", b"h")]
    assert sid == 1


def test_post_with_body_and_acknowledge():
    client = Client(H2Settings(connection_window_size=65535))
    body = b"x" * 40000
    sid = client.request([(b":method", b"POST"), *REQUEST[1:], (b"content-length", b"40000")], body=body)
    events = client.exchange()
    assert isinstance(events[0], RequestReceived) and events[0].content_length == 40000 and not events[0].end_stream
    data = [e for e in events if isinstance(e, DataReceived)]
    assert b"".join(e.data for e in data) == body
    assert all(e.flow_controlled_length == len(e.data) for e in data)
    assert isinstance(events[-1], StreamEnded)
    client.session.acknowledge_received(sid, 40000)
    client.exchange()
    # the client ended the stream: only the connection window is re-granted
    assert client.conn.streams[sid].outbound_flow_control_window == 65535 - 40000
    assert client.conn.outbound_flow_control_window == 65535


def test_receive_flow_control_blocks_until_acknowledged():
    client = Client(H2Settings(initial_window_size=1000, connection_window_size=65535))
    sid = client.request([(b":method", b"POST"), *REQUEST[1:]], end_stream=False)
    client.exchange()
    assert client.conn.local_flow_control_window(sid) == 1000
    client.conn.send_data(sid, b"a" * 1000)
    events = client.exchange()
    assert sum(len(e.data) for e in events if isinstance(e, DataReceived)) == 1000
    assert client.conn.local_flow_control_window(sid) == 0  # nothing re-granted yet
    client.session.acknowledge_received(sid, 200)
    client.exchange()
    assert client.conn.local_flow_control_window(sid) == 0  # batched: too small an update
    client.session.acknowledge_received(sid, 800)
    client.exchange()
    assert client.conn.local_flow_control_window(sid) == 1000
    client.session.acknowledge_received(sid, 5000)  # more than received: capped
    client.exchange()
    assert client.conn.local_flow_control_window(sid) == 1000


def test_send_flow_control_partial_and_window_updated():
    client = Client(client_settings={0x4: 100})
    sid = client.request()
    client.exchange()
    client.session.send_headers(sid, 200, [], False)
    assert client.session.send_window(sid) == 100
    assert client.session.send_data(sid, b"y" * 250, True) == 100
    assert client.session.send_window(sid) == 0
    assert client.session.send_data(sid, b"y" * 150, True) == 0
    client.exchange()
    client.conn.acknowledge_received_data(100, sid)
    client.conn.increment_flow_control_window(60, sid)
    events = client.exchange()
    assert WindowUpdated(sid) in events
    window = client.session.send_window(sid)
    assert window >= 60
    assert client.session.send_data(sid, b"y" * 150, True) == min(150, window)
    client.exchange()


def test_send_data_splits_frames_at_peer_max_frame_size():
    client = Client(H2Settings(connection_window_size=2**24), client_settings={0x4: 2**20})
    sid = client.request()
    client.exchange()
    client.conn.increment_flow_control_window(2**20)
    client.exchange()
    client.session.send_headers(sid, 200, [], False)
    assert client.session.send_data(sid, b"z" * 100000, True) == 100000
    frames = parse_frames(client.session.data_to_send())
    assert [len(f.data) for f in frames if type(f).__name__ == "DataFrame"] == [16384] * 6 + [1696]
    assert "END_STREAM" in frames[-1].flags


def test_trailers_both_directions():
    client = Client()
    sid = client.request([(b":method", b"POST"), *REQUEST[1:], (b"te", b"trailers")], end_stream=False)
    client.conn.send_data(sid, b"body")
    client.conn.send_headers(sid, [(b"x-checksum", b"abc")], end_stream=True)
    events = client.exchange()
    assert [type(e) for e in events] == [RequestReceived, DataReceived, TrailersReceived, StreamEnded]
    assert events[2].headers == [(b"x-checksum", b"abc")]
    client.session.send_headers(sid, 200, [(b"trailer", b"x-sum")], False)
    client.session.send_data(sid, b"ok", False)
    client.session.send_trailers(sid, [(b"X-Sum", b"42")])
    client.exchange()
    trailers = client.client_of(h2.events.TrailersReceived)
    assert trailers and trailers[0].headers == [(b"x-sum", b"42")]
    assert client.client_of(h2.events.StreamEnded)


def test_many_concurrent_streams():
    client = Client()
    sids = [client.request() for _ in range(100)]
    events = client.exchange()
    assert [e.stream_id for e in events if isinstance(e, RequestReceived)] == sids
    assert client.session.open_streams == 100
    for sid in reversed(sids):
        client.session.send_headers(sid, 204, [], True)
    client.exchange()
    assert len(client.client_of(h2.events.ResponseReceived)) == 100
    assert client.session.open_streams == 0


def test_client_reset_is_reported():
    client = Client()
    sid = client.request(end_stream=False)
    client.exchange()
    client.conn.reset_stream(sid, 8)
    assert client.exchange() == [StreamReset(sid, 8, True)]
    assert client.session.send_data(sid, b"late", True) == 4  # discarded
    client.session.send_headers(sid, 200, [], True)  # no-op
    assert client.session.send_window(sid) == 0


def test_reset_stream_by_server():
    client = Client()
    sid = client.request(end_stream=False)
    client.exchange()
    client.session.reset_stream(sid)
    client.session.reset_stream(sid)  # already closed: no-op
    client.exchange()
    resets = client.client_of(h2.events.StreamReset)
    assert len(resets) == 1 and resets[0].error_code == 8


def test_reset_releases_unread_connection_window():
    client = Client(H2Settings(connection_window_size=65535))
    sid = client.request([(b":method", b"POST"), *REQUEST[1:]], end_stream=False)
    client.send_body(sid, b"q" * 60000, False)
    client.exchange()
    assert client.conn.outbound_flow_control_window == 65535 - 60000
    client.session.reset_stream(sid)
    client.exchange()
    assert client.conn.outbound_flow_control_window == 65535


def test_ping_and_ack():
    client = Client()
    client.session.ping(b"12345678")
    client.exchange()
    client.conn.ping(b"abcdefgh")
    events = client.exchange()
    assert PingAcked(b"12345678") in client.events
    assert client.client_of(h2.events.PingAckReceived)[0].ping_data == b"abcdefgh"
    assert not [e for e in events if isinstance(e, PingAcked) and e.data == b"abcdefgh"]
    with pytest.raises(ValueError):
        client.session.ping(b"short")


def test_graceful_close_lets_streams_finish_and_refuses_new_ones():
    client = Client()
    sid = client.request()
    client.exchange()
    client.session.close()
    assert client.session.going_away and not client.session.closed
    client.exchange()
    terminated = client.client_of(h2.events.ConnectionTerminated)
    assert terminated and terminated[0].last_stream_id == sid and terminated[0].error_code == 0
    session = client.session
    session.send_headers(sid, 200, [], False)
    session.send_data(sid, b"done", True)
    assert session.closed
    frames = parse_frames(session.data_to_send())
    assert [type(f).__name__ for f in frames] == ["HeadersFrame", "DataFrame"]


def test_graceful_close_refuses_later_streams():
    client = Client()
    first = client.request()
    client.exchange()
    client.session.close()
    later = client.request()
    out = client.conn.data_to_send()
    assert client.session.receive_data(out, NOW) == []
    assert rst_codes(parse_frames(client.session.data_to_send())) == {later: 7}
    assert client.session.can_send(first)


def test_close_with_error_ends_connection():
    client = Client()
    sid = client.request()
    client.exchange()
    client.session.close(2)
    assert client.session.closed
    client.exchange()
    assert client.client_of(h2.events.ConnectionTerminated)[0].error_code == 2
    assert client.session.send_data(sid, b"x", True) == 1
    assert client.session.receive_data(b"anything", NOW) == []


def test_client_goaway():
    client = Client()
    client.request()
    client.exchange()
    client.conn.close_connection(0, b"bye")
    events = client.exchange()
    assert len(events) == 1 and isinstance(events[0], ConnectionEnded)
    assert events[0].remote and events[0].error_code == 0 and "bye" in events[0].reason
    assert client.session.closed


@pytest.mark.parametrize("data", [
    b"INVALID CONNECTION PREFACE\r\n\r\n",  # h2spec 3.5/2
    b"\x00\x00\x00\x04\x00\x00\x00\x00\x00",  # frames without the preface (a SETTINGS frame)
    b"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
])
def test_a_missing_or_invalid_preface_is_a_protocol_error(data):
    session = H2Session()
    events = session.receive_data(data, NOW)
    assert [type(e) for e in events] == [ConnectionEnded] and events[0].error_code == 1
    frames = parse_frames(session.data_to_send())
    assert type(frames[0]).__name__ == "SettingsFrame"  # our preface first (RFC 9113 §3.4)
    assert goaway(frames).error_code == 1 and session.closed


def test_preface_split_across_reads():
    session = H2Session()
    conn = client_connection()
    conn.initiate_connection()
    conn.send_headers(1, REQUEST, end_stream=True)
    data = conn.data_to_send()
    events = []
    for i in range(len(data)):
        events += session.receive_data(data[i : i + 1], NOW)
    assert [type(e) for e in events] == [RequestReceived, StreamEnded]
    assert session.data_to_send()  # auto-initiated


def test_bad_preface():
    session = H2Session()
    events = session.receive_data(b"PRI * HTTP/1.1\r\n\r\n", NOW)
    assert isinstance(events[0], ConnectionEnded) and events[0].error_code == 1


def test_upgrade():
    settings_value = base64.urlsafe_b64encode(SettingsFrame(0, settings={0x4: 1000, 0x3: 10}).serialize_body()).rstrip(b"=")
    session = H2Session()
    session.initiate_upgrade(settings_value)
    assert session.open_streams == 1 and session.can_send(1)
    session.send_headers(1, 200, [(b"content-length", b"2")], False)
    assert session.send_window(1) == 1000
    assert session.send_data(1, b"hi", True) == 2
    out = session.data_to_send()
    conn = client_connection()
    conn.initiate_upgrade_connection()
    conn.data_to_send()
    client_events = conn.receive_data(out)
    assert any(isinstance(e, h2.events.ResponseReceived) for e in client_events)
    # the client preface follows the 101
    conn2 = client_connection()
    conn2.initiate_connection()
    events = session.receive_data(conn2.data_to_send(), NOW)
    assert not any(isinstance(e, ConnectionEnded) for e in events)


@pytest.mark.parametrize("value", [b"!!!!", b"AAAAA", b"AAAA", base64.urlsafe_b64encode(b"\x00\x05\x00\x00\x00\x01")])
def test_upgrade_rejects_bad_settings(value):
    with pytest.raises(ValueError):
        _decode_http2_settings(value)
    with pytest.raises(ValueError):
        H2Session().initiate_upgrade(value)


def test_send_headers_validation():
    client = Client()
    sid = client.request()
    client.exchange()
    session = client.session
    with pytest.raises(ValueError):
        session.send_headers(sid, 101, [], False)
    with pytest.raises(ValueError):
        session.send_headers(sid, 200, [(b"x", b"a\r\nb")], False)
    with pytest.raises(ValueError):
        session.send_headers(sid, 200, [(b"bad name", b"v")], False)
    with pytest.raises(RuntimeError):
        session.send_data(sid, b"x", False)
    session.send_headers(sid, 103, [(b"link", b"</a>")], False)
    session.send_headers(sid, 200, [(b"x", b" padded ")], True)
    assert not session.can_send(sid)
    client.exchange()
    info = client.client_of(h2.events.InformationalResponseReceived)
    assert info and info[0].headers == [(b":status", b"103"), (b"link", b"</a>")]
    assert client.client_of(h2.events.ResponseReceived)[0].headers == [(b":status", b"200"), (b"x", b"padded")]


def test_second_final_head_is_an_error():
    client = Client()
    sid = client.request(end_stream=False)
    client.exchange()
    client.session.send_headers(sid, 200, [], False)
    with pytest.raises(RuntimeError):
        client.session.send_headers(sid, 200, [], False)


def test_extended_connect():
    headers = [(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"https"), (b":path", b"/chat"), (b":authority", b"h")]
    client = Client(H2Settings(enable_connect_protocol=True), validate=False)
    sid = client.request(headers, end_stream=False)
    request = client.exchange()[0]
    assert isinstance(request, RequestReceived) and request.protocol == "websocket" and request.method == "CONNECT"
    client = Client(validate=False)
    sid = client.request(headers, end_stream=False)
    assert client.exchange() == []
    assert client.client_of(h2.events.StreamReset)[0].stream_id == sid


def test_settings_raising_initial_window_wakes_all_streams():
    client = Client(client_settings={0x4: 10})
    sid = client.request()
    client.exchange()
    client.conn.update_settings({0x4: 100000})
    events = client.exchange()
    assert WindowUpdated(0) in events
    client.session.send_headers(sid, 200, [], False)
    assert client.session.send_window(sid) == 65535  # now limited by the connection window


def test_padding_is_acknowledged_by_the_session():
    from .helpers import RawClient, raw_frame

    client = RawClient(H2Settings(initial_window_size=65535, connection_window_size=65535))
    client.feed(client.headers(1, [(b":method", b"POST"), *REQUEST[1:]], end_stream=False))
    payload = bytes([40000 % 256]) + b"abc" + b"\x00" * (40000 % 256)
    events = client.feed(raw_frame(0, 0x8, 1, payload))
    assert events == [DataReceived(1, b"abc", 3)]
    # 40000 bytes of pure padding: given back without the application
    for _ in range(200):
        client.feed(raw_frame(0, 0x8, 1, b"\xc7" + b"\x00" * 199))
    frames = client.frames()
    assert sum(f.window_increment for f in frames if type(f).__name__ == "WindowUpdateFrame" and f.stream_id == 0) >= 32767



def test_goaway_ignores_the_reserved_bit_of_the_last_stream_id():
    client = Client()
    client.exchange()
    payload = (0x80000005).to_bytes(4, "big") + (0).to_bytes(4, "big")  # R bit set: ignored (RFC 9113 §6.8)
    events = client.feed(raw_frame(7, 0, 0, payload))
    ended = [event for event in events if isinstance(event, ConnectionEnded)]
    assert ended and ended[0].last_stream_id == 5


def _gc_work(root) -> int:
    """References the cyclic garbage collector follows from ``root`` (through tracked
    objects only: it does not traverse an untracked container), types, modules and
    functions left out."""
    import gc
    import types

    seen = set()
    stack = [root]
    work = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or not gc.is_tracked(obj) or isinstance(obj, (type, types.ModuleType, types.FunctionType)):
            continue
        seen.add(id(obj))
        referents = gc.get_referents(obj)
        work += len(referents)
        stack.extend(referents)
    return work


def _serve(client: Client, n: int) -> None:
    for _ in range(n):
        sid = client.request()
        client.exchange()
        client.session.send_headers(sid, 204, [], True)
        client.exchange()


def test_closed_streams_cost_the_garbage_collector_nothing():
    """The session remembers how its last 65,536 streams closed; that memory must not be
    a container the cyclic collector walks (an OrderedDict of them made every full
    collection of a busy server tens of milliseconds: the p99 tail of h2c)."""
    client = Client()
    _serve(client, 20)
    before = _gc_work(client.session)
    _serve(client, 400)
    assert _gc_work(client.session) < before + 100



@pytest.mark.parametrize(("fields", "expected"), [
    ([(b"expect", b"100-continue")], True),
    ([(b"accept", b"*/*"), (b"expect", b"100-Continue")], True),  # case-insensitive
    ([(b"expect", b"something-else")], False),
    ([(b"accept", b"100-continue")], False),
    ([], False),
])
def test_expect_100_continue_is_recorded_on_the_request(fields, expected):
    """The session notes ``expect: 100-continue`` as it walks the fields (the transport
    walked them a second time for it)."""
    client = Client()
    sid = client.request([(b":method", b"POST"), *REQUEST[1:], *fields], end_stream=False)
    request = client.of(RequestReceived, events=client.exchange())[0]
    assert request.stream_id == sid and request.expect_continue is expected
