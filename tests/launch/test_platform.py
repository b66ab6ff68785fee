"""A platform without AF_UNIX and without SIGHUP, SIGTTIN, SIGTTOU and SIGKILL (Windows),
simulated here: the names are removed and sys.platform says win32 while a server
starts, a worker pool runs and the reloader restarts a server. (The Windows CI job in
.github/workflows/ci.yml runs the whole suite on the real thing.)"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from pyre import Config, Server
from pyre.errors import ConfigError, StartupError
from pyre.sockets import bind_socket, describe
from tests.e2e.cli import cli_env

POSIX_ONLY_SIGNALS = ("SIGHUP", "SIGTTIN", "SIGTTOU", "SIGKILL")
PYX = Path(__file__).resolve().parents[2] / "pyre" / "_speedups"


class _WindowsSys:
    """``sys`` as Pyre's modules see it on Windows: only ``platform`` differs. (Patching
    the real sys.platform would also send the standard library's multiprocessing down
    its Windows paths, which cannot work on this machine.)"""

    platform = "win32"

    def __getattr__(self, name: str):
        return getattr(sys, name)


@pytest.fixture
def windows_like(monkeypatch):
    """No AF_UNIX, no POSIX-only signals, and ``sys.platform == "win32"`` in the Pyre
    modules that branch on it (in this process)."""
    from pyre import rss
    from pyre.process import spawn

    for module in (spawn, rss):
        monkeypatch.setattr(module, "sys", _WindowsSys())
    # socket.socketpair() still works, as Windows emulates it (here: on the real AF_UNIX,
    # which Linux needs; its default family is AF_UNIX only while that name exists).
    real_socketpair, unix = socket.socketpair, getattr(socket, "AF_UNIX", None)
    if unix is not None:
        def socketpair(family=None, type=socket.SOCK_STREAM, proto=0):
            return real_socketpair(unix if family is None else family, type, proto)

        monkeypatch.setattr(socket, "socketpair", socketpair)
        monkeypatch.delattr(socket, "AF_UNIX")
    monkeypatch.delattr(socket, "SO_REUSEPORT", raising=False)
    for name in POSIX_ONLY_SIGNALS:
        monkeypatch.delattr(signal, name, raising=False)


def wait_until(check, seconds: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# -- settings that cannot work there ----------------------------------------------------------------


def test_platform_only_settings_are_refused_in_one_line(windows_like):
    with pytest.raises(ConfigError, match=r"^uds: Unix domain sockets are not available on this platform"):
        Config("tests.apps:hello", uds="/tmp/x.sock")
    with pytest.raises(ConfigError, match=r"^reuse_port: SO_REUSEPORT is not available on this platform"):
        Config("tests.apps:hello", reuse_port=True)
    with pytest.raises(StartupError, match=r"^--uds /tmp/x.sock: Unix domain sockets are not available"):
        bind_socket(uds="/tmp/x.sock")


def test_the_cli_refuses_uds_in_one_line(tmp_path):
    code = ("import socket, sys; socket.__dict__.pop('AF_UNIX', None); sys.argv[0] = 'pyre'; "
            "from pyre.cli import main; main()")
    result = subprocess.run([sys.executable, "-c", code, "tests.apps:hello", "--uds", str(tmp_path / "s")],
                            env=cli_env(None), capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip() == ("Error: --uds: Unix domain sockets are not available on this platform; "
                                     "use host and port")


# -- a server ------------------------------------------------------------------------------------


def test_a_server_starts_and_serves_without_af_unix(windows_like, caplog):
    config = Config("tests.apps:hello", host="127.0.0.1", port=0, lifespan="off", log_level=None)
    server = Server(config)

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            assert not task.done(), task.result()
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{server.bound_port}/")
        assert response.text == "Hello, world!"
        assert describe(server.sockets[0]) == f"http://127.0.0.1:{server.bound_port}"
        server.should_exit = True
        await asyncio.wait_for(task, 10)

    loop = asyncio.SelectorEventLoop()  # Windows' loop for one process (no uvloop there)
    with caplog.at_level(logging.INFO, logger="pyre.error"):
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()
    assert any("Pyre running on http://127.0.0.1:" in r.getMessage() for r in caplog.records)


# -- a worker pool -------------------------------------------------------------------------------


def test_a_worker_pool_runs_and_stops_without_posix_signals(windows_like, caplog):
    from pyre.launch import parent_socket, serve_child
    from pyre.process.supervisor import Supervisor

    config = Config("tests.apps:hello", host="127.0.0.1", port=0, workers=2, lifespan="off")
    stopped_with = []
    with parent_socket(config) as (sock, _):
        supervisor = Supervisor(config, serve_child, [sock])
        original_spawn = supervisor._spawn

        def spawn(*args, **kwargs):
            worker = original_spawn(*args, **kwargs)
            terminate = worker.process.terminate

            def recorded_terminate() -> None:
                stopped_with.append(worker.pid)
                terminate()

            worker.process.terminate = recorded_terminate  # win32: workers stop with terminate()
            return worker

        supervisor._spawn = spawn
        result = []
        with caplog.at_level(logging.INFO, logger="pyre.error"):
            thread = threading.Thread(target=lambda: result.append(supervisor.run()), daemon=True)
            thread.start()
            try:
                wait_until(lambda: sum(w.ready for w in list(supervisor.workers.values())) == 2, what="2 workers")
                url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
                for _ in range(10):
                    assert httpx.get(url, timeout=5).text == "Hello, world!"
                # Not SIGHUP (which this platform lacks): a restart request is not understood.
                pids = set(supervisor.workers)
                supervisor.wakeup.on_signal(1)
                time.sleep(0.3)
                assert set(supervisor.workers) == pids
            finally:
                supervisor.wakeup.on_signal(signal.SIGTERM)  # what the console's Ctrl+C/close does
                thread.join(20)
        assert not thread.is_alive() and result == [0]
    assert sorted(stopped_with) == sorted(pids)
    assert any("No SIGHUP, SIGTTIN and SIGTTOU on this platform" in r.getMessage() for r in caplog.records)


def test_the_worker_link_works_where_a_pipe_cannot_be_watched_by_the_loop():
    """Windows: loop.add_reader on a pipe fails; a thread reads it and the loop answers."""
    from pyre.process.supervisor import SupervisorLink

    ours, theirs = multiprocessing.get_context("spawn").Pipe(duplex=True)

    class Server:
        should_exit = False

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def no_readers(*args):
            raise NotImplementedError

        loop.add_reader = no_readers  # as the proactor loop on Windows
        link = SupervisorLink(theirs)
        server = Server()
        link.attach(server)
        assert await loop.run_in_executor(None, ours.recv) == "ready"
        ours.send("ping")
        assert await loop.run_in_executor(None, lambda: ours.poll(10) and ours.recv()) == "pong"
        ours.close()  # the supervisor goes away
        deadline = loop.time() + 10
        while not server.should_exit and loop.time() < deadline:
            await asyncio.sleep(0.01)
        assert server.should_exit

    loop = asyncio.SelectorEventLoop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    theirs.close()


# -- the reloader --------------------------------------------------------------------------------


def test_the_reloader_restarts_a_server_without_posix_signals(windows_like, tmp_path):
    from pyre.launch import parent_socket, serve_child
    from pyre.process.reload_filter import ReloadFilter
    from pyre.process.reloader import Reloader
    from pyre.process.watchers import PollingWatcher

    module = tmp_path / "platform_reload_app.py"
    source = textwrap.dedent('''
        async def app(scope, receive, send):
            body = b"VERSION"
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
    ''')
    module.write_text(source.replace("VERSION", "one"))
    config = Config("platform_reload_app:app", host="127.0.0.1", port=0, lifespan="off", reload=True,
                    reload_dirs=[str(tmp_path)], reload_delay=0.05, app_dir=str(tmp_path))
    with parent_socket(config) as (sock, _):
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        watcher = PollingWatcher(ReloadFilter([str(tmp_path)]), 0.05)
        reloader = Reloader(config, serve_child, [sock], watcher)
        terminated = []
        original_spawn = reloader._spawn

        def spawn() -> None:
            original_spawn()
            child = reloader.child
            terminate = child.terminate

            def recorded_terminate() -> None:
                terminated.append(child.pid)
                terminate()

            child.terminate = recorded_terminate
        reloader._spawn = spawn
        result = []
        thread = threading.Thread(target=lambda: result.append(reloader.run()), daemon=True)
        thread.start()
        try:
            wait_until(lambda: _answer(url) == "one", what="the first server")
            first = reloader.child.pid
            time.sleep(0.2)  # a new modification time for the polling watcher
            module.write_text(source.replace("VERSION", "two"))
            wait_until(lambda: _answer(url) == "two", what="the reloaded server")
            assert reloader.child.pid != first and terminated[:1] == [first]  # stopped with terminate()
        finally:
            reloader.wakeup.on_signal(signal.SIGTERM)
            thread.join(30)
        assert not thread.is_alive() and result == [0]


def _answer(url: str) -> str:
    try:
        return httpx.get(url, timeout=2).text
    except httpx.HTTPError:
        return ""


# -- the compiled build ----------------------------------------------------------------------------


ALLOWED_HEADERS = {"Python.h", "structmember.h", "string.h", "stdint.h", "stdlib.h"}
ALLOWED_CIMPORTS = re.compile(r"^(cython|cpython(\.\w+)?|libc\.(string|stdint|stdlib))$")


def test_the_cython_sources_use_no_posix_headers():
    """The speed-ups build with MSVC too: only the C standard library and CPython (and
    headers and .pxd files of their own, such as the generated hpack_huffman.h or the
    shared capi.pxd and pyre_capi.h, checked alike)."""
    own = {path.name for path in PYX.glob("*.h")}
    own_pxd = {f"pyre._speedups.{path.stem}" for path in PYX.glob("*.pxd")}
    # The pure-mode twins' .pxd files (setup.py PURE_MODE), such as protocol/h1/_framing_c.pxd.
    package = PYX.parent
    own_pxd |= {".".join(("pyre",) + path.relative_to(package).with_suffix("").parts) for path in package.rglob("_*_c.pxd")}
    sources = sorted(PYX.glob("*.pyx")) + sorted(PYX.glob("*.pxd")) + sorted(PYX.glob("*.h"))
    assert sources
    for path in sources:
        text = path.read_text()
        for header in re.findall(r'#include\s*[<"]([^>"]+)[>"]', text):
            assert header in ALLOWED_HEADERS or header in own, f"{path.name}: #include {header}"
        for header in re.findall(r'cdef extern from "([^"]+)"', text):
            assert header in ALLOWED_HEADERS or header in own, f"{path.name}: extern from {header}"
        for module in re.findall(r"^\s*(?:from\s+(\S+)\s+cimport|cimport\s+(\S+))", text, re.M):
            name = module[0] or module[1]
            assert ALLOWED_CIMPORTS.match(name) or name in own_pxd, f"{path.name}: cimport {name}"


# -- --limit-max-rss ----------------------------------------------------------------------------------


def test_rss_is_this_platforms_current_resident_size():
    """/proc on Linux, GetProcessMemoryInfo on Windows, ps elsewhere (and ps agrees with /proc)."""
    from pyre import rss

    own = rss.rss_mib(os.getpid())
    assert rss.available() and own is not None and own > 1
    assert rss.rss_mib(2**22 + 12345) is None  # no such process
    if sys.platform.startswith("linux"):
        # The POSIX fallback (macOS, BSD) reads the same number from ps, in KiB.
        by_ps = rss._ps(os.getpid())
        assert by_ps is not None and abs(by_ps - own) < max(16.0, own * 0.5)


def test_limit_max_rss_is_refused_where_memory_cannot_be_measured(windows_like, monkeypatch):
    import ctypes

    monkeypatch.delattr(ctypes, "WinDLL", raising=False)  # no GetProcessMemoryInfo to ask
    with pytest.raises(ConfigError, match=r"^limit_max_rss: this platform gives no way to measure"):
        Config("tests.apps:hello", workers=2, limit_max_rss=100)
