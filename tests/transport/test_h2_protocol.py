"""H2Protocol driven through a fake transport, with the ``h2`` library as the client."""

from __future__ import annotations

import asyncio
import gc
from typing import Dict, List

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyre.transport.h2
from pyre._accel import load_twins
from pyre.transport.h2 import H2Protocol, check_response_fields
from pyre.protocol.h1.writer import InvalidResponse
from tests.helpers import server_context
from tests.transport.test_h1_protocol import FakeTransport

H2SESSION_TWINS = load_twins("h2session")
H2CONN_TWINS = load_twins("h2conn")


@pytest.fixture(autouse=True, params=[("c", "c"), ("c", "py"), ("py", "py")], ids=["c", "c-puresession", "py"])
def h2_twins(request, monkeypatch):
    """Every test runs on the compiled connection (``pyre.transport._h2_c``, built from
    pyre/transport/h2.py) over the compiled and over the pure ``H2Session`` (and
    response-head check), and on the pure connection over the pure session, in turn."""
    conn_mode, session_mode = request.param
    module, session = H2CONN_TWINS[conn_mode], H2SESSION_TWINS[session_mode]
    if module is None or session is None:
        pytest.fail(
            "the Cython HTTP/2 connection or session (pyre.transport._h2_c, pyre.protocol.h2._session_c) is "
            "not built; install with a C compiler (pip install -e .) so both twins are tested"
        )
    monkeypatch.setattr(module, "H2Session", session.H2Session)
    monkeypatch.setattr(module, "h2_response_head", session.response_head)
    monkeypatch.setitem(globals(), "H2", module)
    monkeypatch.setitem(globals(), "H2Protocol", module.H2Protocol)
    return request.param


H2 = pyre.transport.h2  # the twin under test (set by h2_twins)


def make(app, transport: FakeTransport = None, **settings):
    """An HTTP/2 connection on ``transport``; ``settings``: Config keywords."""
    loop = asyncio.get_running_loop()
    ctx = server_context(app, loop, date_header=False, access_log=False, http="h2", **settings)
    protocol = H2Protocol(ctx)
    transport = transport or FakeTransport()
    protocol.connection_made(transport)
    return ctx, protocol, transport


class Client:
    """An h2 client connection wired to the protocol under test."""

    def __init__(self, protocol: H2Protocol, transport: FakeTransport, window: int = 65535,
                 connection_window: int = 0) -> None:
        self.protocol = protocol
        self.transport = transport
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.conn.local_settings = h2.settings.Settings(client=True, initial_values={0x4: window})
        self.conn.initiate_connection()
        if connection_window:
            self.conn.increment_flow_control_window(connection_window)
        self.responses: Dict[int, Dict] = {}
        self.events: List = []
        self.read = 0
        self.send()

    def send(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.protocol.data_received(data)

    def receive(self) -> None:
        data = self.transport.data[self.read:]
        self.read += len(data)
        if not data:
            return
        for event in self.conn.receive_data(data):
            self.events.append(event)
            sid = getattr(event, "stream_id", None)
            if sid is None:
                continue
            r = self.responses.setdefault(sid, self._new_response())
            if isinstance(event, h2.events.ResponseReceived):
                r["headers"] = event.headers
            elif isinstance(event, h2.events.DataReceived):
                r["body"] += event.data
            elif isinstance(event, h2.events.TrailersReceived):
                r["trailers"] = event.headers
            elif isinstance(event, h2.events.StreamEnded):
                r["ended"] = True
            elif isinstance(event, h2.events.StreamReset):
                r["reset"] = event.error_code
        self.send()  # acks of settings and pings

    @staticmethod
    def _new_response() -> Dict:
        return {"headers": None, "body": b"", "trailers": None, "ended": False, "reset": None}

    def read_acked(self, sid: int) -> int:
        """Body bytes of ``sid`` acknowledged so far (by ``acknowledge_received_data``)."""
        r = self.responses[sid]
        acked = r.setdefault("acked", 0)
        r["acked"] = len(r["body"])
        return acked

    def request(self, path: bytes = b"/", method: bytes = b"GET", body: bytes = b"", headers=(), end=True) -> int:
        sid = self.conn.get_next_available_stream_id()
        self.responses[sid] = self._new_response()
        self.conn.send_headers(sid, [(b":method", method), (b":path", path), (b":scheme", b"http"),
                                     (b":authority", b"test"), *headers], end_stream=not body and end)
        if body:
            self.body(sid, body, end)
        self.send()
        return sid

    def body(self, sid: int, data: bytes, end: bool = False) -> None:
        """Send ``data`` in frames the server accepts, as far as windows allow."""
        while data:
            n = min(len(data), 16384, self.conn.local_flow_control_window(sid))
            if n == 0:
                break
            self.conn.send_data(sid, data[:n], end_stream=end and n == len(data))
            data = data[n:]
        self.send()


async def settle(client: Client, n: int = 10) -> None:
    for _ in range(n):
        await asyncio.sleep(0)
        client.receive()


async def hello(scope, receive, send):
    body = f"{scope['http_version']} {scope['method']} {scope['path']} {scope['query_string'].decode()}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def echo(scope, receive, send):
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def test_get_and_the_scope():
    ctx, protocol, transport = make(hello)
    client = Client(protocol, transport)
    sid = client.request(b"/a%20b?x=1")
    await settle(client)
    r = client.responses[sid]
    assert dict(r["headers"])[b":status"] == b"200"
    assert dict(r["headers"])[b"server"] == b"pyre"
    assert r["body"] == b"2 GET /a b x=1" and r["ended"]
    assert not ctx.tasks and not protocol.streams


async def test_the_apps_of_a_read_start_after_it_with_one_write_for_their_responses():
    # Not eager on Python 3.12+ either: the streams of one read start together after it
    # (measured faster on the wire; docs/performance.md), and their answers share a write.
    started: List[int] = []

    async def app(scope, receive, send):
        started.append(len(started))
        await hello(scope, receive, send)

    ctx, protocol, transport = make(app)
    client = Client(protocol, transport)
    writes = len(transport.calls)
    sids = [client.conn.get_next_available_stream_id() + 2 * i for i in range(3)]
    for sid in sids:
        client.conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "t")],
                                 end_stream=True)
    client.send()
    assert started == [] and len(transport.calls) == writes  # nothing ran inside data_received
    await settle(client)
    assert started == [0, 1, 2]
    assert len(transport.calls) == writes + 1
    assert all(client.responses[sid]["ended"] for sid in sids)


@pytest.mark.parametrize("root_path, tls, state", [
    ("", None, None),
    ("/mount", {"server_cert": None, "client_cert_chain": ["pem"], "client_cert_name": None,
                "client_cert_error": None, "tls_version": 0x0304, "cipher_suite": None}, {"db": "pool"}),
])
async def test_the_scope_is_http_scope_with_request_trailers(root_path, tls, state):
    """The connection builds each scope from a per-connection template: it must equal
    ``http_scope`` (keys in the same order) plus ``http.request.trailers``, and each
    request gets dicts of its own (an app mutating its scope changes no other)."""
    import copy

    from pyre.asgi.scope import ConnectionInfo, http_scope

    scopes = []

    async def app(scope, receive, send):
        scopes.append(copy.deepcopy(scope))
        scope["asgi"]["version"] = "mutated"
        scope["extensions"]["http.response.trailers"]["x"] = 1
        if tls is not None:
            scope["extensions"]["tls"]["client_cert_chain"].append("mutated")
        if state is not None:
            scope["state"]["db"] = "mutated"
        await hello(scope, receive, send)

    loop = asyncio.get_running_loop()
    ctx = server_context(app, loop, date_header=False, access_log=False, http="h2", lifespan_state=state)
    protocol = H2Protocol(ctx)
    transport = FakeTransport()
    info = ConnectionInfo(("127.0.0.1", 8000), ("127.0.0.1", 50000), "https" if tls else "http", root_path, tls)
    protocol.adopt(transport, info)
    client = Client(protocol, transport)
    client.request(b"/a%20b?x=1", headers=[(b"user-agent", b"t")])
    client.request(b"/c", method=b"POST")
    await settle(client)
    assert len(scopes) == 2
    for scope, method, raw_path, query in ((scopes[0], "GET", b"/a%20b", b"x=1"), (scopes[1], "POST", b"/c", b"")):
        expected = http_scope(info, method, raw_path, query, "2", scope["headers"], state)
        expected["extensions"]["http.request.trailers"] = {}
        assert scope == expected and list(scope) == list(expected)
        assert list(scope["extensions"]) == list(expected["extensions"])
    first = scopes[0]
    assert first["path"] == root_path + "/a b" and first["raw_path"] == root_path.encode() + b"/a%20b"
    assert first["query_string"] == b"x=1" and first["headers"] == [(b"host", b"test"), (b"user-agent", b"t")]
    if tls is not None:
        assert tls["client_cert_chain"] == ["pem"]
    if state is not None:
        assert state == {"db": "pool"}


async def test_concurrent_streams_with_bodies():
    ctx, protocol, transport = make(echo)
    client = Client(protocol, transport)
    sids = [client.request(b"/", b"POST", body=b"x" * (1000 * i + 1)) for i in range(10)]
    await settle(client, 20)
    for i, sid in enumerate(sids):
        assert client.responses[sid]["body"] == b"x" * (1000 * i + 1)
        assert client.responses[sid]["ended"]


@pytest.mark.parametrize("reset", [False, True])
async def test_finished_streams_are_freed_by_reference_counting(monkeypatch, reset):
    """A stream and its cycle refer to each other while the stream is open; once it has
    ended they must not: cyclic garbage per request is what made the garbage
    collector's full collections (the p99 tail of HTTP/2) frequent and slow."""
    release = asyncio.Event()

    async def app(scope, receive, send):
        if scope["path"] == "/wait":
            await release.wait()
        await echo(scope, receive, send)

    gc.collect()
    gc.disable()
    try:
        ctx, protocol, transport = make(app)
        client = Client(protocol, transport)
        sids = [client.request(b"/"), client.request(b"/", b"POST", body=b"x" * 100),
                client.request(b"/wait", b"POST", body=b"x", end=False)]
        await settle(client)
        if reset:
            client.conn.reset_stream(sids[2], 8)
            client.send()
        else:
            release.set()
            client.body(sids[2], b"y", end=True)
        await settle(client)
        assert not ctx.tasks and not protocol.streams
        assert client.responses[sids[1]]["body"] == b"x" * 100
        # With the collector off, a stream that reference counting did not free (one in
        # a reference cycle) is still among the objects the collector tracks.
        alive = {obj.stream_id for obj in gc.get_objects() if type(obj) is H2.H2Stream}
        assert not alive & set(sids[:2])
        if not reset:  # (a cancelled application's exception and traceback are a cycle of their own)
            assert client.responses[sids[2]]["body"] == b"xy"
            assert not alive
    finally:
        gc.enable()


async def test_large_response_waits_for_window():
    progress = []
    chunk = 16384

    async def big(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(8):
            await send({"type": "http.response.body", "body": bytes([65 + i]) * chunk, "more_body": True})
            progress.append(i)
        await send({"type": "http.response.body", "body": b""})

    ctx, protocol, transport = make(big)
    client = Client(protocol, transport)
    sid = client.request()
    await settle(client)
    # The client's 65,535-byte windows: the app is held in send() until it grants more.
    assert len(client.responses[sid]["body"]) == 65535
    assert len(progress) < 8 and not client.responses[sid]["ended"]
    acked = 0
    for _ in range(20):
        received = len(client.responses[sid]["body"])
        if received > acked:
            client.conn.acknowledge_received_data(received - acked, sid)
            acked = received
        client.send()
        await settle(client, 5)
        if client.responses[sid]["ended"]:
            break
    assert client.responses[sid]["body"] == b"".join(bytes([65 + i]) * chunk for i in range(8))
    assert progress == list(range(8))


async def test_slow_reader_app_stops_the_client_on_its_stream_only():
    gate = asyncio.Event()

    async def slow(scope, receive, send):
        if scope["path"] == "/slow":
            await gate.wait()
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})

    ctx, protocol, transport = make(slow, h2_initial_window_size=65535)
    client = Client(protocol, transport)
    slow_sid = client.request(b"/slow", b"POST", body=b"s" * 65535, end=False)
    await settle(client)
    window = client.conn.local_flow_control_window(slow_sid)
    # The cycle buffers 64 KiB before pausing; past that the window stays shut.
    client.body(slow_sid, b"s" * min(window, 16384))
    await settle(client)
    assert client.conn.local_flow_control_window(slow_sid) < 65535
    fast_sid = client.request(b"/fast", b"POST", body=b"f" * 1000)
    await settle(client)
    assert client.responses[fast_sid]["body"] == b"1000"
    gate.set()
    client.conn.end_stream(slow_sid)
    client.send()
    for _ in range(10):  # the client sends the rest as the server re-opens the window
        await settle(client, 5)
    assert client.responses[slow_sid]["body"] == str(65535 + min(window, 16384)).encode()


async def test_client_reset_disconnects_and_cancels_the_app():
    seen = []
    started = asyncio.Event()

    async def waiting(scope, receive, send):
        started.set()
        try:
            message = await receive()
            seen.append(message["type"])
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    ctx, protocol, transport = make(waiting)
    client = Client(protocol, transport)
    sid = client.request(b"/", b"POST", body=b"", end=False)
    await settle(client)
    await started.wait()
    client.conn.reset_stream(sid, 8)
    client.send()
    await settle(client)
    assert seen == ["http.disconnect", "cancelled"]
    assert not ctx.tasks and not protocol.streams


async def test_head_204_and_trailers():
    async def app(scope, receive, send):
        if scope["path"] == "/trailers":
            await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
            await send({"type": "http.response.body", "body": b"data"})
            await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")]})
            return
        status = 204 if scope["path"] == "/204" else 200
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"5")]})
        await send({"type": "http.response.body", "body": b"hello"})

    ctx, protocol, transport = make(app)
    client = Client(protocol, transport)
    head = client.request(b"/", b"HEAD")
    no_content = client.request(b"/204")
    trailers = client.request(b"/trailers")
    await settle(client, 20)
    assert client.responses[head]["body"] == b"" and client.responses[head]["ended"]
    assert dict(client.responses[head]["headers"])[b"content-length"] == b"5"
    assert client.responses[no_content]["body"] == b"" and client.responses[no_content]["ended"]
    assert client.responses[trailers]["body"] == b"data"
    assert client.responses[trailers]["trailers"] == [(b"x-checksum", b"abc")]


async def test_app_errors_give_500_or_a_reset():
    async def app(scope, receive, send):
        if scope["path"] == "/late":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("boom")

    ctx, protocol, transport = make(app)
    client = Client(protocol, transport)
    early = client.request(b"/early")
    late = client.request(b"/late")
    await settle(client, 20)
    assert dict(client.responses[early]["headers"])[b":status"] == b"500"
    assert client.responses[late]["reset"] == 2  # INTERNAL_ERROR after part of the body
    ok = client.request(b"/early")  # the connection is still usable
    await settle(client, 20)
    assert dict(client.responses[ok]["headers"])[b":status"] == b"500"


def frames(data: bytes):
    """(type, flags, stream id) of each frame in ``data``."""
    out = []
    while len(data) >= 9:
        length = int.from_bytes(data[:3], "big")
        out.append((data[3], data[4], int.from_bytes(data[5:9], "big") & 0x7FFFFFFF))
        data = data[9 + length:]
    return out


def goaways(data: bytes):
    """The last stream id of each GOAWAY frame in ``data``."""
    out = []
    while len(data) >= 9:
        length = int.from_bytes(data[:3], "big")
        if data[3] == 0x7:
            out.append(int.from_bytes(data[9:13], "big") & 0x7FFFFFFF)
        data = data[9 + length:]
    return out


@pytest.fixture
def grace(monkeypatch, h2_twins):
    """A short SHUTDOWN_GRACE, so a test sees the final GOAWAY without waiting a second."""
    monkeypatch.setattr(H2, "SHUTDOWN_GRACE", 0.05)
    return 0.05


class HalfClosingTransport(FakeTransport):
    """A TCP transport: it can send a FIN and go on reading."""

    def __init__(self) -> None:
        super().__init__()
        self.eof = False

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def write(self, data) -> None:
        assert not self.eof, "written after write_eof"
        super().write(data)


def gated():
    """An app that answers (``hello``) once the returned event is set."""
    gate = asyncio.Event()

    async def app(scope, receive, send):
        await gate.wait()
        await hello(scope, receive, send)

    return gate, app


def make_tcp(app):
    return make(app, transport=HalfClosingTransport())


async def test_shutdown_lets_streams_finish_then_sends_goaway(grace):
    # A GOAWAY in the middle of a response ends it for h2-based clients (httpx): it waits.
    gate, app = gated()
    ctx, protocol, transport = make_tcp(app)
    client = Client(protocol, transport)
    sid = client.request()
    await settle(client)
    mark = len(transport.data)
    protocol.shutdown()
    await asyncio.sleep(0)
    assert goaways(transport.data[mark:]) == [] and not transport.eof
    gate.set()
    for _ in range(10):
        await asyncio.sleep(0)
    # (h2's client state machine closes on any GOAWAY; read the frames themselves.)
    after = frames(transport.data[mark:])
    assert (0x1, 0x4, sid) in after  # HEADERS, END_HEADERS
    data_end = next(i for i, (t, f, s) in enumerate(after) if t == 0x0 and f & 0x1 and s == sid)
    assert after[data_end + 1:] == [(0x7, 0x0, 0)]  # then the GOAWAY,
    assert goaways(transport.data[mark:]) == [sid]  # naming the last stream served,
    assert transport.eof and not transport.closed  # then a FIN, reading on
    await asyncio.sleep(grace * 2)
    assert transport.closed and not protocol.streams


async def test_a_stream_sent_while_the_shutdown_waits_for_one_in_flight_is_served(grace):
    gate = asyncio.Event()

    async def app(scope, receive, send):
        if scope["path"] == "/first":
            await gate.wait()
        await hello(scope, receive, send)

    ctx, protocol, transport = make_tcp(app)
    client = Client(protocol, transport)
    first = client.request(b"/first")
    await settle(client)
    protocol.shutdown()
    second = client.request(b"/second")
    await settle(client)
    assert client.responses[second]["ended"] and client.responses[second]["body"] == b"2 GET /second "
    gate.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert goaways(transport.data) == [second] and transport.eof
    assert any(t == 0x0 and f & 0x1 and s == first for t, f, s in frames(transport.data))


async def test_shutdown_of_an_idle_connection_does_not_cut_a_client_still_sending(grace):
    ctx, protocol, transport = make_tcp(hello)
    client = Client(protocol, transport)
    sid = client.request()
    await settle(client)
    protocol.shutdown()
    assert goaways(transport.data) == [sid] and transport.eof and not transport.closed
    # A request the client sent before it read the GOAWAY is read and dropped, not
    # answered with a reset (a stream above the last stream id: the client retries it).
    sent = len(transport.data)
    late = client.request(b"/late")
    for _ in range(5):
        await asyncio.sleep(0)
    assert late > sid and len(transport.data) == sent and not transport.closed
    await asyncio.sleep(grace * 2)
    assert transport.closed


async def test_shutdown_closes_a_connection_that_cannot_half_close_after_its_goaway(grace):
    # TLS has no half-close: its closing handshake follows the GOAWAY at once.
    ctx, protocol, transport = make(hello)
    client = Client(protocol, transport)
    sid = client.request()
    await settle(client)
    protocol.shutdown()
    assert goaways(transport.data) == [sid] and transport.closed


async def test_shutdown_waits_for_streams_still_open_after_the_grace(grace):
    gate, app = gated()
    ctx, protocol, transport = make_tcp(app)
    client = Client(protocol, transport)
    sid = client.request()
    await settle(client)
    protocol.shutdown()
    await asyncio.sleep(grace * 2)
    assert goaways(transport.data) == [sid] and not transport.eof  # no new streams; this one finishes
    gate.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert any(t == 0x0 and f & 0x1 and s == sid for t, f, s in frames(transport.data))
    assert transport.eof


async def test_a_connection_made_during_shutdown_gets_the_grace_for_its_first_stream(grace):
    loop = asyncio.get_running_loop()
    ctx = server_context(hello, loop, date_header=False, access_log=False, http="h2")
    ctx.shutting_down = True
    protocol = H2Protocol(ctx)
    transport = HalfClosingTransport()
    protocol.connection_made(transport)
    client = Client(protocol, transport)
    assert goaways(transport.data) == []
    sid = client.request()
    await settle(client)
    assert client.responses[sid]["ended"]  # served; then the GOAWAY
    assert goaways(transport.data) == [sid] and transport.eof


async def test_idle_timeout_sends_goaway():
    ctx, protocol, transport = make(hello, timeout_keep_alive=0.01)
    client = Client(protocol, transport)
    sid = client.request()
    await settle(client)
    assert client.responses[sid]["ended"] and protocol.deadline > 0
    await asyncio.sleep(0.02)
    ctx.tick()
    client.receive()
    assert transport.closed
    assert any(isinstance(e, h2.events.ConnectionTerminated) and e.error_code == 0 for e in client.events)


@pytest.mark.parametrize("headers", [
    [(b"bad name", b"x")],
    [(b"x", b"a\r\nb")],
    [(b"content-length", b"ten")],
    [("str", b"x")],
])
def test_invalid_response_headers_are_refused(headers):
    with pytest.raises(InvalidResponse):
        check_response_fields(200, headers)


def test_connection_specific_response_headers_are_dropped():
    out, length = check_response_fields(200, [(b"Connection", b"close"), (b"Transfer-Encoding", b"chunked"),
                                              (b"X-A", b"1"), (b"Content-Length", b"3")])
    assert out == [(b":status", b"200"), (b"x-a", b"1"), (b"content-length", b"3")] and length == 3


async def test_ping_keep_alive_pings_a_silent_peer_and_closes_a_dead_one():
    gate = asyncio.Event()
    seen = []

    async def app(scope, receive, send):
        message = await receive()
        seen.append(message["type"])
        await gate.wait()

    ctx, protocol, transport = make(app, h2_ping_interval=0.01)
    client = Client(protocol, transport)
    sid = client.request(b"/", b"POST", end=False)
    await settle(client)
    # Silent past the interval: the server pings; the client's h2 answers it.
    await asyncio.sleep(0.02)
    ctx.tick()
    client.receive()  # reads the PING, queues and sends the ACK
    assert any(isinstance(e, h2.events.PingReceived) for e in client.events)
    assert not transport.closed and not protocol._ping_outstanding
    # Silent again, and this time the PING goes unanswered: closed.
    await asyncio.sleep(0.02)
    ctx.tick()
    assert protocol._ping_outstanding and not transport.closed
    await asyncio.sleep(0.02)
    ctx.tick()
    assert transport.closed
    protocol.connection_lost(None)
    await settle(client)
    gate.set()
    assert seen == ["http.disconnect"] and not ctx.tasks and sid == 1


async def test_without_ping_interval_streams_have_no_deadline():
    gate = asyncio.Event()

    async def app(scope, receive, send):
        await gate.wait()
        await hello(scope, receive, send)

    ctx, protocol, transport = make(app)
    client = Client(protocol, transport)
    client.request()
    await settle(client)
    assert protocol.deadline == 0.0
    gate.set()
    await settle(client)


async def test_request_bytes_are_data_payloads_without_padding_per_stream():
    seen = []
    ctx, protocol, transport = make(echo, request_observers=[seen.append])
    client = Client(protocol, transport)
    big = client.request(b"/big", b"POST", body=b"x" * 50000)  # several DATA frames
    padded = client.request(b"/padded", b"PUT", end=False)
    client.conn.send_data(padded, b"abc", pad_length=100)
    client.conn.send_data(padded, b"", pad_length=5)
    client.conn.send_data(padded, b"defgh", end_stream=True, pad_length=0)
    client.send()
    get = client.request(b"/get")
    await settle(client, 30)
    assert all(client.responses[sid]["ended"] for sid in (big, padded, get))
    assert client.responses[padded]["body"] == b"abcdefgh"
    got = sorted((r.path, r.request_bytes, r.bytes) for r in seen)
    assert got == [("/big", 50000, 50000), ("/get", 0, 0), ("/padded", 8, 8)]


async def test_untracked_streams_count_no_request_bytes():
    gate = asyncio.Event()

    async def app(scope, receive, send):
        await gate.wait()
        await echo(scope, receive, send)

    seen = []
    ctx, protocol, transport = make(app)  # access log off, no observer: streams are not tracked
    client = Client(protocol, transport)
    sid = client.request(b"/", b"POST", body=b"x" * 100)
    await settle(client)
    stream = protocol.streams[sid]
    assert stream._track is False and stream._bytes_in == 0
    ctx.add_request_observer(seen.append)  # from the next stream on
    tracked = client.request(b"/t", b"POST", body=b"y" * 30)
    await settle(client)
    assert protocol.streams[tracked]._bytes_in == 30
    gate.set()
    await settle(client, 20)
    assert [(r.path, r.request_bytes) for r in seen] == [("/t", 30)]


# -- responses through the client's windows, generated -----------------------------------------

_SIZES = st.integers(0, 150_000)
_WINDOWS = st.integers(256, 70_000)
# (stream window increment or 0 for none, connection window increment or 0, new initial window or None)
_GRANTS = st.lists(st.tuples(st.integers(0, 40_000), st.integers(0, 40_000), st.none() | _WINDOWS), max_size=12)


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(size=_SIZES, cuts=st.lists(st.integers(0, 150_000), max_size=4), window=_WINDOWS,
       connection_window=st.integers(0, 100_000), grants=_GRANTS, streams=st.integers(1, 3))
def test_every_byte_arrives_in_order_whatever_the_windows(size, cuts, window, connection_window, grants, streams):
    """A response of any size, sent in any number of body messages, through client
    windows of any size that the client opens at any pace (WINDOW_UPDATEs for the
    stream or the connection, SETTINGS_INITIAL_WINDOW_SIZE changed mid-stream): the
    client receives every byte, in order, never past a window, and the stream ends."""
    body = bytes(i % 251 for i in range(size))
    points = sorted({c % (size + 1) for c in cuts} | {0, size})
    pieces = [body[a:b] for a, b in zip(points, points[1:])] or [b""]

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for piece in pieces[:-1]:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": pieces[-1]})

    async def scenario():
        ctx, protocol, transport = make(app, timeout_keep_alive=0.05)
        client = Client(protocol, transport, window, connection_window)
        sids = [client.request(f"/{i}".encode()) for i in range(streams)]
        await settle(client)
        for stream_increment, connection_increment, initial in grants:  # the client's pace
            for sid in sids:
                if stream_increment and not client.responses[sid]["ended"]:
                    client.conn.increment_flow_control_window(stream_increment, sid)
            if connection_increment:
                client.conn.increment_flow_control_window(connection_increment)
            if initial is not None:
                client.conn.update_settings({0x4: initial})
            client.send()
            await settle(client)
        for _ in range(400):  # then a client that keeps up, until every response ended
            if all(client.responses[sid]["ended"] or client.responses[sid]["reset"] for sid in sids):
                break
            for sid in sids:
                r = client.responses[sid]
                if not r["ended"]:
                    open_ = client.conn.remote_flow_control_window(sid)
                    if open_ < 65535:
                        client.conn.increment_flow_control_window(65535 - open_, sid)
            if client.conn.inbound_flow_control_window < 65535:
                client.conn.increment_flow_control_window(65535 * streams)
            client.send()
            await settle(client)
        for sid in sids:
            r = client.responses[sid]
            assert r["reset"] is None and r["ended"], (sid, len(r["body"]), size)
            assert r["body"] == body
        assert not any(isinstance(e, h2.events.ConnectionTerminated) for e in client.events)
        await asyncio.sleep(0)
        assert not protocol.streams and not protocol.blocked and not ctx.tasks
        assert protocol.deadline > 0  # no stream left: the keep-alive timeout runs again

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()


# -- streams that wait for the peer: registered until their end, and their deadlines -----------


async def tick_until(ctx, done, limit: float = 5.0) -> None:
    """Run the server's tick until ``done()`` (an AssertionError past ``limit`` seconds)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while not done():
        assert loop.time() < end, "not done within the limit"
        await asyncio.sleep(0.01)
        ctx.tick()


def sized(size: int):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"z" * size})
    return app


async def test_a_response_larger_than_the_window_in_one_message_completes():
    """The application completes its response at once; the stream stays registered
    (and is pumped on WINDOW_UPDATE) until its last byte is framed, and only then is
    it reported and forgotten."""
    seen = []
    ctx, protocol, transport = make(sized(200_000), request_observers=[seen.append], timeout_keep_alive=0.01)
    client = Client(protocol, transport)
    sid = client.request()
    await settle(client)
    assert len(client.responses[sid]["body"]) == 65535 and not ctx.tasks  # the app is done
    assert sid in protocol.streams and sid in protocol.blocked and not seen
    await asyncio.sleep(0.02)
    ctx.tick()  # past --timeout-keep-alive: no GOAWAY, a stream is open
    assert not transport.closed
    while not client.responses[sid]["ended"]:
        client.conn.acknowledge_received_data(len(client.responses[sid]["body"]) - client.read_acked(sid), sid)
        client.send()
        await settle(client)
    assert client.responses[sid]["body"] == b"z" * 200_000
    assert not protocol.streams and not protocol.blocked
    assert [(r.status, r.bytes) for r in seen] == [(200, 200_000)]


async def test_waiting_for_body_bytes_past_the_timeout_gives_408_and_a_stream_reset():
    seen = []

    async def app(scope, receive, send):
        if scope["path"] == "/ok":
            return await hello(scope, receive, send)
        seen.append(await receive())
        seen.append(await receive())  # the client sends nothing more

    ctx, protocol, transport = make(app, timeout_request_body=0.05)
    client = Client(protocol, transport)
    sid = client.request(b"/", b"POST", body=b"abc", end=False)
    await settle(client)
    assert protocol.deadline > 0  # the app waits for body bytes
    await tick_until(ctx, lambda: client.receive() or client.responses[sid]["reset"] is not None)
    r = client.responses[sid]
    assert dict(r["headers"])[b":status"] == b"408" and r["reset"] == 8  # CANCEL
    assert [m["type"] for m in seen] == ["http.request", "http.disconnect"]
    other = client.request(b"/ok")  # the connection is still up
    await settle(client)
    assert client.responses[other]["ended"] and not transport.closed
    await settle(client)
    assert not ctx.tasks and not protocol.streams


async def test_the_body_timeout_runs_only_while_the_app_waits():
    gate = asyncio.Event()
    seen = []

    async def app(scope, receive, send):
        await gate.wait()  # busy, not reading: no body deadline
        while True:
            message = await receive()
            seen.append(message["type"])
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    ctx, protocol, transport = make(app, timeout_request_body=0.05)
    client = Client(protocol, transport)
    sid = client.request(b"/", b"POST", body=b"abc", end=False)
    await settle(client)
    for _ in range(10):
        await asyncio.sleep(0.02)
        ctx.tick()
    assert protocol.deadline == 0.0 and sid in protocol.streams
    gate.set()
    await settle(client)
    client.body(sid, b"def", end=True)
    await settle(client)
    assert client.responses[sid]["body"] == b"ok" and client.responses[sid]["reset"] is None
    assert seen == ["http.request", "http.request"]


async def test_a_body_trickled_slower_than_the_minimum_rate_is_cut_off():
    """Each byte earns 1/500 s: one byte every 10 ms does not keep a 0.1 s budget."""
    seen = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            seen.append(message["type"])
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                return

    ctx, protocol, transport = make(app, timeout_request_body=0.1)
    client = Client(protocol, transport)
    sid = client.request(b"/", b"POST", body=b"a", end=False)
    loop = asyncio.get_running_loop()
    start = loop.time()
    while client.responses[sid]["reset"] is None:
        assert loop.time() - start < 5, "the trickle was never cut"
        client.body(sid, b"b")
        await asyncio.sleep(0.01)
        ctx.tick()
        client.receive()
    assert client.responses[sid]["reset"] == 8 and seen[-1] == "http.disconnect"
    assert seen.count("http.request") > 3  # it was reading all along


async def test_a_body_at_the_minimum_rate_is_not_cut_off():
    """Faster than 500 bytes/s, a body may take longer than the timeout."""
    async def app(scope, receive, send):
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})

    ctx, protocol, transport = make(app, timeout_request_body=0.1)
    client = Client(protocol, transport)
    sid = client.request(b"/", b"POST", body=b"a", end=False)
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 1
    while loop.time() - start < 0.4:  # four timeouts long, 100 bytes every 10 ms: 10,000 bytes/s
        client.body(sid, b"b" * 100)
        sent += 100
        # The deadline is checked right after each chunk: a loaded machine may oversleep
        # the 10 ms, and the test is about the body's total time, not about the gaps.
        ctx.tick()
        await asyncio.sleep(0.01)
    client.conn.end_stream(sid)
    client.send()
    await settle(client)
    r = client.responses[sid]
    assert r["reset"] is None and r["body"] == str(sent).encode()


async def test_a_stream_making_no_write_progress_is_reset_and_the_connection_serves_on():
    errors = []

    async def app(scope, receive, send):
        if scope["path"] == "/fast":
            return await hello(scope, receive, send)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            for _ in range(10):
                await send({"type": "http.response.body", "body": b"s" * 65536, "more_body": True})
        except OSError as exc:
            errors.append(exc)
            raise

    ctx, protocol, transport = make(app, timeout_send=0.05, limit_concurrency=2)
    client = Client(protocol, transport, connection_window=10_000_000)
    stalled = client.request(b"/stall")  # its stream window is never opened again
    await settle(client)
    assert client.responses[stalled]["body"] == b"s" * 65535 and protocol.deadline > 0
    await tick_until(ctx, lambda: client.receive() or client.responses[stalled]["reset"] is not None)
    assert client.responses[stalled]["reset"] == 8  # CANCEL
    await settle(client)
    assert [type(e).__name__ for e in errors] == ["ClientDisconnected"]
    assert not ctx.tasks  # the --limit-concurrency slot is back
    fast = client.request(b"/fast")
    await settle(client)
    assert dict(client.responses[fast]["headers"])[b":status"] == b"200" and not transport.closed


async def test_write_progress_keeps_a_slow_stream_alive():
    ctx, protocol, transport = make(sized(300_000), timeout_send=0.1)
    client = Client(protocol, transport, window=1000)
    sid = client.request()
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not client.responses[sid]["ended"]:
        assert loop.time() - start < 20
        assert client.responses[sid]["reset"] is None
        # A little every 20 ms (slow but moving) for five timeouts; then all of it.
        grant = 1000 if loop.time() - start < 0.5 else 300_000
        client.conn.increment_flow_control_window(grant, sid)
        client.conn.increment_flow_control_window(grant)
        client.send()
        await asyncio.sleep(0.02)
        ctx.tick()
        client.receive()
    assert client.responses[sid]["body"] == b"z" * 300_000


class StuckTransport(FakeTransport):
    """A transport whose peer reads nothing: its buffer never shrinks."""

    def __init__(self) -> None:
        super().__init__()
        self.aborted = False

    def get_write_buffer_size(self) -> int:
        return 1 << 20

    def abort(self) -> None:
        self.aborted = True
        self.closed = True


async def test_a_transport_making_no_write_progress_is_aborted():
    ctx, protocol, _ = make(hello, timeout_send=0.05)
    transport = StuckTransport()
    protocol.connection_made(transport)
    Client(protocol, transport).request()
    await asyncio.sleep(0)
    protocol.pause_writing()
    await tick_until(ctx, lambda: transport.aborted)
    protocol.connection_lost(None)
    await asyncio.sleep(0)
    assert not ctx.tasks


async def test_graceful_shutdown_does_not_wait_for_a_peer_that_stopped_reading():
    ctx, protocol, transport = make(sized(200_000), timeout_send=0.05)
    client = Client(protocol, transport)
    sid = client.request()
    await settle(client)
    protocol.shutdown()
    assert not transport.closed  # the stream in flight may finish...
    await tick_until(ctx, lambda: transport.closed)  # ...but is reset at its send deadline
    # (h2's client state machine closes on any GOAWAY; read the frames themselves.)
    assert b"\x00\x00\x04\x03\x00" + sid.to_bytes(4, "big") + (8).to_bytes(4, "big") in transport.data
    assert not protocol.streams


async def test_a_closed_connection_whose_peer_never_reads_is_aborted():
    """After GOAWAY and close, data still buffered for a peer that reads nothing
    cannot keep the connection (and a graceful shutdown) waiting."""
    ctx, protocol, _ = make(hello, timeout_send=0.05)
    transport = StuckTransport()
    protocol.connection_made(transport)
    Client(protocol, transport)
    protocol.shutdown()  # no stream yet: the GOAWAY and the close follow after SHUTDOWN_GRACE
    await tick_until(ctx, lambda: transport.closed)
    assert not transport.aborted and protocol in ctx.connections
    await tick_until(ctx, lambda: transport.aborted)


class PeerGoneTransport(HalfClosingTransport):
    """A TCP transport whose peer has gone: the FIN cannot be sent (ENOTCONN, as uvloop raises)."""

    def write_eof(self) -> None:
        import errno

        raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")


async def test_a_shutdown_after_the_peer_has_gone_closes_without_an_error(grace):
    ctx, protocol, transport = make(hello, transport=PeerGoneTransport())
    client = Client(protocol, transport)
    client.request()
    await settle(client)
    protocol.shutdown()  # the GOAWAY, then the FIN that fails: the connection simply closes
    for _ in range(5):
        await asyncio.sleep(0)
    assert transport.closed and not protocol.streams


async def test_an_upload_unread_when_the_response_completes_during_a_shutdown_is_reset(grace):
    # The shutdown resets the streams dropping an unread body when it begins; a response
    # completed later must not start dropping one either, or the GOAWAY waits for the
    # client to end its upload (up to --timeout-request-header).
    gate, app = gated()
    ctx, protocol, transport = make_tcp(app)
    client = Client(protocol, transport)
    sid = client.request(b"/", b"POST", body=b"x" * 1000, end=False)
    await settle(client)
    protocol.shutdown()
    gate.set()
    await settle(client)
    r = client.responses[sid]
    assert r["ended"] and r["reset"] == 0  # the answer, then RST_STREAM NO_ERROR
    assert goaways(transport.data) == [sid] and transport.eof
