"""Hypothesis strategies: valid HTTP/1.1 requests (with what they must parse to),
pipelined sequences, mutated requests, random bytes, split points and limits.

A generated :class:`Message` knows its wire bytes and the :class:`Request`, body
and trailers that a correct parser reports, so valid inputs are checked against
an independent model as well as twin against twin (and h11, in test_vs_h11).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import List, Optional, Tuple

from hypothesis import strategies as st

from pyre.protocol.h1.parsing import END_OF_MESSAGE, Body, EndOfMessage, H1Limits, Request
from tests.helpers import split_at

TCHAR = "!#$%&'*+-.^_`|~" + string.digits + string.ascii_letters
HOST_CHARS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:%"
SCHEME_CHARS = string.ascii_letters + string.digits + "+-."
VCHAR = bytes(range(0x21, 0x7F))
OBS_TEXT = bytes(range(0x80, 0x100))
# quoted-string content (RFC 9110 §5.6.4): qdtext and quoted-pair.
QDTEXT = b"\t !" + bytes(range(0x23, 0x5C)) + bytes(range(0x5D, 0x7F)) + OBS_TEXT
QPAIR = b"\t" + bytes(range(0x20, 0x7F)) + OBS_TEXT

SPECIAL_NAMES = {b"host", b"content-length", b"transfer-encoding", b"connection", b"expect", b"upgrade"}
FORBIDDEN_TRAILERS = frozenset(
    (
        b"content-length", b"transfer-encoding", b"host", b"connection", b"keep-alive",
        b"te", b"trailer", b"upgrade", b"expect", b"proxy-connection", b"content-type",
        b"content-encoding", b"content-range", b"authorization", b"set-cookie", b"cookie",
    )
)
COMMON_NAMES = [
    b"User-Agent", b"Accept", b"Accept-Encoding", b"Accept-Language", b"Content-Type", b"Cookie",
    b"Authorization", b"Cache-Control", b"Referer", b"Origin", b"Pragma", b"If-None-Match",
    b"X-Forwarded-For", b"X-Request-Id", b"Sec-WebSocket-Key", b"Range", b"TE", b"Trailer",
    b"Keep-Alive", b"Content-Encoding", b"Set-Cookie", b"X-Custom-Header-With-A-Rather-Long-Name-Exceeding-Sixty-Four-Bytes-Total",
]
METHODS = [b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"TRACE"]


@dataclass
class Message:
    """One generated request: its bytes and what it must parse to."""

    raw: bytes
    request: Request
    body: bytes
    trailers: Tuple[Tuple[bytes, bytes], ...]  # as Pyre reports them (forbidden ones dropped)
    all_trailers: List[Tuple[bytes, bytes]]  # every trailer field, names lower-cased
    target: bytes
    authority: Optional[bytes]

    def events(self) -> list:
        out: list = [self.request]
        if self.body:
            out.append(Body(self.body))
        out.append(EndOfMessage(self.trailers) if self.trailers else END_OF_MESSAGE)
        return out


# -- building blocks ---------------------------------------------------------------------
# Every strategy is built once, here: hypothesis validates a strategy the first
# time it is drawn from, and rebuilding them inside composites is slow.

def _octets(alphabet: bytes, min_size: int = 0, max_size: int = 12):
    """Strings over ``alphabet`` (repeat octets to weight them): one binary draw,
    mapped, which is much faster to generate than a list of single draws."""
    table = bytes(alphabet[i % len(alphabet)] for i in range(256))
    return st.binary(min_size=min_size, max_size=max_size).map(lambda raw: raw.translate(table))


def _one_in(n: int):
    return st.integers(0, n - 1).map(lambda i: i == 0)


token = _octets(TCHAR.encode(), 1, 10)
_BOOL = st.booleans()
_ONE_IN = {n: _one_in(n) for n in (3, 4, 5, 6, 7)}
_CASE_HOW = st.sampled_from(["as is", "as is", "lower", "upper", "mixed"])
_MASK = st.integers(0, (1 << 24) - 1)
_COMMON = st.sampled_from(COMMON_NAMES)
_OTHER_NAME = token.filter(lambda n: n.lower() not in SPECIAL_NAMES)
# Field values: mostly plain text, with every edge octet Pyre accepts (VCHAR incl.
# quotes, backslashes and colons, obs-text, inner SP and HTAB).
field_value = _octets(b"abcxyzABC0189-_/.=;," * 8 + VCHAR + OBS_TEXT + b" \t" * 12, 0, 24)
ows = st.sampled_from([b"", b"", b" ", b"  ", b"\t", b" \t "])
_HOST_NAME = _octets(HOST_CHARS.encode(), 0, 12)
_PORT = st.sampled_from([b"", b":8080"])
_PATH = _octets(b"abcz09-._~/%" * 6 + VCHAR, 0, 20)
_SCHEME = st.one_of(
    st.sampled_from([b"http", b"https", b"HTTP"]),
    st.builds(lambda a, b: a + b, _octets(string.ascii_letters.encode(), 1, 1), _octets(SCHEME_CHARS.encode(), 0, 5)),
)
_REST = st.sampled_from([b"", b"/", b"/a/b", b"?q=1", b"/x?y", b"/p?", b"#frag", b"/a#b?c"])
_QUOTED_PART = st.one_of(_octets(QDTEXT, 1, 4), st.sampled_from(list(QPAIR)).map(lambda c: b"\\" + bytes([c])))
_QUOTED_PARTS = st.lists(_QUOTED_PART, max_size=4)
_BWS = st.sampled_from([b"", b" ", b"\t"])
_N_EXTS = st.integers(0, 2)
_ZEROS = st.sampled_from([0, 0, 0, 1, 3])
_VERSION = st.sampled_from([b"1.1"] * 6 + [b"1.0"] * 2 + [b"1.2"])
_FORM = st.sampled_from(["origin"] * 6 + ["absolute", "asterisk"])
_METHOD = st.one_of(st.sampled_from(METHODS), token.filter(lambda m: m != b"CONNECT"))
_N_HEADERS = st.integers(0, 6)
_N_TRAILERS = st.integers(0, 3)
_CONNECTION = st.lists(st.sampled_from([b"keep-alive", b"Keep-Alive", b"close", b"CLOSE", b"upgrade", b"Upgrade", b"foo"]), min_size=1, max_size=3)
_LIST_SEP = st.sampled_from([b", ", b",", b" , ", b", ,"])
_UPGRADE = st.sampled_from([b"websocket", b"h2c", b"foo/1.0"])
_EXPECT = st.sampled_from([b"100-continue", b"100-Continue", b"foo"])
_FRAMING_11 = st.sampled_from(["none", "length", "chunked"])
_FRAMING_10 = st.sampled_from(["none", "length"])
_BODY = st.binary(max_size=40)
_CL_ZEROS = st.sampled_from([0, 0, 1, 2])
_TE_LENIENT = st.sampled_from([b",chunked", b"chunked,", b" , chunked", b", ,chunked"])
_CHUNKS = st.lists(st.binary(min_size=1, max_size=20), max_size=4)


def random_case(draw, name: bytes) -> bytes:
    how = draw(_CASE_HOW)
    if how == "lower":
        return name.lower()
    if how == "upper":
        return name.upper()
    if how == "mixed":
        flips = draw(_MASK)
        return bytes(c ^ 0x20 if (flips >> i) & 1 and chr(c).isalpha() else c for i, c in enumerate(name))
    return name


def header_name(draw) -> bytes:
    if draw(_BOOL):
        return random_case(draw, draw(_COMMON))
    return draw(_OTHER_NAME)


def field_line(draw, name: bytes, value: bytes) -> bytes:
    return name + b":" + draw(ows) + value + draw(ows) + b"\r\n"


def host_value(draw) -> bytes:
    if draw(_ONE_IN[6]):
        return b"[::1]" + draw(_PORT)
    return draw(_HOST_NAME)


def absolute_target(draw) -> Tuple[bytes, bytes, bytes, bytes]:
    """(target, authority, path, query) of an absolute-form target."""
    scheme = draw(_SCHEME)
    authority = host_value(draw) or b"h"
    rest = draw(_REST)
    if rest and draw(_BOOL):
        rest += draw(_PATH)  # never right after the authority
    if not rest:
        path, query = b"/", b""
    elif rest[:1] == b"?":
        path, query = b"/", rest[1:]
    else:
        path, _, query = rest.partition(b"?")
    return scheme + b"://" + authority + rest, authority, path, query


def quoted_string(draw) -> bytes:
    return b'"' + b"".join(draw(_QUOTED_PARTS)) + b'"'


def chunk_ext(draw, bws: bool) -> bytes:
    def sp() -> bytes:
        return draw(_BWS) if bws else b""

    out = b""
    for _ in range(draw(_N_EXTS)):
        out += sp() + b";" + sp() + draw(token)
        if draw(_BOOL):
            out += sp() + b"=" + sp() + (draw(token) if draw(_BOOL) else quoted_string(draw))
    if bws and draw(_BOOL):
        out += b" "
    return out


def chunk_size(draw, size: int) -> bytes:
    digits = "%x" % size
    if draw(_BOOL):
        digits = digits.upper()
    return b"0" * draw(_ZEROS) + digits.encode()


# -- one request ----------------------------------------------------------------------------

@st.composite
def message(draw, lenient: bool = True) -> Message:
    """A valid request. ``lenient`` allows forms that h11 rejects although RFC 9112
    allows them (BWS in chunk extensions, empty Transfer-Encoding list members)."""
    version = draw(_VERSION)
    http11 = version != b"1.0"
    form = draw(_FORM)
    authority = None
    if form == "asterisk":
        method = b"OPTIONS"
        target, path, query = b"*", b"*", b""
    else:
        method = draw(_METHOD)
        if form == "origin":
            target = b"/" + draw(_PATH)
            path, _, query = target.partition(b"?")
        else:
            target, authority, path, query = absolute_target(draw)

    entries: List[Tuple[bytes, bytes]] = []
    if http11 or draw(_BOOL):
        entries.append((random_case(draw, b"Host"), host_value(draw)))
    for _ in range(draw(_N_HEADERS)):
        entries.append((header_name(draw), draw(field_value)))

    connection_tokens: List[bytes] = []
    if draw(_ONE_IN[4]):
        connection_tokens = draw(_CONNECTION)
        entries.append((random_case(draw, b"Connection"), draw(_LIST_SEP).join(connection_tokens)))
    upgrade_value = None
    if draw(_ONE_IN[5]):
        upgrade_value = draw(_UPGRADE)
        entries.append((random_case(draw, b"Upgrade"), upgrade_value))
    expect_continue = False
    if draw(_ONE_IN[6]):
        expect = draw(_EXPECT)
        expect_continue = expect.lower() == b"100-continue"
        entries.append((random_case(draw, b"Expect"), expect))

    framing = draw(_FRAMING_11 if http11 else _FRAMING_10)
    body = b""
    content_length = -1
    chunked = False
    trailers: List[Tuple[bytes, bytes]] = []
    wire_body = b""
    if framing == "length":
        body = draw(_BODY)
        content_length = len(body)
        zeros = b"0" * draw(_CL_ZEROS)
        entries.append((random_case(draw, b"Content-Length"), zeros + str(len(body)).encode()))
        wire_body = body
    elif framing == "chunked":
        chunked = True
        te = b"chunked"
        if lenient and draw(_ONE_IN[5]):
            te = draw(_TE_LENIENT)
        entries.append((random_case(draw, b"Transfer-Encoding"), random_case(draw, te)))
        bws = lenient and draw(_ONE_IN[4])
        chunks = draw(_CHUNKS)
        for data in chunks:
            wire_body += chunk_size(draw, len(data)) + chunk_ext(draw, bws) + b"\r\n" + data + b"\r\n"
        body = b"".join(chunks)
        wire_body += chunk_size(draw, 0) + chunk_ext(draw, bws) + b"\r\n"
        for _ in range(draw(_N_TRAILERS)):
            name = header_name(draw)
            value = draw(field_value)
            wire_body += field_line(draw, name, value)
            trailers.append((name.lower(), value.strip(b" \t")))
        wire_body += b"\r\n"

    lines: List[bytes] = []
    headers: List[Tuple[bytes, bytes]] = []  # (lower name, value) in wire order
    for name, value in draw(st.permutations(entries)):
        lines.append(field_line(draw, name, value))
        headers.append((name.lower(), authority if authority is not None and name.lower() == b"host" else value.strip(b" \t")))

    keep_alive = http11
    lowered = [t.lower() for t in connection_tokens]
    if b"close" in lowered:
        keep_alive = False
    elif not http11 and b"keep-alive" in lowered:
        keep_alive = True
    upgrade = upgrade_value if upgrade_value is not None and b"upgrade" in lowered else None
    request = Request(
        method.decode(), path, query, "1.1" if http11 else "1.0", headers, keep_alive,
        expect_continue and http11, chunked, content_length, upgrade,
    )
    raw = method + b" " + target + b" HTTP/" + version + b"\r\n" + b"".join(lines) + b"\r\n" + wire_body
    kept = tuple((n, v) for n, v in trailers if n not in FORBIDDEN_TRAILERS)
    return Message(raw, request, body, kept, trailers, target, authority)


_MESSAGES = {lenient: st.lists(message(lenient=lenient), min_size=1, max_size=3) for lenient in (True, False)}


def draw_pipeline(draw, lenient: bool = True, max_messages: int = 3) -> Tuple[bytes, List[Message]]:
    """One to ``max_messages`` requests in one byte string; the messages a parser
    reports (none after the first that closes the connection)."""
    msgs = draw(_MESSAGES[lenient])[:max_messages]
    raw = b""
    for msg in msgs:
        if lenient and draw(_ONE_IN[7]):
            raw += b"\r\n"  # empty lines before a request line are ignored (RFC 9112 §2.2)
        raw += msg.raw
    expected: List[Message] = []
    for msg in msgs:
        expected.append(msg)
        if not msg.request.keep_alive:
            break
    return raw, expected


@st.composite
def pipeline(draw, lenient: bool = True, max_messages: int = 3) -> Tuple[bytes, List[Message]]:
    return draw_pipeline(draw, lenient, max_messages)


# -- invalid inputs -----------------------------------------------------------------------------

INTERESTING = [
    b"\r", b"\n", b"\r\n", b"\r\n\r\n", b" ", b"\t", b":", b";", b",", b"=", b'"', b"\\", b"\x00",
    b"\x01", b"\x7f", b"\x80", b"\xff", b"0", b"9", b"f", b"?", b"/", b"*", b"#", b"@", b"[",
    b"\r\n ", b"Transfer-Encoding: chunked\r\n", b"Transfer-Encoding: gzip\r\n", b"Content-Length: 3\r\n",
    b"Content-Length: 0\r\n", b"Host: h\r\n", b"Connection: close\r\n", b"Upgrade: x\r\n", b"0\r\n\r\n",
    b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"chunked", b"fffffffffffffffff", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
]
interesting = st.one_of(st.sampled_from(INTERESTING), st.binary(min_size=1, max_size=3))
_N_OPS = st.integers(1, 4)
_OP = st.sampled_from(["flip", "insert", "insert", "delete", "overwrite", "duplicate", "truncate"])
_FRACTION = st.floats(0, 1, exclude_max=True)
_BIT = st.integers(0, 7)
_SHORT = st.integers(1, 4)
_DUP = st.integers(1, 30)
_OVERWRITE = st.sampled_from(list(b"\r\n \t:;,=\"\\\x00\x7f\xffaZ09/?*"))


@st.composite
def mutated(draw, lenient: bool = True) -> bytes:
    """A valid request or pipeline with 1 to 4 random byte flips, insertions,
    deletions, overwrites, duplications or a truncation."""
    raw, _ = draw_pipeline(draw, lenient, 2)
    data = bytearray(raw)
    for _ in range(draw(_N_OPS)):
        op = draw(_OP)
        at = int(draw(_FRACTION) * (len(data) + 1))
        if op == "flip" and data:
            i = min(at, len(data) - 1)
            data[i] ^= 1 << draw(_BIT)
        elif op == "insert":
            data[at:at] = draw(interesting)
        elif op == "delete":
            del data[at : at + draw(_SHORT)]
        elif op == "overwrite" and data:
            i = min(at, len(data) - 1)
            data[i] = draw(_OVERWRITE)
        elif op == "duplicate":
            data[at:at] = data[at : at + draw(_DUP)]
        elif op == "truncate":
            del data[at:]
    return bytes(data)


random_bytes = st.one_of(
    st.binary(max_size=120),
    st.lists(st.sampled_from(INTERESTING + [b"GET ", b"/ ", b"a", b"Host: a"]), max_size=25).map(b"".join),
)


# -- how the bytes arrive and the limits ------------------------------------------------------

_HOW = st.sampled_from(["whole", "bytes", "cuts", "cuts", "cuts"])
_CUTS = st.lists(st.floats(0, 1, exclude_max=True), max_size=8)


def draw_pieces(draw, data: bytes) -> List[bytes]:
    """``data`` cut at random points: whole, byte by byte, or at a few places."""
    how = draw(_HOW)
    if how == "whole" or len(data) < 2:
        return [data]
    if how == "bytes":
        return [data[i : i + 1] for i in range(len(data))]
    points = draw(_CUTS)
    return split_at(data, [1 + int(f * (len(data) - 1)) for f in points])


small_limits = st.builds(
    H1Limits,
    max_request_line=st.sampled_from([1, 8, 14, 16, 20, 30, 64, 8192]),
    max_header_size=st.sampled_from([1, 8, 16, 32, 64, 128, 65536]),
    max_headers=st.sampled_from([1, 2, 3, 5, 100]),
    max_body_size=st.sampled_from([0, 0, 1, 3, 10, 40]),
    max_chunk_extensions=st.sampled_from([1, 4, 10, 32, 4096]),
)
