"""The two helpers both HTTP cycle twins call (pyre.asgi.http): ``finish_response``,
how an application's end is settled when it did not simply complete its response, and
``unexpected_message``, the error for a message out of order."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest

from pyre.asgi.http import BODY, DONE, SHUTDOWN_DEADLINE, START, TRAILERS, finish_response, unexpected_message
from tests.asgi.fake_streams import FakeResponseStream


def cycle(state: int) -> SimpleNamespace:
    """What finish_response reads and writes of a cycle: its state and its stream."""
    return SimpleNamespace(state=state, stream=FakeResponseStream())


@pytest.mark.parametrize("exc, status", [(None, 500), (ValueError("boom"), 500),
                                         (asyncio.CancelledError(SHUTDOWN_DEADLINE), 503)])
def test_no_response_begun_is_answered_with_an_error_status(exc, status):
    c = cycle(START)
    finish_response(c, exc, None, False, False)
    assert c.state == DONE and c.stream.calls == [("send_error_response", status)]


def test_no_response_begun_and_the_client_gone_aborts():
    c = cycle(START)
    finish_response(c, OSError("reset"), None, True, False)
    assert c.state == DONE and c.stream.names() == ["abort"]


@pytest.mark.parametrize("state", [BODY, TRAILERS])
def test_a_response_begun_and_not_completed_is_aborted(state, caplog):
    c = cycle(state)
    with caplog.at_level(logging.DEBUG, logger="pyre.error"):
        finish_response(c, None, None, False, False)
    assert c.state == DONE and c.stream.names() == ["abort"]
    assert "returned without completing the response" in caplog.text


def test_stopping_after_being_told_of_a_disconnect_is_not_an_error(caplog):
    c = cycle(BODY)
    with caplog.at_level(logging.DEBUG, logger="pyre.error"):
        finish_response(c, None, None, False, True)
    assert c.stream.names() == ["abort"]
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


def test_a_completed_response_with_a_returned_value_is_only_logged(caplog):
    c = cycle(DONE)
    with caplog.at_level(logging.ERROR, logger="pyre.error"):
        finish_response(c, None, 42, False, False)
    assert c.state == DONE and c.stream.calls == []
    assert "returned a value instead of None: 42" in caplog.text


def test_an_exception_is_logged_with_its_traceback(caplog):
    c = cycle(DONE)
    error = RuntimeError("in the app")
    with caplog.at_level(logging.ERROR, logger="pyre.error"):
        finish_response(c, error, None, False, False)
    assert caplog.records[0].exc_info[1] is error and c.stream.calls == []


@pytest.mark.parametrize("state, kind, text", [
    (START, "http.response.body", "Expected ASGI message 'http.response.start', but got 'http.response.body'."),
    (BODY, "http.response.start", "Expected ASGI message 'http.response.body', but got 'http.response.start'."),
    (TRAILERS, "http.response.body", "Expected ASGI message 'http.response.trailers', but got 'http.response.body'."),
    (DONE, "http.response.body", "Unexpected ASGI message 'http.response.body' sent, after response already completed."),
])
def test_the_error_for_a_message_out_of_order(state, kind, text):
    error = unexpected_message(state, kind)
    assert type(error) is RuntimeError and str(error) == text
