"""pyre.access_log and ServerContext.request_done, the hook every transport calls once per
request: the access record (uvicorn's line, the named fields), the RequestRecord the
observers get, and what each costs only when someone listens."""

from __future__ import annotations

import logging

import pytest

from pyre.access_log import (
    ACCESS_FIELDS,
    HTTP_ACCESS_MESSAGE,
    WS_ACCESS_MESSAGE,
    RequestRecord,
    StatusCode,
    access_fields,
    log_request,
    notify_observers,
)
from pyre.logs import configure_logging
from tests.logs.records import finish, make_ctx


# -- the hook and its records ------------------------------------------------------------------------


def test_request_done_emits_one_record_with_the_uvicorn_line_and_named_fields(capsys):
    configure_logging(logging.INFO, True, False)
    ctx = make_ctx()
    finish(ctx, path=b"/p", query=b"q=1", headers=[(b"host", b"t"), (b"x-request-id", b"abc")], took=0.0125)
    out = capsys.readouterr().out
    assert out == 'INFO:     127.0.0.1:50000 - "GET /p?q=1 HTTP/1.1" 200 OK\n'


def test_record_fields_for_each_protocol():
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    access = logging.getLogger("pyre.access")
    access.handlers, access.propagate = [handler], False
    access.setLevel(logging.INFO)
    ctx = make_ctx()
    finish(ctx, headers=[(b"x-request-id", b"id-1")], nbytes=5, took=0.25)
    finish(ctx, version="2", method="POST", path=b"/h2", status=201, nbytes=0, request_bytes=321)
    finish(ctx, websocket=True, path=b"/ws", query=b"t=1", status=101, nbytes=0)
    finish(ctx, version="1.0", path=b"/\xff", headers=[(b"x-request-id", b"")])
    assert [r.pyre for r in records] == [
        {"client": "127.0.0.1:50000", "method": "GET", "path": "/", "status": 200, "bytes": 5, "request_bytes": 0,
         "duration_ms": 250.0, "protocol": "HTTP/1.1", "request_id": "id-1", "http_version": "1.1", "user_agent": "-", "referer": "-"},
        {"client": "127.0.0.1:50000", "method": "POST", "path": "/h2", "status": 201, "bytes": 0,
         "request_bytes": 321,
         "duration_ms": 12.5, "protocol": "HTTP/2", "request_id": "-", "http_version": "2", "user_agent": "-", "referer": "-"},
        {"client": "127.0.0.1:50000", "method": "GET", "path": "/ws?t=1", "status": 101, "bytes": 0,
         "request_bytes": 0,
         "duration_ms": 12.5, "protocol": "WebSocket", "request_id": "-", "http_version": "1.1", "user_agent": "-", "referer": "-"},
        {"client": "127.0.0.1:50000", "method": "GET", "path": "/\\xff", "status": 200, "bytes": 13,
         "request_bytes": 0,
         "duration_ms": 12.5, "protocol": "HTTP/1.0", "request_id": "-", "http_version": "1.0", "user_agent": "-", "referer": "-"},
    ]
    assert set(records[0].pyre) == set(ACCESS_FIELDS)
    assert [r.getMessage() for r in records] == [
        '127.0.0.1:50000 - "GET / HTTP/1.1" 200 OK',
        '127.0.0.1:50000 - "POST /h2 HTTP/2" 201 Created',
        '127.0.0.1:50000 - "WebSocket /ws?t=1" 101',
        '127.0.0.1:50000 - "GET /\\xff HTTP/1.0" 200 OK',
    ]


def test_wants_requests_and_observers():
    access = logging.getLogger("pyre.access")
    access.setLevel(logging.INFO)
    assert make_ctx(access_log=True).wants_requests()
    ctx = make_ctx(access_log=False)
    assert not ctx.wants_requests()
    seen = []
    ctx.add_request_observer(seen.append)
    assert ctx.wants_requests()
    finish(ctx, nbytes=7, request_bytes=11, took=0.5)
    [record] = seen
    assert isinstance(record, RequestRecord)
    assert (record.protocol, record.bytes, record.request_bytes, record.duration, record.duration_ms) == (
        "HTTP/1.1", 7, 11, 0.5, 500.0)
    assert record.fields()["request_bytes"] == 11
    ctx.remove_request_observer(seen.append)
    assert ctx.request_observers == () and not ctx.wants_requests()
    access.setLevel(logging.WARNING)
    assert not make_ctx(access_log=True).wants_requests()
    assert make_ctx(access_log=False, request_observers=[print]).wants_requests()




# -- the module's parts, one by one -------------------------------------------------------------------


def test_a_status_prints_with_its_reason_phrase_and_stays_an_int():
    assert (str(StatusCode(200)), str(StatusCode(404)), str(StatusCode(599))) == ("200 OK", "404 Not Found", "599")
    assert StatusCode(201) == 201 and isinstance(StatusCode(201), int) and "%d" % StatusCode(201) == "201"


def test_access_fields_are_the_named_fields_in_order():
    headers = [(b"user-agent", b"ua/1"), (b"referer", b"https://r/"), (b"user-agent", b"second"),
               (b"x-trace", b"t\xe9"), (b"x-trace", b"later")]
    fields = access_fields(False, "1.1", "-", "GET", b"/p%20q", b"a=\xff", headers, 204, 0, 3, 1.0, 1.25,
                           b"x-trace")
    assert tuple(fields) == ACCESS_FIELDS
    assert fields == {"client": "-", "method": "GET", "path": "/p%20q?a=\\xff",
                      "status": 204, "bytes": 0, "request_bytes": 3, "duration_ms": 250.0, "protocol": "HTTP/1.1",
                      "request_id": "t\\xe9", "http_version": "1.1", "user_agent": "ua/1",
                      "referer": "https://r/"}
    # A clock that went backwards is no negative duration; an unknown version is spelled out.
    assert access_fields(False, "3", "-", "GET", b"/", b"", [], 200, 0, 0, 2.0, 1.0, b"x")["duration_ms"] == 0.0
    assert access_fields(False, "3", "-", "GET", b"/", b"", [], 200, 0, 0, 0, 0, b"x")["protocol"] == "HTTP/3"


def test_a_record_computes_its_derived_values_when_read():
    record = RequestRecord(True, "2", "c:1", "GET", b"/ws", b"", [(b"x-request-id", b"")], 200, 0, 0, 5.0, 5.25)
    assert (record.protocol, record.path, record.request_id, record.duration, record.duration_ms) == (
        "WebSocket", "/ws", "-", 0.25, 250.0)
    assert record.fields()["protocol"] == "WebSocket" and repr(record) == "<RequestRecord WebSocket GET /ws 200>"


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def access_logger():
    logger = logging.getLogger("pyre.access")
    handler = Collect()
    logger.handlers, logger.propagate = [handler], False
    logger.setLevel(logging.INFO)
    return logger, handler.records


def test_log_request_keeps_uvicorns_message_and_args(access_logger):
    logger, records = access_logger
    log_request(logger, False, "1.1", "c:1", "GET", b"/a", b"b=1", [], 404, 9, 0, 1.0, 2.0, b"x-request-id")
    log_request(logger, True, "1.1", "c:1", "GET", b"/ws", b"", [], 101, 0, 0, 1.0, 2.0, b"x-request-id")
    http, ws = records
    assert (http.msg, http.args, http.getMessage()) == (
        HTTP_ACCESS_MESSAGE, ("c:1", "GET", "/a?b=1", "1.1", 404), 'c:1 - "GET /a?b=1 HTTP/1.1" 404 Not Found')
    assert type(http.args[4]) is StatusCode and http.funcName == "request_done" and http.pyre["bytes"] == 9
    assert (ws.msg, ws.args, ws.getMessage()) == (WS_ACCESS_MESSAGE, ("c:1", "/ws", 101), 'c:1 - "WebSocket /ws" 101')


def test_log_request_does_nothing_when_the_logger_is_off(access_logger):
    logger, records = access_logger
    logger.setLevel(logging.WARNING)
    log_request(logger, False, "1.1", "c:1", "GET", b"/a", b"", [], 200, 0, 0, 1.0, 2.0, b"x-request-id")
    assert records == []


def test_an_observer_that_raises_is_logged_and_the_others_still_run(caplog):
    seen = []

    def broken(record):
        raise ValueError("observer bug")

    record = RequestRecord(False, "1.1", "-", "GET", b"/", b"", [], 200, 0, 0, 0.0, 0.0)
    with caplog.at_level(logging.ERROR, logger="pyre.error"):
        notify_observers((seen.append, broken, seen.append), record)
    assert seen == [record, record]
    [logged] = [r for r in caplog.records if r.name == "pyre.error"]
    assert logged.getMessage().startswith("Request observer") and logged.exc_info[0] is ValueError


def test_the_hook_reports_the_forwarded_client_to_log_and_observers(access_logger):
    _, records = access_logger
    seen = []
    ctx = make_ctx(request_observers=[seen.append])
    ctx.forwarded_client = lambda peer, headers: "203.0.113.7:0" if peer == "127.0.0.1:50000" else peer
    finish(ctx, took=0.5)
    assert records[0].args[0] == records[0].pyre["client"] == seen[0].client == "203.0.113.7:0"
    assert seen[0].duration == 0.5 and seen[0].fields() == records[0].pyre
