"""WebSocketCycle with a fake WebSocketStream: the spec's state machine (connect, accept,
refuse, the denial response, messages both ways, close), its errors, disconnects
from either side, and how a finished application is settled. Every test runs on both
twins: ``pyre.asgi.websocket`` and ``pyre.asgi._websocket_c``, compiled from it."""

from __future__ import annotations

import asyncio
import inspect
import logging

import pytest

from pyre._accel import NO_EXTENSIONS, load_twins
from pyre.asgi.http import ClientDisconnected
from pyre.asgi.websocket import WebSocketStream
from tests.asgi.fake_streams import FakeWebSocketStream

TWINS = load_twins("wscycle")
CYCLE = {"class": TWINS["py"].WebSocketCycle}


@pytest.fixture(autouse=True, params=["py", "c"])
def twin(request):
    """Each test on the pure twin and on the compiled one."""
    module = TWINS[request.param]
    if module is None:
        if NO_EXTENSIONS:
            pytest.skip("the compiled cycle is not built and PYRE_NO_EXTENSIONS is set")
        pytest.fail("the compiled cycle is not built; run: python setup.py build_ext --inplace")
    CYCLE["class"] = module.WebSocketCycle
    yield request.param
    CYCLE["class"] = TWINS["py"].WebSocketCycle

ACCEPT = {"type": "websocket.accept"}


def make():
    stream = FakeWebSocketStream()
    return CYCLE["class"]({"type": "websocket"}, stream), stream


async def opened():
    cycle, stream = make()
    assert await cycle.receive() == {"type": "websocket.connect"}
    await cycle.send(ACCEPT)
    return cycle, stream


async def settle(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def test_the_fake_offers_every_method_of_the_interface():
    wanted = {name for name in vars(WebSocketStream) if not name.startswith("_")}
    assert wanted <= set(dir(FakeWebSocketStream)) and "write_paused" in WebSocketStream.__annotations__


# -- before accepting -------------------------------------------------------------------------------


async def test_connect_first_then_accept_with_a_subprotocol_and_headers():
    cycle, stream = make()
    assert await cycle.receive() == {"type": "websocket.connect"}
    await cycle.send({"type": "websocket.accept", "subprotocol": "chat",
                      "headers": [(b"X-Extra", b"1"), [bytearray(b"x-b"), b"2"]]})
    assert stream.calls == [("accept", "chat", [(b"x-extra", b"1"), (b"x-b", b"2")])]


@pytest.mark.parametrize("message, error", [
    ({"type": "websocket.accept", "subprotocol": b"chat"}, "subprotocol must be a str"),
    ({"type": "websocket.accept", "headers": [(b"a",)]}, "headers must be \\(name, value\\) pairs"),
    ({"type": "websocket.accept", "headers": [("a", "b")]}, "header names and values must be bytes"),
    ({"type": "websocket.send", "text": "early"}, "Expected 'websocket.accept', 'websocket.close' or "),
    ({"type": "websocket.http.response.start", "status": 99}, "invalid status 99"),
    ({"type": "websocket.http.response.start", "status": True}, "invalid status True"),
    ({"type": "websocket.http.response.start", "status": 403, "headers": [(1, 2)]}, "must be bytes"),
])
async def test_what_cannot_be_sent_before_accepting(message, error):
    cycle, stream = make()
    with pytest.raises(RuntimeError, match=error):
        await cycle.send(message)
    assert stream.calls == []
    await cycle.send(ACCEPT)  # the application may still accept
    assert stream.names() == ["accept"]


@pytest.mark.parametrize("message", [None, {"text": "x"}, "websocket.accept"])
async def test_a_message_must_be_a_dict_with_a_type(message):
    cycle, stream = make()
    with pytest.raises(TypeError, match="must be a dict with a 'type'"):
        await cycle.send(message)


async def test_close_before_accepting_refuses_with_403():
    cycle, stream = make()
    await cycle.send({"type": "websocket.close"})
    assert stream.calls == [("reject", 403)]
    with pytest.raises(ClientDisconnected, match="the WebSocket is closed"):
        await cycle.send(ACCEPT)


async def test_the_denial_response_streams_its_body():
    cycle, stream = make()
    await cycle.send({"type": "websocket.http.response.start", "status": 401, "headers": [(b"WWW-Authenticate", b"x")]})
    await cycle.send({"type": "websocket.http.response.body", "body": b"no ", "more_body": True})
    await cycle.send({"type": "websocket.http.response.body", "body": bytearray(b"entry")})
    assert stream.calls == [("deny_start", 401, [(b"www-authenticate", b"x")]), ("deny_body", b"no ", True),
                            ("deny_body", b"entry", False)]
    with pytest.raises(ClientDisconnected):
        await cycle.send({"type": "websocket.http.response.body", "body": b"late"})


@pytest.mark.parametrize("message, error", [
    ({"type": "websocket.accept"}, "Expected 'websocket.http.response.body'"),
    ({"type": "websocket.http.response.body", "body": "text"}, "'body' must be bytes, got str"),
])
async def test_what_cannot_follow_the_denial_head(message, error):
    cycle, stream = make()
    await cycle.send({"type": "websocket.http.response.start", "status": 403})
    with pytest.raises(RuntimeError, match=error):
        await cycle.send(message)


async def test_a_client_gone_before_accepting():
    cycle, stream = make()
    await cycle.receive()
    cycle.disconnect(1006)
    with pytest.raises(ClientDisconnected, match="before the WebSocket was accepted"):
        await cycle.send(ACCEPT)
    assert stream.calls == []
    cycle, stream = make()
    cycle.disconnect()
    await cycle.send({"type": "websocket.close"})  # refusing a client that left: nothing to answer
    assert stream.calls == []


# -- open -----------------------------------------------------------------------------------------------


async def test_messages_both_ways():
    cycle, stream = await opened()
    await cycle.send({"type": "websocket.send", "text": "hi"})
    await cycle.send({"type": "websocket.send", "bytes": b"\x00"})
    await cycle.send({"type": "websocket.send", "bytes": bytearray(b"\x01"), "text": None})
    cycle.feed_message("hello")
    cycle.feed_message(b"\xff")
    assert cycle.queued == 2
    assert await cycle.receive() == {"type": "websocket.receive", "text": "hello"}
    assert await cycle.receive() == {"type": "websocket.receive", "bytes": b"\xff"}
    assert cycle.queued == 0
    assert stream.calls[1:] == [("send_message", "hi"), ("send_message", b"\x00"), ("send_message", b"\x01"),
                                ("message_taken",), ("message_taken",)]


async def test_receive_waits_for_a_message():
    cycle, stream = await opened()
    receiving = asyncio.ensure_future(cycle.receive())
    await settle()
    assert not receiving.done()
    cycle.feed_message("late")
    await settle()
    assert receiving.result() == {"type": "websocket.receive", "text": "late"}


@pytest.mark.parametrize("message, error", [
    ({"type": "websocket.send"}, "exactly one of 'bytes' and 'text'"),
    ({"type": "websocket.send", "text": "a", "bytes": b"b"}, "exactly one of 'bytes' and 'text'"),
    ({"type": "websocket.send", "text": b"bytes"}, "'text' must be a str, got bytes"),
    ({"type": "websocket.send", "bytes": "text"}, "'bytes' must be bytes, got str"),
    ({"type": "websocket.close", "code": "1000"}, "invalid code or reason"),
    ({"type": "websocket.close", "code": True}, "invalid code or reason"),
    ({"type": "websocket.close", "reason": b"bytes"}, "invalid code or reason"),
    ({"type": "websocket.close", "code": 1005}, "1005 cannot be sent in a close frame"),
    ({"type": "websocket.close", "code": 1006}, "1006 cannot be sent"),
    ({"type": "websocket.close", "code": 2999}, "2999 cannot be sent"),
    ({"type": "websocket.close", "code": 5000}, "5000 cannot be sent"),
    ({"type": "websocket.accept"}, "Expected 'websocket.send' or 'websocket.close', got 'websocket.accept'"),
])
async def test_what_cannot_be_sent_once_open(message, error):
    cycle, stream = await opened()
    with pytest.raises(RuntimeError, match=error):
        await cycle.send(message)
    assert stream.names() == ["accept"]


@pytest.mark.parametrize("message, sent", [
    ({"type": "websocket.close"}, ("close", 1000, "")),
    ({"type": "websocket.close", "code": None, "reason": None}, ("close", 1000, "")),
    ({"type": "websocket.close", "code": 4001, "reason": "bye"}, ("close", 4001, "bye")),
    ({"type": "websocket.close", "code": 1011}, ("close", 1011, "")),
])
async def test_the_application_closes(message, sent):
    cycle, stream = await opened()
    await cycle.send(message)
    assert stream.calls[-1] == sent
    with pytest.raises(ClientDisconnected):
        await cycle.send({"type": "websocket.send", "text": "after"})


async def test_send_waits_for_the_client_above_the_high_water_mark():
    cycle, stream = await opened()
    stream.write_paused = True
    sending = asyncio.ensure_future(cycle.send({"type": "websocket.send", "text": "big"}))
    await settle()
    assert not sending.done() and stream.names()[-2:] == ["send_message", "drain"]
    stream.release()
    await settle()
    assert sending.result() is None


async def test_the_peer_closes():
    cycle, stream = await opened()
    cycle.feed_message("before")
    receiving = asyncio.ensure_future(cycle.receive())
    cycle.disconnect(1001, "going away")
    cycle.disconnect(1006, "")  # the first close stands
    assert cycle.disconnected
    assert (await receiving)["text"] == "before"  # queued messages first
    assert await cycle.receive() == {"type": "websocket.disconnect", "code": 1001, "reason": "going away"}
    with pytest.raises(ClientDisconnected, match="the WebSocket is closed"):
        await cycle.send({"type": "websocket.send", "text": "x"})
    await cycle.send({"type": "websocket.close"})  # closing a closed WebSocket sends nothing
    assert stream.names() == ["accept", "message_taken"]


async def test_a_disconnect_wakes_a_waiting_receive():
    cycle, stream = await opened()
    receiving = asyncio.ensure_future(cycle.receive())
    await settle()
    cycle.disconnect()
    await settle()
    assert receiving.result() == {"type": "websocket.disconnect", "code": 1006, "reason": ""}


# -- settling after the application ---------------------------------------------------------------


async def test_an_app_that_returns_without_accepting_is_answered_403(caplog):
    cycle, stream = make()
    with caplog.at_level(logging.INFO, logger="pyre.error"):
        cycle.app_finished(None)
    assert stream.calls == [("reject", 403)] and "without accepting the WebSocket" in caplog.text


async def test_an_app_that_raises_before_accepting_is_answered_500(caplog):
    cycle, stream = make()
    with caplog.at_level(logging.ERROR, logger="pyre.error"):
        cycle.app_finished(ValueError("bug"))
    assert stream.calls == [("reject", 500)] and "Exception in ASGI application" in caplog.text


async def test_nothing_is_answered_to_a_client_gone_before_accepting():
    cycle, stream = make()
    cycle.disconnect()
    cycle.app_finished(None)
    assert stream.calls == [("abort",)]


@pytest.mark.parametrize("exc, code", [(None, 1000), (ValueError("bug"), 1011)])
async def test_an_open_websocket_is_closed_when_the_app_ends(exc, code):
    cycle, stream = await opened()
    cycle.app_finished(exc)
    assert stream.calls[-1] == ("close", code, "")
    with pytest.raises(ClientDisconnected):
        await cycle.send({"type": "websocket.send", "text": "x"})


async def test_a_closed_websocket_is_left_alone(caplog):
    cycle, stream = await opened()
    cycle.disconnect(1000)
    with caplog.at_level(logging.DEBUG, logger="pyre.error"):
        cycle.app_finished(ClientDisconnected("the WebSocket is closed"))
    assert stream.names() == ["accept"]
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


async def test_an_unfinished_denial_is_aborted(caplog):
    cycle, stream = make()
    await cycle.send({"type": "websocket.http.response.start", "status": 403})
    await cycle.send({"type": "websocket.http.response.body", "body": b"x", "more_body": True})
    with caplog.at_level(logging.ERROR, logger="pyre.error"):
        cycle.app_finished(None)
    assert stream.names()[-1] == "abort" and "without completing its HTTP response" in caplog.text


async def test_cancellation_and_returned_values_are_logged(caplog):
    cycle, stream = await opened()
    with caplog.at_level(logging.DEBUG, logger="pyre.error"):
        cycle.app_finished(asyncio.CancelledError())
    assert "ASGI application cancelled" in caplog.text
    cycle, stream = await opened()
    with caplog.at_level(logging.ERROR, logger="pyre.error"):
        cycle.app_finished(None, result="oops")
    assert "returned a value instead of None: 'oops'" in caplog.text


async def test_waiting_asks_for_the_running_loop_once(monkeypatch):
    # On CPython 3.11 asyncio.get_running_loop() is a getpid() system call; receive()
    # waits for every message of a chat-like peer, so the cycle asks once.
    import pyre.asgi.websocket as module

    cycle, stream = await opened()
    calls = []
    real = asyncio.get_running_loop

    def counting():
        calls.append(1)
        return real()

    monkeypatch.setattr(module.asyncio, "get_running_loop", counting)
    for text in ("a", "b", "c"):
        waiting = asyncio.ensure_future(cycle.receive())
        await settle()
        cycle.feed_message(text)
        assert await waiting == {"type": "websocket.receive", "text": text}
    assert len(calls) == 1 and cycle.queued == 0


def test_the_twins_are_what_they_say():
    assert TWINS["py"].__name__ == "pyre.asgi.websocket"
    assert TWINS["c"] is not None and TWINS["c"].__name__ == "pyre.asgi._websocket_c"
    assert TWINS["c"].__all__ == TWINS["py"].__all__ == ["WebSocketCycle", "WebSocketStream"]


async def test_receive_and_send_are_coroutine_functions_for_asyncio_and_anyio():
    # Starlette's WebSocket runs receive() in anyio task groups (start_soon(receive)
    # needs a coroutine object, collections.abc.Coroutine), and apps wrap it in
    # asyncio.create_task(receive()): both twins give coroutines.
    import collections.abc

    import anyio

    cycle, stream = await opened()
    assert inspect.iscoroutinefunction(cycle.receive) and inspect.iscoroutinefunction(cycle.send)
    async with anyio.create_task_group() as group:
        group.start_soon(cycle.receive)  # TypeError if receive() gave no coroutine
        await settle()
        cycle.feed_message("a")
    assert cycle.queued == 0 and stream.names().count("message_taken") == 1
    coroutine = cycle.receive()
    assert isinstance(coroutine, collections.abc.Coroutine)
    task = asyncio.ensure_future(coroutine)
    cycle.feed_message("c")
    assert await task == {"type": "websocket.receive", "text": "c"}


async def test_a_message_for_a_receive_cancelled_meanwhile_waits_for_the_next_receive():
    # The task waiting in receive() is cancelled (its waiter with it) and a message comes
    # before the task runs again: feeding it raises nothing, and the next receive() has it.
    cycle, stream = await opened()
    waiting = asyncio.ensure_future(cycle.receive())
    await settle()
    waiting.cancel()
    cycle.feed_message("kept")
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await asyncio.wait_for(cycle.receive(), 1) == {"type": "websocket.receive", "text": "kept"}
