#!/usr/bin/env python3
"""Every benchmark of issue 17 in one command: one interleaved run, one report, one set of charts.

    python bench/suite.py                     # everything, 3 rounds of 5 s (see bench/README.md)
    python bench/suite.py --quick             # smoke test: 1 round of 1 s, no warm-up
    python bench/suite.py --parts h1,ws --servers pyre,uvicorn,granian
    python bench/suite.py --cases plaintext,ws-small-1,plaintext-2w --rounds 5

Parts (``--parts``), each a list of cases (``--cases`` picks single ones):

- ``h1``: plaintext, json, echo, stream, pipeline (bench/run.py's scenarios), one worker;
- ``h2c``: h2 (h2load, prior knowledge), one worker;
- ``tls``: tls, tls-close, h2-tls, one worker;
- ``bodies``: upload, download (100 MB each; bench/bodyclient.py up, curl down), one worker;
  the download also measures a reference sender (``raw-download``: bench/raw_download.py, a
  blocking socket sender with no HTTP and no event loop) in the same rounds;
- ``ws``: WebSocket echo (bench/ws.py): 32-byte messages at each ``--in-flight`` count
  (``ws-small-1``: one message in flight, ``ws-small-4``: several), 64 KiB messages and
  permessage-deflate with one in flight; one worker;
- ``memory``: the memory of one idle keep-alive connection (bench/memory.py's idle check);
- ``workers``: plaintext with two workers per server, server and wrk sharing both cores
  (issue 17's goal 7).

The measurements are bench/run.py's, bench/ws.py's and bench/memory.py's own functions:
a fresh server per measurement, verified first, pinned with taskset. The rounds are
interleaved over the whole suite (``for round: for case: for server``, the server order
rotated every round), so every part is interleaved and an interrupted run still reports
whole rounds. Per case and server the report gives the version and mode line, the
median, the paired ratios (per round the ratio to the baseline measured in that round,
then their median) to ``--baseline`` and ``--compare``, latency, server CPU and the load
generator's CPU, flagged when the load generator was the bottleneck; then issue 17's
goals judged from the paired ratios. It writes ``report.md``, ``results.json`` and the
charts to ``--out``. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
if sys.path[0] != str(REPO):
    sys.path.insert(0, str(REPO))  # first: see bench/ws.py

from bench import memory, run, ws  # noqa: E402  (needs REPO on sys.path)

Record = Dict[str, object]
Summary = Dict[str, Dict[str, Dict[str, object]]]

PARTS: Dict[str, str] = {
    "h1": "HTTP/1.1, one worker",
    "h2c": "HTTP/2 with prior knowledge (h2c), one worker",
    "tls": "TLS: HTTP/1.1 keep-alive, a handshake per request, HTTP/2 by ALPN; one worker",
    "bodies": "100 MB request and response bodies, one worker",
    "ws": "WebSocket echo, one worker: one message in flight and several",
    "memory": "idle keep-alive connections, one worker",
    "workers": "two workers per server on both cores",
}
PART_SCENARIOS: Dict[str, Tuple[str, ...]] = {
    "h1": ("plaintext", "json", "echo", "stream", "pipeline"),
    "h2c": ("h2",),
    "tls": ("tls", "tls-close", "h2-tls"),
    "bodies": ("upload", "download"),
}
DEFAULT_SERVERS = "pyre,uvicorn,hypercorn,granian"
# A case's reference sender: a program that does nothing but move the bytes, measured in the
# same rounds (added to --servers unless --no-reference-senders), so that the report shows
# how close the servers and the receiver come to what the kernel does anyway.
REFERENCE_SENDERS: Dict[str, str] = {"download": "raw-download"}
WORKERS = 2
SECONDS_PER_START = 3  # start, verify and stop one server (for the time estimate)
MEMORY_SECONDS = 8  # one idle-memory measurement (for the time estimate)


@dataclass(frozen=True)
class Case:
    """One measured thing: a bench/run.py scenario, a bench/ws.py load or the idle-memory check."""

    part: str
    name: str
    description: str
    unit: str
    scenario: str = ""  # bench/run.py's scenario (also for memory: the app it serves)
    load: Optional[ws.Load] = None
    workers: int = 1
    lower_is_better: bool = False


def build_cases(parts: List[str], in_flight: List[int], memory_connections: int) -> List[Case]:
    """The cases of ``parts``, in the suite's order."""
    cases: List[Case] = []
    for part in PARTS:
        if part not in parts:
            continue
        for sc in PART_SCENARIOS.get(part, ()):
            unit = "MB/s" if run.SCENARIOS[sc].transfer else "req/s"
            cases.append(Case(part, sc, run.SCENARIOS[sc].description, unit, scenario=sc))
        if part == "ws":
            loads = ws.loads(["small"], in_flight, 32) + ws.loads(["64k", "deflate"], in_flight[:1], 32)
            cases += [Case(part, f"ws-{x.kind}-{x.in_flight}", x.describe(), "msg/s", load=x) for x in loads]
        elif part == "memory":
            cases.append(Case(part, "idle-memory", f"memory of one idle keep-alive connection ({memory_connections:,} "
                              "open at once; the server group's RSS growth / connections)", "KiB/conn",
                              scenario="plaintext", lower_is_better=True))
        elif part == "workers":
            cases.append(Case(part, f"plaintext-{WORKERS}w", f"plaintext, {WORKERS} worker processes per server; "
                              f"server and wrk -t{WORKERS} share both cores", "req/s", scenario="plaintext",
                              workers=WORKERS))
    return cases


@dataclass(frozen=True)
class Goal:
    """One of issue 17's goals: Pyre's paired ratio to ``peer`` in ``case`` at least ``minimum``."""

    number: str
    text: str
    case: str
    peer: str
    minimum: float
    strictly: bool = False  # "ahead of": above the minimum, not equal

    def met(self, ratio: float) -> bool:
        return ratio > self.minimum if self.strictly else ratio >= self.minimum


GOALS = [
    Goal("1", "h2c at least 1.2× granian", "h2", "granian", 1.2),
    Goal("1, 4", "HTTP/2 over TLS at least 1.2× granian", "h2-tls", "granian", 1.2),
    Goal("2", "WebSocket, one message in flight, at least 1.8× uvicorn's default", "ws-small-1", "uvicorn", 1.8),
    Goal("3", "POST 16 KiB echo at least 2× uvicorn", "echo", "uvicorn", 2.0),
    Goal("3", "100 MB upload at least 1.5× uvicorn's throughput", "upload", "uvicorn", 1.5),
    Goal("3", "100 MB download at least 1.5× uvicorn's throughput", "download", "uvicorn", 1.5),
    Goal("3", "json at least 2× uvicorn", "json", "uvicorn", 2.0),
    Goal("4", "HTTP/1.1 over TLS at least 2× uvicorn", "tls", "uvicorn", 2.0),
    Goal("6", "plaintext at least 2.3× uvicorn", "plaintext", "uvicorn", 2.3),
    Goal("7", "two workers on both cores: at least 1.8× uvicorn", f"plaintext-{WORKERS}w", "uvicorn", 1.8),
    Goal("7", "two workers on both cores: ahead of granian", f"plaintext-{WORKERS}w", "granian", 1.0, strictly=True),
]


# --------------------------------------------------------------------------------------------
# Which server runs which case, in which order
# --------------------------------------------------------------------------------------------


def shown(case: Case, server: str) -> bool:
    """Whether ``server`` has a row in ``case``'s tables: a reference sender only in its own case."""
    return server not in REFERENCE_SENDERS.values() or REFERENCE_SENDERS.get(case.name) == server


def case_refs(case: Case, refs: List[str]) -> List[str]:
    """The servers ``case``'s paired ratios are taken against: ``refs``, then its reference sender."""
    sender = REFERENCE_SENDERS.get(case.name)
    return refs + [sender] if sender and sender not in refs else refs


def not_run(case: Case, server: str) -> Optional[str]:
    """Why ``server`` does not take part in ``case`` (None: it does)."""
    if case.load is not None:
        if server not in ws.WS_SERVERS:
            return f"n/a: bench/ws.py has no server {server!r}"
        return ws.WS_SERVERS[server].missing()
    if server not in run.SERVERS:
        return f"n/a: bench/run.py has no server {server!r}"
    if case.part == "memory" and server not in memory.KEEP_ALIVE_FLAGS:
        return "n/a: bench/memory.py has no keep-alive flags for it"
    return run.SERVERS[server].missing() or run.SERVERS[server].unsupported(case.scenario)


def schedule(cases: List[Case], servers: List[str], rounds: int) -> List[Tuple[int, Case, str]]:
    """(round, case, server) in measuring order: for each round, for each case, each server
    that takes part, the server order rotated by one every round."""
    plan = []
    for rnd in range(1, rounds + 1):
        k = (rnd - 1) % len(servers)
        order = servers[k:] + servers[:k]
        for case in cases:
            plan += [(rnd, case, sv) for sv in order if not_run(case, sv) is None]
    return plan


def estimate_seconds(plan: List[Tuple[int, Case, str]], duration: int, warmup: int) -> int:
    return sum(MEMORY_SECONDS if case.part == "memory" else duration + warmup + SECONDS_PER_START
               for _rnd, case, _sv in plan)


# --------------------------------------------------------------------------------------------
# One measurement
# --------------------------------------------------------------------------------------------


@dataclass
class Context:
    """What every measurement of one run shares."""

    args: argparse.Namespace
    logdir: Path
    scripts: Dict[str, Path]  # bench/run.py scenario -> its wrk script
    ws_client: Optional[Path] = None  # bench/wsload.c, compiled
    upload_file: Optional[Path] = None

    def run_args(self, workers: int) -> argparse.Namespace:
        """bench/run.py's options for one worker (pinned apart from wrk) or several (sharing the cores)."""
        a = self.args
        shared = workers > 1
        return argparse.Namespace(
            workers=workers, duration=a.duration, warmup=a.warmup, connections=a.connections,
            server_cpu=a.workers_cpu if shared else a.server_cpu, client_cpu=a.workers_cpu if shared else a.client_cpu,
            wrk_threads=workers if shared else 1, upload_file=self.upload_file, body_client=a.body_client)


def measure(case: Case, server: str, rnd: int, ctx: Context) -> Record:
    """One measurement with the runner the case belongs to, as a record of the suite: the
    runner's own record plus ``part``, ``case``, ``value`` (in ``case.unit``), the load
    generator's CPU (``client_cpu_pct``, 100 = one core) and how many cores it could use."""
    threads = 1
    if case.load is not None:
        assert ctx.ws_client is not None
        rec = ws.measure(ws.WS_SERVERS[server], case.load, ctx.run_args(1), ctx.ws_client, ctx.logdir, rnd)
        rec["load"] = rec.pop("case")
        value = rec.get("mps")
    elif case.part == "memory":
        rec = measure_memory(server, ctx.args.memory_connections, ctx.run_args(1), ctx.logdir, rnd)
        value = rec.get("kib_per_connection")
    else:
        run_args = ctx.run_args(case.workers)
        rec = run.measure(run.SERVERS[server], run.SCENARIOS[case.scenario], run_args, ctx.scripts, ctx.logdir, rnd)
        rec["client_cpu_pct"] = rec.get("wrk_cpu_pct")
        threads = run_args.wrk_threads
        value = rec.get("rps")
    rec.update(part=case.part, case=case.name, server=server, round=rnd, value=value, client_threads=threads)
    return rec


def measure_memory(server: str, connections: int, args: argparse.Namespace, logdir: Path, rnd: int) -> Record:
    """bench/memory.py's idle check on a fresh, verified server with its keep-alive flags."""
    rec: Record = {"round": rnd, "server": server, "ok": False}
    scenario = run.SCENARIOS["plaintext"]
    sp: Optional[run.ServerProcess] = None
    try:
        sp, err = run.start_server(run.SERVERS[server], scenario, args, logdir, rec,
                                   extra_args=memory.KEEP_ALIVE_FLAGS[server], label=f"{server}-idle")
        if err:
            rec["error"] = f"failed to start: {err}"
            return rec
        try:
            err, _headers = run.verify(scenario, sp.port)
        except (OSError, http.client.HTTPException) as exc:
            err = f"{type(exc).__name__}: {exc}"
        if err:
            rec["error"] = f"verification failed: {err}"
            return rec
        try:
            rec.update(asyncio.run(memory.idle_check(sp.port, connections, sp.proc.pid)))
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
            rec["error"] = f"idle check failed: {type(exc).__name__}: {exc}"
            return rec
        if rec["still_open"] != connections:
            rec["error"] = f"only {rec['still_open']} of {connections} idle connections were still open"
        else:
            rec["ok"] = True
        return rec
    finally:
        if sp is not None:
            sp.stop_into(rec)


# --------------------------------------------------------------------------------------------
# Summary: medians, paired ratios, flags, version and mode lines
# --------------------------------------------------------------------------------------------


def paired_ratios(records: List[Record], case: str, server: str, baseline: str) -> List[float]:
    """Per round in which both were measured successfully, ``server``'s value / ``baseline``'s."""
    values: Dict[Tuple[str, int], float] = {}
    for r in records:
        if r.get("case") == case and r.get("ok") and r.get("value"):
            values[(str(r["server"]), int(r["round"]))] = float(r["value"])
    rounds = sorted({rnd for sv, rnd in values if sv == server} & {rnd for sv, rnd in values if sv == baseline})
    return [values[(server, rnd)] / values[(baseline, rnd)] for rnd in rounds]


def paired(records: List[Record], case: str, server: str, baseline: str) -> Optional[Dict[str, float]]:
    """The median of the per-round ratios, their range and count (None: no round with both)."""
    ratios = paired_ratios(records, case, server, baseline)
    if not ratios or server == baseline:
        return None
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios), "rounds": len(ratios)}


def client_bound(ok: List[Record]) -> bool:
    """The load generator set the pace: its median CPU at least run.CLIENT_BOUND_PCT of every
    core it could use (one per wrk thread; wsload, bodyclient and curl use one)."""
    cpu = [float(r["client_cpu_pct"]) for r in ok if r.get("client_cpu_pct") is not None]
    if not cpu:
        return False
    cores = max(int(r.get("client_threads") or 1) for r in ok)
    return statistics.median(cpu) >= run.CLIENT_BOUND_PCT * cores


# With their value: not the server's mode (--count: how many downloads raw_download.py serves).
_DROPPED_FLAGS = {"--host", "--port", "--bind", "--log-level", "--count"}
_TLS_FLAGS = {flag for pair in [*run.TLS_FLAGS.values(), run.DEFAULT_TLS_FLAGS] for flag in pair}


def mode_flags(cmd: str) -> str:
    """The options of a server's command line that choose its mode: everything after the
    program except the address, the app, logging and the certificate's paths."""
    argv = shlex.split(cmd)
    if "-m" in argv:
        rest = argv[argv.index("-m") + 2:]
    else:
        rest = argv[next((k + 1 for k, a in enumerate(argv) if a.endswith(".py")), len(argv)):]
    out: List[str] = []
    tls = False
    skip = 0
    for a in rest:
        if skip:
            skip -= 1
        elif a in _DROPPED_FLAGS or a in _TLS_FLAGS:
            tls = tls or a in _TLS_FLAGS
            skip = 1
        elif a != "--no-access-log" and not a.startswith(run.APPS_MODULE + ":"):
            out.append(a)
    return " ".join(out + (["+ TLS certificate"] if tls else []))


def version_line(case: Case, server: str, rec: Record, facts: Dict[str, object]) -> str:
    """The server's version and mode: its packages' versions (Pyre's ``pyre --version`` line,
    which names its compiled or pure build; for uvicorn's WebSocket, what ``--ws auto``
    chose), then the mode flags it ran with."""
    cmd = str(rec.get("server_cmd") or "")
    pyre_line = str(rec.get("variant") or facts.get("pyre_version", {}).get(server, "")).split(" with ")[0] or None
    if case.load is not None:
        head = ws.server_line(server, str(facts.get("uvicorn_ws_auto") or "unknown"), pyre_line)
    else:
        packages = list(run.SERVERS[server].packages) + (["zttp"] if "zttp" in cmd else [])
        parts = [pyre_line if p == "pyre-server" and pyre_line else f"{p} {ws._version(p)}" for p in packages]
        head = "; ".join(parts) or f"CPython {sys.version.split()[0]}, no packages"
    flags = mode_flags(cmd) if cmd else ""
    return head + (f" · `{flags}`" if flags else "")


def _median(values: List[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def summarize(records: List[Record], cases: List[Case], servers: List[str], refs: List[str],
              facts: Dict[str, object]) -> Summary:
    """Per case and server: runs, median, range, latency and CPU medians, the client-bound
    flag, the version and mode line, and the paired ratio to each server in ``refs``."""
    out: Summary = {}
    for case in cases:
        out[case.name] = {}
        for sv in servers:
            rs = [r for r in records if r.get("case") == case.name and r.get("server") == sv]
            ok = [r for r in rs if r.get("ok") and r.get("value") is not None]
            row: Dict[str, object] = {"runs": len([r for r in rs if not r.get("skipped")]), "ok_runs": len(ok)}
            why = next((str(r["error"]) for r in rs if r.get("skipped") or r.get("unsupported")), None)
            if why:
                row["not_run"] = why
            errors = sorted({str(r["error"]) for r in rs if r.get("error") and not r.get("skipped")
                             and not r.get("unsupported")})
            if errors:
                row["errors"] = errors
            if ok:
                values = [float(r["value"]) for r in ok]
                row.update(median=statistics.median(values), min=min(values), max=max(values))
                for key in ("p50_ms", "p99_ms", "server_cpu_pct", "client_cpu_pct", "other_cpu_pct"):
                    value = _median([float(r[key]) for r in ok if r.get(key) is not None])
                    if value is not None:
                        row[key] = value
                row["client_bound"] = client_bound(ok)
                peaks = [int(r["rss_peak_kib"]) for r in ok if r.get("rss_peak_kib")]  # type: ignore[call-overload]
                if peaks:
                    row["rss_peak_kib_max"] = max(peaks)
                row["line"] = version_line(case, sv, ok[-1], facts)
                row["server_cmd"] = ok[-1].get("server_cmd")
            row["paired"] = {ref: p for ref in case_refs(case, refs) if (p := paired(records, case.name, sv, ref))}
            out[case.name][sv] = row
    return out


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

BODY_CLIENT_WORDS = {"auto": "bench/bodyclient.py up and curl down", "curl": "curl up and down",
                     "bodyclient": "bench/bodyclient.py up and down",
                     "splice": "bench/bodyclient.py up and down, the download with --splice (no copy)"}
CLIENT_BOUND_NOTE = (f"‡ = client-bound: the load generator's median CPU was at least {run.CLIENT_BOUND_PCT:.0f}% "
                     "of each core it could use, so it set the pace and the row understates the server")
GOALS_NOTE = ("Each goal is judged from the median of Pyre's same-round ratios to the peer; ‡ = a row of the "
              "comparison was client-bound. Goal 1's p99 condition is read from the h2 table's p99 column "
              "(from h2load's per-request log), not judged here.")
COLUMNS_NOTE = (
    "**version · mode**: the server's packages and versions (Pyre: its `pyre --version` line, which says whether "
    "the compiled twins or the pure-Python build ran; uvicorn's WebSocket: what `--ws auto` chose), then the "
    "options of its command line that choose its mode (address, app, logging and certificate paths left out). "
    "**median**: over the rounds. **spread**: half the min–max range over rounds, relative to the median. "
    "**paired vs X**: in every round the ratio to X measured in that same round, then the median of those ratios "
    "(min–max over rounds in brackets); above 1 is better except for memory, where lower is better. "
    "**p50/p99**: latency medians over rounds (h2load, bodyclient, curl and pipelined wrk give none). "
    "**server CPU**: CPU time of the server's process group / wall time (100% = one core; of an upload or "
    "download: / the transfers' own time, see its note). "
    "**load generator CPU**: the same for wrk, h2load, bodyclient, curl or wsload; ‡ marks a client-bound row. "
    "**other CPU**: everything else on the machine during the measurement (noise).")


def _fmt(v: Optional[object], spec: str, suffix: str = "") -> str:
    return "—" if v is None else format(float(v), spec) + suffix  # type: ignore[arg-type]


def _ratio(p: Optional[Dict[str, float]], bold: bool = False) -> str:
    if not p:
        return "—"
    text = f"{p['median']:.2f}×"
    text = f"**{text}**" if bold else text
    return text + (f" ({p['min']:.2f}–{p['max']:.2f})" if p["rounds"] > 1 else "")


def _value_spec(case: Case) -> str:
    return ",.1f" if case.unit in ("MB/s", "KiB/conn") else ",.0f"


def render_summary(summary: Summary, cases: List[Case], servers: List[str], baseline: str) -> List[str]:
    """The headline table: one row per case, the baseline's median, every other server's paired ratio."""
    others = [sv for sv in servers if sv != baseline and sv not in REFERENCE_SENDERS.values()]
    L = [f"| case | unit | {baseline} (median) | " + " | ".join(others) + " |",
         "|---|---|---:|" + "---:|" * len(others)]
    for case in cases:
        rows = summary[case.name]
        base = rows.get(baseline, {})
        cells = []
        for sv in others:
            cell = _ratio(rows[sv]["paired"].get(baseline), bold=sv == "pyre")
            cells.append(cell + (" ‡" if rows[sv].get("client_bound") and cell != "—" else ""))
        unit = case.unit + (" (lower is better)" if case.lower_is_better else "")
        L.append(f"| {case.name} | {unit} | {_fmt(base.get('median'), _value_spec(case))} | " + " | ".join(cells) + " |")
    return L


def render_goals(records: List[Record], cases: List[Case], summary: Summary) -> List[str]:
    """Issue 17's goals whose case ran, judged from Pyre's paired ratio to the goal's peer."""
    names = {c.name for c in cases}
    goals = [g for g in GOALS if g.case in names]
    if not goals:
        return []
    L = ["| goal | case | Pyre vs | needed | measured (paired) | |", "|---|---|---|---:|---:|---|"]
    for g in goals:
        p = paired(records, g.case, "pyre", g.peer)
        if p is None:
            verdict = "not measured"
        else:
            verdict = "met" if g.met(p["median"]) else "**not met**"
            if summary[g.case].get("pyre", {}).get("client_bound") or summary[g.case].get(g.peer, {}).get(
                    "client_bound"):
                verdict += " ‡"
        needed = f"> {g.minimum:.1f}×" if g.strictly else f"≥ {g.minimum:.1f}×"
        L.append(f"| {g.number}: {g.text} | {g.case} | {g.peer} | {needed} | {_ratio(p)} | {verdict} |")
    return L


def render_case(case: Case, rows: Dict[str, Dict[str, object]], servers: List[str], refs: List[str]) -> List[str]:
    """One case's table: a row per server with its version and mode line (a reference sender only in
    its own case)."""
    servers = [sv for sv in servers if shown(case, sv)]
    refs = case_refs(case, refs)
    L = [f"#### {case.name}: {case.description}", "",
         f"| server | version · mode | {case.unit} (median) | spread | "
         + " | ".join(f"paired vs {ref}" for ref in refs)
         + " | p50 ms | p99 ms | server CPU | load generator CPU | other CPU | runs ok |",
         "|---|---|---:|---:|" + "---:|" * len(refs) + "---:|---:|---:|---:|---:|---:|"]
    notes: List[str] = []
    if case.scenario and run.SCENARIOS[case.scenario].transfer:
        notes.append(TRANSFER_CPU_NOTE)
    for sv in servers:
        row = rows[sv]
        if "median" not in row:
            if row.get("runs") or row.get("not_run"):
                L.append(f"| {sv} | | — | | " + "| " * len(refs) + f"| | | | | {row['ok_runs']}/{row['runs']} |")
            why = row.get("not_run") or "; ".join(row.get("errors", [])) or "not measured"
            notes.append(f"- **{sv}**: {str(why)[:400]}")
            continue
        bound = bool(row.get("client_bound"))
        name = (f"**{sv}**" if sv == "pyre" else sv) + (" ‡" if bound else "")
        spread = f"±{50 * (row['max'] - row['min']) / row['median']:.0f}%" if row["ok_runs"] > 1 and row["median"] \
            else "—"
        ratios = " | ".join(_ratio(row["paired"].get(ref)) for ref in refs)
        client = _fmt(row.get("client_cpu_pct"), ".0f", "%") + (" ‡" if bound else "")
        L.append(f"| {name} | {row['line']} | {_fmt(row['median'], _value_spec(case))} | {spread} | {ratios} | "
                 f"{_fmt(row.get('p50_ms'), '.2f')} | {_fmt(row.get('p99_ms'), '.2f')} | "
                 f"{_fmt(row.get('server_cpu_pct'), '.0f', '%')} | {client} | "
                 f"{_fmt(row.get('other_cpu_pct'), '.0f', '%')} | {row['ok_runs']}/{row['runs']} |")
        if bound and CLIENT_BOUND_NOTE not in notes:
            notes.insert(0, CLIENT_BOUND_NOTE)
        if row.get("errors"):
            notes.append(f"- **{sv}**: some rounds failed: {'; '.join(row['errors'])[:400]}")  # type: ignore[arg-type]
    peaks = [f"{sv} {int(rows[sv]['rss_peak_kib_max']) / 1024:.1f}" for sv in servers  # type: ignore[call-overload]
             if rows[sv].get("rss_peak_kib_max")]
    if peaks:
        notes.append("peak RSS of the server in MiB (its processes' VmHWM, the most over the rounds; a server that "
                     "buffered a whole body would be above 100): " + ", ".join(peaks))
    flags = [f"_{n}_" for n in notes if not n.startswith("- ")]
    items = [n for n in notes if n.startswith("- ")]
    return L + [""] + (flags + [""] if flags else []) + (items + [""] if items else [])


TRANSFER_CPU_NOTE = ("server and load generator CPU are shares of the transfers' own time (curl's "
                     "time_total): the server idles while each client process starts, and the client's "
                     "start-up, measured against a closed port, is taken out of its CPU")


def render(meta: Dict[str, object], records: List[Record], summary: Summary, cases: List[Case],
           servers: List[str], baseline: str, refs: List[str], charts: List[str]) -> str:
    """The whole report, Markdown whose headings start at ``##`` (a section of docs/benchmarks.md)."""
    f: Dict[str, object] = meta["facts"]  # type: ignore[assignment]
    c: Dict[str, object] = meta["config"]  # type: ignore[assignment]
    L = ["## Benchmark suite: every part in one interleaved run", "",
         f"- Command: `{meta['command']}`",
         f"- Date: {f['date']}; {f['cpu_model']}, {f['cores']} cores, kernel {f['kernel']}, load average at start "
         f"{' '.join(f['loadavg_at_start'])}; {f['python']}; {f['wrk']}",  # type: ignore[arg-type]
         "- Versions: " + ", ".join(f"{k} {v}" for k, v in f["versions"].items())  # type: ignore[attr-defined]
         + (f"; Pyre at commit {f['pyre_commit']}" if f.get("pyre_commit") else "")
         + (f", with uncommitted changes to {f['pyre_uncommitted']}" if f.get("pyre_uncommitted") else "")]
    L += [f"- `{name}`: {line}" for name, line in f.get("pyre_version", {}).items()]  # type: ignore[attr-defined]
    bodies = BODY_CLIENT_WORDS.get(str(c.get("body_client", "auto")), BODY_CLIENT_WORDS["auto"])
    L += [f"- Method: {c['rounds']} round(s), each measuring every case on every server in turn (server order "
          f"rotated each round); per measurement a fresh server, verified first, {c['warmup']} s of warm-up, "
          f"{c['duration']} s measured. One worker pinned with `taskset -c {c['server_cpu']}`, the load generator "
          f"with `taskset -c {c['client_cpu']}` (wrk `-t1 -c{c['connections']}`, h2load `-c{run.H2_CLIENTS} "
          f"-m{run.H2_STREAMS}`, {bodies}, bench/wsload.c with {c['connections']} connections); the "
          f"{WORKERS}-worker case runs server and wrk `-t{WORKERS}` on `taskset -c {c['workers_cpu']}`. "
          + (f"Ratios are paired (same round) against {' and '.join(f'**{ref}**' for ref in refs)}." if refs
             else "No ratios: neither reference server was measured.")]
    if meta.get("interrupted"):
        L.append(f"- **Interrupted** ({meta['interrupted']}): only what was measured before is reported.")
    L += ["", f"### Paired ratios to {baseline}", ""] + render_summary(summary, cases, servers, baseline) + [""]
    goals = render_goals(records, cases, summary)
    if goals:
        L += ["### Issue 17's goals (Pyre's paired ratio)", ""] + goals + ["", GOALS_NOTE, ""]
    L += [f"![{Path(p).stem.replace('_', ' ')}]({Path(p).name})" for p in charts] + ([""] if charts else [])
    for part in PARTS:
        part_cases = [case for case in cases if case.part == part]
        if part_cases:
            L += [f"### {part}: {PARTS[part]}", ""]
            for case in part_cases:
                L += render_case(case, summary[case.name], servers, refs)
    L += [CLIENT_BOUND_NOTE + ".", "", COLUMNS_NOTE, ""]
    return "\n".join(L)


# --------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------


def draw_charts(outdir: Path, summary: Summary, cases: List[Case], servers: List[str], baseline: str) -> List[str]:
    """``ratios.png`` (every case: each server's paired ratio to the baseline, log scale) and
    ``medians.png`` (a panel per case: each server's median with its min–max range)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("[suite] matplotlib is not installed (pip install matplotlib): no charts", file=sys.stderr)
        return []
    colors = {sv: f"C{i}" for i, sv in enumerate(servers)}
    written: List[str] = []
    others = [sv for sv in servers if sv != baseline]
    shown = [case for case in cases if any(summary[case.name][sv]["paired"].get(baseline) for sv in others)]
    if shown:
        fig, ax = plt.subplots(figsize=(9, 0.35 * len(shown) * max(1, len(others)) + 1.5))
        height = 0.8 / max(1, len(others))
        top = 1.0
        for i, sv in enumerate(others):
            ys, xs = [], []
            for k, case in enumerate(reversed(shown)):
                p = summary[case.name][sv]["paired"].get(baseline)
                if p:
                    ys.append(k + (i - (len(others) - 1) / 2) * height)
                    xs.append(p["median"])
            ax.barh(ys, xs, height, label=sv, color=colors[sv])
            top = max([top, *xs])
            for y, x in zip(ys, xs):
                ax.annotate(f"{x:.2f}×", (x, y), xytext=(2, 0), textcoords="offset points", va="center", fontsize=7)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlim(right=top * 1.5)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _pos: f"{x:g}×"))
        ax.set_yticks(range(len(shown)), [case.name for case in reversed(shown)], fontsize=8)
        ax.set_xlabel(f"paired ratio to {baseline} (median over rounds; memory: lower is better)")
        ax.set_title(f"Every case, paired ratio to {baseline}")
        ax.legend(fontsize=8, loc="best")
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        written.append(_save(fig, plt, outdir / "ratios.png"))
    measured = [case for case in cases if any("median" in summary[case.name][sv] for sv in servers)]
    if measured:
        ncols = min(4, len(measured))
        nrows = (len(measured) + ncols - 1) // ncols
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 3 * nrows), squeeze=False)
        for ax, case in zip(axes.flat, measured):
            rows = [(sv, summary[case.name][sv]) for sv in servers if "median" in summary[case.name][sv]]
            ys = [float(row["median"]) for _sv, row in rows]  # type: ignore[arg-type]
            err = [[y - float(row["min"]) for y, (_sv, row) in zip(ys, rows)],  # type: ignore[arg-type]
                   [float(row["max"]) - y for y, (_sv, row) in zip(ys, rows)]]  # type: ignore[arg-type]
            ax.bar(range(len(rows)), ys, 0.7, yerr=err, capsize=3, color=[colors[sv] for sv, _row in rows])
            ax.set_xticks(range(len(rows)), [sv for sv, _row in rows], rotation=30, ha="right", fontsize=7)
            ax.set_title(case.name, fontsize=9)
            ax.set_ylabel(case.unit + (" (lower is better)" if case.lower_is_better else ""), fontsize=8)
            ax.grid(axis="y", alpha=0.3)
        for ax in list(axes.flat)[len(measured):]:
            ax.axis("off")
        fig.suptitle("Medians over rounds, min–max range")
        fig.tight_layout()
        written.append(_save(fig, plt, outdir / "medians.png"))
    return written


def _save(fig, plt, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


# --------------------------------------------------------------------------------------------
# Options and main
# --------------------------------------------------------------------------------------------


def _names(value: str, known, what: str) -> List[str]:
    items = list(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    bad = [v for v in items if v not in known]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"unknown {what} {bad}; choose from {', '.join(known)}")
    return items


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    servers = list(dict.fromkeys([*run.SERVERS, *ws.WS_SERVERS]))
    p = argparse.ArgumentParser(description="Every benchmark in one interleaved run (see bench/README.md).")
    p.add_argument("--parts", default=",".join(PARTS), type=lambda v: _names(v, PARTS, "part"),
                   help=f"comma-separated, from: {', '.join(PARTS)} (default: all)")
    p.add_argument("--cases", type=lambda v: [x.strip() for x in v.split(",") if x.strip()],
                   help="only these cases of the parts (names as in the report, e.g. plaintext,ws-small-1)")
    p.add_argument("--servers", default=DEFAULT_SERVERS, type=lambda v: _names(v, servers, "server"),
                   help=f"comma-separated, from: {', '.join(servers)} (default: {DEFAULT_SERVERS})")
    p.add_argument("--baseline", default="uvicorn", help="the first paired ratio's reference (default: uvicorn)")
    p.add_argument("--compare", default="granian", help="the second paired ratio's reference, '' for none "
                                                          "(default: granian)")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default: 3; --quick: 1)")
    p.add_argument("--duration", type=int, help="seconds measured per measurement (default: 5; --quick: 1)")
    p.add_argument("--warmup", type=int, help="seconds of warm-up per server start (default: 1; --quick: 0)")
    p.add_argument("--connections", type=int, default=64, help="wrk and WebSocket connections (default: 64)")
    p.add_argument("--in-flight", type=ws._int_list, default=[1, 4], metavar="N[,N...]",
                   help="WebSocket messages in flight per connection; the first also for 64k and deflate "
                        "(default: 1,4)")
    p.add_argument("--memory-connections", type=int,
                   help="idle keep-alive connections held by the memory case (default: 2000; --quick: 500)")
    p.add_argument("--server-cpu", default="0", help="taskset CPU list of a one-worker server (default: 0)")
    p.add_argument("--client-cpu", default="1", help="taskset CPU list of the load generator (default: 1)")
    p.add_argument("--workers-cpu", default="0,1", help=f"taskset CPU list of the {WORKERS}-worker case, server "
                                                         "and wrk alike (default: 0,1)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "suite",
                   help="folder for report.md, results.json and the charts (default: bench/results/suite)")
    p.add_argument("--no-charts", action="store_true", help="draw no charts")
    p.add_argument("--body-client", choices=run.BODY_CLIENTS, default="auto",
                   help="client of the upload and download (bench/run.py's --body-client; default: auto: "
                        "bench/bodyclient.py up, curl down)")
    p.add_argument("--no-reference-senders", action="store_true",
                   help=f"do not add the reference senders ({', '.join(sorted(set(REFERENCE_SENDERS.values())))}) "
                        "to the servers")
    p.add_argument("--quick", action="store_true", help="smoke test: 1 round of 1 s, no warm-up, 500 idle connections")
    p.add_argument("--keep-logs", action="store_true", help="keep the server logs (path printed)")
    args = p.parse_args(argv)
    for key, normal, quick in (("rounds", 3, 1), ("duration", 5, 1), ("warmup", 1, 0),
                               ("memory_connections", 2000, 500)):
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else normal)
    if args.rounds < 1 or args.duration < 1 or args.warmup < 0 or args.connections < 1 or args.memory_connections < 1:
        p.error("--rounds, --duration, --connections and --memory-connections must be >= 1, --warmup >= 0")
    for ref in filter(None, (args.baseline, args.compare)):
        if ref not in servers:
            p.error(f"unknown server {ref!r} for --baseline/--compare; choose from {', '.join(servers)}")
    args.refs = list(dict.fromkeys(filter(None, (args.baseline, args.compare))))
    if args.baseline not in args.servers:
        print(f"[suite] note: the baseline {args.baseline!r} is not in --servers; no ratios to it", file=sys.stderr)
    args.case_list = build_cases(args.parts, args.in_flight, args.memory_connections)
    if args.cases:
        known = [case.name for case in args.case_list]
        bad = [name for name in args.cases if name not in known]
        if bad:
            p.error(f"unknown case(s) {bad} in the parts {','.join(args.parts)}; choose from {', '.join(known)}")
        args.case_list = [case for case in args.case_list if case.name in args.cases]
    if not args.no_reference_senders:
        args.servers = list(dict.fromkeys(args.servers + [REFERENCE_SENDERS[case.name] for case in args.case_list
                                                          if case.name in REFERENCE_SENDERS]))
    return args


def needed_tools(cases: List[Case]) -> List[str]:
    tools = {"taskset"}
    for case in cases:
        if case.load is not None:
            tools.add("gcc")
        if case.load is not None or case.part == "memory":  # the memory case's client is in bench/memory.py
            continue
        sc = run.SCENARIOS[case.scenario]
        if sc.transfer != "upload":  # the upload's client is bench/bodyclient.py (this Python)
            tools.add("curl" if sc.transfer else "h2load" if sc.h2 else "wrk")
        if sc.tls:
            tools.add("openssl")
    return sorted(tools)


class _Terminated(Exception):
    pass


def _on_signal(signum, frame):  # pragma: no cover - signal path
    raise _Terminated(f"signal {signum}")


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    cases: List[Case] = args.case_list
    servers: List[str] = args.servers
    missing = [tool for tool in needed_tools(cases) if not shutil.which(tool)]
    if missing:
        print(f"error: not on PATH: {', '.join(missing)}", file=sys.stderr)
        return 2
    command = shlex.join([Path(sys.executable).name, os.path.relpath(__file__)]
                         + (sys.argv[1:] if argv is None else argv))
    facts = run.machine_facts([sv for sv in servers if sv in run.SERVERS])
    ws_servers = [sv for sv in servers if sv in ws.WS_SERVERS]
    if ws_servers:
        ws_facts = ws.facts(ws_servers)
        facts["versions"] = dict(sorted({**ws_facts["versions"], **facts["versions"]}.items()))
        facts.update({k: ws_facts[k] for k in ("pyre_commit", "pyre_uncommitted") if k in ws_facts})
    if "uvicorn" in ws_servers and any(case.load is not None for case in cases):
        facts["uvicorn_ws_auto"] = ws.uvicorn_auto_ws()
    args.refs = [ref for ref in args.refs if ref in servers]
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "case_list"}
    config["cases"] = [case.name for case in cases]
    meta: Dict[str, object] = {"command": command, "facts": facts, "config": config}
    for name, line in facts["pyre_version"].items():  # type: ignore[attr-defined]
        print(f"[suite] {name}: {line}", file=sys.stderr)

    tmp = Path(tempfile.mkdtemp(prefix="pyre-suite-"))
    logdir = tmp / "logs"
    logdir.mkdir()
    try:
        return _run(args, meta, Context(args, logdir, {}))
    finally:
        if args.keep_logs:
            print(f"[suite] server logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)  # with the 100 MB upload file


def _run(args: argparse.Namespace, meta: Dict[str, object], ctx: Context) -> int:
    """Prepare the clients, measure the plan, report; the exit status."""
    cases: List[Case] = args.case_list
    servers: List[str] = args.servers
    tmp = ctx.logdir.parent
    for case in cases:
        if case.scenario and case.scenario not in ctx.scripts:
            ctx.scripts[case.scenario] = tmp / f"{case.scenario}.lua"
            ctx.scripts[case.scenario].write_text(run.SCENARIOS[case.scenario].lua())
        if case.scenario == "upload" and ctx.upload_file is None:
            ctx.upload_file = run.make_upload_file(tmp)
        if case.load is not None and ctx.ws_client is None:
            ctx.ws_client = ws.build_client(tmp)
        if case.part == "memory":
            memory.raise_fd_limit(args.memory_connections)

    records: List[Record] = [
        {"round": 0, "part": case.part, "case": case.name, "server": sv, "ok": False, "skipped": True,
         "error": why}
        for case in cases for sv in servers if shown(case, sv) and (why := not_run(case, sv))]
    plan = schedule(cases, servers, args.rounds)
    est = estimate_seconds(plan, args.duration, args.warmup)
    print(f"[suite] {len(cases)} case(s), {len(servers)} server(s), {args.rounds} round(s): {len(plan)} "
          f"measurements, about {est // 60} min {est % 60} s", file=sys.stderr)
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    unsupported: Dict[Tuple[str, str], str] = {}  # (case, server) a server cannot do (found once, not retried)
    interrupted = None
    try:
        for done, (rnd, case, sv) in enumerate(plan, 1):
            print(f"[suite] round {rnd}/{args.rounds} {case.name:<13} {sv:<10} ({done}/{len(plan)}) ...", end="",
                  file=sys.stderr, flush=True)
            if (case.name, sv) in unsupported:
                records.append({"round": rnd, "part": case.part, "case": case.name, "server": sv, "ok": False,
                                "unsupported": True, "error": unsupported[(case.name, sv)]})
                print(" not supported", file=sys.stderr)
                continue
            rec = measure(case, sv, rnd, ctx)
            records.append(rec)
            if rec.get("unsupported"):
                unsupported[(case.name, sv)] = str(rec["error"])
            if rec.get("ok"):
                print(f" {float(rec['value']):>12,.1f} {case.unit}  load generator CPU "  # type: ignore[arg-type]
                      f"{_fmt(rec.get('client_cpu_pct'), '.0f', '%')}", file=sys.stderr)
            else:
                print(f" FAILED: {str(rec.get('error'))[:300]}", file=sys.stderr)
    except (KeyboardInterrupt, _Terminated) as exc:
        interrupted = type(exc).__name__
        print(f"\n[suite] interrupted ({interrupted}); reporting what was measured", file=sys.stderr)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    meta["interrupted"] = interrupted
    summary = summarize(records, cases, servers, args.refs, meta["facts"])  # type: ignore[arg-type]
    charts = [] if args.no_charts else draw_charts(args.out, summary, cases, servers, args.baseline)
    md = render(meta, records, summary, cases, servers, args.baseline, args.refs, charts)
    print(md)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.md").write_text(md)
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "summary": summary, "records": records},
                                                      indent=2, default=str))
    print(f"[suite] wrote {args.out / 'report.md'}, {args.out / 'results.json'}"
          + "".join(f", {p}" for p in charts), file=sys.stderr)
    return 130 if interrupted else 0 if any(r.get("ok") for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
