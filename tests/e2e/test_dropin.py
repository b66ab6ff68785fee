"""Pyre as a drop-in, through the real CLI: in a Kubernetes pod, in a project that uses
pyre-check, with uvicorn's option values and log config, from a build without a compiler."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import httpx
import pytest

from tests.e2e.cli import RUNNING, ROOT, cli_env, command, run_cli
from tests.helpers import KUBERNETES_SERVICE_LINKS

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

KUBERNETES = KUBERNETES_SERVICE_LINKS


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


# -- uvicorn's values, names and log config ------------------------------------------------------------


class Served:
    """The CLI with stdout (the access log) kept in a file; stderr read up to "running on"."""

    def __init__(self, args, cwd, env=None, tmp=None, module: bool = False):
        self.out_path = Path(tmp or cwd) / "stdout.log"
        self._out = open(self.out_path, "w")
        # A full environment (with PYTHONPATH) is used as given; extra variables join the CLI's.
        env = env if env is not None and "PYTHONPATH" in env else cli_env(env)
        self.proc = subprocess.Popen([*command(*args, module=module)], cwd=cwd, env=env, stdout=self._out,
                                     stderr=subprocess.PIPE, text=True)
        self.err: list = []
        self.url = None
        self._started = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._started.wait(20) or self.url is None:
            self.stop()
            raise AssertionError("pyre did not start:\n" + "".join(self.err))

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.err.append(line)
            match = RUNNING.search(line)
            if match and self.url is None:
                self.url = match.group(1)
                self._started.set()
        self._started.set()  # ended without starting

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)
        self._out.close()
        return self.proc.returncode

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    @property
    def stdout(self) -> str:
        return self.out_path.read_text()


@pytest.mark.parametrize("args, notes", [
    (["--http", "h11", "--ws", "websockets", "--loop", "asyncio"],
     ["--http h11: uvicorn's HTTP implementation", "--ws websockets: uvicorn's WebSocket implementation"]),
    (["--http", "httptools", "--ws", "websockets-sansio", "--loop", "zuvloop"],
     ["(--http h1)", "(--ws auto)", "--loop zuvloop: not a loop Pyre has; using the fastest installed"]),
    (["--loop", "none", "--http", "zttp"], ["--loop none:", "(--loop asyncio)", "(--http auto)"]),
    (["--loop", "asyncio:new_event_loop"], []),
    (["--h11-max-incomplete-event-size", "32768", "--ssl-version", "17"], []),
])
def test_uvicorns_option_values_are_accepted_with_a_note(app_dir, args, notes):
    served = Served(["dropapp:app", "--port", "0", *args], app_dir)
    try:
        assert httpx.get(served.url).text == "hello"
    finally:
        assert served.stop() == 0
    info = [line for line in served.stderr.splitlines() if line.startswith("INFO:") and "uvicorn" in line
            or "--loop" in line]
    for note in notes:
        assert any(note in line for line in info), (note, served.stderr)
    if not notes:
        assert not any("uvicorn's" in line for line in served.stderr.splitlines()), served.stderr


def test_h11_max_incomplete_event_size_is_the_header_limit(app_dir):
    served = Served(["dropapp:app", "--port", "0", "--h11-max-incomplete-event-size", "1024"], app_dir)
    try:
        assert httpx.get(served.url, headers={"x-big": "a" * 2000}).status_code == 431
        assert httpx.get(served.url, headers={"x-small": "a" * 100}).status_code == 200
    finally:
        served.stop()


def test_refused_uvicorn_values_name_the_option(app_dir):
    result = run_cli("dropapp:app", "--ssl-version", "3", cwd=app_dir)
    assert result.returncode == 1 and "TLS 1.0 and 1.1 are insecure" in result.stderr
    result = run_cli("dropapp:app", "--loop", "nosuchmod:factory", "--port", "0", cwd=app_dir)
    assert result.returncode == 1 and "loop: Could not import module \"nosuchmod\"" in result.stderr


UVICORN_LOG_CONFIG = {  # the shape of uvicorn's own LOGGING_CONFIG, with formats that show they are used
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "default": {"()": "uvicorn.logging.DefaultFormatter", "fmt": "DEFAULT %(levelprefix)s %(message)s",
                    "use_colors": None},
        "access": {"()": "uvicorn.logging.AccessFormatter",
                   "fmt": 'ACCESS %(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
                   "use_colors": False},
    },
    "handlers": {
        "default": {"formatter": "default", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
        "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
    },
    "loggers": {
        "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}

UVICORN_INI = """
[loggers]
keys=root,uvicorn,access

[handlers]
keys=err,out

[formatters]
keys=plain,access

[logger_root]
level=WARNING
handlers=

[logger_uvicorn]
level=INFO
handlers=err
propagate=0
qualname=uvicorn

[logger_access]
level=INFO
handlers=out
propagate=0
qualname=uvicorn.access

[handler_err]
class=StreamHandler
formatter=plain
args=(sys.stderr,)

[handler_out]
class=StreamHandler
formatter=access
args=(sys.stdout,)

[formatter_plain]
class=uvicorn.logging.DefaultFormatter
format=INI %(levelprefix)s %(message)s

[formatter_access]
class=uvicorn.logging.AccessFormatter
format=INI-ACCESS %(client_addr)s "%(request_line)s" %(status_code)s
"""


@pytest.mark.parametrize("kind", ["json", "ini"])
def test_a_uvicorn_log_config_configures_pyres_loggers(app_dir, kind):
    if kind == "json":
        path = app_dir / "logging.json"
        path.write_text(json.dumps(UVICORN_LOG_CONFIG))
        error_prefix, access_prefix = "DEFAULT INFO:", "ACCESS INFO:"
    else:
        path = app_dir / "logging.ini"
        path.write_text(UVICORN_INI)
        error_prefix, access_prefix = "INI INFO:", "INI-ACCESS"
    served = Served(["dropapp:app", "--port", "0", "--log-config", str(path)], app_dir)
    try:
        assert httpx.get(served.url + "/x?y=1").text == "hello"
    finally:
        assert served.stop() == 0
    err = served.stderr.splitlines()
    assert any(line.startswith(error_prefix) and "Pyre running on" in line for line in err), err
    assert any("uvicorn's loggers configure Pyre's" in line and "uvicorn.access -> pyre.access" in line
               for line in err), err
    [access] = [line for line in served.stdout.splitlines() if line.startswith(access_prefix)]
    assert re.search(r'127\.0\.0\.1:\d+ - "GET /x\?y=1 HTTP/1\.1" 200 OK$|127\.0\.0\.1:\d+ "GET /x\?y=1 HTTP/1\.1" '
                     r'200 OK$', access), access


# -- the server header -----------------------------------------------------------------------------


@pytest.mark.parametrize("pure", ["0", "1"])
def test_header_server_replaces_the_default_server_header(app_dir, pure):
    env = {"PYRE_NO_EXTENSIONS": pure}
    served = Served(["dropapp:app", "--port", "0", "--header", "Server:custom/1", "--header", "x-extra:1"], app_dir,
                    env)
    try:
        response = httpx.get(served.url)
        assert response.headers.get_list("server") == ["custom/1"] and response.headers["x-extra"] == "1"
        own = httpx.get(served.url + "/own-server")  # the application's own server header wins
        assert own.headers.get_list("server") == ["app"]
        with httpx.Client(http1=False, http2=True) as client:  # h2c prior knowledge
            h2 = client.get(served.url)
            assert h2.http_version == "HTTP/2"
            assert h2.headers.get_list("server") == ["custom/1"] and h2.headers["x-extra"] == "1"
            assert client.get(served.url + "/own-server").headers.get_list("server") == ["app"]
    finally:
        served.stop()
    # --no-server-header with a server header given: the given one, as uvicorn's.
    served = Served(["dropapp:app", "--port", "0", "--no-server-header", "--header", "server:given"], app_dir, env)
    try:
        assert httpx.get(served.url).headers.get_list("server") == ["given"]
    finally:
        served.stop()


# -- an application that fails at import -------------------------------------------------------------


def test_an_import_error_prints_the_applications_traceback(app_dir):
    (app_dir / "brokenapp.py").write_text("import os\n\n\ndef setup():\n    return 1 / 0\n\n\nvalue = setup()\n")
    result = run_cli("brokenapp:app", cwd=app_dir)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0] == 'Error: Error loading ASGI app. Error importing module "brokenapp": ZeroDivisionError: ' \
                       "division by zero"
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "ZeroDivisionError: division by zero"
    trace = "\n".join(lines[1:])
    assert str(app_dir / "brokenapp.py") in trace and "line 8" in trace and "line 5, in setup" in trace
    assert "importlib" not in trace and "pyre" not in trace.replace(str(app_dir), "")  # trimmed to the app's frames
    missing = run_cli("nosuchmodule_xyz:app", cwd=app_dir)  # no traceback for a module that does not exist
    assert missing.returncode == 1 and len(missing.stderr.strip().splitlines()) == 1


# -- a build without the compiled speed-ups ----------------------------------------------------------


def _pure_build(tmp_path) -> Path:
    """The package as pip installs it without a C compiler: no compiled modules."""
    target = tmp_path / "pure-site"
    shutil.copytree(ROOT / "pyre", target / "pyre",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.c", "__pycache__", "*.html"))
    return target


def test_a_pure_build_says_so_at_every_start(app_dir, tmp_path):
    site = _pure_build(tmp_path)
    env = dict(cli_env(None), PYTHONPATH=f"{site}{os.pathsep}{app_dir}")
    env.pop("PYRE_NO_EXTENSIONS", None)
    version = subprocess.run([sys.executable, "-m", "pyre", "--version"], env=env, capture_output=True, text=True,
                             cwd=app_dir)
    assert "pure Python parser" in version.stdout, version
    served = Served(["dropapp:app", "--port", "0"], app_dir, env=env, module=True)
    try:
        assert httpx.get(served.url).text == "hello"
    finally:
        served.stop()
    warnings = _warnings(served.stderr)
    assert warnings == ["WARNING:  pure-Python parser: about 2x slower; install a C compiler and reinstall"], \
        served.stderr
    # Asked for with PYRE_NO_EXTENSIONS=1: no warning.
    served = Served(["dropapp:app", "--port", "0"], app_dir, env=dict(env, PYRE_NO_EXTENSIONS="1"), module=True)
    served.stop()
    assert _warnings(served.stderr) == []


def test_the_suites_build_does_not_warn(app_dir):
    """Compiled (the default mode of the suite), or pure by PYRE_NO_EXTENSIONS=1 (its other mode)."""
    served = Served(["dropapp:app", "--port", "0"], app_dir)
    served.stop()
    assert _warnings(served.stderr) == []


def test_access_json_carries_user_agent_referer_and_the_configured_request_id(app_dir):
    served = Served(["dropapp:app", "--port", "0", "--access-log-json", "--access-log-request-id-header",
                     "X-Correlation-ID"], app_dir)
    try:
        httpx.get(served.url + "/j", headers={"User-Agent": "agent/2", "Referer": "http://example.test/",
                                              "X-Correlation-ID": "corr-7", "X-Request-ID": "not-this"})
    finally:
        served.stop()
    [line] = [json.loads(text) for text in served.stdout.splitlines() if text.startswith("{")]
    assert (line["path"], line["status"], line["user_agent"], line["referer"], line["request_id"]) == (
        "/j", 200, "agent/2", "http://example.test/", "corr-7")
