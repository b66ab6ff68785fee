"""pyre.metrics: the request observer, label bounding, gauge sampling, the endpoint, the
multiprocess directory, and the errors (prometheus_client missing, port in use)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, Tuple

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from pyre import Config
from pyre.errors import StartupError
from pyre.metrics import (
    DURATION_BUCKETS,
    MULTIPROC_ENV,
    SAMPLE_INTERVAL,
    WORKER_ENV,
    fold_counts,
    MetricsEndpoint,
    ServerMetrics,
    SupervisorMetrics,
    _BulkHistogram,
)
from pyre.access_log import RequestRecord
from tests.apps import hello
from tests.helpers import server_context

ROOT = Path(__file__).resolve().parents[2]
MISSING = "--metrics-port needs prometheus-client: pip install 'pyre-server[metrics]'"


@pytest.fixture
def ctx():
    loop = asyncio.new_event_loop()
    yield server_context(hello, loop, access_log=False)
    loop.close()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def metrics(ctx):
    registry = CollectorRegistry()
    m = ServerMetrics(ctx, registry, clock=Clock())
    m.registry = registry  # type: ignore[attr-defined]
    yield m
    m.close()


def record(method="GET", status=200, nbytes=13, request_bytes=0, seconds=0.0003, websocket=False) -> RequestRecord:
    return RequestRecord(websocket, "1.1", "127.0.0.1:5000", method, b"/", b"", [], status, nbytes, request_bytes,
                         0.0, seconds)


def value(m, name: str, **labels: str) -> float:
    got = m.registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


def scrape(url: str, accept: str = "") -> Tuple[int, str, str]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def samples(text: str) -> Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


# -- the observer --------------------------------------------------------------------------------------


def test_the_observer_counts_requests_by_method_and_status_and_sums_body_bytes(ctx, metrics):
    assert metrics.observe in ctx.request_observers
    # Through the context's hook, as the transports report requests.
    for status in (200, 200, 404):
        ctx.request_done(False, "1.1", "-", "GET", b"/", b"", [], status, 10, 0, ctx.clock())
    ctx.request_done(False, "2", "-", "POST", b"/", b"", [], 201, 5, 1234, ctx.clock())
    ctx.request_done(True, "1.1", "-", "GET", b"/ws", b"", [], 101, 0, 0, ctx.clock())
    assert value(metrics, "pyre_requests_total", method="GET", status="200") == 0  # not before a flush
    metrics.flush()
    assert value(metrics, "pyre_requests_total", method="GET", status="200") == 2
    assert value(metrics, "pyre_requests_total", method="GET", status="404") == 1
    assert value(metrics, "pyre_requests_total", method="POST", status="201") == 1
    assert value(metrics, "pyre_requests_total", method="GET", status="101") == 1
    assert value(metrics, "pyre_response_bytes_total") == 35
    assert value(metrics, "pyre_request_bytes_total") == 1234
    assert value(metrics, "pyre_request_duration_seconds_count") == 5
    metrics.flush()  # nothing new: nothing counted twice
    assert value(metrics, "pyre_requests_total", method="GET", status="200") == 2
    assert value(metrics, "pyre_response_bytes_total") == 35
    assert value(metrics, "pyre_request_bytes_total") == 1234
    metrics.observe(record(method="PUT", request_bytes=6))
    metrics.flush()
    assert value(metrics, "pyre_requests_total", method="PUT", status="200") == 1
    assert value(metrics, "pyre_request_bytes_total") == 1240
    assert value(metrics, "pyre_response_bytes_total") == 48


@pytest.mark.parametrize("method", ["PROPFIND", "get", "BREW", "X" * 200])
def test_methods_outside_the_fixed_set_are_other(metrics, method):
    metrics.observe(record(method=method, status=418))
    metrics.observe(record(method="PATCH", status=204))
    metrics.flush()
    assert value(metrics, "pyre_requests_total", method="OTHER", status="418") == 1
    assert value(metrics, "pyre_requests_total", method="PATCH", status="204") == 1
    methods = {s.labels["method"] for family in metrics.registry.collect() for s in family.samples
               if s.name == "pyre_requests_total"}
    assert methods == {"OTHER", "PATCH"}


def test_durations_land_in_the_right_buckets_with_their_sum(metrics):
    for seconds in (0.0002, 0.0005, 0.003, 0.003, 0.7, 45.0):
        metrics.observe(record(seconds=seconds))
    metrics.flush()

    def bucket(le: str) -> float:
        return value(metrics, "pyre_request_duration_seconds_bucket", le=le)

    assert bucket("0.0005") == 2  # cumulative, and an observation on a bound counts in it ("le")
    assert bucket("0.001") == 2
    assert bucket("0.0025") == 2
    assert bucket("0.005") == 4
    assert bucket("0.5") == 4
    assert bucket("1.0") == 5
    assert bucket("30.0") == 5
    assert bucket("+Inf") == 6
    assert value(metrics, "pyre_request_duration_seconds_count") == 6
    assert value(metrics, "pyre_request_duration_seconds_sum") == pytest.approx(45.7067)
    assert len(DURATION_BUCKETS) + 1 == len({s.labels["le"] for family in metrics.registry.collect()
                                             for s in family.samples
                                             if s.name == "pyre_request_duration_seconds_bucket"})


def test_close_flushes_and_detaches_the_observer(ctx):
    registry = CollectorRegistry()
    m = ServerMetrics(ctx, registry)
    ctx.request_done(False, "1.1", "-", "DELETE", b"/", b"", [], 204, 0, 3, ctx.clock())
    m.close()
    assert registry.get_sample_value("pyre_requests_total", {"method": "DELETE", "status": "204"}) == 1
    assert registry.get_sample_value("pyre_request_bytes_total") == 3
    assert m.observe not in ctx.request_observers
    m.close()  # idempotent


# -- periodic: lag, flush, gauges ------------------------------------------------------------------------


def test_tick_measures_event_loop_lag_and_flushes_once_a_second(ctx):
    clock = Clock()
    registry = CollectorRegistry()
    m = ServerMetrics(ctx, registry, clock=clock)
    m.tick(0.05)  # the first tick has nothing to compare with, but flushes
    assert registry.get_sample_value("pyre_event_loop_lag_seconds_count") == 0
    m.observe(record())
    clock.now += 0.05
    m.tick(0.05)  # on time
    clock.now += 0.35
    m.tick(0.05)  # 300 ms late
    assert registry.get_sample_value("pyre_event_loop_lag_seconds_count") == 2
    assert registry.get_sample_value("pyre_event_loop_lag_seconds_bucket", {"le": "0.001"}) == 1
    assert registry.get_sample_value("pyre_event_loop_lag_seconds_bucket", {"le": "0.25"}) == 1
    assert registry.get_sample_value("pyre_event_loop_lag_seconds_bucket", {"le": "0.5"}) == 2
    assert registry.get_sample_value("pyre_event_loop_lag_seconds_sum") == pytest.approx(0.3)
    assert registry.get_sample_value("pyre_requests_total", {"method": "GET", "status": "200"}) is None
    clock.now += SAMPLE_INTERVAL
    ctx.connections.add(object())
    m.tick(0.05)
    assert registry.get_sample_value("pyre_requests_total", {"method": "GET", "status": "200"}) == 1
    assert registry.get_sample_value("pyre_open_connections") == 1
    clock.now += 0.01  # early: a wake-up is never negative lag
    m.tick(0.05)
    assert registry.get_sample_value("pyre_event_loop_lag_seconds_bucket", {"le": "0.001"}) == 2
    m.close()


def test_gauges_count_connections_http2_streams_and_open_websockets(ctx, metrics):
    from pyre.transport.h2 import H2Protocol
    from pyre._accel import WSProtocol, WSSession

    def h2_connection(*streams):
        conn = object.__new__(H2Protocol)
        conn.streams = dict(enumerate(streams, 1))
        return conn

    def ws_connection(accepted: bool):
        conn = WSProtocol.__new__(WSProtocol)  # (a cdef class below it when compiled)
        conn.session = WSSession(1 << 20) if accepted else None
        return conn

    plain = SimpleNamespace(websocket=False, cycle=None)
    h2_ws_open = SimpleNamespace(websocket=True, cycle=SimpleNamespace(session=object(), response_complete=False))
    h2_ws_refused = SimpleNamespace(websocket=True, cycle=None)
    h2_ws_pending = SimpleNamespace(websocket=True, cycle=SimpleNamespace(session=None, response_complete=False))
    h2_ws_done = SimpleNamespace(websocket=True, cycle=SimpleNamespace(session=object(), response_complete=True))
    class Reporting:  # any connection that says what it has open
        def gauges(self):
            return 2, 1

    ctx.connections.update({
        object(),  # an HTTP/1.1 connection (or a PROXY protocol gate): only a connection
        Reporting(),
        h2_connection(plain, plain, h2_ws_open),
        h2_connection(h2_ws_refused, h2_ws_pending, h2_ws_done),
        h2_connection(),
        ws_connection(True),
        ws_connection(False),  # the application has not accepted yet
    })
    metrics.sample()
    assert value(metrics, "pyre_open_connections") == 7
    assert value(metrics, "pyre_open_http2_streams") == 8
    assert value(metrics, "pyre_open_websockets") == 3
    ctx.connections.clear()
    metrics.sample()
    assert value(metrics, "pyre_open_connections") == 0
    assert value(metrics, "pyre_open_http2_streams") == 0
    assert value(metrics, "pyre_open_websockets") == 0


# -- create() and the endpoint -----------------------------------------------------------------------------


def test_without_a_metrics_port_nothing_is_created(ctx):
    assert ServerMetrics.create(Config("tests.apps:hello"), ctx) is None
    assert SupervisorMetrics.start(Config("tests.apps:hello", workers=2), workers=int, restarts=int) is None
    assert ctx.request_observers == ()


def test_a_single_server_serves_its_registry(ctx, caplog):
    config = Config("tests.apps:hello", host="127.0.0.1", metrics_port=0)
    with caplog.at_level(logging.INFO, logger="pyre.error"):
        m = ServerMetrics.create(config, ctx)
    try:
        assert m is not None and m.port
        assert f"Metrics on http://127.0.0.1:{m.port}/metrics" in caplog.text
        m.observe(record(method="HEAD", status=200, nbytes=0))
        m.flush()
        base = f"http://127.0.0.1:{m.port}"
        for path in ("/metrics", "/", "/metrics?x=1"):
            status, content_type, text = scrape(base + path)
            assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
            assert samples(text)[("pyre_requests_total", (("method", "HEAD"), ("status", "200")))] == 1
        # prometheus_client's default registry too: the app's own metrics, process_*, python_*.
        assert "python_info" in text
        status, content_type, text = scrape(base + "/metrics", accept="application/openmetrics-text; version=1.0.0")
        assert status == 200 and content_type.startswith("application/openmetrics-text") and text.endswith("# EOF\n")
        assert scrape(base + "/nope")[0] == 404
        assert scrape(base + "/metrics/")[0] == 404
        request = urllib.request.Request(base + "/metrics", method="HEAD")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200 and response.read() == b""
    finally:
        m.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", m.port), timeout=2).close()


def test_a_metrics_port_in_use_is_a_startup_error(ctx):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        config = Config("tests.apps:hello", host="127.0.0.1", metrics_port=port)
        with pytest.raises(StartupError, match=rf"^--metrics-port: cannot listen on 127\.0\.0\.1:{port}: "):
            ServerMetrics.create(config, ctx)
        assert ctx.request_observers == ()  # nothing left attached
    finally:
        busy.close()


def test_missing_prometheus_client_is_a_one_line_startup_error(ctx, monkeypatch):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # `import prometheus_client` fails
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    for make in (lambda: ServerMetrics.create(Config("tests.apps:hello", metrics_port=0), ctx),
                 lambda: SupervisorMetrics.start(Config("tests.apps:hello", workers=2, metrics_port=0),
                                                 workers=int, restarts=int)):
        with pytest.raises(StartupError) as info:
            make()
        assert str(info.value) == MISSING
        assert info.value.__cause__ is None and info.value.__suppress_context__
    assert MULTIPROC_ENV not in os.environ and WORKER_ENV not in os.environ


def test_only_a_worker_of_the_supervisor_leaves_serving_to_it(ctx, monkeypatch, tmp_path):
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    monkeypatch.delenv(WORKER_ENV, raising=False)
    # --workers with --reload: one server process, which serves its own metrics.
    m = ServerMetrics.create(Config("tests.apps:hello", host="127.0.0.1", workers=2, metrics_port=0), ctx)
    assert m is not None and m.port
    m.close()
    # The supervisor's marker without its directory: refused (and the marker is consumed).
    monkeypatch.setenv(WORKER_ENV, str(tmp_path))
    with pytest.raises(StartupError, match=MULTIPROC_ENV):
        ServerMetrics.create(Config("tests.apps:hello", workers=2, metrics_port=0), ctx)
    assert WORKER_ENV not in os.environ


def test_an_unknown_histogram_layout_is_refused():
    from prometheus_client import Histogram

    histogram = Histogram("h", "h", buckets=DURATION_BUCKETS, registry=None)
    _BulkHistogram(histogram, DURATION_BUCKETS)  # today's layout
    with pytest.raises(StartupError, match="not supported"):
        _BulkHistogram(histogram, DURATION_BUCKETS[1:])
    del histogram._buckets
    with pytest.raises(StartupError, match=r"prometheus-client \S+ is not supported"):
        _BulkHistogram(histogram, DURATION_BUCKETS)


def test_the_endpoint_answers_500_when_a_collector_fails():
    class Broken:
        def collect(self):
            raise RuntimeError("boom")

    registry = CollectorRegistry()
    registry.register(Broken())
    endpoint = MetricsEndpoint.start("127.0.0.1", 0, registry)
    try:
        assert scrape(f"http://127.0.0.1:{endpoint.port}/metrics")[0] == 500
    finally:
        endpoint.stop()


# -- multiprocess mode ---------------------------------------------------------------------------------------

WORKER = textwrap.dedent("""
    import asyncio, os, sys
    from pyre import Config
    from pyre.metrics import ServerMetrics
    from tests.apps import hello
    from tests.helpers import server_context

    loop = asyncio.new_event_loop()
    ctx = server_context(hello, loop, access_log=False)
    metrics = ServerMetrics.create(Config("tests.apps:hello", workers=2, metrics_port=0), ctx)
    assert metrics is not None and metrics.endpoint is None and metrics.port is None
    assert "PYRE_METRICS_WORKER_DIR" not in os.environ  # not passed on to the app's subprocesses
    for _ in range(int(sys.argv[1])):
        ctx.request_done(False, "1.1", "-", "GET", b"/", b"", [], 200, 7, 100, ctx.clock())
    ctx.connections.update({object(), object()})
    metrics.tick(0.05)
    metrics.close()
""")


def test_the_supervisor_serves_the_sum_over_worker_processes(monkeypatch):
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    state = {"workers": 2, "restarts": 1}
    config = Config("tests.apps:hello", host="127.0.0.1", workers=2, metrics_port=0)
    supervisor = SupervisorMetrics.start(config, workers=lambda: state["workers"], restarts=lambda: state["restarts"])
    assert supervisor is not None
    path = supervisor.path
    try:
        assert os.environ[MULTIPROC_ENV] == os.environ[WORKER_ENV] == path
        assert os.path.isdir(path) and not os.listdir(path)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        pids = []
        for count in (3, 5):
            worker = subprocess.Popen([sys.executable, "-c", WORKER, str(count)], env=env, cwd=ROOT,
                                      stderr=subprocess.PIPE, text=True)
            _, stderr = worker.communicate(timeout=30)
            assert worker.returncode == 0, stderr
            pids.append(worker.pid)
        assert sorted(os.listdir(path)) == sorted(f"{kind}_{pid}.db" for pid in pids
                                                  for kind in ("counter", "gauge_livesum", "gauge_liveall",
                                                               "histogram"))
        url = f"http://127.0.0.1:{supervisor.port}/metrics"
        got = samples(scrape(url)[2])
        assert got[("pyre_requests_total", (("method", "GET"), ("status", "200")))] == 8
        assert got[("pyre_response_bytes_total", ())] == 56
        assert got[("pyre_request_bytes_total", ())] == 800
        assert got[("pyre_request_duration_seconds_count", ())] == 8
        assert got[("pyre_open_connections", ())] == 4  # livesum: both processes, not marked dead yet
        assert got[("pyre_workers", ())] == 2
        assert got[("pyre_worker_restarts_total", ())] == 1
        for pid in pids:  # each worker's own process_* metrics, by pid
            assert got[("process_resident_memory_bytes", (("pid", str(pid)),))] > 0
        before = got
        supervisor.worker_ended(pids[0])
        state.update(workers=1, restarts=2)
        got = samples(scrape(url)[2])
        assert got[("pyre_open_connections", ())] == 2  # the ended worker's gauges are gone...
        assert got[("pyre_requests_total", (("method", "GET"), ("status", "200")))] == 8  # ...its counts stay
        assert got[("pyre_workers", ())] == 1 and got[("pyre_worker_restarts_total", ())] == 2
        # ...folded into one file per kind, which the next ended worker adds to.
        assert sorted(os.listdir(path)) == sorted([f"counter_{pids[1]}.db", f"gauge_livesum_{pids[1]}.db",
                                                   f"gauge_liveall_{pids[1]}.db", f"histogram_{pids[1]}.db", "counter_ended.db",
                                                   "histogram_ended.db"])
        supervisor.worker_ended(pids[1])
        assert sorted(os.listdir(path)) == ["counter_ended.db", "histogram_ended.db"]
        got = samples(scrape(url)[2])
        assert ("pyre_open_connections", ()) not in got or got[("pyre_open_connections", ())] == 0
        unchanged = {key: value for key, value in before.items()
                     if not key[0].startswith(("pyre_open_", "pyre_workers", "pyre_worker_restarts", "process_"))}
        assert unchanged and {key: got.get(key) for key in unchanged} == unchanged  # every count and bucket
    finally:
        supervisor.close()
    assert not os.path.exists(path)
    assert MULTIPROC_ENV not in os.environ and WORKER_ENV not in os.environ


def test_the_supervisor_restores_a_previous_multiproc_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    supervisor = SupervisorMetrics.start(Config("tests.apps:hello", host="127.0.0.1", workers=2, metrics_port=0),
                                         workers=int, restarts=int)
    assert supervisor is not None and os.environ[MULTIPROC_ENV] == supervisor.path != str(tmp_path)
    supervisor.close()
    assert os.environ[MULTIPROC_ENV] == str(tmp_path) and WORKER_ENV not in os.environ


def test_a_supervisor_metrics_port_in_use_leaves_nothing_behind(monkeypatch):
    import tempfile

    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    made = []

    def mkdtemp(**kwargs):
        made.append(tempfile.mkdtemp(**kwargs))
        return made[-1]

    monkeypatch.setattr("pyre.metrics.tempfile", SimpleNamespace(mkdtemp=mkdtemp))
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        config = Config("tests.apps:hello", host="127.0.0.1", workers=2, metrics_port=busy.getsockname()[1])
        with pytest.raises(StartupError, match="cannot listen"):
            SupervisorMetrics.start(config, workers=int, restarts=int)
    finally:
        busy.close()
    assert MULTIPROC_ENV not in os.environ and WORKER_ENV not in os.environ
    assert len(made) == 1 and not os.path.exists(made[0])


def _mmap_values(path):
    from prometheus_client.mmap_dict import MmapedDict

    return {key: value for key, value, *_ in MmapedDict.read_all_values_from_file(path)}


def _mmap_write(path, values):
    from prometheus_client.mmap_dict import MmapedDict

    mapped = MmapedDict(path)
    for key, value in values.items():
        mapped.write_value(key, value, 0.0)
    mapped.close()


def test_folding_adds_key_by_key_and_removes_the_source(tmp_path):
    target, source = str(tmp_path / "counter_ended.db"), str(tmp_path / "counter_41.db")
    _mmap_write(source, {"a": 2.0, "b": 0.5})
    fold_counts(source, target)  # no target yet: made
    assert _mmap_values(target) == {"a": 2.0, "b": 0.5} and not os.path.exists(source)
    _mmap_write(source, {"a": 3.0, "c": 1.0})
    _mmap_write(target + ".tmp", {"stale": 9.0})  # a fold that failed half-way
    fold_counts(source, target)
    assert _mmap_values(target) == {"a": 5.0, "b": 0.5, "c": 1.0}
    assert sorted(os.listdir(tmp_path)) == ["counter_ended.db"]


def test_a_fold_that_fails_keeps_the_workers_file(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    supervisor = SupervisorMetrics.start(Config("tests.apps:hello", host="127.0.0.1", workers=2, metrics_port=0),
                                         workers=int, restarts=int)
    try:
        source = os.path.join(supervisor.path, "counter_7.db")
        _mmap_write(source, {"a": 1.0})

        def broken(*args):
            raise OSError("disk full")

        monkeypatch.setattr("pyre.metrics.fold_counts", broken)
        with caplog.at_level("DEBUG", logger="pyre.error"):
            supervisor.worker_ended(7)
        assert os.listdir(supervisor.path) == ["counter_7.db"]  # still summed by every scrape
        assert "kept in" in caplog.text and "disk full" in caplog.text
    finally:
        supervisor.close()
