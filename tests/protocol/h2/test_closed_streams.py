"""The session's bounded memory of closed streams, on the pure twin (pure-only: the
compiled twin's bound, MAX_CLOSED_STREAMS, is a C constant; the ring is the same code)."""

from __future__ import annotations

import pytest

import pyre.protocol.h2.session as pure

from . import helpers
from .helpers import REQUEST, RawClient, goaway


@pytest.mark.parametrize("stream_id, code", [(9, 0x5), (5, 0x5), (3, 0x1), (1, 0x1)])
def test_the_oldest_closed_streams_are_forgotten_first(monkeypatch, stream_id, code):
    """Past MAX_CLOSED_STREAMS (3 here), a HEADERS frame on a forgotten stream is one
    with an old stream id (PROTOCOL_ERROR), on a remembered one a frame on a closed
    stream (STREAM_CLOSED)."""
    monkeypatch.setattr(pure, "MAX_CLOSED_STREAMS", 3)
    monkeypatch.setattr(helpers, "H2Session", pure.H2Session)
    client = RawClient()
    for sid in (1, 3, 5, 7, 9):
        client.feed(client.headers(sid, REQUEST))
        client.session.send_headers(sid, 204, [], True)
    client.frames()
    client.feed(client.headers(stream_id, REQUEST))
    assert goaway(client.frames()).error_code == code
