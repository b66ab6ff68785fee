"""ServerContext.from_config: a server's context is built from its Config in one call."""

from __future__ import annotations

import asyncio

from pyre import Config
from pyre.transport.context import ServerContext


async def app(scope, receive, send):  # pragma: no cover - never called
    pass


def test_the_context_holds_what_connections_read_derived_from_the_config():
    loop = asyncio.new_event_loop()
    try:
        config = Config(app, http="h1", ws="none", timeout_keep_alive=2, timeout_send=7, limit_concurrency=9,
                        limit_request_body=10, h1_max_headers=20, headers=[("X-A", "1"), "Server: mine"],
                        root_path="/api", access_log=False, access_log_request_id_header="X-Trace",
                        ws_max_queue=3, ws_ping_interval=0)
        ctx = ServerContext.from_config(app, loop, config, {"db": 1})
        assert ctx.config is config and ctx.app is app and ctx.loop is loop and ctx.lifespan_state == {"db": 1}
        assert (ctx.limits.max_body_size, ctx.limits.max_headers) == (10, 20)
        assert (ctx.timeout_keep_alive, ctx.timeout_send, ctx.limit_concurrency) == (2.0, 7.0, 9)
        assert ctx.root_path == "/api" and ctx.access_log is False and ctx.request_id_header == b"x-trace"
        assert ctx.extra_lines == b"x-a: 1\r\n" and ctx.server_line == b"server: mine\r\n"
        assert (ctx.http2, ctx.h2_settings, ctx.websocket) == (False, None, False)
        assert (ctx.ws_max_queue, ctx.ws_ping_interval) == (3, None)
        both = ServerContext.from_config(app, loop, Config(app), None)
        assert both.http2 and both.websocket and both.h2_settings.enable_connect_protocol
        assert both.server_line == b"server: pyre\r\n" and both.date_line.startswith(b"date: ")
    finally:
        loop.close()


def test_a_context_built_from_keywords_has_no_config():
    loop = asyncio.new_event_loop()
    try:
        assert ServerContext(app, loop, limits=Config(app).h1_limits).config is None
    finally:
        loop.close()
