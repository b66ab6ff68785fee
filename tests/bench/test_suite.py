"""bench/suite.py without load: the parts and cases, the options, the order of the measurements,
the pairing, the client-bound flag, the version and mode lines, the report and the charts;
then one quick run against Pyre alone (h2load, bench/wsload.c and the idle-memory check)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import pytest

from bench import apps, run, suite, ws

ALL_CASES = ["plaintext", "json", "echo", "stream", "pipeline", "h2", "tls", "tls-close", "h2-tls", "upload",
             "download", "ws-small-1", "ws-small-4", "ws-64k-1", "ws-deflate-1", "idle-memory", "plaintext-2w"]


def test_every_part_has_its_cases_in_order():
    cases = suite.build_cases(list(suite.PARTS), [1, 4], 2000)
    assert [c.name for c in cases] == ALL_CASES
    by_name = {c.name: c for c in cases}
    assert [(x.kind, x.in_flight, x.size, x.deflate) for x in (by_name["ws-small-4"].load, by_name["ws-64k-1"].load,
                                                                by_name["ws-deflate-1"].load)] == \
        [("small", 4, 32, False), ("64k", 1, ws.LARGE_SIZE, False), ("deflate", 1, ws.DEFLATE_SIZE, True)]
    two = by_name["plaintext-2w"]
    assert (two.part, two.scenario, two.workers, two.unit) == ("workers", "plaintext", 2, "req/s")
    mem = by_name["idle-memory"]
    assert (mem.unit, mem.lower_is_better) == ("KiB/conn", True) and "2,000 open at once" in mem.description
    assert by_name["upload"].unit == "MB/s" and by_name["h2-tls"].part == "tls"
    assert [c.name for c in suite.build_cases(["ws"], [2], 10)] == ["ws-small-2", "ws-64k-2", "ws-deflate-2"]


def test_defaults_and_quick():
    args = suite.parse_args([])
    assert (args.rounds, args.duration, args.warmup, args.memory_connections) == (3, 5, 1, 2000)
    assert args.body_client == "auto"
    spliced = suite.parse_args(["--body-client", "splice"])
    assert suite.Context(spliced, Path("/nowhere"), {}).run_args(1).body_client == "splice"
    # The download's reference sender joins the servers (only for the download), unless told not to.
    assert args.parts == list(suite.PARTS) and args.servers == ["pyre", "uvicorn", "hypercorn", "granian",
                                                                "raw-download"]
    assert suite.parse_args(["--no-reference-senders"]).servers == ["pyre", "uvicorn", "hypercorn", "granian"]
    assert suite.parse_args(["--parts", "h1,ws"]).servers == ["pyre", "uvicorn", "hypercorn", "granian"]
    assert suite.parse_args(["--cases", "download", "--servers", "pyre"]).servers == ["pyre", "raw-download"]
    assert args.refs == ["uvicorn", "granian"] and [c.name for c in args.case_list] == ALL_CASES
    quick = suite.parse_args(["--quick"])
    assert (quick.rounds, quick.duration, quick.warmup, quick.memory_connections) == (1, 1, 0, 500)
    assert suite.parse_args(["--quick", "--duration", "3"]).duration == 3  # explicit values win
    assert suite.parse_args(["--compare", ""]).refs == ["uvicorn"]


def test_cases_pick_single_cases_of_the_parts():
    args = suite.parse_args(["--parts", "ws,h1", "--cases", "ws-small-8,json", "--in-flight", "1,8"])
    assert [(c.part, c.name) for c in args.case_list] == [("h1", "json"), ("ws", "ws-small-8")]


@pytest.mark.parametrize("argv, message", [
    (["--parts", "h3"], "unknown part ['h3']; choose from h1, h2c, tls, bodies, ws, memory, workers"),
    (["--servers", "pyre,nginx"], "unknown server ['nginx']"),
    (["--parts", "h1", "--cases", "h2"], "unknown case(s) ['h2'] in the parts h1; choose from plaintext, json"),
    (["--baseline", "nginx"], "unknown server 'nginx' for --baseline/--compare"),
    (["--rounds", "0"], "must be >= 1"),
    (["--in-flight", "0"], "messages in flight must be >= 1"),
])
def test_bad_options_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        suite.parse_args(argv)
    assert message in capsys.readouterr().err


def test_who_takes_part_in_what(monkeypatch):
    monkeypatch.setattr(run.Server, "missing", lambda self: None)
    monkeypatch.setattr(ws.WSServer, "missing", lambda self: None)
    case = {c.name: c for c in suite.build_cases(list(suite.PARTS), [1], 100)}
    assert suite.not_run(case["plaintext"], "raw") is None and suite.not_run(case["ws-small-1"], "raw") is None
    assert "only answers a canned plaintext" in suite.not_run(case["json"], "raw")
    assert suite.not_run(case["idle-memory"], "raw") == "n/a: bench/memory.py has no keep-alive flags for it"
    assert suite.not_run(case["ws-small-1"], "pyre-pure") == "n/a: bench/ws.py has no server 'pyre-pure'"
    assert suite.not_run(case["json"], "uvicorn-sansio") == "n/a: bench/run.py has no server 'uvicorn-sansio'"
    assert "uvicorn's HTTP/2 is measured" in suite.not_run(case["h2"], "uvicorn-h11")
    assert suite.not_run(case["download"], "raw-download") is None
    assert suite.not_run(case["upload"], "raw-download") == "n/a: the download's reference sender only serves the download"
    assert suite.shown(case["download"], "raw-download") and not suite.shown(case["json"], "raw-download")
    assert suite.shown(case["json"], "raw") and suite.case_refs(case["download"], ["uvicorn"]) == ["uvicorn",
                                                                                                   "raw-download"]


def test_rounds_interleave_every_case_and_rotate_the_servers(monkeypatch):
    monkeypatch.setattr(run.Server, "missing", lambda self: None)
    cases = suite.build_cases(["h1"], [1], 100)[:2]  # plaintext, json
    plan = [(rnd, case.name, sv) for rnd, case, sv in suite.schedule(cases, ["pyre", "uvicorn", "raw"], 2)]
    assert plan == [(1, "plaintext", "pyre"), (1, "plaintext", "uvicorn"), (1, "plaintext", "raw"),
                    (1, "json", "pyre"), (1, "json", "uvicorn"),
                    (2, "plaintext", "uvicorn"), (2, "plaintext", "raw"), (2, "plaintext", "pyre"),
                    (2, "json", "uvicorn"), (2, "json", "pyre")]
    assert suite.estimate_seconds(suite.schedule(cases, ["pyre"], 1), 5, 1) == 2 * (5 + 1 + suite.SECONDS_PER_START)


def rec(case: str, server: str, rnd: int, value: float, client: float = 40.0, threads: int = 1,
        **extra: object) -> Dict[str, object]:
    return {"case": case, "server": server, "round": rnd, "ok": True, "value": value, "client_cpu_pct": client,
            "client_threads": threads, "server_cpu_pct": 99.0, "other_cpu_pct": 3.0, "p50_ms": 1.0, "p99_ms": 4.0,
            "server_cmd": f"taskset -c 0 python -m {server} pyrebench_apps:hello --host 127.0.0.1 --port 1 "
                          "--loop uvloop", **extra}


def test_ratios_are_paired_within_rounds():
    failed = {**rec("plaintext", "uvicorn", 2, 0.0), "ok": False, "value": None, "error": "died"}
    records = [rec("plaintext", "pyre", 1, 300), rec("plaintext", "uvicorn", 1, 100),
               rec("plaintext", "pyre", 2, 900), failed,
               rec("plaintext", "pyre", 3, 200), rec("plaintext", "uvicorn", 3, 200),
               rec("json", "pyre", 1, 50), rec("json", "uvicorn", 1, 100)]
    assert suite.paired_ratios(records, "plaintext", "pyre", "uvicorn") == [3.0, 1.0]  # round 2 has no pair
    assert suite.paired(records, "plaintext", "pyre", "uvicorn") == {"median": 2.0, "min": 1.0, "max": 3.0,
                                                                      "rounds": 2}
    assert suite.paired(records, "json", "pyre", "uvicorn")["median"] == 0.5
    assert suite.paired(records, "plaintext", "uvicorn", "uvicorn") is None
    assert suite.paired(records, "plaintext", "pyre", "granian") is None


@pytest.mark.parametrize("cpu, threads, bound", [([95, 20, 96], 1, True), ([89, 89], 1, False),
                                                   ([150, 160], 2, False), ([185, 181], 2, True), ([], 1, False)])
def test_client_bound_is_per_core_the_load_generator_could_use(cpu, threads, bound):
    ok = [rec("plaintext", "pyre", i, 100, client=c, threads=threads) for i, c in enumerate(cpu)]
    assert suite.client_bound(ok) is bound


@pytest.mark.parametrize("cmd, mode", [
    ("taskset -c 0 /v/bin/python -m uvicorn pyrebench_apps:hello --host 127.0.0.1 --port 8 --loop uvloop --http "
     "httptools --ws websockets --no-access-log --log-level warning", "--loop uvloop --http httptools --ws websockets"),
    ("taskset -c 0 python -m pyre pyrebench_apps:hello --host 127.0.0.1 --port 8 --loop uvloop --no-access-log "
     "--log-level warning --ssl-certfile /t/cert.pem --ssl-keyfile /t/key.pem", "--loop uvloop + TLS certificate"),
    ("taskset -c 0,1 python -m granian --interface asgi --workers 2 --runtime-threads 1 --no-ws --loop uvloop "
     "--host 127.0.0.1 --port 8 --log-level warning --no-access-log pyrebench_apps:hello",
     "--interface asgi --workers 2 --runtime-threads 1 --no-ws --loop uvloop"),
    ("taskset -c 0 python -m hypercorn pyrebench_apps:hello --bind 127.0.0.1:8 -k uvloop -w 0 --log-level warning "
     "--certfile /c --keyfile /k", "-k uvloop -w 0 + TLS certificate"),
    ("taskset -c 0 python /r/bench/raw_uvloop.py --host 127.0.0.1 --port 8", ""),
    ("taskset -c 0 python /r/bench/raw_download.py --host 127.0.0.1 --port 8 --count 201", ""),
])
def test_mode_flags_are_the_options_that_choose_the_mode(cmd, mode):
    assert suite.mode_flags(cmd) == mode


def test_version_lines_name_the_build_and_the_mode():
    cases = {c.name: c for c in suite.build_cases(list(suite.PARTS), [1], 100)}
    pyre_rec = rec("plaintext", "pyre", 1, 1, variant="pyre 9.9 (pure Python parser, uvloop available) with "
                                                      "CPython 3.11.7 on Linux, from /x/pyre")
    line = suite.version_line(cases["plaintext"], "pyre", pyre_rec, {})
    assert line.startswith("pyre 9.9 (pure Python parser, uvloop available); uvloop ") and "CPython" not in line
    assert line.endswith(" · `--loop uvloop`")
    facts = {"pyre_version": {"pyre": "pyre 9.8 (accelerated (Cython) parser, uvloop available) with CPython"},
             "uvicorn_ws_auto": "websockets-sansio"}
    assert suite.version_line(cases["ws-small-1"], "pyre", rec("ws-small-1", "pyre", 1, 1), facts).startswith(
        "pyre 9.8 (accelerated (Cython) parser, uvloop available); wsproto ")
    uvicorn_ws = suite.version_line(cases["ws-small-1"], "uvicorn", rec("ws-small-1", "uvicorn", 1, 1), facts)
    assert uvicorn_ws.startswith(f"uvicorn {ws._version('uvicorn')}, no --ws option (--ws auto): websockets-sansio;")
    h2 = rec("h2", "uvicorn", 1, 1, server_cmd="python -m uvicorn pyrebench_apps:hello --http zttp --http2")
    assert f"; zttp {ws._version('zttp')} · `--http zttp --http2`" in suite.version_line(cases["h2"], "uvicorn", h2,
                                                                                       facts)


SERVERS = ["pyre", "uvicorn", "granian", "hypercorn"]


def report_of(records: List[Dict[str, object]], names: List[str], servers: List[str] = SERVERS):
    cases = [c for c in suite.build_cases(list(suite.PARTS), [1], 100) if c.name in names]
    skipped = [{"round": 0, "case": c.name, "server": "hypercorn", "ok": False, "skipped": True,
                "error": "module 'hypercorn' is not installed"} for c in cases]
    records = records + skipped
    summary = suite.summarize(records, cases, servers, ["uvicorn", "granian"], {})
    meta = {"command": "python bench/suite.py", "interrupted": None,
            "facts": {"date": "d", "cpu_model": "cpu", "cores": 2, "kernel": "k", "loadavg_at_start": ["0.1"],
                      "python": "CPython 3.11.7", "wrk": "wrk 4.1.0", "versions": {"uvicorn": "0.55.0"},
                      "pyre_version": {"pyre": "pyre 1.0 (accelerated (Cython) parser, uvloop available)"}},
            "config": {"rounds": 2, "warmup": 1, "duration": 5, "server_cpu": "0", "client_cpu": "1",
                       "connections": 64, "workers_cpu": "0,1"}}
    md = suite.render(meta, records, summary, cases, servers, "uvicorn", ["uvicorn", "granian"], ["/o/ratios.png"])
    return summary, md


def test_report_pairs_flags_and_judges_the_goals():
    records = [rec("plaintext", "pyre", 1, 300), rec("plaintext", "uvicorn", 1, 100),
               rec("plaintext", "granian", 1, 200, client=95.0),
               rec("plaintext", "pyre", 2, 250), rec("plaintext", "uvicorn", 2, 125),
               rec("plaintext", "granian", 2, 125, client=97.0),
               rec("plaintext-2w", "pyre", 1, 400, threads=2), rec("plaintext-2w", "uvicorn", 1, 200, threads=2),
               rec("plaintext-2w", "granian", 1, 300, client=150.0, threads=2),
               rec("idle-memory", "pyre", 1, 4.0, client=None), rec("idle-memory", "uvicorn", 1, 8.0, client=None)]
    summary, md = report_of(records, ["plaintext", "idle-memory", "plaintext-2w"])
    lines = md.splitlines()
    assert lines[0].startswith("## ") and not any(line.startswith("# ") for line in lines)
    # The headline table: the baseline's median, the others' paired ratios (min–max), ‡ on a client-bound row.
    assert "| case | unit | uvicorn (median) | pyre | granian | hypercorn |" in lines
    assert "| plaintext | req/s | 112 | **2.50×** (2.00–3.00) | 1.50× (1.00–2.00) ‡ | — |" in lines
    assert "| idle-memory | KiB/conn (lower is better) | 8.0 | **0.50×** | — | — |" in lines
    # The goals, from Pyre's paired ratios; ‡ when a row of the comparison was client-bound.
    assert "| 6: plaintext at least 2.3× uvicorn | plaintext | uvicorn | ≥ 2.3× | 2.50× (2.00–3.00) | met |" in lines
    assert "| 7: two workers on both cores: at least 1.8× uvicorn | plaintext-2w | uvicorn | ≥ 1.8× | 2.00× | met |" \
        in lines
    assert "| 7: two workers on both cores: ahead of granian | plaintext-2w | granian | > 1.0× | 1.33× | met |" in lines
    assert not any("| 6: plaintext" in line and "granian" in line for line in lines)
    assert not any("| 3: json" in line for line in lines)  # a goal whose case did not run is left out
    # The case tables: version and mode per row, the load generator's CPU, ‡ and its note.
    granian_row = next(line for line in lines if line.startswith("| granian ‡ |"))
    assert "| 96% ‡ |" in granian_row and "paired" not in granian_row and "| 1.50× (1.00–2.00) | — |" in granian_row
    pyre_row = next(line for line in lines if line.startswith("| **pyre** |"))
    assert "| pyre-server " in pyre_row and " · `--loop uvloop` |" in pyre_row and "| 275 | ±9% | 2.50× (2.00–3.00) |" \
        in pyre_row
    assert suite.CLIENT_BOUND_NOTE in md and "- **hypercorn**: module 'hypercorn' is not installed" in md
    assert "#### idle-memory:" in md and "### workers: two workers per server on both cores" in md
    assert "Ratios are paired (same round) against **uvicorn** and **granian**." in md
    assert "-m10`, bench/bodyclient.py up and curl down, bench/wsload.c" in md  # --body-client auto
    assert "![ratios](ratios.png)" in md and "- `pyre`: pyre 1.0 (accelerated (Cython) parser" in md
    assert summary["plaintext-2w"]["granian"]["client_bound"] is False  # 150% of 2 cores: 75% each


def test_body_rows_give_the_peak_rss():
    records = [rec("upload", "pyre", 1, 900.0, rss_peak_kib=40 * 1024), rec("upload", "pyre", 2, 800.0,
                                                                           rss_peak_kib=42 * 1024),
               rec("upload", "uvicorn", 1, 450.0, rss_peak_kib=150 * 1024)]
    summary, md = report_of(records, ["upload"])
    assert summary["upload"]["pyre"]["rss_peak_kib_max"] == 42 * 1024
    assert "| upload | MB/s | 450.0 | **2.00×** | — | — |" in md
    assert "peak RSS of the server in MiB" in md and ": pyre 42.0, uvicorn 150.0_" in md


def test_report_says_why_a_row_failed():
    failed = {**rec("echo", "granian", 1, 0), "ok": False, "value": None, "error": "verification failed: 500"}
    _summary, md = report_of([rec("echo", "pyre", 1, 10), rec("echo", "uvicorn", 1, 5), failed], ["echo"])
    assert "| granian | | — | |" in md and "- **granian**: verification failed: 500" in md
    assert "| 3: POST 16 KiB echo at least 2× uvicorn | echo | uvicorn | ≥ 2.0× | 2.00× | met |" in md


def test_tools_follow_the_cases():
    cases = {c.name: c for c in suite.build_cases(list(suite.PARTS), [1], 100)}
    assert suite.needed_tools([cases["plaintext"]]) == ["taskset", "wrk"]
    assert suite.needed_tools([cases["h2-tls"], cases["download"]]) == ["curl", "h2load", "openssl", "taskset"]
    assert suite.needed_tools([cases["upload"]]) == ["taskset"]  # bench/bodyclient.py, not curl
    assert suite.needed_tools([cases["ws-deflate-1"], cases["idle-memory"]]) == ["gcc", "taskset"]


def test_charts_are_drawn_when_matplotlib_is_there(tmp_path, capsys):
    records = [rec("plaintext", "pyre", 1, 300), rec("plaintext", "uvicorn", 1, 100)]
    cases = suite.build_cases(["h1"], [1], 100)[:1]
    summary = suite.summarize(records, cases, ["pyre", "uvicorn"], ["uvicorn"], {})
    written = suite.draw_charts(tmp_path, summary, cases, ["pyre", "uvicorn"], "uvicorn")
    try:
        import matplotlib
    except ImportError:
        assert written == [] and "matplotlib is not installed" in capsys.readouterr().err
    else:
        assert matplotlib.get_backend().lower() == "agg"
        assert written == [str(tmp_path / "ratios.png"), str(tmp_path / "medians.png")]
        assert all(Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)


@pytest.mark.slow
def test_quick_run_against_pyre(tmp_path, capsys, monkeypatch):
    """The whole command, quick, against Pyre alone: bench/run.py (h2load), bench/ws.py and the idle check."""
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
    # A temporary folder of this test's own: another run of the suite (the other mode's
    # pass, say) may hold a pyre-suite-* folder of its own in the shared one meanwhile.
    own_tmp = tmp_path / "tmp"
    own_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(own_tmp))
    folders = set(Path(tempfile.gettempdir()).glob("pyre-suite-*"))
    code = suite.main(["--quick", "--servers", "pyre", "--cases", "h2,ws-small-1,idle-memory",
                       "--memory-connections", "20", "--connections", "4", "--no-charts", "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)) == handlers
    assert set(Path(tempfile.gettempdir()).glob("pyre-suite-*")) == folders  # its logs and client removed
    data = json.loads((tmp_path / "results.json").read_text())
    measured = [(r["case"], r["server"], r["ok"]) for r in data["records"]]
    assert measured == [("h2", "pyre", True), ("ws-small-1", "pyre", True), ("idle-memory", "pyre", True)]
    assert all(r["value"] > 0 for r in data["records"])
    md = (tmp_path / "report.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| **pyre** |")]
    assert len(rows) == 3 and all("| pyre 0.1.0 (" in row and "1/1 |" in row for row in rows)
    assert data["summary"]["idle-memory"]["pyre"]["ok_runs"] == 1


def test_the_reference_sender_has_a_row_and_a_column_in_its_case_only():
    records = [rec("download", "pyre", 1, 130.0), rec("download", "uvicorn", 1, 100.0),
               rec("download", "raw-download", 1, 110.0), rec("json", "pyre", 1, 300), rec("json", "uvicorn", 1, 100)]
    summary, md = report_of(records, ["json", "download"], servers=["pyre", "uvicorn", "raw-download"])
    assert "| 3: 100 MB download at least 1.5× uvicorn's throughput | download | uvicorn | ≥ 1.5× | 1.30× | " \
           "**not met** |" in md
    assert "| case | unit | uvicorn (median) | pyre |" in md and "| raw-download |" not in md.split("#### ")[0]
    download, json_table = md.split("#### download:")[1], md.split("#### json:")[1].split("####")[0]
    assert "paired vs raw-download" in download and "\n| raw-download | CPython " in download
    assert "raw-download" not in json_table
    assert summary["download"]["pyre"]["paired"]["raw-download"]["median"] == pytest.approx(130 / 110)
    assert summary["download"]["raw-download"]["paired"]["uvicorn"]["median"] == pytest.approx(1.1)


def test_the_reference_sender_skips_probes_and_stops_after_its_count():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(Path(run.__file__).parent / "raw_download.py"), "--port", str(port),
                             "--count", "1"])
    try:
        deadline = time.monotonic() + 10
        while True:  # a readiness probe, as bench/run.py's: connect and close
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "raw_download.py did not listen"
                time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            received = b""
            while b"\r\n\r\n" not in received:
                received += sock.recv(65536)
            head, _, body = received.partition(b"\r\n\r\n")
            total = len(body)
            while chunk := sock.recv(1 << 20):
                total += len(chunk)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"content-length: 100000000" in head
        assert total == apps.TRANSFER_SIZE
        assert proc.wait(10) == 0  # its one download served, it exits by itself
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
