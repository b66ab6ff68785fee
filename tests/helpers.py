"""Test helpers: feeding a parser whole, byte by byte and at random split points; shared test data;
server contexts built from a Config, as a server builds them."""

from __future__ import annotations

import random
from typing import Any, Callable, Iterable, List, Optional, Sequence

from pyre.protocol.h1.parsing import Body, EndOfMessage, ParseError, Request


def split_at(data: bytes, points: Iterable[int]) -> List[bytes]:
    cuts = sorted(set(p for p in points if 0 < p < len(data)))
    pieces, last = [], 0
    for cut in cuts:
        pieces.append(data[last:cut])
        last = cut
    pieces.append(data[last:])
    return pieces


def feed_pieces(parser, pieces: Sequence[bytes], *, resume: bool = True):
    """Feed pieces, resuming after each message; return (events, error or None).

    Body events are merged so that different splits compare equal.
    """
    events: list = []
    error: Optional[ParseError] = None
    try:
        for piece in pieces:
            events.extend(parser.feed(piece))
            while resume and parser.paused and not parser.closed:
                more = parser.resume()
                if not more:
                    break
                events.extend(more)
    except ParseError as exc:
        error = exc
    return normalise(events), error


def normalise(events: list) -> list:
    """Merge adjacent Body events (their boundaries depend on how bytes arrive)."""
    merged: list = []
    for event in events:
        if type(event) is Body and merged and type(merged[-1]) is Body:
            merged[-1] = Body(merged[-1].data + event.data)
        elif type(event) is Body and not event.data:
            continue
        else:
            merged.append(event)
    return merged


def splits(data: bytes, seed: int = 0, rounds: int = 3):
    """Whole, byte by byte, and a few random splittings of ``data``."""
    yield [data]
    yield [data[i : i + 1] for i in range(len(data))]
    rng = random.Random(seed)
    for _ in range(rounds):
        k = rng.randint(1, max(1, min(len(data) - 1, 8)))
        yield split_at(data, rng.sample(range(1, max(2, len(data))), k) if len(data) > 2 else [])


def parse_every_way(parser_factory: Callable[[], object], data: bytes):
    """Parse ``data`` whole, byte by byte and split randomly; all must agree."""
    results = []
    for pieces in splits(data):
        events, error = feed_pieces(parser_factory(), pieces)
        # Events before an error depend on where the bytes were split; the error not.
        results.append((events, None) if error is None else (None, error.status))
    first = results[0]
    for other in results[1:]:
        assert other == first, f"split changed the parse:\n{first}\n!=\n{other}"
    return first


__all__ = ["Body", "EndOfMessage", "Request", "feed_pieces", "normalise", "parse_every_way", "split_at", "splits"]


# What Kubernetes puts into every pod of a namespace that has a Service named "pyre".
KUBERNETES_SERVICE_LINKS = {
    "PYRE_SERVICE_HOST": "10.0.0.1",
    "PYRE_SERVICE_PORT": "8000",
    "PYRE_SERVICE_PORT_HTTP": "8000",
    "PYRE_PORT": "tcp://10.0.0.1:8000",
    "PYRE_PORT_8000_TCP": "tcp://10.0.0.1:8000",
    "PYRE_PORT_8000_TCP_PROTO": "tcp",
    "PYRE_PORT_8000_TCP_PORT": "8000",
    "PYRE_PORT_8000_TCP_ADDR": "10.0.0.1",
}


# -- server contexts -----------------------------------------------------------------------------

# A test's context serves HTTP/1.1 only, no WebSocket and no keep-alive pings, unless
# it asks (http="auto", ws="auto", ...): each test turns on what it exercises.
TEST_CONTEXT_SETTINGS = {"http": "h1", "ws": "none", "ws_ping_interval": 0, "ws_ping_timeout": None}


def server_context(app: Any, loop: Any, *, lifespan_state: Optional[dict] = None,
                   request_observers: Iterable[Callable[[Any], None]] = (), **settings: Any) -> Any:
    """A :class:`~pyre.transport.context.ServerContext` built as a server builds it
    (``ServerContext.from_config``), from a ``Config`` of ``app`` with ``settings`` (Config
    keywords) over :data:`TEST_CONTEXT_SETTINGS`; ``request_observers`` are added in order."""
    from pyre.config import Config
    from pyre.transport.context import ServerContext

    config = Config(app, **{**TEST_CONTEXT_SETTINGS, **settings})
    ctx = ServerContext.from_config(app, loop, config, lifespan_state)
    for observer in request_observers:
        ctx.add_request_observer(observer)
    return ctx


def h1conn_twin(name: str) -> Any:
    """The compiled ("c") or pure ("py") module of the HTTP/1.1 connection; a test
    that asks for the compiled one fails when it is not built."""
    import pytest

    from pyre._accel import load_twins

    module = load_twins("h1conn")[name]
    if module is None:
        pytest.fail("the compiled connection (pyre.transport._h1_c) is not built")
    return module
