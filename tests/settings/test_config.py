"""pyre.Config is built from pyre.settings.SETTINGS: keywords, defaults, types, bounds."""

from __future__ import annotations

import inspect
import math

import pytest

from pyre import Config
from pyre.config import validate
from pyre.errors import ConfigError
from pyre.settings import BOOL, SETTINGS, _Invalid

FIELDS = [setting for setting in SETTINGS if setting.name != "app"]


def test_the_keywords_and_defaults_are_the_settings():
    parameters = inspect.signature(Config).parameters
    assert list(parameters) == [setting.name for setting in SETTINGS]
    for setting in FIELDS:
        assert parameters[setting.name].kind is inspect.Parameter.KEYWORD_ONLY
        assert parameters[setting.name].default == setting.default


def test_every_setting_is_an_attribute_holding_its_checked_default():
    config = Config("m:app")
    for setting in FIELDS:
        expected = setting.validate(setting.default, [])
        if setting.name == "metrics_host":
            expected = config.host  # none given: the --host
        assert getattr(config, setting.name) == expected, setting.name


def test_an_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'prot'"):
        Config("m:app", prot=1)


@pytest.mark.parametrize("setting", [s for s in FIELDS if s.kind is not BOOL], ids=lambda s: s.name)
def test_a_value_of_the_wrong_type_is_an_error_naming_the_setting(setting):
    with pytest.raises(ConfigError, match=rf"^{setting.name}: "):
        Config("m:app", **{setting.name: object()})


def text_accepts(setting, text: str) -> bool:
    try:
        setting.kind.parse(text)
    except _Invalid:
        return False
    return True


def python_accepts(setting, value) -> bool:
    try:
        setting.validate(value, [])
    except ConfigError:
        return False
    return True


EDGES = [-1, 0, 1, 2, 15, 16, 63, 64, 16383, 16384, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32,
         16777215, 16777216, 10**12]
NUMERIC = [s for s in FIELDS if s.kind.metavar in ("INT", "BYTES", "SECONDS", "MODE") and s.check is s.kind.check]


@pytest.mark.parametrize("setting", NUMERIC, ids=lambda s: s.name)
def test_the_bounds_are_stated_once(setting):
    """The command line, the environment, pyproject.toml and Config accept the same
    numbers: the bounds are the kind's, stated once in SETTINGS."""
    values = EDGES + ([-0.5, 0.0, 0.5, 1.5] if setting.kind.metavar == "SECONDS" else [])
    for value in values:
        if setting.zero_is_none and not value:
            continue  # 0 is "none" in Config; as text it is the bound's business
        text = format(value, "o") if setting.kind.metavar == "MODE" and value >= 0 else str(value)
        assert text_accepts(setting, text) == python_accepts(setting, value), (setting.name, value)


def test_values_config_always_took():
    config = Config("m:app", port=0, limit_max_requests=0, limit_request_body=0, ws_ping_interval=0,
                    ws_ping_timeout=None, timeout_lifespan=None, access_log_format="", headers=["x-a: 1", ("x-b", 2)],
                    forwarded_allow_ips="10.0.0.1, 10.0.0.2", log_level="DEBUG", timeout_keep_alive=2,
                    ssl_certfile="", reload_dirs="src")
    assert (config.limit_max_requests, config.limit_request_body, config.ws_ping_interval) == (None, None, None)
    assert (config.ws_ping_timeout, config.timeout_lifespan, config.access_log_format) == (None, None, None)
    assert config.headers == [("x-a", "1"), ("x-b", "2")]
    assert config.forwarded_allow_ips == ["10.0.0.1", "10.0.0.2"]
    assert config.log_level == "debug" and config.timeout_keep_alive == 2.0
    assert config.ssl_certfile is None and config.reload_dirs == ["src"]
    assert Config("m:app", log_level=15).log_level_number == 15


def test_the_forwarded_addresses_default_to_the_environment(monkeypatch):
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.1.1.1")
    assert Config("m:app").forwarded_allow_ips == ["10.1.1.1"]
    monkeypatch.delenv("FORWARDED_ALLOW_IPS")
    assert Config("m:app").forwarded_allow_ips == ["127.0.0.1", "::1"]


@pytest.mark.parametrize("settings, message", [
    ({"port": 70000}, "port: must be between 0 and 65535, got 70000"),
    ({"port": "80"}, "port: expected an integer, got '80'"),
    ({"timeout_keep_alive": 0}, "timeout_keep_alive: must be > 0 seconds, got 0"),
    ({"timeout_graceful_shutdown": -1}, "timeout_graceful_shutdown: must be >= 0 seconds, got -1"),
    ({"http": "h3"}, "http: expected one of auto, h1, h2, got 'h3'"),
    ({"loop": "trio"}, "loop: expected one of auto, asyncio, uvloop or module:factory, got 'trio'"),
    ({"log_level": "loud"}, "log_level: expected one of critical, error, warning, info, debug, trace, got 'loud'"),
    ({"root_path": "api"}, "root_path: must start with '/' and not end with '/', got 'api'"),
    ({"headers": ["nocolon"]}, "headers: expected 'Name: value', got 'nocolon'"),
    ({"access_log_request_id_header": "x id"}, "access_log_request_id_header: expected a header name, got 'x id'"),
    ({"ssl_keyfile_password": 1234}, "ssl_keyfile_password: expected a string"),
    ({"uds": "/tmp/s", "fd": 3}, "uds and fd: give at most one of them"),
    ({"ssl_keyfile": "k.pem"}, "ssl_keyfile: needs ssl_certfile (the server certificate)"),
])
def test_errors_name_the_setting(settings, message):
    with pytest.raises(ConfigError) as info:
        Config("m:app", **settings)
    assert str(info.value) == message


def test_uvicorns_values_are_taken_with_a_note():
    config = Config("m:app", http="httptools", ws="websockets", loop="none")
    assert (config.http, config.ws, config.loop) == ("h1", "auto", "asyncio")
    assert config.notes == [
        "--http httptools: uvicorn's HTTP implementation; Pyre's own parser serves it (--http h1)",
        "--loop none: uvicorn's 'do not set up a loop'; Pyre runs asyncio's (--loop asyncio)",
        "--ws websockets: uvicorn's WebSocket implementation; Pyre serves WebSocket with its own (on wsproto) "
        "(--ws auto)",
    ]


def test_validate_checks_one_setting_as_config_does():
    assert validate("metrics_port", 9100) == 9100 and validate("metrics_host", "::1") == "::1"
    with pytest.raises(ConfigError, match=r"^metrics_port: must be between 0 and 65535, got 70000$"):
        validate("metrics_port", 70000)
    assert math.isclose(validate("reload_delay", 0), 0.0)
