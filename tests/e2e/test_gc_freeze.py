"""``--gc-freeze``: after startup each serving process freezes its heap (the p99 tail of
HTTP/2: full collections no longer walk what startup left); a Server embedded in another
program does not, unless asked."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import httpx
import pytest

from pyre import server as server_module

APP_SOURCE = textwrap.dedent('''
    import gc
    import os

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        body = f"{os.getpid()} {gc.get_freeze_count()} {gc.get_threshold()[0]}".encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
''')


@pytest.fixture
def app_dir(tmp_path):
    (tmp_path / "gcapp.py").write_text(APP_SOURCE)
    return tmp_path


def interpreter_heap() -> tuple:
    """A fresh interpreter's frozen object count and young threshold, before any code runs
    (CPython 3.11: 0 and 700; 3.12 starts with 375 frozen; 3.13's threshold is 2000)."""
    out = subprocess.run([sys.executable, "-c", "import gc; print(gc.get_freeze_count(), gc.get_threshold()[0])"],
                         capture_output=True, text=True, timeout=60, check=True)
    count, young = out.stdout.split()
    return int(count), int(young)


def frozen(url: str) -> int:
    return heap(url)[0]


def heap(url: str) -> tuple:
    """The served process's frozen object count and young-generation threshold."""
    with httpx.Client(timeout=5) as client:
        _, count, young = client.get(url, headers={"connection": "close"}).text.split()
    return int(count), int(young)


def test_the_pyre_command_freezes_the_heap_after_startup(app_dir, start_cli):
    running = start_cli("gcapp:app", "--port", "0", "--app-dir", str(app_dir))
    count, young = heap(running.url)
    assert count > 10_000  # the modules, the app and the server's state
    assert young == server_module.YOUNG_THRESHOLD  # raised from CPython's 700
    assert running.stop() == 0


@pytest.mark.parametrize("how", [("--no-gc-freeze",), ("--no-gc-freeze", "--workers", "2")])
def test_no_gc_freeze_leaves_the_heap_alone(app_dir, start_cli, how):
    running = start_cli("gcapp:app", "--port", "0", "--app-dir", str(app_dir), *how)
    assert heap(running.url) == interpreter_heap()
    assert running.stop() == 0


def test_the_environment_turns_it_off(app_dir, start_cli):
    running = start_cli("gcapp:app", "--port", "0", "--app-dir", str(app_dir), env={"PYRE_GC_FREEZE": "false"})
    assert frozen(running.url) == interpreter_heap()[0]
    assert running.stop() == 0


def test_each_worker_freezes_its_own_heap(app_dir, start_cli):
    running = start_cli("gcapp:app", "--port", "0", "--app-dir", str(app_dir), "--workers", "2")
    counts = {}
    deadline = time.monotonic() + 20
    with httpx.Client(timeout=5) as client:
        for _ in range(400):  # a new connection each: the kernel hands them to either worker
            if time.monotonic() > deadline:
                break
            pid, count, _ = client.get(running.url, headers={"connection": "close"}).text.split()
            counts[pid] = int(count)
            if len(counts) >= 2:
                break
    assert len(counts) == 2 and all(count > 10_000 for count in counts.values())
    assert running.stop() == 0


async def _hello(scope, receive, send):
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@pytest.mark.parametrize("given, freezes", [({}, False), ({"gc_freeze": False}, False), ({"gc_freeze": True}, True)])
async def test_an_embedded_server_freezes_only_when_asked(monkeypatch, serve, given, freezes):
    calls = []
    monkeypatch.setattr(server_module, "freeze_heap", lambda: calls.append(1))  # not this test process's heap
    server = await serve(_hello, **given)
    assert server.started
    assert server.config.gc_freeze is given.get("gc_freeze")
    assert calls == ([1] if freezes else [])
