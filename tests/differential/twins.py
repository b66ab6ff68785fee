"""Running both parser twins on the same bytes and comparing everything observable."""

from __future__ import annotations

from typing import Iterable, List, Optional, Sequence

import pytest

from pyre._accel import load_twins
from pyre.protocol.h1.parsing import DIRECT_BODY_MIN, END_OF_MESSAGE, H1Limits, ParseError

TWINS = load_twins("h1parser")
PURE = TWINS["py"]
COMPILED = TWINS["c"]

# Sent after an error: the error must be sticky, the bytes never parsed.
AFTER_ERROR = b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n"


def describe(event) -> tuple:
    """A strict description: repr shows every field with its type (True vs 1)."""
    return (type(event).__name__, repr(event), event is END_OF_MESSAGE)


def deliver(parser, data: bytes, buffered: bool) -> list:
    """``feed(data)``, or the loop's way into a BufferedProtocol: ``get_buffer``, write
    the bytes at its start, ``buffer_updated``. Each buffered read carries at most
    ``DIRECT_BODY_MIN`` bytes (what the smallest buffer either twin lends holds), so both
    twins see the same calls; the events of one piece's reads are returned together."""
    if not buffered:
        return parser.feed(data)
    events: list = []
    view = memoryview(data)
    for at in range(0, len(data), DIRECT_BODY_MIN):
        chunk = view[at : at + DIRECT_BODY_MIN]
        buf = parser.get_buffer(len(chunk))
        assert len(buf) >= len(chunk) and not buf.readonly
        buf[: len(chunk)] = chunk
        events += parser.buffer_updated(len(chunk))
    return events


def trace(module, limits: H1Limits, pieces: Sequence[bytes], hold: Iterable[int] = (), buffered: bool = False) -> list:
    """Everything observable while feeding ``pieces`` and resuming like a server.

    After feed number i (for i in ``hold``) the parser is not resumed, so the next
    piece arrives while it is paused. Each step records the events of the call (or
    the error) and ``paused``, ``closed``, ``buffered`` and ``trailing_data`` after it.
    """
    hold = set(hold)
    parser = module.RequestParser(limits)
    out: list = []

    def state() -> tuple:
        return (parser.paused, parser.closed, parser.buffered, parser.trailing_data)

    def call(fn, *args) -> Optional[list]:
        try:
            events = fn(*args)
        except ParseError as exc:
            out.append(("error", exc.status, exc.reason, state()))
            return None
        out.append(("events", [describe(e) for e in events], state()))
        return events

    for i, piece in enumerate(list(pieces) + [b""]):
        if call(deliver, parser, piece, buffered and bool(piece)) is None:
            call(parser.feed, AFTER_ERROR)  # sticky: raises again
            call(parser.resume)
            return out
        if i in hold:
            continue
        for _ in range(1000):
            if not parser.paused or parser.closed:
                break
            events = call(parser.resume)
            if events is None:
                return out
            if not events:
                break
    return out


def assert_twins_agree(pieces: Sequence[bytes], limits: Optional[H1Limits] = None, hold: Iterable[int] = (),
                       buffered: bool = False) -> List:
    """Both twins, fed the same pieces, behave identically call by call (``buffered``:
    each piece read into the twin's own buffer, as the loop does for a BufferedProtocol;
    the trace then equals that of ``feed``)."""
    if COMPILED is None:
        pytest.fail("the Cython parser is not built (python setup.py build_ext --inplace)")
    limits = limits or H1Limits()
    hold = list(hold)
    py = trace(PURE, limits, pieces, hold, buffered)
    c = trace(COMPILED, limits, pieces, hold, buffered)
    if py != c:
        for n, (a, b) in enumerate(zip(py, c)):
            if a != b:
                raise AssertionError(f"twins differ at step {n}:\n  pure:   {a!r}\n  cython: {b!r}\n  pieces: {list(pieces)!r}")
        raise AssertionError(f"twins differ in length: {len(py)} vs {len(c)}; pieces: {list(pieces)!r}")
    return py
