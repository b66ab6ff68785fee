"""Settings from the command line, the environment and pyproject.toml (pyre.settings)."""

from __future__ import annotations

import os
import textwrap

import pytest

from pyre.cli import build_parser
from pyre.config import Config, config_from_settings
from pyre.settings import SETTINGS, SettingError, resolve
from tests.helpers import KUBERNETES_SERVICE_LINKS


def parse(*argv: str) -> dict:
    return vars(build_parser().parse_args(list(argv)))


def pyproject(tmp_path, body: str) -> str:
    path = tmp_path / "pyproject.toml"
    path.write_text(textwrap.dedent(body))
    return str(path)


def settle(tmp_path, argv=(), environ=None, toml: str = ""):
    path = pyproject(tmp_path, toml) if toml else str(tmp_path / "absent.toml")
    merged, sources = resolve(parse(*argv), environ or {}, path)
    return merged, sources


def test_nothing_given_means_config_defaults(tmp_path):
    merged, _ = settle(tmp_path, ["app:app"])
    assert merged == {"app": "app:app"}
    config = config_from_settings(merged, _)
    assert (config.port, config.workers, config.app_dir, config.proxy_headers) == (8000, 1, ".", True)


def test_precedence_cli_then_environment_then_pyproject(tmp_path):
    toml = """
        [tool.pyre-server]
        app = "fromfile:app"
        port = 7000
        host = "0.0.0.0"
        backlog = 10
    """
    environ = {"PYRE_PORT": "8001", "PYRE_HOST": "::1"}
    merged, sources = settle(tmp_path, ["--port", "9002"], environ, toml)
    assert merged["port"] == 9002 and sources.label("port") == "--port"
    assert merged["host"] == "::1" and sources.label("host") == "PYRE_HOST"
    assert merged["backlog"] == 10 and sources.label("backlog").endswith("[tool.pyre-server] backlog")
    assert merged["app"] == "fromfile:app"


def test_conventional_variables_sit_below_their_pyre_variable(tmp_path):
    merged, sources = settle(tmp_path, ["a:b"], {"WEB_CONCURRENCY": "3", "FORWARDED_ALLOW_IPS": "10.0.0.1"})
    assert merged["workers"] == 3 and sources.label("workers") == "WEB_CONCURRENCY"
    assert merged["forwarded_allow_ips"] == "10.0.0.1"
    merged, sources = settle(tmp_path, ["a:b"], {"WEB_CONCURRENCY": "3", "PYRE_WORKERS": "2"})
    assert merged["workers"] == 2 and sources.label("workers") == "PYRE_WORKERS"
    merged, _ = settle(tmp_path, ["a:b"], {"WEB_CONCURRENCY": " "})  # empty: unset, as uvicorn
    assert "workers" not in merged


@pytest.mark.parametrize("text, value", [("true", True), ("0", False), ("on", True), ("No", False)])
def test_booleans_from_the_environment(tmp_path, text, value):
    merged, _ = settle(tmp_path, ["a:b"], {"PYRE_PROXY_HEADERS": text})
    assert merged["proxy_headers"] is value


def test_toggles_and_optional_values_on_the_command_line(tmp_path):
    merged, _ = settle(tmp_path, ["a:b", "--no-proxy-headers", "--reload", "--ws-per-message-deflate", "false"])
    assert merged["proxy_headers"] is False and merged["reload"] is True
    assert merged["ws_per_message_deflate"] is False
    merged, _ = settle(tmp_path, ["a:b", "--ws-per-message-deflate"])
    assert merged["ws_per_message_deflate"] is True


def test_lists_from_every_source(tmp_path):
    merged, _ = settle(tmp_path, ["a:b", "--reload-dir", "src", "--reload-dir", "lib"])
    assert merged["reload_dirs"] == ["src", "lib"]
    merged, _ = settle(tmp_path, ["a:b"], {"PYRE_RELOAD_DIRS": "src, lib"})
    assert merged["reload_dirs"] == ["src", "lib"]
    merged, _ = settle(tmp_path, ["a:b"], {"PYRE_HEADERS": '["x-a: 1, 2", "x-b: 3"]'})
    assert merged["headers"] == ["x-a: 1, 2", "x-b: 3"]
    merged, _ = settle(tmp_path, ["a:b"], toml="""
        [tool.pyre-server]
        reload-dir = ["src"]
        header = "x-c: 4"
        forwarded_allow_ips = ["10.0.0.0/8", "127.0.0.1"]
    """)
    assert merged["reload_dirs"] == ["src"] and merged["headers"] == ["x-c: 4"]
    config = config_from_settings(merged, _)
    assert config.forwarded_allow_ips == ["10.0.0.0/8", "127.0.0.1"]
    assert config.headers == [("x-c", "4")]


def test_toml_values_keep_their_types(tmp_path):
    merged, _ = settle(tmp_path, ["a:b"], toml="""
        [tool.pyre-server]
        timeout-keep-alive = 2
        limit_request_body = "10M"
        h2_max_frame_size = 32768
        reload = true
        uds_perms = "660"
    """)
    assert merged["timeout_keep_alive"] == 2.0 and merged["limit_request_body"] == 10 * 1024**2
    assert merged["h2_max_frame_size"] == 32768 and merged["reload"] is True and merged["uds_perms"] == 0o660


@pytest.mark.parametrize("toml, message", [
    ("prot = 1", "pyproject.toml [tool.pyre-server] prot: unknown setting (did you mean port?)"),
    ('port = "x"', "[tool.pyre-server] port: expected an integer port, got 'x'"),
    ("port = 70000", "[tool.pyre-server] port: invalid value 70000 (must be between 0 and 65535)"),
    ('reload = "yes"', "[tool.pyre-server] reload: expected true or false, got 'yes'"),
    ("workers = 2.5", "[tool.pyre-server] workers: expected a number of workers, got 2.5"),
    ('loop = "trio"', "[tool.pyre-server] loop: invalid choice 'trio' (choose from auto, asyncio, uvloop, or a module:factory)"),
    ("uds_perms = 660", "[tool.pyre-server] uds_perms: expected octal permissions as a string"),
    ('port = 1\n"port" = 2', "not valid TOML"),
    ('timeout-keep-alive = 1\ntimeout_keep_alive = 2', "timeout_keep_alive: given twice"),
    ('root_path = "api"', "[tool.pyre-server] root_path: must start with '/'"),
])
def test_pyproject_errors_name_the_file_and_key(tmp_path, toml, message):
    with pytest.raises(SettingError) as info:
        merged, sources = settle(tmp_path, ["a:b"], toml="[tool.pyre-server]\n" + toml + "\n")
        config_from_settings(merged, sources)
    assert message in str(info.value)
    assert str(tmp_path) in str(info.value) or "pyproject.toml" in str(info.value)


@pytest.mark.parametrize("environ, message", [
    ({"PYRE_PORT": "x"}, "PYRE_PORT: invalid value 'x' (expected an integer port)"),
    ({"PYRE_RELOAD": "maybe"}, "PYRE_RELOAD: invalid value 'maybe' (expected true or false)"),
    ({"PYRE_HEADERS": "[1]"}, "PYRE_HEADERS: expected a JSON list of strings"),
    ({"PYRE_LIMIT_REQUEST_BODY": "ten"}, "PYRE_LIMIT_REQUEST_BODY: invalid size 'ten'"),
    ({"PYRE_SSL_KEYFILE": "k.pem"}, "PYRE_SSL_KEYFILE: needs --ssl-certfile (the server certificate)"),
    ({"PYRE_TIMEOUT_KEEP_ALIVE": "0"}, "PYRE_TIMEOUT_KEEP_ALIVE: invalid value 0.0 (must be > 0)"),
    ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY: invalid value 0 (must be >= 1)"),
])
def test_environment_errors_name_the_variable(tmp_path, environ, message):
    with pytest.raises(SettingError) as info:
        merged, sources = settle(tmp_path, ["a:b"], environ)
        config_from_settings(merged, sources)
    assert str(info.value) == message or str(info.value).startswith(message)


def test_unknown_pyre_variables_are_one_warning_each_naming_the_closest_setting(tmp_path):
    merged, sources = settle(tmp_path, ["a:b"], {"PYRE_PROT": "1", "PYRE_WROKERS": "2"})
    assert merged == {"app": "a:b"}
    assert sources.warnings == ["PYRE_PROT: not a Pyre setting, ignored (did you mean PYRE_PORT?)",
                                "PYRE_WROKERS: not a Pyre setting, ignored (did you mean PYRE_WORKERS?)"]


KUBERNETES = {
    **KUBERNETES_SERVICE_LINKS,
    # and a Service named "pyre-metrics": its PYRE_METRICS_PORT is a service link too
    "PYRE_METRICS_SERVICE_HOST": "10.0.0.2",
    "PYRE_METRICS_PORT": "tcp://10.0.0.2:9100",
}


def test_kubernetes_service_links_are_one_warning_and_never_settings(tmp_path):
    merged, sources = settle(tmp_path, ["a:b"], KUBERNETES)
    assert merged == {"app": "a:b"}
    assert len(sources.warnings) == 1
    warning = sources.warnings[0]
    assert "Kubernetes service links" in warning and "enableServiceLinks: false" in warning
    for name in KUBERNETES:
        assert name in warning
    # Given on the command line, PYRE_PORT is not even read (nor named).
    merged, sources = settle(tmp_path, ["a:b", "--port", "8052"], KUBERNETES)
    assert merged["port"] == 8052 and sources.label("port") == "--port"
    assert "PYRE_PORT," not in sources.warnings[0] and "PYRE_SERVICE_HOST" in sources.warnings[0]


def test_a_variable_for_a_setting_the_command_line_gives_is_not_read(tmp_path):
    merged, sources = settle(tmp_path, ["a:b", "--workers", "2"], {"PYRE_WORKERS": "many", "WEB_CONCURRENCY": "x"})
    assert merged["workers"] == 2 and sources.warnings == []


def test_a_bad_value_of_a_known_setting_is_still_an_error(tmp_path):
    with pytest.raises(SettingError, match=r"^PYRE_PORT: invalid value 'http://x:1'"):
        settle(tmp_path, ["a:b"], {"PYRE_PORT": "http://x:1"})
    with pytest.raises(SettingError, match=r"^PYRE_WORKERS: invalid value 'tcp://10.0.0.1:8000'"):
        settle(tmp_path, ["a:b"], {"PYRE_WORKERS": "tcp://10.0.0.1:8000"})


PYRE_CHECK = """
    [tool.pyre]
    source_directories = ["."]
    strict = true
"""


def test_pyproject_reads_tool_pyre_server(tmp_path):
    merged, sources = settle(tmp_path, ["a:b"], toml="[tool.pyre-server]\nport = 7000\n" + PYRE_CHECK)
    assert merged["port"] == 7000 and sources.label("port").endswith("[tool.pyre-server] port")
    assert sources.warnings == []  # pyre-check's table beside Pyre's: none of our business


def test_pyre_checks_tool_pyre_is_ignored_with_a_warning(tmp_path):
    merged, sources = settle(tmp_path, ["a:b"], toml=PYRE_CHECK)
    assert merged == {"app": "a:b"}
    assert len(sources.warnings) == 1
    assert "[tool.pyre] ignored" in sources.warnings[0] and "source_directories" in sources.warnings[0]
    assert "[tool.pyre-server]" in sources.warnings[0]


def test_tool_pyre_with_only_pyre_keys_is_read_with_a_deprecation_warning(tmp_path):
    merged, sources = settle(tmp_path, ["a:b"], toml="[tool.pyre]\nport = 7001\nreload-dir = ['src']\n")
    assert merged["port"] == 7001 and merged["reload_dirs"] == ["src"]
    assert sources.label("port").endswith("[tool.pyre] port")
    assert sources.warnings == [f"{tmp_path / 'pyproject.toml'}: [tool.pyre] is deprecated (it is pyre-check's "
                                "table): rename it to [tool.pyre-server]"]
    with pytest.raises(SettingError, match=r"\[tool.pyre\] port: invalid value 70000"):
        settle(tmp_path, ["a:b"], toml="[tool.pyre]\nport = 70000\n")
    merged, sources = settle(tmp_path, ["a:b"], toml="[tool.pyre]\nport = 1\n[tool.pyre-server]\nport = 2\n")
    assert merged["port"] == 2 and "[tool.pyre] ignored: Pyre reads [tool.pyre-server]" in sources.warnings[0]


def test_non_setting_pyre_variables_are_left_alone(tmp_path):
    merged, _ = settle(tmp_path, ["a:b"], {"PYRE_NO_EXTENSIONS": "1", "PYRE_CYTHON_ANNOTATE": "1"})
    assert merged == {"app": "a:b"}


def test_config_errors_name_the_source_of_the_setting(tmp_path):
    merged, sources = settle(tmp_path, ["a:b"], {"PYRE_SSL_CERT_REQS": "2", "PYRE_SSL_CERTFILE": "c.pem"})
    with pytest.raises(SettingError) as info:
        config_from_settings(merged, sources)
    assert str(info.value).startswith("PYRE_SSL_CERT_REQS: client certificates need --ssl-ca-certs")


def test_no_application_anywhere_is_an_error(tmp_path):
    merged, sources = settle(tmp_path, [])
    with pytest.raises(SettingError, match="no application given"):
        config_from_settings(merged, sources)


def test_an_env_file_can_set_pyre_variables_below_the_real_environment(tmp_path, monkeypatch):
    env_file = tmp_path / "prod.env"
    env_file.write_text("PYRE_PORT=7100\nPYRE_BACKLOG=64\n")
    for name in ("PYRE_PORT", "PYRE_BACKLOG"):  # recorded, so the file's values are undone afterwards
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    merged, sources = settle(tmp_path, ["a:b", "--env-file", str(env_file)], {"PYRE_BACKLOG": "32"})
    assert merged["port"] == 7100 and sources.label("port") == "PYRE_PORT"
    assert merged["backlog"] == 32
    assert os.environ["PYRE_PORT"] == "7100"  # the app sees the file's variables too


def test_systemd_socket_activation(tmp_path):
    mine = {"LISTEN_FDS": "1", "LISTEN_PID": str(os.getpid())}
    merged, sources = settle(tmp_path, ["a:b"], mine)
    assert merged["fd"] == 3 and sources.label("fd") == "LISTEN_FDS"
    merged, _ = settle(tmp_path, ["a:b"], {"LISTEN_FDS": "1", "LISTEN_PID": "1"})  # another process's
    assert "fd" not in merged
    merged, _ = settle(tmp_path, ["a:b", "--fd", "7"], mine)
    assert merged["fd"] == 7
    with pytest.raises(SettingError, match="LISTEN_FDS: Pyre serves one socket, systemd passed 2"):
        settle(tmp_path, ["a:b"], {"LISTEN_FDS": "2"})


def test_every_setting_has_a_working_option():
    options = {option for action in build_parser()._actions for option in action.option_strings}
    for setting in SETTINGS:
        assert setting.name == "app" or setting.flag in options, setting.name


@pytest.mark.parametrize("argv, environ, value", [
    (["a:b"], {}, None),  # decided by the entry point: on for pyre/pyre.run, off for an embedded Server
    (["a:b", "--gc-freeze"], {}, True),
    (["a:b", "--no-gc-freeze"], {}, False),
    (["a:b"], {"PYRE_GC_FREEZE": "false"}, False),
    (["a:b", "--gc-freeze"], {"PYRE_GC_FREEZE": "false"}, True),
])
def test_gc_freeze_from_the_command_line_and_the_environment(tmp_path, argv, environ, value):
    merged, sources = settle(tmp_path, argv, environ)
    assert config_from_settings(merged, sources).gc_freeze is value


def test_a_bad_gc_freeze_value_names_its_source(tmp_path):
    with pytest.raises(SettingError, match=r"^PYRE_GC_FREEZE: invalid value 'sometimes' \(expected true or false\)"):
        merged, sources = settle(tmp_path, ["a:b"], {"PYRE_GC_FREEZE": "sometimes"})
        config_from_settings(merged, sources)
    with pytest.raises(SettingError, match=r"gc_freeze: expected"):
        settle(tmp_path, ["a:b"], {}, "[tool.pyre-server]\ngc_freeze = 'often'\n")
    assert Config("a:b").gc_freeze is None and Config("a:b", gc_freeze=False).gc_freeze is False
