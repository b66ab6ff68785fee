"""pyre.logs: the access formatters, configure_logging, and --log-config loading
(dictConfig from JSON/YAML/a dict, fileConfig for INI) with its one-line errors."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from pyre import Config
from pyre.errors import ConfigError
from pyre.logs import (
    ACCESS_FIELDS,
    AccessFormatter,
    DefaultFormatter,
    JSONAccessFormatter,
    configure_logging,
    load_log_config,
    setup_logging,
)
from tests.logs.conftest import PYRE_LOGGERS
from tests.logs.records import ISO, access_record, app, finish, make_ctx

# -- formatters ----------------------------------------------------------------------------------


def test_default_formatter_is_unchanged():
    record = access_record()
    assert DefaultFormatter(use_colors=False).format(record) == 'INFO:     127.0.0.1:50000 - "GET /a?b=1 HTTP/1.1" 200'
    coloured = DefaultFormatter(use_colors=True).format(record)
    assert coloured.startswith("\033[32mINFO\033[0m:") and coloured.endswith('"GET /a?b=1 HTTP/1.1" 200')


def test_access_formatter_template():
    formatter = AccessFormatter('{client} "{method} {path}" {status} {bytes}B {duration_ms:.1f}ms {protocol} '
                                '{request_id} {http_version} in={request_bytes}B', use_colors=False)
    line = formatter.format(access_record(request_id="r-1"))
    assert line == 'INFO:     127.0.0.1:50000 "GET /a?b=1" 200 13B 1.5ms HTTP/1.1 r-1 1.1 in=4B'
    bare = AccessFormatter("{method} {path}", use_colors=True, level_prefix=False).format(access_record())
    assert bare == "GET /a?b=1"
    timed = AccessFormatter("{time} {status}", use_colors=False, level_prefix=False).format(access_record())
    stamp, status = timed.split(" ")
    assert ISO.match(stamp) and status == "200"


def test_access_formatter_colours_only_the_level_prefix():
    line = AccessFormatter("{method} {path} {status}", use_colors=True).format(access_record())
    assert line.startswith("\033[32mINFO\033[0m:")
    prefix_end = line.index("\033[0m:") + len("\033[0m:")
    assert "\033" not in line[prefix_end:] and line.endswith(" GET /a?b=1 200")
    plain = AccessFormatter("{method}", use_colors=False).format(access_record())
    assert "\033" not in plain


def test_access_formatter_without_fields_falls_back_to_the_message():
    record = logging.LogRecord("pyre.access", logging.WARNING, __file__, 1, "hello %s", ("there",), None)
    assert AccessFormatter("{method}", use_colors=False).format(record) == "WARNING:  hello there"
    assert AccessFormatter(use_colors=False).format(access_record()) == (
        'INFO:     127.0.0.1:50000 - "GET /a?b=1 HTTP/1.1" 200')


@pytest.mark.parametrize("template, expected", [
    ("{client} {nope}", "unknown field {nope}"),
    ("{path.upper}", "unknown field {path.upper}"),
    ("{} {status}", "positional field {}"),
    ("{0}", "positional field {0}"),
    ("{status:{width}}", "unknown field {width}"),
    ("{client", "invalid template"),
    ("{status:zz}", "invalid template"),
])
def test_access_format_errors_name_the_option_and_the_field(template, expected):
    with pytest.raises(ConfigError) as info:
        AccessFormatter(template)
    message = str(info.value)
    assert message.startswith("access_log_format: ") and expected in message and "\n" not in message


def test_json_formatter():
    formatter = JSONAccessFormatter()
    line = formatter.format(access_record(request_id="j"))
    assert "\n" not in line and "\033" not in line
    obj = json.loads(line)
    assert list(obj)[:2] == ["time", "level"] and ISO.match(obj["time"]) and obj["level"] == "INFO"
    assert {k: obj[k] for k in ACCESS_FIELDS} == access_record(request_id="j").pyre
    other = json.loads(formatter.format(logging.LogRecord("pyre.access", logging.ERROR, __file__, 1, "x=%d", (1,),
                                                          None)))
    assert (other["level"], other["logger"], other["message"]) == ("ERROR", "pyre.access", "x=1")
    # Never coloured, whatever use_colors says (dictConfig may pass it).
    assert "\033" not in JSONAccessFormatter(use_colors=True).format(access_record())


# -- configure_logging -------------------------------------------------------------------------------


def test_configure_logging_keeps_its_positional_signature():
    configure_logging(logging.DEBUG, False, False)
    access = logging.getLogger("pyre.access")
    assert access.handlers == [] and access.level > logging.CRITICAL
    assert logging.getLogger("pyre").level == logging.DEBUG
    assert isinstance(logging.getLogger("pyre").handlers[0].formatter, DefaultFormatter)


def test_configure_logging_with_a_template_and_json(capsys):
    configure_logging(logging.INFO, True, False, access_log_format="{status} {method} {path} {bytes} {request_bytes}")
    finish(make_ctx(), method="PUT", path=b"/t", request_bytes=9)
    assert capsys.readouterr().out == "INFO:     200 PUT /t 13 9\n"
    configure_logging(logging.INFO, True, True, access_log_json=True)
    finish(make_ctx(), path=b"/j", headers=[(b"x-request-id", b"rid")])
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "\033" not in out
    obj = json.loads(out)
    assert (obj["path"], obj["request_id"], obj["duration_ms"], obj["level"]) == ("/j", "rid", 12.5, "INFO")


def test_configure_logging_colours_the_text_prefix_only(capsys):
    configure_logging(logging.INFO, True, True, access_log_format="{method} {path}")
    finish(make_ctx(), path=b"/c")
    assert capsys.readouterr().out == "\033[32mINFO\033[0m:     GET /c\n"
    configure_logging(logging.INFO, True, True)
    finish(make_ctx(), path=b"/c")
    assert capsys.readouterr().out == '\033[32mINFO\033[0m:     127.0.0.1:50000 - "GET /c HTTP/1.1" 200 OK\n'


def test_configure_logging_rejects_bad_settings_before_changing_anything():
    before = list(logging.getLogger("pyre.access").handlers)
    with pytest.raises(ConfigError, match=r"access_log_format: unknown field \{size\}"):
        configure_logging(logging.INFO, True, False, access_log_format="{size}")
    with pytest.raises(ConfigError, match="at most one"):
        configure_logging(logging.INFO, True, False, access_log_format="{path}", access_log_json=True)
    assert logging.getLogger("pyre.access").handlers == before


# -- --log-config --------------------------------------------------------------------------------------


def dict_config(path) -> dict:
    """A dictConfig sending pyre.access to a file with a pyre formatter, pyre.error at WARNING."""
    return {
        "version": 1,
        "formatters": {"access": {"()": "pyre.logs.AccessFormatter", "fmt": "{method} {path} {status}",
                                  "level_prefix": False}},
        "handlers": {"file": {"class": "logging.FileHandler", "filename": str(path), "formatter": "access"}},
        "loggers": {"pyre.access": {"handlers": ["file"], "level": "INFO", "propagate": False},
                    "pyre.error": {"level": "WARNING"}},
    }


def flush_access() -> None:
    for handler in logging.getLogger("pyre.access").handlers:
        handler.flush()


def test_log_config_from_a_dict(tmp_path):
    out = tmp_path / "access.log"
    pre_existing = logging.getLogger("tests.logs.pre_existing")
    load_log_config(dict_config(out))
    assert not pre_existing.disabled  # disable_existing_loggers defaults to False
    finish(make_ctx(), path=b"/d")
    flush_access()
    assert out.read_text() == "GET /d 200\n"
    assert logging.getLogger("pyre.error").level == logging.WARNING


def _yaml_dump(data) -> str:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_dump(data)


@pytest.mark.parametrize("name, dump", [("c.json", json.dumps), ("c.yaml", _yaml_dump), ("c.yml", _yaml_dump)])
def test_log_config_from_json_and_yaml(tmp_path, name, dump):
    out = tmp_path / (name + ".log")
    path = tmp_path / name
    path.write_text(dump(dict_config(out)))
    load_log_config(str(path))
    finish(make_ctx(), path=b"/" + name.encode())
    flush_access()
    assert out.read_text() == f"GET /{name} 200\n"


def test_log_config_from_ini(tmp_path):
    out = tmp_path / "ini.log"
    path = tmp_path / "logging.ini"
    path.write_text(f"""
[loggers]
keys=root,access

[handlers]
keys=file

[formatters]
keys=json

[logger_root]
level=WARNING
handlers=

[logger_access]
level=INFO
handlers=file
qualname=pyre.access
propagate=0

[handler_file]
class=FileHandler
args=({str(out)!r},)
formatter=json

[formatter_json]
class=pyre.logs.JSONAccessFormatter
""")
    pre_existing = logging.getLogger("tests.logs.pre_existing_ini")
    load_log_config(str(path))
    assert not pre_existing.disabled
    finish(make_ctx(), path=b"/ini")
    flush_access()
    obj = json.loads(out.read_text())
    assert obj["path"] == "/ini" and obj["protocol"] == "HTTP/1.1"


@pytest.mark.parametrize("name, content, reason", [
    ("missing.json", None, "No such file or directory"),
    ("missing.yaml", None, "No such file or directory"),
    ("missing.ini", None, "No such file or directory"),
    ("bad.json", '{"version": 1,', "invalid JSON"),
    ("bad.yaml", "version: [1\n", "invalid YAML"),
    ("list.json", "[1, 2]", "expected a mapping"),
    ("nohandler.json", json.dumps({"version": 1, "handlers": {"h": {"class": "no.such.Handler"}}}),
     "Unable to configure handler 'h'"),
    ("noversion.json", json.dumps({"handlers": {}}), "version"),
    ("bad.ini", "not an ini file\n", "invalid INI logging config"),
    ("empty.conf", "[other]\nx=1\n", "invalid INI logging config"),
])
def test_log_config_errors_are_one_line(tmp_path, name, content, reason):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    if reason == "invalid YAML":
        pytest.importorskip("yaml")
    with pytest.raises(ConfigError) as info:
        load_log_config(str(path))
    message = str(info.value)
    assert message.startswith(f"log_config: {path}: ") and reason in message, message
    assert "\n" not in message


def test_yaml_without_pyyaml_says_to_install_it(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text("version: 1\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml raises ImportError
    with pytest.raises(ConfigError, match=r"log_config: .*c\.yaml: .*needs PyYAML.*pip install 'pyre-server\[yaml\]'"):
        load_log_config(str(path))


def test_bad_dict_config_is_one_line():
    with pytest.raises(ConfigError) as info:
        load_log_config({"version": 1, "loggers": {"x": {"level": "LOUD"}}})
    assert str(info.value).startswith("log_config: Unable to configure logger 'x'") and "\n" not in str(info.value)


# -- setup_logging(config) -------------------------------------------------------------------------------


def test_setup_logging_without_a_log_config_is_configure_logging(capsys):
    setup_logging(Config(app, log_level="debug", use_colors=False, access_log_format="{path} {status}"))
    assert logging.getLogger("pyre").level == logging.DEBUG
    finish(make_ctx(), path=b"/s")
    assert capsys.readouterr().out == "INFO:     /s 200\n"
    with pytest.raises(ConfigError, match="access_log_format"):
        setup_logging(Config(app, access_log_format="{oops}"))


def test_setup_logging_with_a_log_config_then_the_log_level(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(dict_config(tmp_path / "a.log")))
    # No level given leaves the config's levels alone...
    setup_logging(Config(app, log_config=str(path)))
    assert logging.getLogger("pyre.error").level == logging.WARNING
    assert logging.getLogger("pyre").level == logging.NOTSET  # reset, not named by the config
    # ...an explicit one sets all three pyre loggers, as uvicorn does.
    setup_logging(Config(app, log_config=str(path), log_level="debug"))
    assert [logging.getLogger(n).level for n in PYRE_LOGGERS] == [logging.DEBUG] * 3
    setup_logging(Config(app, log_config=str(path), log_level="info"))
    assert [logging.getLogger(n).level for n in PYRE_LOGGERS] == [logging.INFO] * 3


def test_setup_logging_with_a_log_config_and_the_access_options(tmp_path):
    out = tmp_path / "a.log"
    setup_logging(Config(app, log_config=dict_config(out), access_log_json=True))
    finish(make_ctx(), path=b"/json")
    flush_access()
    assert json.loads(out.read_text())["path"] == "/json"
    setup_logging(Config(app, log_config=dict_config(out), access_log=False))
    access = logging.getLogger("pyre.access")
    assert access.handlers == [] and not access.isEnabledFor(logging.CRITICAL)


def test_setup_logging_error_leaves_logging_as_it_was(tmp_path):
    configure_logging(logging.INFO, True, False)
    before = [(logging.getLogger(n).handlers, logging.getLogger(n).level) for n in PYRE_LOGGERS]
    with pytest.raises(ConfigError, match="log_config: .*nope.json: No such file"):
        setup_logging(Config(app, log_config=str(tmp_path / "nope.json")))
    assert [(logging.getLogger(n).handlers, logging.getLogger(n).level) for n in PYRE_LOGGERS] == before


# -- uvicorn's formatter arguments and log config -----------------------------------------------------


def test_formatters_take_uvicorns_arguments():
    record = logging.LogRecord("pyre.error", logging.WARNING, __file__, 1, "hello %s", ("there",), None)
    record.created = 946684800.0  # 2000-01-01
    plain = DefaultFormatter(fmt="%(asctime)s|%(levelprefix)s %(message)s", datefmt="%Y", use_colors=False)
    assert plain.format(record) == "2000|WARNING:  hello there"
    braces = DefaultFormatter(fmt="{levelprefix}{message}", style="{", use_colors=False)
    assert braces.format(record) == "WARNING: hello there"  # the prefix is padded to 9 columns
    access = AccessFormatter('%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s %(user_agent)s',
                             use_colors=False)
    assert access.format(access_record(status=404)) == (
        'INFO:     127.0.0.1:50000 - "GET /a?b=1 HTTP/1.1" 404 Not Found curl/8')
    record = access_record()
    access.format(record)
    assert "request_line" not in record.__dict__  # formatted on a copy: other handlers see the record as is


def test_a_uvicorn_dict_config_configures_pyres_loggers(capsys):
    notes = load_log_config({
        "version": 1,
        "formatters": {"default": {"()": "uvicorn.logging.DefaultFormatter", "fmt": "U %(levelprefix)s %(message)s",
                                   "use_colors": False}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "default",
                                 "stream": "ext://sys.stdout"}},
        "loggers": {"uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
                    "uvicorn.error": {"level": "INFO"}},
    })
    assert notes == ["log_config: uvicorn's loggers configure Pyre's (uvicorn -> pyre, uvicorn.error -> pyre.error); "
                     "rename them in the config to say so directly"]
    logging.getLogger("pyre.error").info("started")
    assert capsys.readouterr().out == "U INFO:     started\n"
    # A config naming Pyre's loggers itself: nothing is taken from uvicorn's, no note.
    assert load_log_config({"version": 1, "loggers": {"uvicorn": {"level": "INFO"}, "pyre": {"level": "INFO"}}}) == []


def test_access_formatter_class_form_keeps_a_brace_template():
    """dictConfig's "class" form passes style="%" for every formatter: a {}-template stays one."""
    formatter = AccessFormatter("{method} {path} {status}", None, "%", use_colors=False, level_prefix=False)
    assert formatter.format(access_record()) == "GET /a?b=1 200"
