"""bench/run.py's TLS and request-body scenarios: command lines, scenario definitions,
curl's and bench/bodyclient.py's output, the report; and, against a real Pyre, the TLS verification
and the transfers."""

from __future__ import annotations

import argparse
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, List

import pytest

from bench import apps
from bench import run as harness

CERT_FLAGS = {
    "pyre": ("--ssl-certfile", "--ssl-keyfile"),
    "uvicorn": ("--ssl-certfile", "--ssl-keyfile"),
    "hypercorn": ("--certfile", "--keyfile"),
    "granian": ("--ssl-certificate", "--ssl-keyfile"),
}


def argv(server: str, scenario: str) -> List[str]:
    return harness.server_argv(harness.SERVERS[server], harness.SCENARIOS[scenario], "pyrebench_apps:hello", 8443, 1)


def flag_value(cmd: List[str], flag: str) -> str:
    assert cmd.count(flag) == 1, cmd
    return cmd[cmd.index(flag) + 1]


def test_tls_scenarios_are_defined():
    tls, close, h2 = (harness.SCENARIOS[n] for n in ("tls", "tls-close", "h2-tls"))
    assert (tls.tls, tls.close, tls.h2, tls.app) == (True, False, False, "hello")
    assert (close.tls, close.close, close.h2, close.app) == (True, True, False, "hello")
    assert (h2.tls, h2.close, h2.h2, h2.app) == (True, False, True, "hello")
    assert not any(harness.SCENARIOS[n].tls for n in ("plaintext", "h2", "upload", "download"))


def test_connection_close_is_sent_only_by_the_new_connection_scenario():
    assert 'wrk.headers["Connection"] = "close"' in harness.SCENARIOS["tls-close"].lua()
    assert "Connection" not in harness.SCENARIOS["tls"].lua()
    assert "Connection" not in harness.SCENARIOS["plaintext"].lua()


@pytest.mark.parametrize("server", sorted(CERT_FLAGS))
@pytest.mark.parametrize("scenario", ["tls", "tls-close", "h2-tls"])
def test_every_server_gets_the_same_certificate_with_its_own_flags(server, scenario):
    cmd = argv(server, scenario)
    cert_flag, key_flag = CERT_FLAGS[server]
    files = harness.tls_files()
    assert flag_value(cmd, cert_flag) == str(files["cert"])
    assert flag_value(cmd, key_flag) == str(files["key"])


@pytest.mark.parametrize("server", sorted(CERT_FLAGS))
def test_tls_adds_only_the_certificate_to_the_default_command(server):
    plain = argv(server, "plaintext")
    assert argv(server, "tls") == plain + [CERT_FLAGS[server][0], str(harness.tls_files()["cert"]),
                                           CERT_FLAGS[server][1], str(harness.tls_files()["key"])]
    assert argv(server, "tls-close") == argv(server, "tls")


def test_http2_over_tls_uses_defaults_except_where_the_default_has_no_http2():
    for server in ("pyre", "hypercorn", "granian"):
        assert argv(server, "h2-tls") == argv(server, "tls"), server
    uvicorn = argv("uvicorn", "h2-tls")
    assert flag_value(uvicorn, "--http") == "zttp" and "--http2" in uvicorn
    assert flag_value(argv("uvicorn", "tls"), "--http") == "httptools"
    assert harness.SERVERS["uvicorn-h11"].unsupported("h2-tls")
    assert harness.SERVERS["raw"].unsupported("tls") and harness.SERVERS["raw"].unsupported("upload")


def test_the_certificate_is_made_once_and_valid_for_the_loopback_address():
    files = harness.tls_files()
    assert harness.tls_files() is files
    context = ssl.create_default_context(cafile=str(files["cert"]))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(files["cert"]), str(files["key"]))
    assert context.cert_store_stats()["x509_ca"] == 1
    text = files["cert"].read_text()
    assert text.startswith("-----BEGIN CERTIFICATE-----")
    decoded = ssl._ssl._test_decode_cert(str(files["cert"]))  # type: ignore[attr-defined]
    assert ("IP Address", "127.0.0.1") in decoded["subjectAltName"]


def test_body_scenarios_are_defined():
    up, down = harness.SCENARIOS["upload"], harness.SCENARIOS["download"]
    assert (up.transfer, up.method, up.app, up.tls) == ("upload", "POST", "upload", False)
    assert (down.transfer, down.method, down.app, down.tls) == ("download", "GET", "download", False)
    assert apps.TRANSFER_SIZE == 100_000_000


def test_curl_commands_are_pinned_bounded_and_stream_the_upload(tmp_path):
    upload = tmp_path / "upload.bin"
    cmd = harness.curl_command(harness.SCENARIOS["upload"], 8000, "1", upload)
    assert cmd[:4] == ["taskset", "-c", "1", "curl"]
    assert flag_value(cmd, "--max-time") == str(harness.CURL_TIMEOUT)
    assert flag_value(cmd, "--request") == "POST" and flag_value(cmd, "--upload-file") == str(upload)
    assert "Expect:" in cmd and cmd[-1] == "http://127.0.0.1:8000/upload"
    down = harness.curl_command(harness.SCENARIOS["download"], 8000, "1", None)
    assert flag_value(down, "--output") == "/dev/null" and "--upload-file" not in down
    assert down[-1] == "http://127.0.0.1:8000/download"
    with pytest.raises(ValueError):
        harness.curl_command(harness.SCENARIOS["upload"], 8000, "1", None)


def test_upload_file_has_the_transfer_size(tmp_path):
    path = harness.make_upload_file(tmp_path)
    assert path.stat().st_size == apps.TRANSFER_SIZE
    with open(path, "rb") as f:
        assert f.read(256) == bytes(range(256))


@pytest.mark.parametrize("scenario,out,error", [
    ("upload", f"{apps.TRANSFER_SIZE}\n200 {apps.TRANSFER_SIZE} 9 0.25\n", None),
    ("upload", f"99\n200 {apps.TRANSFER_SIZE} 2 0.25\n", "the app counted '99'"),
    ("upload", f"{apps.TRANSFER_SIZE}\n413 {apps.TRANSFER_SIZE} 9 0.25\n", "got 413"),
    ("download", f"\n200 0 {apps.TRANSFER_SIZE} 0.5\n", None),
    ("download", "\n200 0 1000 0.5\n", "received 1000 of"),
    ("download", "", "unexpected output"),
    ("download", "\nabc 0 0 x\n", "unexpected output"),
])
def test_curl_output_is_checked(scenario, out, error):
    err, seconds = harness.parse_curl(harness.SCENARIOS[scenario], out)
    if error is None:
        assert err is None and seconds in (0.25, 0.5)
    else:
        assert err is not None and error in err


def transfer_run(server: str, rnd: int, mbps: float, client: float = 50.0, peak: int = 60_000) -> Dict[str, object]:
    return {"round": rnd, "scenario": "upload", "server": server, "ok": True, "rps": mbps, "mb_per_s": mbps,
            "rps_per_cpu": mbps, "server_cpu_pct": 100.0, "wrk_cpu_pct": client, "other_cpu_pct": 5.0,
            "socket_errors": {}, "non_2xx_3xx": 0, "rss_idle_kib": 30_000, "rss_peak_kib": peak,
            "server_cmd": f"taskset -c 0 python -m {server} pyrebench_apps:upload"}


def test_body_report_gives_throughput_ratios_rss_and_flags_a_client_bound_row():
    runs = [transfer_run("uvicorn", 1, 400, peak=150_000), transfer_run("pyre", 1, 800, client=97),
            transfer_run("uvicorn", 2, 500, peak=140_000), transfer_run("pyre", 2, 900, client=95)]
    summary = harness.summarize(runs, ["upload"], ["pyre", "uvicorn"], "uvicorn")
    pyre = summary["upload"]["pyre"]
    assert pyre["rps_median"] == 850 and pyre["rps_ratio"] == pytest.approx(850 / 450)
    assert pyre["rss_peak_kib_max"] == 60_000 and summary["upload"]["uvicorn"]["rss_peak_kib_max"] == 150_000
    notes: List[str] = []
    lines = harness.render_transfer("upload", summary, ["pyre", "uvicorn"], "uvicorn", notes)
    row = next(line for line in lines if line.startswith("| pyre"))
    assert row.startswith("| pyre ‡ | 850 |") and "| 1.89× |" in row and "| 58.6 |" in row
    assert next(line for line in lines if line.startswith("| uvicorn |")).count("146.5") == 1
    assert any(harness.CLIENT_BOUND_NOTE in line for line in lines)
    assert any("python -m pyre pyrebench_apps:upload" in line for line in lines)


def test_request_table_flags_a_client_bound_row():
    def run(server: str, wrk: float) -> Dict[str, object]:
        return {"round": 1, "scenario": "tls", "server": server, "ok": True, "rps": 1000.0, "server_cpu_pct": 99.0,
                "wrk_cpu_pct": wrk, "other_cpu_pct": 1.0, "socket_errors": {"connect": 0}, "non_2xx_3xx": 0,
                "server_cmd": f"{server} --tls"}

    runs = [run("pyre", 96), run("uvicorn", 40)]
    summary = harness.summarize(runs, ["tls"], ["pyre", "uvicorn"], "uvicorn")
    meta = {"command": "x", "facts": {}, "config": {}}
    text = harness.render_markdown(meta, summary, ["tls"], ["pyre", "uvicorn"], "uvicorn", include_meta=False)
    assert "| pyre ‡ |" in text and "| uvicorn |" in text
    assert harness.CLIENT_BOUND_NOTE in text and "pyre: `pyre --tls`" in text


# ---- against a real Pyre (started and stopped by bench/run.py's own process handling) ------------


def args(duration: int = 1) -> argparse.Namespace:
    return argparse.Namespace(server_cpu="0", client_cpu="1", workers=1, duration=duration, warmup=0)


@pytest.fixture
def logdir(tmp_path) -> Path:
    return tmp_path


@pytest.mark.parametrize("scenario", ["tls", "tls-close", "h2-tls"])
def test_pyre_over_tls_passes_verification(scenario, logdir):
    rec: Dict[str, object] = {}
    sp, err = harness.start_server(harness.SERVERS["pyre"], harness.SCENARIOS[scenario], args(), logdir, rec)
    try:
        assert err is None
        err, headers = harness.verify(harness.SCENARIOS[scenario], sp.port)
        assert err is None
        if scenario != "h2-tls":
            assert headers["tls"].startswith("TLSv1.3")
    finally:
        assert sp.stop().startswith("SIGINT")


def test_verification_fails_when_the_server_keeps_the_connection_open():
    """A server that ignores Connection: close would turn tls-close into a keep-alive run."""
    files = harness.tls_files()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(files["cert"]), str(files["key"]))
    listener = socket.create_server((harness.HOST, 0))
    port = listener.getsockname()[1]
    done = threading.Event()

    def serve() -> None:
        raw, _ = listener.accept()
        with context.wrap_socket(raw, server_side=True) as conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n" + apps.HELLO_BODY)
            done.wait(10)  # and keeps the connection open

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        err, headers = harness.verify_tls(harness.SCENARIOS["tls-close"], port, timeout=1.0)
    finally:
        done.set()
        thread.join(10)
        listener.close()
    assert err == "the server did not close the connection after a request with Connection: close"
    assert headers["content-length"] == "13"


def test_pyre_download_is_measured_with_its_peak_rss(logdir):
    rec = harness.measure_transfer(harness.SERVERS["pyre"], harness.SCENARIOS["download"], args(), logdir, 1)
    assert rec["ok"], rec.get("error")
    assert rec["transfers"] >= 1 and rec["mb_per_s"] > 0
    assert 0 < rec["rss_idle_kib"] <= rec["rss_peak_kib"]
    assert rec["wrk_cmd"].startswith("taskset -c 1 curl ")  # --body-client auto: curl receives
    # CPU shares of the transfers' own time; the client's start-up measured and taken out.
    assert rec["client_startup_ms"] > 0 and rec["server_cpu_pct"] > 0 and rec["wrk_cpu_pct"] >= 0


def test_client_startup_is_measured_with_the_same_command_against_a_refused_port(monkeypatch):
    cmd = harness.body_client_command(harness.SCENARIOS["download"], 8123, "1", None, "curl")
    calls = []

    def fake_run(argv, **kwargs):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 7, b"", b"")

    monkeypatch.setattr(harness.subprocess, "run", fake_run)
    assert harness.client_startup_seconds(cmd) >= 0
    assert len(calls) == 3
    assert cmd[-1].startswith("http://")
    for argv in calls:
        assert argv[:-1] == cmd[:-1]  # the same client, options and CPU
        assert argv[-1].startswith(f"http://{harness.HOST}:") and argv[-1] != cmd[-1]


def test_pyre_download_received_with_splice(logdir):
    namespace = args()
    namespace.body_client = "splice"
    rec = harness.measure_transfer(harness.SERVERS["pyre"], harness.SCENARIOS["download"], namespace, logdir, 1)
    assert rec["ok"], rec.get("error")  # parse_curl checked that all 10^8 bytes arrived, every time
    assert rec["transfers"] >= 1 and rec["mb_per_s"] > 0
    assert rec["wrk_cmd"].startswith(f"taskset -c 1 {sys.executable} -I -S ") and " --splice " in rec["wrk_cmd"]


def test_pyre_upload_with_bodyclient_is_counted_by_the_app(logdir, tmp_path):
    namespace = args()
    namespace.upload_file = harness.make_upload_file(tmp_path)
    rec = harness.measure_transfer(harness.SERVERS["pyre"], harness.SCENARIOS["upload"], namespace, logdir, 1)
    assert rec["ok"], rec.get("error")  # parse_curl checked the app's count of 10^8 bytes every time
    assert rec["transfers"] >= 1 and rec["mb_per_s"] > 0
    assert rec["wrk_cmd"].startswith(f"taskset -c 1 {sys.executable} -I -S ")  # auto: bodyclient sends
    assert "bench/bodyclient.py --max-time 60 --upload-file " in rec["wrk_cmd"]


def test_body_client_commands_are_pinned_bounded_and_send_the_file(tmp_path):
    upload = tmp_path / "upload.bin"
    cmd = harness.body_client_command(harness.SCENARIOS["upload"], 8000, "1", upload)
    assert cmd[:4] == ["taskset", "-c", "1", sys.executable] and cmd[6].endswith("bench/bodyclient.py")
    assert flag_value(cmd, "--max-time") == str(harness.CURL_TIMEOUT)
    assert flag_value(cmd, "--upload-file") == str(upload) and cmd[-1] == "http://127.0.0.1:8000/upload"
    down = harness.body_client_command(harness.SCENARIOS["download"], 8000, "1", None, "bodyclient")
    assert "--upload-file" not in down and down[-1] == "http://127.0.0.1:8000/download"
    assert down[:4] == cmd[:4] and "--splice" not in down
    # splice: the same sender up; down, the body spliced to /dev/null.
    assert harness.body_client_command(harness.SCENARIOS["download"], 8000, "1", None, "splice") == \
        down[:-1] + ["--splice", down[-1]]
    assert harness.body_client_command(harness.SCENARIOS["upload"], 8000, "1", upload, "splice") == cmd
    for client in ("auto", "curl"):
        assert harness.body_client_command(harness.SCENARIOS["download"], 8000, "1", None, client) == \
            harness.curl_command(harness.SCENARIOS["download"], 8000, "1", None)
    assert harness.body_client_command(harness.SCENARIOS["upload"], 8000, "1", upload, "curl") == \
        harness.curl_command(harness.SCENARIOS["upload"], 8000, "1", upload)
    with pytest.raises(ValueError):
        harness.body_client_command(harness.SCENARIOS["upload"], 8000, "1", None)
    with pytest.raises(ValueError):
        harness.body_client_command(harness.SCENARIOS["download"], 8000, "1", None, "wget")
    assert harness.parse_args(["--scenarios", "upload"]).body_client == "auto"


def _one_response_server(response: bytes, expect: int):
    """A listener that reads ``expect`` request bytes past the head, answers ``response``
    and closes: what bodyclient sees from a server, without one."""
    listener = socket.create_server((harness.HOST, 0))
    got: Dict[str, object] = {}

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            received = len(rest)
            while received < expect:
                received += len(conn.recv(1 << 20))
            got.update(head=head, received=received)
            conn.sendall(response)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread, got


@pytest.mark.parametrize("scenario, client", [("upload", "bodyclient"), ("download", "bodyclient"),
                                              ("download", "splice")])
def test_bodyclient_output_is_what_parse_curl_reads(scenario, client, tmp_path):
    size = 300_000
    if scenario == "upload":
        upload = tmp_path / "body.bin"
        upload.write_bytes(b"u" * size)
        response = b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\n300000"
    else:
        upload = None
        response = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size + b"d" * size
    listener, thread, got = _one_response_server(response, size if upload else 0)
    try:
        cmd = harness.body_client_command(harness.SCENARIOS[scenario], listener.getsockname()[1], "1", upload,
                                          client)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    finally:
        thread.join(10)
        listener.close()
    assert proc.returncode == 0, proc.stderr
    body, _, last = proc.stdout.rstrip("\n").rpartition("\n")
    status, up, down, seconds = last.split()
    assert (int(status), int(up), int(down)) == (200, size if upload else 0, 6 if upload else size)
    assert float(seconds) > 0 and body == ("300000" if upload else "")
    assert got["received"] == (size if upload else 0)
    method = b"POST /upload" if upload else b"GET /download"
    assert got["head"].startswith(method + b" HTTP/1.1\r\n")
    if upload:
        assert b"content-length: 300000" in got["head"]
