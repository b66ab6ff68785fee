"""The real CLI as a subprocess: ``pyre`` and ``python -m pyre``."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import List, Optional

import httpx
import pytest

from tests.e2e.cli import RUNNING, cli_env, command, run_cli

APP_SOURCE = textwrap.dedent('''
    import os

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    if os.environ.get("FAIL_STARTUP"):
                        await send({"type": "lifespan.startup.failed", "message": "no database"})
                        return
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = (scope["root_path"] + "|" + scope["path"] + "|" + os.environ.get("GREETING", "-")).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def create_app():
        return app
''')


@pytest.fixture
def app_dir(tmp_path):
    (tmp_path / "cliapp.py").write_text(APP_SOURCE)
    return tmp_path


def test_version_names_the_parser_mode():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("pyre 0.") and "parser" in result.stdout
    pure = run_cli("--version", env={"PYRE_NO_EXTENSIONS": "1"})
    assert "pure Python parser" in pure.stdout
    assert run_cli("--version", module=True).stdout == result.stdout


def test_help():
    result = run_cli("--help")
    assert result.returncode == 0
    for option in ("--host", "--port", "--uds", "--fd", "--http", "--loop", "--lifespan", "--root-path",
                   "--factory", "--app-dir", "--log-level", "--access-log", "--no-access-log",
                   "--timeout-keep-alive", "--limit-concurrency", "--h1-max-request-line",
                   "--h1-max-header-size", "--env-file", "--limit-request-body", "--no-server-header",
                   "--no-date-header", "--timeout-request-header"):
        assert option in result.stdout, option


@pytest.mark.parametrize("args, message", [
    (["app:app", "--port", "abc"], "--port"),
    (["app:app", "--port", "70000"], "--port"),
    (["app:app", "--timeout-keep-alive", "-1"], "--timeout-keep-alive"),
    (["app:app", "--loop", "trio"], "--loop"),
    (["app:app", "--no-such-option"], "--no-such-option"),
    (["app:app", "--root-path", "api"], "--root-path"),
    (["app:app", "--limit-request-body", "ten"], "--limit-request-body"),
    ([], "APP"),
])
def test_bad_options_print_one_line_and_exit_1(args, message):
    result = run_cli(*args)
    assert result.returncode == 1
    first = result.stderr.strip().splitlines()[0]
    assert first.startswith("Error:") and message in first
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("target, message", [
    ("nosuchmodule:app", 'Could not import module "nosuchmodule"'),
    ("cliapp:missing", 'Attribute "missing" not found in module "cliapp"'),
    ("cliapp", 'must be in format "<module>:<attribute>"'),
])
def test_unimportable_app_one_line_exit_1(app_dir, target, message):
    result = run_cli(target, "--app-dir", str(app_dir))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_serves_on_port_0_and_stops_cleanly_on_sigint(app_dir, start_cli):
    running = start_cli("cliapp:app", "--port", "0", "--app-dir", str(app_dir))
    port = int(running.url.rsplit(":", 1)[1])
    assert port != 0
    response = httpx.get(running.url + "/hello")
    assert response.text == "|/hello|-"
    assert running.stop(signal.SIGINT) == 0
    assert "Application shutdown complete" in "".join(running.output)


def test_sigterm_stops_cleanly(app_dir, start_cli):
    running = start_cli("cliapp:app", "--port", "0", "--app-dir", str(app_dir), module=True)
    assert httpx.get(running.url).status_code == 200
    assert running.stop(signal.SIGTERM) == 0


def test_options_reach_the_server(app_dir, start_cli, tmp_path):
    env_file = tmp_path / "test.env"
    env_file.write_text('# settings\nexport GREETING="hi there"\n')
    running = start_cli("cliapp:create_app", "--factory", "--port", "0", "--app-dir", str(app_dir),
                        "--root-path", "/api", "--env-file", str(env_file), "--no-server-header",
                        "--header", "X-Deployed:yes", "--loop", "asyncio", "--http", "h1",
                        "--no-access-log", "--log-level", "info")
    response = httpx.get(running.url + "/x")
    assert response.text == "/api|/api/x|hi there"
    assert "server" not in response.headers and response.headers["x-deployed"] == "yes"
    running.stop()
    assert '"GET /x HTTP/1.1"' not in "".join(running.output)


def test_settings_precedence_cli_then_environment_then_pyproject(app_dir, start_cli):
    (app_dir / "pyproject.toml").write_text(textwrap.dedent("""
        [tool.pyre-server]
        app = "cliapp:app"
        port = 0
        root-path = "/file"
        header = ["x-source: file"]
        server_header = false
    """))
    running = start_cli(cwd=app_dir, env={"PYRE_ROOT_PATH": "/env", "PYRE_SERVER_HEADER": "true"})
    response = httpx.get(running.url + "/x")
    assert response.text == "/env|/env/x|-"  # the environment beats the file
    assert response.headers["x-source"] == "file" and response.headers["server"] == "pyre"
    running.stop()
    running = start_cli("--root-path", "/cli", cwd=app_dir, env={"PYRE_ROOT_PATH": "/env"})
    assert httpx.get(running.url + "/x").text == "/cli|/cli/x|-"  # the command line beats both
    assert "server" not in httpx.get(running.url).headers
    running.stop()


@pytest.mark.parametrize("toml, env, message", [
    ("[tool.pyre-server]\napp = 'cliapp:app'\nprot = 1\n", {}, "Error: pyproject.toml [tool.pyre-server] prot: unknown setting"),
    ("[tool.pyre-server]\napp = 'cliapp:app'\nworkers = 'two'\n", {}, "Error: pyproject.toml [tool.pyre-server] workers: expected a number of workers, got"),
    ("", {"PYRE_APP": "cliapp:app", "PYRE_PORT": "http"}, "Error: PYRE_PORT: invalid value 'http'"),
])
def test_bad_settings_name_their_source(app_dir, toml, env, message):
    if toml:
        (app_dir / "pyproject.toml").write_text(toml)
    result = run_cli(cwd=app_dir, env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr


def test_access_log_lines(app_dir, start_cli):
    proc_args = ("cliapp:app", "--port", "0", "--app-dir", str(app_dir))
    running = start_cli(*proc_args)
    httpx.get(running.url + "/logged?x=1")
    running.stop()
    # Access lines go to stdout (DEVNULL here); run again capturing stdout.
    env = cli_env(None)
    proc = subprocess.Popen(command(*proc_args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while "Pyre running on" not in line:
            line = proc.stderr.readline()
            assert line, "server did not start"
        url = RUNNING.search(line).group(1)
        httpx.get(url + "/logged?x=1")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert re.search(r'INFO: +127\.0\.0\.1:\d+ - "GET /logged\?x=1 HTTP/1\.1" 200', out), out


def test_lifespan_startup_failure_exits_3(app_dir):
    result = run_cli("cliapp:app", "--port", "0", "--app-dir", str(app_dir), "--lifespan", "on",
                     env={"FAIL_STARTUP": "1"})
    assert result.returncode == 3
    assert "no database" in result.stderr


def test_missing_env_file_exits_1(app_dir):
    result = run_cli("cliapp:app", "--app-dir", str(app_dir), "--env-file", "/nonexistent/.env")
    assert result.returncode == 1 and "--env-file" in result.stderr and "not found" in result.stderr


def test_port_in_use_exits_non_zero(app_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("cliapp:app", "--port", str(port), "--app-dir", str(app_dir))
    assert result.returncode == 3
    assert "could not bind" in result.stderr and str(port) in result.stderr


def test_unix_domain_socket(app_dir, start_cli, tmp_path):
    path = tmp_path / "pyre.sock"
    running = start_cli("cliapp:app", "--uds", str(path), "--app-dir", str(app_dir))
    transport = httpx.HTTPTransport(uds=str(path))
    with httpx.Client(transport=transport) as client:
        assert client.get("http://localhost/u").text == "|/u|-"
    assert oct(path.stat().st_mode & 0o777) == "0o666"
    assert running.stop() == 0


def test_unix_domain_socket_permissions(app_dir, start_cli, tmp_path):
    path = tmp_path / "private.sock"
    running = start_cli("cliapp:app", "--uds", str(path), "--uds-perms", "600", "--app-dir", str(app_dir))
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(path))) as client:
        assert client.get("http://localhost/p").status_code == 200
    assert running.stop() == 0
    assert not path.exists()  # removed on exit
    result = run_cli("cliapp:app", "--uds", str(path), "--uds-perms", "rw", "--app-dir", str(app_dir))
    assert result.returncode == 1 and "--uds-perms: invalid value 'rw'" in result.stderr


def test_systemd_socket_activation(app_dir):
    """LISTEN_FDS=1 with LISTEN_PID of the process: serve file descriptor 3."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    # As systemd does: the socket on fd 3, and LISTEN_PID the pid that will run pyre
    # (the shell's own, which exec keeps).
    script = f'exec 3<&{sock.fileno()}; export LISTEN_FDS=1 LISTEN_PID=$$; exec "$@"'
    proc = subprocess.Popen(["bash", "-c", script, "bash", *command("cliapp:app", "--app-dir", str(app_dir))],
                            env=cli_env(None), pass_fds=(sock.fileno(),), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/sd", timeout=2).text == "|/sd|-"
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "pyre did not serve fd 3"
                time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert "Pyre running on http://127.0.0.1:%d" % port in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        sock.close()


def test_file_descriptor(app_dir, start_cli):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    try:
        running = start_cli("cliapp:app", "--fd", str(sock.fileno()), "--app-dir", str(app_dir),
                            pass_fds=(sock.fileno(),))
        assert httpx.get(f"http://127.0.0.1:{port}/fd").text == "|/fd|-"
        assert running.stop() == 0
    finally:
        sock.close()
