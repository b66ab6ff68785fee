"""Gunicorn worker classes: gunicorn manages the processes, Pyre serves in each.

::

    gunicorn -k pyre.workers.PyreWorker -w 4 -b 0.0.0.0:8000 module:app
    gunicorn -k pyre.workers.PyreAsyncioWorker ...     # the stdlib event loop, never uvloop

The arbiter binds the sockets (``-b``, TCP or ``unix:``) and forks the workers; each
worker runs one :class:`pyre.Server` on those sockets, with settings translated from
gunicorn's (:func:`pyre_config`). Alongside the server, a small task on the worker's
event loop

- calls ``notify()`` (gunicorn's heartbeat) every ``min(1, timeout / 4)`` seconds, so
  an event loop blocked for longer than ``--timeout`` gets the worker killed and
  replaced by the arbiter;
- retires the worker gracefully once it has served ``--max-requests`` (plus jitter)
  requests, and when the arbiter is gone (the parent PID changed).

Signals follow gunicorn's worker contract: SIGTERM stops gracefully (in-flight
requests finish, within ``--graceful-timeout``; then lifespan shutdown), SIGQUIT and
SIGINT stop at once, SIGUSR1 reopens the log files, SIGABRT (the arbiter's timeout
kill) exits at once even from a blocked loop, SIGWINCH is ignored.

Pyre's log records go to gunicorn's error log (at ``--log-level``); access lines go
to gunicorn's access log when gunicorn has one (``--access-logfile``, a log config,
or syslog), in Pyre's own line format.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from types import SimpleNamespace
from typing import Any, Optional

try:
    from gunicorn.workers.base import Worker
except ImportError as exc:  # pragma: no cover - gunicorn is what this module is for
    raise ImportError("pyre.workers needs gunicorn (pip install gunicorn)") from exc

from pyre.config import Config, validate
from pyre.errors import PyreError, StartupError
from pyre.exit_codes import ExitCode
from pyre.launch import run_server
from pyre.loops import loop_factory
from pyre.metrics import MULTIPROC_ENV, WORKER_ENV
from pyre.server import Server, run_with_loop

__all__ = ["GunicornMetrics", "PyreWorker", "PyreAsyncioWorker", "pyre_config"]

logger = logging.getLogger("pyre.error")

# gunicorn's 0 means "unlimited" for the request limits; Pyre keeps a (large) bound.
UNLIMITED_REQUEST_LINE = 1024 * 1024  # what gunicorn itself allows for 0
MAX_HEADER_FIELDS = 32768  # gunicorn's ceiling for --limit-request-fields (also for 0)
UNLIMITED_HEADER_SECTION = 1024 * 1024
# Pyre limits the whole header section, gunicorn each field: the section limit is the
# one a request of at most --limit-request-fields fields of --limit-request-field_size
# bytes could need, capped at Pyre's default unless one field alone needs more.
DEFAULT_HEADER_SECTION = 65536
# gunicorn's --keep-alive 0 turns keep-alive off; Pyre closes idle connections this soon.
NO_KEEP_ALIVE = 0.05

_CHECK_INTERVAL = 0.05  # how often the worker task looks at the request count and flags


def _setting(cfg: Any, name: str, default: Any) -> Any:
    """A gunicorn setting, or ``default`` if this gunicorn version has no such setting."""
    settings = getattr(cfg, "settings", {})
    if name not in settings:
        return default
    return getattr(cfg, name)


def _changed(cfg: Any, name: str) -> bool:
    setting = getattr(cfg, "settings", {}).get(name)
    return setting is not None and setting.get() != getattr(setting, "default", None)


def header_limits(limit_request_line: int, limit_request_fields: int, limit_request_field_size: int) -> dict:
    """Pyre's ``h1_*`` limits for gunicorn's ``--limit-request-*`` values (0: unlimited)."""
    line = limit_request_line if limit_request_line > 0 else UNLIMITED_REQUEST_LINE
    fields = min(limit_request_fields, MAX_HEADER_FIELDS) if limit_request_fields > 0 else MAX_HEADER_FIELDS
    if limit_request_field_size > 0:
        section = max(limit_request_field_size, min(fields * (limit_request_field_size + 2), DEFAULT_HEADER_SECTION))
    else:
        section = UNLIMITED_HEADER_SECTION
    return {
        "h1_max_request_line": max(16, line),
        "h1_max_headers": fields,
        "h1_max_header_size": max(64, section),
    }


def graceful_timeout(seconds: float) -> float:
    """Pyre's shutdown timeout for ``--graceful-timeout``: a little shorter, so that Pyre
    cancels what is left and runs lifespan shutdown before the arbiter's SIGKILL."""
    seconds = max(0.0, float(seconds))
    return seconds - min(1.0, seconds / 10)


def access_log_enabled(cfg: Any) -> bool:
    """Whether gunicorn writes an access log (its own rule: a file, a log config, syslog)."""
    return bool(
        _setting(cfg, "accesslog", None)
        or _setting(cfg, "logconfig", None)
        or _setting(cfg, "logconfig_dict", None)
        or _setting(cfg, "logconfig_json", None)
        or (_setting(cfg, "syslog", False) and not _setting(cfg, "disable_redirect_access_to_syslog", False))
    )


def pyre_config(cfg: Any, app: Any, *, loop: str = "auto") -> Config:
    """The :class:`~pyre.Config` for one worker, from gunicorn's settings ``cfg``.

    ``app`` is the loaded application. Sockets, processes, the heartbeat and
    ``--max-requests`` are the worker's business, not settings of the server.
    Raises :class:`~pyre.errors.ConfigError` for settings Pyre cannot take.
    """
    kwargs: dict = {
        "loop": loop,
        "http": "auto",  # HTTP/1.1, h2c (prior knowledge and Upgrade), ALPN h2 on TLS
        "backlog": cfg.backlog,  # asyncio listens again on the handed-over sockets
        "log_level": str(cfg.loglevel).lower(),
        "access_log": access_log_enabled(cfg),
        "use_colors": False,
        "gc_freeze": True,  # a worker process exists only to serve (see pyre.launch.launch)
        "timeout_keep_alive": float(cfg.keepalive) if cfg.keepalive > 0 else NO_KEEP_ALIVE,
        "timeout_graceful_shutdown": graceful_timeout(cfg.graceful_timeout),
        "forwarded_allow_ips": list(cfg.forwarded_allow_ips),
        **header_limits(cfg.limit_request_line, cfg.limit_request_fields, cfg.limit_request_field_size),
    }
    if os.environ.get(WORKER_ENV):  # GunicornMetrics' arbiter serves: record into its directory
        kwargs["metrics_port"] = 0
    # gunicorn's default (1000) is for its other async workers; a limit only when asked.
    if _changed(cfg, "worker_connections") and cfg.worker_connections > 0:
        kwargs["limit_concurrency"] = cfg.worker_connections
    lifespan = _setting(cfg, "asgi_lifespan", "auto")
    if lifespan in ("auto", "on", "off"):
        kwargs["lifespan"] = lifespan
    root_path = _setting(cfg, "root_path", "") or ""
    if root_path.rstrip("/"):
        kwargs["root_path"] = root_path.rstrip("/")
    proxy_protocol = _setting(cfg, "proxy_protocol", False)
    kwargs["proxy_protocol"] = proxy_protocol not in (False, None, "off", "")
    for gunicorn_name, pyre_name in (
        ("http2_max_concurrent_streams", "h2_max_concurrent_streams"),
        ("http2_initial_window_size", "h2_initial_window_size"),
        ("http2_max_frame_size", "h2_max_frame_size"),
        ("http2_max_header_list_size", "h2_max_header_list_size"),
        ("websocket_max_message_size", "ws_max_size"),
    ):
        value = _setting(cfg, gunicorn_name, None)
        if value:
            kwargs[pyre_name] = value
    if cfg.is_ssl:
        kwargs.update(
            ssl_certfile=cfg.certfile,
            ssl_keyfile=cfg.keyfile,
            ssl_ca_certs=cfg.ca_certs,
            ssl_cert_reqs=int(cfg.cert_reqs),
            ssl_ciphers=cfg.ciphers or "",
        )
        password = _setting(cfg, "keyfile_password", None)  # not in every gunicorn
        if password:
            kwargs["ssl_keyfile_password"] = password
    return Config(app, **kwargs)


class _Forward(logging.Handler):
    """Hands Pyre's records to one of gunicorn's loggers (its handlers, filters,
    propagation and log config), so that SIGUSR1 reopens one set of files."""

    def __init__(self, target: logging.Logger) -> None:
        super().__init__()
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        self.target.handle(record)


class _WorkerServer(Server):
    """The server of one worker: its SIGTERM/SIGINT go through the worker."""

    def __init__(self, config: Config, worker: "PyreWorker") -> None:
        super().__init__(config)
        self.worker = worker

    def handle_exit(self, sig: int, frame: Any = None) -> None:
        if sig == signal.SIGTERM:
            self.worker.stop_gracefully()
        else:
            self.worker.stop_now(sig)


class PyreWorker(Worker):
    """A gunicorn worker serving an ASGI application with Pyre (uvloop if installed)."""

    #: The event loop: ``auto`` (uvloop if installed; gunicorn's ``--asgi-loop`` where
    #: it has that setting), ``asyncio`` or ``uvloop``.
    LOOP = "auto"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # runs in the arbiter: no process-wide changes here
        self.server: Optional[_WorkerServer] = None
        self._stopping = False
        self._interrupted = False

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        """Called once by the arbiter: say which settings this worker does not use."""
        if cfg.threads > 1:
            log.warning("%s does not use --threads: one event loop serves each worker.", cls.__name__)
        if access_log_enabled(cfg) and _changed(cfg, "access_log_format"):
            log.warning("%s writes Pyre's access line format; --access-logformat is not used.", cls.__name__)

    @property
    def loop_name(self) -> str:
        if self.LOOP != "auto":
            return self.LOOP
        chosen = _setting(self.cfg, "asgi_loop", "auto")
        return chosen if chosen in ("auto", "asyncio", "uvloop") else "auto"

    # -- process setup ------------------------------------------------------------------------

    def init_process(self) -> None:
        self._route_logging()
        super().init_process()  # signals, app import, post_worker_init hook, then run()

    def _route_logging(self) -> None:
        error_log = getattr(self.log, "error_log", None) or logging.getLogger("gunicorn.error")
        access_log = getattr(self.log, "access_log", None) or logging.getLogger("gunicorn.access")
        root = logging.getLogger("pyre")
        if not root.handlers:  # else a log config of the user's own set Pyre's loggers up
            root.handlers = [_Forward(error_log)]
            root.propagate = False
            root.setLevel(error_log.getEffectiveLevel())
            error = logging.getLogger("pyre.error")
            error.handlers = []
            error.propagate = True
            error.setLevel(logging.NOTSET)
        access = logging.getLogger("pyre.access")
        if not access.handlers:
            access.propagate = False
            if access_log_enabled(self.cfg):
                access.handlers = [_Forward(access_log)]
                access.setLevel(logging.INFO)
            else:
                access.setLevel(logging.CRITICAL + 1)

    def _install_loop_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        # gunicorn's own handlers (init_signals) stay in place for SIGABRT, which must
        # work while the loop is blocked, and SIGWINCH; the server installs SIGTERM and
        # SIGINT handlers (-> _WorkerServer.handle_exit) for as long as it serves.
        loop.add_signal_handler(signal.SIGQUIT, self.stop_now, signal.SIGQUIT)
        loop.add_signal_handler(signal.SIGUSR1, self._reopen_logs)

    # -- serving -----------------------------------------------------------------------------

    def run(self) -> None:
        # A failure exits with the status the arbiter stops on, instead of respawning.
        code = run_server(self._run_server, app=self.wsgi, report=self.log.error, gunicorn=True)
        if code:
            sys.exit(code)

    def _run_server(self) -> "_WorkerServer":
        config = pyre_config(self.cfg, self.wsgi, loop=self.loop_name)
        factory = loop_factory(config.loop)
        server = self.server = _WorkerServer(config, self)
        # --max-requests (gunicorn's jittered count) through the server's own limit.
        server.max_requests = self.max_requests if self.max_requests < sys.maxsize else None
        server.on_retire = self._retire
        run_with_loop(self._serve(server), factory)
        return server

    async def _serve(self, server: _WorkerServer) -> None:
        loop = asyncio.get_running_loop()
        self._install_loop_signals(loop)
        watch = asyncio.ensure_future(self._watch(server))
        try:
            # gunicorn hands over its socket wrappers; Pyre takes the sockets themselves.
            await server.serve(sockets=[getattr(listener, "sock", listener) for listener in self.sockets])
        finally:
            watch.cancel()
            try:
                await watch
            except asyncio.CancelledError:
                pass

    async def _watch(self, server: _WorkerServer) -> None:
        """Heartbeat, ``--max-requests``, and stops requested outside the event loop."""
        loop = asyncio.get_running_loop()
        # The arbiter kills a worker silent for --timeout; it hands us half of that.
        beat = max(_CHECK_INTERVAL, min(1.0, self.timeout / 2)) if self.timeout else 1.0
        next_beat = 0.0
        while True:
            now = loop.time()
            if now >= next_beat:
                self.notify()
                next_beat = now + beat
            if server.context is not None:
                self.nr = server.context.total_requests
            if not self._stopping:
                if not self.alive:  # SIGTERM before the server's handlers, or the reloader
                    self.stop_gracefully()
                elif os.getppid() != self.ppid:
                    self.log.info("Parent changed, shutting down: %s", self)
                    self.stop_gracefully()
            await asyncio.sleep(_CHECK_INTERVAL)

    # -- stopping ----------------------------------------------------------------------------

    def stop_gracefully(self) -> None:
        """Stop accepting, let in-flight requests finish, then exit (on the event loop)."""
        self.alive = False
        server = self.server
        if self._stopping or server is None:
            return
        self._stopping = True
        # A request already on its way on an idle connection is still answered
        # (see pyre.transport.context.SHUTDOWN_GRACE).
        server.should_exit = True

    def _retire(self) -> None:
        self.log.info("Autorestarting worker after %d requests (max requests %d).",
                      self.server.context.total_requests if self.server and self.server.context else 0,
                      self.max_requests)
        self.stop_gracefully()

    def stop_now(self, sig: int = signal.SIGQUIT) -> None:
        """gunicorn's quick shutdown (SIGQUIT, SIGINT): cancel what is in flight, exit."""
        self.alive = False
        if not self._interrupted:  # a terminal's Ctrl+C also reaches the arbiter: SIGQUIT
            self._interrupted = True
            try:
                self.cfg.worker_int(self)
            except Exception:  # noqa: BLE001 - a failing hook must not keep the worker alive
                self.log.exception("Exception in worker_int hook")
        server = self.server
        if server is not None:
            server.force_exit = True
            server.should_exit = True

    def _reopen_logs(self) -> None:
        self.log.reopen_files()


class PyreAsyncioWorker(PyreWorker):
    """:class:`PyreWorker` on the standard library's event loop (never uvloop)."""

    LOOP = "asyncio"


class GunicornMetrics:
    """Pyre's Prometheus metrics under gunicorn, summed over the workers: the server
    hooks for a gunicorn config file (the ``metrics`` extra)::

        # gunicorn.conf.py
        from pyre.workers import GunicornMetrics

        metrics = GunicornMetrics(port=9100)  # host="127.0.0.1" by default
        when_ready, child_exit, on_exit = metrics.when_ready, metrics.child_exit, metrics.on_exit

    ``when_ready`` (in the arbiter, before the first worker forks) makes a private
    prometheus_client multiprocess directory, points the workers at it and serves the
    sum on ``host:port``, as ``pyre --workers N --metrics-port`` does; ``child_exit``
    drops an ended worker's gauges and folds its counts into the totals; ``on_exit``
    stops serving and removes the directory. ``pyre_worker_restarts_total`` counts the
    workers that ended while the arbiter ran (recycled by ``--max-requests``, killed by
    ``--timeout``, or died).
    """

    # The arbiter's one endpoint, kept on the class: gunicorn re-reads its config file
    # on SIGHUP, and the new instance's hooks must reach what the first one started.
    supervisor: Any = None  # a pyre.metrics.SupervisorMetrics once ready
    ended = 0

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port = port
        self.host = host

    def when_ready(self, arbiter: Any) -> None:
        from pyre.metrics import SupervisorMetrics

        if GunicornMetrics.supervisor is not None:
            return
        try:
            # Only the metrics settings are read, checked as Config checks them.
            settings = SimpleNamespace(metrics_host=validate("metrics_host", self.host),
                                       metrics_port=validate("metrics_port", self.port))
            if "prometheus_client" in sys.modules and not os.environ.get(MULTIPROC_ENV):
                # It chose single-process values at import; forked workers would keep them.
                raise StartupError("GunicornMetrics: prometheus_client was imported in the arbiter before "
                                   "when_ready (by the app under --preload, or by the config file), so the "
                                   f"workers would not share their metrics; import it later, or set {MULTIPROC_ENV}")
            GunicornMetrics.supervisor = SupervisorMetrics.start(
                settings, workers=lambda: len(arbiter.WORKERS), restarts=lambda: GunicornMetrics.ended)
        except PyreError as exc:  # a bad port or host, a busy port, no prometheus_client
            arbiter.log.error("%s", exc)
            raise SystemExit(ExitCode.WORKER_BOOT_ERROR) from None
        arbiter.log.info("Prometheus metrics on %s", self.supervisor.endpoint.url)

    def child_exit(self, arbiter: Any, worker: Any) -> None:
        if GunicornMetrics.supervisor is not None:
            GunicornMetrics.ended += 1
            GunicornMetrics.supervisor.worker_ended(worker.pid)

    def on_exit(self, arbiter: Any) -> None:
        if GunicornMetrics.supervisor is not None:
            GunicornMetrics.supervisor.close()
            GunicornMetrics.supervisor = None
