"""Running the real ``pyre`` command as a subprocess, for the CLI and worker tests."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional, Set
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The `pyre` script of the interpreter running the tests, not whatever is first on PATH.
_BESIDE = Path(sys.executable).with_name("pyre")
PYRE = str(_BESIDE) if _BESIDE.exists() else shutil.which("pyre")
RUNNING = re.compile(r"Pyre running on (\S+)")


def command(*args: str, module: bool = False) -> List[str]:
    if module or PYRE is None:
        return [sys.executable, "-m", "pyre", *args]
    return [PYRE, *args]


def run_cli(*args: str, cwd=None, env=None, timeout: float = 20, module: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(command(*args, module=module), cwd=cwd, env=cli_env(env), capture_output=True,
                          text=True, timeout=timeout)


def cli_env(extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("GREETING", None)
    if extra:
        env.update(extra)
    return env


class Running:
    def __init__(self, proc: subprocess.Popen, url: Optional[str], output: List[str]) -> None:
        self.proc = proc
        self.url = url
        self.output = output

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError("pyre did not stop on signal")
        rest = self.proc.stderr.read()
        self.output.append(rest)
        return self.proc.returncode


@pytest.fixture
def start_cli():
    started: List[Running] = []

    def start(*args: str, cwd=None, env=None, module: bool = False, pass_fds=(), expect_url: bool = True) -> Running:
        proc = subprocess.Popen(command(*args, module=module), cwd=cwd, env=cli_env(env), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, pass_fds=pass_fds)
        output: List[str] = []
        running = Running(proc, None, output)
        started.append(running)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            output.append(line)
            match = RUNNING.search(line)
            if match:
                running.url = match.group(1)
                return running
        if expect_url:
            running.stop(signal.SIGKILL)
            raise AssertionError("pyre did not start:\n" + "".join(output))
        return running

    yield start
    for running in started:
        if running.proc.poll() is None:
            running.proc.kill()
            running.proc.wait(5)




def _attempt(address, each: float) -> str:
    """One connection and request: "refused", "reset", "closed" (no response),
    "answered", or "hung" (no outcome within ``each`` seconds)."""
    try:
        with socket.create_connection(address, timeout=each) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            return "answered" if sock.recv(1) else "closed"
    except ConnectionRefusedError:
        return "refused"
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "hung"
    except OSError as exc:
        return f"error {exc!r}"


def attempts_until_refused(url: str, seconds: float = 5.0, each: float = 2.0) -> List[str]:
    """Connect to ``url`` and send a request, again and again until a connection is
    refused (at most ``seconds``); return the outcome of every attempt. A server that
    stops listening refuses at once; one that leaves a socket listening lets attempts
    hang in its backlog ("hung": nothing within ``each`` seconds)."""
    parts = urlsplit(url)
    address = (parts.hostname, parts.port)
    outcomes: List[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        outcomes.append(_attempt(address, each))
        if outcomes[-1] == "refused":
            break
        time.sleep(0.02)
    return outcomes


class LoadClients:
    """``clients`` threads sending requests (raw sockets, one at a time each), bounded in
    count and time, to an app answering with its process id. With ``keep_alive``, as a
    well-behaved pooling client does: a connection is reused until the server answers
    with ``Connection: close`` or has closed it while idle (seen before sending); else
    each request asks for ``Connection: close`` on a connection of its own. Every other
    outcome (refused, reset, closed before the response, a status other than 200) is a
    failure, in ``failures``; ``pids`` has the process id of every answer."""

    def __init__(self, url: str, clients: int = 8, limit: int = 300000, seconds: float = 30.0,
                 keep_alive: bool = True) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname, parts.port)
        self.request = b"GET / HTTP/1.1\r\nHost: t\r\n" + (b"" if keep_alive else b"Connection: close\r\n") + b"\r\n"
        self.limit = limit
        self.seconds = seconds
        self.pids: List[int] = []
        self.failures: List[str] = []
        self.sent = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def __enter__(self) -> "LoadClients":
        self._deadline = time.monotonic() + self.seconds
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def workers(self) -> Set[int]:
        with self._lock:
            return set(self.pids)

    def _next(self) -> bool:
        with self._lock:
            if self._stop.is_set() or self.sent >= self.limit or time.monotonic() > self._deadline:
                return False
            self.sent += 1
            return True

    def _run(self) -> None:
        sock: Optional[socket.socket] = None
        while self._next():
            try:
                if sock is not None and select.select([sock], [], [], 0)[0]:
                    sock.close()  # closed by the server while idle (a keep-alive timeout): not a failure
                    sock = None
                if sock is None:
                    sock = socket.create_connection(self.address, timeout=10)
                sock.sendall(self.request)
                status, close, body = self._response(sock)
                if status != 200:
                    raise ConnectionError(f"status {status}")
                with self._lock:
                    self.pids.append(int(body))
                if close:
                    sock.close()
                    sock = None
            except (OSError, ValueError) as exc:
                with self._lock:
                    self.failures.append(repr(exc))
                if sock is not None:
                    sock.close()
                sock = None
        if sock is not None:
            sock.close()

    @staticmethod
    def _response(sock: socket.socket):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before a response" if not data else "closed in a response head")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
        length = int(headers.get(b"content-length", b"0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed in a response body")
            body += chunk
        if len(body) != length:  # one request at a time: nothing may follow the response
            raise ConnectionError(f"{len(body) - length} unexpected bytes after a response")
        return int(lines[0].split()[1]), headers.get(b"connection") == b"close", body
