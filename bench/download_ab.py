#!/usr/bin/env python3
"""The 100 MB download, builds and servers side by side: MB/s and the server's CPU per transfer.

    python bench/download_ab.py --build main=. --build wide=/tmp/wt --servers uvicorn,raw-download
    python bench/download_ab.py --client splice --rounds 15 --transfers 8

Each ``--build NAME=PATH`` is a Pyre checkout, built in place (``python setup.py
build_ext --inplace``), served with ``python -m pyre`` from that folder so that its own
tree is imported. ``--servers`` adds peers from bench/run.py (uvicorn as its users run it,
the reference sender raw-download). Every server runs pinned to ``--server-cpu`` for the
whole run; per round each one gets ``--transfers`` downloads in turn (the order rotated
every round), received by curl or by ``bench/bodyclient.py --splice`` on ``--client-cpu``.
Per server: the median over rounds of its MB/s (100 MB / the receiver's transfer time)
and of its CPU per transfer (``/proc/PID/stat``), and its paired ratio (per round, then
the median) to the first server. Bounded: every transfer has a 60 s limit, and the
servers are stopped at the end. This is how docs/performance.md's "Download, second
round" compared write sizes; bench/suite.py measures the servers' download the same way.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))
from bench import apps, run  # noqa: E402

def main(argv: List[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", action="append", default=[], metavar="NAME=PATH",
                   help="a Pyre checkout to serve (default: this one, as 'pyre')")
    p.add_argument("--servers", default="", help="bench/run.py servers to add, e.g. uvicorn,raw-download")
    p.add_argument("--client", choices=("curl", "splice"), default="curl")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--transfers", type=int, default=8, help="downloads per server per round")
    p.add_argument("--server-cpu", default="0")
    p.add_argument("--client-cpu", default="1")
    args = p.parse_args(argv)
    builds = dict(b.split("=", 1) for b in args.build) or {"pyre": str(BENCH_DIR.parent)}
    peers = [s for s in args.servers.split(",") if s]
    unknown = [s for s in peers if s not in run.SERVERS]
    if unknown or any(not (Path(path) / "pyre").is_dir() for path in builds.values()):
        p.error(f"unknown server(s) {unknown}; or a --build PATH is not a Pyre checkout")
    if args.rounds < 1 or args.transfers < 1:
        p.error("--rounds and --transfers must be >= 1")
    names = list(builds) + peers
    scenario = run.SCENARIOS["download"]
    procs: Dict[str, subprocess.Popen] = {}
    ports: Dict[str, int] = {}
    values: Dict[str, List[tuple]] = {name: [] for name in names}
    try:
        for name in names:
            ports[name] = run.free_port()
            server = run.SERVERS["pyre" if name in builds else name]
            if name in builds:  # served from its own folder, so that its own tree is imported
                app, cwd, env = "bench.apps:download", builds[name], dict(os.environ, PYTHONPATH=builds[name])
            else:
                app, cwd, env = f"{run.APPS_MODULE}:download", str(run.run_dir()), run.server_env(server.env)
            argv_ = run.server_argv(server, scenario, app, ports[name], 1)
            # Its own session: run.group_cpu_seconds counts the server's process group.
            procs[name] = subprocess.Popen(["taskset", "-c", args.server_cpu, *argv_], cwd=cwd, env=env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                           stdin=subprocess.DEVNULL, start_new_session=True)
        time.sleep(3)
        for rnd in range(args.rounds):
            order = names[rnd % len(names):] + names[:rnd % len(names)]
            for name in order:
                cmd = run.body_client_command(scenario, ports[name], args.client_cpu, None,
                                              "splice" if args.client == "splice" else "curl")
                cpu0, rates = run.group_cpu_seconds(procs[name].pid), []
                for _ in range(args.transfers):
                    err, seconds = run.run_curl(scenario, cmd)
                    if err:
                        print(f"{name}: {err}", file=sys.stderr)
                        return 1
                    rates.append(apps.TRANSFER_SIZE / 1e6 / seconds)
                cpu_ms = (run.group_cpu_seconds(procs[name].pid) - cpu0) * 1000 / args.transfers
                values[name].append((statistics.median(rates), cpu_ms))
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    first = names[0]
    print(f"{args.client} receiving, {args.rounds} rounds of {args.transfers} transfers; paired against {first}")
    print(f"{'server':<16} {'MB/s':>8} {'CPU ms/transfer':>16} {'paired':>8}")
    for name in names:
        mbs = statistics.median(v[0] for v in values[name])
        cpu = statistics.median(v[1] for v in values[name])
        pair = statistics.median(a[0] / b[0] for a, b in zip(values[name], values[first]))
        print(f"{name:<16} {mbs:>8,.0f} {cpu:>16.1f} {pair:>7.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
