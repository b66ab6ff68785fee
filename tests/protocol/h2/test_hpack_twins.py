"""The compiled HPACK twin against the pure one (the ``hpack`` library, normative).

Both twins are tested whatever ``PYRE_NO_EXTENSIONS`` says: the same calls must give
the same bytes, the same header lists (and tuple classes), the same exception
classes and the same dynamic tables, on generated and fuzzed inputs, on RFC 7541's
Appendix C examples, and plugged into a real h2 client/server exchange.
"""

from __future__ import annotations

import h2.events
import hpack
import pytest
from hpack import HeaderTuple, NeverIndexedHeaderTuple
from hpack.exceptions import (
    HPACKDecodingError,
    HPACKError,
    InvalidTableIndex,
    InvalidTableSizeError,
    OversizedHeaderListError,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyre._accel import load_twins
from pyre.protocol.h2 import session as session_module

from .helpers import REQUEST, Client

TWINS = load_twins("hpack")
C, PY = TWINS["c"], TWINS["py"]
pytestmark = pytest.mark.skipif(C is None, reason="the compiled hpack twin is not built")
BOTH = [pytest.param(PY, id="py"), pytest.param(C, id="c")]


def table(coder) -> tuple:
    """(maxsize, current size, entries newest first) of either twin's dynamic table."""
    t = coder.header_table
    size = t.current_size if hasattr(t, "current_size") else t._current_size
    return t.maxsize, size, [tuple(e) for e in t.dynamic_entries]


def outcome(decoder, data, raw=True):
    try:
        headers = decoder.decode(data, raw=raw)
    except HPACKError as exc:
        return type(exc)
    return [(type(h), tuple(h)) for h in headers]


def to_bytes(x) -> bytes:
    return x if type(x) is bytes else str(x).encode("utf-8")


# --------------------------------------------------------------------- interface


def test_same_module_interface_and_the_library_exceptions():
    assert C.__all__ == PY.__all__ == ["Decoder", "Encoder"]
    assert PY.Encoder is hpack.Encoder and PY.Decoder is hpack.Decoder
    # The compiled twin raises the library's own classes, so h2 maps errors as before.
    assert C.HPACKDecodingError is HPACKDecodingError
    assert C.InvalidTableIndex is InvalidTableIndex
    assert C.InvalidTableSizeError is InvalidTableSizeError
    assert C.OversizedHeaderListError is OversizedHeaderListError


def public(obj) -> set:
    return {n for n in dir(obj) if not n.startswith("_")}


def test_instances_offer_what_h2_and_the_library_offer():
    # huffman_coder is the library's internal Huffman object: not part of the twin.
    assert public(PY.Encoder()) - {"huffman_coder"} <= public(C.Encoder())
    assert public(PY.Decoder()) <= public(C.Decoder())
    assert {"encode", "header_table_size"} <= public(C.Encoder())
    assert {"decode", "header_table_size", "max_header_list_size", "max_allowed_table_size"} <= public(C.Decoder())
    for twin in (C, PY):
        d = twin.Decoder(max_header_list_size=123)
        assert d.max_header_list_size == 123 and d.max_allowed_table_size == 4096 == d.header_table_size
        assert twin.Encoder().header_table_size == 4096


# --------------------------------------------------------------------- RFC 7541 Appendix C

C3_HEADERS = [
    [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":authority", b"www.example.com")],
    [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":authority", b"www.example.com"), (b"cache-control", b"no-cache")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/index.html"), (b":authority", b"www.example.com"), (b"custom-key", b"custom-value")],
]
C3 = ["828684410f7777772e6578616d706c652e636f6d", "828684be58086e6f2d6361636865", "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565"]
C4 = ["828684418cf1e3c2e5f23a6ba0ab90f4ff", "828684be5886a8eb10649cbf", "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"]
C5_HEADERS = [
    [(b":status", b"302"), (b"cache-control", b"private"), (b"date", b"Mon, 21 Oct 2013 20:13:21 GMT"), (b"location", b"https://www.example.com")],
    [(b":status", b"307"), (b"cache-control", b"private"), (b"date", b"Mon, 21 Oct 2013 20:13:21 GMT"), (b"location", b"https://www.example.com")],
    [
        (b":status", b"200"),
        (b"cache-control", b"private"),
        (b"date", b"Mon, 21 Oct 2013 20:13:22 GMT"),
        (b"location", b"https://www.example.com"),
        (b"content-encoding", b"gzip"),
        (b"set-cookie", b"foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"),
    ],
]
C5 = [
    "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d54"
    "6e1768747470733a2f2f7777772e6578616d706c652e636f6d",
    "4803333037c1c0bf",
    "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d"
    "4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31",
]
C6 = [
    "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
    "4883640effc1c0bf",
    "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
]
C5_TABLE_AFTER = [  # RFC 7541 C.5.3 / C.6.3: the dynamic table after the third response
    (b"set-cookie", b"foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"),
    (b"content-encoding", b"gzip"),
    (b"date", b"Mon, 21 Oct 2013 20:13:22 GMT"),
]


@pytest.mark.parametrize("twin", BOTH)
@pytest.mark.parametrize(
    "blocks, examples, huffman, size",
    [
        pytest.param(C3_HEADERS, C3, False, 4096, id="C.3"),
        pytest.param(C3_HEADERS, C4, True, 4096, id="C.4"),
        pytest.param(C5_HEADERS, C5, False, 256, id="C.5"),
        pytest.param(C5_HEADERS, C6, True, 256, id="C.6"),
    ],
)
def test_rfc7541_appendix_c(twin, blocks, examples, huffman, size):
    encoder, decoder = twin.Encoder(), twin.Decoder()
    decoder.header_table_size = size
    if size != 4096:
        encoder.header_table_size = size  # announced in the first block: 0x3fe101 is "size 256"
    for i, (headers, example) in enumerate(zip(blocks, examples)):
        expected = bytes.fromhex(example)
        encoded = encoder.encode(headers, huffman=huffman)
        if i == 0 and size != 4096:
            assert encoded[:3] == b"\x3f\xe1\x01"
            encoded = encoded[3:]
        assert encoded == expected
        assert decoder.decode(expected, raw=True) == headers
    if size == 256:
        assert table(encoder)[2] == table(decoder)[2] == C5_TABLE_AFTER
        assert table(decoder)[1] == 215  # RFC: "Table size: 215"
    else:
        assert table(decoder)[1] == 164  # C.3.3 / C.4.3


# --------------------------------------------------------------------- errors


def raises_on_both(exc_class, data, **settings_):
    for twin in (PY, C):
        decoder = twin.Decoder()
        for name, value in settings_.items():
            setattr(decoder, name, value)
        with pytest.raises(exc_class) as info:
            decoder.decode(data, raw=True)
        assert type(info.value) is exc_class, twin


def test_header_list_size_limit():
    block = hpack.Encoder().encode([(b"a", b"x" * 100), (b"b", b"y" * 100)])
    raises_on_both(OversizedHeaderListError, block, max_header_list_size=200)
    for twin in (PY, C):
        d = twin.Decoder(max_header_list_size=266)  # 2 * 32 + 202: exactly at the limit
        assert len(d.decode(block, raw=True)) == 2


def test_table_size_update_rules():
    raises_on_both(InvalidTableSizeError, b"\x3f\xe2\x1f")  # 4097 > max allowed 4096
    raises_on_both(HPACKDecodingError, b"\x82\x3f\xe1\x01")  # update after a field
    raises_on_both(InvalidTableSizeError, b"\x82", max_allowed_table_size=100)  # shrink not applied
    for twin in (PY, C):
        d = twin.Decoder()
        d.max_allowed_table_size = 100
        assert d.decode(b"\x3f\x45\x82", raw=True) == [(b":method", b"GET")]  # 31 + 69 = 100, then a field
        assert d.header_table_size == 100
        assert d.decode(b"\x20\x3f\x45", raw=True) == []  # two updates at the start are fine


@pytest.mark.parametrize(
    "data, exc_class",
    [
        (b"\x80", InvalidTableIndex),  # index 0
        (b"\xbe", InvalidTableIndex),  # 62, empty dynamic table
        (b"\xff", HPACKDecodingError),  # truncated integer
        (b"\xff\x80\x80\x80\x80\x80\x01", HPACKDecodingError),  # integer too long
        (b"\x40", HPACKDecodingError),  # literal without its name length
        (b"\x40\x05ab", HPACKDecodingError),  # truncated name
        (b"\x40\x01a", HPACKDecodingError),  # no value length
        (b"\x41\x05ab", HPACKDecodingError),  # truncated value
        (b"\x7f\x80\x01\x00", InvalidTableIndex),  # literal with a name index past the table
        (b"\x40\x81\xff\x00", HPACKDecodingError),  # Huffman: 8 bits of padding
        (b"\x40\x84\xff\xff\xff\xff\x00", HPACKDecodingError),  # Huffman: EOS in the string
        (b"\x40\x81\x00\x00", HPACKDecodingError),  # Huffman: "0" then padding not all ones
    ],
)
def test_decoding_errors(data, exc_class):
    raises_on_both(exc_class, data)


def test_text_mode_and_invalid_utf8():
    for twin in (PY, C):
        with pytest.raises(HPACKDecodingError):
            twin.Decoder().decode(b"\x00\x01a\x01\xff", raw=False)
        headers = twin.Decoder().decode(b"\x82\x10\x01a\x02\xc3\xa9")
        assert headers == [(":method", "GET"), ("a", "é")]
        assert [type(h) for h in headers] == [HeaderTuple, NeverIndexedHeaderTuple]


def test_inputs_the_library_accepts():
    for twin in (PY, C):
        # memoryview and bytearray blocks, dict headers (pseudo-headers first), 3-tuples.
        expected = [(b":method", b"GET"), (b":scheme", b"http")]
        assert twin.Decoder().decode(memoryview(b"\x82\x86"), raw=True) == expected
        assert twin.Decoder().decode(bytearray(b"\x82\x86"), raw=True) == expected
    headers = {"x-a": "1", ":path": "/", b"x-b": 2}
    assert C.Encoder().encode(headers) == hpack.Encoder().encode(headers)
    triples = [("x-a", "1", True), ("x-a", "1", False), ("x-a", "1", 0), ("x-b", b"", None)]
    assert C.Encoder().encode(triples) == hpack.Encoder().encode(triples)
    assert C.Encoder().add((b"x", b"y"), False) == hpack.Encoder().add((b"x", b"y"), False)


def test_sensitive_fields_are_never_indexed():
    for twin in (PY, C):
        enc = twin.Encoder()
        block = enc.encode([NeverIndexedHeaderTuple(b"x-secret", b"s3cr3t"), (b"cookie", b"a=1", True)])
        assert block[0] == 0x10 and table(enc)[2] == []
        headers = hpack.Decoder().decode(block, raw=True)
        assert [type(h) for h in headers] == [NeverIndexedHeaderTuple, NeverIndexedHeaderTuple]


# --------------------------------------------------------------------- differential (hypothesis)

NAMES = [b":method", b":path", b":status", b":authority", b"content-type", b"authorization", b"cookie",
         b"x-trace", b"accept", b"set-cookie", b"x-a", b"x-b"]
VALUES = [b"", b"GET", b"/", b"200", b"404", b"text/html", b"a=1", b"gzip, deflate", b"x" * 300]

name_st = st.one_of(st.sampled_from(NAMES), st.binary(min_size=0, max_size=12))
value_st = st.one_of(st.sampled_from(VALUES), st.binary(max_size=40), st.binary(min_size=1000, max_size=5000))


@st.composite
def header_st(draw):
    name, value = draw(name_st), draw(value_st)
    shape = draw(st.sampled_from(["tuple", "str", "triple", "header", "never"]))
    if shape == "str":
        return (name.decode("latin-1"), value.decode("latin-1"))
    if shape == "triple":
        return (name, value, draw(st.booleans()))
    if shape == "header":
        return HeaderTuple(name, value)
    if shape == "never":
        return NeverIndexedHeaderTuple(name, value)
    return (name, value)


step_st = st.one_of(
    st.tuples(st.just("block"), st.lists(header_st(), max_size=20), st.booleans()),
    st.tuples(st.just("resize"), st.sampled_from([0, 1, 64, 100, 256, 1000, 4096, 8192])),
)


def sensible(header) -> tuple:
    return to_bytes(header[0]), to_bytes(header[1])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(steps=st.lists(step_st, min_size=1, max_size=12))
def test_encoders_agree_and_decoders_follow(steps):
    enc_py, enc_c = PY.Encoder(), C.Encoder()
    decoders = []
    for twin in (PY, C):
        d = twin.Decoder(max_header_list_size=2**30)
        d.max_allowed_table_size = 2**20
        decoders.append(d)
    for step in steps:
        if step[0] == "resize":
            if step[1] == enc_py.header_table_size:
                continue  # the library's quirk, see test_setting_the_same_table_size_twice
            enc_py.header_table_size = enc_c.header_table_size = step[1]
            assert enc_c.table_size_changes == enc_py.table_size_changes
            continue
        _, headers, huffman = step
        a = enc_py.encode(headers, huffman=huffman)
        b = enc_c.encode(headers, huffman=huffman)
        assert a == b
        assert table(enc_c) == table(enc_py)
        expected = [sensible(h) for h in headers]
        results = [outcome(d, a) for d in decoders]
        assert results[0] == results[1]
        assert [h for _, h in results[0]] == expected
        assert table(decoders[0]) == table(decoders[1]) == table(enc_py)


def test_setting_the_same_table_size_twice():
    """A library quirk both twins keep (byte identity): setting the size it already
    has clears the pending "resized" flag, so the queued update is not sent."""
    blocks = []
    for twin in (PY, C):
        enc = twin.Encoder()
        enc.header_table_size = 100
        enc.header_table_size = 100
        blocks.append(enc.encode([(b"x-a", b"1")]))
        assert enc.table_size_changes == [100]
        enc.header_table_size = 200
        blocks.append(enc.encode([(b"x-a", b"1")]))  # now sends 100 and 200
    assert blocks[:2] == blocks[2:]
    assert blocks[1][:4] == b"\x3f\x45\x3f\xa9"


@st.composite
def fuzzed_block(draw):
    if draw(st.booleans()):
        return draw(st.binary(max_size=60))
    block = bytearray(hpack.Encoder().encode(draw(st.lists(header_st(), max_size=6)), huffman=draw(st.booleans())))
    for _ in range(draw(st.integers(0, 4))):
        if not block:
            break
        i = draw(st.integers(0, len(block) - 1))
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip":
            block[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del block[i:]
        else:
            block[i:i] = draw(st.binary(min_size=1, max_size=4))
    return bytes(block)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    blocks=st.lists(fuzzed_block(), min_size=1, max_size=6),
    max_list=st.sampled_from([100, 1000, 2**16]),
    max_table=st.sampled_from([0, 100, 4096, 70000]),
    raw=st.booleans(),
)
def test_decoders_agree_on_fuzzed_blocks(blocks, max_list, max_table, raw):
    decoders = [PY.Decoder(max_header_list_size=max_list), C.Decoder(max_header_list_size=max_list)]
    for d in decoders:
        d.max_allowed_table_size = max_table
    for block in blocks:
        results = [outcome(d, block, raw) for d in decoders]
        assert results[0] == results[1], block.hex()
        assert table(decoders[0]) == table(decoders[1])


def pairs_outcome(decoder, data):
    try:
        headers = decoder.decode_pairs(data)
    except HPACKError as exc:
        return type(exc)
    assert all(type(h) is tuple for h in headers)
    return [(HeaderTuple, h) for h in headers]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    blocks=st.lists(fuzzed_block(), min_size=1, max_size=6),
    max_list=st.sampled_from([100, 1000, 2**16]),
    max_table=st.sampled_from([0, 100, 4096, 70000]),
)
def test_decode_pairs_is_the_raw_decode_as_plain_tuples(blocks, max_list, max_table):
    """The compiled decoder's ``decode_pairs`` (what the session uses): the library's raw
    decode, fields as plain tuples (never-indexed or not), the same errors and table."""
    decoders = [PY.Decoder(max_header_list_size=max_list), C.Decoder(max_header_list_size=max_list)]
    for d in decoders:
        d.max_allowed_table_size = max_table
    for block in blocks:
        expected = outcome(decoders[0], block)
        if isinstance(expected, list):
            expected = [(HeaderTuple, h) for _, h in expected]
        assert pairs_outcome(decoders[1], block) == expected, block.hex()
        assert table(decoders[0]) == table(decoders[1])


# --------------------------------------------------------------------- in h2


@pytest.mark.parametrize("twin", BOTH)
def test_twin_in_a_real_h2_exchange(twin, monkeypatch):
    """The server session with either twin, against an h2 client with either twin."""
    monkeypatch.setattr(session_module, "HPACKEncoder", twin.Encoder)
    monkeypatch.setattr(session_module, "HPACKDecoder", twin.Decoder)
    client = Client(client_settings={0x1: 256})  # the client asks for a 256-byte table
    assert type(client.session._encoder) is twin.Encoder
    assert type(client.session._decoder) is twin.Decoder
    other = C if twin is PY else PY
    client.conn.encoder, client.conn.decoder = other.Encoder(), other.Decoder()
    client.conn.decoder.max_header_list_size = 2**16
    client.conn.decoder.header_table_size = 256
    client.conn.decoder.max_allowed_table_size = 256
    extra = [(b"user-agent", b"test/1"), (b"x-long", b"v" * 200), (b"authorization", b"secret")]
    for i in range(6):
        sid = client.request(REQUEST + extra + [(b"x-n", str(i).encode())])
        client.exchange()
        request = client.events[-2]
        assert request.path == b"/" and (b"x-n", str(i).encode()) in request.headers
        client.session.send_headers(sid, 200, [(b"content-type", b"text/plain"), (b"x-n", str(i).encode()), (b"set-cookie", b"s" * 300)], False)
        client.session.send_data(sid, b"ok", True)
        client.exchange()
        response = client.client_of(h2.events.ResponseReceived)[-1]
        assert response.headers == [(b":status", b"200"), (b"content-type", b"text/plain"), (b"x-n", str(i).encode()), (b"set-cookie", b"s" * 300)]
    assert client.session._encoder.header_table_size == 256  # the client's SETTINGS_HEADER_TABLE_SIZE
    assert table(client.session._encoder) == table(client.conn.decoder)
    assert table(client.conn.encoder) == table(client.session._decoder)


def test_the_huffman_tables_are_the_generated_ones():
    """pyre/_speedups/hpack_huffman.h is what tools/gen_hpack_huffman.py makes of RFC 7541
    Appendix B (the hpack library's table): edited by hand or stale, this fails."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[3] / "tools" / "gen_hpack_huffman.py"
    result = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@settings(max_examples=100, deadline=None)
@given(changes=st.lists(st.tuples(st.integers(0, 3), st.binary(min_size=1, max_size=40)), min_size=1, max_size=40),
       resize_at=st.integers(0, 60), size=st.sampled_from([0, 64, 128, 4096]))
def test_repeated_responses_encode_as_the_library_does(changes, resize_at, size):
    # A server's responses repeat most fields: the compiled encoder remembers the octets
    # of fields it sent as an index until the dynamic table changes. Every block, as the
    # fields change (a new date each second) and the table is resized or evicts, must be
    # the library's to the octet.
    enc_py, enc_c = PY.Encoder(), C.Encoder()
    fields = [(b":status", b"200"), (b"server", b"pyre"), (b"date", b"Mon, 07 Dec 2026 01:00:00 GMT"),
              (b"content-type", b"text/plain"), (b"content-length", b"13")]
    for step, (which, value) in enumerate(changes * 2):
        if step == resize_at and size != enc_py.header_table_size:
            enc_py.header_table_size = enc_c.header_table_size = size
        for _ in range(2):  # the same block again: every field a remembered index
            assert enc_c.encode(fields) == enc_py.encode(fields)
        fields[1 + which] = (fields[1 + which][0], value)
