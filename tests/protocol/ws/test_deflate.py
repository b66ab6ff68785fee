"""permessage-deflate (RFC 7692), Pyre's own: the negotiation, the compression both ways,
context takeover, and the bound on inflating, on the frame reader's path (whole
compressed frames) and on wsproto's (a message in several frames), which share the
zlib streams."""

from __future__ import annotations

import os
import zlib

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionType
from wsproto.events import TextMessage
from wsproto.extensions import PerMessageDeflate as WsprotoDeflate

from pyre.protocol.ws.deflate import InflateError, PerMessageDeflate
from pyre.protocol.ws import CloseReceived, WSSession

from .test_fast_path import frame, snapshot


def negotiated(offer: str = "permessage-deflate", max_size: int = 1 << 20) -> PerMessageDeflate:
    deflate = PerMessageDeflate(max_size)
    assert deflate.accept(offer) is not None
    return deflate


class Client:
    """A client's side of permessage-deflate: its compressor, and inflating our frames."""

    def __init__(self, window: int = 15, takeover: bool = True) -> None:
        self.window = window
        self.takeover = takeover
        self.compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        self.decompressor = zlib.decompressobj(-window)

    def compress(self, data: bytes) -> bytes:
        out = self.compressor.compress(data) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        return out[:-4]

    def inflate(self, payload: bytes) -> bytes:
        if not self.takeover:
            self.decompressor = zlib.decompressobj(-self.window)  # it cannot use our past
        return self.decompressor.decompress(payload + b"\x00\x00\xff\xff")


def server_frames(data: bytes):
    """(first byte, payload) of each frame a server wrote (unmasked, RFC 6455 §5.2)."""
    out, pos = [], 0
    while pos < len(data):
        first, n = data[pos], data[pos + 1] & 0x7F
        pos += 2
        if n == 126:
            n, pos = int.from_bytes(data[pos:pos + 2], "big"), pos + 2
        elif n == 127:
            n, pos = int.from_bytes(data[pos:pos + 8], "big"), pos + 8
        out.append((first, data[pos:pos + n]))
        pos += n
    return out


# -- the negotiation ---------------------------------------------------------------------


@pytest.mark.parametrize("offer, answer", [
    ("permessage-deflate", ""),
    ("permessage-deflate; client_max_window_bits", "client_max_window_bits=15"),
    ("permessage-deflate; client_max_window_bits=10", "client_max_window_bits=10"),
    ("permessage-deflate; client_max_window_bits=8", "client_max_window_bits=8"),  # inflated with 15: fine
    ("permessage-deflate; server_max_window_bits=9", "server_max_window_bits=9"),
    ("permessage-deflate; server_max_window_bits=\"12\"", "server_max_window_bits=12"),
    ("permessage-deflate; server_no_context_takeover", "server_no_context_takeover"),
    ("permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=15; "
     "client_max_window_bits", "client_no_context_takeover; server_no_context_takeover; "
     "client_max_window_bits=15; server_max_window_bits=15"),
])
def test_accepted_offers(offer, answer):
    deflate = PerMessageDeflate(1000)
    assert deflate.accept(offer) == answer and deflate.enabled()


@pytest.mark.parametrize("offer", [
    "permessage-deflate; server_max_window_bits=8",  # zlib cannot compress with a 256-byte window
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; server_max_window_bits",  # a value is required in an offer
    "permessage-deflate; client_max_window_bits=7",
    "permessage-deflate; client_max_window_bits=x",
    "permessage-deflate; server_no_context_takeover=1",
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; mystery=1",
])
def test_declined_offers_leave_it_disabled(offer):
    deflate = PerMessageDeflate(1000)
    assert deflate.accept(offer) is None and not deflate.enabled()
    assert not deflate.server_no_context_takeover and deflate.server_max_window_bits == 15


# -- compressing and inflating -------------------------------------------------------------


@pytest.mark.parametrize("window", [9, 12, 15])
def test_server_window_is_what_was_negotiated(window):
    deflate = negotiated(f"permessage-deflate; server_max_window_bits={window}")
    client = Client(window)
    data = os.urandom(300) * 40  # repeats 300 bytes apart: within even a 512-byte window
    for _ in range(3):
        assert client.inflate(deflate.deflate(data)) == data


def test_context_takeover_and_no_context_takeover():
    text = b"the same sentence, again and again " * 8
    keeps = negotiated()
    first, second = keeps.deflate(text), keeps.deflate(text)
    assert len(second) < len(first) / 4  # refers to the first message
    client = Client()
    assert client.inflate(first) == text and client.inflate(second) == text
    resets = negotiated("permessage-deflate; server_no_context_takeover")
    fresh = Client(takeover=False)
    for _ in range(3):
        assert fresh.inflate(resets.deflate(text)) == text  # each one alone


def test_inflate_bounds_and_errors():
    deflate = negotiated(max_size=1000)
    client = Client()
    assert deflate.inflate(client.compress("é".encode() * 500), True) == "é" * 500
    assert deflate.inflate(client.compress(b"\xff" * 10), False) == b"\xff" * 10
    with pytest.raises(InflateError) as info:
        deflate.inflate(client.compress(b"\xff" * 10), True)
    assert info.value.code == 1007
    with pytest.raises(InflateError) as info:
        deflate.inflate(client.compress(b"x" * 1001), False)
    assert info.value.code == 1009
    with pytest.raises(InflateError) as info:
        negotiated().inflate(b"\xff\xff\xff\xff", False)
    assert info.value.code == 1007


def test_a_final_block_ends_the_stream_and_the_next_message_starts_anew():
    deflate = negotiated()
    for text in ("one", "two"):
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        payload = compressor.compress(text.encode()) + compressor.flush(zlib.Z_FINISH)  # BFINAL
        assert deflate.inflate(payload, True) == text


# -- through the session -------------------------------------------------------------------


def session_pair(offer: str = "permessage-deflate", max_size: int = 1 << 20, fast: bool = True):
    return WSSession(max_size, negotiated(offer, max_size), fast=fast)


def compressed_frames(client: Client, data: bytes, opcode: int, pieces: int = 1):
    """One message compressed by the client, in ``pieces`` frames (RSV1 on the first only)."""
    payload = client.compress(data)
    cuts = [len(payload) * i // pieces for i in range(pieces + 1)]
    out = b""
    for i in range(pieces):
        out += frame(opcode if i == 0 else 0x0, payload[cuts[i]:cuts[i + 1]], fin=i == pieces - 1,
                     rsv=4 if i == 0 else 0, mask=os.urandom(4))
    return out


def test_whole_then_fragmented_messages_share_the_context():
    # The second message refers to the first (context takeover); the first is read by the
    # frame reader, the second, in three frames, by wsproto: the same inflater serves both.
    session, client = session_pair(), Client()
    text = b"a message that the next one repeats; " * 5
    got = session.receive_data(compressed_frames(client, text, 0x1))
    got += session.receive_data(compressed_frames(client, text + b"!", 0x1, pieces=3))
    got += session.receive_data(compressed_frames(client, text, 0x2))
    assert got == [text.decode(), text.decode() + "!", text]


def test_replies_are_compressed_and_carry_their_context():
    session, client = session_pair(), Client()
    for data in ("hello " * 50, "hello " * 50, b"\x00\x01" * 100, ""):
        session.send_message(data)
        [(first, payload)] = server_frames(session.data_to_send())
        assert first == (0xC1 if isinstance(data, str) else 0xC2)  # FIN, RSV1, text/binary
        raw = data.encode() if isinstance(data, str) else data
        assert client.inflate(payload) == raw


@pytest.mark.parametrize("offer", ["permessage-deflate", "permessage-deflate; server_no_context_takeover",
                                   "permessage-deflate; server_max_window_bits=9"])
def test_a_message_deflate_would_grow_goes_uncompressed_and_the_context_stays_right(offer):
    # Compressed, random bytes grow: a message just under a client's size limit would
    # arrive in a frame over it (websockets checks the frame before inflating).
    session, client = session_pair(offer), Client(takeover="no_context" not in offer)
    text = b"a sentence the messages repeat, " * 40
    noise = os.urandom(1 << 20)
    for data in (text, noise, text, noise[:5000], text + b"!"):
        session.send_message(data)
        [(first, payload)] = server_frames(session.data_to_send())
        if data is text or data == text + b"!":
            assert first == 0xC2 and client.inflate(payload) == data  # compressed, inflated right
        else:
            assert first == 0x82 and payload == data and len(payload) == len(data)  # RSV1 clear


def test_a_short_message_stays_compressed_even_when_it_grows():
    # Under the compressor's window, the message may be all the next one refers to.
    session, client = session_pair(), Client()
    for data in (b"hi", b"\x8f\x02" * 30, b"hi"):
        session.send_message(data)
        [(first, payload)] = server_frames(session.data_to_send())
        assert first == 0xC2 and client.inflate(payload) == data


def test_wsproto_client_round_trip_with_context_takeover():
    ext = WsprotoDeflate()
    ext.finalize("permessage-deflate")
    c = Connection(ConnectionType.CLIENT, extensions=[ext])
    session = session_pair()
    text = "abc" * 10_000
    got = session.receive_data(c.send(TextMessage(text)) + c.send(TextMessage(text)))
    assert got == [text, text]
    session.send_message(text)
    session.send_message(text)
    c.receive_data(session.data_to_send())
    assert [e.data for e in c.events()] == [text, text]


@pytest.mark.parametrize("pieces", [1, 3])
def test_bomb_closes_1009(pieces):
    session, client = session_pair(max_size=64 * 1024), Client()
    before = compressed_frames(client, b"fine", 0x2)
    got = session.receive_data(before + compressed_frames(client, b"\0" * (8 * 1024 * 1024), 0x2, pieces))
    assert got[0] == b"fine"
    assert isinstance(got[-1], CloseReceived) and got[-1].code == 1009 and got[-1].local
    assert server_frames(session.data_to_send())[0][1][:2] == (1009).to_bytes(2, "big")


@pytest.mark.parametrize("pieces", [1, 2])
def test_invalid_utf8_or_stream_closes_1007(pieces):
    session = session_pair()
    got = session.receive_data(compressed_frames(Client(), b"\xc3(", 0x1, pieces))
    assert isinstance(got[-1], CloseReceived) and got[-1].code == 1007
    session = session_pair()
    got = session.receive_data(frame(0x2, b"\xff\xff\xff\xff", rsv=4))
    assert isinstance(got[-1], CloseReceived) and got[-1].code == 1007


def test_rsv1_on_a_control_frame_or_without_deflate_is_a_protocol_error():
    for session, stream in ((session_pair(), frame(0x9, b"x", rsv=4)),
                            (WSSession(1000), compressed_frames(Client(), b"x", 0x1))):
        got = session.receive_data(stream)
        assert isinstance(got[-1], CloseReceived) and got[-1].code == 1002


@st.composite
def compressed_stream(draw):
    """A client's stream with permessage-deflate: whole and fragmented compressed
    messages, uncompressed ones, pings between; one compressor (context takeover)."""
    client = Client()
    out = b""
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["whole", "whole", "fragments", "plain", "ping"]))
        data = draw(st.one_of(st.text(max_size=200).map(str.encode), st.binary(max_size=300)))
        opcode = draw(st.sampled_from([0x1, 0x2]))
        if opcode == 0x1:
            try:
                data.decode()
            except UnicodeDecodeError:
                opcode = 0x2
        if kind == "whole":
            out += compressed_frames(client, data, opcode)
        elif kind == "fragments":
            out += compressed_frames(client, data, opcode, draw(st.integers(2, 4)))
        elif kind == "plain":
            out += frame(opcode, data)
        else:
            out += frame(0x9, data[:100])
    return out


@settings(max_examples=int(os.environ.get("FASTPATH_EXAMPLES", "200")), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=compressed_stream(), cuts=st.lists(st.integers(0, 4000), max_size=5),
       budget=st.one_of(st.none(), st.integers(0, 3)), max_size=st.sampled_from([100, 100_000]))
# One message inflating to max_size + 1: both paths close 1009 with the same reason.
@example(data=b'\xc1\x8e`\x8d\xf1\tR\xbdq\x8b#\x809\xf9\xa1\x8f\x9b+`\x8d', cuts=[], budget=None, max_size=100)
def test_compressed_streams_read_the_same_on_both_paths(data, cuts, budget, max_size):
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0] + points, points + [len(data)])] + [b""] * 3
    fast, slow = session_pair(max_size=max_size), session_pair(max_size=max_size, fast=False)
    for chunk in chunks:
        assert snapshot(fast.receive_data(chunk, budget)) == snapshot(slow.receive_data(chunk, budget))
        assert fast.data_to_send() == slow.data_to_send()
    assert snapshot(fast.receive_data(b"")) == snapshot(slow.receive_data(b""))
