"""Differential tests: the compiled and the pure-Python ``H2Session`` behave identically.

Both twins are driven in lock-step. Client steps are raw bytes built here with
``hpack``/hand-made frame headers (valid and malformed requests, bodies, flow
control, pings, settings, resets, priorities, GOAWAY, unknown and random frames),
fed identically to both, cut at random points; server steps are the calls a
transport makes (heads, bodies, trailers, acknowledgements, resets, GOAWAY, pings).
After every step the twins must have returned the same events (``ConnectionEnded``
compared without its ``reason`` text), the same values or the same exception
types, the same properties, send windows and ``can_send`` for every stream seen,
and queued exactly the same bytes (a mismatch is shown as frames, headers decoded).
"""

from __future__ import annotations

import base64
import random
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
from hpack import Decoder, Encoder
from hyperframe.frame import Frame
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pyre._accel import load_twins
from pyre.protocol.h2 import (
    PREFACE,
    ConnectionEnded,
    DataReceived,
    H2Settings,
    RequestReceived,
    StreamEnded,
    StreamReset,
)

TWINS = load_twins("h2session")
PURE = TWINS["py"]
COMPILED = TWINS["c"]

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    # No "explain" phase: on a failure it costs more than the shrinking itself.
    phases=[phase for phase in Phase if phase is not Phase.explain],
)


@pytest.fixture(autouse=True, scope="module")
def _compiled_twin_built():
    if COMPILED is None:
        pytest.fail(
            "the Cython HTTP/2 session (pyre.protocol.h2._session_c) is not built; "
            "run: python setup.py build_ext --inplace"
        )


# -- frames ----------------------------------------------------------------------------------

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS_FRAME = 0x0, 0x1, 0x2, 0x3, 0x4
PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0x6, 0x7, 0x8, 0x9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
MAX_CHUNK = 16384  # what a server always accepts, whatever it advertised
PATTERN = bytes(range(256)) * 300  # body bytes: 76800, every octet


def frame(ftype: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + (stream_id & 0xFFFFFFFF).to_bytes(4, "big") + payload


def settings_payload(pairs: Sequence[Tuple[int, int]]) -> bytes:
    return b"".join(code.to_bytes(2, "big") + value.to_bytes(4, "big") for code, value in pairs)


def split_frames(data: bytes) -> list:
    """hyperframe frames of ``data``; what cannot be parsed is shown as text."""
    out: list = []
    pos = 0
    while len(data) - pos >= 9:
        length = int.from_bytes(data[pos : pos + 3], "big")
        end = pos + 9 + length
        if end > len(data):
            break
        try:
            parsed, _ = Frame.parse_frame_header(memoryview(data[pos : pos + 9]))
            parsed.parse_body(memoryview(data[pos + 9 : end]))
        except Exception as exc:  # noqa: BLE001 - for display only
            parsed = f"<unparsable frame {data[pos:end][:64].hex()}: {exc!r}>"
        out.append(parsed)
        pos = end
    if pos < len(data):
        out.append(f"<{len(data) - pos} trailing bytes {data[pos:][:64].hex()}>")
    return out


def _headers_decoder(history: bytes) -> Decoder:
    """An HPACK decoder in the state the server's output so far left a client in."""
    decoder = Decoder()
    decoder.max_allowed_table_size = 2**32
    decoder.max_header_list_size = 2**32
    block = b""
    for f in split_frames(history):
        if type(f).__name__ in ("HeadersFrame", "ContinuationFrame"):
            block += f.data
            if "END_HEADERS" in f.flags:
                try:
                    decoder.decode(block, raw=True)
                except Exception:  # noqa: BLE001
                    pass
                block = b""
    return decoder


def show_output(history: bytes, data: bytes) -> str:
    decoder = _headers_decoder(history)
    lines = []
    block = b""
    for f in split_frames(data):
        text = repr(f)
        lines.append("    " + (text if len(text) < 300 else text[:300] + "..."))
        if type(f).__name__ in ("HeadersFrame", "ContinuationFrame"):
            block += f.data
            if "END_HEADERS" in f.flags:
                try:
                    lines.append(f"      headers: {decoder.decode(block, raw=True)!r}")
                except Exception as exc:  # noqa: BLE001
                    lines.append(f"      headers: undecodable ({exc!r})")
                block = b""
    return "\n".join(lines) or "    (nothing)"


# -- running both twins ----------------------------------------------------------------------


def describe_event(event: Any) -> tuple:
    """The class and every field with its type; ConnectionEnded's reason is free text
    (the twins word it differently), so only its type."""
    names = getattr(type(event), "__slots__", None)
    if names is None:  # not one of events.py's classes
        return (type(event), repr(event))
    fields = []
    for name in names:
        value = getattr(event, name)
        if type(event) is ConnectionEnded and name == "reason":
            fields.append((name, type(value).__name__))
        else:
            fields.append((name, type(value).__name__, repr(value)))
    return (type(event), tuple(fields))


def describe_result(value: Any, events: bool) -> tuple:
    if events:
        if type(value) is not list:
            return ("not a list", type(value).__name__, repr(value))
        return ("events", [describe_event(e) for e in value])
    return ("value", type(value).__name__, repr(value))


class Twins:
    """One session of each twin, the same calls on both, everything compared after each."""

    def __init__(self, session_settings: H2Settings) -> None:
        self.settings = session_settings
        self.sessions = {"py": PURE.H2Session(session_settings), "c": COMPILED.H2Session(session_settings)}
        self.now = 1000.0
        self.history = bytearray()  # all output so far (identical on both)
        self.outbox = bytearray()  # output not yet taken by a client (see take())
        self.streams: List[int] = []  # every stream id the twins reported or we asked about
        self.log: List[str] = []

    # ---- comparison

    def fail(self, what: str, detail: str) -> None:
        recent = "\n".join(f"  {line}" for line in self.log[-12:])
        raise AssertionError(f"twins differ {what}\n{detail}\nlast steps:\n{recent}")

    def apply(self, label: str, fn: Callable[[Any], Any], events: bool = False, drain: bool = True) -> Any:
        """Call ``fn(session)`` on both twins; compare results (or exception types) and state."""
        self.log.append(label)
        outcomes = {}
        results = {}
        for name, session in self.sessions.items():
            try:
                results[name] = fn(session)
            except Exception as exc:  # noqa: BLE001 - compared below
                outcomes[name] = ("raised", type(exc))
                results[name] = exc
            else:
                outcomes[name] = describe_result(results[name], events)
        if outcomes["py"] != outcomes["c"]:
            self.fail(f"in the result of {label}", f"  pure:   {outcomes['py']!r}\n  cython: {outcomes['c']!r}")
        if events and outcomes["py"][0] == "raised":
            self.fail(f"in {label}", f"receive_data raised {results['py']!r} on both twins")
        result = results["py"]
        if events and outcomes["py"][0] == "events":
            for event in result:
                sid = getattr(event, "stream_id", None)
                if sid is not None and sid not in self.streams:
                    self.streams.append(sid)
        self.compare_state(label)
        if drain:
            self.drain(label)
        return result

    def state(self, session: Any) -> tuple:
        # The streams seen last (a long exchange sees hundreds; old ones are long closed).
        windows = tuple((sid, repr(session.send_window(sid)), repr(session.can_send(sid))) for sid in self.streams[-24:])
        return (
            repr(session.open_streams),
            repr(session.last_stream_id),
            repr(session.going_away),
            repr(session.closed),
            session.settings == self.settings,
            windows,
        )

    def compare_state(self, label: str) -> None:
        py, c = (self.state(s) for s in self.sessions.values())
        if py != c:
            names = ("open_streams", "last_stream_id", "going_away", "closed", "settings kept", "(stream, send_window, can_send)")
            diff = "\n".join(f"  {n}: pure {a!r} / cython {b!r}" for n, a, b in zip(names, py, c) if a != b)
            self.fail(f"in properties after {label}", diff)

    def drain(self, label: str = "") -> bytes:
        label = label or (f"{self.log[-1]} (output of the steps since the last drain)" if self.log else "the start")
        outs = {name: s.data_to_send() for name, s in self.sessions.items()}
        py, c = outs["py"], outs["c"]
        if type(py) is not bytes or type(c) is not bytes or py != c:
            at = next((i for i, (a, b) in enumerate(zip(py, c)) if a != b), min(len(py), len(c)))
            self.fail(
                f"in data_to_send() after {label} (types {type(py).__name__}/{type(c).__name__}, "
                f"lengths {len(py)}/{len(c)}, first difference at byte {at})",
                f"  pure:\n{show_output(bytes(self.history), bytes(py))}\n  cython:\n{show_output(bytes(self.history), bytes(c))}",
            )
        self.history += py
        self.outbox += py
        return py

    def take(self) -> bytes:
        """Everything the twins queued since the last take (drained after every step)."""
        self.drain()
        out = bytes(self.outbox)
        self.outbox.clear()
        return out

    # ---- the steps

    def receive(self, data: bytes, label: str = "", drain: bool = True) -> list:
        now = self.now
        return self.apply(f"receive_data({label or data[:40]!r}.., {now})", lambda s: s.receive_data(data, now), events=True, drain=drain)

    def call(self, method: str, *args: Any, drain: bool = True) -> Any:
        """``method(*args)`` on both twins; a stream id asked about is watched from then on."""
        text = ", ".join(
            f"<{type(a).__name__} of {len(a)}>" if isinstance(a, (bytes, bytearray, memoryview)) and len(a) >= 20 else repr(a)
            for a in args
        )
        if args and method not in ("close", "ping") and type(args[0]) is int and args[0] not in self.streams:
            self.streams.append(args[0])
        return self.apply(f"{method}({text})", lambda s: getattr(s, method)(*args), drain=drain)

    def read(self, prop: str) -> Any:
        return self.apply(prop, lambda s: getattr(s, prop))


# -- the client model --------------------------------------------------------------------------


class ClientModel:
    """What the generated client knows: stream ids, what is open, what is unacknowledged,
    and how much it may send (it reads the WINDOW_UPDATEs in the twins' output).

    A polite client (``hostile=False``) stays within the receive windows and sends
    nothing on a stream it has none to choose from; a hostile one does not care.
    """

    def __init__(self, settings: H2Settings = H2Settings(), first_stream: int = 1, hostile: bool = False) -> None:
        self.encoder = Encoder()  # one, shared: the same bytes go to both twins
        self.table_size = settings.max_header_table_size  # obeyed once our SETTINGS are acknowledged
        # Our initial stream window is 65535 until the client acknowledges our SETTINGS.
        self.initial_window = min(65535, settings.initial_window_size)
        self.hostile = hostile
        self.next_sid = first_stream
        self.used: List[int] = []  # stream ids the client opened
        self.requests: List[int] = []  # streams the server accepted (RequestReceived)
        self.open: List[int] = []  # accepted streams the client may still send on
        self.unacked: Dict[int, int] = {}
        self.credit: Dict[int, int] = {0: 65535}  # send windows granted to the client
        self.pending = b""  # bytes held back to be sent with the next step's

    def acknowledge_settings(self) -> None:
        # A client acknowledging our SETTINGS keeps its HPACK table within our limit
        # from then on (the encoder announces the new size in its next block).
        if self.encoder.header_table_size > self.table_size:
            self.encoder.header_table_size = self.table_size

    def track(self, events: list) -> None:
        for e in events:
            kind = type(e)
            if kind is RequestReceived:
                self.requests.append(e.stream_id)
                if not e.end_stream:
                    self.open.append(e.stream_id)
            elif kind is DataReceived:
                self.unacked[e.stream_id] = self.unacked.get(e.stream_id, 0) + e.flow_controlled_length
            elif kind in (StreamEnded, StreamReset):
                if e.stream_id in self.open:
                    self.open.remove(e.stream_id)

    def server_output(self, data: bytes) -> None:
        """Read the WINDOW_UPDATEs the server sent."""
        pos = 0
        while len(data) - pos >= 9:
            length = int.from_bytes(data[pos : pos + 3], "big")
            if data[pos + 3] == WINDOW_UPDATE and length == 4:
                sid = int.from_bytes(data[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
                self.credit[sid] = self.credit.get(sid, 0) + (int.from_bytes(data[pos + 9 : pos + 13], "big") & 0x7FFFFFFF)
            pos += 9 + length

    def sendable(self, sid: int, wanted: int) -> int:
        """How much of ``wanted`` flow-controlled bytes to send on ``sid``."""
        if self.hostile:
            return wanted
        return max(0, min(wanted, self.credit.get(sid, 0), self.credit[0]))

    def spend(self, sid: int, n: int) -> None:
        self.credit[sid] = self.credit.get(sid, 0) - n
        self.credit[0] -= n

    def new_stream(self, sid: int) -> None:
        if sid & 1 and sid >= self.next_sid:
            self.next_sid = sid + 2
            self.used.append(sid)
            self.credit[sid] = self.initial_window

    def stream(self, mode: str, pick: int) -> Optional[int]:
        """A stream id to send on (None: a polite client has none)."""

        def choose(seq: List[int]) -> Optional[int]:
            return seq[pick % len(seq)] if seq else None

        if mode == "open":
            sid = choose(self.open) or choose(self.requests)
        elif mode == "known":
            sid = choose(self.requests) or choose(self.used)
        elif mode == "next":
            sid = self.next_sid
        elif mode == "skip":
            sid = self.next_sid + 2 * (1 + pick % 3)
        elif mode == "idle":
            sid = self.next_sid + 2 * (pick % 3)
        elif mode == "even":
            sid = 2 + 2 * (pick % 4)
        elif mode == "zero":
            sid = 0
        else:  # "max"
            sid = 2**31 - 1
        if sid is None and self.hostile:
            return self.next_sid  # idle
        return sid


# -- generation --------------------------------------------------------------------------------


class Step:
    """One step of a scenario: a client frame (or frames) or a server call, decoded."""

    __slots__ = ("kind", "args", "dt", "cuts", "hold")

    def __init__(self, kind: str, args: dict, dt: float = 0.0, cuts: Sequence[int] = (), hold: bool = False) -> None:
        self.kind, self.args, self.dt, self.cuts, self.hold = kind, args, dt, tuple(cuts), hold

    def __repr__(self) -> str:
        extra = "".join([f", dt={self.dt}" if self.dt else "", f", cuts={self.cuts}" if self.cuts else "", ", hold" if self.hold else ""])
        return f"Step({self.kind!r}, {self.args!r}{extra})"


def W(*pairs) -> list:
    """Options weighted by repetition; the first is the default (what shrinking goes to)."""
    return [value for value, weight in pairs for _ in range(weight)]


class Digits:
    """A step's parameters, decoded from one drawn number as mixed-radix digits.

    One draw per step instead of one per parameter keeps generation fast (the same
    idea as ``strategies._octets``), and a zero digit decodes to the first option,
    so shrinking the number towards 0 turns the later parameters into defaults.
    """

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def pick(self, options: Sequence[Any]) -> Any:
        self.n, digit = divmod(self.n, len(options))
        return options[digit]

    def below(self, k: int) -> int:
        self.n, digit = divmod(self.n, k)
        return digit

    def one_in(self, k: int) -> bool:
        return self.below(k) == k - 1


# 256 random bits; hypothesis draws the octets of a binary evenly (large integers it
# draws mostly small, which would leave the later digits at their defaults).
_NUMBER = st.binary(min_size=32, max_size=32).map(lambda raw: int.from_bytes(raw, "little"))
_PAYLOAD = st.binary(max_size=40)

# Scenarios are "polite" (the client breaks only stream-level rules, so connections
# live long and the server steps work on real streams) or "hostile" (anything,
# including what ends the connection: bad ids, bad settings, random frames).

_DT = W((0.0, 2), (0.001, 2), (0.01, 1), (0.1, 1), (1.0, 1), (12.0, 1))
_VALID_SETTINGS = [
    (0x4, 65535), (0x1, 4096), (0x1, 0), (0x1, 100), (0x1, 65536),
    (0x2, 0), (0x2, 1),
    (0x3, 100), (0x3, 0),
    (0x4, 65535), (0x4, 10), (0x4, 1000), (0x4, 0), (0x4, 2**31 - 1),
    (0x5, 16384), (0x5, 20000), (0x5, 16777215),
    (0x6, 65536), (0x6, 100),
    (0x8, 0), (0x8, 1),
    (0x99, 12345),
]
_INVALID_SETTINGS = [(0x2, 2), (0x4, 2**31), (0x5, 100), (0x5, 2**24), (0x8, 2)]
_SETTING = {False: _VALID_SETTINGS, True: _VALID_SETTINGS * 2 + _INVALID_SETTINGS * 2}


def _settings_pairs(d: Digits, hostile: bool) -> list:
    return [d.pick(_SETTING[hostile]) for _ in range(d.below(6))]


_EXTRA_FIELDS = [
    (b"user-agent", b"test/1.0"),
    (b"accept", b"*/*"),
    (b"accept-encoding", b"gzip, br"),
    (b"cookie", b"a=1"),
    (b"cookie", b"b=2"),
    (b"content-type", b"text/plain"),
    (b"te", b"trailers"),
    (b"x-request-id", b"0123456789abcdef"),
    (b"authorization", b"Bearer x"),
    (b"host", b"example.com"),
]
_MALFORM = W(
    (None, 16), ("uppercase", 1), ("missing", 1), ("connection", 1), ("pseudo after regular", 1),
    ("unknown pseudo", 1), ("repeated pseudo", 1), ("bad value", 1), ("empty path", 1),
    ("host mismatch", 1), ("too large", 1), ("protocol", 1),
)
_CONNECTION_FIELDS = [(b"connection", b"keep-alive"), (b"keep-alive", b"5"), (b"transfer-encoding", b"chunked"), (b"te", b"gzip"), (b"upgrade", b"h2c"), (b"proxy-connection", b"x")]
_METHOD = W((b"GET", 5), (b"POST", 4), (b"HEAD", 1), (b"PUT", 1), (b"OPTIONS", 1), (b"CONNECT", 1))
_PATH = [b"/", b"/", b"/a/b?x=1&y=2", b"/search?q", b"/%20"]
_BODY = W((10, 2), (0, 2), (1, 1), (300, 2), (5000, 1), (20000, 1))
_CONTENT_LENGTH = W(("exact", 4), ("none", 3), ("more", 1), ("less", 1), ("invalid", 1))
_REQUEST_SID = {
    False: W(("next", 20), ("skip", 1), ("known", 1)),
    True: W(("next", 10), ("skip", 1), ("known", 2), ("even", 1), ("zero", 1), ("max", 1)),
}
_DATA_SID = {False: W(("open", 10), ("known", 1)), True: W(("open", 10), ("known", 3), ("idle", 1), ("zero", 1), ("even", 1))}


def _request(d: Digits, hostile: bool) -> dict:
    method = d.pick(_METHOD)
    if method == b"CONNECT":
        if d.below(2):
            fields = [(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"https"), (b":path", b"/chat"), (b":authority", b"example.com")]
        else:
            fields = [(b":method", b"CONNECT"), (b":authority", b"example.com:443")]
    else:
        path = b"*" if method == b"OPTIONS" and d.below(2) else d.pick(_PATH)
        fields = [(b":method", method), (b":scheme", d.pick([b"https", b"http"])), (b":path", path)]
        if not d.one_in(5):
            fields.append((b":authority", b"example.com"))
    fields += [d.pick(_EXTRA_FIELDS) for _ in range(d.pick([0, 0, 1, 2, 3, 4]))]
    body = d.pick(_BODY) if method in (b"POST", b"PUT", b"CONNECT") else 0
    if hostile and body and d.one_in(8):
        body = 70000  # more than any initial window
    length = d.pick(_CONTENT_LENGTH)
    if length == "invalid":
        fields.append((b"content-length", b"12a"))
    elif length != "none":
        declared = {"exact": body, "more": body + 1, "less": max(body - 1, 0)}[length]
        fields.append((b"content-length", str(declared).encode()))
    pick = d.below(64)
    malform = d.pick(_MALFORM)
    if malform == "uppercase":
        fields.append((b"X-Upper", b"1"))
    elif malform == "missing":
        fields.pop(pick % min(len(fields), 3))
    elif malform == "connection":
        fields.append(d.pick(_CONNECTION_FIELDS))
    elif malform == "pseudo after regular":
        fields = fields[1:] + [(b"x-a", b"1"), fields[0]]
    elif malform == "unknown pseudo":
        fields.insert(1, (b":foo", b"bar"))
    elif malform == "repeated pseudo":
        fields.insert(1, fields[0])
    elif malform == "bad value":
        fields.append((b"x-bad", d.pick([b" lead", b"a\r\nb", b"nul\x00", b"tail "])))
    elif malform == "empty path":
        fields = [(n, b"" if n == b":path" else v) for n, v in fields]
    elif malform == "host mismatch":
        fields.append((b"host", b"other.example"))
    elif malform == "too large":
        fields.append((b"x-big", b"v" * d.pick([500, 3000, 20000, 70000] if hostile else [500, 3000])))
    elif malform == "protocol":
        fields.insert(1, (b":protocol", b"websocket"))
    args = {
        "fields": fields,
        "body": body,
        "finish": not d.one_in(5),  # END_STREAM on the body's last frame
        "end_stream": not body and not d.one_in(4),
        "sid": d.pick(_REQUEST_SID[hostile]),
        "pick": pick,
    }
    # How the header block is framed: CONTINUATION cuts, padding, PRIORITY, left open.
    if d.one_in(4):
        args["cuts"] = [d.below(2**16) for _ in range(1 + d.below(3))]
    # hyperframe takes padding as long as the rest of a HEADERS payload for too long
    # (an empty first fragment, padded): a connection error, for hostile clients only.
    if d.one_in(6) and (hostile or "cuts" not in args):
        args["pad"] = d.pick([0, 1, 7, 200])
    if d.one_in(6):
        args["priority"] = (d.pick(["other", "zero", "self"] if hostile else ["other", "zero"]), bool(d.below(2)), d.below(256))
    if hostile and d.one_in(20):
        args["unterminated"] = True
    return args


_TRAILERS = W(
    ([(b"x-checksum", b"abc")], 4),
    ([(b"x-a", b"1"), (b"x-b", b"2")], 1),
    ([(b":path", b"/")], 1),
    ([(b"X-Upper", b"1")], 1),
    ([(b"connection", b"close")], 1),
    ([(b"x-bad", b" v")], 1),
)
_DATA_SIZE = {False: W((10, 2), (0, 1), (1, 1), (100, 2), (999, 2), (5000, 1)), True: W((10, 2), (0, 1), (1, 1), (100, 2), (999, 2), (5000, 1), (16384, 1), (16385, 1))}
_INCREMENT = {False: W((65535, 3), (1, 1), (100, 2), (2**20, 1)), True: W((65535, 3), (1, 1), (100, 2), (2**20, 1), (2**31 - 1, 1), (0, 1), (0x80000001, 1))}

_STATUS = W((200, 6), (204, 1), (304, 1), (100, 1), (103, 1), (404, 2), (101, 1), (99, 1))
_RESPONSE_FIELDS = W(
    ((b"content-type", b"text/plain"), 3),
    ((b"Content-Length", b"5"), 1),
    ((b"connection", b"close"), 1),
    ((b"x-padded", b"  v  "), 1),
    ((b"set-cookie", b"a=b; Path=/"), 1),
    ((b"server", b"pyre"), 2),
    ((b"bad name", b"v"), 1),
    ((b"x-crlf", b"a\r\nb"), 1),
)
_SERVER_SID = W(("request", 12), ("unknown", 1))
_SEND_SIZE = W((5, 2), (0, 1), (1, 1), (1000, 2), (16384, 1), (20000, 1), (70000, 1))
_RESPONSE_TRAILERS = W(([(b"x-checksum", b"1")], 3), ([], 1), ([(b"Bad Name", b"v")], 1), ([(b"te", b"trailers")], 1))
_READS = ["send_window", "can_send", "open_streams", "last_stream_id", "going_away", "closed"]


def _args(kind: str, d: Digits, hostile: bool) -> dict:
    """The parameters of a step of ``kind`` (binary payloads are drawn separately)."""
    if kind == "request":
        return _request(d, hostile)
    if kind == "data":
        return {"sid": d.pick(_DATA_SID[hostile]), "pick": d.below(64), "size": d.pick(_DATA_SIZE[hostile]), "end_stream": d.one_in(4), "pad": d.pick(W((None, 6), (0, 1), (5, 1), (255, 1)))}
    if kind == "trailers":
        return {"sid": d.pick(_DATA_SID[hostile]), "pick": d.below(64), "fields": d.pick(_TRAILERS), "end_stream": not d.one_in(6)}
    if kind == "window_update":
        sids = W(("zero", 3), ("known", 3), ("idle", 1)) if hostile else W(("zero", 3), ("known", 3))
        return {"sid": d.pick(sids), "pick": d.below(64), "increment": d.pick(_INCREMENT[hostile])}
    if kind == "rst_stream":
        sids = W(("known", 6), ("open", 3), ("idle", 1), ("zero", 1)) if hostile else W(("known", 6), ("open", 3))
        return {"sid": d.pick(sids), "pick": d.below(64), "code": d.pick([8, 0, 1, 7, 0xDEADBEEF])}
    if kind == "ping":
        return {"ack": bool(d.below(2)), "data": d.pick([b"12345678", b"\x00" * 8, b"pyre-kal"])}
    if kind == "settings":
        return {"pairs": _settings_pairs(d, hostile)}
    if kind == "settings_ack":
        return {}
    if kind == "priority":
        sids = W(("known", 3), ("idle", 2), ("zero", 1)) if hostile else W(("known", 3), ("idle", 2))
        sid = d.pick(sids)
        # A self-dependency or a bad length is a stream error on a known stream (open:
        # reset; closed: RST_STREAM) and a connection error on an idle one.
        risky = hostile or sid == "known"
        depends = ["zero", "other", "self"] if risky else ["zero", "other"]
        args = {"sid": sid, "pick": d.below(64), "depends": d.pick(depends), "exclusive": bool(d.below(2)), "weight": d.below(256)}
        args["length"] = d.pick(W((5, 8), (4, 1), (6, 1))) if risky else 5
        return args
    if kind == "goaway":
        return {"last": d.pick([0, 1, 2**31 - 1]), "code": d.pick([0, 1, 2, 11]), "debug": d.pick([b"", b"bye"])}
    if kind == "unknown":
        return {"type": d.pick([0xA, 0xB, 0xC, 0x10, 0xFA]), "flags": d.below(256), "sid": d.pick(["zero", "known"]), "pick": d.below(64)}
    if kind == "garbage":
        return {"type": d.below(13), "flags": d.below(256), "sid": d.pick([0, 1, 2, 3, 5, 2**31 - 1])}
    if kind == "oversized":
        return {"type": d.pick([0, 1, 6])}
    # server steps
    if kind == "send_headers":
        fields = [d.pick(_RESPONSE_FIELDS) for _ in range(d.below(5))]
        return {"sid": d.pick(_SERVER_SID), "pick": d.below(64), "status": d.pick(_STATUS), "fields": fields, "end_stream": d.one_in(4)}
    if kind == "send_data":
        return {"sid": d.pick(_SERVER_SID), "pick": d.below(64), "size": d.pick(_SEND_SIZE), "end_stream": bool(d.below(2)), "type": d.pick(W(("bytes", 6), ("bytearray", 1), ("memoryview", 1)))}
    if kind == "send_trailers":
        return {"sid": d.pick(_SERVER_SID), "pick": d.below(64), "fields": d.pick(_RESPONSE_TRAILERS)}
    if kind in ("end_stream", "reset_stream", "acknowledge", "read"):
        args = {"sid": d.pick(_SERVER_SID), "pick": d.below(64)}
        if kind == "reset_stream":
            args["code"] = d.pick([None, 0, 1, 2, 8, 0xDEADBEEF])
        elif kind == "acknowledge":
            args["n"] = d.pick(W(("all", 5), ("half", 2), (1, 1), (7, 1), (0, 1), (-5, 1), (10**6, 1)))
        elif kind == "read":
            args["what"] = d.pick(_READS)
        return args
    if kind == "close":
        return {"code": d.pick(W((0, 3), (2, 1), (11, 1))), "last": d.pick(W((None, 3), ("request", 1), (0, 1)))}
    if kind == "ping_out":
        return {"data": d.pick(W((b"12345678", 5), (b"short", 1), (bytearray(b"abcdefgh"), 1)))}
    raise AssertionError(kind)


CLIENT_KINDS = {"request", "data", "trailers", "window_update", "rst_stream", "ping", "settings", "settings_ack", "priority", "goaway", "unknown", "garbage", "oversized"}
_COMMON_KINDS = [
    ("request", 8), ("data", 6), ("trailers", 1), ("window_update", 2), ("rst_stream", 1), ("ping", 1),
    ("settings", 1), ("settings_ack", 2), ("priority", 1), ("unknown", 1),
    ("send_headers", 5), ("send_data", 5), ("send_trailers", 1), ("end_stream", 1), ("acknowledge", 4),
    ("reset_stream", 1), ("close", 1), ("ping_out", 1), ("read", 1),
]
# Hostile only: GOAWAY, and (one step in about 45) random frames and a frame header
# announcing more than any SETTINGS_MAX_FRAME_SIZE we use.
_KINDS = {False: st.sampled_from(W(*_COMMON_KINDS)), True: st.sampled_from(W(*_COMMON_KINDS, ("goaway", 1), ("garbage", 1), ("oversized", 1)))}


@st.composite
def step(draw, hostile: bool) -> Step:
    kind = draw(_KINDS[hostile])
    d = Digits(draw(_NUMBER))
    args = _args(kind, d, hostile)
    if kind in ("unknown", "garbage"):
        args["payload"] = draw(_PAYLOAD)
    dt = d.pick(_DT)
    if kind in CLIENT_KINDS:
        # cut where the bytes are fed; or hold them back to go with the next step's
        cuts = [1 + d.below(400) for _ in range(d.pick([0, 0, 1, 2, 3]))]
        return Step(kind, args, dt, cuts, d.one_in(7))
    return Step(kind, args, dt, (), d.one_in(9))  # hold: data_to_send() not called after it


_STEPS = {hostile: st.lists(step(hostile), min_size=4, max_size=50) for hostile in (False, True)}

_SESSION_SETTINGS = st.builds(
    H2Settings,
    max_concurrent_streams=st.sampled_from(W((100, 3), (3, 1), (1, 1))),
    initial_window_size=st.sampled_from(W((65535, 3), (1000, 1), (1, 1), (2**31 - 1, 1))),
    connection_window_size=st.sampled_from([1048576, 65535, 100000]),
    max_frame_size=st.sampled_from(W((16384, 2), (20000, 1))),
    max_header_list_size=st.sampled_from(W((65536, 3), (400, 1), (3000, 1))),
    enable_connect_protocol=st.booleans(),
    max_rapid_resets=st.sampled_from(W((200, 3), (3, 1))),
    max_control_frames=st.sampled_from(W((1000, 4), (10, 1), (40, 1))),
    flood_window=st.sampled_from([10.0, 1.0]),
    max_header_block_size=st.sampled_from(W((65536, 4), (600, 1))),
    max_continuation_frames=st.sampled_from(W((32, 3), (2, 1), (0, 1))),
    max_header_table_size=st.sampled_from(W((4096, 3), (0, 1), (100, 1))),
)


@st.composite
def scenario(draw) -> dict:
    hostile = draw(st.sampled_from([False, False, True]))
    d = Digits(draw(_NUMBER))
    return {
        "hostile": hostile,
        "settings": draw(_SESSION_SETTINGS),
        "start": d.pick(W(("initiate", 4), ("auto", 2), ("upgrade", 1))),
        # "consumed": frames without the preface, a connection error since every transport passes it on.
        "preface": d.pick(W(("full", 12), ("consumed", 2), ("bad", 1))) if hostile else "full",
        "client_settings": _settings_pairs(d, hostile),
        "upgrade_settings": _settings_pairs(d, False)[:3],
        "ack_early": not d.one_in(4),
        "steps": draw(_STEPS[hostile]),
    }


# -- executing generated steps --------------------------------------------------------------------


def header_block_frames(step: dict, sid: int, block: bytes) -> bytes:
    """HEADERS (+ CONTINUATION) frames carrying ``block`` as ``step`` says."""
    pieces = []
    cuts = sorted({c % (len(block) + 1) for c in step.get("cuts", ())})
    last = 0
    for cut in cuts + [len(block)]:
        part = block[last:cut]
        last = cut
        while len(part) > MAX_CHUNK - 300:
            pieces.append(part[: MAX_CHUNK - 300])
            part = part[MAX_CHUNK - 300 :]
        pieces.append(part)
    flags = END_STREAM if step.get("end_stream") else 0
    prefix = b""
    pad = step.get("pad")
    if pad is not None:
        flags |= PADDED
        prefix = bytes([pad])
    priority = step.get("priority")
    if priority is not None:
        kind, exclusive, weight = priority
        depends = {"other": sid + 2, "self": sid, "zero": 0}[kind]
        flags |= PRIORITY_FLAG
        prefix += ((depends | (0x80000000 if exclusive else 0)) & 0xFFFFFFFF).to_bytes(4, "big") + bytes([weight])
    out = []
    for i, part in enumerate(pieces):
        end_headers = END_HEADERS if i == len(pieces) - 1 else 0
        if i == 0:
            out.append(frame(HEADERS, flags | end_headers, sid, prefix + part + b"\x00" * (pad or 0)))
        else:
            out.append(frame(CONTINUATION, end_headers, sid, part))
    if step.get("unterminated"):
        if len(out) > 1:
            out.pop()
        else:
            out[0] = frame(HEADERS, flags, sid, prefix + pieces[0] + b"\x00" * (pad or 0))
    return b"".join(out)


def data_frame(sid: int, payload: bytes, end_stream: bool, pad: Optional[int] = None) -> bytes:
    flags = END_STREAM if end_stream else 0
    if pad is not None:
        return frame(DATA, flags | PADDED, sid, bytes([pad]) + payload + b"\x00" * pad)
    return frame(DATA, flags, sid, payload)


def client_bytes(step: Step, model: ClientModel) -> bytes:
    """The wire bytes of a client step (the model's HPACK encoder, ids and windows move on)."""
    a = step.args
    kind = step.kind
    if kind in ("request", "data", "trailers", "rst_stream", "priority") or kind in ("window_update", "unknown") and a["sid"] != "zero":
        sid = model.stream(a["sid"], a["pick"])
        if sid is None:
            return b""
    else:
        sid = 0
    if kind == "request":
        model.new_stream(sid)
        out = header_block_frames(a, sid, model.encoder.encode(a["fields"]))
        body = a["body"]
        allowed = model.sendable(sid, body)
        for i in range(0, allowed, MAX_CHUNK):
            chunk = PATTERN[i : min(allowed, i + MAX_CHUNK)]
            out += data_frame(sid, chunk, a["finish"] and allowed == body and i + MAX_CHUNK >= body)
        model.spend(sid, allowed)
        return out
    if kind == "data":
        size, pad = a["size"], a["pad"]
        if pad is not None and model.sendable(sid, size + pad + 1) < size + pad + 1:
            pad = None
        size = model.sendable(sid, size)
        model.spend(sid, size + (0 if pad is None else pad + 1))
        return data_frame(sid, PATTERN[:size], a["end_stream"], pad)
    if kind == "trailers":
        flags = END_HEADERS | (END_STREAM if a["end_stream"] else 0)
        return frame(HEADERS, flags, sid, model.encoder.encode(a["fields"]))
    if kind == "window_update":
        return frame(WINDOW_UPDATE, 0, sid, a["increment"].to_bytes(4, "big"))
    if kind == "rst_stream":
        return frame(RST_STREAM, 0, sid, a["code"].to_bytes(4, "big"))
    if kind == "ping":
        return frame(PING, ACK if a["ack"] else 0, 0, a["data"])
    if kind == "settings":
        return frame(SETTINGS_FRAME, 0, 0, settings_payload(a["pairs"]))
    if kind == "settings_ack":
        model.acknowledge_settings()
        return frame(SETTINGS_FRAME, ACK, 0, b"")
    if kind == "priority":
        depends = {"zero": 0, "self": sid, "other": sid + 2}[a["depends"]]
        payload = ((depends | (0x80000000 if a["exclusive"] else 0)) & 0xFFFFFFFF).to_bytes(4, "big") + bytes([a["weight"]])
        return frame(PRIORITY, 0, sid, (payload + b"\x00")[: a["length"]])
    if kind == "goaway":
        return frame(GOAWAY, 0, 0, a["last"].to_bytes(4, "big") + a["code"].to_bytes(4, "big") + a["debug"])
    if kind == "unknown":
        return frame(a["type"], a["flags"], sid, a["payload"])
    if kind == "garbage":
        return frame(a["type"], a["flags"], a["sid"], a["payload"])
    if kind == "oversized":  # a header announcing more than any SETTINGS_MAX_FRAME_SIZE we use
        return (2**24 - 1).to_bytes(3, "big") + bytes([a["type"], 0]) + (1).to_bytes(4, "big") + b"\x00" * 16
    raise AssertionError(kind)


def server_stream(step: Step, model: ClientModel) -> int:
    if step.args["sid"] == "unknown":
        return model.next_sid + 40
    seq = model.requests or model.used
    return seq[step.args["pick"] % len(seq)] if seq else 1


def run_server_step(step: Step, model: ClientModel, twins: Twins) -> None:
    a = step.args
    kind = step.kind
    drain = not step.hold
    if kind == "close":
        last = a["last"]
        if last == "request":
            last = model.requests[-1] if model.requests else 0
        if last is None:
            twins.call("close", a["code"], drain=drain)
        else:
            twins.call("close", a["code"], last, drain=drain)
        return
    if kind == "ping_out":
        twins.call("ping", a["data"], drain=drain)
        return
    if kind == "read" and a["what"] not in ("send_window", "can_send"):
        twins.read(a["what"])
        return
    sid = server_stream(step, model)
    if kind == "read":
        twins.call(a["what"], sid, drain=drain)
    elif kind == "send_headers":
        twins.call("send_headers", sid, a["status"], list(a["fields"]), a["end_stream"], drain=drain)
    elif kind == "send_data":
        data: Any = PATTERN[: a["size"]]
        if a["type"] == "bytearray":
            data = bytearray(data)
        elif a["type"] == "memoryview":
            data = memoryview(data)
        twins.call("send_data", sid, data, a["end_stream"], drain=drain)
    elif kind == "send_trailers":
        twins.call("send_trailers", sid, list(a["fields"]), drain=drain)
    elif kind == "end_stream":
        twins.call("end_stream", sid, drain=drain)
    elif kind == "acknowledge":
        owed = model.unacked.get(sid, 0)
        n = {"all": owed, "half": owed // 2}.get(a["n"], a["n"])
        twins.call("acknowledge_received", sid, n, drain=drain)
        if type(n) is int and n > 0:
            model.unacked[sid] = max(0, owed - n)
    elif kind == "reset_stream":
        if a["code"] is None:
            twins.call("reset_stream", sid, drain=drain)
        else:
            twins.call("reset_stream", sid, a["code"], drain=drain)
    else:
        raise AssertionError(kind)


def feed(twins: Twins, model: ClientModel, data: bytes, cuts: Sequence[int] = (), label: str = "") -> None:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    last = 0
    for cut in points + [len(data)]:
        piece = data[last:cut]
        last = cut
        model.track(twins.receive(piece, label))
        sync(twins, model)


def sync(twins: Twins, model: ClientModel) -> None:
    """The client reads what the twins sent (the same bytes from both)."""
    model.server_output(bytes(twins.outbox))
    twins.outbox.clear()


def run_scenario(case: dict) -> Twins:
    twins = Twins(case["settings"])
    model = ClientModel(case["settings"], hostile=case["hostile"])
    start = case["start"]
    if start == "initiate":
        twins.call("initiate")
    elif start == "upgrade":
        value = base64.urlsafe_b64encode(settings_payload(case["upgrade_settings"])).rstrip(b"=")
        twins.call("initiate_upgrade", value)
        model.requests.append(1)
        model.used.append(1)
        model.next_sid = 3
        twins.streams.append(1)
    opening = frame(SETTINGS_FRAME, 0, 0, settings_payload(case["client_settings"]))
    if case["ack_early"]:
        opening += frame(SETTINGS_FRAME, ACK, 0)
        model.acknowledge_settings()
    preface = {"full": PREFACE, "consumed": b"", "bad": PREFACE[:10] + b"X" + PREFACE[11:]}[case["preface"]]
    feed(twins, model, preface + opening, label="preface + SETTINGS")
    for step in case["steps"]:
        twins.now += step.dt
        if step.kind not in CLIENT_KINDS:
            if model.pending:  # held client bytes arrive before the server acts
                data, model.pending = model.pending, b""
                feed(twins, model, data, label="held bytes")
            run_server_step(step, model, twins)
            sync(twins, model)
            continue
        data = model.pending + client_bytes(step, model)
        model.pending = b""
        if step.hold:
            model.pending = data
            continue
        feed(twins, model, data, step.cuts, label=f"{step.kind} {step.args!r}"[:200])
    if model.pending:
        feed(twins, model, model.pending, label="held bytes")
    twins.drain("the end")
    return twins


@SETTINGS
@given(case=scenario())
def test_generated_exchanges(case):
    run_scenario(case)


@SETTINGS
@given(case=scenario(), more=st.lists(st.tuples(st.sampled_from(_METHOD), st.sampled_from(_BODY), st.booleans()), min_size=3, max_size=12))
def test_generated_exchanges_with_many_requests(case, more):
    """The same, after a burst of valid requests the steps can then work on."""
    burst = []
    for method, body, finish in more:
        if method == b"CONNECT":
            method = b"POST"
        fields = [(b":method", method), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"example.com")]
        burst.append(Step("request", {"fields": fields, "body": min(body, 5000), "finish": finish, "end_stream": not body, "sid": "next", "pick": 0}))
    case = dict(case, preface="full", steps=[Step("settings_ack", {})] + burst + case["steps"])
    run_scenario(case)


# -- plain tests ---------------------------------------------------------------------------------


def _upgrade_value(pairs, padding: bool = False) -> bytes:
    value = base64.urlsafe_b64encode(settings_payload(pairs))
    return value if padding else value.rstrip(b"=")


@pytest.mark.parametrize(
    "value",
    [
        b"",
        _upgrade_value([(0x4, 1000), (0x3, 10)]),
        _upgrade_value([(0x5, 16777215), (0x1, 0), (0x2, 0)], padding=True),
        _upgrade_value([(0x4, 0), (0x6, 100), (0x8, 1), (0x99, 7)]),
        b"  " + _upgrade_value([(0x4, 2**31 - 1)]) + b" ",
    ],
)
def test_upgrade_with_valid_settings(value):
    twins = Twins(H2Settings(initial_window_size=2000))
    model = ClientModel(twins.settings, first_stream=3)
    model.requests.append(1)
    twins.streams.append(1)
    assert twins.call("initiate_upgrade", value) is None
    assert type(twins.call("initiate_upgrade", value)) is RuntimeError  # on both: compared
    twins.call("send_headers", 1, 200, [(b"content-type", b"text/plain")], False)
    twins.call("send_data", 1, PATTERN[:3000], False)
    feed(twins, model, PREFACE + frame(SETTINGS_FRAME, 0, 0, settings_payload([(0x4, 100000)])) + frame(SETTINGS_FRAME, ACK, 0))
    twins.call("send_data", 1, PATTERN[:70000], False)
    feed(twins, model, frame(WINDOW_UPDATE, 0, 0, (2**20).to_bytes(4, "big")) + frame(WINDOW_UPDATE, 0, 1, (5000).to_bytes(4, "big")))
    twins.call("send_data", 1, PATTERN[:70000], True)
    feed(twins, model, header_block_frames({"end_stream": True}, 3, model.encoder.encode([(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":authority", b"h")])))
    assert model.requests == [1, 3]
    twins.call("send_headers", 3, 204, [], True)
    twins.call("close", 0)
    feed(twins, model, frame(PING, 0, 0, b"12345678"))


@pytest.mark.parametrize(
    "value",
    [
        b"!!!!",
        b"AAAAA",
        b"AAAA",
        b"AAAAAA=A",
        _upgrade_value([(0x4, 1000)])[:-1],
        _upgrade_value([(0x2, 5)]),
        _upgrade_value([(0x4, 2**31)]),
        _upgrade_value([(0x5, 100)]),
        _upgrade_value([(0x5, 2**24)]),
        _upgrade_value([(0x8, 2)]),
        base64.standard_b64encode(b"\xff\xff\xff\xff\xff\xfe"),
    ],
)
def test_upgrade_with_invalid_settings(value):
    twins = Twins(H2Settings())
    assert type(twins.call("initiate_upgrade", value)) is ValueError  # on both: compared
    # The session is still usable as a plain one.
    twins.call("initiate")
    assert type(twins.call("initiate_upgrade", _upgrade_value([]))) is RuntimeError
    model = ClientModel()
    feed(twins, model, PREFACE + frame(SETTINGS_FRAME, 0, 0))
    feed(twins, model, header_block_frames({"end_stream": True}, 1, model.encoder.encode([(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":authority", b"h")])))
    assert model.requests == [1]


def _client() -> h2.connection.H2Connection:
    config = h2.config.H2Configuration(client_side=True, header_encoding=None)
    conn = h2.connection.H2Connection(config)
    conn.local_settings = h2.settings.Settings(client=True, initial_values={0x4: 3000, 0x1: 256})
    conn.initiate_connection()
    return conn


def test_long_exchange_through_small_windows():
    """200 requests with bodies, small windows both ways, an h2 client on the (identical) output."""
    rng = random.Random(20240601)
    twins = Twins(H2Settings(initial_window_size=1500, connection_window_size=65535, max_concurrent_streams=8, max_frame_size=16384))
    client = _client()
    total = 200
    started = 0
    bodies: Dict[int, Tuple[bytes, bool]] = {}  # request body still to send, trailers?
    responses: Dict[int, Tuple[bytes, bool]] = {}  # response body still to send, trailers?
    received: Dict[int, bytes] = {}  # response bodies
    expected: Dict[int, bytes] = {}
    done: List[int] = []
    pending_acks: List[Tuple[int, int]] = []  # body bytes the application has not read yet
    client_acks: List[Tuple[int, int]] = []  # response bytes the client has not read yet

    def exchange() -> None:
        for _ in range(200):
            out = client.data_to_send()
            if not out:
                return
            twins.now += 0.001
            for event in twins.receive(out, "client bytes", drain=False):
                on_server_event(event)
            back = twins.take()
            if back:
                for event in client.receive_data(back):
                    on_client_event(event)
        raise AssertionError("no quiet point")

    def on_server_event(event) -> None:
        kind = type(event)
        assert kind not in (ConnectionEnded, StreamReset), event
        if kind is DataReceived:
            # The application reads at its own pace: acknowledge now, in part, or later.
            n = event.flow_controlled_length
            part = rng.choice([n, n, rng.randint(0, n), 0])
            if part:
                twins.call("acknowledge_received", event.stream_id, part, drain=False)
            if n - part:
                pending_acks.append((event.stream_id, n - part))
        elif kind is StreamEnded:
            sid = event.stream_id
            size = rng.choice([0, 10, 2000, 5000, 40000])
            trailers = rng.random() < 0.2
            status = 204 if size == 0 and not trailers else 200
            fields = [(b"content-type", b"application/octet-stream"), (b"x-stream", str(sid).encode())]
            twins.call("send_headers", sid, status, fields, status == 204, drain=False)
            if status != 204:
                body = expected[sid] = PATTERN[sid % 7 : sid % 7 + size]
                responses[sid] = (body, trailers)
                pump(sid)

    def pump(sid: int) -> None:
        body, trailers = responses[sid]
        if body:
            if twins.call("send_window", sid, drain=False) == 0:
                return
            n = min(len(body), rng.choice([len(body), 1000, 7000]))  # may be more than the window
            sent = twins.call("send_data", sid, body[:n], n == len(body) and not trailers, drain=False)
            body = body[sent:]
            responses[sid] = (body, trailers)
        if not body:
            if trailers:
                twins.call("send_trailers", sid, [(b"x-checksum", b"ok")], drain=False)
            elif twins.call("can_send", sid, drain=False):
                twins.call("end_stream", sid, drain=False)
            del responses[sid]

    def on_client_event(event) -> None:
        if isinstance(event, h2.events.DataReceived):
            received[event.stream_id] = received.get(event.stream_id, b"") + event.data
            if rng.random() < 0.6:
                client.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            else:  # the client reads later
                client_acks.append((event.stream_id, event.flow_controlled_length))
        elif isinstance(event, h2.events.StreamEnded):
            done.append(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            raise AssertionError(event)

    exchange()
    for _ in range(5000):
        if len(done) == total:
            break
        # New requests up to 6 in flight.
        while started < total and started - len(done) < 6:
            sid = client.get_next_available_stream_id()
            size = rng.choice([0, 0, 99, 1500, 4001, 20000])
            method = b"POST" if size else b"GET"
            headers = [(b":method", method), (b":scheme", b"https"), (b":path", b"/r/%d" % started), (b":authority", b"example.com")]
            if size and rng.random() < 0.5:
                headers.append((b"content-length", str(size).encode()))
            client.send_headers(sid, headers, end_stream=not size)
            if size:
                bodies[sid] = (PATTERN[:size], rng.random() < 0.2)
            started += 1
        # Request bodies as far as the server's windows allow, sometimes padded, some
        # ended by trailers.
        for sid in list(bodies):
            body, trailers = bodies[sid]
            window = client.local_flow_control_window(sid)
            pad = rng.choice([None, None, None, 0, 9])
            if pad is not None and window > pad + 1 + len(body) // 2:
                window -= pad + 1
            else:
                pad = None
            n = min(len(body), window, client.max_outbound_frame_size - 256)
            if n or pad is not None:
                end = n == len(body) and not trailers
                if pad is None:
                    client.send_data(sid, body[:n], end_stream=end)
                else:
                    client.send_data(sid, body[:n], end_stream=end, pad_length=pad)
                body = body[n:]
            if body:
                bodies[sid] = (body, trailers)
            else:
                if trailers:
                    client.send_headers(sid, [(b"x-checksum", b"%d" % sid)], end_stream=True)
                del bodies[sid]
        exchange()
        # Late acknowledgements, responses waiting for window.
        while pending_acks:
            sid, n = pending_acks.pop(0)
            twins.call("acknowledge_received", sid, n, drain=False)
        while client_acks:
            sid, n = client_acks.pop(0)
            client.acknowledge_received_data(n, sid)  # (h2: the connection window only, once closed)
        for sid in list(responses):
            pump(sid)
        twins.read("open_streams")
        back = twins.take()
        if back:
            for event in client.receive_data(back):
                on_client_event(event)
        exchange()
    assert len(set(done)) == len(done) == total, "the exchange stalled"
    assert all(received.get(sid, b"") == body for sid, body in expected.items())
    twins.call("close", 0)
    assert twins.read("closed") is True
    client.receive_data(twins.take())


# -- flow-control edges, scripted ----------------------------------------------------------------


def _open(twins: Twins, *client_settings: Tuple[int, int], ack: bool = True) -> Encoder:
    encoder = Encoder()
    twins.call("initiate")
    opening = PREFACE + frame(SETTINGS_FRAME, 0, 0, settings_payload(client_settings))
    if ack:
        opening += frame(SETTINGS_FRAME, ACK, 0)
    twins.receive(opening, "preface + SETTINGS")
    return encoder


def _post(encoder: Encoder, sid: int, end_stream: bool = False) -> bytes:
    fields = [(b":method", b"POST"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"example.com")]
    return frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), sid, encoder.encode(fields))


def test_our_initial_window_acknowledged_after_the_data_was_consumed():
    """The client sends under the default window, then acknowledges our smaller one:
    the WINDOW_UPDATE owed to the now negative window goes out on the acknowledgement."""
    twins = Twins(H2Settings(initial_window_size=1024))
    encoder = _open(twins, ack=False)
    twins.receive(_post(encoder, 1) + frame(DATA, 0, 1, PATTERN[:16384]), "POST + 16 KiB")
    twins.call("acknowledge_received", 1, 16384)
    out = twins.receive(frame(SETTINGS_FRAME, ACK, 0), "SETTINGS ACK")
    assert out == []
    assert any(f.type == WINDOW_UPDATE and f.stream_id == 1 for f in split_frames(twins.take()))


def test_client_windows_moved_by_settings_and_window_updates():
    twins = Twins(H2Settings())
    encoder = _open(twins, (0x4, 3))
    twins.receive(frame(HEADERS, END_HEADERS | END_STREAM, 1, encoder.encode(
        [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"example.com")])), "GET")
    twins.call("send_headers", 1, 200, [], False)
    assert twins.call("send_data", 1, PATTERN[:10], False) == 3
    twins.receive(frame(SETTINGS_FRAME, 0, 0, settings_payload([(0x4, 1)])), "window now -2")
    assert twins.call("send_window", 1) == 0
    twins.receive(frame(WINDOW_UPDATE, 0, 1, (3).to_bytes(4, "big")), "window now 1")
    assert twins.call("send_data", 1, PATTERN[3:10], False) == 1
    twins.receive(frame(WINDOW_UPDATE, 0, 1, (10).to_bytes(4, "big")), "window now 10")
    twins.receive(frame(SETTINGS_FRAME, 0, 0, settings_payload([(0x4, 2**31 - 1)])), "10 + 2**31 - 2: overflow")
    assert twins.read("closed") is True


@pytest.mark.parametrize("window", [1, 32, 100, 1024])
def test_flood_credit_of_small_windows(window):
    """Windows of a few bytes earn (almost) no credit and end in GOAWAY; from 64 bytes
    (REOPEN_PAID) each WINDOW_UPDATE is paid back by the data it lets through, and the
    download is served; both twins count the same."""
    twins = Twins(H2Settings(max_control_frames=50))
    encoder = _open(twins, (0x4, window))
    twins.receive(frame(HEADERS, END_HEADERS | END_STREAM, 1, encoder.encode(
        [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"example.com")])), "GET")
    twins.call("send_headers", 1, 200, [], False)
    for _ in range(300):
        twins.call("send_data", 1, PATTERN * 4, False)  # more than the window: the transport sends what is pending
        twins.receive(frame(WINDOW_UPDATE, 0, 1, window.to_bytes(4, "big")) + frame(WINDOW_UPDATE, 0, 0, window.to_bytes(4, "big")), "WINDOW_UPDATEs")
        if twins.read("closed"):
            break
    assert twins.read("closed") is (window < 64)


def test_flood_credit_of_data_received_and_of_early_resets():
    twins = Twins(H2Settings(max_control_frames=20))
    encoder = _open(twins)
    for i in range(8):
        sid = 1 + 2 * i
        twins.receive(_post(encoder, sid) + frame(DATA, 0, sid, PATTERN[:1000]) + frame(PING, 0, 0, b"12345678"), "POST + PING")
        twins.call("send_headers", sid, 200, [], True)
        twins.call("reset_stream", sid, 0)
        twins.receive(b"".join(frame(DATA, 0, sid, PATTERN[:1024]) for _ in range(40)), "in flight")
    assert twins.read("closed") is False
    twins.receive(b"".join(frame(DATA, 0, 1, PATTERN[:1024]) for _ in range(400)), "a flood")
    assert twins.read("closed") is True
