"""State shared by every connection of one server: settings, counters, clock."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from typing import Any, Awaitable, Callable, Dict, Optional, Set

from pyre.protocol.h1.parsing import H1Limits

__all__ = ["ServerContext"]


class ServerContext:
    """One small object handed to every protocol instance (built by the server).

    ``date_line`` is refreshed once a second by :meth:`tick`, which also enforces
    connection deadlines: one periodic sweep instead of a timer per request.
    """

    def __init__(
        self,
        app: Callable[..., Awaitable[Any]],
        loop: asyncio.AbstractEventLoop,
        *,
        limits: H1Limits,
        root_path: str = "",
        timeout_keep_alive: float = 5.0,
        timeout_request_header: float = 30.0,
        limit_concurrency: Optional[int] = None,
        server_header: bool = True,
        date_header: bool = True,
        extra_headers: bytes = b"",
        access_log: bool = True,
        lifespan_state: Optional[Dict[str, Any]] = None,
        http2: bool = False,
        h2_settings: Any = None,
        h2_ping_interval: Optional[float] = None,
        websocket: bool = False,
        ws_max_size: int = 16 * 1024 * 1024,
        ws_max_queue: int = 32,
        ws_ping_interval: Optional[float] = None,
        ws_ping_timeout: Optional[float] = None,
        ws_per_message_deflate: bool = True,
    ) -> None:
        self.app = app
        self.loop = loop
        self.limits = limits
        self.root_path = root_path
        self.timeout_keep_alive = timeout_keep_alive
        self.timeout_request_header = timeout_request_header
        self.limit_concurrency = limit_concurrency
        self.server_line = b"server: pyre\r\n" if server_header else b""
        self.date_enabled = date_header
        self.date_line = b""
        self.extra_lines = extra_headers
        self.access_log = access_log
        self.access_logger = logging.getLogger("pyre.access")
        self.lifespan_state = lifespan_state
        self.http2 = http2  # h2c (prior knowledge and Upgrade) on cleartext HTTP/1.1 connections
        self.h2_settings = h2_settings  # a pyre.protocol.h2.H2Settings, or None for the defaults
        self.h2_ping_interval = h2_ping_interval  # PING a silent HTTP/2 peer with streams open; None: never
        self.websocket = websocket  # serve Upgrade: websocket (else such requests are plain HTTP)
        self.ws_max_size = ws_max_size
        self.ws_max_queue = ws_max_queue
        self.ws_ping_interval = ws_ping_interval
        self.ws_ping_timeout = ws_ping_timeout
        self.ws_per_message_deflate = ws_per_message_deflate
        self.connections: Set[Any] = set()
        self.tasks: Set[asyncio.Task] = set()
        self.total_requests = 0
        self.shutting_down = False
        self._date_second = -1
        self.update_date()

    def update_date(self) -> None:
        if not self.date_enabled:
            return
        now = int(time.time())
        if now != self._date_second:
            self._date_second = now
            self.date_line = b"date: " + email.utils.formatdate(now, usegmt=True).encode("ascii") + b"\r\n"

    def tick(self) -> None:
        """Called periodically by the server: refresh Date, enforce deadlines."""
        self.update_date()
        now = self.loop.time()
        expired = [c for c in self.connections if 0.0 < c.deadline <= now]
        for connection in expired:
            connection.on_timeout()

    @property
    def tick_interval(self) -> float:
        shortest = min(self.timeout_keep_alive, self.timeout_request_header, self.h2_ping_interval or 1e9,
                       self.ws_ping_interval or 1e9, self.ws_ping_timeout or 1e9)
        return max(0.05, min(0.5, shortest / 4))

    def close_idle(self) -> None:
        """Shutdown: close connections that have no request in flight."""
        for connection in list(self.connections):
            connection.shutdown()
