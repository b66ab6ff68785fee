"""Helpers of the logging tests: a context whose request clock the test moves, one
request through its hook, and a ready-made access record."""

from __future__ import annotations

import logging
import re

from pyre.transport.context import ServerContext
from tests.helpers import server_context

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def app(scope, receive, send):  # pragma: no cover - never called
    pass


class FakeLoop:
    def __init__(self) -> None:
        self.now = 100.0

    def time(self) -> float:
        return self.now


def make_ctx(**settings) -> ServerContext:
    """A context with the access log on (Config's default) unless ``settings`` say otherwise."""
    ctx = server_context(app, FakeLoop(), date_header=False, **settings)
    ctx.clock = ctx.loop.time  # the request clock, under the test's control
    return ctx


def finish(ctx: ServerContext, *, websocket=False, version="1.1", method="GET", path=b"/", query=b"",
           headers=(), status=200, nbytes=13, request_bytes=0, took=0.0125) -> None:
    """One request through the hook, as a transport reports it."""
    start = ctx.loop.now
    ctx.loop.now += took
    ctx.request_done(websocket, version, "127.0.0.1:50000", method, path, query, list(headers), status, nbytes,
                     request_bytes, start)


def access_record(**fields) -> logging.LogRecord:
    values = {"client": "127.0.0.1:50000", "method": "GET", "path": "/a?b=1", "status": 200, "bytes": 13,
              "request_bytes": 4, "duration_ms": 1.5, "protocol": "HTTP/1.1", "request_id": "-",
              "http_version": "1.1", "user_agent": "curl/8", "referer": "-"}
    values.update(fields)
    record = logging.LogRecord("pyre.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               (values["client"], values["method"], values["path"], values["http_version"],
                                values["status"]), None)
    record.pyre = values
    return record
