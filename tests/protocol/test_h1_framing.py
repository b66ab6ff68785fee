"""The HTTP/1.1 body writers (sans-IO), in both twins: ``pyre.protocol.h1.framing`` (pure
Python) and ``pyre.protocol.h1._framing_c`` (compiled from it) frame alike, and as RFC 9112
§6 and §7.1 say (checked against h11's reading of a chunked body)."""

from __future__ import annotations

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyre._accel import NO_EXTENSIONS, load_twins
from pyre.protocol.h1.writer import FRAME_CHUNKED, FRAME_CLOSE, FRAME_LENGTH, FRAME_NONE, InvalidResponse

TWINS = load_twins("h1framing")
if TWINS["c"] is None and not NO_EXTENSIONS:
    raise RuntimeError("the compiled body writers are not built; run: python setup.py build_ext --inplace")
MODULES = [m for m in (TWINS["py"], TWINS["c"]) if m is not None]
twins = pytest.mark.parametrize("mod", MODULES, ids=[m.__name__ for m in MODULES])


def test_the_twins_are_what_they_say():
    assert TWINS["py"].__name__ == "pyre.protocol.h1.framing" and not TWINS["py"].COMPILED
    if TWINS["c"] is not None:
        assert TWINS["c"].__name__ == "pyre.protocol.h1._framing_c"
        assert type(TWINS["c"].CHUNKED).__module__ == "pyre.protocol.h1._framing_c"


@twins
def test_writers_by_framing(mod):
    assert mod.WRITERS[FRAME_LENGTH] is mod.LENGTH
    assert mod.WRITERS[FRAME_CHUNKED] is mod.CHUNKED
    assert mod.WRITERS[FRAME_NONE] is mod.NO_BODY
    assert mod.WRITERS[FRAME_CLOSE] is mod.CLOSE


@twins
def test_length_writer_cuts_to_the_content_length(mod):
    assert mod.LENGTH.frame(b"hello", False, 10) == b"hello"
    assert mod.LENGTH.frame(b"hello", True, 5) == b"hello"
    assert mod.LENGTH.frame(b"hello world", False, 5) == b"hello"
    assert mod.LENGTH.frame(b"hello", False, 0) == b""


@twins
def test_no_body_and_close_writers(mod):
    assert mod.NO_BODY.frame(b"hello", True, 5) == b""
    assert mod.CLOSE.frame(b"hello", True, 0) == b"hello"


@twins
def test_chunked_writer(mod):
    w = mod.CHUNKED
    assert w.frame(b"hello", False, 0) == b"5\r\nhello\r\n"
    assert w.frame(b"hello", True, 0) == b"5\r\nhello\r\n0\r\n\r\n"
    assert w.frame(b"", False, 0) == b""
    assert w.frame(b"", True, 0) == b"0\r\n\r\n"
    assert w.frame(b"x" * 4096, False, 0) == b"1000\r\n" + b"x" * 4096 + b"\r\n"
    assert w.frame(b"x" * 255, True, 0)[:4] == b"ff\r\n"
    assert mod.chunk(b"ab") == b"2\r\nab\r\n"


@twins
def test_chunked_end_with_trailers(mod):
    assert mod.CHUNKED.end() == b"0\r\n\r\n"
    assert mod.last_chunk() == b"0\r\n\r\n"
    assert mod.CHUNKED.end([(b"x-sum", b"1")]) == b"0\r\nx-sum: 1\r\n\r\n"
    assert mod.CHUNKED.end([(b"x-a", b"1"), (b"x-b", b"2")]) == b"0\r\nx-a: 1\r\nx-b: 2\r\n\r\n"
    for bad in ([(b"x", b"a\nb")], [(b"x y", b"1")], [("x", b"1")], [(b"x", "1")]):
        with pytest.raises(InvalidResponse):
            mod.CHUNKED.end(bad)


@twins
def test_chunked_file_head_and_tail(mod):
    assert mod.CHUNKED.file_head(0) == b""
    assert mod.CHUNKED.file_head(26) == b"1a\r\n"
    assert mod.CHUNKED.file_tail(26) == b"\r\n0\r\n\r\n"
    assert mod.CHUNKED.file_tail(0) == b"0\r\n\r\n"
    body = mod.CHUNKED.file_head(3) + b"abc" + mod.CHUNKED.file_tail(3)
    assert body == mod.CHUNKED.frame(b"abc", True, 0)


def _h11_body(wire: bytes) -> bytes:
    """The body h11, as a client, reads from a chunked response carrying ``wire``."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
    client.send(h11.EndOfMessage())
    client.receive_data(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + wire)
    body = b""
    while True:
        event = client.next_event()
        if isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return body
        else:
            assert isinstance(event, h11.Response), event


@settings(max_examples=200, deadline=None, database=None)
@given(parts=st.lists(st.binary(max_size=300), max_size=8), trailers=st.booleans())
def test_chunked_bodies_read_back_and_the_twins_agree(parts, trailers):
    for mod in MODULES:
        wire = b"".join(mod.CHUNKED.frame(p, False, 0) for p in parts)
        wire += mod.CHUNKED.end([(b"x-t", b"v")] if trailers else None)
        assert _h11_body(wire) == b"".join(parts)
        last = b"".join(mod.CHUNKED.frame(p, i == len(parts) - 1, 0) for i, p in enumerate(parts))
        if parts:
            assert _h11_body(last) == b"".join(parts)
    outs = {(m.CHUNKED.frame(b"".join(parts), trailers, 0), m.LENGTH.frame(b"".join(parts), False, 7)) for m in MODULES}
    assert len(outs) == 1
