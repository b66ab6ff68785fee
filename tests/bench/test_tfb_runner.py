"""bench/tfb's runner without running it: the framework table, the options, the report and the docs section."""

from __future__ import annotations

from typing import Dict, List

import pytest

from bench.run import summarize
from bench.tfb import frameworks, report
from bench.tfb import run as tfb_run


def run(test: str, server: str, rps: float, rnd: int = 1, **extra: float) -> Dict[str, object]:
    return {"round": rnd, "scenario": test, "server": server, "ok": True, "rps": rps, "p50_ms": 1.0, "p99_ms": 2.0,
            "server_cpu_pct": extra.get("server_cpu", 99.0), "wrk_cpu_pct": extra.get("wrk", 40.0),
            "db_cpu_pct": extra.get("db", 10.0), "other_cpu_pct": extra.get("other", 0.0), "rps_per_cpu": rps, "socket_errors": {"connect": 0, "read": 0, "write": 0,
                                                                         "timeout": 0}, "non_2xx_3xx": 0}


ENTRIES = ["asgi/uvicorn", "asgi/pyre", "starlette/uvicorn", "starlette/pyre", "fastapi/uvicorn", "fastapi/pyre"]


def summary_of(runs: List[Dict[str, object]], db_on_client_core: bool = True):
    tests = sorted({str(r["scenario"]) for r in runs})
    summary = summarize(runs, tests, ENTRIES, "")
    report.enrich(summary, runs, db_on_client_core)
    return summary


def test_pyre_web_entry_runs_on_pyre_and_is_verified_in_ci():
    names = [f.name for f in frameworks.available()]
    assert names[:2] == ["pyre.web", "asgi"]
    entry = frameworks.available()[0]
    assert (entry.name, entry.module, entry.servers, entry.ci_verified) == \
        ("pyre.web", "bench.tfb.apps.pyre_web_app", ("pyre",), True)
    assert {f.name for f in frameworks.available()} >= {"asgi", *frameworks.PEERS}


def test_options_name_what_they_accept(capsys):
    args = tfb_run.parse_args(["--client-cpu", "1", "--tests", "json,plaintext,json"])
    assert (args.tests, args.db_cpu, args.servers, args.rounds) == (["json", "plaintext"], "1", ["uvicorn", "pyre"], 3)
    with pytest.raises(SystemExit):
        tfb_run.parse_args(["--frameworks", "django"])
    assert "unknown framework ['django']; choose from pyre.web, asgi, starlette" in capsys.readouterr().err


def test_workloads_request_what_the_rules_say():
    w = tfb_run.WORKLOADS
    assert [(w[n].path, w[n].pipeline) for n in ("plaintext", "queries-20", "updates-20")] == \
        [("/plaintext", 16), ("/queries?queries=20", 1), ("/updates?queries=20", 1)]
    assert "for i = 1, 16 do r[i] = wrk.format() end" in w["plaintext"].scenario().lua()
    assert (w["routes-1000"].attribute, w["routes-1000"].routes, w["events"].attribute) == \
        ("routing_app", 1000, "events_app")


def test_ratios_and_flags():
    runs = [run("json", "starlette/uvicorn", 1000), run("json", "fastapi/uvicorn", 500),
            run("json", "starlette/pyre", 2000), run("json", "fastapi/pyre", 700, wrk=95),
            run("json", "asgi/pyre", 4000, wrk=50, db=45), run("json", "asgi/uvicorn", 900, server_cpu=60, other=80)]
    cells = summary_of(runs)["json"]
    assert cells["starlette/pyre"]["vs_best_peer_uvicorn"] == 2.0
    assert cells["starlette/pyre"]["pyre_gain"] == 2.0
    assert cells["fastapi/pyre"]["pyre_gain"] == pytest.approx(1.4)
    assert cells["fastapi/pyre"]["flags"] == ["wrk-bound (wrk 95% CPU)"]
    assert cells["asgi/pyre"]["flags"] == ["client core full (wrk + PostgreSQL 95%)"]
    assert cells["asgi/pyre"]["pyre_gain"] == pytest.approx(4000 / 900)
    assert cells["asgi/uvicorn"]["flags"] == ["machine busy (other work 80% CPU, server 60%)"]
    assert summary_of(runs, db_on_client_core=False)["json"]["asgi/pyre"]["flags"] == []


def test_postgresql_on_cores_of_its_own_is_flagged_when_it_fills_them():
    runs = [run("fortunes", "asgi/pyre", 4000, wrk=50, db=95), run("fortunes", "asgi/uvicorn", 3000, wrk=30, db=150)]
    tests = ["fortunes"]
    summary = summarize(runs, tests, ENTRIES, "")
    report.enrich(summary, runs, db_on_client_core=False, db_cores=report.cpu_count("2"))
    assert summary["fortunes"]["asgi/pyre"]["flags"] == ["PostgreSQL-bound (PostgreSQL 95% CPU of 1 core(s))"]
    assert summary["fortunes"]["asgi/uvicorn"]["flags"] == ["PostgreSQL-bound (PostgreSQL 150% CPU of 1 core(s))"]
    summary = summarize(runs, tests, ENTRIES, "")
    report.enrich(summary, runs, db_on_client_core=False, db_cores=report.cpu_count("2-3"))
    assert summary["fortunes"]["asgi/pyre"]["flags"] == [] and summary["fortunes"]["asgi/uvicorn"]["flags"] == []
    assert [report.cpu_count(c) for c in ("1", "0,2", "0-3", "0-1,4")] == [1, 2, 4, 3]


def test_report_tables():
    runs = [run("json", "starlette/uvicorn", 1000), run("json", "starlette/pyre", 2000, wrk=95),
            run("routes-10", "starlette/pyre", 3000), run("routes-1000", "starlette/pyre", 1500)]
    summary = summary_of(runs)
    assert report.matrix(summary, ["json"], ["starlette/uvicorn", "starlette/pyre"]) == [
        "| framework | server | json |", "|---|---|---:|",
        "| starlette | uvicorn | 1,000 (1.00×) |", "| starlette | pyre | 2,000 (2.00×) ⚑ |"]
    assert report.routing_table(summary, ENTRIES)[2:] == ["| starlette | pyre | 3,000 | 1,500 | 0.50× |"]
    row = report.table_for(summary, "json", ENTRIES)[3]
    assert row.startswith("| starlette | pyre | 2,000 | 1.00 | 2.00 | 2.00× | 2.00× | 99% | 2,000 | 95% | 10% | 0 | 1/1 |")
    assert row.endswith("| wrk-bound (wrk 95% CPU) |")
    assert report.goals(summary)[0].startswith("pyre.web is not in this run")


def test_goals_are_judged_when_pyre_web_was_measured():
    entries = ["pyre.web/pyre", "asgi/pyre", "starlette/uvicorn", "starlette/pyre"]
    runs = [run("json", "pyre.web/pyre", 3000), run("json", "asgi/pyre", 3500), run("json", "starlette/uvicorn", 1000),
            run("json", "starlette/pyre", 2500), run("routes-10", "pyre.web/pyre", 3000),
            run("routes-1000", "pyre.web/pyre", 2900)]
    summary = summarize(runs, ["json", "routes-10", "routes-1000"], entries, "")
    lines = report.goals(summary)
    assert "| json ≥ 2× the best peer on uvicorn | 3.00× | met |" in lines
    assert "| json ≥ 1.5× the best peer on Pyre | 1.20× | **not met** |" in lines
    assert "| json ≥ 0.8× the bare ASGI app on Pyre | 0.86× | met |" in lines
    assert "| 1,000 routes ≥ 0.9× 10 routes | 0.97× | met |" in lines
    assert "| db ≥ 1.3× the best peer on uvicorn | — | — |" in lines


def test_a_database_goal_names_the_flags_of_the_cells_it_compares():
    entries = ["pyre.web/pyre", "asgi/pyre", "starlette/uvicorn", "falcon/uvicorn", "falcon/pyre"]
    runs = [run("fortunes", "pyre.web/pyre", 2600), run("fortunes", "starlette/uvicorn", 1000, server_cpu=40),
            run("fortunes", "falcon/uvicorn", 2000, wrk=60, db=35), run("fortunes", "falcon/pyre", 2500, wrk=95),
            run("db", "pyre.web/pyre", 3000), run("db", "falcon/uvicorn", 2000)]
    for r in runs:  # req/s per server CPU-second, as bench/run.py records it
        r["rps_per_cpu"] = float(r["rps"]) * 100 / float(r["server_cpu_pct"])
    summary = summarize(runs, ["db", "fortunes"], entries, "")
    report.enrich(summary, runs, db_on_client_core=True)
    lines = report.goals(summary)
    # falcon/pyre is flagged but not compared; the best peer on uvicorn (falcon) filled its client core.
    assert "| fortunes ≥ 1.3× the best peer on uvicorn | 1.30× | met (⚑ falcon/uvicorn: client core full " \
           "(wrk + PostgreSQL 95%)) |" in lines
    assert "| db ≥ 1.3× the best peer on uvicorn | 1.50× | met |" in lines
    # per CPU-second the best peer is starlette (1000 req/s on 40% of a core): 2600 / 0.99 against 2500.
    per_cpu = [line for line in lines if line.startswith("| fortunes, req/s per server CPU-second")]
    assert per_cpu == ["| fortunes, req/s per server CPU-second, against the best peer's on uvicorn | 1.05× | "
                       "(what the server costs per request; not the goal) |"]
    row = report.table_for(summary, "fortunes", entries)[2]
    assert row.startswith("| pyre.web | pyre | 2,600 | 1.00 | 2.00 | 1.30× | — | 99% | 2,626 | 40% | 10% |")


def test_docs_section_is_replaced_between_its_markers(tmp_path):
    docs = tmp_path / "benchmarks.md"
    docs.write_text(f"# Benchmarks\n\nbefore\n\n{report.DOCS_BEGIN}\nold table\n{report.DOCS_END}\n\nafter\n")
    report.update_docs(docs, f"{report.DOCS_BEGIN}\nnew table\n{report.DOCS_END}")
    assert docs.read_text() == f"# Benchmarks\n\nbefore\n\n{report.DOCS_BEGIN}\nnew table\n{report.DOCS_END}\n\nafter\n"
    docs.write_text("# Benchmarks\n")
    with pytest.raises(ValueError, match="the markers .* are missing"):
        report.update_docs(docs, "x")


def test_docs_carry_the_markers():
    text = (tfb_run.DOCS).read_text()
    assert text.count(report.DOCS_BEGIN) == 1 and text.count(report.DOCS_END) == 1


def test_the_instruction_counter_profiles_each_app_on_a_real_pool(tfb_database, tmp_path, capsys):
    import pstats

    from bench.tfb import instructions

    assert instructions.main(["--tests", "fortunes", "--apps", "asgi,pyre.web", "-n", "25", "--profile",
                              str(tmp_path), "--dsn", tfb_database.dsn]) == 0
    handlers = {"asgi": "_fortunes", "pyre.web": "fortunes"}
    for app, handler in handlers.items():
        stats = pstats.Stats(str(tmp_path / f"{app}-fortunes.prof")).stats  # type: ignore[attr-defined]
        calls = {name: ncalls for (path, _, name), (_, ncalls, *_) in stats.items() if path.endswith(
            "bare.py" if app == "asgi" else "pyre_web_app.py")}
        assert calls[handler] >= 25  # each measured request reached the app's handler (a coroutine: resumed too)
    assert f"wrote {tmp_path / 'pyre.web-fortunes.prof'}" in capsys.readouterr().out
