"""WSSession, sans-IO: whole messages, size bounds (compressed too), close handshakes."""

from __future__ import annotations

import struct
import zlib

import pytest

from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.extensions import PerMessageDeflate

from pyre.protocol.ws.handshake import accept_headers, check_upgrade
from pyre.protocol.ws.deflate import PerMessageDeflate as ServerDeflate
from pyre.protocol.ws import CloseReceived, PongReceived, WSSession


def client() -> Connection:
    return Connection(ConnectionType.CLIENT)


def server_events(client_conn: Connection, session: WSSession, *events):
    data = b"".join(client_conn.send(e) for e in events)
    return session.receive_data(data)


def client_receives(client_conn: Connection, session: WSSession):
    client_conn.receive_data(session.data_to_send())
    return list(client_conn.events())


def test_messages_fragments_and_ping():
    session, c = WSSession(1000), client()
    got = server_events(c, session, TextMessage("hel", message_finished=False), Ping(b"p"),
                        TextMessage("lo"), BytesMessage(b"\x00\x01"))
    assert got == ["hello", b"\x00\x01"]  # a message is its data
    assert [type(e) for e in got] == [str, bytes]
    answers = client_receives(c, session)
    assert [type(e).__name__ for e in answers] == ["Pong"] and answers[0].payload == b"p"


def test_empty_messages():
    session, c = WSSession(1000), client()
    got = server_events(c, session, TextMessage(""), BytesMessage(b""))
    assert got == ["", b""]


def test_too_big_in_fragments_is_1009():
    session, c = WSSession(10), client()
    got = server_events(c, session, BytesMessage(b"123456", message_finished=False), BytesMessage(b"78901"))
    assert len(got) == 1 and isinstance(got[0], CloseReceived) and got[0].code == 1009 and got[0].local
    assert session.closed
    answer = client_receives(c, session)
    assert isinstance(answer[0], CloseConnection) and answer[0].code == 1009


def test_text_size_counts_utf8_bytes():
    session, c = WSSession(4), client()
    got = server_events(c, session, TextMessage("éé"))  # 4 bytes: fits
    assert got[0] == "éé"
    got = server_events(c, session, TextMessage("ééé"))  # 6 bytes
    assert isinstance(got[0], CloseReceived) and got[0].code == 1009


def test_invalid_utf8_is_1007():
    session = WSSession(1000)
    mask = b"\x00\x00\x00\x00"
    got = session.receive_data(bytes([0x81, 0x82]) + mask + b"\xff\xfe")
    assert isinstance(got[-1], CloseReceived) and got[-1].code == 1007 and got[-1].local


def test_peer_close_is_answered():
    session, c = WSSession(1000), client()
    got = server_events(c, session, CloseConnection(code=4001, reason="bye"))
    assert isinstance(got[0], CloseReceived) and (got[0].code, got[0].reason, got[0].local) == (4001, "bye", False)
    answer = client_receives(c, session)
    assert isinstance(answer[0], CloseConnection) and answer[0].code == 4001


def test_our_close_then_the_peers_answer():
    session, c = WSSession(1000), client()
    session.close(1012, "restart")
    answer = client_receives(c, session)
    assert isinstance(answer[0], CloseConnection) and answer[0].code == 1012
    got = session.receive_data(c.send(answer[0].response()))
    assert isinstance(got[0], CloseReceived) and got[0].code == 1012 and not got[0].local
    session.send_message("ignored after close")
    assert session.data_to_send() == b""


def test_ping_and_pong():
    session, c = WSSession(1000), client()
    session.ping(b"k")
    answer = client_receives(c, session)
    assert isinstance(answer[0], Ping)
    got = session.receive_data(c.send(answer[0].response()))
    assert isinstance(got[0], PongReceived) and got[0].payload == b"k"


def test_max_messages_leaves_a_backlog():
    session, c = WSSession(1000), client()
    data = b"".join(c.send(TextMessage(f"m{i}")) for i in range(5))
    got = session.receive_data(data, 2)
    assert got == ["m0", "m1"] and session.backlog
    got = session.receive_data(b"", 0)
    assert got == [] and session.backlog
    got = session.receive_data(b"", 10)
    assert got == ["m2", "m3", "m4"] and not session.backlog


def deflate_session(max_size: int):
    request = check_upgrade("GET", "1.1", [(b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
                                           (b"sec-websocket-version", b"13"),
                                           (b"sec-websocket-extensions", b"permessage-deflate")])
    deflate = ServerDeflate(max_size)
    accept_headers(request, None, [], deflate)
    ext = PerMessageDeflate()
    ext.finalize("permessage-deflate")  # the client's side of the negotiation
    c = Connection(ConnectionType.CLIENT, extensions=[ext])
    return WSSession(max_size, deflate), c


def test_compressed_messages_round_trip():
    session, c = deflate_session(100_000)
    text = "abc" * 10_000
    got = server_events(c, session, TextMessage(text), TextMessage(text))
    assert got == [text, text]
    session.send_message(text)
    out = session.data_to_send()
    assert len(out) < 1000  # sent compressed
    c.receive_data(out)
    assert list(c.events())[0].data == text


def test_compression_bomb_is_1009_without_inflating_it():
    session, c = deflate_session(64 * 1024)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = compressor.compress(b"\0" * (32 * 1024 * 1024)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    payload = bomb[:-4]
    assert 65536 > len(payload) > 125
    frame = bytes([0xC2, 0xFE]) + struct.pack(">H", len(payload)) + b"\0\0\0\0" + payload  # FIN|RSV1 binary, masked
    got = session.receive_data(frame)
    assert isinstance(got[-1], CloseReceived) and got[-1].code == 1009


@pytest.mark.parametrize("data", ["", "a", "é" * 200, b"x" * 125, b"x" * 126, b"y" * 65535, b"z" * 65536, "q" * 70000])
def test_frames_built_without_wsproto_are_wsprotos_bytes(data):
    session = WSSession(10**7)
    session.send_message(data)
    reference = Connection(ConnectionType.SERVER)
    event = TextMessage(data=data) if isinstance(data, str) else BytesMessage(data=data)
    assert session.buffered == len(reference.send(event))
    assert session.data_to_send() == Connection(ConnectionType.SERVER).send(event)


def test_a_size_bound_beyond_any_frame_length_still_reads():
    # A frame's length fits 63 bits; a larger --ws-max-size is no bound (and must not
    # overflow the compiled frame reader's C integer).
    session, c = WSSession(1 << 70), client()
    events = server_events(c, session, TextMessage(data="x" * 70000), BytesMessage(data=b"y"))
    assert events == ["x" * 70000, b"y"]


@pytest.mark.parametrize("data", ["", "hello", "é" * 200, b"x" * 126, "q" * 70000])
def test_data_to_send_with_is_send_message_then_data_to_send(data):
    # Alone (the frame built as bytes), after a queued pong, compressed, and once closed.
    def states():
        yield WSSession(10**7)
        session, c = WSSession(10**7), client()
        server_events(c, session, Ping(b"p"))
        assert session.out
        yield session
        yield deflate_session(10**7)[0]
        closed = WSSession(10**7)
        closed.close(1000)
        yield closed

    for one, other in zip(states(), states()):
        one.send_message(data)
        expected = one.data_to_send()
        assert other.data_to_send_with(data) == expected and not other.out
    c = client()
    c.receive_data(WSSession(10**7).data_to_send_with(data))
    (event,) = list(c.events())
    assert event.data == data
