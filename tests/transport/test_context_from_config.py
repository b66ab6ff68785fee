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


# The config values ServerContext caches as plain attributes (its docstring lists them),
# by their name on the context and on the Config.
CACHED = {name: name for name in (
    "root_path", "timeout_keep_alive", "timeout_request_header", "timeout_request_body", "timeout_send",
    "limit_concurrency", "access_log", "h2_ping_interval", "ws_max_size", "ws_max_queue", "ws_ping_interval",
    "ws_ping_timeout", "ws_per_message_deflate")}
CACHED["date_enabled"] = "date_header"


def test_the_cached_config_values_are_the_configs_own():
    loop = asyncio.new_event_loop()
    try:
        settings = dict(root_path="/r", timeout_keep_alive=1.5, timeout_request_header=2.5, timeout_request_body=3.5,
                        timeout_send=4.5, limit_concurrency=5, access_log=False, h2_ping_interval=6.5,
                        ws_max_size=7000, ws_max_queue=8, ws_ping_interval=9.5, ws_ping_timeout=10.5,
                        ws_per_message_deflate=False, date_header=False)
        for config in (Config(app), Config(app, **settings)):
            ctx = ServerContext.from_config(app, loop, config)
            assert {name: getattr(ctx, name) for name in CACHED} == \
                {name: getattr(config, setting) for name, setting in CACHED.items()}
        assert ctx.date_line == b"" and ctx.timeout_send == 4.5  # the second: every value overridden
        assert ServerContext.__doc__ is not None
        for name in CACHED:
            assert f"``{name}``" in ServerContext.__doc__, f"ServerContext's docstring does not list {name}"
    finally:
        loop.close()
