"""The WebSocket frame layer's twins: ``pyre.protocol.ws.frames`` (pure Python) and
``pyre.protocol.ws._frames_c`` (compiled from it) read, write and unmask identically.

Generated client streams (text, binary, empty and big frames in all three length forms,
pings, pongs, closes, fragments, reserved bits and opcodes, unmasked frames, non-minimal
lengths, invalid UTF-8), split at random points and read with random message limits,
give both twins the same messages, the same bytes read, the same pongs and the same
stop; and both agree with a plain reading of RFC 6455 where the frame is theirs.
"""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyre._accel import NO_EXTENSIONS, load_twins

from .test_fast_path import frame, frames

TWINS = load_twins("wsframes")
PY = TWINS["py"]


def compiled():
    if TWINS["c"] is None:
        if NO_EXTENSIONS:
            pytest.skip("the compiled frame layer is not built and PYRE_NO_EXTENSIONS is set")
        pytest.fail("the compiled frame layer is not built; run: python setup.py build_ext --inplace")
    return TWINS["c"]


SETTINGS = settings(max_examples=int(os.environ.get("FRAMES_EXAMPLES", "300")), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def test_the_twins_are_what_they_say():
    c = compiled()
    assert c.__name__ == "pyre.protocol.ws._frames_c" and c.COMPILED is True
    assert PY.__name__ == "pyre.protocol.ws.frames" and PY.COMPILED is False
    assert c.__all__ == PY.__all__ == ["FrameReader", "frame_message", "unmask", "write_frame"]


def read_all(module, chunks, limits, max_size, answer):
    """Feed the chunks to one twin's reader, as WSSession does; everything it produced."""
    reader = module.FrameReader(max_size)
    buf, out, steps = bytearray(), bytearray(), []
    for i, chunk in enumerate(chunks):
        buf += chunk
        messages: list = []
        used = reader.read(buf, limits[i % len(limits)], messages, out, answer)
        steps.append((used, reader.stopped, [(type(m).__name__, m) for m in messages], bytes(out)))
        del buf[:used]
    return steps, bytes(buf)


@SETTINGS
@given(stream=st.lists(frames(), min_size=1, max_size=12), cuts=st.lists(st.integers(0, 80000), max_size=8),
       limits=st.lists(st.integers(-1, 3), min_size=1, max_size=4), max_size=st.sampled_from([50, 1000, 100_000]),
       answer=st.booleans())
def test_reader_twins_agree_on_any_split(stream, cuts, limits, max_size, answer):
    c = compiled()
    data = b"".join(stream)
    points = sorted({x % (len(data) + 1) for x in cuts})
    chunks = [data[a:b] for a, b in zip([0] + points, points + [len(data)])] + [b""] * 4
    assert read_all(c, chunks, limits, max_size, answer) == read_all(PY, chunks, limits, max_size, answer)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 1000, 65535, 65536, 70000])
@pytest.mark.parametrize("opcode", [0x1, 0x2])
def test_every_length_form_reads_the_payload(size, opcode):
    payload = bytes(0x61 + i % 26 for i in range(size))  # ASCII: valid UTF-8 for text too
    stream = frame(opcode, payload, mask=os.urandom(4)) + frame(0x9, b"ping", mask=b"\xff\x00\xff\x00")
    expected = payload.decode() if opcode == 0x1 else payload
    for module in (compiled(), PY):
        reader, messages, out = module.FrameReader(1 << 20), [], bytearray()
        buf = bytearray(stream)
        assert reader.read(buf, -1, messages, out, True) == len(stream)
        assert messages == [expected] and type(messages[0]) is type(expected)
        assert bytes(out) == b"\x8a\x04ping" and not reader.stopped


@pytest.mark.parametrize("stream, why", [
    (frame(0x2, b"abc", length_form="16"), "non-minimal 16-bit length"),
    (frame(0x2, b"abc", length_form="64"), "non-minimal 64-bit length"),
    (bytes((0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0)) + b"\x00" * 4, "64-bit length with its top bit set"),
    (frame(0x2, b"abc", masked=False), "unmasked"),
    (frame(0x1, b"\xff"), "invalid UTF-8"),
    (frame(0x1, b"ab", fin=False), "a fragment"),
    (frame(0x8, b"\x03\xe8"), "a close"),
    (frame(0xA, b""), "a pong"),
    (frame(0x1, b"x", rsv=4), "a reserved bit"),
    (frame(0x3, b"x"), "a reserved opcode"),
    (frame(0x9, b"x" * 126), "a ping over 125 bytes"),
    (frame(0x2, b"x" * 101), "over max_size"),
])
def test_frames_left_to_wsproto_stop_the_reader_at_their_boundary(stream, why):
    before = frame(0x1, b"first")
    for module in (compiled(), PY):
        reader, messages = module.FrameReader(100), []
        buf = bytearray(before + stream + frame(0x1, b"after"))
        assert reader.read(buf, -1, messages, bytearray(), True) == len(before), why
        assert messages == ["first"] and reader.stopped
        assert reader.read(buf, -1, messages, bytearray(), True) == 0  # stopped for good


def test_limit_stops_between_frames():
    for module in (compiled(), PY):
        stream = bytearray(b"".join(frame(0x2, bytes([i])) for i in range(5)))  # (read: unmasked in place)
        reader, messages = module.FrameReader(100), []
        assert reader.read(stream, 0, messages, bytearray(), True) == 0 and messages == []
        used = reader.read(stream, 2, messages, bytearray(), True)
        assert used == 2 * 7 and messages == [b"\x00", b"\x01"] and not reader.stopped


@SETTINGS
@given(data=st.binary(max_size=3000), mask=st.binary(min_size=4, max_size=4))
def test_unmask_twins_agree_with_the_rfc(data, mask):
    expected = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    assert compiled().unmask(data, mask) == PY.unmask(data, mask) == expected


def test_unmask_wants_a_four_byte_mask():
    for module in (compiled(), PY):
        with pytest.raises(ValueError, match="4 bytes"):
            module.unmask(b"abc", b"\x01\x02")


def parse_server_frame(data: bytes):
    assert data[1] & 0x80 == 0, "a server frame is not masked"
    n, pos = data[1] & 0x7F, 2
    if n == 126:
        n, pos = struct.unpack(">H", data[2:4])[0], 4
        assert n >= 126
    elif n == 127:
        n, pos = struct.unpack(">Q", data[2:10])[0], 10
        assert n >= 65536
    assert len(data) == pos + n
    return data[0], data[pos:]


@SETTINGS
@given(message=st.one_of(st.text(max_size=200), st.binary(max_size=200),
                         st.sampled_from([125, 126, 65535, 65536, 70000]).map(lambda n: b"z" * n),
                         st.sampled_from([40000]).map(lambda n: "é" * n)))
def test_writer_twins_agree_and_frame_by_the_rfc(message):
    c_out, py_out = bytearray(b"before"), bytearray(b"before")
    compiled().write_frame(c_out, message)
    PY.write_frame(py_out, message)
    assert c_out == py_out and c_out.startswith(b"before")
    first, payload = parse_server_frame(bytes(c_out[6:]))
    if isinstance(message, str):
        assert (first, payload.decode()) == (0x81, message)
    else:
        assert (first, payload) == (0x82, message)


@SETTINGS
@given(message=st.one_of(st.text(max_size=200), st.text(alphabet=st.characters(max_codepoint=127), max_size=300),
                         st.binary(max_size=200), st.binary(max_size=200).map(bytearray),
                         st.binary(max_size=200).map(memoryview),
                         st.sampled_from([125, 126, 65535, 65536, 70000]).map(lambda n: b"z" * n),
                         st.sampled_from([125, 126, 65535, 65536, 70000]).map(lambda n: "a" * n),
                         st.sampled_from([40000]).map(lambda n: "é" * n)),
       compress=st.sampled_from([None, lambda payload: payload[::-1], lambda payload: None,
                                 lambda payload: payload[:130]]))
def test_a_message_framed_as_bytes_is_the_frame_the_writer_appends(message, compress):
    # frame_message(m) == what write_frame appends for m, in both twins: the compiled
    # twin's ASCII text is copied from the str itself, everything else encoded first.
    for module in (compiled(), PY):
        out = bytearray()
        module.write_frame(out, message, compress)
        framed = module.frame_message(message, compress)
        assert type(framed) is bytes and framed == bytes(out)


def test_writer_takes_any_bytes_like():
    for module in (compiled(), PY):
        out = bytearray()
        module.write_frame(out, bytearray(b"ab"))
        module.write_frame(out, memoryview(b"cd"))
        assert bytes(out) == b"\x82\x02ab\x82\x02cd"


def test_compressed_frames_go_through_inflate_in_both_twins():
    # RSV1 on a whole text/binary frame: the payload (unmasked) goes to ``inflate``; on a
    # ping, a fragment, or without ``inflate``, the frame is left to wsproto.
    def inflate(payload, text):
        return ("T:" if text else "B:") + bytes(payload).decode()

    stream = frame(0x1, b"ab", rsv=4) + frame(0x2, b"", rsv=4) + frame(0x1, b"plain")
    for module in (compiled(), PY):
        reader, messages = module.FrameReader(100, inflate), []
        assert reader.read(bytearray(stream), -1, messages, bytearray(), True) == len(stream)
        assert messages == ["T:ab", "B:", "plain"] and not reader.stopped
        for stop in (frame(0x9, b"x", rsv=4), frame(0x1, b"x", fin=False, rsv=4), frame(0x1, b"x", rsv=6)):
            reader, messages = module.FrameReader(100, inflate), []
            assert reader.read(bytearray(stop), -1, messages, bytearray(), True) == 0 and reader.stopped
        reader = module.FrameReader(100)
        assert reader.read(bytearray(stream), -1, [], bytearray(), True) == 0 and reader.stopped


def test_what_inflate_raises_reaches_the_caller_after_the_messages_before():
    def inflate(payload, text):
        raise LookupError(bytes(payload))

    stream = frame(0x1, b"first") + frame(0x2, b"bad", rsv=4) + frame(0x1, b"after")
    for module in (compiled(), PY):
        messages: list = []
        with pytest.raises(LookupError, match="bad"):
            module.FrameReader(100, inflate).read(bytearray(stream), -1, messages, bytearray(), True)
        assert messages == ["first"]


def test_writer_compresses_through_its_argument_in_both_twins():
    for module in (compiled(), PY):
        out = bytearray()
        module.write_frame(out, "abc", lambda payload: payload[::-1])
        module.write_frame(out, b"\x01" * 200, lambda payload: payload[:130])
        assert bytes(out) == b"\xc1\x03cba" + b"\xc2\x7e\x00\x82" + b"\x01" * 130


def test_frames_read_are_unmasked_in_place_and_a_refused_one_is_left_masked():
    # The reader unmasks a payload where it lies (the caller drops the bytes read); a
    # text frame it leaves to wsproto for invalid UTF-8 is masked again, as it came.
    good, bad = frame(0x1, "héllo".encode()), frame(0x1, b"\xff\xfe")
    for module in (compiled(), PY):
        stream = bytearray(good + bad)
        reader, messages = module.FrameReader(100), []
        assert reader.read(stream, -1, messages, bytearray(), True) == len(good)
        assert messages == ["héllo"] and reader.stopped
        assert stream[len(good):] == bad and stream[:2] == good[:2] and stream[len(good) - 6 : len(good)] == "héllo".encode()
