"""Running the real ``pyre`` command as a subprocess, for the CLI and worker tests."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

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


