"""HTTPCycle with a fake ResponseStream: every send-side state transition and error,
the request body as receive() hands it out (buffering, backpressure, trailers,
100-continue, the body clock), disconnects, pathsend, and how a finished application
is settled."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pyre._accel import load_twins
from pyre.asgi import http_common
from pyre.asgi.http import BODY_HIGH_WATER, SHUTDOWN_DEADLINE, ClientDisconnected, HTTPCycle, ResponseStream, error_status, run_asgi
from pyre.protocol.h1.writer import InvalidResponse
from tests.asgi.fake_streams import FakeResponseStream

HTTP_TWINS = load_twins("http")


@pytest.fixture(autouse=True, params=["c", "py"])
def cycle_twin(request, monkeypatch):
    """Every test runs on the compiled cycle (``pyre.asgi._http_c``, built from
    pyre/asgi/http.py) and on the pure one, in turn."""
    module = HTTP_TWINS[request.param]
    if module is None:
        pytest.fail("the compiled ASGI cycle (pyre.asgi._http_c) is not built; run: python setup.py build_ext --inplace")
    monkeypatch.setitem(globals(), "HTTPCycle", module.HTTPCycle)
    monkeypatch.setitem(globals(), "run_asgi", module.run_asgi)
    return request.param


def test_the_compiled_twin_is_this_source_compiled_and_shares_the_common_names(cycle_twin):
    compiled, pure = HTTP_TWINS["c"], HTTP_TWINS["py"]
    # COMPILED is a C constant of the compiled build (_http_c.pxd), not a module attribute there.
    assert compiled.__name__ == "pyre.asgi._http_c" and compiled.__file__.endswith(".so") and pure.COMPILED is False
    assert set(compiled.__all__) == set(pure.__all__)
    c_constants = {"START", "BODY", "TRAILERS", "DONE", "BODY_HIGH_WATER"}  # C constants of the compiled build
    for name in http_common.__all__:  # one ClientDisconnected, one set of states, whichever twin serves
        if name in c_constants:
            assert getattr(pure, name) is getattr(http_common, name) and not hasattr(compiled, name)
        else:
            assert getattr(compiled, name) is getattr(pure, name) is getattr(http_common, name)
    public = {name for name in dir(pure.HTTPCycle) if not name.startswith("_")}
    assert {name for name in dir(compiled.HTTPCycle) if not name.startswith("_")} == public

START = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}


def body(data: bytes = b"", more: bool = False) -> dict:
    return {"type": "http.response.body", "body": data, "more_body": more}


def make(body_complete: bool = True, expect_continue: bool = False):
    stream = FakeResponseStream()
    return HTTPCycle({"type": "http"}, stream, body_complete, expect_continue), stream


async def settle(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def test_the_fake_offers_every_method_of_the_interface():
    wanted = {name for name in vars(ResponseStream) if not name.startswith("_")}
    assert wanted <= set(dir(FakeResponseStream)) and "write_paused" in ResponseStream.__annotations__


# -- the send side ------------------------------------------------------------------------------------


async def test_start_then_one_body_completes_the_response():
    cycle, stream = make()
    assert not cycle.response_started and not cycle.response_complete
    await cycle.send(START)
    assert cycle.response_started and cycle.status == 200 and not cycle.response_complete
    await cycle.send(body(b"hello"))
    assert cycle.response_complete
    assert stream.calls == [("start_response", 200, [(b"content-type", b"text/plain")], False),
                            ("send_body", b"hello", False), ("response_complete",)]


async def test_a_streamed_body_then_the_end():
    cycle, stream = make()
    await cycle.send(START)
    await cycle.send(body(b"a", more=True))
    await cycle.send({"type": "http.response.body", "body": bytearray(b"b"), "more_body": True})
    await cycle.send({"type": "http.response.body", "body": memoryview(b"c")})
    assert stream.calls[1:] == [("send_body", b"a", True), ("send_body", b"b", True), ("send_body", b"c", False),
                                ("response_complete",)]
    assert all(type(call[1]) is bytes for call in stream.calls if call[0] == "send_body")


async def test_a_body_message_without_body_or_more_body_ends_an_empty_response():
    cycle, stream = make()
    await cycle.send(START)
    await cycle.send({"type": "http.response.body"})
    assert stream.calls[1:] == [("send_body", b"", False), ("response_complete",)]


async def test_announced_trailers_follow_the_body_and_may_come_in_parts():
    cycle, stream = make()
    await cycle.send(dict(START, trailers=True))
    await cycle.send(body(b"data"))
    assert not cycle.response_complete  # the trailers are still due
    await cycle.send({"type": "http.response.trailers", "headers": [(b"a", b"1")], "more_trailers": True})
    await cycle.send({"type": "http.response.trailers", "headers": [(b"b", b"2")]})
    assert cycle.response_complete
    assert stream.calls[1:] == [("send_body", b"data", False), ("send_trailers", [(b"a", b"1"), (b"b", b"2")]),
                                ("response_complete",)]
    assert stream.calls[0][3] is True


async def test_pathsend_ends_the_body():
    cycle, stream = make()
    await cycle.send(START)
    await cycle.send({"type": "http.response.pathsend", "path": "/srv/file"})
    assert cycle.response_complete and stream.calls[1:] == [("send_file", "/srv/file"), ("response_complete",)]


async def test_pathsend_with_trailers_then_the_trailers():
    cycle, stream = make()
    await cycle.send(dict(START, trailers=True))
    await cycle.send({"type": "http.response.pathsend", "path": "/srv/file"})
    assert not cycle.response_complete
    await cycle.send({"type": "http.response.trailers", "headers": []})
    assert cycle.response_complete and stream.names()[-2:] == ["send_trailers", "response_complete"]


async def test_a_failing_pathsend_raises_in_the_application_and_leaves_the_state():
    cycle, stream = make()
    await cycle.send(START)
    with pytest.raises(FileNotFoundError):
        await cycle.send({"type": "http.response.pathsend", "path": "/missing"})
    assert cycle.response_started and not cycle.response_complete
    with pytest.raises(TypeError, match="'path' must be a str"):
        await cycle.send({"type": "http.response.pathsend", "path": b"/bytes"})


@pytest.mark.parametrize("message, error", [
    (None, "must be a dict with a 'type'"),
    ({"status": 200}, "must be a dict with a 'type'"),
    ({"type": "http.response.body"}, "Expected ASGI message 'http.response.start', but got 'http.response.body'"),
    ({"type": "http.response.trailers"}, "Expected ASGI message 'http.response.start'"),
    ({"type": "http.response.pathsend", "path": "/x"}, "Expected ASGI message 'http.response.start'"),
    ({"type": "websocket.send"}, "Expected ASGI message 'http.response.start', but got 'websocket.send'"),
])
async def test_what_cannot_start_a_response(message, error):
    cycle, stream = make()
    with pytest.raises((TypeError, RuntimeError), match=error):
        await cycle.send(message)
    assert stream.calls == [] and not cycle.response_started


class _Text(str):
    """A str subclass: equal to the ASGI type it spells, never the same object."""


@pytest.mark.parametrize("spell", [
    lambda t: "".join(t),  # equal, built at run time: not the server's constant
    lambda t: _Text(t),
    lambda t: t.encode().decode("ascii"),
])
async def test_message_types_are_compared_by_value_not_identity(spell):
    cycle, stream = make()
    await cycle.send({"type": spell("http.response.start"), "status": 200, "headers": []})
    await cycle.send({"type": spell("http.response.body"), "body": b"x"})
    assert stream.names() == ["start_response", "send_body", "response_complete"]


class _NeverEqual(str):
    def __eq__(self, other):
        return False

    __hash__ = str.__hash__


class _AlwaysEqual:
    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


async def test_a_type_equal_by_its_own_eq_is_accepted_as_python_compares_it():
    cycle, stream = make()
    await cycle.send(START)
    await cycle.send({"type": _AlwaysEqual(), "body": b"x"})
    assert stream.names() == ["start_response", "send_body", "response_complete"]


@pytest.mark.parametrize("kind", [
    "http.response.bodx", "http.response.body ", "http.response.bod", "http.response.bod\u00e9",
    "http.response.bod\u0119", "http.response.bod\U0001f600", b"http.response.body", 7,
    _NeverEqual("http.response.body"),
])
async def test_a_type_that_only_resembles_the_expected_one_is_refused(kind):
    cycle, stream = make()
    await cycle.send(START)
    with pytest.raises(RuntimeError, match="Expected ASGI message 'http.response.body'"):
        await cycle.send({"type": kind, "body": b"x"})
    assert stream.names() == ["start_response"]


async def test_new_cycle_on_a_reused_allocation_is_a_fresh_cycle(cycle_twin):
    """The compiled class keeps freed cycles for reuse (a freelist): one made by
    ``new_cycle`` from a cycle left in every state a request can leave behaves as new."""
    module = HTTP_TWINS[cycle_twin]
    for _ in range(20):  # more than the freelist holds
        used = module.new_cycle({"type": "http"}, FakeResponseStream(), False, True)
        used.feed_body(b"x" * 10)
        used.end_body([(b"t", b"1")])
        await used.send(dict(START, trailers=True))
        await used.send(body(b"", True))
        used.disconnect()
        used.input_closed()
        del used
    stream = FakeResponseStream()
    cycle = module.new_cycle({"type": "http"}, stream, True, False)
    assert (cycle.state, cycle.status, cycle.task, cycle._buffered, cycle._waiter) == (0, 0, None, 0, None)
    assert await cycle.receive() == {"type": "http.request", "body": b"", "more_body": False}
    await cycle.send(START)
    await cycle.send(body(b"x"))
    assert stream.names() == ["start_response", "send_body", "response_complete"]
    assert await cycle.receive() == {"type": "http.disconnect"}


@pytest.mark.parametrize("body_complete", [True, False])
@pytest.mark.parametrize("expect_continue", [True, False])
async def test_new_cycle_makes_the_cycle_the_constructor_makes(body_complete, expect_continue, cycle_twin):
    module = HTTP_TWINS[cycle_twin]
    made = []
    for build in (module.HTTPCycle, module.new_cycle):
        stream = FakeResponseStream()
        cycle = build({"type": "http"}, stream, body_complete, expect_continue)
        assert type(cycle) is module.HTTPCycle
        fields = {name: getattr(cycle, name) for name in ("scope", "state", "status", "task", "_buffered",
                                                           "_body_complete", "_expect_continue", "_waiter")}
        assert cycle.stream is stream
        cycle.feed_body(b"ab")
        cycle.end_body([(b"t", b"1")])
        received = await cycle.receive()
        await cycle.send(START)
        await cycle.send(body(b"x"))
        made.append((fields, received, stream.names(), await cycle.receive()))
    assert made[0] == made[1]


async def test_an_invalid_head_raises_and_nothing_is_written():
    cycle, stream = make()
    with pytest.raises(InvalidResponse):
        await cycle.send({"type": "http.response.start", "status": 42})
    assert stream.calls == [] and not cycle.response_started and cycle.status == 0
    await cycle.send(START)  # the application may still answer
    assert cycle.response_started


async def test_what_cannot_follow_the_head():
    cycle, stream = make()
    await cycle.send(START)
    with pytest.raises(RuntimeError, match="Expected ASGI message 'http.response.body', but got 'http.response.start'"):
        await cycle.send(START)
    with pytest.raises(RuntimeError, match="Expected ASGI message 'http.response.body'"):
        await cycle.send({"type": "http.response.trailers", "headers": []})
    with pytest.raises(TypeError, match="'body' must be bytes, got str"):
        await cycle.send({"type": "http.response.body", "body": "text"})
    assert stream.names() == ["start_response"]


async def test_what_cannot_follow_an_announced_trailer():
    cycle, stream = make()
    await cycle.send(dict(START, trailers=True))
    await cycle.send(body(b""))
    with pytest.raises(RuntimeError, match="Expected ASGI message 'http.response.trailers', but got 'http.response.body'"):
        await cycle.send(body(b"more"))


async def test_nothing_after_the_response():
    cycle, stream = make()
    await cycle.send(START)
    await cycle.send(body(b"x"))
    for message in (body(b"y"), START, {"type": "http.response.trailers"}):
        with pytest.raises(RuntimeError, match="after response already completed"):
            await cycle.send(message)
    assert stream.names() == ["start_response", "send_body", "response_complete"]


async def test_send_waits_for_the_client_above_the_high_water_mark():
    cycle, stream = make()
    await cycle.send(START)
    stream.write_paused = True
    sending = asyncio.ensure_future(cycle.send(body(b"chunk", more=True)))
    await settle()
    assert not sending.done() and stream.names()[-2:] == ["send_body", "drain"]
    stream.release()
    await settle()
    assert sending.done() and sending.result() is None
    # The last body completes the response without waiting for the client.
    stream.write_paused = True
    await cycle.send(body(b"end"))
    assert stream.names()[-2:] == ["send_body", "response_complete"]


async def test_a_drain_that_fails_raises_in_the_application():
    cycle, stream = make()
    await cycle.send(START)
    stream.write_paused = True
    stream.drain_error = ClientDisconnected("gone")
    sending = asyncio.ensure_future(cycle.send(body(b"chunk", more=True)))
    await settle()
    stream.release()
    with pytest.raises(ClientDisconnected):
        await sending


@pytest.mark.parametrize("sent", [[], [START], [dict(START, trailers=True), body(b"")]])
async def test_after_a_disconnect_every_send_raises_client_disconnected(sent):
    cycle, stream = make()
    for message in sent:
        await cycle.send(message)
    calls = list(stream.calls)
    cycle.disconnect()
    assert cycle.disconnected
    next_message = [START, body(b"x"), {"type": "http.response.trailers", "headers": []}][len(sent)]
    with pytest.raises(ClientDisconnected):
        await cycle.send(next_message)
    assert stream.calls == calls and issubclass(ClientDisconnected, OSError)


async def test_pathsend_after_a_disconnect_raises_client_disconnected():
    cycle, stream = make()
    await cycle.send(START)
    cycle.disconnect()
    with pytest.raises(ClientDisconnected):
        await cycle.send({"type": "http.response.pathsend", "path": "/p"})
    assert stream.names() == ["start_response"]


# -- the receive side -------------------------------------------------------------------------------


async def test_a_request_without_a_body_is_one_empty_message_then_disconnect_after_the_response():
    cycle, stream = make(body_complete=True)
    assert await cycle.receive() == {"type": "http.request", "body": b"", "more_body": False}
    await cycle.send(START)
    await cycle.send(body(b""))
    assert await cycle.receive() == {"type": "http.disconnect"}


async def test_body_pieces_received_so_far_come_as_one_message():
    cycle, stream = make(body_complete=False)
    cycle.feed_body(b"ab")
    cycle.feed_body(b"cd")
    assert await cycle.receive() == {"type": "http.request", "body": b"abcd", "more_body": True}
    cycle.feed_body(b"ef")
    cycle.end_body()
    assert cycle.body_complete
    assert await cycle.receive() == {"type": "http.request", "body": b"ef", "more_body": False}


async def test_receive_waits_for_the_body_and_runs_the_body_clock_meanwhile():
    cycle, stream = make(body_complete=False)
    receiving = asyncio.ensure_future(cycle.receive())
    await settle()
    assert not receiving.done() and stream.calls == [("waiting_for_body", True)]
    cycle.feed_body(b"x")
    await settle()
    assert receiving.result() == {"type": "http.request", "body": b"x", "more_body": True}
    assert stream.calls == [("waiting_for_body", True), ("waiting_for_body", False)]
    receiving = asyncio.ensure_future(cycle.receive())
    await settle()
    cycle.end_body()
    await settle()
    assert receiving.result() == {"type": "http.request", "body": b"", "more_body": False}
    assert stream.names().count("waiting_for_body") == 4


async def test_request_trailers_ride_on_the_final_message():
    cycle, stream = make(body_complete=False)
    cycle.feed_body(b"x")
    cycle.end_body([(b"checksum", b"1")])
    assert await cycle.receive() == {"type": "http.request", "body": b"x", "more_body": False,
                                     "trailers": [(b"checksum", b"1")]}
    cycle, stream = make(body_complete=False)
    cycle.end_body([(b"checksum", b"2")])
    assert await cycle.receive() == {"type": "http.request", "body": b"", "more_body": False,
                                     "trailers": [(b"checksum", b"2")]}
    cycle, stream = make(body_complete=False)
    cycle.end_body([])  # no trailer fields: no key
    assert await cycle.receive() == {"type": "http.request", "body": b"", "more_body": False}


async def test_reading_pauses_past_the_high_water_mark_and_resumes_when_the_app_reads():
    cycle, stream = make(body_complete=False)
    cycle.feed_body(b"x" * BODY_HIGH_WATER)
    assert stream.calls == []
    cycle.feed_body(b"y")
    cycle.feed_body(b"z")  # paused once
    assert stream.calls == [("pause_reading",)]
    message = await cycle.receive()
    assert len(message["body"]) == BODY_HIGH_WATER + 2 and message["more_body"]
    assert stream.calls == [("pause_reading",), ("resume_reading",)]


async def test_100_continue_is_asked_for_once_when_the_app_first_waits_for_the_body():
    cycle, stream = make(body_complete=False, expect_continue=True)
    assert stream.calls == []
    receiving = asyncio.ensure_future(cycle.receive())
    await settle()
    assert stream.calls == [("send_continue",), ("waiting_for_body", True)]
    cycle.feed_body(b"x")
    await settle()
    receiving.result()
    receiving = asyncio.ensure_future(cycle.receive())
    await settle()
    assert stream.names().count("send_continue") == 1
    cycle.end_body()
    await settle()
    assert receiving.done()


async def test_an_app_that_never_reads_never_asks_for_100_continue():
    cycle, stream = make(body_complete=False, expect_continue=True)
    await cycle.send(START)
    await cycle.send(body(b"no"))
    assert "send_continue" not in stream.names()


async def test_a_disconnect_wakes_a_waiting_receive():
    cycle, stream = make(body_complete=False)
    receiving = asyncio.ensure_future(cycle.receive())
    await settle()
    cycle.disconnect()
    await settle()
    assert receiving.result() == {"type": "http.disconnect"}
    assert await cycle.receive() == {"type": "http.disconnect"}


async def test_body_received_before_the_disconnect_is_still_delivered_first():
    cycle, stream = make(body_complete=False)
    cycle.feed_body(b"last words")
    cycle.disconnect()
    assert await cycle.receive() == {"type": "http.request", "body": b"last words", "more_body": True}
    assert await cycle.receive() == {"type": "http.disconnect"}


async def test_a_half_close_after_the_body_reports_disconnect_but_send_still_works():
    cycle, stream = make(body_complete=True)
    assert (await cycle.receive())["more_body"] is False
    receiving = asyncio.ensure_future(cycle.receive())
    await settle()
    cycle.input_closed()
    await settle()
    assert receiving.result() == {"type": "http.disconnect"}
    await cycle.send(START)
    await cycle.send(body(b"still arrives"))
    assert stream.names() == ["start_response", "send_body", "response_complete"]


async def test_the_end_of_the_response_wakes_a_waiting_receive():
    cycle, stream = make(body_complete=True)
    await cycle.receive()
    receiving = asyncio.ensure_future(cycle.receive())
    await settle()
    await cycle.send(START)
    await cycle.send(body(b""))
    await settle()
    assert receiving.result() == {"type": "http.disconnect"}


# -- settling after the application ---------------------------------------------------------------


async def test_an_app_that_returns_without_a_response_gets_a_500(caplog):
    cycle, stream = make()
    with caplog.at_level(logging.ERROR, logger="pyre.error"):
        cycle.app_finished(None)
    assert stream.calls == [("send_error_response", 500)] and cycle.response_complete
    assert "returned without starting a response" in caplog.text


async def test_an_app_that_raises_before_responding_gets_a_500_and_a_traceback(caplog):
    cycle, stream = make()
    with caplog.at_level(logging.ERROR, logger="pyre.error"):
        cycle.app_finished(ValueError("bug"))
    assert stream.calls == [("send_error_response", 500)]
    [record] = caplog.records
    assert record.getMessage().startswith("Exception in ASGI application") and record.exc_info[0] is ValueError


async def test_an_app_that_raises_mid_response_aborts_it(caplog):
    cycle, stream = make()
    await cycle.send(START)
    await cycle.send(body(b"half", more=True))
    with caplog.at_level(logging.ERROR, logger="pyre.error"):
        cycle.app_finished(RuntimeError("bug"))
    assert stream.names()[-1] == "abort" and cycle.response_complete
    assert "Exception in ASGI application" in caplog.text


async def test_an_app_that_stops_mid_response_aborts_it(caplog):
    cycle, stream = make()
    await cycle.send(START)
    with caplog.at_level(logging.ERROR, logger="pyre.error"):
        cycle.app_finished(None)
    assert stream.names()[-1] == "abort" and "returned without completing the response" in caplog.text


@pytest.mark.parametrize("gone", ["disconnect", "input_closed"])
async def test_stopping_mid_response_after_the_client_left_is_no_error(caplog, gone):
    cycle, stream = make()
    await cycle.send(START)
    getattr(cycle, gone)()
    with caplog.at_level(logging.DEBUG, logger="pyre.error"):
        cycle.app_finished(None)
    assert stream.names()[-1] == "abort"
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


async def test_a_disconnected_client_gets_no_500_and_its_oserror_is_no_error(caplog):
    cycle, stream = make()
    cycle.disconnect()
    with caplog.at_level(logging.DEBUG, logger="pyre.error"):
        cycle.app_finished(ClientDisconnected("client disconnected"))
    assert stream.calls == [("abort",)]
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


async def test_a_cancelled_app_is_logged_at_debug(caplog):
    cycle, stream = make()
    with caplog.at_level(logging.DEBUG, logger="pyre.error"):
        cycle.app_finished(asyncio.CancelledError())
    assert stream.calls == [("send_error_response", 500)]
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(logging.DEBUG, "ASGI application cancelled")]


async def test_a_completed_response_is_left_alone_and_a_returned_value_is_reported(caplog):
    cycle, stream = make()
    await cycle.send(START)
    await cycle.send(body(b"ok"))
    calls = list(stream.calls)
    with caplog.at_level(logging.ERROR, logger="pyre.error"):
        cycle.app_finished(None, result=42)
    assert stream.calls == calls and "returned a value instead of None: 42" in caplog.text


# -- run_asgi ------------------------------------------------------------------------------------------


async def test_run_asgi_runs_the_app_settles_and_leaves_the_task_set():
    async def app(scope, receive, send):
        assert scope == {"type": "http"} and (await receive())["type"] == "http.request"
        await send(START)
        await send(body(b"done"))

    cycle, stream = make()
    tasks = set()
    task = asyncio.ensure_future(run_asgi(app, cycle, tasks))
    cycle.task = task
    tasks.add(task)
    await task
    assert not tasks and stream.names() == ["start_response", "send_body", "response_complete"]


async def test_run_asgi_settles_an_app_error_without_raising_it(caplog):
    async def app(scope, receive, send):
        raise ValueError("bug")

    cycle, stream = make()
    with caplog.at_level(logging.ERROR, logger="pyre.error"):
        assert await run_asgi(app, cycle, set()) is None  # an Exception goes to the log, not further
    assert stream.calls == [("send_error_response", 500)]


async def test_run_asgi_lets_an_exit_through_after_settling():
    async def app(scope, receive, send):
        raise SystemExit(3)

    cycle, stream = make()
    tasks = set()
    with pytest.raises(SystemExit):
        await run_asgi(app, cycle, tasks)
    assert stream.calls == [("send_error_response", 500)]


@pytest.mark.parametrize("exc, status", [
    (asyncio.CancelledError(SHUTDOWN_DEADLINE), 503),  # the server's cancel at the graceful-shutdown deadline
    (asyncio.CancelledError(), 500),  # a cancellation of the application's own
    (asyncio.CancelledError("other"), 500),
    (RuntimeError(SHUTDOWN_DEADLINE), 500),
    (None, 500),  # returned without a response
])
def test_error_status_is_503_only_for_the_shutdown_deadline(exc, status):
    assert error_status(exc) == status


def test_apply_proxy_only_when_a_header_it_reads_is_there(cycle_twin):
    """``apply_proxy``: the connections' per-request step of --proxy-headers (both twins)."""
    module = HTTP_TWINS[cycle_twin]
    applied = []

    class Proxy:
        def apply(self, scope):
            applied.append(scope)

    names = frozenset((b"x-forwarded-for", b"x-forwarded-proto"))
    scope: dict = {}
    module.apply_proxy(Proxy(), names, scope, [(b"host", b"a"), (b"accept", b"*/*")])
    module.apply_proxy(Proxy(), names, scope, [])
    assert applied == []
    module.apply_proxy(Proxy(), names, scope, [(b"host", b"a"), (b"x-forwarded-proto", b"https"),
                                               (b"x-forwarded-for", b"1.2.3.4")])
    assert applied == [scope]  # once, however many of its headers there are
