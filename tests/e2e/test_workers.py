"""``--workers N``: the real CLI as a supervisor of N worker processes on one port."""

from __future__ import annotations

import os
import signal
import textwrap
import threading
import time
from typing import Dict, Set

import httpx
import pytest

from pyre import Config
from pyre.errors import ConfigError
from tests.e2e.cli import run_cli

APP_SOURCE = textwrap.dedent('''
    import asyncio
    import os

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
        if scope["path"] == "/slow":
            await asyncio.sleep(1.5)
        body = str(os.getpid()).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
''')


@pytest.fixture
def app_dir(tmp_path):
    (tmp_path / "pidapp.py").write_text(APP_SOURCE)
    return tmp_path


def worker_pid(url: str) -> int:
    # A new connection per request, so the kernel can hand each to any worker.
    with httpx.Client(timeout=5) as client:
        return int(client.get(url, headers={"connection": "close"}).text)


def pids_until(url: str, wanted, limit: int = 400, seconds: float = 20) -> Set[int]:
    """Request (bounded in count and time) until ``wanted(pids)`` holds; return the pids seen."""
    seen: Set[int] = set()
    deadline = time.monotonic() + seconds
    for _ in range(limit):
        seen.add(worker_pid(url))
        if wanted(seen) or time.monotonic() > deadline:
            break
    return seen


def test_requests_reach_several_worker_processes(app_dir, start_cli):
    running = start_cli("pidapp:app", "--port", "0", "--workers", "2", "--app-dir", str(app_dir))
    seen = pids_until(running.url, lambda pids: len(pids) >= 2)
    assert len(seen) == 2, seen
    assert running.proc.pid not in seen  # the supervisor itself serves nothing
    assert running.stop(signal.SIGTERM) == 0
    log = "".join(running.output)
    assert "Started parent process" in log and "with 2 workers" in log
    assert log.count("Application shutdown complete") == 2  # each worker shut down gracefully
    assert "Stopping parent process" in log


def test_a_killed_worker_is_replaced(app_dir, start_cli):
    running = start_cli("pidapp:app", "--port", "0", "--workers", "2", "--app-dir", str(app_dir))
    victim = worker_pid(running.url)
    os.kill(victim, signal.SIGKILL)
    seen = pids_until(running.url, lambda pids: len(pids) >= 2)
    assert victim not in seen
    assert len(seen) == 2, seen  # the survivor and the replacement
    assert running.stop(signal.SIGINT) == 0
    log = "".join(running.output)
    assert f"Worker [{victim}] died (signal 9)" in log


def test_sigterm_lets_a_slow_request_finish(app_dir, start_cli):
    running = start_cli("pidapp:app", "--port", "0", "--workers", "2", "--app-dir", str(app_dir))
    pids_until(running.url, lambda pids: len(pids) >= 2)  # both workers up
    result: Dict[str, object] = {}

    def slow() -> None:
        try:
            result["status"] = httpx.get(running.url + "/slow", timeout=10).status_code
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            result["error"] = exc

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.5)  # the request is in flight
    assert running.stop(signal.SIGTERM) == 0
    thread.join(10)
    assert result == {"status": 200}


def test_a_worker_that_fails_to_start_stops_the_server(app_dir):
    result = run_cli("pidapp:app", "--port", "0", "--workers", "2", "--app-dir", str(app_dir),
                     env={"FAIL_STARTUP": "1"}, timeout=30)
    assert result.returncode == 3, result.stderr
    assert "no database" in result.stderr
    assert "died" not in result.stderr  # not restarted in a loop
    assert "Traceback" not in result.stderr


def test_an_unimportable_app_stops_the_server(app_dir):
    result = run_cli("nosuchmodule:app", "--port", "0", "--workers", "2", "--app-dir", str(app_dir), timeout=30)
    assert result.returncode == 1
    assert 'Could not import module "nosuchmodule"' in result.stderr
    assert "Traceback" not in result.stderr


def test_web_concurrency_sets_the_worker_count(app_dir, start_cli):
    running = start_cli("pidapp:app", "--port", "0", "--app-dir", str(app_dir), env={"WEB_CONCURRENCY": "2"})
    assert len(pids_until(running.url, lambda pids: len(pids) >= 2)) == 2
    assert running.stop(signal.SIGTERM) == 0
    assert "with 2 workers" in "".join(running.output)


def test_invalid_web_concurrency_is_a_one_line_error(app_dir):
    result = run_cli("pidapp:app", "--app-dir", str(app_dir), env={"WEB_CONCURRENCY": "many"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["Error: WEB_CONCURRENCY: expected a number of workers >= 1, got 'many'"]


def test_workers_need_an_import_string():
    async def app(scope, receive, send):  # pragma: no cover - never called
        pass

    with pytest.raises(ConfigError, match="workers"):
        Config(app, workers=2)
    assert Config("pidapp:app", workers=2).workers == 2
