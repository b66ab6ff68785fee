"""The TFB suite's results: ratios, flags, the Markdown report, the docs table and the chart.

Input is ``bench.run.summarize()``'s summary (per test type and server entry: medians over
rounds of req/s, latency and CPU) plus the raw runs. An entry is ``framework/server``
(e.g. ``starlette/uvicorn``).
"""

from __future__ import annotations

import re
import statistics
import textwrap
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from bench.run import _fmt
from bench.tfb.frameworks import PEERS

WRK_BOUND_PCT = 90.0  # wrk (or its core) this busy: the client, not the server, set the pace
OTHER_BUSY_PCT = 50.0  # other work this busy while the server is below WRK_BOUND_PCT: it was starved
DOCS_BEGIN = "<!-- tfb-results:begin (written by bench/tfb/run.py --docs) -->"
DOCS_END = "<!-- tfb-results:end -->"
TFB_TESTS = ("json", "plaintext", "db", "queries-1", "queries-20", "fortunes", "updates-20")
DB_TESTS = ("db", "queries-20", "fortunes", "updates-20")
SMOKE_ROUNDS, SMOKE_DURATION = 3, 5  # fewer rounds or shorter runs: a smoke run, not a measurement

Summary = Dict[str, Dict[str, Dict[str, object]]]


def split(entry: str) -> Tuple[str, str]:
    framework, _, server = entry.rpartition("/")
    return framework, server


def cpu_count(cpu_list: str) -> int:
    """The number of CPUs in a taskset list (``"1"``, ``"0,2"``, ``"0-3"``)."""
    total = 0
    for part in cpu_list.split(","):
        low, _, high = part.partition("-")
        total += int(high) - int(low) + 1 if high else 1
    return max(total, 1)


def enrich(summary: Summary, runs: List[Dict[str, object]], db_on_client_core: bool, db_cores: int = 1) -> None:
    """Add to each measured cell: db CPU, the ratio to the best peer on uvicorn, Pyre's gain over
    the same framework on uvicorn, and flags where the server did not set the pace (wrk or its
    core saturated, PostgreSQL's own ``db_cores`` saturated, or other work on the machine
    starving the server)."""
    for test, cells in summary.items():
        best = best_rps(cells, "uvicorn")
        best_per_cpu = best_rps(cells, "uvicorn", key="rps_per_cpu_median")
        for entry, cell in cells.items():
            if "rps_median" not in cell:
                continue
            ok = [r for r in runs if r["scenario"] == test and r["server"] == entry and r.get("ok")]
            db = [float(r["db_cpu_pct"]) for r in ok if "db_cpu_pct" in r]
            cell["db_cpu_pct_median"] = statistics.median(db) if db else None
            rps = float(cell["rps_median"])
            if best:
                cell["vs_best_peer_uvicorn"] = rps / best
            per_cpu = cell.get("rps_per_cpu_median")
            if best_per_cpu and per_cpu:
                cell["per_cpu_vs_best_peer_uvicorn"] = float(per_cpu) / best_per_cpu
            framework, server = split(entry)
            on_uvicorn = cells.get(f"{framework}/uvicorn", {})
            if server == "pyre" and "rps_median" in on_uvicorn:
                cell["pyre_gain"] = rps / float(on_uvicorn["rps_median"])
            flags = []
            wrk = float(cell.get("wrk_cpu_pct_median") or 0.0)
            if wrk >= WRK_BOUND_PCT:
                flags.append(f"wrk-bound (wrk {wrk:.0f}% CPU)")
            elif db_on_client_core and wrk + float(cell["db_cpu_pct_median"] or 0.0) >= WRK_BOUND_PCT:
                flags.append(f"client core full (wrk + PostgreSQL {wrk + float(cell['db_cpu_pct_median']):.0f}%)")
            elif not db_on_client_core and float(cell["db_cpu_pct_median"] or 0.0) >= WRK_BOUND_PCT * db_cores:
                flags.append(f"PostgreSQL-bound (PostgreSQL {float(cell['db_cpu_pct_median']):.0f}% CPU of "
                             f"{db_cores} core(s))")
            other = float(cell.get("other_cpu_pct_median") or 0.0)
            server_cpu = float(cell.get("server_cpu_pct_median") or 0.0)
            if other >= OTHER_BUSY_PCT and server_cpu < WRK_BOUND_PCT:
                flags.append(f"machine busy (other work {other:.0f}% CPU, server {server_cpu:.0f}%)")
            variants = [str(v) for v in cell.get("variants", [])]
            if server == "pyre" and any("pure" in v for v in variants):
                flags.append("Pyre ran pure-Python in some rounds")
            cell["flags"] = flags


def best_rps(cells: Dict[str, Dict[str, object]], server: str, among: Sequence[str] = PEERS,
             key: str = "rps_median") -> Optional[float]:
    """The best peer's median req/s on ``server`` (``key="rps_per_cpu_median"``: the best req/s per
    server CPU-second)."""
    values = [float(cells[f"{p}/{server}"][key]) for p in among if cells.get(f"{p}/{server}", {}).get(key)]
    return max(values) if values else None


def best_peer(cells: Dict[str, Dict[str, object]], server: str, among: Sequence[str] = PEERS) -> Optional[str]:
    """The entry of the best peer on ``server`` by median req/s."""
    measured = [f"{p}/{server}" for p in among if "rps_median" in cells.get(f"{p}/{server}", {})]
    return max(measured, key=lambda e: float(cells[e]["rps_median"])) if measured else None


def _rps(summary: Summary, test: str, entry: str) -> Optional[float]:
    cell = summary.get(test, {}).get(entry, {})
    return float(cell["rps_median"]) if "rps_median" in cell else None


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


def is_smoke(config: Dict[str, object]) -> bool:
    return int(config["rounds"]) < SMOKE_ROUNDS or int(config["duration"]) < SMOKE_DURATION


def header(meta: Dict[str, object]) -> List[str]:
    f = meta["facts"]
    c = meta["config"]
    L = [f"- Command: `{meta['command']}`", f"- Date: {f['date']}",
         f"- Machine: {f['cpu_model']}, {f['cores']} cores, kernel {f['kernel']}, load average at start "
         f"{' '.join(f['loadavg_at_start'])}; {f['python']}; wrk: {f['wrk']}"]
    L += [f"- `{name}`: {line}" for name, line in meta["server_versions"].items()]
    L += ["- Frameworks: " + "; ".join(f"{name} ({', '.join(f'{p} {v}' for p, v in versions.items())})"
                                      for name, versions in meta["framework_versions"].items())]
    L += [f"- Database: {meta['database']}"]
    L += [f"- Method: one worker per server pinned with `taskset -c {c['server_cpu']}`, wrk with `taskset -c "
          f"{c['client_cpu']}` (`-t{c['wrk_threads']} -c{c['connections']} --latency`), PostgreSQL with `taskset -c "
          f"{c['db_cpu']}`; {c['rounds']} interleaved round(s) of {c['duration']} s after a {c['warmup']} s warm-up, "
          "server order rotated each round; every server verified against the TFB rules before the run and its "
          "response checked before each measurement; medians over rounds."]
    if is_smoke(c):
        L += [f"- **Smoke run** ({c['rounds']} round(s) of {c['duration']} s): these numbers check that the suite "
              "works end to end; they are not measurements."]
    if meta.get("interrupted"):
        L += [f"- **Interrupted** ({meta['interrupted']}): only what was measured before is reported."]
    return L


def matrix(summary: Summary, tests: Sequence[str], entries: Sequence[str]) -> List[str]:
    """Requests/s per entry and test type, with the ratio to the best peer on uvicorn."""
    shown = [t for t in tests if t in summary]
    L = ["| framework | server | " + " | ".join(shown) + " |", "|---|---|" + "---:|" * len(shown)]
    for entry in entries:
        framework, server = split(entry)
        cells = []
        for test in shown:
            cell = summary[test].get(entry, {})
            if "rps_median" not in cell:
                cells.append("n/a" if cell.get("skipped") else "—")
                continue
            ratio = cell.get("vs_best_peer_uvicorn")
            flag = " ⚑" if cell.get("flags") else ""
            cells.append(f"{float(cell['rps_median']):,.0f}" + (f" ({ratio:.2f}×)" if ratio else "") + flag)
        L.append(f"| {framework} | {server} | " + " | ".join(cells) + " |")
    return L


def table_for(summary: Summary, test: str, entries: Sequence[str]) -> List[str]:
    L = ["| framework | server | req/s | p50 ms | p99 ms | vs best peer on uvicorn | Pyre's gain | server CPU | "
         "req/s per server CPU-second | wrk CPU | PostgreSQL CPU | errors | runs ok | flags |",
         "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for entry in entries:
        cell = summary[test].get(entry)
        if not cell or not cell.get("runs") or (cell.get("skipped") and "rps_median" not in cell):
            continue
        framework, server = split(entry)
        if "rps_median" not in cell:
            L.append(f"| {framework} | {server} | — | | | | | | | | | | {cell['ok_runs']}/{cell['runs']} | failed |")
            continue
        errors = int(cell["socket_errors"]) + int(cell["non_2xx_3xx"])
        L.append(
            f"| {framework} | {server} | {float(cell['rps_median']):,.0f} | "
            f"{_fmt(cell.get('p50_ms_median'), '.2f')} | {_fmt(cell.get('p99_ms_median'), '.2f')} | "
            f"{_fmt(cell.get('vs_best_peer_uvicorn'), '.2f', '×')} | {_fmt(cell.get('pyre_gain'), '.2f', '×')} | "
            f"{_fmt(cell.get('server_cpu_pct_median'), '.0f', '%')} | {_fmt(cell.get('rps_per_cpu_median'), ',.0f')} | "
            f"{_fmt(cell.get('wrk_cpu_pct_median'), '.0f', '%')} | "
            f"{_fmt(cell.get('db_cpu_pct_median'), '.0f', '%')} | {errors} | {cell['ok_runs']}/{cell['runs']} | "
            f"{'; '.join(cell.get('flags', []))} |")
    return L


def routing_table(summary: Summary, entries: Sequence[str]) -> List[str]:
    L = ["| framework | server | 10 routes req/s | 1,000 routes req/s | 1,000 vs 10 |", "|---|---|---:|---:|---:|"]
    for entry in entries:
        few, many = _rps(summary, "routes-10", entry), _rps(summary, "routes-1000", entry)
        if few is None and many is None:
            continue
        framework, server = split(entry)
        ratio = f"{many / few:.2f}×" if few and many else "—"
        L.append(f"| {framework} | {server} | {_fmt(few, ',.0f')} | {_fmt(many, ',.0f')} | {ratio} |")
    return L if len(L) > 2 else []


def events_lines(summary: Summary, entries: Sequence[str]) -> List[str]:
    rows = []
    for entry in entries:
        with_events, plain = _rps(summary, "events", entry), _rps(summary, "json", entry)
        if with_events is not None:
            framework, server = split(entry)
            cost = f"{100 * (1 - with_events / plain):.1f}%" if plain else "—"
            rows.append(f"| {framework} | {server} | {_fmt(plain, ',.0f')} | {with_events:,.0f} | {cost} |")
    if not rows:
        return ["No framework in this run defines `events_app()` (pyre.web will); nothing to compare."]
    return ["| framework | server | json req/s | json + 20 idle listeners req/s | cost |",
            "|---|---|---:|---:|---:|", *rows]


def goals(summary: Summary) -> List[str]:
    """Issue 15's targets for pyre.web, judged within this run."""
    me = "pyre.web/pyre"
    if not any(me in cells for cells in summary.values()):
        return ["pyre.web is not in this run (`pyre.web.App` does not exist yet), so its targets cannot be judged."]
    L = ["| target | measured | |", "|---|---:|---|"]

    def row(what: str, value: Optional[float], bar: float, cells: Sequence[Tuple[str, Dict[str, object]]] = ()) -> None:
        verdict = "—" if value is None else ("met" if value >= bar else "**not met**")
        # A ratio is only the servers' when both sides set their own pace: name what else did.
        flagged = [f"{entry}: {'; '.join(map(str, cell['flags']))}" for entry, cell in cells if cell.get("flags")]
        if value is not None and flagged:
            verdict += " (⚑ " + " / ".join(flagged) + ")"
        L.append(f"| {what} | {_fmt(value, '.2f', '×')} | {verdict} |")

    def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
        return a / b if a and b else None

    json_cells = summary.get("json", {})
    mine = _rps(summary, "json", me)
    row("json ≥ 2× the best peer on uvicorn", ratio(mine, best_rps(json_cells, "uvicorn")), 2.0)
    row("json ≥ 1.5× the best peer on Pyre", ratio(mine, best_rps(json_cells, "pyre")), 1.5)
    row("json ≥ 0.8× the bare ASGI app on Pyre", ratio(mine, _rps(summary, "json", "asgi/pyre")), 0.8)
    for test in DB_TESTS:
        cells = summary.get(test, {})
        peer = best_peer(cells, "uvicorn")
        judged = [(entry, cells[entry]) for entry in (me, peer) if entry in cells]
        row(f"{test} ≥ 1.3× the best peer on uvicorn", ratio(_rps(summary, test, me), best_rps(cells, "uvicorn")), 1.3,
            judged)
        per_cpu = cells.get(me, {}).get("per_cpu_vs_best_peer_uvicorn")
        if per_cpu is not None:
            L.append(f"| {test}, req/s per server CPU-second, against the best peer's on uvicorn | "
                     f"{_fmt(per_cpu, '.2f', '×')} | (what the server costs per request; not the goal) |")
    row("1,000 routes ≥ 0.9× 10 routes", ratio(_rps(summary, "routes-1000", me), _rps(summary, "routes-10", me)), 0.9)
    row("20 idle event listeners ≥ 0.97× json", ratio(_rps(summary, "events", me), mine), 0.97)
    return L


def render(meta: Dict[str, object], summary: Summary, tests: Sequence[str], entries: Sequence[str],
           descriptions: Dict[str, str], notes: List[str]) -> str:
    L = ["# TechEmpower-style benchmark", "", *header(meta), ""]
    L += ["## The apps", "", *(f"- **{name}**: {text}" for name, text in meta["styles"].items()), ""]
    L += ["## Requests per second", "",
          "Median over rounds; in brackets the ratio to the best peer framework on uvicorn in the same test; "
          "⚑ = a flag in the test's table: the client side or other work on the machine, not the server, set the "
          "pace, or Pyre ran pure-Python.", ""]
    L += matrix(summary, [t for t in TFB_TESTS if t in tests], entries) + [""]
    for test in tests:
        if test in TFB_TESTS:
            L += [f"## {test}: {descriptions[test]}", "", *table_for(summary, test, entries), ""]
    routing = routing_table(summary, entries)
    if routing:
        L += ["## Routing: the matched route registered last, among 10 and among 1,000 routes", "", *routing, ""]
    if "events" in tests:
        L += ["## Events: 20 listener methods for user events the request does not emit", "",
              *events_lines(summary, entries), ""]
    L += ["## Issue 15's targets for pyre.web", "", *goals(summary), ""]
    if notes:
        L += ["## Notes", "", *notes, ""]
    L += ["Pyre's gain = the framework on Pyre against the same framework on uvicorn. server CPU = the server "
          "process's CPU time over the measurement (100% = its whole core); req/s per server CPU-second = what "
          "one request costs the server, steadier than req/s when other work shares the machine; wrk CPU near "
          "100% means the load "
          "generator set the pace (flagged), as does a client core that wrk shares with PostgreSQL; other work "
          f"above {OTHER_BUSY_PCT:.0f}% of a core while the server is below {WRK_BOUND_PCT:.0f}% means the server "
          "was starved (flagged).", ""]
    return "\n".join(L)


def docs_section(meta: Dict[str, object], summary: Summary, tests: Sequence[str], entries: Sequence[str]) -> str:
    """The table for docs/benchmarks.md (between the markers)."""
    L = [DOCS_BEGIN, "", *header(meta), "",
         "Requests/s, median over rounds (in brackets: against the best peer framework on uvicorn; ⚑ = the client "
         "side or other work, not the server, set the pace):", ""]
    L += matrix(summary, [t for t in TFB_TESTS if t in tests], entries) + [""]
    routing = routing_table(summary, entries)
    if routing:
        L += ["Routing, the matched route registered last:", "", *routing, ""]
    L += ["![requests per second, TFB-style suite](img/tfb-requests-per-second.png)", "", DOCS_END]
    return "\n".join(L)


def update_docs(path: Path, section: str) -> None:
    """Replace the text between the markers in ``path`` (they must be there) by ``section``."""
    text = path.read_text()
    pattern = re.compile(re.escape(DOCS_BEGIN) + r".*?" + re.escape(DOCS_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{path}: the markers {DOCS_BEGIN!r} ... {DOCS_END!r} are missing")
    path.write_text(pattern.sub(lambda _: section, text, count=1))


# --------------------------------------------------------------------------------------------
# Chart
# --------------------------------------------------------------------------------------------


def draw_chart(path: Path, summary: Summary, tests: Sequence[str], entries: Sequence[str],
               descriptions: Dict[str, str], title: str) -> Optional[str]:
    """One panel per test type, one group of bars per framework (one bar per server)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    shown = [t for t in tests if t in summary and any("rps_median" in c for c in summary[t].values())]
    if not shown:
        return None
    all_frameworks = list(dict.fromkeys(split(e)[0] for e in entries))
    servers = list(dict.fromkeys(split(e)[1] for e in entries))
    ncols = min(3, len(shown))
    nrows = (len(shown) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(4.5, 0.9 * len(all_frameworks) + 1.5) * ncols, 4 * nrows),
                             squeeze=False)
    width = 0.8 / max(1, len(servers))
    for ax, test in zip(axes.flat, shown):
        frameworks = [f for f in all_frameworks if any("rps_median" in summary[test].get(f"{f}/{s}", {})
                                                       for s in servers)]
        for k, server in enumerate(servers):
            xs, ys, lo, hi = [], [], [], []
            for i, framework in enumerate(frameworks):
                cell = summary[test].get(f"{framework}/{server}", {})
                if "rps_median" in cell:
                    xs.append(i + (k - (len(servers) - 1) / 2) * width)
                    ys.append(float(cell["rps_median"]))
                    lo.append(ys[-1] - float(cell["rps_min"]))
                    hi.append(float(cell["rps_max"]) - ys[-1])
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=server, color=f"C{k}")
        ax.set_xticks(range(len(frameworks)), frameworks, rotation=30, ha="right", fontsize=8)
        ax.set_title(textwrap.fill(f"{test}: {descriptions[test]}", 50), fontsize=9)
        ax.set_ylabel("requests/s (median)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
