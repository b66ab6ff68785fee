#!/usr/bin/env python3
"""Issue 16's typed handler on real servers: pyre.web on Pyre, and FastAPI, Litestar and
BlackSheep each on uvicorn and on Pyre (and pyre.web on uvicorn). One worker pinned to a
core (``--server-cpu``), wrk pinned to the other (``--client-cpu``), POSTing the ~1 KiB
JSON body with the 2 headers and the query to ``/orders/42``; every app's answer is checked
before it is loaded. Rounds interleaved (every entry once per round), medians of requests/s.

    python bench/typed_servers.py [--duration 5] [--rounds 3] [--connections 64]

The apps are bench/typed_overhead.py's. Bounded: entries x rounds x (duration + ~2 s).
"""

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Dict, List, Tuple

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from bench import typed_overhead as apps  # noqa: E402

HOST = "127.0.0.1"
ENTRIES: Dict[str, Tuple[str, str]] = {
    "pyre.web on Pyre": ("pyre", "pyre_web"),
    "pyre.web on uvicorn": ("uvicorn", "pyre_web"),
    "FastAPI on uvicorn": ("uvicorn", "fastapi"),
    "FastAPI on Pyre": ("pyre", "fastapi"),
    "Litestar on uvicorn": ("uvicorn", "litestar"),
    "Litestar on Pyre": ("pyre", "litestar"),
    "BlackSheep on uvicorn": ("uvicorn", "blacksheep"),
    "BlackSheep on Pyre": ("pyre", "blacksheep"),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def command(server: str, attribute: str, port: int) -> List[str]:
    app = f"bench.typed_overhead:{attribute}"
    if server == "pyre":
        return [sys.executable, "-m", "pyre", app, "--host", HOST, "--port", str(port), "--loop", "uvloop",
                "--no-access-log", "--log-level", "warning"]
    return [sys.executable, "-m", "uvicorn", app, "--host", HOST, "--port", str(port), "--loop", "uvloop",
            "--http", "httptools", "--no-access-log", "--log-level", "warning"]


def url(port: int) -> str:
    return f"http://{HOST}:{port}/orders/42?{apps.QUERY.decode()}"


def check(port: int, deadline: float) -> None:
    """Wait for the server, then check its answer (the same JSON for every app)."""
    headers = {name.decode(): value.decode() for name, value in apps.HEADERS if name not in (b"host", b"content-length")}
    while True:
        try:
            request = urllib.request.Request(url(port), data=apps.BODY, headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=5) as response:
                answer = json.loads(response.read())
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    if answer != apps.EXPECTED:
        raise SystemExit(f"unexpected answer on port {port}: {answer}")


def lua_script(directory: str) -> str:
    path = os.path.join(directory, "typed.lua")
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(apps.BODY.decode())}"]
    for name, value in apps.HEADERS:
        if name not in (b"host", b"content-length"):
            lines.append(f'wrk.headers["{name.decode()}"] = "{value.decode()}"')
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def measure(entry: str, options: argparse.Namespace, script: str) -> float:
    server, attribute = ENTRIES[entry]
    port = free_port()
    process = subprocess.Popen(
        ["taskset", "-c", options.server_cpu, *command(server, attribute, port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        check(port, time.monotonic() + 20)
        out = subprocess.run(
            ["taskset", "-c", options.client_cpu, "wrk", "-t1", f"-c{options.connections}", f"-d{options.duration}s",
             "-s", script, url(port)],
            capture_output=True, text=True, timeout=options.duration + 30,
        ).stdout
        found = re.search(r"Requests/sec:\s+([0-9.]+)", out)
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if found is None or errors is not None:
            raise SystemExit(f"{entry}: wrk said\n{out}")
        return float(found.group(1))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--client-cpu", default="1")
    parser.add_argument("--entries", default=",".join(ENTRIES), type=lambda text: text.split(","))
    options = parser.parse_args()
    results: Dict[str, List[float]] = {entry: [] for entry in options.entries}
    with tempfile.TemporaryDirectory() as directory:
        script = lua_script(directory)
        for round_number in range(1, options.rounds + 1):
            for entry in options.entries:
                results[entry].append(measure(entry, options, script))
                print(f"round {round_number} {entry}: {results[entry][-1]:,.0f} req/s", flush=True)
    medians = {entry: statistics.median(values) for entry, values in results.items()}
    print(f"\n{options.rounds} rounds of {options.duration} s, {options.connections} connections, medians")
    print(f"{'entry':<24} {'req/s':>10} {'pyre.web on Pyre /':>20}")
    base = medians.get("pyre.web on Pyre")
    for entry, value in medians.items():
        ratio = f"{base / value:.2f}x" if base else "-"
        print(f"{entry:<24} {value:>10,.0f} {ratio:>20}")


if __name__ == "__main__":
    main()
