"""The session's fast frame reader against wsproto alone: the same events and bytes.

``WSSession(fast=False)`` reads every frame with wsproto; the default reads common frames
itself and hands anything else to wsproto. Generated client byte streams (valid and
broken frames, fragments, control frames, reserved bits, bad lengths, invalid UTF-8,
unmasked frames), split at random points and read with random message budgets, must
give both the same events, the same bytes out and the same state after every chunk.
"""

from __future__ import annotations

import os
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyre.protocol.ws import CloseReceived, PongReceived, WSSession


def frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0, masked: bool = True,
          mask: bytes = b"\x01\x02\x03\x04", length_form: str = "minimal") -> bytes:
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if masked else 0
    if length_form == "minimal":
        form = "7" if n < 126 else ("16" if n < 65536 else "64")
    else:
        form = length_form
    if form == "7" and n < 126:
        head += bytes([bit | n])
    elif form == "16" and n < 65536:
        head += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", n)
    if masked:
        head += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + payload


_TEXT = st.one_of(st.text(max_size=40).map(lambda t: t.encode()), st.sampled_from([b"\xff", b"\xc3", b"ok\xed\xa0\x80"]))
_BYTES = st.binary(max_size=300)


@st.composite
def frames(draw):
    kind = draw(st.sampled_from(["text", "binary", "text", "binary", "ping", "pong", "close", "fragments",
                                 "continuation", "reserved", "rsv", "unmasked", "long-form", "big", "empty"]))
    mask = draw(st.binary(min_size=4, max_size=4))
    if kind == "text":
        return frame(0x1, draw(_TEXT), mask=mask)
    if kind == "binary":
        return frame(0x2, draw(_BYTES), mask=mask)
    if kind == "ping":
        return frame(0x9, draw(st.binary(max_size=130)), mask=mask)
    if kind == "pong":
        return frame(0xA, draw(st.binary(max_size=20)), mask=mask)
    if kind == "close":
        code = draw(st.sampled_from([1000, 1001, 4000, 999, 1005]))
        return frame(0x8, struct.pack(">H", code) + draw(_TEXT), mask=mask)
    if kind == "fragments":
        opcode = draw(st.sampled_from([0x1, 0x2]))
        parts = draw(st.lists(st.binary(max_size=20), min_size=2, max_size=4))
        out = frame(opcode, parts[0], fin=False, mask=mask)
        for i, part in enumerate(parts[1:]):
            out += frame(0x0, part, fin=i == len(parts) - 2, mask=mask)
        return out
    if kind == "continuation":
        return frame(0x0, draw(_BYTES), mask=mask)
    if kind == "reserved":
        return frame(draw(st.sampled_from([0x3, 0x7, 0xB, 0xF])), b"x", mask=mask)
    if kind == "rsv":
        return frame(0x1, b"x", rsv=draw(st.integers(1, 7)), mask=mask)
    if kind == "unmasked":
        return frame(0x2, b"abc", masked=False)
    if kind == "long-form":
        return frame(0x2, draw(st.binary(max_size=10)), length_form=draw(st.sampled_from(["16", "64"])), mask=mask)
    if kind == "big":
        return frame(0x2, os.urandom(draw(st.sampled_from([126, 1000, 70000]))), mask=mask)
    return frame(0x1, b"", mask=mask)


def normalized(out: bytes):
    """Server frames, with a close frame's reason left out: wsproto words a UTF-8 error
    by its position in the chunk it was decoding, which depends on how bytes arrived."""
    frames_out = []
    while len(out) >= 2:
        n, pos = out[1] & 0x7F, 2
        if n == 126:
            n, pos = struct.unpack(">H", out[2:4])[0], 4
        elif n == 127:
            n, pos = struct.unpack(">Q", out[2:10])[0], 10
        payload = out[pos:pos + n]
        frames_out.append((out[0], payload[:2] if out[0] & 0x0F == 0x8 else payload))
        out = out[pos + n:]
    return frames_out


def snapshot(events):
    out = []
    for e in events:
        if isinstance(e, (str, bytes)):  # a message is its data
            out.append(("message", type(e).__name__, e))
        elif isinstance(e, CloseReceived):
            out.append(("close", e.code, e.local))  # the reason's wording: see normalized()
        elif isinstance(e, PongReceived):
            out.append(("pong", e.payload))
    return out


@settings(max_examples=int(os.environ.get("FASTPATH_EXAMPLES", "300")), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(stream=st.lists(frames(), min_size=1, max_size=12), cuts=st.lists(st.integers(0, 4000), max_size=6),
       budgets=st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=1, max_size=4),
       max_size=st.sampled_from([50, 1000, 100_000]))
def test_fast_reader_matches_wsproto(stream, cuts, budgets, max_size):
    data = b"".join(stream)
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0] + points, points + [len(data)])]
    fast, slow = WSSession(max_size), WSSession(max_size, fast=False)
    for i, chunk in enumerate(chunks + [b"", b"", b""]):
        budget = budgets[i % len(budgets)]
        a = snapshot(fast.receive_data(chunk, budget))
        b = snapshot(slow.receive_data(chunk, budget))
        assert a == b, (i, chunk[:40])
        assert normalized(fast.data_to_send()) == normalized(slow.data_to_send())
        assert fast.closed == slow.closed
    # Everything left, with no budget, then the end of the stream.
    assert snapshot(fast.receive_data(b"")) == snapshot(slow.receive_data(b""))
    assert snapshot(fast.receive_data(None)) == snapshot(slow.receive_data(None))
    assert normalized(fast.data_to_send()) == normalized(slow.data_to_send())
