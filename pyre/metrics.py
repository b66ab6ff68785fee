"""Prometheus metrics (``--metrics-port``; the ``metrics`` extra, prometheus-client).

One responsibility: the collectors and the scrape endpoint. The server and the
supervisor call a few functions; nothing here is imported unless metrics are on.

- A single-process server: :meth:`ServerMetrics.create` attaches a request observer
  to the server's :class:`~pyre.transport.context.ServerContext` and serves its own
  registry (plus prometheus_client's default one: the application's own metrics and
  the ``process_*``/``python_*`` collectors) on ``metrics_host:metrics_port``.
- ``--workers``: :meth:`SupervisorMetrics.start` makes a private directory, points
  ``PROMETHEUS_MULTIPROC_DIR`` at it before any worker is spawned (so every worker
  imports prometheus_client in multiprocess mode), and serves the sum over workers
  (prometheus_client's ``MultiProcessCollector``: Pyre's metrics and any the
  application records) with the supervisor's own (restarts, workers). Each worker's
  :class:`ServerMetrics` (told so by ``PYRE_METRICS_WORKER_DIR``, which only the
  supervisor sets) records into that directory and serves nothing. The supervisor
  calls :meth:`SupervisorMetrics.worker_ended` for every ended worker (its live
  gauges disappear; its counts are added to one file of the ended workers' totals, so
  the directory does not grow with every restart) and removes the directory when it
  stops (a supervisor killed with SIGKILL leaves it in the temporary directory).

The hot path is one call of :meth:`ServerMetrics.observe` per request, which only
adds to plain Python counters (a few hundred nanoseconds; a prometheus_client
``inc``/``observe`` costs microseconds, more in multiprocess mode, where each is a
locked mmap write). :meth:`ServerMetrics.tick`, called from the server's main loop,
moves the sums into the prometheus_client metrics and samples the gauges once a
second, and measures the event loop's lag at every call; so a scrape sees requests
at most a second late.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from bisect import bisect_left
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from pyre.errors import StartupError
from pyre.transport.context import connection_gauges

__all__ = [
    "DURATION_BUCKETS",
    "LAG_BUCKETS",
    "METHODS",
    "MULTIPROC_ENV",
    "WORKER_ENV",
    "MetricsEndpoint",
    "ServerMetrics",
    "SupervisorMetrics",
    "require_prometheus",
]

logger = logging.getLogger("pyre.error")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Set (to the same directory) by the supervisor for its workers, and removed by each
# worker as it reads it: "record into the directory, the supervisor serves".
WORKER_ENV = "PYRE_METRICS_WORKER_DIR"
MISSING = "--metrics-port needs prometheus-client: pip install 'pyre-server[metrics]'"
# The method label takes one of these, anything else is "OTHER" (bounded cardinality).
METHODS: Tuple[str, ...] = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
# Upper bounds in seconds (+Inf is added): sub-millisecond responses up to long polls.
DURATION_BUCKETS: Tuple[float, ...] = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                       1.0, 2.5, 5.0, 10.0, 30.0)
_FIRST_BOUND = DURATION_BUCKETS[0]
LAG_BUCKETS: Tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SAMPLE_INTERVAL = 1.0  # seconds between flushes of the request sums and gauge samples
METRICS_PATHS = ("/metrics", "/")


def _prometheus() -> Any:
    """The prometheus_client module, or the one-line StartupError naming the extra."""
    try:
        import prometheus_client
    except ImportError:
        raise StartupError(MISSING) from None
    return prometheus_client


def require_prometheus(import_it: bool = False) -> None:
    """Raise the one-line StartupError naming the extra if prometheus_client is missing;
    checked before the application starts, so a missing extra never follows
    "Application startup complete". ``import_it``: import it (a serving process);
    otherwise it is only looked up, as a supervisor must set PROMETHEUS_MULTIPROC_DIR
    before prometheus_client is first imported."""
    import importlib.util

    if import_it:
        _prometheus()
    elif sys.modules.get("prometheus_client") is None and importlib.util.find_spec("prometheus_client") is None:
        raise StartupError(MISSING)


class _WorkerProcessMetrics:
    """The ``process_*`` metrics of a worker under the supervisor. prometheus_client's
    multiprocess mode has no process collector, so each sample of its own (Linux
    /proc) is kept as a gauge with a ``pid`` label (``liveall``: gone when the worker is)."""

    def __init__(self, pc: Any) -> None:
        self._pc = pc
        self._collector = pc.ProcessCollector(registry=None)
        self._gauges: Dict[str, Any] = {}

    def sample(self) -> None:
        for family in self._collector.collect():
            for sample in family.samples:
                gauge = self._gauges.get(sample.name)
                if gauge is None:
                    gauge = self._gauges[sample.name] = self._pc.Gauge(
                        sample.name, family.documentation, multiprocess_mode="liveall", registry=None)
                gauge.set(sample.value)


# -- the server's (or a worker's) metrics -------------------------------------------------------------


class _BulkHistogram:
    """Adds pre-bucketed counts to a prometheus_client ``Histogram`` (no labels).

    prometheus_client has no public call to add *n* observations at once, so this
    increments the histogram's per-bucket values and its sum, the same values
    ``observe`` increments (non-cumulative bucket counts, as ``observe`` keeps them,
    in-process or in the multiprocess files). The layout is checked once, here."""

    __slots__ = ("_buckets", "_sum")

    def __init__(self, histogram: Any, bounds: Sequence[float]) -> None:
        buckets = getattr(histogram, "_buckets", None)
        total = getattr(histogram, "_sum", None)
        upper = getattr(histogram, "_upper_bounds", None)
        if (not isinstance(buckets, list) or total is None or not hasattr(total, "inc")
                or upper != [float(b) for b in bounds] + [math.inf]
                or not all(hasattr(value, "inc") for value in buckets)):
            version = getattr(sys.modules.get("prometheus_client"), "__version__", "?")
            raise StartupError(f"--metrics-port: prometheus-client {version} is not supported "
                               "(its Histogram is laid out differently)")
        self._buckets = buckets
        self._sum = total

    def add(self, counts: List[int], total: float) -> None:
        """Add ``counts[i]`` observations to bucket ``i`` (the last is +Inf) and ``total`` to the sum."""
        for value, count in zip(self._buckets, counts):
            if count:
                value.inc(count)
        self._sum.inc(total)


class ServerMetrics:
    """The metrics of one serving process (a server, or a worker under the supervisor).

    Use :meth:`create`; then the server calls :meth:`tick` from its main loop and
    :meth:`close` at the end of its shutdown.
    """

    def __init__(self, ctx: Any, registry: Any = None, *, clock: Optional[Callable[[], float]] = None) -> None:
        """Build the metrics (registered in ``registry``; None: in none, as a worker
        in multiprocess mode needs) and attach the request observer to ``ctx``."""
        pc = _prometheus()
        self.ctx = ctx
        self.endpoint: Optional[MetricsEndpoint] = None
        # The lag clock: not loop.time(), which has 1 ms steps under uvloop.
        self._clock = clock or time.monotonic
        self.requests = pc.Counter("pyre_requests", "Requests answered (WebSocket handshakes included)",
                                   ("method", "status"), registry=registry)
        self.duration = pc.Histogram("pyre_request_duration_seconds",
                                     "Seconds from the request head to the complete response",
                                     buckets=DURATION_BUCKETS, registry=registry)
        self.response_bytes = pc.Counter("pyre_response_bytes", "Response body bytes sent", registry=registry)
        self.request_bytes = pc.Counter("pyre_request_bytes",
                                        "Request body bytes received (WebSocket frames not included)",
                                        registry=registry)
        self.connections = pc.Gauge("pyre_open_connections", "Open client connections",
                                    multiprocess_mode="livesum", registry=registry)
        self.streams = pc.Gauge("pyre_open_http2_streams", "Open HTTP/2 streams (WebSocket streams included)",
                                multiprocess_mode="livesum", registry=registry)
        self.websockets = pc.Gauge("pyre_open_websockets", "Open (accepted) WebSockets, over HTTP/1.1 and HTTP/2",
                                   multiprocess_mode="livesum", registry=registry)
        self.lag = pc.Histogram("pyre_event_loop_lag_seconds",
                                "How late the server's periodic main-loop wake-up was (event-loop lag)",
                                buckets=LAG_BUCKETS, registry=registry)
        self._duration_bulk = _BulkHistogram(self.duration, DURATION_BUCKETS)
        # What observe() adds to, flushed into the metrics above by tick():
        # method -> {status: count}, for the known methods; the rest under "OTHER".
        self._by_method: Dict[str, Dict[int, int]] = {method: {} for method in METHODS}
        self._other: Dict[int, int] = {}
        self._buckets = [0] * (len(DURATION_BUCKETS) + 1)
        self._duration_sum = 0.0
        self._bytes = 0
        self._request_bytes = 0
        self._last_tick: Optional[float] = None
        self._next_sample = 0.0
        self._closed = False
        # A worker's own process_* (a server serving its own registry has them from
        # prometheus_client's default registry).
        self._process = _WorkerProcessMetrics(pc) if registry is None else None
        ctx.add_request_observer(self.observe)

    @classmethod
    def create(cls, config: Any, ctx: Any) -> Optional["ServerMetrics"]:
        """The metrics ``config`` asks for (None without ``metrics_port``).

        A worker of Pyre's supervisor (which says so in the environment) records into
        the multiprocess directory the supervisor set up and serves nothing; any other
        server (``--reload`` too) serves its own registry. Raises :class:`~pyre.errors.StartupError` when
        prometheus_client is missing or the metrics port cannot be bound."""
        if config.metrics_port is None:
            return None
        pc = _prometheus()
        directory = os.environ.pop(WORKER_ENV, None)  # not inherited by the app's own subprocesses
        if directory:
            if os.environ.get(MULTIPROC_ENV) != directory:
                raise StartupError(f"--metrics-port: {MULTIPROC_ENV} was changed after Pyre's supervisor set it")
            return cls(ctx, None)
        registry = pc.CollectorRegistry()
        metrics = cls(ctx, registry)
        # The application's own prometheus_client metrics, and process_*/python_*.
        registry.register(pc.REGISTRY)
        try:
            metrics.endpoint = MetricsEndpoint.start(config.metrics_host, config.metrics_port, registry)
        except StartupError:
            metrics.close()
            raise
        return metrics

    @property
    def port(self) -> Optional[int]:
        """The bound metrics port (None in a worker: the supervisor serves)."""
        return self.endpoint.port if self.endpoint is not None else None

    # -- the hot path ---------------------------------------------------------------------------

    def observe(self, record: Any) -> None:
        """The request observer: called once per request with a ``RequestRecord``."""
        table = self._by_method.get(record.method)
        if table is None:
            table = self._other
        status = record.status
        table[status] = table.get(status, 0) + 1
        seconds = record.end - record.start  # perf_counter, monotonic: never negative
        if seconds <= _FIRST_BOUND:  # the common case, without the bisect (a third of the cost)
            self._buckets[0] += 1
        else:
            self._buckets[bisect_left(DURATION_BUCKETS, seconds)] += 1
        self._duration_sum += seconds
        self._bytes += record.bytes
        self._request_bytes += record.request_bytes

    # -- periodic -------------------------------------------------------------------------------

    def tick(self, slept: float) -> None:
        """Called by the server's main loop after each ``asyncio.sleep(slept)``: the
        time past ``slept`` since the previous call is the event loop's lag. Once a
        second, flush the request sums and sample the gauges."""
        now = self._clock()
        last = self._last_tick
        self._last_tick = now
        if last is not None:
            late = now - last - slept
            self.lag.observe(late if late > 0.0 else 0.0)
        if now >= self._next_sample:
            self._next_sample = now + SAMPLE_INTERVAL
            self.flush()
            self.sample()

    def flush(self) -> None:
        """Move what :meth:`observe` counted into the prometheus_client metrics."""
        requests = self.requests
        for method, table in self._by_method.items():
            if table:
                for status, count in table.items():
                    requests.labels(method, str(status)).inc(count)
                table.clear()
        if self._other:
            for status, count in self._other.items():
                requests.labels("OTHER", str(status)).inc(count)
            self._other.clear()
        buckets = self._buckets
        if any(buckets):
            self._duration_bulk.add(buckets, self._duration_sum)
            self._buckets = [0] * len(buckets)
            self._duration_sum = 0.0
        if self._bytes:
            self.response_bytes.inc(self._bytes)
            self._bytes = 0
        if self._request_bytes:
            self.request_bytes.inc(self._request_bytes)
            self._request_bytes = 0

    def sample(self) -> None:
        """Set the gauges from the server's connections (on the event loop), each asked
        through :func:`~pyre.transport.context.connection_gauges`."""
        connections = self.ctx.connections
        self.connections.set(len(connections))
        streams = websockets = 0
        for connection in connections:
            open_streams, open_websockets = connection_gauges(connection)
            streams += open_streams
            websockets += open_websockets
        self.streams.set(streams)
        self.websockets.set(websockets)
        if self._process is not None:
            self._process.sample()

    def close(self) -> None:
        """Stop observing, flush what is left, and stop the endpoint (if any)."""
        if self._closed:
            return
        self._closed = True
        self.ctx.remove_request_observer(self.observe)
        self.flush()
        if self.endpoint is not None:
            self.endpoint.stop()


# -- the supervisor's side ------------------------------------------------------------------------------


class _SupervisorCollector:
    """The supervisor's own metrics, read when scraped (from the endpoint's thread)."""

    def __init__(self, workers: Callable[[], int], restarts: Callable[[], int]) -> None:
        self._workers = workers
        self._restarts = restarts

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        yield CounterMetricFamily("pyre_worker_restarts",
                                  "Worker processes replaced: after dying, or recycled (SIGHUP, --limit-max-*)",
                                  value=self._restarts())
        yield GaugeMetricFamily("pyre_workers", "Worker processes serving (ready, not stopping)",
                                value=self._workers())


class _LockedCollector:
    """A collector read under a lock (a scrape must not see a file half-folded)."""

    def __init__(self, collector: Any, lock: threading.Lock) -> None:
        self._collector = collector
        self._lock = lock

    def collect(self) -> Any:
        with self._lock:
            return list(self._collector.collect())


# The multiprocess file kinds whose values are sums (a histogram's buckets are kept
# non-cumulative in the files): those of ended workers add up into one file each.
FOLDED_KINDS: Tuple[str, ...] = ("counter", "histogram", "summary")
ENDED = "ended"  # counter_ended.db: the counts of every ended worker


def fold_counts(source: str, target: str) -> None:
    """Add the values of prometheus_client multiprocess file ``source`` to ``target``
    (created if missing), key by key, and remove ``source``. The new ``target`` is
    written aside and renamed over the old one, so a failure leaves both as they were."""
    import inspect

    from prometheus_client.mmap_dict import MmapedDict

    totals: Dict[str, float] = {}
    for path in (target, source):
        if os.path.exists(path):
            for key, value, *_ in MmapedDict.read_all_values_from_file(path):
                totals[key] = totals.get(key, 0.0) + value
    temporary = target + ".tmp"  # not *.db: a scrape does not read it
    if os.path.exists(temporary):  # left by a failed fold: MmapedDict would reopen its values
        os.remove(temporary)
    merged = MmapedDict(temporary)
    try:
        timestamped = "timestamp" in inspect.signature(merged.write_value).parameters  # prometheus-client >= 0.18
        for key, value in totals.items():
            if timestamped:
                merged.write_value(key, value, 0.0)
            else:  # pragma: no cover - older prometheus-client
                merged.write_value(key, value)
    finally:
        merged.close()
    os.replace(temporary, target)
    os.remove(source)


class SupervisorMetrics:
    """``--workers`` with ``--metrics-port``: the multiprocess directory and the endpoint."""

    def __init__(self, path: str, previous_env: Optional[str], endpoint: "MetricsEndpoint",
                 mark_dead: Callable[..., None], lock: Optional[threading.Lock] = None) -> None:
        self.path = path
        self.endpoint = endpoint
        self._previous_env = previous_env
        self._mark_dead = mark_dead
        self._lock = lock or threading.Lock()  # held by scrapes and by the folding of ended workers

    @classmethod
    def start(cls, config: Any, *, workers: Callable[[], int],
              restarts: Callable[[], int]) -> Optional["SupervisorMetrics"]:
        """Before the first worker is spawned: make the directory, set
        ``PROMETHEUS_MULTIPROC_DIR`` (workers inherit it), and serve. ``workers`` and
        ``restarts`` are read at each scrape, from another thread. None without
        ``metrics_port``; :class:`~pyre.errors.StartupError` if it cannot start."""
        if config.metrics_port is None:
            return None
        path = tempfile.mkdtemp(prefix="pyre-metrics-")
        previous = os.environ.get(MULTIPROC_ENV)
        # Set before prometheus_client is imported here: it picks its multiprocess
        # values at import, and forked workers (gunicorn's) inherit the module.
        os.environ[MULTIPROC_ENV] = path
        os.environ[WORKER_ENV] = path
        lock = threading.Lock()
        try:
            pc = _prometheus()
            from prometheus_client import multiprocess

            registry = pc.CollectorRegistry()
            registry.register(_LockedCollector(multiprocess.MultiProcessCollector(None, path=path), lock))
            registry.register(_SupervisorCollector(workers, restarts))
            endpoint = MetricsEndpoint.start(config.metrics_host, config.metrics_port, registry)
        except BaseException:
            _restore_env(previous)
            shutil.rmtree(path, ignore_errors=True)
            raise
        return cls(path, previous, endpoint, multiprocess.mark_process_dead, lock)

    @property
    def port(self) -> int:
        return self.endpoint.port

    def worker_ended(self, pid: int) -> None:
        """A worker process ended: drop its live gauges, and fold its counts into the
        totals of the ended workers, so that the directory (and the work of a scrape)
        does not grow with every worker ever started."""
        with self._lock:
            try:
                self._mark_dead(pid, self.path)
            except OSError:  # pragma: no cover - the directory went away
                pass
            for kind in FOLDED_KINDS:
                source = os.path.join(self.path, f"{kind}_{pid}.db")
                if os.path.exists(source):
                    try:
                        fold_counts(source, os.path.join(self.path, f"{kind}_{ENDED}.db"))
                    except Exception as exc:  # noqa: BLE001 - a file kept is only a slower scrape
                        logger.debug("Metrics of worker [%d] kept in %s (%s: %s)", pid, source,
                                     type(exc).__name__, exc)

    def close(self) -> None:
        """Stop serving, restore the environment, remove the directory."""
        self.endpoint.stop()
        _restore_env(self._previous_env)
        shutil.rmtree(self.path, ignore_errors=True)


def _restore_env(previous: Optional[str]) -> None:
    os.environ.pop(WORKER_ENV, None)
    if previous is None:
        os.environ.pop(MULTIPROC_ENV, None)
    else:
        os.environ[MULTIPROC_ENV] = previous


# -- the endpoint ------------------------------------------------------------------------------------


class MetricsEndpoint:
    """A small HTTP server in a daemon thread: ``GET /metrics`` (or ``/``) answers the
    registry in the Prometheus text format (OpenMetrics when the scraper asks for it);
    any other path is 404."""

    def __init__(self, httpd: Any, thread: threading.Thread, host: str) -> None:
        self._httpd = httpd
        self._thread = thread
        self.port: int = httpd.server_address[1]
        self.url = f"http://{_url_host(host)}:{self.port}/metrics"

    @classmethod
    def start(cls, host: str, port: int, registry: Any) -> "MetricsEndpoint":
        """Bind ``host:port`` (0: any free port), serve, and log the URL; a bind
        failure is a :class:`~pyre.errors.StartupError`."""
        _prometheus()
        import socketserver
        from http.server import BaseHTTPRequestHandler
        from urllib.parse import urlsplit

        from prometheus_client.exposition import choose_encoder

        class Handler(BaseHTTPRequestHandler):
            server_version = "pyre-metrics"
            timeout = 10.0  # a scraper that stalls mid-request loses its connection

            def version_string(self) -> str:
                return self.server_version  # not the stdlib's "Python/3.x": no version to a scraper

            def do_GET(self) -> None:
                self._answer(True)

            def do_HEAD(self) -> None:
                self._answer(False)

            def _answer(self, with_body: bool) -> None:
                if urlsplit(self.path).path not in METRICS_PATHS:
                    self._send(404, b"Not Found\n", "text/plain; charset=utf-8", with_body)
                    return
                try:
                    encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                    output = encoder(registry)
                except Exception:  # noqa: BLE001 - a failing collector is a 500, not a dead thread
                    logger.exception("Collecting metrics failed")
                    self._send(500, b"Internal Server Error\n", "text/plain; charset=utf-8", with_body)
                    return
                self._send(200, output, content_type, with_body)

            def _send(self, status: int, body: bytes, content_type: str, with_body: bool) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                pass  # scrapes are not access-logged

        try:
            family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]

            class HTTPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
                address_family = family
                allow_reuse_address = True
                daemon_threads = True

            httpd = HTTPServer((host, port), Handler)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise StartupError(f"--metrics-port: cannot listen on {_url_host(host)}:{port}: {reason}") from None
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="pyre-metrics",
                                  daemon=True)
        thread.start()
        endpoint = cls(httpd, thread, host)
        logger.info("Metrics on %s", endpoint.url)
        return endpoint

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(2.0)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
