"""Flow-control windows both ways, and the flood credit that small windows earn
(run on both twins of ``H2Session``, see ``conftest.py``)."""

from __future__ import annotations

import h2.events
import pytest

from pyre.protocol.h2 import ConnectionEnded, DataReceived, H2Settings, StreamReset, WindowUpdated

from .helpers import NOW, REQUEST, Client, RawClient, goaway, parse_frames, raw_frame, rst_codes

MAX_WINDOW = 2**31 - 1
POST = [(b":method", b"POST"), *REQUEST[1:]]


def settings_frame(*pairs) -> bytes:
    return raw_frame(4, 0, 0, b"".join(code.to_bytes(2, "big") + value.to_bytes(4, "big") for code, value in pairs))


def window_update(stream_id: int, increment: int) -> bytes:
    return raw_frame(8, 0, stream_id, increment.to_bytes(4, "big"))


def open_response(client: RawClient, stream_id: int = 1) -> None:
    client.feed(client.headers(stream_id, REQUEST))
    client.session.send_headers(stream_id, 200, [], False)
    client.frames()


def data_lengths(frames) -> list:
    return [len(f.data) for f in frames if type(f).__name__ == "DataFrame"]


# -- the send side: the client's windows -----------------------------------------------------


def test_the_smaller_of_the_stream_and_connection_windows_limits_sending():
    client = RawClient()
    client.feed(settings_frame((0x4, 100_000)))  # stream windows above the connection's 65,535
    open_response(client)
    assert client.session.send_window(1) == 65535
    assert client.session.send_data(1, b"x" * 70000, False) == 65535
    assert client.session.send_window(1) == 0
    assert client.feed(window_update(0, 10)) == [WindowUpdated(0)]
    assert client.session.send_window(1) == 10  # the connection's 10
    client.feed(window_update(0, 100_000))
    assert client.session.send_window(1) == 100_000 - 65535  # now the stream's


def test_initial_window_size_raised_mid_stream_grows_open_streams():
    client = RawClient()
    client.feed(settings_frame((0x4, 0)))
    open_response(client)
    assert client.session.send_data(1, b"x" * 10, False) == 0
    events = client.feed(settings_frame((0x4, 1)))
    assert events == [WindowUpdated(0)]  # the transport pumps every waiting stream
    assert client.session.send_data(1, b"x" * 10, False) == 1
    assert data_lengths(client.frames()) == [1]


def test_a_negative_stream_window_sends_nothing_until_positive_again():
    """h2spec 6.9.2/2: a window made negative by SETTINGS is tracked exactly."""
    client = RawClient()
    client.feed(settings_frame((0x4, 3)))
    open_response(client)
    assert client.session.send_data(1, b"abcde", False) == 3
    assert client.feed(settings_frame((0x4, 2))) == []  # the window is now -1: no event
    assert client.session.send_window(1) == 0 and client.session.send_data(1, b"de", False) == 0
    assert client.feed(window_update(1, 1)) == [WindowUpdated(1)]
    assert client.session.send_window(1) == 0  # 0: still nothing
    client.feed(window_update(1, 2))
    assert client.session.send_window(1) == 2
    assert client.session.send_data(1, b"de", True) == 2
    assert data_lengths(client.frames()) == [3, 2]


def test_a_settings_change_that_overflows_a_stream_window_is_a_flow_control_error():
    client = RawClient()
    open_response(client)
    client.feed(window_update(1, MAX_WINDOW - 65535))  # the stream window at its largest
    events = client.feed(settings_frame((0x4, 65536)))
    assert isinstance(events[-1], ConnectionEnded) and events[-1].error_code == 3
    assert goaway(client.frames()).error_code == 3


@pytest.mark.parametrize("stream_id, error", [(0, "goaway"), (1, "rst")])
def test_window_update_past_the_largest_window_is_a_flow_control_error(stream_id, error):
    client = RawClient()
    open_response(client)
    client.feed(window_update(stream_id, MAX_WINDOW - 65535))  # exactly the largest: fine
    assert not client.session.closed and client.session.can_send(1)
    events = client.feed(window_update(stream_id, 1))
    frames = client.frames()
    if error == "goaway":
        assert isinstance(events[-1], ConnectionEnded) and goaway(frames).error_code == 3
    else:
        assert events == [StreamReset(1, 3, False)] and rst_codes(frames) == {1: 3}
        assert not client.session.closed


# -- the receive side: our windows ---------------------------------------------------------------


def test_data_consumed_before_our_smaller_window_is_acknowledged_is_granted_back():
    """The client may send a full 65,535-byte window before it acknowledges our
    SETTINGS_INITIAL_WINDOW_SIZE of 1,024; the application consumes the bytes first,
    then the acknowledgement leaves the stream window below 0. The update is owed
    then, or neither side ever sends again."""
    client = RawClient(H2Settings(initial_window_size=1024))
    client.session.data_to_send()
    client.feed(client.headers(1, POST, end_stream=False))
    events = client.feed(raw_frame(0, 0, 1, b"x" * 16384))
    assert events == [DataReceived(1, b"x" * 16384, 16384)]
    client.session.acknowledge_received(1, 16384)
    assert [type(f).__name__ for f in client.frames()] == []  # a quarter of 65,535: nothing yet
    client.feed(raw_frame(4, 1, 0))  # the client acknowledges our SETTINGS
    updates = {f.stream_id: f.window_increment for f in client.frames() if type(f).__name__ == "WindowUpdateFrame"}
    assert updates == {1: 16384}  # the stream window is back at 1,024
    events = client.feed(raw_frame(0, 0, 1, b"y" * 1024))
    assert events == [DataReceived(1, b"y" * 1024, 1024)]


def test_a_client_overrunning_the_stream_window_ends_the_connection():
    client = RawClient(H2Settings(initial_window_size=1024))
    client.feed(raw_frame(4, 1, 0))
    client.feed(client.headers(1, POST, end_stream=False))
    events = client.feed(raw_frame(0, 0, 1, b"x" * 1025))
    assert isinstance(events[-1], ConnectionEnded) and events[-1].error_code == 3


# -- PRIORITY errors on idle, open and closed streams -----------------------------------------


@pytest.mark.parametrize("payload, code", [(b"\x00\x00\x00\x01\x10", 1), (b"\x00\x00\x00\x03", 6)])
def test_a_bad_priority_on_an_idle_stream_is_a_connection_error(payload, code):
    """h2spec 5.3.1/2: RST_STREAM may not be sent on an idle stream (RFC 9113 §6.4)."""
    client = RawClient()
    events = client.feed(raw_frame(2, 0, 1, payload))
    assert isinstance(events[-1], ConnectionEnded) and events[-1].error_code == code
    assert goaway(client.frames()).error_code == code


@pytest.mark.parametrize("payload, code", [(b"\x00\x00\x00\x01\x10", 1), (b"\x00\x00\x00\x01", 6)])
def test_a_bad_priority_on_a_closed_stream_gets_rst_stream(payload, code):
    client = RawClient()
    client.feed(client.headers(1, REQUEST))
    client.session.send_headers(1, 200, [], True)  # stream 1 is closed both ways
    client.frames()
    events = client.feed(raw_frame(2, 0, 1, payload))
    assert events == []
    assert rst_codes(client.frames()) == {1: code}
    assert not client.session.closed


# -- flood credit earned by moving data ------------------------------------------------------


@pytest.mark.parametrize("window", [256, 1024, 16384])
def test_small_client_windows_are_not_a_flood(window):
    """Each DATA frame of a small window is answered with WINDOW_UPDATEs for the
    stream and the connection: never a flood, however long the download."""
    client = Client(H2Settings(max_control_frames=10), client_settings={0x4: window})
    sid = client.request()
    client.exchange()
    client.session.send_headers(sid, 200, [], False)
    body = b"d" * (1 << 20)
    while body:
        sent = client.session.send_data(sid, body, False)
        body = body[sent:]
        client.exchange()
        for event in client.client_of(h2.events.DataReceived):
            client.conn.acknowledge_received_data(event.flow_controlled_length, sid)
        client.client_events.clear()
        client.exchange()
        assert not any(isinstance(e, ConnectionEnded) for e in client.events)
    assert client.session.can_send(sid)


def test_many_small_responses_each_acknowledged_are_not_a_flood():
    """httpx (the h2 library) sends a WINDOW_UPDATE for every response it reads, however
    small: thousands of tiny responses on one connection must never add up to a flood
    (they did: ENHANCE_YOUR_CALM after about 1,350 requests within the flood window)."""
    client = RawClient(H2Settings(max_control_frames=10))
    for i in range(2000):
        sid = 1 + 2 * i
        client.feed(client.headers(sid, REQUEST))
        client.session.send_headers(sid, 200, [], False)
        client.session.send_data(sid, b"12345", True)
        client.frames()
        events = client.feed(window_update(0, 5))
        assert not any(isinstance(e, ConnectionEnded) for e in events), i


def test_one_byte_windows_earn_no_flood_credit():
    """Granting a byte at a time (CVE-2019-9511, "data dribble") costs the server a
    frame per byte: its WINDOW_UPDATEs are paid from the control-frame budget."""
    client = RawClient(H2Settings(max_control_frames=100))
    client.feed(settings_frame((0x4, 1)) + window_update(0, 1))
    open_response(client)
    ended = []
    for _ in range(1000):
        client.session.send_data(1, b"x" * 4096, False)  # what is pending; the window cuts it to a byte
        ended = [e for e in client.feed(window_update(1, 1)) if isinstance(e, ConnectionEnded)]
        if ended:
            break
    assert ended and ended[0].error_code == 11


def test_data_received_earns_credit_for_control_frames():
    client = RawClient(H2Settings(max_control_frames=10))
    client.feed(client.headers(1, POST, end_stream=False))
    for _ in range(50):  # a PING with every 1 KiB DATA frame: 50 PINGs, 10 allowed alone
        events = client.feed(raw_frame(0, 0, 1, b"x" * 1024) + raw_frame(6, 0, 0, b"12345678"))
        client.session.acknowledge_received(1, 1024)
        assert not any(isinstance(e, ConnectionEnded) for e in events)
    events = client.feed(raw_frame(6, 0, 0, b"12345678") * 12)
    assert isinstance(events[-1], ConnectionEnded) and events[-1].error_code == 11


def test_data_in_flight_after_an_early_response_is_not_a_flood():
    """The server answers and resets streams whose upload is still coming (RFC 9113
    §8.1): the DATA already sent arrives on closed streams, within the windows the
    server had granted."""
    client = RawClient(H2Settings(max_control_frames=20))
    for i in range(10):
        sid = 1 + 2 * i
        client.feed(client.headers(sid, POST, end_stream=False) + raw_frame(0, 0, sid, b"x" * 1024))
        client.session.send_headers(sid, 200, [], True)
        client.session.reset_stream(sid, 0)  # the response is complete; stop sending
        events = client.feed(b"".join(raw_frame(0, 0, sid, b"x" * 1024) for _ in range(60)))
        assert not any(isinstance(e, ConnectionEnded) for e in events), i
    # Beyond what the windows allowed, they are control frames again.
    events = client.feed(b"".join(raw_frame(0, 0, 1, b"x" * 1024) for _ in range(200)))
    assert isinstance(events[-1], ConnectionEnded) and events[-1].error_code == 11


def pings_until_goaway(download: int) -> int:
    client = Client(H2Settings(max_control_frames=10))
    sid = client.request()
    client.exchange()
    client.session.send_headers(sid, 200, [], False)
    if download:
        client.session.send_data(sid, b"d" * download, True)
    client.exchange()
    for count in range(1, 1000):
        if any(isinstance(e, ConnectionEnded) for e in client.feed(raw_frame(6, 0, 0, b"12345678"))):
            return count
    raise AssertionError("no GOAWAY")


def test_floods_are_still_bounded_after_a_download():
    """The credit a download earns postpones a flood by what the data paid for, no
    more: two control frames per full DATA frame sent."""
    alone = pings_until_goaway(0)
    assert pings_until_goaway(16384) == alone + 2  # one frame
    assert pings_until_goaway(3 * 16384) == alone + 6  # three frames
    assert pings_until_goaway(100) == alone + 2  # a small response earns as a full frame does


# -- a request body nobody will read ---------------------------------------------------------


def window_increments(frames) -> dict:
    grants: dict = {}
    for f in frames:
        if type(f).__name__ == "WindowUpdateFrame":
            grants[f.stream_id] = grants.get(f.stream_id, 0) + f.window_increment
    return grants


def test_a_discarded_body_keeps_its_windows_open_and_the_stream_ends_without_a_reset():
    """After the response, an unread upload is dropped with its windows granted back (a
    reset hangs clients that send the whole body first), until the client ends it."""
    client = RawClient()
    events = client.feed(client.headers(1, POST, end_stream=False) + raw_frame(0, 0, 1, b"x" * 16384))
    assert [type(e) for e in events][-1] is DataReceived  # delivered, never acknowledged
    client.session.send_headers(1, 200, [], True)
    assert client.session.discard_request(1)
    sent = 16384
    grants = {0: 0, 1: 0}
    for _ in range(40):  # 640 KiB: ten times the initial windows
        events = client.feed(raw_frame(0, 0, 1, b"x" * 16384))
        sent += 16384
        assert events == []  # dropped, no DataReceived (past a window: FLOW_CONTROL_ERROR)
        frames = client.frames()
        assert not rst_codes(frames)
        for sid, n in window_increments(frames).items():
            grants[sid] += n
        assert sent <= 65535 + grants[1]  # within the stream windows granted
    events = client.feed(raw_frame(0, 1, 1))  # END_STREAM
    assert [type(e).__name__ for e in events] == ["StreamEnded"]
    assert grants[0] and not rst_codes(client.frames())
    assert client.session.open_streams == 0


def test_discarding_grants_back_what_was_delivered_and_never_read():
    client = RawClient()
    client.feed(client.headers(1, POST, end_stream=False))
    for _ in range(4):  # the application stopped reading: 64 KiB in, nothing acknowledged
        client.feed(raw_frame(0, 0, 1, b"x" * 16383))
    assert window_increments(client.frames()) == {}
    client.session.send_headers(1, 200, [], True)
    assert client.session.discard_request(1)
    assert window_increments(client.frames())[1] == 4 * 16383  # (the connection window is larger)


def test_discard_request_only_applies_to_a_complete_response_with_the_request_open():
    client = RawClient()
    client.feed(client.headers(1, POST, end_stream=False))
    assert not client.session.discard_request(1)  # no response yet
    client.feed(client.headers(3, REQUEST))
    client.session.send_headers(3, 200, [], True)
    assert not client.session.discard_request(3)  # the request was complete: the stream closed
    client.session.send_headers(1, 200, [], True)
    client.session.reset_stream(1, 0)
    assert not client.session.discard_request(1)
    assert not client.session.discard_request(5)


def tiny_window_download(window: int, streams: int, size: int, chunk: int, max_control_frames: int) -> list:
    """Streams download ``size`` bytes each, written in ``chunk``-byte messages, through
    ``window``-byte windows, the client answering as nghttp2 does (a WINDOW_UPDATE for
    the stream, and one for the connection, once half a window is consumed; the
    connection's 64 KiB first, as nghttp -W shrinks it), the server taking turns as the
    transport does. The session's events (a ConnectionEnded stops it)."""
    client = RawClient(H2Settings(max_control_frames=max_control_frames))
    client.feed(settings_frame((0x4, window)))
    pending = {}
    for i in range(streams):
        sid = 1 + 2 * i
        client.feed(client.headers(sid, REQUEST))
        client.session.send_headers(sid, 200, [], False)
        pending[sid] = [chunk] * (size // chunk) + ([size % chunk] if size % chunk else [])
    blocked = dict.fromkeys(pending)  # in turn order
    unseen = dict.fromkeys(pending, window)  # the server's windows as the client sees them
    unseen[0] = 65535

    def pump(sid: int) -> None:
        chunks = pending[sid]
        progress = False
        while chunks:
            sent = client.session.send_data(sid, b"d" * chunks[0], len(chunks) == 1)
            progress = progress or sent > 0
            if sent < chunks[0]:
                chunks[0] -= sent
                break
            chunks.pop(0)
        if not chunks:
            blocked.pop(sid, None)
        elif progress:  # to the back of the queue
            blocked.pop(sid, None)
            blocked[sid] = None

    for sid in list(blocked):
        pump(sid)
    events: list = []
    while blocked:
        updates = b""
        for frame in client.frames():
            if type(frame).__name__ == "DataFrame" and frame.data:
                for sid in (frame.stream_id, 0):
                    unseen[sid] -= len(frame.data)
                    if unseen[sid] <= window // 2:
                        updates += window_update(sid, window - unseen[sid])
                        unseen[sid] = window
        assert updates
        new = client.feed(updates)
        events += new
        if any(isinstance(e, ConnectionEnded) for e in new):
            break
        for event in new:
            if isinstance(event, WindowUpdated):
                for sid in [event.stream_id] if event.stream_id else list(blocked):
                    if sid in blocked:
                        pump(sid)
    if not any(isinstance(e, ConnectionEnded) for e in events):
        assert not any(pending.values())  # every byte went out
    return events


@pytest.mark.parametrize("window", [255, 200, 64])
def test_tiny_windows_answered_frame_by_frame_are_not_a_flood(window):
    """nghttp -w 8 -W 8 (255-byte windows) got GOAWAY ENHANCE_YOUR_CALM: frames shorter
    than FRAME_COST earned less than the two WINDOW_UPDATEs that answer them. An update
    is paid back once REOPEN_PAID bytes went out through the window it opened. (This
    model of 255-byte windows ran short only over more data than a unit test moves:
    nghttp's own frame pattern is tests/e2e/test_h2_clients.py's.)"""
    events = tiny_window_download(window, 10, 200_000, 65536, 100)
    assert not [e for e in events if isinstance(e, ConnectionEnded)]


def test_windows_of_a_few_bytes_answered_frame_by_frame_are_still_a_flood():
    events = tiny_window_download(16, 2, 100_000, 65536, 100)
    assert isinstance(events[-1], ConnectionEnded) and events[-1].error_code == 11
