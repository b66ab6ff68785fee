"""bench/ws.py without measuring: the baseline's command line, the load shapes, the options,
the client's command, the report's flags; and bench/wsload.c compressing for real against Pyre."""

from __future__ import annotations

import json
import subprocess
import zlib
from pathlib import Path
from typing import Dict

import pytest

from bench import ws


def argv_of(name: str):
    return ws.WS_SERVERS[name].server.argv("pyrebench_apps:ws_echo", 8000, 1)


def test_the_baseline_is_uvicorn_as_its_users_run_it():
    assert "--ws" not in argv_of("uvicorn")  # its default, --ws auto
    assert ws.WS_SERVERS["uvicorn"].uvicorn_ws == "auto"
    legacy = argv_of("uvicorn-websockets")
    assert legacy[legacy.index("--ws") + 1] == "websockets"
    sansio = argv_of("uvicorn-sansio")
    assert sansio[sansio.index("--ws") + 1] == "websockets-sansio"
    assert ws.BASELINE == "uvicorn"
    # Pyre runs with its own defaults too: nothing turns permessage-deflate off.
    assert "--ws-per-message-deflate" not in argv_of("pyre")


def test_uvicorn_auto_resolves_to_what_uvicorn_would_pick():
    from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

    expected = ws._UVICORN_WS_IMPLS[AutoWebSocketsProtocol.__module__.rsplit(".", 1)[-1]]
    assert ws.uvicorn_auto_ws() == expected


def test_every_row_names_version_and_mode():
    line = ws.server_line("uvicorn", auto_ws="websockets-sansio")
    assert line.startswith(f"uvicorn {ws._version('uvicorn')}, no --ws option (--ws auto): websockets-sansio; ")
    assert f"websockets {ws._version('websockets')}" in line
    assert ws.server_line("uvicorn-wsproto").startswith("uvicorn ") and "--ws wsproto: wsproto" in \
        ws.server_line("uvicorn-wsproto")
    assert ws.server_line("pyre", pyre_line="pyre 9.9 (accelerated)").startswith("pyre 9.9 (accelerated); wsproto ")


def test_one_in_flight_is_the_default():
    args = ws.parse_args([])
    assert (args.scenarios, args.in_flight, args.size) == (["small"], [1], 32)
    assert [(x.kind, x.in_flight, x.size, x.deflate) for x in args.loads] == [("small", 1, 32, False)]
    assert args.loads[0].name == "small, 1 in flight"


def test_scenarios_times_in_flight():
    args = ws.parse_args(["--scenarios", "small,64k,deflate", "--in-flight", "1,4,1", "--size", "100"])
    got = [(x.kind, x.in_flight, x.size, x.deflate) for x in args.loads]
    assert got == [("small", 1, 100, False), ("small", 4, 100, False), ("64k", 1, 65536, False),
                   ("64k", 4, 65536, False), ("deflate", 1, 1024, True), ("deflate", 4, 1024, True)]
    assert ws.parse_args(["--depth", "8"]).in_flight == [8]  # the old spelling


@pytest.mark.parametrize("argv, message", [
    (["--scenarios", "huge"], "unknown scenario(s) ['huge']"),
    (["--in-flight", "0"], "messages in flight must be >= 1"),
    (["--in-flight", "x"], "not a comma-separated list of integers"),
    (["--servers", "nginx"], "unknown server(s) ['nginx']"),
])
def test_bad_options_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        ws.parse_args(argv)
    assert message in capsys.readouterr().err


def test_client_command_carries_the_load():
    args = ws.parse_args(["--connections", "10", "--client-cpu", "1"])
    load = ws.Load("deflate", 1, 1024, deflate=True)
    cmd = ws.client_cmd(Path("/tmp/wsload"), 9000, args, load, 5.0, 1.0)
    assert cmd == ["taskset", "-c", "1", "/tmp/wsload", ws.HOST, "9000", "/", "10", "1", "5.0", "1024", "1.0", "1"]
    assert ws.client_cmd(Path("/tmp/wsload"), 9000, args, ws.Load("64k", 4, 65536), 5.0, 1.0)[-5:] == \
        ["4", "5.0", "65536", "1.0", "0"]


def run(server: str, rnd: int, mps: float, case: str = "small, 1 in flight", client: float = 40.0,
        **extra) -> Dict[str, object]:
    return {"round": rnd, "server": server, "case": case, "ok": True, "mps": mps, "p50_ms": 1.0, "p90_ms": 1.5,
            "p99_ms": 2.0, "errors": 0, "server_cpu_pct": 99.0, "client_cpu_pct": client, "other_cpu_pct": 1.0,
            "msgs_per_cpu_s": mps, **extra}


def test_ratios_are_paired_per_round_and_per_load():
    runs = [run("pyre", 1, 200), run("uvicorn", 1, 100), run("pyre", 2, 300), run("uvicorn", 2, 100),
            run("pyre", 1, 50, case="64k, 1 in flight"), run("uvicorn", 1, 100, case="64k, 1 in flight")]
    small = ws.summarize(runs, ["pyre", "uvicorn"], "small, 1 in flight")
    assert (small["pyre"]["ratio"], small["pyre"]["ratio_min"], small["pyre"]["ratio_max"]) == (2.5, 2.0, 3.0)
    assert ws.summarize(runs, ["pyre", "uvicorn"], "64k, 1 in flight")["pyre"]["ratio"] == 0.5


def render(runs, loads, servers=("pyre", "uvicorn")):
    meta = {"command": "python bench/ws.py", "config": vars(ws.parse_args([])) | {"rounds": 1},
            "facts": {"date": "d", "cpu_model": "cpu", "cores": 2, "kernel": "k", "loadavg_at_start": ["0"],
                      "python": "CPython 3.11", "gcc": "gcc", "versions": {"uvicorn": "0.55.0"},
                      "server_lines": {"pyre": "pyre 1.0 (accelerated)", "uvicorn": "uvicorn 0.55.0, no --ws option"}}}
    summaries = {x.name: ws.summarize(runs, list(servers), x.name) for x in loads}
    return ws.render(meta, summaries, loads, list(servers))


def test_report_flags_client_bound_rows_and_names_modes():
    load = ws.Load("small", 1, 32)
    md = render([run("pyre", 1, 200, client=97.0), run("uvicorn", 1, 100)], [load])
    pyre_row = next(line for line in md.splitlines() if line.startswith("| **pyre**"))
    assert "pyre 1.0 (accelerated)" in pyre_row and "**client-bound**" in pyre_row and "2.00×" in pyre_row
    uvicorn_row = next(line for line in md.splitlines() if line.startswith("| uvicorn"))
    assert "uvicorn 0.55.0, no --ws option" in uvicorn_row and "client-bound" not in uvicorn_row
    assert "## small, 1 in flight: 32-byte text messages, 1 in flight per connection" in md


def test_report_says_who_cannot_compress():
    load = ws.Load("deflate", 1, 1024, deflate=True)
    refused = {"round": 1, "server": "uvicorn", "case": load.name, "ok": False, "unsupported": True,
               "error": "verification failed: did not negotiate permessage-deflate"}
    md = render([run("pyre", 1, 200, case=load.name, compressed_frames=0), refused], [load])
    assert "- **uvicorn**: verification failed: did not negotiate permessage-deflate" in md
    assert "- **pyre**: negotiated permessage-deflate but sent its echoes uncompressed" in md


def test_deflate_helper_is_rfc7692():
    data = b"hello " * 50
    compressed = ws._deflate(data)
    assert not compressed.endswith(b"\x00\x00\xff\xff")
    assert zlib.decompressobj(wbits=-15).decompress(compressed + b"\x00\x00\xff\xff") == data


@pytest.mark.parametrize("deflate", [False, True])
def test_wsload_and_verify_against_pyre(start_cli, tmp_path, deflate):
    """The harness's own client and check, against a real Pyre: compressed both ways when asked."""
    running = start_cli("bench.apps:ws_echo", "--port", "0", "--no-access-log")
    port = int(running.url.rsplit(":", 1)[1])
    try:
        assert ws.verify(port, deflate) is None
        exe = ws.build_client(tmp_path)
        load = ws.Load("deflate" if deflate else "small", 1, 1024 if deflate else 32, deflate=deflate)
        cmd = [str(exe), ws.HOST, str(port), "/", "2", "1", "0.3", str(load.size), "0", "1" if deflate else "0"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert (result["errors"], result["connections_open"]) == (0, 2), out.stderr
        assert result["messages"] > 0
        assert result["deflate_connections"] == (2 if deflate else 0)
        assert (result["compressed_frames"] > 0) == deflate
    finally:
        assert running.stop() == 0, "".join(running.output)
