"""Memory: RSS per idle keep-alive connection, many idle connections, RSS over a long run.

    python bench/memory.py idle --servers pyre,uvicorn,granian --connections 2000
    python bench/memory.py idle --servers pyre --connections 10000
    python bench/memory.py soak --servers pyre --requests 1000000

``idle``: each server (one worker, pinned to core 0, keep-alive timeout raised so
nothing is reaped) serves one request on each of N connections, which then stay open
and idle. The RSS of the server's whole process group is read from /proc before and
after; the difference divided by N is the cost of one idle keep-alive connection.
Every connection is then checked to be still open and a fresh request is timed.

``soak``: wrk (pinned to core 1) drives plaintext requests until at least
``--requests`` were served; the server's RSS is sampled every second. Reported: RSS
after the warm-up (the first 5% of requests), at the end, the maximum, and the growth
from warm-up to end (the target is within 5%).

Servers and their command lines come from bench/run.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import run as harness  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
# Flags that keep idle connections open for the whole measurement.
KEEP_ALIVE_FLAGS = {
    "pyre": ["--timeout-keep-alive", "600"],
    "pyre-pure": ["--timeout-keep-alive", "600"],
    "uvicorn": ["--timeout-keep-alive", "600"],
    "uvicorn-h11": ["--timeout-keep-alive", "600"],
    "hypercorn": ["--keep-alive", "600"],
    "granian": [],  # no idle timeout by default
}


def group_rss_kib(pgid: int) -> int:
    """Resident set size of every process in the group, in KiB."""
    return harness.group_status_kib(pgid, "VmRSS")


def start(name: str, extra: List[str], logdir: Path) -> harness.ServerProcess:
    server = harness.SERVERS[name]
    missing = server.missing()
    if missing:
        raise SystemExit(f"{name}: {missing}")
    process = harness.ServerProcess(server, harness.SCENARIOS["plaintext"], "0", logdir)
    process.cmd += extra
    process.start()
    problem = process.wait_listening(30)
    if problem:
        process.stop()
        raise SystemExit(f"{name}: {problem}")
    return process


async def _one_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(REQUEST)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)


async def open_idle(port: int, count: int, batch: int = 250) -> List[Tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    conns: List[Tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def one() -> None:
        reader, writer = await asyncio.open_connection(harness.HOST, port)
        await _one_request(reader, writer)
        conns.append((reader, writer))

    for start_at in range(0, count, batch):
        await asyncio.wait_for(asyncio.gather(*(one() for _ in range(min(batch, count - start_at)))), 60)
    return conns


async def idle_check(port: int, count: int, pgid: int) -> Dict[str, float]:
    await asyncio.sleep(1.0)
    before = group_rss_kib(pgid)
    conns = await open_idle(port, count)
    await asyncio.sleep(2.0)
    after = group_rss_kib(pgid)
    # All still open? A closed connection would read EOF at once.
    open_count = 0
    for reader, _writer in conns:
        try:
            await asyncio.wait_for(reader.read(1), 0.001)
        except asyncio.TimeoutError:
            open_count += 1
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection(harness.HOST, port)
    await _one_request(reader, writer)
    fresh_ms = (time.perf_counter() - t0) * 1000
    writer.close()
    for _reader, w in conns:
        w.close()
    return {
        "connections": count,
        "still_open": open_count,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_connection": (after - before) / count,
        "fresh_request_ms": fresh_ms,
    }


def raise_fd_limit(connections: int) -> None:
    """Raise the open-file limit to its maximum (the servers inherit it), or exit if even
    that cannot hold ``connections`` idle connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = connections + 200
    if hard < need:
        raise SystemExit(f"open-file limit {hard} is below {need}; raise it (ulimit -n)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cmd_idle(args: argparse.Namespace, logdir: Path) -> List[Dict[str, object]]:
    raise_fd_limit(args.connections)
    results = []
    for name in args.servers.split(","):
        process = start(name, KEEP_ALIVE_FLAGS.get(name, []), logdir)
        try:
            result = asyncio.run(idle_check(process.port, args.connections, process.proc.pid))
        finally:
            process.stop()
        result["server"] = name
        results.append(result)
        print(f"[memory] {name}: {result}", file=sys.stderr, flush=True)
    return results


def cmd_soak(args: argparse.Namespace, logdir: Path) -> List[Dict[str, object]]:
    results = []
    script = logdir / "soak.lua"
    script.write_text(harness.SCENARIOS["plaintext"].lua())
    for name in args.servers.split(","):
        process = start(name, [], logdir)
        samples: List[Tuple[float, int]] = []
        served = 0
        try:
            rounds = 0
            t0 = time.monotonic()
            while served < args.requests and rounds < args.max_rounds:
                out, _cpu, _cmd = harness.run_wrk(f"http://{harness.HOST}:{process.port}/", script,
                                                  args.round_seconds, 64, "1")
                parsed = harness.parse_wrk(out)
                served += int(parsed.get("requests") or 0)
                samples.append((served, group_rss_kib(process.proc.pid)))
                rounds += 1
            elapsed = time.monotonic() - t0
        finally:
            process.stop()
        warm = next((rss for count, rss in samples if count >= args.requests * 0.05), samples[0][1])
        end = samples[-1][1]
        result = {
            "server": name,
            "requests": served,
            "seconds": round(elapsed, 1),
            "rss_warm_kib": warm,
            "rss_end_kib": end,
            "rss_max_kib": max(rss for _c, rss in samples),
            "growth_percent": round((end - warm) / warm * 100, 2),
            "samples": samples,
        }
        results.append(result)
        print(f"[memory] {name}: { {k: v for k, v in result.items() if k != 'samples'} }", file=sys.stderr, flush=True)
    return results


def render(kind: str, results: List[Dict[str, object]]) -> str:
    if kind == "idle":
        lines = ["| server | idle connections | still open | RSS before MiB | RSS after MiB | KiB per connection | fresh request ms |",
                 "|---|---:|---:|---:|---:|---:|---:|"]
        for r in results:
            lines.append(f"| {r['server']} | {r['connections']:,} | {r['still_open']:,} | {r['rss_before_kib'] / 1024:.1f} | "
                         f"{r['rss_after_kib'] / 1024:.1f} | {r['kib_per_connection']:.2f} | {r['fresh_request_ms']:.1f} |")
    else:
        lines = ["| server | requests | seconds | RSS after warm-up MiB | RSS at end MiB | max MiB | growth |",
                 "|---|---:|---:|---:|---:|---:|---:|"]
        for r in results:
            lines.append(f"| {r['server']} | {r['requests']:,} | {r['seconds']} | {r['rss_warm_kib'] / 1024:.1f} | "
                         f"{r['rss_end_kib'] / 1024:.1f} | {r['rss_max_kib'] / 1024:.1f} | {r['growth_percent']:+.2f}% |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("idle", "soak"))
    parser.add_argument("--servers", default="pyre,uvicorn")
    parser.add_argument("--connections", type=int, default=2000, help="idle: connections to hold")
    parser.add_argument("--requests", type=int, default=1_000_000, help="soak: requests to serve at least")
    parser.add_argument("--round-seconds", type=int, default=10, help="soak: seconds per wrk run (one RSS sample each)")
    parser.add_argument("--max-rounds", type=int, default=60, help="soak: stop after this many wrk runs anyway")
    parser.add_argument("--json", help="write the raw results here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pyre-memory-") as tmp:
        logdir = Path(tmp)
        results = cmd_idle(args, logdir) if args.kind == "idle" else cmd_soak(args, logdir)
    print(f"# {args.kind}: python bench/memory.py {' '.join(sys.argv[1:])}")
    print(render(args.kind, results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
