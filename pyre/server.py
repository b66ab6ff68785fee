"""The server: startup (app, lifespan, sockets), the serving loop, graceful shutdown.

Embedded use::

    config = pyre.Config(app, host="127.0.0.1", port=0)
    server = pyre.Server(config)
    task = asyncio.create_task(server.serve())
    ...                                 # server.started, server.sockets
    server.should_exit = True
    await task
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import random
import signal
import socket
import sys
import threading
from typing import Any, Callable, List, Optional, Tuple

from pyre import _accel
from pyre._accel import H1Protocol
from pyre.asgi.http import SHUTDOWN_DEADLINE
from pyre.asgi.lifespan import Lifespan
from pyre.config import Config
from pyre.errors import StartupError
from pyre.importer import load_app
from pyre.loops import loop_factory
from pyre.sockets import bind_socket, describe
from pyre.tls import build_ssl_context, prime_allocator
from pyre.transport.context import ServerContext

__all__ = ["Server", "check_extras", "freeze_heap", "run_with_loop"]

logger = logging.getLogger("pyre.error")

# After closing a TLS connection, how long to wait for the client's close_notify before
# dropping it (asyncio's default is 30 s). A client idle in a blocking connection pool
# never answers, and until then the connection counts as open: for limit_concurrency
# and for a graceful shutdown, which waits for open connections.
TLS_SHUTDOWN_TIMEOUT = 5.0
# Loop iterations a shutdown lets pass before it looks for connections in flight: a
# connection the event loop accepted in the same iteration as the stop has no protocol
# yet (asyncio makes it in a task, uvloop calls connection_made soon after).
ACCEPT_SETTLE_ITERATIONS = 3
_HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def check_extras(config: Config, *, import_them: bool = False) -> None:
    """The optional packages the settings need, found before anything starts (not after
    the application's startup): a one-line :class:`~pyre.errors.StartupError` naming
    the extra. ``import_them`` in a serving process; a parent only looks them up. (A
    YAML --log-config without PyYAML fails in setup_logging, earlier still; --reload
    without watchfiles polls instead.)"""
    if config.metrics_port is not None:
        from pyre.metrics import require_prometheus

        require_prometheus(import_them)


class Server:
    """Serves one :class:`~pyre.Config` on the running event loop.

    ``started`` becomes True once the sockets listen; set ``should_exit`` to stop
    gracefully (``force_exit`` to stop without waiting for in-flight requests).
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.started = False
        self.should_exit = False
        self.force_exit = False
        self.servers: List[asyncio.AbstractServer] = []
        self.context: Optional[ServerContext] = None
        self.lifespan: Optional[Lifespan] = None
        self._bound_here = False
        # What a connection taken from a listener's queue at shutdown is served with.
        self._listening: List[socket.socket] = []
        self._accept_options: Tuple[Callable[[], asyncio.Protocol], dict] = (asyncio.Protocol, {})
        # Hooks for a supervisor (see pyre.process.supervisor): called on the loop once serving,
        # and when --limit-max-requests is reached (without one, the server just stops).
        self.on_started: Optional[Callable[["Server"], None]] = None
        self.on_retire: Optional[Callable[[], None]] = None
        self.max_requests = jittered(config.limit_max_requests, config.limit_max_requests_jitter)
        self.metrics: Any = None  # a pyre.metrics.ServerMetrics with --metrics-port (after startup)

    @property
    def sockets(self) -> List[socket.socket]:
        """The listening sockets (after startup)."""
        return [sock for server in self.servers for sock in server.sockets]  # type: ignore[misc]

    @property
    def metrics_port(self) -> Optional[int]:
        """The bound ``--metrics-port`` (after startup; None without metrics, and in a
        worker, whose supervisor serves the metrics)."""
        return self.metrics.port if self.metrics is not None else None

    @property
    def bound_port(self) -> Optional[int]:
        for sock in self.sockets:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                return sock.getsockname()[1]
        return None

    def run(self, sockets: Optional[List[socket.socket]] = None) -> None:
        """Run :meth:`serve` on a new event loop of the configured kind."""
        factory = loop_factory(self.config.loop)
        run_with_loop(self.serve(sockets), factory)

    async def serve(self, sockets: Optional[List[socket.socket]] = None) -> None:
        """Start, serve until ``should_exit``, then shut down gracefully.

        Raises :class:`~pyre.errors.AppLoadError` if the app cannot be loaded. A missing
        optional package (checked first), a bind or lifespan startup failure is logged
        and leaves ``started`` False.
        """
        config = self.config
        try:
            check_extras(config, import_them=True)
        except StartupError as exc:
            logger.error("%s", exc)
            return
        app = load_app(config.app, factory=config.factory, app_dir=config.app_dir, interface=config.interface)
        logger.info("Started server process [%d]", os.getpid())
        with self._capture_signals():
            await self._startup(app, sockets)
            if self.should_exit or not self.started:
                await self._teardown_failed_start()
                return
            await self._main_loop()
            await self._shutdown()

    # -- startup ------------------------------------------------------------------------------

    async def _startup(self, app: Callable[..., Any], sockets: Optional[List[socket.socket]]) -> None:
        config = self.config
        loop = asyncio.get_running_loop()
        try:
            # Before lifespan: a bad certificate is found without starting the app.
            ssl_context = build_ssl_context(config)
        except StartupError as exc:
            logger.error("%s", exc)
            self.should_exit = True
            return
        state = None
        if config.lifespan != "off":
            self.lifespan = Lifespan(app, config.lifespan, config.timeout_lifespan)
            await self.lifespan.startup()
            if self.lifespan.failed:
                self.should_exit = True
                return
            state = self.lifespan.state if self.lifespan.supported else None
        if config.proxy_headers:
            from pyre.asgi.proxy_headers import ProxyHeadersMiddleware

            app = proxy_headers = ProxyHeadersMiddleware(app, config.trusted_proxies,
                                                         source=config.proxy_headers_source)
        ctx = ServerContext.from_config(app, loop, config, state)
        if config.proxy_headers:
            ctx.forwarded_client = proxy_headers.client_text  # the access log's client too
        self.context = ctx
        if config.metrics_port is not None:
            from pyre.metrics import ServerMetrics  # imports prometheus_client

            try:
                self.metrics = ServerMetrics.create(config, ctx)
            except StartupError as exc:
                logger.error("%s", exc)
                self.should_exit = True
                return
        protocol_factory = _protocol_factory(ctx, config, ssl_context is not None)
        if config.gc_freeze:
            freeze_heap()

        try:
            if sockets is None:
                self._bound_here = True
                sockets = [bind_socket(config.host, config.port, uds=config.uds, fd=config.fd, backlog=config.backlog,
                                       uds_perms=config.uds_perms, reuse_port=config.reuse_port)]
            tls_options: dict = {}
            if ssl_context is not None:
                prime_allocator()
                # A client must finish the handshake as soon as it must send a request head.
                tls_options = {"ssl": ssl_context, "ssl_handshake_timeout": config.timeout_request_header}
                if sys.version_info >= (3, 11):
                    tls_options["ssl_shutdown_timeout"] = TLS_SHUTDOWN_TIMEOUT
            self._accept_options = (protocol_factory, tls_options)
            for sock in sockets:
                server = await loop.create_server(protocol_factory, sock=sock, backlog=config.backlog, **tls_options)
                self.servers.append(server)
                self._listening.append(sock)
        except (StartupError, OSError) as exc:
            logger.error("%s", exc)
            self.should_exit = True
            if self.metrics is not None:
                self.metrics.close()
                self.metrics = None
            return
        for sock in self.sockets:
            # Under a supervisor (sockets handed in), the supervisor says where it listens.
            level = logging.INFO if self._bound_here else logging.DEBUG
            logger.log(level, "Pyre running on %s (Press CTRL+C to quit)",
                       describe(sock, "https" if ssl_context is not None else "http"))
        logger.debug("Parser: %s; event loop: %s", _accel.MODE, type(loop).__module__)
        self.started = True
        if self.on_started is not None:
            self.on_started(self)

    async def _teardown_failed_start(self) -> None:
        for server in self.servers:
            server.close()
        if self.metrics is not None:  # a signal during startup
            self.metrics.close()
            self.metrics = None
        if self.lifespan is not None and not self.lifespan.failed:
            await self.lifespan.shutdown()  # lifespan started, but binding failed

    # -- serving --------------------------------------------------------------------------------

    async def _main_loop(self) -> None:
        ctx = self.context
        assert ctx is not None
        interval = ctx.tick_interval
        elapsed = 0.0
        retiring = False
        metrics = self.metrics
        while not self.should_exit:
            await asyncio.sleep(0.05)
            elapsed += 0.05
            if metrics is not None:
                metrics.tick(0.05)  # event-loop lag; once a second, request sums and gauges
            if elapsed >= interval:
                elapsed = 0.0
                ctx.tick()
            if self.max_requests is not None and not retiring and ctx.total_requests >= self.max_requests:
                retiring = True
                self._retire()

    def _retire(self) -> None:
        if self.on_retire is not None:
            logger.info("Served %d requests (--limit-max-requests); asking to be replaced.", self.max_requests)
            self.on_retire()  # the supervisor starts a replacement, then stops this process
        else:
            logger.warning("Maximum request limit of %d exceeded. Terminating process.", self.max_requests)
            self.should_exit = True

    # -- shutdown --------------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        ctx = self.context
        assert ctx is not None
        logger.info("Shutting down")
        ctx.shutting_down = True
        accepting = self._stop_accepting()
        ctx.close_idle()
        # Without this a connection accepted just before the stop was not waited for: the
        # process exited with its request unread, and the kernel reset it (seen with
        # gunicorn's --max-requests under a stream of short connections).
        for _ in range(ACCEPT_SETTLE_ITERATIONS):
            await asyncio.sleep(0)

        timeout = self.config.timeout_graceful_shutdown
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        if ctx.connections or ctx.tasks:
            logger.info("Waiting for %d connection(s) and %d request(s) to finish.", len(ctx.connections), len(ctx.tasks))
        while (ctx.connections or ctx.tasks or any(not task.done() for task in accepting)) and not self.force_exit:
            if deadline is not None and loop.time() >= deadline:
                logger.warning("Graceful shutdown timed out; cancelling what is left.")
                break
            await asyncio.sleep(0.05)
            ctx.tick()
        for task in list(ctx.tasks) + accepting:
            task.cancel(SHUTDOWN_DEADLINE)
        if ctx.tasks and not self.force_exit:
            # Each application sees its cancellation; a response not begun gets a 503
            # with Connection: close (see error_status) before its connection goes.
            # A forced exit (a second Ctrl-C) does not wait for that.
            await asyncio.wait(list(ctx.tasks), timeout=1.0)
            await asyncio.sleep(0)  # HTTP/2 writes in a callback
        for connection in list(ctx.connections):
            transport = connection.transport
            if transport is None or (transport.is_closing() and not self.force_exit):
                continue  # closing: a 503 on its way out
            if transport.get_write_buffer_size() and not self.force_exit:
                transport.close()  # what is left is sent before the close, not dropped
            else:
                transport.abort()
        if ctx.tasks:
            await asyncio.wait(list(ctx.tasks), timeout=1.0)
        if self.lifespan is not None and not self.force_exit:
            await self.lifespan.shutdown()
        await asyncio.sleep(0)
        if self.config.uds and self._bound_here:  # a supervisor removes its own socket file
            try:
                os.unlink(self.config.uds)
            except OSError:
                pass
        if self.metrics is not None:
            self.metrics.close()  # the last requests' counts; stops the endpoint
        logger.info("Finished server process [%d]", os.getpid())

    def _stop_accepting(self) -> List["asyncio.Task[Any]"]:
        """Close the listeners, first taking the connections already queued on them;
        return the tasks making those connections (a TLS handshake may take a while).

        Closing a listening socket resets the connections in its queue; with
        ``--reuse-port`` that queue is this process's alone, so no other worker would
        take them either. Taken just before the close (nothing runs in between), they
        are served like any other connection during a shutdown.
        """
        queued: List[socket.socket] = []
        for sock in self._listening:
            for _ in range(self.config.backlog):  # bounded: the queue holds at most that many
                try:
                    conn, _address = sock.accept()
                except OSError:  # empty (BlockingIOError), or the socket is gone
                    break
                conn.setblocking(False)
                queued.append(conn)
        for server in self.servers:
            server.close()
        loop = asyncio.get_running_loop()
        factory, options = self._accept_options
        accepting = [loop.create_task(loop.connect_accepted_socket(factory, conn, **options)) for conn in queued]
        for task in accepting:
            task.add_done_callback(_log_failed_accept)
        return accepting

    # -- signals ----------------------------------------------------------------------------------

    def handle_exit(self, sig: int, frame: Any = None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True

    class _SignalScope:
        def __init__(self, server: "Server") -> None:
            self.server = server
            self.installed: List[int] = []

        def __enter__(self) -> None:
            if threading.current_thread() is not threading.main_thread():
                return
            loop = asyncio.get_running_loop()
            for sig in _HANDLED_SIGNALS:
                try:
                    loop.add_signal_handler(sig, self.server.handle_exit, sig, None)
                except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
                    signal.signal(sig, self.server.handle_exit)
                else:
                    self.installed.append(sig)

        def __exit__(self, *exc_info: Any) -> None:
            if not self.installed:
                return
            loop = asyncio.get_running_loop()
            for sig in self.installed:
                loop.remove_signal_handler(sig)

    def _capture_signals(self) -> "Server._SignalScope":
        return Server._SignalScope(self)


YOUNG_THRESHOLD = 7000  # net container allocations between young collections (CPython's default: 700)


def freeze_heap() -> None:
    """``--gc-freeze``, once startup is done: collect what startup left, then move every
    object still alive to the collector's permanent generation. Full collections (one
    every few thousand requests) then walk only what was made since, not the ~27,000
    objects of the server's and the app's modules (~10 ms each, the p99 tail of HTTP/2);
    objects made later are collected as before. The cost: a reference cycle made
    before this that becomes garbage later is never freed. Process-wide, so on by
    default only where the process is the server's (see ``launch``).

    It also raises the youngest generation's threshold to :data:`YOUNG_THRESHOLD` (if
    lower): a server's in-flight requests (a few dozen container objects each, freed
    by reference counting) pass CPython's 700 on every busy loop iteration, and the
    young collections that walk them found nothing and cost ~5% of the CPU of h2load
    -c16 -m10 (a ``gc.callbacks`` probe: 8,800 collections in 5 s, none after)."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    if young < YOUNG_THRESHOLD:
        gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def _log_failed_accept(task: "asyncio.Task[Any]") -> None:
    """A connection taken from a listener's queue at shutdown could not be made (its
    protocol learns of the shutdown from the context when it is)."""
    if not task.cancelled() and task.exception() is not None:  # gone meanwhile, or a failed TLS handshake
        logger.debug("A connection taken at shutdown could not be served: %r", task.exception())


def _protocol_factory(ctx: ServerContext, config: Config, tls: bool) -> Callable[[], asyncio.Protocol]:
    """``--http h1``: HTTP/1.1 only. ``h2``: HTTP/2 only (prior knowledge on cleartext,
    ALPN h2 on TLS). ``auto``: HTTP/1.1 that switches to HTTP/2 on the preface or
    ``Upgrade: h2c`` on cleartext, and the client's ALPN choice on TLS.

    ``--proxy-protocol``: each connection first reads a PROXY protocol header (from a
    trusted proxy only, within ``--timeout-request-header``), then gets one of these."""
    http = config.http
    factory: Callable[[], asyncio.Protocol]
    if http == "h1":
        factory = lambda: H1Protocol(ctx)  # noqa: E731
    else:
        from pyre._accel import ALPNSelector, H2Protocol  # only servers that see HTTP/2 load it

        if http == "h2":
            factory = lambda: H2Protocol(ctx)  # noqa: E731
        elif tls:
            factory = lambda: ALPNSelector(ctx, lambda: H1Protocol(ctx))  # noqa: E731
        else:
            factory = lambda: H1Protocol(ctx)  # noqa: E731
    if not config.proxy_protocol:
        return factory
    from pyre.transport.proxy_protocol import proxy_protocol_factory

    trusted = config.trusted_proxies.__contains__  # a Unix-socket peer (None) needs 'unix:' or '*'
    return proxy_protocol_factory(factory, trusted, config.timeout_request_header, ctx.loop, ctx.connections,
                                  shutting_down=lambda: ctx.shutting_down)


def run_with_loop(coro: Any, factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(coro)
    else:  # pragma: no cover - Python 3.10
        loop = factory()
        try:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(coro)
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def jittered(limit: Optional[int], jitter: int) -> Optional[int]:
    """``--limit-max-requests`` plus a random 0..jitter, drawn once per server process."""
    if not limit:
        return None
    return limit + (random.randint(0, jitter) if jitter else 0)
