"""``--metrics-port``: Prometheus metrics from an embedded server and from the real CLI,
single-process and with ``--workers 2`` (summed over the worker processes)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from typing import Callable, Dict, Optional, Tuple

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.apps import hello
from tests.e2e.cli import ROOT, Running, cli_env, run_cli
from tests.e2e.test_websocket import H2WebSocketClient

METRICS_URL = re.compile(r"Metrics on (http://\S+)")
MISSING = "--metrics-port needs prometheus-client: pip install 'pyre-server[metrics]'"
Samples = Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]

APP_SOURCE = textwrap.dedent('''
    import os
    import time

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            while (await receive())["type"] != "websocket.disconnect":
                pass
            return
        if scope["path"] == "/block":
            time.sleep(0.3)  # blocks the event loop
        while True:  # the whole body: a request whose stream stays open is held here
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            if not message.get("more_body"):
                break
        body = str(os.getpid()).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
''')
namespace: dict = {}
exec(APP_SOURCE, namespace)
holder = namespace["app"]


@pytest.fixture
def app_dir(tmp_path):
    (tmp_path / "metricsapp.py").write_text(APP_SOURCE)
    return tmp_path


# -- helpers ------------------------------------------------------------------------------------------


def parse(text: str) -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def metric(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


async def wait_for(url: str, check: Callable[[Samples], bool], seconds: float = 15) -> Samples:
    """Scrape until ``check`` holds (the server flushes and samples once a second)."""
    deadline = time.monotonic() + seconds
    while True:
        samples = await scrape(url)
        if check(samples):
            return samples
        if time.monotonic() > deadline:
            pyre = {key: value for key, value in samples.items() if key[0].startswith("pyre_")
                    and "bucket" not in key[0]}
            raise AssertionError(f"metrics never matched: {pyre}")
        await asyncio.sleep(0.1)


def metrics_url(running: Running, seconds: float = 20) -> str:
    """The URL the CLI logged (before or after its 'Pyre running' line)."""
    deadline = time.monotonic() + seconds
    while True:
        match = METRICS_URL.search("".join(running.output))
        if match:
            return match.group(1)
        line = running.proc.stderr.readline()
        if not line or time.monotonic() > deadline:
            raise AssertionError("no metrics URL logged:\n" + "".join(running.output))
        running.output.append(line)


async def open_websocket(port: int) -> asyncio.StreamWriter:
    """An accepted WebSocket over HTTP/1.1, left open."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return writer


async def open_h2_stream(port: int) -> asyncio.StreamWriter:
    """An h2c connection (prior knowledge) with one request stream left open (no END_STREAM)."""
    import h2.config
    import h2.connection

    _, writer = await asyncio.open_connection("127.0.0.1", port)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "POST"), (":path", "/hold"), (":scheme", "http"), (":authority", "t")])
    writer.write(conn.data_to_send())
    await writer.drain()
    return writer


def worker_pid(base: str, body: Optional[bytes] = None) -> int:
    """GET (or POST ``body``) on a new connection, so the kernel can hand each to either worker."""
    with httpx.Client(timeout=5) as client:
        if body is None:
            return int(client.get(base + "/", headers={"connection": "close"}).text)
        return int(client.post(base + "/", content=body, headers={"connection": "close"}).text)


def requests_total(samples: Samples) -> float:
    return sum(value for (name, _), value in samples.items() if name == "pyre_requests_total")


# -- an embedded server -----------------------------------------------------------------------------


async def test_an_embedded_server_serves_its_metrics_on_its_own_port(serve):
    server = await serve(hello, metrics_port=0)
    assert isinstance(server.metrics_port, int) and server.metrics_port not in (0, server.bound_port)
    base = f"http://127.0.0.1:{server.metrics_port}"
    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(3):
            assert (await client.get(server.url + "/")).status_code == 200
        await client.post(server.url + "/", content=b"x")
        await client.head(server.url + "/")
        await client.request("BREW", server.url + "/")
        got = await wait_for(base + "/metrics",
                             # every request flushed (once a second), and a tick after the first
                             lambda s: requests_total(s) == 6 and metric(s, "pyre_event_loop_lag_seconds_count") > 0)
        assert metric(got, "pyre_requests_total", method="GET", status="200") == 3
        assert metric(got, "pyre_requests_total", method="POST", status="200") == 1
        assert metric(got, "pyre_requests_total", method="HEAD", status="200") == 1
        assert metric(got, "pyre_requests_total", method="OTHER", status="200") == 1
        assert requests_total(got) == 6
        assert metric(got, "pyre_response_bytes_total") == 13 * 5  # no body for HEAD
        assert metric(got, "pyre_request_duration_seconds_count") == 6
        assert metric(got, "pyre_request_duration_seconds_bucket", le="+Inf") == 6
        assert metric(got, "pyre_event_loop_lag_seconds_count") > 0
        assert metric(got, "pyre_open_connections") >= 0 and ("pyre_open_websockets", ()) in got
        assert (await client.get(base + "/")).status_code == 200
        assert (await client.get(base + "/other")).status_code == 404


async def test_request_body_bytes_are_counted_over_http11_and_http2(serve):
    server = await serve(holder, metrics_port=0)  # reads the whole body before answering
    url = f"http://127.0.0.1:{server.metrics_port}/metrics"

    async def chunks():
        for part in (b"a" * 100, b"b" * 23):
            yield part

    async with httpx.AsyncClient(timeout=5) as client:
        await client.post(server.url + "/", content=b"x" * 1000)  # Content-Length
        await client.post(server.url + "/", content=chunks())  # chunked: the framing is not counted
        await client.get(server.url + "/")
    async with httpx.AsyncClient(http1=False, http2=True, timeout=5) as client:
        response = await client.put(server.url + "/", content=b"y" * 40000)
        assert response.http_version == "HTTP/2"
    got = await wait_for(url, lambda s: requests_total(s) == 4)
    assert metric(got, "pyre_request_bytes_total") == 1000 + 123 + 40000
    assert metric(got, "pyre_response_bytes_total") == 4 * len(str(os.getpid()))


async def test_gauges_follow_open_connections_http2_streams_and_websockets(serve):
    server = await serve(holder, metrics_port=0)
    url = f"http://127.0.0.1:{server.metrics_port}/metrics"
    port = server.bound_port
    h2_stream = await open_h2_stream(port)
    websocket = await open_websocket(port)
    h2_websocket = await H2WebSocketClient.open(server)
    try:
        sid = await h2_websocket.connect(b"/h2ws")
        assert h2_websocket.responses[sid][b":status"] == b"200"
        got = await wait_for(url, lambda s: metric(s, "pyre_open_websockets") == 2
                             and metric(s, "pyre_open_http2_streams") == 2)
        assert metric(got, "pyre_open_connections") == 3
    finally:
        for writer in (h2_stream, websocket):
            writer.close()
        h2_websocket.close()
    await wait_for(url, lambda s: metric(s, "pyre_open_connections") == 0 and metric(s, "pyre_open_websockets") == 0
                   and metric(s, "pyre_open_http2_streams") == 0)


async def test_an_embedded_server_whose_metrics_port_is_busy_does_not_start(serve):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = await serve(hello, metrics_port=busy.getsockname()[1])
        assert not server.started and server.metrics_port is None and not server.servers


# -- the CLI --------------------------------------------------------------------------------------


async def test_the_cli_logs_the_metrics_url(app_dir, start_cli):
    running = start_cli("metricsapp:app", "--port", "0", "--metrics-port", "0", "--app-dir", str(app_dir))
    url = metrics_url(running)
    assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
    pid = worker_pid(running.url)
    assert pid == running.proc.pid
    await wait_for(url, lambda s: metric(s, "pyre_requests_total", method="GET", status="200") == 1)
    # A blocked event loop shows as lag: a main-loop wake-up more than 250 ms late.
    httpx.get(running.url + "/block", timeout=5)
    got = await wait_for(url, lambda s: metric(s, "pyre_requests_total", method="GET", status="200") == 2)
    on_time = metric(got, "pyre_event_loop_lag_seconds_bucket", le="0.25")
    assert metric(got, "pyre_event_loop_lag_seconds_count") - on_time >= 1
    assert running.stop(signal.SIGINT) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=5)


async def test_workers_are_summed_and_the_supervisor_counts_restarts(app_dir, start_cli):
    running = start_cli("metricsapp:app", "--port", "0", "--workers", "2", "--metrics-port", "0",
                        "--no-access-log", "--app-dir", str(app_dir))
    url = metrics_url(running)
    port = int(running.url.rsplit(":", 1)[1])
    pids = []
    while len(set(pids)) < 2 and len(pids) < 400:
        pids.append(worker_pid(running.url))
    assert len(set(pids)) == 2 and running.proc.pid not in pids  # both workers answered
    posted = []  # (worker, body size): request bodies received by both workers
    while len({pid for pid, _ in posted}) < 2 and len(posted) < 400:
        size = 10 + len(posted)
        posted.append((worker_pid(running.url, b"p" * size), size))
    assert len({pid for pid, _ in posted}) == 2
    answered = pids + [pid for pid, _ in posted]
    got = await wait_for(url, lambda s: requests_total(s) == len(answered) and metric(s, "pyre_workers") == 2)
    assert metric(got, "pyre_requests_total", method="GET", status="200") == len(pids)
    assert metric(got, "pyre_requests_total", method="POST", status="200") == len(posted)
    assert metric(got, "pyre_request_duration_seconds_count") == len(answered)
    assert metric(got, "pyre_response_bytes_total") == sum(len(str(pid)) for pid in answered)
    assert metric(got, "pyre_request_bytes_total") == sum(size for _, size in posted)
    assert metric(got, "pyre_worker_restarts_total") == 0

    # Gauges are summed over the live workers, whichever took the connections.
    writers = [await open_websocket(port), await open_websocket(port), await open_h2_stream(port)]
    try:
        got = await wait_for(url, lambda s: metric(s, "pyre_open_websockets") == 2
                             and metric(s, "pyre_open_http2_streams") == 1)
        assert metric(got, "pyre_open_connections") == 3
    finally:
        for writer in writers:
            writer.close()
    await wait_for(url, lambda s: metric(s, "pyre_open_connections") == 0 and metric(s, "pyre_open_websockets") == 0)

    victim = pids[0]
    os.kill(victim, signal.SIGKILL)
    got = await wait_for(url, lambda s: metric(s, "pyre_worker_restarts_total") == 1 and metric(s, "pyre_workers") == 2)
    # The dead worker's counts stay in the totals.
    assert metric(got, "pyre_requests_total", method="GET", status="200") == len(pids)
    assert metric(got, "pyre_requests_total", method="GET", status="101") == 2  # the WebSocket handshakes
    assert worker_pid(running.url) != victim
    await wait_for(url, lambda s: metric(s, "pyre_requests_total", method="GET", status="200") == len(pids) + 1)
    assert running.stop(signal.SIGINT) == 0
    log = "".join(running.output)
    assert f"Worker [{victim}] died (signal 9)" in log
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=5)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_without_prometheus_client_the_cli_says_what_to_install(app_dir, tmp_path, workers):
    shadow = tmp_path / "shadow" / "prometheus_client"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'prometheus_client'\")\n")
    result = run_cli("metricsapp:app", "--port", "0", "--workers", workers, "--metrics-port", "0",
                     "--app-dir", str(app_dir), env={"PYTHONPATH": f"{shadow.parent}{os.pathsep}{ROOT}"}, timeout=30)
    assert result.returncode == 3, result.stderr
    lines = [line for line in result.stderr.splitlines() if "metrics" in line]
    assert len(lines) == 1 and lines[0].startswith("ERROR:") and lines[0].endswith(MISSING), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_busy_metrics_port_is_a_startup_failure(app_dir, workers):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("metricsapp:app", "--port", "0", "--workers", workers, "--metrics-port", str(port),
                         "--app-dir", str(app_dir), timeout=30)
    assert result.returncode == 3, result.stderr
    assert f"--metrics-port: cannot listen on 127.0.0.1:{port}: " in result.stderr
    assert "Traceback" not in result.stderr


async def test_request_durations_have_sub_millisecond_resolution(serve):
    """Timed with perf_counter, not loop.time() (1 ms steps under uvloop, where most fast
    requests would read exactly 0): every duration is a real, non-zero measurement."""
    server = await serve(hello)
    records = []
    server.context.add_request_observer(records.append)
    async with httpx.AsyncClient() as client:
        for _ in range(20):
            assert (await client.get(server.url)).status_code == 200
    assert len(records) == 20
    assert all(record.duration > 0.0 for record in records), [record.duration for record in records]
    assert server.context.clock is time.perf_counter


async def test_workers_expose_their_process_metrics_and_the_endpoint_hides_the_python_version(app_dir, start_cli):
    running = start_cli("metricsapp:app", "--port", "0", "--workers", "2", "--metrics-port", "0",
                        "--no-access-log", "--app-dir", str(app_dir))
    url = metrics_url(running)
    pids = set()
    while len(pids) < 2:
        pids.add(worker_pid(running.url))
    got = await wait_for(url, lambda s: {labels for (name, labels) in s if name == "process_resident_memory_bytes"}
                         >= {(("pid", str(pid)),) for pid in pids})
    for pid in pids:
        assert metric(got, "process_resident_memory_bytes", pid=str(pid)) > 0
        assert metric(got, "process_start_time_seconds", pid=str(pid)) > 0
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.headers["server"] == "pyre-metrics"
    assert running.stop(signal.SIGINT) == 0


MISSING_PROMETHEUS = ("import sys; sys.modules['prometheus_client'] = None; sys.argv[0] = 'pyre'; "
                      "from pyre.cli import main; main()")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_missing_prometheus_client_is_found_before_the_application_starts(app_dir, workers):
    (app_dir / "loudapp.py").write_text(textwrap.dedent('''
        import sys
        print("IMPORTED THE APP", file=sys.stderr, flush=True)

        async def app(scope, receive, send):
            pass
    '''))
    result = subprocess.run([sys.executable, "-c", MISSING_PROMETHEUS, "loudapp:app", "--port", "0", "--workers",
                             workers, "--metrics-port", "0", "--app-dir", str(app_dir)],
                            env=cli_env(None), capture_output=True, text=True, timeout=30)
    assert result.returncode == 3, result.stderr
    assert "IMPORTED THE APP" not in result.stderr and "Application startup" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR:") and lines[0].endswith(MISSING), result.stderr
