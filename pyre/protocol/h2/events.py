"""The events an ``H2Session`` returns from ``receive_data``: plain slotted records.

Per stream, in order::

    RequestReceived, (DataReceived | WindowUpdated)*, [TrailersReceived], StreamEnded
    ... or, at any point after RequestReceived, StreamReset (and nothing more for it)

``StreamEnded`` follows every END_STREAM the client sends, including one on the
request's HEADERS (``RequestReceived.end_stream`` is then True as well) and on
trailers. A stream the client never got to see accepted (refused, or malformed
request headers) produces no event at all. ``ConnectionEnded`` is the last event of
a connection.
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

__all__ = [
    "ConnectionEnded",
    "DataReceived",
    "Event",
    "PingAcked",
    "RequestReceived",
    "StreamEnded",
    "StreamReset",
    "TrailersReceived",
    "WindowUpdated",
]

Headers = List[Tuple[bytes, bytes]]


class Event:
    """Base of the session's events: ``repr`` and ``==`` from the slots."""

    __slots__ = ()

    def _fields(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._fields() == self._fields()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]


class RequestReceived(Event):
    """A valid request head opened stream ``stream_id``.

    ``path`` is the part of ``:path`` before ``?`` (``b""`` for a plain CONNECT),
    ``query_string`` the part after it. ``headers`` are the regular fields in order,
    names lower-case, with split ``cookie`` fields joined by ``"; "`` (RFC 9113
    §8.2.3) and, when ``:authority`` was sent without a ``host`` field,
    ``(b"host", authority)`` first. ``protocol`` is the ``:protocol`` of an extended
    CONNECT (RFC 8441). ``end_stream``: the request has no body. ``expect_continue``:
    an ``expect: 100-continue`` field (any case) was sent.
    """

    __slots__ = (
        "stream_id",
        "method",
        "scheme",
        "authority",
        "path",
        "query_string",
        "headers",
        "protocol",
        "end_stream",
        "content_length",
        "expect_continue",
    )

    def __init__(
        self,
        stream_id: int,
        method: str,
        scheme: str,
        authority: Optional[bytes],
        path: bytes,
        query_string: bytes,
        headers: Headers,
        protocol: Optional[str],
        end_stream: bool,
        content_length: Optional[int],
        expect_continue: bool = False,
    ) -> None:
        self.stream_id = stream_id
        self.method = method
        self.scheme = scheme
        self.authority = authority
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.protocol = protocol
        self.end_stream = end_stream
        self.content_length = content_length
        self.expect_continue = expect_continue


class DataReceived(Event):
    """Request body bytes on a stream (never empty).

    The receive window is *not* re-granted automatically: call
    ``H2Session.acknowledge_received(stream_id, flow_controlled_length)`` once the
    application has consumed them. Padding is acknowledged by the session itself, so
    ``flow_controlled_length == len(data)``.
    """

    __slots__ = ("stream_id", "data", "flow_controlled_length")

    def __init__(self, stream_id: int, data: bytes, flow_controlled_length: int) -> None:
        self.stream_id = stream_id
        self.data = data
        self.flow_controlled_length = flow_controlled_length


class TrailersReceived(Event):
    """Request trailers (valid regular fields, lower-case names); ``StreamEnded`` follows."""

    __slots__ = ("stream_id", "headers")

    def __init__(self, stream_id: int, headers: Headers) -> None:
        self.stream_id = stream_id
        self.headers = headers


class StreamEnded(Event):
    """The client finished sending on this stream (END_STREAM)."""

    __slots__ = ("stream_id",)

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id


class StreamReset(Event):
    """The stream is gone: the application must see ``http.disconnect``.

    ``remote``: the client sent RST_STREAM; otherwise we reset it (malformed
    trailers, a body not matching Content-Length, ...) and the RST_STREAM with
    ``error_code`` is queued.
    """

    __slots__ = ("stream_id", "error_code", "remote")

    def __init__(self, stream_id: int, error_code: int, remote: bool) -> None:
        self.stream_id = stream_id
        self.error_code = error_code
        self.remote = remote


class WindowUpdated(Event):
    """The send window grew: for ``stream_id``, or for every stream when it is 0."""

    __slots__ = ("stream_id",)

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id


class ConnectionEnded(Event):
    """The connection is over: the client sent GOAWAY (``remote``) or we failed it.

    When we failed it the GOAWAY is already queued: flush ``data_to_send()`` and
    close. Every stream still open must see ``http.disconnect``.
    """

    __slots__ = ("error_code", "last_stream_id", "remote", "reason")

    def __init__(self, error_code: int, last_stream_id: int, remote: bool, reason: str) -> None:
        self.error_code = error_code
        self.last_stream_id = last_stream_id
        self.remote = remote
        self.reason = reason


class PingAcked(Event):
    """The client answered one of our PINGs (``H2Session.ping``)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data
