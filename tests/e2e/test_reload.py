"""``--reload``: a reloader process that restarts the server when a file changes.

Run through the real ``pyre`` command; the polling backend (which has no option) and
the kill timeout run through a small driver calling :func:`pyre.launch.run_reloader`
the way the command does.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import httpx
import pytest

from tests.e2e.cli import RUNNING, attempts_until_refused, cli_env, command

pytestmark = pytest.mark.slow

APP = textwrap.dedent('''
    import asyncio
    import os
    import sys

    MESSAGE = {message!r}

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({{"type": message["type"] + ".complete"}})
                if message["type"] == "lifespan.shutdown":
                    return
        if scope["path"] == "/slow":
            print("slow request started", file=sys.stderr, flush=True)
            await asyncio.sleep(60)
        body = f"{{MESSAGE}} {{os.getpid()}}".encode()
        await send({{"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]}})
        await send({{"type": "http.response.body", "body": body}})
''')
BROKEN = "MESSAGE = = 'this line is wrong'\n"

DRIVER = textwrap.dedent('''
    import json, sys
    from pyre.config import Config
    from pyre.logs import configure_logging
    from pyre.launch import run_reloader

    options = json.loads(sys.argv[1])
    backend = options.pop("backend")
    if "reload_grace" in options:
        import pyre.process.reloader
        pyre.process.reloader.RELOAD_GRACE = options.pop("reload_grace")
    config = Config(options.pop("app"), reload=True, **options)
    configure_logging(config.log_level_number, config.access_log, config.use_colors)
    sys.exit(run_reloader(config, backend=backend))
''')
SERVER_PID = re.compile(r"Started server process \[(\d+)\]")


def write(path: Path, text: str) -> None:
    """Replace the file at once, as editors do: a watcher never sees it half-written
    (which, on a busy machine, could restart the server on an empty file)."""
    temporary = path.with_name(f".{path.name}.tmp")  # hidden: not watched
    temporary.write_text(text)
    os.replace(temporary, path)


def write_app(directory: Path, message: str) -> None:
    # A different length each time: the import system's bytecode cache checks the size.
    write(directory / "app.py", APP.format(message=message))


def get(url: str, timeout: float = 10) -> str:
    response = httpx.get(url, headers={"connection": "close"}, timeout=timeout)
    assert response.status_code == 200
    return response.text


def until(predicate: Callable[[], Any], timeout: float = 20, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(every)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie (not reaped yet) counts as gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return False


class Reloading:
    """A running reloader; its stderr is collected by a thread into ``lines``."""

    def __init__(self, argv: List[str], cwd: Path, env: Optional[Dict[str, str]]) -> None:
        self.proc = subprocess.Popen(argv, cwd=str(cwd), env=cli_env(env), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: List[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url: Optional[str] = None

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def log(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def mark(self) -> int:
        with self._changed:
            return len(self.lines)

    def since(self, mark: int) -> str:
        with self._changed:
            return "".join(self.lines[mark:])

    def wait_for(self, text: str, since: int = 0, timeout: float = 20) -> str:
        """The first line from ``since`` on containing ``text``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[since:]:
                    if text in line:
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"{text!r} not logged; the log:\n" + "".join(self.lines))
                self._changed.wait(min(remaining, 0.5))

    def server_pids(self) -> List[int]:
        return [int(pid) for pid in SERVER_PID.findall(self.log)]

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("the reloader did not stop on signal; the log:\n" + self.log)
        self._reader.join(5)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def app_dir(tmp_path):
    write_app(tmp_path, "one")
    return tmp_path


@pytest.fixture
def reloader():
    """``reloader(app_dir, backend="auto", **config)`` starts the reloader with cwd
    ``app_dir`` and waits for its ``Pyre running on`` line."""
    started: List[Reloading] = []

    def start(app_dir: Path, backend: str = "auto", env: Optional[Dict[str, str]] = None,
              **options: Any) -> Reloading:
        options.setdefault("reload_delay", 0.1)
        env = {"PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
        if backend == "auto" and "reload_grace" not in options:
            argv = command("app:app", "--reload", "--port", "0")
            flags = {"reload_dirs": "--reload-dir", "reload_includes": "--reload-include",
                     "reload_excludes": "--reload-exclude"}
            for key, value in options.items():
                if key in flags:
                    for item in value:
                        argv += [flags[key], item]
                else:
                    argv += ["--" + key.replace("_", "-"), str(value)]
        else:
            argv = [sys.executable, "-c", DRIVER,
                    json.dumps({"app": "app:app", "port": 0, "app_dir": ".", "backend": backend, **options})]
        running = Reloading(argv, app_dir, env)
        started.append(running)
        line = running.wait_for("Pyre running on")
        match = RUNNING.search(line)
        assert match is not None
        running.url = match.group(1)
        return running

    yield start
    for running in started:
        running.kill()
    # Every server process ends with its reloader (even one killed with SIGKILL).
    for running in started:
        for pid in running.server_pids():
            until(lambda: gone(pid), timeout=15)


BACKENDS = [pytest.param("auto", id="default"), pytest.param("stat", id="polling")]
WATCHER = {"auto": "WatchFiles", "stat": "StatReload"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_edited_file_is_served_after_a_reload(app_dir, reloader, backend):
    running = reloader(app_dir, backend=backend)
    first = get(running.url)
    assert first.startswith("one ")

    write_app(app_dir, "version two")
    second = until(lambda: (lambda text: text.startswith("version two") and text)(get(running.url)))
    assert second.split()[-1] != first.split()[-1]  # a new server process
    assert running.proc.poll() is None

    assert running.stop(signal.SIGINT) == 0
    log = running.log
    assert f"Will watch for changes in these directories: ['{app_dir.resolve()}']" in log
    assert f"Started reloader process [{running.proc.pid}] using {WATCHER[backend]}" in log
    assert "detected changes in 'app.py'. Reloading..." in log
    assert log.count("Application shutdown complete") == 2  # each server stopped gracefully
    assert f"Stopping reloader process [{running.proc.pid}]" in log
    assert "Traceback" not in log


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_syntax_error_keeps_the_reloader_waiting(app_dir, reloader, backend):
    running = reloader(app_dir, backend=backend)
    assert get(running.url).startswith("one ")

    mark = running.mark()
    write(app_dir / "app.py", BROKEN)
    running.wait_for("Waiting for file changes before restarting", since=mark)
    error = running.since(mark)
    assert "Error loading ASGI app" in error and "SyntaxError" in error
    assert f'File "{app_dir.resolve() / "app.py"}", line 1' in error  # where, not importlib's frames
    assert "importlib" not in error
    assert running.proc.poll() is None  # the reloader lives on

    write_app(app_dir, "three, fixed")
    assert until(lambda: get(running.url).startswith("three, fixed"))
    assert running.stop(signal.SIGINT) == 0


def test_an_app_broken_at_start_is_served_once_fixed(tmp_path, reloader):
    write(tmp_path / "app.py", BROKEN)
    running = reloader(tmp_path)
    running.wait_for("exited with code 1. Waiting for file changes before restarting")
    write_app(tmp_path, "now it works")
    assert until(lambda: get(running.url).startswith("now it works"))
    assert running.stop(signal.SIGTERM) == 0


def test_a_missing_module_is_one_line(tmp_path, reloader):
    running = reloader(tmp_path)  # no app.py at all
    line = running.wait_for("Error loading ASGI app")
    assert 'Could not import module "app"' in line
    running.wait_for("Waiting for file changes before restarting")
    assert "Traceback" not in running.log
    assert running.stop(signal.SIGINT) == 0


def test_the_port_accepts_connections_during_a_reload(app_dir, reloader):
    running = reloader(app_dir)
    assert get(running.url).startswith("one ")
    bodies: List[str] = []
    refused: List[Exception] = []
    dropped: List[Exception] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                bodies.append(get(running.url, timeout=15).split()[0])
            except httpx.ConnectError as exc:  # refused: the failure this test is about
                refused.append(exc)
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                # A connection the old server accepted but had not read from when it
                # began to stop is closed, as by any server shutting down.
                dropped.append(exc)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        until(lambda: len(bodies) >= 5)
        write_app(app_dir, "two")
        until(lambda: bodies.count("two") >= 20)
    finally:
        stop.set()
        thread.join(20)
    assert not thread.is_alive()
    assert refused == []
    assert len(dropped) <= 2, dropped
    switch = bodies.index("two")
    assert set(bodies[:switch]) == {"one"} and set(bodies[switch:]) == {"two"}
    assert running.stop(signal.SIGINT) == 0


def test_only_matching_files_in_watched_directories_reload(app_dir, reloader):
    (app_dir / "src").mkdir()
    (app_dir / "other").mkdir()
    running = reloader(app_dir, reload_dirs=[str(app_dir / "src"), str(app_dir)],
                       reload_includes=["*.txt"], reload_excludes=["scratch_*.py"])
    assert f"Will watch for changes in these directories: ['{app_dir.resolve()}']" in running.log
    assert get(running.url).startswith("one ")

    mark = running.mark()
    (app_dir / "notes.md").write_text("not watched")
    (app_dir / "scratch_1.py").write_text("x = 1\n")
    (app_dir / ".hidden.py").write_text("x = 1\n")
    (app_dir / "other" / "__pycache__").mkdir()
    (app_dir / "other" / "__pycache__" / "x.py").write_text("x = 1\n")
    time.sleep(1.0)  # ten times the delay: nothing happens
    assert "detected changes" not in running.since(mark)

    (app_dir / "src" / "data.txt").write_text("included\n")
    line = running.wait_for("detected changes", since=mark)
    assert "'src/data.txt'" in line and "notes" not in line
    running.wait_for("Application startup complete", since=mark)
    assert running.stop(signal.SIGINT) == 0


def test_reload_dir_limits_what_is_watched(app_dir, reloader):
    (app_dir / "src").mkdir()
    running = reloader(app_dir, reload_dirs=["src"])
    assert f"Will watch for changes in these directories: ['{app_dir.resolve() / 'src'}']" in running.log
    mark = running.mark()
    write_app(app_dir, "not watched here")
    time.sleep(1.0)
    assert "detected changes" not in running.since(mark)
    (app_dir / "src" / "helpers.py").write_text("X = 1\n")
    assert "'src/helpers.py'" in running.wait_for("detected changes", since=mark)
    assert until(lambda: get(running.url).startswith("not watched here"))  # the new server has it
    assert running.stop(signal.SIGINT) == 0


def test_a_crashed_server_waits_for_a_change(app_dir, reloader):
    running = reloader(app_dir)
    first = int(get(running.url).split()[-1])
    mark = running.mark()
    os.kill(first, signal.SIGKILL)
    line = running.wait_for("Waiting for file changes before restarting", since=mark)
    assert f"Server process [{first}] was killed by SIGKILL" in line
    assert running.proc.poll() is None
    write_app(app_dir, "back again")
    assert until(lambda: get(running.url).startswith("back again"))
    assert running.stop(signal.SIGINT) == 0


def test_sigterm_stops_the_server_gracefully(app_dir, reloader):
    running = reloader(app_dir)
    server = int(get(running.url).split()[-1])
    assert running.stop(signal.SIGTERM) == 0
    assert gone(server)
    assert "Application shutdown complete" in running.log
    assert "Traceback" not in running.log


def test_the_server_stops_when_the_reloader_is_killed(app_dir, reloader):
    running = reloader(app_dir)
    server = int(get(running.url).split()[-1])
    running.kill()  # SIGKILL: no chance to stop the server
    until(lambda: gone(server), timeout=15)
    with pytest.raises(httpx.ConnectError):
        httpx.get(running.url, timeout=5)


def test_workers_are_ignored_with_reload(app_dir, reloader):
    running = reloader(app_dir, workers=2)
    assert get(running.url).startswith("one ")
    assert "--workers 2 is ignored with --reload" in running.log
    assert len(running.server_pids()) == 1
    assert running.stop(signal.SIGINT) == 0


def slow_request(running: Reloading) -> Dict[str, Any]:
    """Starts a request the app answers after a minute; returns its result holder."""
    url = running.url
    mark = running.mark()
    result: Dict[str, Any] = {}

    def run() -> None:
        try:
            result["status"] = httpx.get(url + "/slow", timeout=30).status_code
        except httpx.HTTPError as exc:
            result["error"] = exc

    result["thread"] = threading.Thread(target=run, daemon=True)
    result["thread"].start()
    running.wait_for("slow request started", since=mark)
    return result


def test_a_second_sigint_stops_at_once(app_dir, reloader):
    running = reloader(app_dir)
    assert get(running.url).startswith("one ")
    slow = slow_request(running)
    mark = running.mark()
    running.proc.send_signal(signal.SIGINT)
    running.wait_for("Waiting for 1 connection(s)", since=mark)  # the server waits for the request
    time.sleep(0.3)
    assert running.proc.poll() is None
    started = time.monotonic()
    assert running.stop(signal.SIGINT) == 0  # the second one
    assert time.monotonic() - started < 5
    slow["thread"].join(10)
    assert "error" in slow  # cut off, not answered


def test_sigterm_refuses_new_connections_at_once_while_the_server_drains(app_dir, reloader):
    # The reloader's copy of the socket closes with the stop: nothing waits in a backlog.
    running = reloader(app_dir, timeout_graceful_shutdown=4)
    slow = slow_request(running)
    mark = running.mark()
    running.proc.send_signal(signal.SIGTERM)
    running.wait_for("Waiting for 1 connection(s)", since=mark)  # draining for up to 4 s
    outcomes = attempts_until_refused(running.url, seconds=3, each=1.5)
    assert "hung" not in outcomes and outcomes[-1] == "refused", outcomes
    running.proc.wait(15)
    assert running.stop() == 0
    slow["thread"].join(10)
    assert slow.get("status") == 503  # cut by the graceful timeout before its response began


def test_a_server_that_does_not_stop_for_a_reload_is_killed(app_dir, reloader):
    running = reloader(app_dir, reload_grace=1.0)
    assert get(running.url).startswith("one ")
    slow = slow_request(running)
    mark = running.mark()
    write_app(app_dir, "two")
    line = running.wait_for("did not stop", since=mark)
    assert "did not stop within 1 s; killing it." in line
    assert until(lambda: get(running.url).startswith("two"))
    slow["thread"].join(10)
    assert "error" in slow
    assert running.stop(signal.SIGINT) == 0
