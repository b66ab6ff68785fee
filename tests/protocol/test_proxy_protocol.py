"""The PROXY protocol header parser (pyre.protocol.proxy_protocol): golden vectors,
strictness, and properties (any split gives the same header; junk only ever raises
ProxyProtocolError; no prefix of a valid header is an error or a result)."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyre.protocol.proxy_protocol import (
    V1_MAX_LENGTH,
    V2_MAX_LENGTH,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyProtocolError,
    parse_proxy_header,
)

SIG = V2_SIGNATURE


def v2(ver_cmd: int, fam: int, block: bytes, length: int = -1) -> bytes:
    return SIG + bytes([ver_cmd, fam]) + struct.pack("!H", len(block) if length < 0 else length) + block


def v2_inet(src: str, dst: str, sport: int, dport: int, tlvs: bytes = b"") -> bytes:
    block = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport) + tlvs
    return v2(0x21, 0x11, block)


def v2_inet6(src: str, dst: str, sport: int, dport: int, tlvs: bytes = b"") -> bytes:
    block = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
             + struct.pack("!HH", sport, dport) + tlvs)
    return v2(0x21, 0x21, block)


def tlv(kind: int, value: bytes) -> bytes:
    return bytes([kind]) + struct.pack("!H", len(value)) + value


def incremental(pieces):
    """Feed like the transport does: everything so far, until a header or an error."""
    buffer = b""
    header = None
    for piece in pieces:
        buffer += piece
        if header is None:
            header = parse_proxy_header(buffer)
    return header, buffer if header is None else buffer[header.consumed:]


# -- golden vectors ---------------------------------------------------------------------------

GOLDEN = [
    pytest.param(b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
                 ProxyHeader(1, "PROXY", "AF_INET", ("192.168.0.1", 56324), ("192.168.0.11", 443), 47), id="v1-tcp4"),
    pytest.param(b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
                 ProxyHeader(1, "PROXY", "AF_INET", ("255.255.255.255", 65535), ("255.255.255.255", 65535), 56),
                 id="v1-tcp4-longest"),
    pytest.param(b"PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n",
                 ProxyHeader(1, "PROXY", "AF_INET", ("0.0.0.0", 0), ("10.0.0.1", 0), 33), id="v1-tcp4-zeros"),
    pytest.param(b"PROXY TCP6 2001:db8::1 2001:DB8:0:0:0:0:0:2 1234 80\r\n",
                 ProxyHeader(1, "PROXY", "AF_INET6", ("2001:db8::1", 1234), ("2001:db8::2", 80), 53), id="v1-tcp6"),
    pytest.param(b"PROXY TCP6 ::ffff:192.0.2.1 :: 1 2\r\n",
                 ProxyHeader(1, "PROXY", "AF_INET6", ("::ffff:192.0.2.1", 1), ("::", 2), 36), id="v1-tcp6-mapped"),
    pytest.param(b"PROXY UNKNOWN\r\n", ProxyHeader(1, "PROXY", "AF_UNSPEC", None, None, 15), id="v1-unknown"),
    pytest.param(b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
                 b" 65535 65535\r\n", ProxyHeader(1, "PROXY", "AF_UNSPEC", None, None, 107), id="v1-unknown-worst"),
    pytest.param(b"PROXY UNKNOWN anything at all, ignored\r\n",
                 ProxyHeader(1, "PROXY", "AF_UNSPEC", None, None, 40), id="v1-unknown-ignored"),
    pytest.param(v2_inet("192.0.2.1", "198.51.100.2", 56324, 443),
                 ProxyHeader(2, "PROXY", "AF_INET", ("192.0.2.1", 56324), ("198.51.100.2", 443), 28), id="v2-tcp4"),
    pytest.param(v2_inet6("2001:db8::1", "2001:db8::ff", 1, 65535),
                 ProxyHeader(2, "PROXY", "AF_INET6", ("2001:db8::1", 1), ("2001:db8::ff", 65535), 52), id="v2-tcp6"),
    pytest.param(v2_inet("10.1.2.3", "10.0.0.1", 5, 6, tlv(0x01, b"h2") + tlv(0x04, b"") + tlv(0xEA, b"vpce-0123")),
                 ProxyHeader(2, "PROXY", "AF_INET", ("10.1.2.3", 5), ("10.0.0.1", 6), 28 + 5 + 3 + 12,
                             ((0x01, b"h2"), (0x04, b""), (0xEA, b"vpce-0123"))), id="v2-tlvs"),
    pytest.param(v2(0x20, 0x00, b""), ProxyHeader(2, "LOCAL", "AF_UNSPEC", None, None, 16), id="v2-local"),
    pytest.param(v2(0x20, 0x11, b"\xff" * 12 + b"\x01"),  # LOCAL: the block is skipped, never parsed
                 ProxyHeader(2, "LOCAL", "AF_UNSPEC", None, None, 29), id="v2-local-with-block"),
    pytest.param(v2(0x20, 0x12, b""), ProxyHeader(2, "LOCAL", "AF_UNSPEC", None, None, 16), id="v2-local-dgram-ignored"),
    pytest.param(v2(0x21, 0x00, b"junk"), ProxyHeader(2, "PROXY", "AF_UNSPEC", None, None, 20), id="v2-proxy-unspec"),
    pytest.param(v2(0x21, 0x31, b"/run/a.sock".ljust(108, b"\0") + b"/run/b.sock".ljust(108, b"\0")),
                 ProxyHeader(2, "PROXY", "AF_UNIX", "/run/a.sock", "/run/b.sock", 232), id="v2-unix"),
    pytest.param(v2(0x21, 0x31, b"\0abstract".ljust(108, b"\0") + b"x" * 108),
                 ProxyHeader(2, "PROXY", "AF_UNIX", "", "x" * 108, 232), id="v2-unix-abstract-and-full"),
]


@pytest.mark.parametrize("data, expected", GOLDEN)
def test_golden(data, expected):
    assert parse_proxy_header(data) == expected
    payload = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    assert parse_proxy_header(data + payload) == expected
    assert parse_proxy_header(bytearray(data + payload)) == expected
    assert parse_proxy_header(memoryview(data + payload)) == expected
    # Every strict prefix is "need more", never an error or a header.
    for k in range(len(data)):
        assert parse_proxy_header(data[:k]) is None, k
    # Byte by byte, as the transport feeds it.
    header, rest = incremental([data[i:i + 1] for i in range(len(data))] + [payload])
    assert header == expected and rest == payload


def test_empty_needs_more():
    assert parse_proxy_header(b"") is None


# -- rejected ---------------------------------------------------------------------------------

V1_BAD = [
    (b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n", "lone LF"),
    (b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\r\n", "CR CR LF"),
    (b"PROXY TCP4 192.168.0.1\r 192.168.0.11 56324 443\r\n", "lone CR"),
    (b"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "double space"),
    (b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "double space between addresses"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "trailing space"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "missing port"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "extra field"),
    (b"PROXY TCP4\r\n", "no addresses"),
    (b"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", "tab"),
    (b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "lower-case keyword"),
    (b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "unknown protocol"),
    (b"PROXY UNKNOWNX\r\n", "keyword with a suffix"),
    (b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "UDP"),
    (b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", "leading zero in an octet"),
    (b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "octet over 255"),
    (b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "three octets"),
    (b"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", "five octets"),
    (b"PROXY TCP4 1.2.3.-4 5.6.7.8 1 2\r\n", "sign"),
    (b"PROXY TCP4 1.2.3.4 ::1 1 2\r\n", "IPv6 in TCP4"),
    (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "IPv4 in TCP6"),
    (b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", "zone id"),
    (b"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", "nine groups"),
    (b"PROXY TCP6 1::2::3 ::1 1 2\r\n", "two double colons"),
    (b"PROXY TCP6 12345::1 ::1 1 2\r\n", "five hex digits"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "port over 65535"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", "leading zero in a port"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n", "zero with a leading zero"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 +80 2\r\n", "sign in a port"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 999999\r\n", "six-digit port"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 \xd9\xa1 2\r\n", "non-ASCII digit"),
    (b"PROXY UNKNOWN \x00\r\n", "NUL in UNKNOWN's ignored part"),
    (b"PROXY UNKNOWN" + b" " * 93 + b"\r\n", "108 bytes"),
    (b"PROXY\r\n", "no protocol"),
    (b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "lower-case PROXY"),
]


@pytest.mark.parametrize("data, why", V1_BAD, ids=[why for _, why in V1_BAD])
def test_v1_rejected(data, why):
    with pytest.raises(ProxyProtocolError):
        parse_proxy_header(data)
    with pytest.raises(ProxyProtocolError):
        incremental([data[i:i + 1] for i in range(len(data))])


def test_v1_without_crlf_in_107_bytes():
    line = b"PROXY UNKNOWN " + b"x" * 200
    assert parse_proxy_header(line[:106]) is None
    with pytest.raises(ProxyProtocolError, match="107"):
        parse_proxy_header(line[:V1_MAX_LENGTH])
    # The CRLF at bytes 106-107 would make a 108-byte header.
    with pytest.raises(ProxyProtocolError):
        parse_proxy_header(line[:106] + b"\r\n")
    assert parse_proxy_header(line[:105] + b"\r\n").consumed == 107


@pytest.mark.parametrize("junk", [
    b"GET / HTTP/1.1\r\n", b"\x16\x03\x01\x02\x00\x01", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"\x00", b" PROXY",
    b"PROXY TCP", b"PROXY TCP4", b"PROXY UNKNOWN",  # valid starts must not be errors: checked below
])
def test_rejected_at_the_first_impossible_byte(junk):
    """An HTTP request, a TLS ClientHello or an h2 preface fail at once, not after 107 bytes."""
    if junk.startswith(b"PROXY"):
        assert parse_proxy_header(junk) is None
        return
    first_bad = next(k for k in range(1, len(junk) + 1)
                     if not (b"PROXY "[:k] == junk[:k] or SIG[:k] == junk[:k]))
    for k in range(first_bad):
        assert parse_proxy_header(junk[:k]) is None
    with pytest.raises(ProxyProtocolError):
        parse_proxy_header(junk[:first_bad])


@pytest.mark.parametrize("first", [b for b in range(256) if b not in (0x50, 0x0D)])
def test_every_other_first_byte_is_an_error(first):
    with pytest.raises(ProxyProtocolError):
        parse_proxy_header(bytes([first]))


def test_v1_keyword_checked_before_the_line_ends():
    with pytest.raises(ProxyProtocolError):
        parse_proxy_header(b"PROXY TCPX")
    with pytest.raises(ProxyProtocolError):
        parse_proxy_header(b"PROXY TCP4X")
    with pytest.raises(ProxyProtocolError):
        parse_proxy_header(b"PROXY TCP4 1.2.3.4\n")  # a lone LF, before the line ends
    assert parse_proxy_header(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r") is None


V2_BAD = [
    (SIG[:11] + b"\x0b", "signature's last byte"),
    (SIG[:4] + b"\x01", "signature's NUL"),
    (SIG + b"\x11\x11\x00\x0c" + b"\x00" * 12, "version 1 in a binary header"),
    (SIG + b"\x31", "version 3"),
    (SIG + b"\x01", "version 0"),
    (SIG + b"\x22", "command 2"),
    (SIG + b"\x2f", "command 15"),
    (SIG + b"\x21\x41", "family 4"),
    (SIG + b"\x21\x13", "protocol 3"),
    (SIG + b"\x20\x41", "family 4 even for LOCAL"),
    (SIG + b"\x21\x12", "UDP over IPv4"),
    (SIG + b"\x21\x22", "UDP over IPv6"),
    (SIG + b"\x21\x32", "UNIX datagram"),
    (SIG + b"\x21\x10", "IPv4 with UNSPEC protocol"),
    (SIG + b"\x21\x01", "UNSPEC family, STREAM"),
    (SIG + b"\x21\x11\x00\x0b", "IPv4 block of 11 bytes"),
    (SIG + b"\x21\x21\x00\x23", "IPv6 block of 35 bytes"),
    (SIG + b"\x21\x31\x00\xd7", "UNIX block of 215 bytes"),
    (v2_inet("1.2.3.4", "5.6.7.8", 1, 2, b"\x04\x00"), "TLV of 2 bytes"),
    (v2_inet("1.2.3.4", "5.6.7.8", 1, 2, b"\x04"), "TLV of 1 byte"),
    (v2_inet("1.2.3.4", "5.6.7.8", 1, 2, b"\x04\x00\x05abcd"), "TLV longer than the header"),
    (v2_inet("1.2.3.4", "5.6.7.8", 1, 2, tlv(1, b"h2") + b"\x01\xff\xff"), "second TLV overruns"),
]


@pytest.mark.parametrize("data, why", V2_BAD, ids=[why for _, why in V2_BAD])
def test_v2_rejected(data, why):
    with pytest.raises(ProxyProtocolError):
        parse_proxy_header(data)
    with pytest.raises(ProxyProtocolError):
        incremental([data[i:i + 1] for i in range(len(data))])


def test_v2_error_as_soon_as_the_fixed_part_is_in():
    """A bad field fails when its byte arrives, not after the announced length."""
    assert parse_proxy_header(SIG + b"\x21\x11\x00") is None
    with pytest.raises(ProxyProtocolError):
        parse_proxy_header(SIG + b"\x21\x11\x00\x0b")  # too short for IPv4, known at 16 bytes


def test_v2_length_limit():
    assert parse_proxy_header(SIG + b"\x21\x11" + struct.pack("!H", V2_MAX_LENGTH)) is None
    with pytest.raises(ProxyProtocolError, match="limit"):
        parse_proxy_header(SIG + b"\x21\x11" + struct.pack("!H", V2_MAX_LENGTH + 1))
    with pytest.raises(ProxyProtocolError, match="limit"):
        parse_proxy_header(SIG + b"\x20\x00\xff\xff")  # LOCAL too: the bytes would be buffered
    big = v2_inet("1.2.3.4", "5.6.7.8", 1, 2, tlv(0xE0, b"x" * (V2_MAX_LENGTH - 12 - 3)))
    assert parse_proxy_header(big).consumed == 16 + V2_MAX_LENGTH
    with pytest.raises(ProxyProtocolError):
        parse_proxy_header(big, max_v2_length=100)


def test_v2_truncated_is_need_more():
    data = v2_inet6("::1", "::2", 3, 4, tlv(2, b"example.com"))
    for k in range(len(data)):
        assert parse_proxy_header(data[:k]) is None


# -- properties -------------------------------------------------------------------------------

octet = st.integers(0, 255)
port = st.integers(0, 65535)
ipv4 = st.tuples(octet, octet, octet, octet).map(lambda t: ".".join(map(str, t)))
ipv6_packed = st.binary(min_size=16, max_size=16)
tlv_list = st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=40)), max_size=4)


@st.composite
def valid_headers(draw):
    """(bytes, expected header) for every kind of valid header."""
    kind = draw(st.sampled_from(["v1-4", "v1-6", "v1-unknown", "v2-4", "v2-6", "v2-unix", "v2-local", "v2-unspec"]))
    if kind == "v1-4":
        src, dst, sp, dp = draw(ipv4), draw(ipv4), draw(port), draw(port)
        data = f"PROXY TCP4 {src} {dst} {sp} {dp}\r\n".encode()
        return data, ProxyHeader(1, "PROXY", "AF_INET", (src, sp), (dst, dp), len(data))
    if kind == "v1-6":
        src, dst = draw(ipv6_packed), draw(ipv6_packed)
        sp, dp = draw(port), draw(port)
        src_text = socket.inet_ntop(socket.AF_INET6, src)
        dst_text = socket.inet_ntop(socket.AF_INET6, dst)
        written = draw(st.sampled_from([str.lower, str.upper]))
        data = f"PROXY TCP6 {written(src_text)} {written(dst_text)} {sp} {dp}\r\n".encode()
        return data, ProxyHeader(1, "PROXY", "AF_INET6", (src_text, sp), (dst_text, dp), len(data))
    if kind == "v1-unknown":
        tail = draw(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=92))
        data = b"PROXY UNKNOWN" + (b" " + tail.encode() if tail else b"") + b"\r\n"
        return data, ProxyHeader(1, "PROXY", "AF_UNSPEC", None, None, len(data))
    tlvs = tuple(draw(tlv_list))
    tlv_bytes = b"".join(tlv(t, v) for t, v in tlvs)
    if kind == "v2-4":
        src, dst, sp, dp = draw(ipv4), draw(ipv4), draw(port), draw(port)
        data = v2_inet(src, dst, sp, dp, tlv_bytes)
        return data, ProxyHeader(2, "PROXY", "AF_INET", (src, sp), (dst, dp), len(data), tlvs)
    if kind == "v2-6":
        src, dst, sp, dp = draw(ipv6_packed), draw(ipv6_packed), draw(port), draw(port)
        block = src + dst + struct.pack("!HH", sp, dp) + tlv_bytes
        data = v2(0x21, 0x21, block)
        expected = ProxyHeader(2, "PROXY", "AF_INET6", (socket.inet_ntop(socket.AF_INET6, src), sp),
                               (socket.inet_ntop(socket.AF_INET6, dst), dp), len(data), tlvs)
        return data, expected
    if kind == "v2-unix":
        path = st.text(st.characters(min_codepoint=1, max_codepoint=0x7F), max_size=107)
        src, dst = draw(path), draw(path)
        block = src.encode().ljust(108, b"\0") + dst.encode().ljust(108, b"\0") + tlv_bytes
        data = v2(0x21, 0x31, block)
        return data, ProxyHeader(2, "PROXY", "AF_UNIX", src, dst, len(data), tlvs)
    block = draw(st.binary(max_size=64))
    if kind == "v2-local":
        fam = draw(st.sampled_from([0x00, 0x01, 0x02, 0x10, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32]))
        data = v2(0x20, fam, block)
        return data, ProxyHeader(2, "LOCAL", "AF_UNSPEC", None, None, len(data))
    data = v2(0x21, 0x00, block)
    return data, ProxyHeader(2, "PROXY", "AF_UNSPEC", None, None, len(data))


@st.composite
def splits(draw, data: bytes):
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_split_gives_the_same_header(data):
    raw, expected = data.draw(valid_headers())
    payload = data.draw(st.binary(max_size=64))
    assert parse_proxy_header(raw + payload) == expected
    header, rest = incremental(data.draw(splits(raw + payload)))
    assert header == expected
    assert rest == payload


@settings(max_examples=150, deadline=None)
@given(valid_headers())
def test_no_strict_prefix_is_a_header_or_an_error(case):
    raw, expected = case
    for k in range(len(raw)):
        assert parse_proxy_header(raw[:k]) is None


def _parse_or_error(data):
    try:
        header = parse_proxy_header(data)
    except ProxyProtocolError:
        return None
    if header is not None:
        assert 0 < header.consumed <= len(data)
        assert header.consumed <= max(V1_MAX_LENGTH, 16 + V2_MAX_LENGTH)
    return header


@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_proxy_protocol_error(data):
    _parse_or_error(data)


@settings(max_examples=600, deadline=None)
@given(st.sampled_from([b"PROXY ", b"PROXY TCP4 ", b"PROXY TCP6 ", b"PROXY UNKNOWN", SIG, SIG + b"\x21",
                        SIG + b"\x21\x11", SIG + b"\x21\x21", SIG + b"\x21\x31", SIG + b"\x20"]),
       st.binary(max_size=300))
def test_random_bytes_after_a_valid_start_only_raise_proxy_protocol_error(start, tail):
    _parse_or_error(start + tail)


@settings(max_examples=300, deadline=None)
@given(valid_headers(), st.data())
def test_corrupted_header_only_raises_proxy_protocol_error(case, data):
    raw, _ = case
    index = data.draw(st.integers(0, len(raw) - 1))
    value = data.draw(st.integers(0, 255))
    corrupted = raw[:index] + bytes([value]) + raw[index + 1:]
    _parse_or_error(corrupted)
    _parse_or_error(corrupted[:data.draw(st.integers(0, len(corrupted)))])


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=100))
def test_v1_text_lines_only_raise_proxy_protocol_error(line):
    _parse_or_error(b"PROXY " + line.encode() + b"\r\n")
