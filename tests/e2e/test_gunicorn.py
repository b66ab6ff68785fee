"""``gunicorn -k pyre.workers.PyreWorker``: real gunicorn arbiters as subprocesses.

Each test starts ``python -m gunicorn`` on a free loopback port (or a unix socket)
with a small app written to a temporary directory, and stops it (and, if it will not
stop, kills it and its workers by PID) before it ends.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Dict, List, Optional, Set

import gunicorn.config as gunicorn_config  # in the test extras
import httpx
import pytest

from pyre import _accel
from pyre.workers import (
    MAX_HEADER_FIELDS,
    UNLIMITED_HEADER_SECTION,
    UNLIMITED_REQUEST_LINE,
    PyreAsyncioWorker,
    PyreWorker,
    header_limits,
    pyre_config,
)

ROOT = Path(__file__).resolve().parents[2]
WORKERS = ["pyre.workers.PyreWorker", "pyre.workers.PyreAsyncioWorker"]
LISTENING = re.compile(r"Listening at: (\S+)")
BOOTING = re.compile(r"Booting worker with pid: (\d+)")

APP_SOURCE = textwrap.dedent('''
    import asyncio
    import json
    import os
    import time

    from pyre import _accel

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    if os.environ.get("FAIL_STARTUP"):
                        await send({"type": "lifespan.startup.failed", "message": "no database"})
                        return
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                await send({"type": "websocket.send", "text": f"{message.get('text')} from {os.getpid()}"})
        path = scope["path"]
        if path == "/slow":
            for name, value in scope["headers"]:
                if name == b"x-started-file":  # tells the test the request is in flight
                    open(value.decode(), "w").close()
            await asyncio.sleep(float(scope["query_string"] or 1.5))
        elif path == "/block":
            time.sleep(10)  # blocks the event loop: no heartbeat
        if path == "/info":
            body = json.dumps({
                "pid": os.getpid(),
                "loop": type(asyncio.get_running_loop()).__module__,
                "mode": _accel.MODE,
                "http_version": scope["http_version"],
                "scheme": scope["scheme"],
            }).encode()
        else:
            body = str(os.getpid()).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
''')


def _has_setting(name: str) -> bool:
    return name in gunicorn_config.Config().settings


# gunicorn 23+ opens a control socket in the home directory unless told not to.
COMMON_ARGS = ["--no-control-socket"] if _has_setting("control_socket_disable") else []


class Gunicorn:
    """One gunicorn arbiter; its stderr (the error log) and stdout are collected."""

    def __init__(self, args: List[str], cwd: Path, env: Optional[Dict[str, str]] = None) -> None:
        environ = dict(os.environ)
        environ["PYTHONPATH"] = str(ROOT) + os.pathsep + environ.get("PYTHONPATH", "")
        environ.pop("FAIL_STARTUP", None)
        environ.update(env or {})
        self.args = args
        self.proc = subprocess.Popen([sys.executable, "-m", "gunicorn", *args], cwd=str(cwd), env=environ,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.err: List[str] = []
        self.out: List[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.url = ""

    def _read(self, stream, lines: List[str]) -> None:
        for line in stream:
            with self._changed:
                lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def log(self) -> str:
        return "".join(self.err)

    def wait_for(self, predicate: Callable[[], object], timeout: float = 15, what: str = "") -> object:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = predicate()
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not any(r.is_alive() for r in self._readers)):
                    raise AssertionError(f"gunicorn: timed out waiting for {what}\n{self.log}")
                self._changed.wait(min(left, 0.1))

    def wait_log(self, pattern: str, count: int = 1, timeout: float = 15) -> None:
        self.wait_for(lambda: self.log.count(pattern) >= count, timeout, f"{count} x {pattern!r}")

    def worker_pids(self) -> List[int]:
        return [int(pid) for pid in BOOTING.findall(self.log)]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"gunicorn did not stop on {signal.Signals(sig).name}\n{self.log}") from None
        for reader in self._readers:
            reader.join(5)
        return code

    def kill(self) -> None:
        """Kill the arbiter and every worker it started that is still running (by PID)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        for pid in self.worker_pids():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as file:
                    if b"gunicorn" not in file.read():
                        continue  # gone, and the PID taken by someone else
                os.kill(pid, signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                pass


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("gunicorn-app")
    (base / "gapp.py").write_text(APP_SOURCE)
    return base


@pytest.fixture
def gunicorn(app_dir):
    """``gunicorn(*args, workers=1, ready=True)`` starts an arbiter serving ``gapp:app``."""
    started: List[Gunicorn] = []

    def start(*args: str, worker: str = WORKERS[0], workers: int = 1, bind: str = "127.0.0.1:0",
              ready: bool = True, env: Optional[Dict[str, str]] = None) -> Gunicorn:
        argv = ["-k", worker, "-w", str(workers), "-b", bind, *COMMON_ARGS, *args, "gapp:app"]
        server = Gunicorn(argv, app_dir, env)
        started.append(server)
        if ready:
            match = server.wait_for(lambda: LISTENING.search(server.log), 20, "Listening at")
            server.url = match.group(1)  # type: ignore[union-attr]
            # Every worker imported the app and finished lifespan startup.
            server.wait_log("Application startup complete", workers, timeout=20)
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            try:
                server.stop(signal.SIGQUIT, timeout=10)
            except AssertionError:
                pass
        server.kill()


def get(url: str, path: str = "/", client: Optional[httpx.Client] = None, headers=None, **kwargs) -> httpx.Response:
    # A new connection per request, so the kernel can hand each to any worker.
    headers = {"connection": "close", **(headers or {})}
    if client is not None:
        return client.get(url + path, headers=headers, **kwargs)
    with httpx.Client(timeout=5) as fresh:
        return fresh.get(url + path, headers=headers, **kwargs)


def pids_until(url: str, wanted: Callable[[Set[int]], bool], seconds: float = 15, limit: int = 500) -> Set[int]:
    """Request (bounded in count and time) until ``wanted(pids)``; every answer must be a 200."""
    seen: Set[int] = set()
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=5) as client:
        for _ in range(limit):
            response = get(url, client=client)
            assert response.status_code == 200, response.text
            seen.add(int(response.text))
            if wanted(seen) or time.monotonic() > deadline:
                break
    return seen


def in_thread(function: Callable[[], object]) -> SimpleNamespace:
    """Runs ``function`` in a thread; ``.join()`` then ``.result`` or ``.error``."""
    outcome = SimpleNamespace(result=None, error=None)

    def target() -> None:
        try:
            outcome.result = function()
        except Exception as exc:  # noqa: BLE001 - checked by the test
            outcome.error = exc

    outcome.thread = threading.Thread(target=target, daemon=True)
    outcome.thread.start()
    outcome.join = lambda timeout=15: outcome.thread.join(timeout)
    return outcome


# -- flag mapping (no process) ------------------------------------------------------------------


def gunicorn_cfg(**settings) -> object:
    cfg = gunicorn_config.Config()
    for name, value in settings.items():
        cfg.set(name, value)
    return cfg


async def _asgi_app(scope, receive, send):  # pragma: no cover - never called
    pass


def test_gunicorn_settings_become_pyre_settings(tmp_path):
    cfg = gunicorn_cfg(keepalive=7, graceful_timeout=20, limit_request_line=1000, limit_request_fields=50,
                       limit_request_field_size=300, forwarded_allow_ips="10.0.0.1, 10.0.0.2", loglevel="warning",
                       backlog=64, accesslog="-")
    config = pyre_config(cfg, _asgi_app)
    assert config.app is _asgi_app
    assert config.timeout_keep_alive == 7
    assert config.timeout_graceful_shutdown == 19  # a little earlier than the arbiter's SIGKILL
    assert (config.h1_max_request_line, config.h1_max_headers, config.h1_max_header_size) == (1000, 50, 50 * 302)
    assert config.forwarded_allow_ips == ["10.0.0.1", "10.0.0.2"]
    assert config.log_level == "warning" and config.backlog == 64
    assert config.access_log is True and config.http == "auto" and config.loop == "auto"
    assert config.limit_concurrency is None  # gunicorn's default worker_connections is not a limit here
    assert config.ssl_certfile is None

    defaults = pyre_config(gunicorn_cfg(), _asgi_app, loop="asyncio")
    assert defaults.loop == "asyncio"
    assert defaults.access_log is False  # gunicorn writes no access log by default
    assert defaults.timeout_keep_alive == 2
    assert (defaults.h1_max_request_line, defaults.h1_max_headers, defaults.h1_max_header_size) == (4094, 100, 65536)
    assert pyre_config(gunicorn_cfg(worker_connections=50), _asgi_app).limit_concurrency == 50
    assert pyre_config(gunicorn_cfg(keepalive=0), _asgi_app).timeout_keep_alive < 0.1  # keep-alive off

    # 0 means unlimited in gunicorn: large bounds in Pyre.
    assert header_limits(0, 0, 0) == {"h1_max_request_line": UNLIMITED_REQUEST_LINE,
                                      "h1_max_headers": MAX_HEADER_FIELDS,
                                      "h1_max_header_size": UNLIMITED_HEADER_SECTION}
    assert header_limits(100, 10**6, 200000)["h1_max_headers"] == MAX_HEADER_FIELDS
    assert header_limits(100, 100, 200000)["h1_max_header_size"] == 200000  # one field may need more

    cert, key, ca = (tmp_path / name for name in ("cert.pem", "key.pem", "ca.pem"))
    tls = pyre_config(gunicorn_cfg(certfile=str(cert), keyfile=str(key), ca_certs=str(ca), cert_reqs=2,
                                   ciphers="ECDHE+AESGCM"), _asgi_app)
    assert (tls.ssl_certfile, tls.ssl_keyfile, tls.ssl_ca_certs) == (str(cert), str(key), str(ca))
    assert tls.ssl_cert_reqs == 2 and tls.ssl_ciphers == "ECDHE+AESGCM"


def test_the_asyncio_worker_never_uses_uvloop():
    assert PyreAsyncioWorker.LOOP == "asyncio"
    assert PyreWorker.LOOP == "auto"


# -- real arbiters ------------------------------------------------------------------------------


@pytest.mark.parametrize("worker", WORKERS)
def test_two_workers_serve_and_stop_gracefully(gunicorn, worker):
    server = gunicorn("--access-logfile", "-", worker=worker, workers=2)
    seen = pids_until(server.url, lambda pids: len(pids) >= 2)
    assert seen == set(server.worker_pids()), (seen, server.log)
    assert server.proc.pid not in seen
    info = get(server.url, "/info").json()
    assert info["loop"] == ("asyncio.unix_events" if worker.endswith("AsyncioWorker") else "uvloop")
    assert info["mode"] == _accel.MODE  # PYRE_NO_EXTENSIONS reaches the workers
    assert server.stop(signal.SIGTERM) == 0
    assert server.log.count("Application shutdown complete") == 2, server.log
    assert '"GET /info HTTP/1.1" 200' in "".join(server.out)  # access lines in gunicorn's access log
    assert "Traceback" not in server.log


@pytest.mark.parametrize("worker", WORKERS)
def test_websocket_h2c_and_request_limits(gunicorn, worker):
    from websockets.sync.client import connect

    server = gunicorn("--limit-request-line", "200", "--limit-request-fields", "20", worker=worker)
    pid = server.worker_pids()[0]
    with connect(server.url.replace("http://", "ws://") + "/ws", open_timeout=5) as ws:
        ws.send("hello")
        assert ws.recv(timeout=5) == f"hello from {pid}"
    with httpx.Client(http1=False, http2=True, timeout=5) as client:  # h2c with prior knowledge
        response = client.get(server.url + "/info")
    assert response.http_version == "HTTP/2"
    assert response.json()["http_version"] == "2"
    assert get(server.url, "/" + "a" * 300).status_code == 414
    many = {f"x-h{i}": "v" for i in range(30)}
    assert get(server.url, "/", headers=many).status_code == 431
    assert get(server.url, "/").status_code == 200
    assert server.stop(signal.SIGTERM) == 0


@pytest.mark.slow
def test_max_requests_retires_and_replaces_workers(gunicorn):
    server = gunicorn("--max-requests", "4", "--max-requests-jitter", "2", worker=WORKERS[1])
    seen = pids_until(server.url, lambda pids: len(pids) >= 3, seconds=20)  # every request a 200
    assert len(seen) >= 3, server.log
    server.wait_log("Worker exiting", 2)
    assert "Autorestarting worker after" in server.log
    assert "exited with code" not in server.log  # retired, not crashed
    assert server.stop(signal.SIGTERM) == 0


def slow_request(server: "Gunicorn", query: str, started: Path) -> SimpleNamespace:
    """A request to /slow in a thread, returned once the app has it."""
    slow = in_thread(lambda: get(server.url, f"/slow?{query}", client=None, headers={"x-started-file": str(started)}))
    server.wait_for(started.exists, what="the slow request to reach the app")
    return slow


def test_sigterm_lets_a_slow_request_finish(gunicorn, tmp_path):
    server = gunicorn("--graceful-timeout", "10")
    slow = slow_request(server, "1.5", tmp_path / "started")
    started = time.monotonic()
    assert server.stop(signal.SIGTERM) == 0
    slow.join()
    assert slow.error is None and slow.result.status_code == 200, slow.error
    assert time.monotonic() - started < 8
    assert "Application shutdown complete" in server.log


def test_sigint_stops_at_once(gunicorn, tmp_path):
    server = gunicorn("--graceful-timeout", "20")
    slow = slow_request(server, "10", tmp_path / "started")
    started = time.monotonic()
    assert server.stop(signal.SIGINT) == 0
    assert time.monotonic() - started < 5  # neither the request nor the graceful timeout waited for
    slow.join()
    assert isinstance(slow.error, httpx.TransportError), slow.result


@pytest.mark.slow
def test_sighup_replaces_workers_while_serving(gunicorn):
    server = gunicorn(workers=2)
    old = pids_until(server.url, lambda pids: len(pids) >= 2)
    server.proc.send_signal(signal.SIGHUP)
    # Serve throughout the reload: every answer is a 200, until only new workers answer.
    fresh: Set[int] = set()
    deadline = time.monotonic() + 15
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            response = get(server.url, client=client)
            assert response.status_code == 200
            pid = int(response.text)
            if pid not in old:
                fresh.add(pid)
            if len(fresh) >= 2 and all(f"Worker exiting (pid: {p})" in server.log for p in old):
                break
    assert len(fresh) >= 2, server.log
    for pid in old:
        assert f"Worker exiting (pid: {pid})" in server.log
    assert "exited with code" not in server.log
    assert server.stop(signal.SIGTERM) == 0


@pytest.mark.slow
@pytest.mark.parametrize("worker", WORKERS)
def test_timeout_kills_a_worker_whose_loop_is_blocked(gunicorn, worker):
    server = gunicorn("--timeout", "2", "--graceful-timeout", "2", worker=worker)
    victim = int(get(server.url).text)
    blocked = in_thread(lambda: get(server.url, "/block", client=None))
    server.wait_log(f"WORKER TIMEOUT (pid:{victim})", timeout=10)
    blocked.join()
    # The worker died in the middle: at best Pyre answered 500 on its way out.
    assert blocked.error is not None or blocked.result.status_code == 500
    deadline = time.monotonic() + 15
    while True:  # the replacement serves
        response = get(server.url)
        if int(response.text) != victim:
            break
        assert time.monotonic() < deadline, server.log
        time.sleep(0.1)
    assert response.status_code == 200
    assert "time.sleep(10)" in server.log  # the traceback shows where the loop was blocked
    assert server.stop(signal.SIGTERM) == 0


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    trustme = pytest.importorskip("trustme")
    base = tmp_path_factory.mktemp("gunicorn-pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client@example.org")
    files = SimpleNamespace(ca=ca, client=client, ca_pem=base / "ca.pem", cert=base / "cert.pem", key=base / "key.pem")
    ca.cert_pem.write_to_path(str(files.ca_pem))
    server.cert_chain_pems[0].write_to_path(str(files.cert))
    server.private_key_pem.write_to_path(str(files.key))
    return files


def test_tls_with_client_certificates(gunicorn, pki):
    server = gunicorn("--certfile", str(pki.cert), "--keyfile", str(pki.key), "--ca-certs", str(pki.ca_pem),
                      "--cert-reqs", str(int(ssl.CERT_REQUIRED)), worker=WORKERS[1])
    url = server.url.replace("http://", "https://")
    trusted = ssl.create_default_context()
    pki.ca.configure_trust(trusted)
    with_cert = ssl.create_default_context()
    pki.ca.configure_trust(with_cert)
    pki.client.configure_cert(with_cert)
    with httpx.Client(verify=with_cert, timeout=5) as client:
        info = get(url, "/info", client=client).json()
    assert (info["scheme"], info["http_version"]) == ("https", "1.1")
    with httpx.Client(verify=with_cert, http2=True, timeout=5) as client:  # ALPN h2
        response = client.get(url + "/info")
    assert response.http_version == "HTTP/2" and response.json()["scheme"] == "https"
    with pytest.raises(httpx.TransportError):  # --cert-reqs 2: no client certificate, no service
        with httpx.Client(verify=trusted, timeout=5) as client:
            get(url, "/info", client=client)
    assert server.stop(signal.SIGTERM) == 0


def test_unix_socket_bind_survives_a_retiring_worker(gunicorn):
    directory = tempfile.mkdtemp(prefix="pyre-g-", dir="/tmp")  # AF_UNIX paths are short
    try:
        path = os.path.join(directory, "g.sock")
        server = gunicorn("--max-requests", "2", bind=f"unix:{path}")
        assert server.url.startswith("unix:"), server.url
        pids: Set[int] = set()
        deadline = time.monotonic() + 10
        # The worker checks its count every 50 ms: it may serve a few more before it retires.
        with httpx.Client(transport=httpx.HTTPTransport(uds=path), timeout=5) as client:
            while len(pids) < 2 and time.monotonic() < deadline:
                response = get("http://localhost", client=client)
                assert response.status_code == 200
                pids.add(int(response.text))
        assert len(pids) >= 2, server.log  # the retired worker left the socket to its successor
        assert os.path.exists(path)
        assert server.stop(signal.SIGTERM) == 0
        assert not os.path.exists(path)  # the arbiter removes it
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_usr1_reopens_the_access_log(gunicorn, tmp_path):
    access = tmp_path / "access.log"
    server = gunicorn("--access-logfile", str(access))
    get(server.url, "/before")
    server.wait_for(lambda: access.exists() and "/before" in access.read_text(), 5, "the access line")
    access.rename(tmp_path / "access.log.1")
    server.proc.send_signal(signal.SIGUSR1)  # the arbiter reopens its files and tells the workers
    server.wait_log("Handling signal: usr1")
    deadline = time.monotonic() + 10
    while not (access.exists() and "/after" in access.read_text()):
        assert time.monotonic() < deadline, server.log
        get(server.url, "/after")
        time.sleep(0.2)
    assert server.stop(signal.SIGTERM) == 0


def test_a_failed_lifespan_startup_stops_gunicorn(gunicorn):
    server = gunicorn(ready=False, env={"FAIL_STARTUP": "1"})
    try:
        code = server.proc.wait(20)
    except subprocess.TimeoutExpired:
        raise AssertionError("gunicorn kept running:\n" + server.log) from None
    server.wait_for(lambda: not any(r.is_alive() for r in server._readers), 5, "the end of output")
    assert code == 3, server.log  # gunicorn's WORKER_BOOT_ERROR: "Worker failed to boot."
    assert "no database" in server.log
    assert "Worker failed to boot" in server.log
    assert len(server.worker_pids()) == 1  # not restarted in a loop


def _running(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its new parent to reap it is not)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_workers_exit_when_the_arbiter_dies(gunicorn):
    server = gunicorn(workers=2)
    pids = server.worker_pids()
    server.proc.kill()  # no arbiter left to tell the workers anything
    server.proc.wait(5)
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in pids):
        assert time.monotonic() < deadline, f"workers still running without their arbiter\n{server.log}"
        time.sleep(0.1)


# -- metrics: GunicornMetrics hooks in a gunicorn config file -------------------------------------------------

METRICS_CONF = textwrap.dedent("""
    from pyre.workers import GunicornMetrics

    metrics = GunicornMetrics(port=int({port}))
    when_ready, child_exit, on_exit = metrics.when_ready, metrics.child_exit, metrics.on_exit
""")
METRICS_URL = re.compile(r"Prometheus metrics on (\S+)")


def scrape_samples(url: str) -> Dict[tuple, float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(url, timeout=5).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def requests_counted(samples: Dict[tuple, float]) -> float:
    return sum(value for (name, _), value in samples.items() if name == "pyre_requests_total")


def test_gunicorn_metrics_hooks_sum_the_workers_and_survive_a_killed_worker(gunicorn, app_dir, tmp_path):
    conf = tmp_path / "gunicorn_metrics.conf.py"
    conf.write_text(METRICS_CONF.format(port=0))
    server = gunicorn("-c", str(conf), workers=2, env={"TMPDIR": str(tmp_path)})
    url = server.wait_for(lambda: METRICS_URL.search(server.log), what="the metrics URL").group(1)
    pids = set()
    for _ in range(12):
        pids.add(int(get(server.url).text))
    samples = server.wait_for(lambda: (lambda s: requests_counted(s) == 12 and s)(scrape_samples(url)),
                              what="12 requests counted")
    assert samples[("pyre_workers", ())] == 2
    assert samples[("pyre_request_duration_seconds_count", ())] == 12
    directories = [p for p in tmp_path.iterdir() if p.name.startswith("pyre-metrics-")]
    assert len(directories) == 1  # the arbiter's, where both workers record

    victim = server.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    samples = server.wait_for(lambda: (lambda s: s.get(("pyre_worker_restarts_total", ())) == 1 and s)(
        scrape_samples(url)), what="the ended worker counted")
    assert requests_counted(samples) == 12  # its counts stay in the totals
    assert any(name.startswith("counter_ended") for name in os.listdir(directories[0]))
    server.wait_log("Application startup complete", 3)  # the replacement

    # SIGHUP: gunicorn re-reads the config file (new hooks) and replaces both workers.
    server.proc.send_signal(signal.SIGHUP)
    server.wait_log("Application startup complete", 5)
    samples = server.wait_for(lambda: (lambda s: s.get(("pyre_worker_restarts_total", ())) == 3 and s)(
        scrape_samples(url)), what="the two old workers counted by the reloaded hooks")
    assert requests_counted(samples) == 12
    assert get(server.url).status_code == 200
    assert server.stop(signal.SIGTERM) == 0
    assert not directories[0].exists()  # on_exit removed it


def test_gunicorn_metrics_on_a_busy_port_stop_the_arbiter(gunicorn, tmp_path):
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        conf = tmp_path / "gunicorn_metrics.conf.py"
        conf.write_text(METRICS_CONF.format(port=busy.getsockname()[1]))
        server = gunicorn("-c", str(conf), ready=False, env={"TMPDIR": str(tmp_path)})
        assert server.proc.wait(30) != 0
        server.wait_for(lambda: not any(r.is_alive() for r in server._readers), what="the log")
        assert "--metrics-port: cannot listen on 127.0.0.1" in server.log
        assert "Traceback" not in server.log
        assert not any(p.name.startswith("pyre-metrics-") for p in tmp_path.iterdir())
    finally:
        busy.close()


def test_gunicorn_metrics_refuse_a_prometheus_client_imported_too_early(gunicorn, tmp_path):
    conf = tmp_path / "gunicorn_metrics.conf.py"
    conf.write_text("import prometheus_client\n" + METRICS_CONF.format(port=0))
    environ = {"TMPDIR": str(tmp_path), "PROMETHEUS_MULTIPROC_DIR": ""}
    server = gunicorn("-c", str(conf), ready=False, env=environ)
    assert server.proc.wait(30) != 0
    server.wait_for(lambda: not any(r.is_alive() for r in server._readers), what="the log")
    assert "prometheus_client was imported in the arbiter before when_ready" in server.log
    assert "Traceback" not in server.log


def test_gunicorn_metrics_with_an_invalid_port_stop_the_arbiter_with_one_line(gunicorn, tmp_path):
    conf = tmp_path / "gunicorn_metrics.conf.py"
    conf.write_text(METRICS_CONF.format(port=70000))
    server = gunicorn("-c", str(conf), ready=False, env={"TMPDIR": str(tmp_path)})
    assert server.proc.wait(30) != 0
    server.wait_for(lambda: not any(r.is_alive() for r in server._readers), what="the log")
    assert "metrics_port: must be between 0 and 65535, got 70000" in server.log
    assert "Traceback" not in server.log and "Booting worker" not in server.log
