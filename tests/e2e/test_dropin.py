"""Pyre as a drop-in, through the real CLI: in a Kubernetes pod, in a project that uses
pyre-check, with uvicorn's option values and log config, from a build without a compiler."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from tests.e2e.cli import ROOT, cli_env, run_cli

APP_SOURCE = textwrap.dedent('''
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b"hello"
        headers = [(b"content-length", b"5")]
        if scope["path"] == "/own-server":
            headers.append((b"server", b"app"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
''')

# What Kubernetes puts into every pod of a namespace with a Service named "pyre".
KUBERNETES = {
    "PYRE_SERVICE_HOST": "10.0.0.1",
    "PYRE_SERVICE_PORT": "8000",
    "PYRE_SERVICE_PORT_HTTP": "8000",
    "PYRE_PORT": "tcp://10.0.0.1:8000",
    "PYRE_PORT_8000_TCP": "tcp://10.0.0.1:8000",
    "PYRE_PORT_8000_TCP_PROTO": "tcp",
    "PYRE_PORT_8000_TCP_PORT": "8000",
    "PYRE_PORT_8000_TCP_ADDR": "10.0.0.1",
}


@pytest.fixture
def app_dir(tmp_path):
    (tmp_path / "dropapp.py").write_text(APP_SOURCE)
    return tmp_path


def _warnings(output: str) -> list:
    return [line for line in output.splitlines() if line.startswith("WARNING:")]


# -- Kubernetes --------------------------------------------------------------------------------------


def test_kubernetes_service_links_do_not_stop_pyre(app_dir, start_cli):
    env = dict(KUBERNETES, PYRE_WROKERS="2")
    running = start_cli("dropapp:app", "--port", "0", cwd=app_dir, env=env)
    assert httpx.get(running.url).text == "hello"
    assert running.stop() == 0
    warnings = _warnings("".join(running.output))
    assert len(warnings) == 2, warnings
    links = next(line for line in warnings if "Kubernetes" in line)
    assert all(name in links for name in KUBERNETES if name != "PYRE_PORT")  # --port given: not read
    assert "enableServiceLinks: false" in links
    assert any("PYRE_WROKERS: not a Pyre setting, ignored (did you mean PYRE_WORKERS?)" in w for w in warnings)


def test_kubernetes_port_link_without_port_option(app_dir, start_cli, tmp_path):
    """PYRE_PORT=tcp://... (and PYRE_HOST) with no --port: recognised and ignored.
    (On a Unix socket, so the test binds no fixed port.)"""
    sock = tmp_path / "k8s.sock"
    env = dict(KUBERNETES, PYRE_HOST="tcp://10.0.0.1:8000", PYRE_APP="dropapp:app")
    running = start_cli("--uds", str(sock), cwd=app_dir, env=env)
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock))) as client:
        assert client.get("http://localhost/").text == "hello"
    assert running.stop() == 0
    warnings = _warnings("".join(running.output))
    assert len(warnings) == 1 and "PYRE_HOST, PYRE_PORT," in warnings[0], warnings


def test_an_invalid_value_of_a_known_setting_is_still_an_error(app_dir):
    result = run_cli("dropapp:app", cwd=app_dir, env={"PYRE_PORT": "eighty"})
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: PYRE_PORT: invalid value 'eighty' (expected an integer port)"


# -- pyre-check's [tool.pyre] --------------------------------------------------------------------------


PYRE_CHECK = """
[tool.pyre]
source_directories = ["."]
strict = true
"""


def test_a_project_using_pyre_check_starts_and_reads_tool_pyre_server(app_dir, start_cli):
    (app_dir / "pyproject.toml").write_text(PYRE_CHECK)
    running = start_cli("dropapp:app", "--port", "0", cwd=app_dir)
    assert running.stop() == 0
    warnings = _warnings("".join(running.output))
    assert len(warnings) == 1 and "[tool.pyre] ignored" in warnings[0] and "source_directories" in warnings[0]

    (app_dir / "pyproject.toml").write_text(PYRE_CHECK + '\n[tool.pyre-server]\napp = "dropapp:app"\nport = 0\n')
    running = start_cli(cwd=app_dir)
    assert httpx.get(running.url).text == "hello"
    assert running.stop() == 0
    assert _warnings("".join(running.output)) == []


def test_the_old_tool_pyre_table_still_works_with_a_deprecation_warning(app_dir, start_cli):
    (app_dir / "pyproject.toml").write_text('[tool.pyre]\napp = "dropapp:app"\nport = 0\n')
    running = start_cli(cwd=app_dir)
    assert running.stop() == 0
    warnings = _warnings("".join(running.output))
    assert len(warnings) == 1 and "[tool.pyre] is deprecated" in warnings[0]


# -- the pyre-server command ----------------------------------------------------------------------


def test_the_pyre_server_command_is_pyre(app_dir):
    script = Path(sys.executable).with_name("pyre-server")
    assert script.exists(), "the pyre-server console script is not installed (pip install -e .)"
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True, env=cli_env(None))
    assert version.returncode == 0
    assert version.stdout == run_cli("--version").stdout
    bad = subprocess.run([str(script), "dropapp:app", "--port", "x"], capture_output=True, text=True,
                         env=cli_env(None), cwd=app_dir)
    assert bad.returncode == 1 and "Try 'pyre-server --help'" in bad.stderr
    proc = subprocess.Popen([str(script), "dropapp:app", "--port", "0"], cwd=app_dir, env=cli_env(None),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for line in proc.stderr:
            match = re.search(r"Pyre running on (\S+)", line)
            if match:
                url = match.group(1)
                break
        assert url is not None
        assert httpx.get(url).text == "hello"
    finally:
        proc.terminate()
        proc.wait(10)
