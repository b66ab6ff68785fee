"""bench/run.py's HTTP/2 load: h2load prints no percentiles, the harness takes them from
its per-request log."""

from __future__ import annotations

from bench import run as harness


def test_percentiles_come_from_h2load_per_request_log(tmp_path):
    log = tmp_path / "h2load.tsv"
    # h2load --log-file: start (µs since the epoch), status, µs until the response ended
    lines = [f"1700000000{i:06d}\t200\t{(i + 1) * 1000}\n" for i in range(1000)]
    log.write_text("".join(reversed(lines)))
    p = harness.h2load_percentiles(log)
    assert p == {"p50_ms": 501.0, "p75_ms": 751.0, "p90_ms": 901.0, "p99_ms": 991.0, "p999_ms": 1000.0}


def test_an_empty_h2load_log_gives_no_percentiles(tmp_path):
    log = tmp_path / "h2load.tsv"
    log.write_text("")
    assert harness.h2load_percentiles(log) == {}


def test_h2load_writes_its_log_only_when_asked(monkeypatch, tmp_path):
    seen = []

    class Done:
        stdout = ""

    monkeypatch.setattr(harness.subprocess, "run", lambda cmd, **kw: seen.append(cmd) or Done())
    harness.run_h2load("http://127.0.0.1:1/", 1, "1", 1)
    harness.run_h2load("http://127.0.0.1:1/", 1, "1", 1, tmp_path / "log.tsv")
    assert not any(arg.startswith("--log-file") for arg in seen[0])
    assert f"--log-file={tmp_path / 'log.tsv'}" in seen[1] and seen[1][-1] == "http://127.0.0.1:1/"
