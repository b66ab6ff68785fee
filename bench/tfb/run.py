#!/usr/bin/env python3
"""The TechEmpower-style suite: every framework's TFB app on uvicorn and on Pyre, in one run.

    python bench/tfb/run.py                           # everything: 3 rounds of 5 s (about an hour)
    python bench/tfb/run.py --rounds 1 --duration 3   # a smoke run
    python bench/tfb/run.py --frameworks asgi,starlette --tests json,db --servers pyre
    python bench/tfb/run.py --docs                    # also rewrite docs/benchmarks.md's TFB section

It starts a throw-away PostgreSQL with the TFB schema (bench/tfb/database.py), verifies
every server entry (a framework's app on one server) against the test types' rules
(bench/tfb/verify.py: no entry that fails is measured), then measures with bench/run.py's
method: one worker per server pinned to one core, wrk pinned to the other, a fresh
server per measurement, rounds interleaved with the server order rotated, medians over
rounds. It prints the report and writes it, the raw results and a chart to ``--out``.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import run as harness  # noqa: E402  (needs REPO on sys.path)
from bench.tfb import report, verify  # noqa: E402
from bench.tfb.common import DEFAULT_POOL_SIZE, DSN_ENV, POOL_SIZE_ENV, ROUTES_ENV, ROUTING_TARGET  # noqa: E402
from bench.tfb.database import SETTINGS, PostgresCluster, PostgresError, find_bin_dir  # noqa: E402
from bench.tfb.frameworks import RUNNERS, Framework, available, style  # noqa: E402
from bench.tfb.rules import PIPELINE_DEPTH  # noqa: E402

DOCS = REPO / "docs" / "benchmarks.md"
DOCS_CHART = REPO / "docs" / "img" / "tfb-requests-per-second.png"
DEFAULT_OUT = REPO / "bench" / "results" / "tfb"
Runs = List[Dict[str, object]]


@dataclass(frozen=True)
class Workload:
    """One test type: what wrk requests, from which of the app module's apps."""

    name: str
    path: str
    description: str
    pipeline: int = 1
    attribute: str = "app"  # "app", or a factory: "routing_app", "events_app"
    routes: int = 0  # the routing benchmark's route count ($TFB_ROUTES)

    def scenario(self) -> harness.Scenario:
        return harness.Scenario(self.name, "", self.description, pipeline=self.pipeline)


WORKLOADS: Dict[str, Workload] = {
    w.name: w
    for w in [
        Workload("json", "/json", '{"message": "Hello, World!"} built and serialised per request'),
        Workload("plaintext", "/plaintext", f"Hello, World!, HTTP/1.1 pipelining {PIPELINE_DEPTH} deep",
                 pipeline=PIPELINE_DEPTH),
        Workload("db", "/db", "one random World row"),
        Workload("queries-1", "/queries?queries=1", "1 random World row, as an array"),
        Workload("queries-20", "/queries?queries=20", "20 random World rows, one query each"),
        Workload("fortunes", "/fortunes", "every Fortune row plus one, sorted, through an escaping template"),
        Workload("updates-20", "/updates?queries=20", "20 rows read one by one, new numbers written in a batch"),
        Workload("routes-10", ROUTING_TARGET, "json, its route registered last of 10", attribute="routing_app",
                 routes=10),
        Workload("routes-1000", ROUTING_TARGET, "json, its route registered last of 1,000 (half with parameters)",
                 attribute="routing_app", routes=1000),
        Workload("events", "/json", "json with 20 listener methods for user events the request does not emit",
                 attribute="events_app"),
    ]
}


@dataclass(frozen=True)
class Entry:
    """A framework's app on one server, e.g. ``starlette/uvicorn``."""

    framework: Framework
    runner: str

    @property
    def name(self) -> str:
        return self.framework.server_name(self.runner)

    @property
    def server(self) -> harness.Server:
        return RUNNERS[self.runner]


# --------------------------------------------------------------------------------------------
# One server start
# --------------------------------------------------------------------------------------------


def launch(entry: Entry, workload: Workload, args, cluster: PostgresCluster, logdir: Path,
           rec: Dict[str, object]) -> Tuple[harness.ServerProcess, Optional[str]]:
    env = {DSN_ENV: cluster.dsn, POOL_SIZE_ENV: str(args.pool_size)}
    if workload.routes:
        env[ROUTES_ENV] = str(workload.routes)
    factory = ["--factory"] if workload.attribute != "app" else []
    return harness.start_server(entry.server, workload.scenario(), args, logdir, rec,
                                app=entry.framework.app(workload.attribute), env=env, extra_args=factory,
                                label=entry.name)


def preflight(entry: Entry, args, cluster: PostgresCluster, logdir: Path) -> List[str]:
    """Every TFB rule against the entry's app (bench/tfb/verify.py); [] if it follows them all."""
    rec: Dict[str, object] = {}
    sp: Optional[harness.ServerProcess] = None
    try:
        sp, err = launch(entry, WORKLOADS["json"], args, cluster, logdir, rec)
        if err:
            return [f"failed to start: {err}"]
        try:
            return verify.verify_server(sp.port, cluster)
        except (OSError, ValueError, PostgresError) as exc:
            return [f"{type(exc).__name__}: {exc} (server log: {sp.log_tail()})"]
    finally:
        if sp is not None:
            sp.stop()


def measure(entry: Entry, workload: Workload, args, cluster: PostgresCluster, scripts: Dict[str, Path],
            logdir: Path, round_no: int) -> Dict[str, object]:
    rec: Dict[str, object] = {"round": round_no, "scenario": workload.name, "server": entry.name, "ok": False}
    sp: Optional[harness.ServerProcess] = None
    try:
        sp, err = launch(entry, workload, args, cluster, logdir, rec)
        if err:
            rec["error"] = f"failed to start: {err}"
            return rec
        try:
            with verify.Client(sp.port) as client:
                problems = verify.check_reply(client.get(workload.path))
        except (OSError, ValueError) as exc:
            problems = [f"{type(exc).__name__}: {exc}"]
        if problems:
            rec["error"] = "verification failed: " + "; ".join(problems)
            return rec
        harness.load_and_account(sp, workload.scenario(), f"http://{harness.HOST}:{sp.port}{workload.path}",
                                 scripts[workload.name], args, rec,
                                 extra_cpu={"db": lambda: harness.tree_cpu_seconds(cluster.pid)})
        return rec
    finally:
        if sp is not None:
            sp.stop_into(rec)


# --------------------------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------------------------


def version_line(runner: str) -> str:
    """``pyre --version`` / ``uvicorn --version``, as the server itself says it."""
    server = RUNNERS[runner]
    env = {k: v for k, v in os.environ.items() if k not in server.env}
    env.update({k: v for k, v in server.env.items() if v})
    try:
        out = subprocess.run([harness.PY, "-m", server.module, "--version"], capture_output=True, text=True,
                             timeout=60, env=env, cwd=str(REPO))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    line = (out.stdout.strip() or out.stderr.strip()).splitlines()
    mode = {"pyre": " (one worker, uvloop, access log off: `pyre MODULE:app --loop uvloop --no-access-log`)",
            "uvicorn": " (one worker, `uvicorn MODULE:app --loop uvloop --http httptools --no-access-log`: "
                       "what `uvicorn MODULE:app` picks with uvloop and httptools installed)"}[runner]
    return (line[0] if line else "unknown") + mode


def versions(packages: Tuple[str, ...]) -> Dict[str, str]:
    out = {}
    for package in packages:
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    frameworks = {f.name: f for f in available()}
    p = argparse.ArgumentParser(description="TechEmpower-style suite: frameworks on uvicorn and on Pyre "
                                            "(see bench/README.md).")
    p.add_argument("--frameworks", default=",".join(frameworks), type=lambda v: harness._csv(v, frameworks, "framework"),
                   help=f"comma-separated, from: {', '.join(frameworks)} (default: all)")
    p.add_argument("--servers", default="uvicorn,pyre", type=lambda v: harness._csv(v, RUNNERS, "server"),
                   help="comma-separated, from: uvicorn, pyre (default: both)")
    p.add_argument("--tests", default=",".join(WORKLOADS), type=lambda v: harness._csv(v, WORKLOADS, "test"),
                   help=f"comma-separated, from: {', '.join(WORKLOADS)} (default: all)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: 3)")
    p.add_argument("--duration", type=int, default=5, help="seconds per measurement, whole (default: 5)")
    p.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per server start (default: 1)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (default: 64)")
    p.add_argument("--server-cpu", default="0", help="taskset CPU list for the server (default: 0)")
    p.add_argument("--client-cpu", default="1", help="taskset CPU list for wrk (default: 1)")
    p.add_argument("--db-cpu", default=None, help="taskset CPU list for PostgreSQL (default: the client's)")
    p.add_argument("--pool-size", type=int, default=DEFAULT_POOL_SIZE,
                   help=f"asyncpg pool size of each server (default: {DEFAULT_POOL_SIZE})")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="folder for report.md, results.json and requests_per_second.png (default: bench/results/tfb)")
    p.add_argument("--docs", action="store_true",
                   help="rewrite the TFB section of docs/benchmarks.md and docs/img/tfb-requests-per-second.png")
    p.add_argument("--keep-logs", action="store_true", help="keep the server and PostgreSQL logs (path printed)")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.duration < 1 or args.warmup < 0 or args.connections < 1 or args.pool_size < 1:
        p.error("--rounds, --duration, --connections and --pool-size must be >= 1, --warmup >= 0")
    args.db_cpu = args.db_cpu or args.client_cpu
    args.workers, args.wrk_threads = 1, 1  # bench/run.py's measurement reads these
    return args


def select(entries: List[Entry], workloads: List[Workload]) -> Tuple[List[Entry], Dict[str, ModuleType], Runs, List[str]]:
    """The entries that can run here, their app modules, and a skipped record (with a note)
    for each entry that cannot and for each test its module has no app for."""
    modules: Dict[str, ModuleType] = {}
    why_not: Dict[str, str] = {}
    for framework in {e.framework for e in entries}:
        why = framework.missing()
        module, why = (None, why) if why else framework.load()
        if module is not None:
            modules[framework.name] = module
        else:
            why_not[framework.name] = str(why)
    usable, runs, notes = [], [], []
    for entry in entries:
        why = why_not.get(entry.framework.name) or entry.server.missing()
        skipped = [(w, f"not run: {why}") for w in workloads] if why else [
            (w, f"n/a: {entry.framework.module} has no {w.attribute}()") for w in workloads
            if not hasattr(modules[entry.framework.name], w.attribute)]
        runs += [{"round": 0, "scenario": w.name, "server": entry.name, "ok": False, "skipped": True, "error": e}
                 for w, e in skipped]
        if why:
            notes.append(f"- **{entry.name}**: not run: {why}")
        else:
            usable.append(entry)
    return usable, modules, runs, notes


def verify_entries(usable: List[Entry], workloads: List[Workload], args, cluster: PostgresCluster, logdir: Path,
                   runs: Runs, notes: List[str]) -> List[Entry]:
    """The pre-flight: the entries that follow every TFB rule; the others are noted, not measured."""
    measured = []
    for entry in usable:
        print(f"[tfb] verifying {entry.name} against the TFB rules ...", end="", file=sys.stderr, flush=True)
        problems = preflight(entry, args, cluster, logdir)
        if problems:
            print(f" FAILED ({len(problems)} problem(s))", file=sys.stderr)
            notes.append(f"- **{entry.name}**: not measured: failed verification: " + "; ".join(problems)[:800])
            runs += [{"round": 0, "scenario": w.name, "server": entry.name, "ok": False,
                      "error": "failed verification"} for w in workloads]
        else:
            print(" ok", file=sys.stderr)
            measured.append(entry)
    return measured


def measure_rounds(plan: List[Tuple[Workload, Entry]], args, cluster: PostgresCluster, scripts: Dict[str, Path],
                   logdir: Path, runs: Runs) -> None:
    """Interleaved rounds: for each round, each test, each entry (order rotated every round)."""
    entries = list(dict.fromkeys(e for _, e in plan))
    total = args.rounds * len(plan)
    est = total * (args.duration + args.warmup + 3)
    print(f"[tfb] {len(entries)} server entr(ies), {args.rounds} round(s): {total} measurements, about "
          f"{est // 60} min {est % 60} s", file=sys.stderr)
    done = 0
    for rnd in range(1, args.rounds + 1):
        k = (rnd - 1) % max(1, len(entries))
        order = entries[k:] + entries[:k]
        for workload in dict.fromkeys(w for w, _ in plan):
            for entry in order:
                if (workload, entry) not in plan:
                    continue
                done += 1
                print(f"[tfb] round {rnd}/{args.rounds} {workload.name:<11} {entry.name:<20} ({done}/{total}) ...",
                      end="", file=sys.stderr, flush=True)
                rec = measure(entry, workload, args, cluster, scripts, logdir, rnd)
                runs.append(rec)
                if rec["ok"]:
                    print(f" {rec['rps']:>9,.0f} req/s  p99 {harness._fmt(rec.get('p99_ms'), '.2f')} ms  cpu: "
                          f"server {rec['server_cpu_pct']:.0f}% wrk {rec['wrk_cpu_pct']:.0f}% "
                          f"db {rec['db_cpu_pct']:.0f}% other {rec['other_cpu_pct']:.0f}%", file=sys.stderr)
                else:
                    print(f" FAILED: {str(rec.get('error'))[:300]}", file=sys.stderr)


def write_outputs(args, meta: Dict[str, object], runs: Runs, workloads: List[Workload], entries: List[Entry],
                  notes: List[str]) -> None:
    """The report (stdout and --out), the raw results, the chart, and with --docs the docs section."""
    names = [e.name for e in entries]
    tests = [w.name for w in workloads]
    descriptions = {w.name: w.description for w in workloads}
    summary = harness.summarize(runs, tests, names, "")
    report.enrich(summary, runs, db_on_client_core=args.db_cpu == args.client_cpu,
                  db_cores=report.cpu_count(args.db_cpu))
    notes += [f"- **{entry} / {test}**: some rounds failed: {'; '.join(cell['errors'])[:500]}"
              for test, cells in summary.items() for entry, cell in cells.items()
              if cell.get("errors") and "rps_median" in cell]
    md = report.render(meta, summary, tests, names, descriptions, notes)
    print(md)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.md").write_text(md)
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "summary": summary, "runs": runs}, indent=2,
                                                      default=str))
    title = "TechEmpower-style suite: requests/s, one pinned worker per server (higher is better)"
    if report.is_smoke(meta["config"]):
        title += " - smoke run, not a measurement"
    chart = report.draw_chart(args.out / "requests_per_second.png", summary, tests, names, descriptions, title)
    print(f"[tfb] wrote {args.out / 'report.md'}, {args.out / 'results.json'}"
          + (f", {chart}" if chart else " (no chart: matplotlib is not installed)"), file=sys.stderr)
    if args.docs:
        report.update_docs(DOCS, report.docs_section(meta, summary, tests, names))
        if chart:
            DOCS_CHART.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(chart, DOCS_CHART)
        print(f"[tfb] updated {DOCS}" + (f" and {DOCS_CHART}" if chart else ""), file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    for tool in ("wrk", "taskset"):
        if not shutil.which(tool):
            print(f"error: {tool!r} is not on PATH", file=sys.stderr)
            return 2
    if find_bin_dir() is None:
        print("error: PostgreSQL is not installed (apt-get install postgresql, or set PYRE_PG_BIN)", file=sys.stderr)
        return 2
    workloads = [WORKLOADS[t] for t in args.tests]
    frameworks = {f.name: f for f in available()}
    entries = [Entry(frameworks[name], runner) for name in args.frameworks for runner in args.servers
               if runner in frameworks[name].servers]
    usable, modules, runs, notes = select(entries, workloads)
    cluster = PostgresCluster(cpu=args.db_cpu)
    meta: Dict[str, object] = {
        "command": shlex.join([Path(harness.PY).name, "bench/tfb/run.py", *(sys.argv[1:] if argv is None else argv)]),
        "facts": harness.machine_facts(sorted({e.runner for e in entries})),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "server_versions": {runner: version_line(runner) for runner in dict.fromkeys(e.runner for e in entries)},
        "framework_versions": {name: versions(frameworks[name].packages) for name in args.frameworks},
        "styles": {name: style(modules[name]) for name in args.frameworks if name in modules},
        "tests": {w.name: w.description for w in workloads},
        "database": (f"{cluster.version()} on a Unix socket, synchronous_commit={SETTINGS['synchronous_commit']}; "
                     f"each server's asyncpg pool {args.pool_size} connections"),
    }
    signal.signal(signal.SIGTERM, harness._on_sigterm)
    signal.signal(signal.SIGHUP, harness._on_sigterm)
    tmp = Path(tempfile.mkdtemp(prefix="pyre-tfb-"))
    logdir = tmp / "logs"
    logdir.mkdir()
    scripts: Dict[str, Path] = {}
    for w in workloads:
        scripts[w.name] = tmp / f"{w.name}.lua"
        scripts[w.name].write_text(w.scenario().lua())
    interrupted: Optional[str] = None
    try:
        print(f"[tfb] starting PostgreSQL ({cluster.version()}) pinned to CPU {args.db_cpu}", file=sys.stderr)
        cluster.start()
        measured = verify_entries(usable, workloads, args, cluster, logdir, runs, notes)
        plan = [(w, e) for w in workloads for e in measured if hasattr(modules[e.framework.name], w.attribute)]
        measure_rounds(plan, args, cluster, scripts, logdir, runs)
    except (KeyboardInterrupt, harness._Terminated) as exc:
        interrupted = type(exc).__name__
        print(f"\n[tfb] interrupted ({interrupted}); servers stopped; reporting what was measured", file=sys.stderr)
    except PostgresError as exc:
        interrupted = "PostgreSQL failed"
        print(f"\nerror: {exc}", file=sys.stderr)
    finally:
        wrk = harness._current_wrk
        if wrk is not None and wrk.poll() is None:
            wrk.kill()
            wrk.wait()
        if args.keep_logs and cluster.base is not None:
            shutil.copy(cluster.log_path, logdir / "postgres.log")
        cluster.stop()
    meta["interrupted"] = interrupted
    write_outputs(args, meta, runs, workloads, entries, notes)
    if args.keep_logs:
        print(f"[tfb] logs kept in {logdir}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    if interrupted:
        return 130 if interrupted != "PostgreSQL failed" else 2
    return 0 if any(r.get("ok") for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
