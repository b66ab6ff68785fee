"""h11 (0.16) as an oracle for both parser twins.

For every input, h11's server-side ``Connection`` and each twin parse the bytes as a
server would: message by message, answering each request and going on with the
next one while the connection stays open. Then:

- every message both accept must agree: method, target (path and query), version,
  headers (names lower-cased; values), body, trailers, keep-alive, and the byte
  where the message ends (a different end would be a request-smuggling gap);
- a message that h11 rejects must be rejected by the twins too, unless one of the
  :data:`H11_STRICTER` cases below applies (Pyre is never more lenient than h11
  except there, each with the RFC text that allows it);
- a message that the twins reject while h11 accepts it must be one of Pyre's
  deliberate strictness differences, :data:`PYRE_STRICTER`;
- a message one side completes while the other still waits for bytes must be one
  of :data:`FRAMING` (the HTTP/2 preface only).

Each listed difference has an example that is checked to really show it, so the
list stays true as either side changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyre.protocol.h1.parsing import H1Limits, H2Preface, ParseError, Request
from tests.differential import strategies as gen
from tests.differential.twins import COMPILED, PURE, assert_twins_agree

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FORBIDDEN_TRAILERS = gen.FORBIDDEN_TRAILERS
TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
HOST_RE = re.compile(rb"[A-Za-z0-9\-._~!$&'()*+,;=:%\[\]]*")
# The chunk-ext grammar of RFC 9112 §7.1.1 (ext-val = token / quoted-string).
QUOTED = rb'"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*"'
CHUNK_EXT_RE = re.compile(rb"(?:[ \t]*;[ \t]*" + TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + TOKEN + rb"|" + QUOTED + rb"))?)*[ \t]*")


@pytest.fixture(autouse=True, scope="module")
def _compiled_twin_built():
    if COMPILED is None:
        pytest.fail("the Cython parser is not built; run: python setup.py build_ext --inplace")


# -- running each side ----------------------------------------------------------------------

@dataclass
class Msg:
    """One complete message as a parser saw it; ``raw`` is data[start:end]."""

    raw: bytes
    end: Optional[int]  # None when the parser dropped what followed (Connection: close)
    method: bytes
    target_path: bytes
    target_query: bytes
    version: str  # "1.0" or "1.1" (Pyre serves 1.x, x >= 1, as 1.1)
    headers: List[Tuple[bytes, bytes]]
    body: bytes
    trailers: List[Tuple[bytes, bytes]]
    keep_alive: Optional[bool]
    framing: bytes = b""  # raw without the body octets: head, chunk lines, trailers
    extra: dict = field(default_factory=dict)


@dataclass
class Run:
    messages: List[Msg]
    tail: str  # "error", "incomplete", "end", "stopped" (by choice), "h2"
    error: Optional[str] = None
    status: Optional[int] = None
    rest: bytes = b""  # the bytes after the last complete message


def split_target(method: bytes, target: bytes) -> Tuple[bytes, bytes]:
    """(path, query) as Pyre reports them (RFC 9112 §3.2 target forms)."""
    if target == b"*":
        return b"*", b""
    if not target.startswith(b"/"):
        m = re.fullmatch(rb"[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*(.*)", target, re.DOTALL)
        rest = m.group(1) if m else target
        if not rest:
            return b"/", b""
        target = b"/" + rest if rest[:1] == b"?" else rest
    path, _, query = target.partition(b"?")
    return path, query


def pyre_framing(raw: bytes, chunked: bool) -> bytes:
    """``raw`` (a message Pyre accepted) without its body octets."""
    i = 0
    while raw.startswith(b"\r\n", i):
        i += 2
    head_end = raw.index(b"\r\n\r\n", i) + 4
    if not chunked:
        return raw[:head_end]
    out, pos = [raw[:head_end]], head_end
    while True:
        line_end = raw.index(b"\r\n", pos) + 2
        out.append(raw[pos:line_end])
        size = int(re.match(rb"[0-9A-Fa-f]+", raw[pos:line_end]).group(), 16)
        pos = line_end
        if size == 0:
            out.append(raw[pos:])
            return b"".join(out)
        pos += size
        out.append(raw[pos : pos + 2])
        pos += 2


def run_pyre(module, data: bytes) -> Run:
    """Feed ``data`` whole, resume after each message (upgrades are declined)."""
    parser = module.RequestParser(H1Limits())
    msgs: List[Msg] = []
    start = 0
    current: Optional[list] = None
    call = lambda: parser.feed(data)  # noqa: E731
    while True:
        try:
            events = call()
        except ParseError as exc:
            return Run(msgs, "error", exc.reason, exc.status, data[start:])
        for event in events:
            if type(event) is Request:
                current = [event, b"", ()]
            elif type(event) is H2Preface:
                return Run(msgs, "h2", rest=data[start:])
            elif type(event).__name__ == "Body":
                current[1] += event.data
            else:  # EndOfMessage
                req, body, _ = current
                end = None if parser.closed else len(data) - parser.buffered
                raw = data[start:end]
                msgs.append(
                    Msg(raw, end, req.method.encode(), req.path, req.query, req.http_version, req.headers, body,
                        list(event.trailers), req.keep_alive, pyre_framing(raw, req.chunked), {"request": req})
                )
                current = None
                if end is None:
                    return Run(msgs, "stopped")
                start = end
        if not events:
            rest = data[start:]
            return Run(msgs, "incomplete" if current is not None or parser.buffered else "end", rest=rest)
        call = parser.resume


def run_h11(data: bytes) -> Run:
    """h11 as a server: answer 200 to each request and go on while it keeps the connection."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 30)
    conn.receive_data(data)
    msgs: List[Msg] = []
    start = 0
    req = None
    body, chunks = b"", []
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            return Run(msgs, "error", str(exc), exc.error_status_hint, data[start:])
        if event is h11.NEED_DATA:
            rest = data[start:]
            return Run(msgs, "incomplete" if req is not None or rest else "end", rest=rest)
        if event is h11.PAUSED or type(event) is h11.ConnectionClosed:
            return Run(msgs, "stopped", rest=data[start:])
        if type(event) is h11.Request:
            req, body, chunks = event, b"", []
        elif type(event) is h11.Data:
            body += bytes(event.data)
            if event.chunk_start or not chunks:
                chunks.append(b"")
            chunks[-1] += bytes(event.data)
        elif type(event) is h11.EndOfMessage:
            end = len(data) - len(conn.trailing_data[0])
            raw = data[start:end]
            version = "1.0" if req.http_version == b"1.0" else "1.1"
            keep_alive = {h11.DONE: True, h11.MUST_CLOSE: False}.get(conn.their_state)
            headers = list(req.headers)
            chunked = any(n == b"transfer-encoding" for n, _ in headers)
            path, query = split_target(req.method, req.target)
            msgs.append(
                Msg(raw, end, bytes(req.method), path, query, version, headers, body,
                    [(n, v) for n, v in event.headers], keep_alive, h11_framing(raw, body, chunks, chunked),
                    {"request": req, "http_version": req.http_version, "target": bytes(req.target)})
            )
            start = end
            req = None
            try:
                conn.send(h11.Response(status_code=200, headers=[(b"content-length", b"0")]))
                conn.send(h11.EndOfMessage())
            except h11.LocalProtocolError:
                return Run(msgs, "stopped", rest=data[start:])
            if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                conn.start_next_cycle()
            else:
                return Run(msgs, "stopped", rest=data[start:])


def h11_framing(raw: bytes, body: bytes, chunks: List[bytes], chunked: bool) -> bytes:
    """``raw`` (a message h11 accepted) without its body octets."""
    m = re.search(rb"\n\r?\n", raw)
    head_end = m.end() if m else len(raw)
    if not chunked:
        return raw[: len(raw) - len(body)] if body else raw
    out, pos = [raw[:head_end]], head_end
    for chunk in chunks:
        line_end = raw.index(b"\r\n", pos) + 2  # h11 reads a chunk header up to CRLF
        out.append(raw[pos:line_end])
        pos = line_end + len(chunk)
        out.append(raw[pos : pos + 2])  # the CRLF after the chunk data
        pos += 2
    out.append(raw[pos:])
    return b"".join(out)


# -- the listed differences ----------------------------------------------------------------------

def _head(framing: bytes) -> bytes:
    """The request line and header section (after any leading empty lines)."""
    i = 0
    while framing.startswith(b"\r\n", i):
        i += 2
    m = re.search(rb"\n\r?\n", framing[i:])
    return framing[: i + m.end()] if m else framing


def _field_lines(section: bytes) -> List[bytes]:
    """Field lines (h11's view: lines split on LF, CR stripped)."""
    return [line.rstrip(b"\r") for line in section.split(b"\n") if re.match(TOKEN + rb":", line)]


def _fields(section: bytes, name: bytes) -> List[bytes]:
    out = []
    for line in _field_lines(section):
        n, _, v = line.partition(b":")
        if n.lower() == name:
            out.append(v.strip(b" \t"))
    return out


def _chunk_structure(msg: Msg) -> Tuple[List[bytes], List[bytes]]:
    """(chunk-size lines, trailer field lines) of a message's framing."""
    lines = re.split(rb"\r?\n", msg.framing[len(_head(msg.framing)) :])
    chunk_lines: List[bytes] = []
    for i, line in enumerate(lines):
        if not line:
            continue  # the CRLF that ended chunk data (the data itself is cut out)
        digits = re.match(rb"[0-9A-Fa-f]+", line)
        if digits is None:
            break
        chunk_lines.append(line)
        if int(digits.group(), 16) == 0:
            return chunk_lines, _field_lines(b"\n".join(lines[i + 1 :]))
    return chunk_lines, []


def _chunk_lines(msg: Msg) -> List[bytes]:
    return _chunk_structure(msg)[0]


def _trailer_lines(msg: Msg) -> List[bytes]:
    return _chunk_structure(msg)[1]


def _over_limits(msg: Msg, status: Optional[int]) -> bool:
    """Pyre's H1Limits (defaults): 413/414/431, or the 4 KiB chunk-extension budget (400)."""
    if status in (413, 414, 431):
        return True
    lines = _chunk_lines(msg)
    ext = sum(len(line) - len(re.match(rb"[0-9A-Fa-f]*", line).group()) for line in lines)
    return ext > 4096 or any(len(line) > 15 + 16 + 4096 for line in lines)


def _valid_target(method: bytes, target: bytes) -> bool:
    if target.startswith(b"/"):
        return True
    if target == b"*":
        return method == b"OPTIONS"
    m = re.fullmatch(rb"[A-Za-z][A-Za-z0-9+.\-]*://([^/?#]*).*", target, re.DOTALL)
    return bool(m and m.group(1) and HOST_RE.fullmatch(m.group(1)))


@dataclass
class Difference:
    name: str
    why: str
    applies: Callable[[Msg, Optional[int]], bool]  # (the message, Pyre's error status)
    example: bytes


# h11 accepts, Pyre rejects: Pyre's deliberate strictness. The predicates look at the
# message as h11 parsed it (and at Pyre's status for the limit case).
PYRE_STRICTER = [
    Difference(
        "bare LF line ending",
        "RFC 9112 §2.2 lets a recipient accept a bare LF as a line terminator (h11 does); Pyre "
        "rejects it: hops that disagree on line endings are a request-smuggling vector.",
        lambda m, s: re.search(rb"(?<!\r)\n", m.framing) is not None,
        b"GET / HTTP/1.1\nHost: a\n\n",
    ),
    Difference(
        "bare CR",
        "RFC 9112 §2.2: a bare CR must be rejected or replaced; h11 lets one through inside a "
        "chunk extension (its chunk-ext is ';.*').",
        lambda m, s: re.search(rb"\r(?!\n)", m.framing) is not None,
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;a\rb\r\nx\r\n0\r\n\r\n",
    ),
    Difference(
        "control character in a field value",
        "RFC 9110 §5.5: field values are VCHAR, obs-text, SP and HTAB; h11 accepts any octet but "
        "NUL and whitespace (e.g. ESC, DEL); Pyre rejects CTLs.",
        lambda m, s: any(re.search(rb"[\x00-\x08\x0a-\x1f\x7f]", v) for _, v in m.headers + m.trailers),
        b"GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[31m\r\n\r\n",
    ),
    Difference(
        "obs-fold",
        "RFC 9112 §5.2: a server must either reject obs-fold with 400 or replace it; h11 unfolds, "
        "Pyre rejects.",
        lambda m, s: re.search(rb"\n[ \t]", m.framing) is not None,
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
    ),
    Difference(
        "repeated or listed Content-Length",
        "RFC 9112 §6.3 lets a recipient accept identical repeated Content-Length values (h11 "
        "merges them); Pyre rejects any repetition or list, a classic smuggling ambiguity.",
        lambda m, s: len(_fields(_head(m.framing), b"content-length")) > 1
        or any(b"," in v for v in _fields(_head(m.framing), b"content-length")),
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
    ),
    Difference(
        "Content-Length over 18 digits",
        "h11 allows 20 digits; Pyre caps Content-Length at 18 digits (no real body is 10^18 "
        "bytes), so the value always fits a signed 64-bit integer.",
        lambda m, s: any(len(v) > 18 for v in _fields(_head(m.framing), b"content-length")),
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000000001\r\n\r\nx",
    ),
    Difference(
        "Content-Length with Transfer-Encoding",
        "RFC 9112 §6.1: such a message may be an attempt at request smuggling and a server MAY "
        "reject it; h11 lets Transfer-Encoding win, Pyre rejects.",
        lambda m, s: bool(_fields(_head(m.framing), b"content-length")) and bool(_fields(_head(m.framing), b"transfer-encoding")),
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    Difference(
        "Transfer-Encoding on HTTP/1.0",
        "RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding must be treated as having "
        "faulty framing; h11 reads it as chunked, Pyre rejects.",
        lambda m, s: bool(_fields(_head(m.framing), b"transfer-encoding")) and m.extra["http_version"] < b"1.1",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    Difference(
        "HTTP version other than 1.x",
        "h11 accepts any HTTP/d.d request line (2.0, 0.9, ...); Pyre answers 505 (RFC 9110 §15.6.6) "
        "to a major version other than 1.",
        lambda m, s: not m.extra["http_version"].startswith(b"1."),
        b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    ),
    Difference(
        "HTTP/1.2+ without Host",
        "Pyre serves HTTP/1.x (x >= 1) as HTTP/1.1 (RFC 9110 §2.5) and so requires Host; h11 "
        "requires Host only for exactly 1.1.",
        lambda m, s: m.extra["http_version"] > b"1.1" and not _fields(_head(m.framing), b"host"),
        b"GET / HTTP/1.2\r\n\r\n",
    ),
    Difference(
        "request-target form",
        "RFC 9112 §3.2: origin-form, absolute-form (with a valid authority and no userinfo), "
        "or '*' for OPTIONS only; h11 accepts any visible-ASCII target.",
        lambda m, s: not _valid_target(m.method, m.extra["target"]),
        b"GET index.html HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    Difference(
        "CONNECT",
        "Pyre does not implement CONNECT (501); h11 treats it as a protocol switch.",
        lambda m, s: m.method == b"CONNECT",
        b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
    ),
    Difference(
        "Host syntax",
        "RFC 9112 §3.2 / RFC 9110 §7.2: Host is uri-host [':' port]; Pyre rejects other characters "
        "(e.g. '@', '/', spaces), h11 accepts any field value.",
        lambda m, s: any(not HOST_RE.fullmatch(v) for v in _fields(_head(m.framing), b"host")),
        b"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n",
    ),
    Difference(
        "chunk-extension syntax",
        "RFC 9112 §7.1.1: chunk-ext = *( BWS ';' BWS ext-name [ BWS '=' BWS ext-val ] ); h11 accepts "
        "anything after ';', Pyre checks the grammar.",
        lambda m, s: any(
            not CHUNK_EXT_RE.fullmatch(re.sub(rb"^[0-9A-Fa-f]+", b"", line)) for line in _chunk_lines(m)
        ),
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;a=\"\r\nx\r\n0\r\n\r\n",
    ),
    Difference(
        "HTTP/2 preface line",
        "'PRI * HTTP/2.0' opens an HTTP/2 connection (RFC 9113 §3.4); Pyre reports it as such "
        "or answers 505, h11 parses it as a request.",
        lambda m, s: m.method == b"PRI" and m.extra["target"] == b"*",
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\nPRI * HTTP/2.0\r\n\r\n",
    ),
    Difference(
        "size limits",
        "Pyre enforces H1Limits (request line, header section, field count, chunk extensions, "
        "body); h11 is run here without its incomplete-event cap.",
        _over_limits,
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
]


# Pyre accepts, h11 rejects. The predicates look at the message as Pyre parsed it.
H11_STRICTER = [
    Difference(
        "empty lines before the request line",
        "RFC 9112 §2.2: a server SHOULD ignore at least one empty line received before the "
        "request-line; h11 rejects them.",
        lambda m, s: m.raw.startswith(b"\r\n"),
        b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    Difference(
        "empty members in the Transfer-Encoding list",
        "RFC 9110 §5.6.1: a recipient MUST accept (and ignore) empty list elements, e.g. "
        "',chunked'; h11 compares the whole value with 'chunked'.",
        lambda m, s: any(b"," in v for v in _fields(_head(m.framing), b"transfer-encoding")),
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n",
    ),
    Difference(
        "whitespace before ';' in a chunk extension",
        "RFC 9112 §7.1.1 allows BWS before ';'; h11 requires ';' right after the chunk size.",
        lambda m, s: any(re.match(rb"[0-9A-Fa-f]+[ \t]+;", line) for line in _chunk_lines(m)),
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1 ;a\r\nx\r\n0\r\n\r\n",
    ),
    Difference(
        "chunk size with more than 20 digits",
        "RFC 9112 §7.1: chunk-size = 1*HEXDIG; Pyre bounds the significant digits (15) and the "
        "line length, h11 caps the digits, leading zeros included, at 20.",
        lambda m, s: any(len(re.match(rb"[0-9A-Fa-f]*", line).group()) > 20 for line in _chunk_lines(m)),
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + b"0" * 20 + b"1\r\nx\r\n0\r\n\r\n",
    ),
    Difference(
        "framing fields in trailers",
        "RFC 9110 §6.5.1: Content-Length and Transfer-Encoding must not be trailers; Pyre drops "
        "them unread, h11 validates them like header fields (and rejects e.g. TE: gzip).",
        lambda m, s: any(
            line.partition(b":")[0].lower() in (b"content-length", b"transfer-encoding") for line in _trailer_lines(m)
        ),
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nTransfer-Encoding: gzip\r\n\r\n",
    ),
]

# One side completes a message while the other waits for more bytes.
FRAMING = [
    Difference(
        "HTTP/2 connection preface",
        "Pyre reads 'PRI * HTTP/2.0' CRLF CRLF 'SM' CRLF CRLF as the HTTP/2 preface (waiting for "
        "all of it); h11 sees a request 'PRI *' without Host.",
        lambda m, s: m.raw.lstrip(b"\r\n").startswith(b"PRI * HTTP/2.0\r\n\r\n"),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ),
]


def explained(differences: List[Difference], msg: Msg, status: Optional[int]) -> List[str]:
    return [d.name for d in differences if d.applies(msg, status)]


# -- the comparison ------------------------------------------------------------------------------

def assert_same_message(p: Msg, h: Msg, data: bytes) -> None:
    where = f"\ninput: {data!r}\npyre: {p!r}\nh11:  {h!r}"
    assert p.method == h.method, where
    assert (p.target_path, p.target_query) == (h.target_path, h.target_query), where
    assert p.version == h.version, where
    expected = list(h.headers)
    target = h.extra["target"]
    if not target.startswith(b"/") and target != b"*":  # absolute-form: the authority wins over Host
        authority = re.match(rb"[^:]*://([^/?#]*)", target).group(1)
        expected = [(n, authority if n == b"host" else v) for n, v in expected]
    fold = lambda hs: [(n, v.lower() if n == b"transfer-encoding" else v) for n, v in hs]  # noqa: E731
    assert fold(p.headers) == fold(expected), where
    assert p.body == h.body, where
    assert p.trailers == [(n, v) for n, v in h.trailers if n not in FORBIDDEN_TRAILERS], where
    if h.keep_alive is not None and h.version == "1.1":
        assert p.keep_alive == h.keep_alive, where
    if p.end is not None and h.end is not None:
        assert p.end == h.end, f"the message ends at a different byte (smuggling gap){where}"


def compare_with_h11(data: bytes) -> List[str]:
    """Compare the twins with h11 on ``data``; return the differences that were used."""
    pyre = run_pyre(COMPILED, data)
    assert pyre == run_pyre(PURE, data)
    oracle = run_h11(data)
    used: List[str] = []
    n = min(len(pyre.messages), len(oracle.messages))
    for i in range(n):
        assert_same_message(pyre.messages[i], oracle.messages[i], data)
        if pyre.messages[i].end is None or oracle.messages[i].end is None:
            return used
    context = f"\ninput: {data!r}\npyre: {pyre!r}\nh11: {oracle!r}"

    def need(differences: List[Difference], msg: Msg, what: str) -> None:
        names = explained(differences, msg, pyre.status)
        assert names, f"{what}, and no listed difference explains it{context}"
        used.extend(names)

    if len(oracle.messages) > n:  # h11 accepted message n, Pyre did not complete it
        msg = oracle.messages[n]
        if pyre.tail == "error":
            need(PYRE_STRICTER, msg, "Pyre rejects a message h11 accepts")
        elif pyre.tail == "h2":
            need(FRAMING + PYRE_STRICTER, msg, "Pyre saw an HTTP/2 preface where h11 saw a request")
        elif pyre.tail in ("incomplete", "end"):
            need(FRAMING, msg, "h11 completed a message Pyre still waits for")
        else:
            raise AssertionError(f"Pyre stopped where h11 went on{context}")
    elif len(pyre.messages) > n:  # Pyre accepted message n, h11 did not complete it
        msg = pyre.messages[n]
        if oracle.tail == "error":
            need(H11_STRICTER, msg, f"Pyre accepts a message h11 rejects ({oracle.error})")
        elif oracle.tail in ("incomplete", "end"):
            need(FRAMING, msg, "Pyre completed a message h11 still waits for")
        # "stopped": h11 closes after HTTP/1.0 (it has no 1.0 keep-alive); Pyre may go on.
    else:  # neither completed message n
        if oracle.tail == "error" and pyre.tail == "end":
            # Pyre consumed (and ignored) bytes that h11 rejects: only empty lines can be that.
            assert re.fullmatch(rb"(\r\n)*", oracle.rest), context
            used.append("empty lines before the request line")
        elif pyre.tail == "h2" and oracle.tail != "error":
            used.append("HTTP/2 connection preface")
        # Otherwise both reject, or one rejects while the other still waits for bytes:
        # Pyre never accepts what h11 rejects here.
    return used


# -- tests ---------------------------------------------------------------------------------------

@st.composite
def _strict_valid(draw):
    return gen.draw_pipeline(draw, lenient=False)


@st.composite
def _lenient_valid(draw):
    return gen.draw_pipeline(draw, lenient=True)


_STRICT = _strict_valid()
_LENIENT = _lenient_valid()
_MUTATED = gen.mutated()
_MUTATED_STRICT = gen.mutated(lenient=False)


@SETTINGS
@given(case=_STRICT)
def test_valid_requests_parse_like_h11(case):
    """Requests in the grammar both accept: identical parses, no difference needed."""
    data, expected = case
    used = compare_with_h11(data)
    assert used == [], f"valid request needed an explanation: {used}\n{data!r}"
    oracle = run_h11(data)
    # h11 closes after an HTTP/1.0 request (it has no 1.0 keep-alive): it must see
    # every message up to that one.
    h11_expected = next((i + 1 for i, m in enumerate(expected) if m.request.http_version == "1.0"), len(expected))
    assert oracle.tail in ("end", "stopped") and len(oracle.messages) >= h11_expected, oracle
    pyre = run_pyre(COMPILED, data)
    assert [m.extra["request"] for m in pyre.messages] == [m.request for m in expected]


@SETTINGS
@given(case=_LENIENT)
def test_valid_requests_with_rfc_forms_h11_rejects(case):
    """RFC 9112 forms h11 does not accept (BWS in chunk-ext, ',chunked', leading CRLF)."""
    data, expected = case
    compare_with_h11(data)
    pyre = run_pyre(COMPILED, data)
    assert [m.extra["request"] for m in pyre.messages] == [m.request for m in expected]


@SETTINGS
@given(data=st.one_of(_MUTATED, _MUTATED_STRICT))
def test_mutated_requests_against_h11(data):
    compare_with_h11(data)


@SETTINGS
@given(data=gen.random_bytes)
def test_random_bytes_against_h11(data):
    compare_with_h11(data)


@pytest.mark.parametrize(
    "difference", PYRE_STRICTER, ids=[d.name for d in PYRE_STRICTER]
)
def test_pyre_stricter_examples(difference):
    """Each listed strictness difference is real: h11 accepts the example, Pyre rejects it."""
    oracle = run_h11(difference.example)
    pyre = run_pyre(COMPILED, difference.example)
    assert pyre == run_pyre(PURE, difference.example)
    assert len(oracle.messages) > len(pyre.messages), (oracle, pyre)
    msg = oracle.messages[len(pyre.messages)]
    assert pyre.tail in ("error", "h2"), pyre
    assert difference.name in explained(PYRE_STRICTER, msg, pyre.status)
    compare_with_h11(difference.example)


@pytest.mark.parametrize("difference", H11_STRICTER, ids=[d.name for d in H11_STRICTER])
def test_h11_stricter_examples(difference):
    """Each listed leniency is real: Pyre accepts the example, h11 rejects it."""
    oracle = run_h11(difference.example)
    pyre = run_pyre(COMPILED, difference.example)
    assert pyre == run_pyre(PURE, difference.example)
    assert oracle.tail == "error" and len(pyre.messages) > len(oracle.messages), (oracle, pyre)
    assert difference.name in explained(H11_STRICTER, pyre.messages[len(oracle.messages)], None)
    assert difference.name in compare_with_h11(difference.example)


def test_h2_preface_example():
    data = FRAMING[0].example
    assert run_pyre(COMPILED, data).tail == "h2"
    # h11 takes 'PRI * HTTP/2.0' for a request (no Host needed for 2.0), then fails on 'SM'.
    assert len(run_h11(data).messages) == 1
    compare_with_h11(data)


@SETTINGS
@given(case=_STRICT, cuts=st.lists(st.floats(0, 1, exclude_max=True), max_size=6))
def test_twins_agree_on_the_oracle_inputs_split(case, cuts):
    data, _ = case
    points = sorted({1 + int(c * (len(data) - 1)) for c in cuts}) if len(data) > 1 else []
    assert_twins_agree([data[a:b] for a, b in zip([0] + points, points + [len(data)])])
