"""Logging: the ``pyre.error`` and ``pyre.access`` loggers, their formatters and setup.

Access lines read like uvicorn's by default: ``INFO:     127.0.0.1:50000 - "GET / HTTP/1.1" 200``.
Embedded servers leave logging alone; ``pyre.run``, the CLI and the workers call
:func:`setup_logging` (or, without a log config, :func:`configure_logging`).

Every ``pyre.access`` record carries the request's named fields as ``record.pyre``, a
dict (see :data:`ACCESS_FIELDS` and :class:`pyre.access_log.RequestRecord`),
besides the uvicorn-style message and ``args`` (client, method, target, HTTP version,
status; WebSocket handshakes: client, target, status). Formatters render either:

- :class:`DefaultFormatter`: ``LEVEL:    message`` (the level optionally coloured);
- :class:`AccessFormatter`: a ``str.format`` template of the named fields
  (``--access-log-format``), after the same level prefix;
- :class:`JSONAccessFormatter`: one JSON object per line (``--access-log-json``).

All three can be named in a ``--log-config`` file, e.g. in dictConfig form
``{"()": "pyre.logs.AccessFormatter", "fmt": "{client} {method} {path} {status}", "use_colors": false}``.
"""

from __future__ import annotations

import copy
import datetime
import json
import logging
import logging.config
import os
import string
import sys
from typing import Any, Dict, Iterator, List, Optional, Union

from pyre.access_log import ACCESS_FIELDS, StatusCode
from pyre.errors import ConfigError

__all__ = [
    "ACCESS_FIELDS",
    "TRACE",
    "AccessFormatter",
    "DefaultFormatter",
    "JSONAccessFormatter",
    "check_access_format",
    "configure_logging",
    "load_log_config",
    "setup_logging",
]

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

_COLORS = {
    TRACE: "\033[94m",
    logging.DEBUG: "\033[36m",
    logging.INFO: "\033[32m",
    logging.WARNING: "\033[33m",
    logging.ERROR: "\033[31m",
    logging.CRITICAL: "\033[1;31m",
}

# Templates may also use the record's time (ISO 8601, UTC).
_TEMPLATE_FIELDS = frozenset(ACCESS_FIELDS) | {"time"}
_SAMPLE = {"client": "127.0.0.1:50000", "method": "GET", "path": "/a?b=1", "status": 200, "bytes": 12,
           "request_bytes": 0, "duration_ms": 0.25, "protocol": "HTTP/1.1", "request_id": "-", "http_version": "1.1",
           "user_agent": "curl/8.0", "referer": "-", "time": "2000-01-01T00:00:00.000Z"}
_PYRE_LOGGERS = ("pyre", "pyre.error", "pyre.access")
# A uvicorn log config works here: its loggers configure Pyre's, its formatter classes
# are Pyre's (which take the same fmt, datefmt and use_colors, and uvicorn's access fields).
UVICORN_LOGGERS = {"uvicorn": "pyre", "uvicorn.error": "pyre.error", "uvicorn.access": "pyre.access"}
UVICORN_FORMATTERS = {
    "uvicorn.logging.DefaultFormatter": "pyre.logs.DefaultFormatter",
    "uvicorn.logging.ColourizedFormatter": "pyre.logs.DefaultFormatter",
    "uvicorn.logging.AccessFormatter": "pyre.logs.AccessFormatter",
}


def _use_colors(use_colors: Optional[bool], stream: Any) -> bool:
    if use_colors is None:
        stream = stream or sys.stderr
        return bool(hasattr(stream, "isatty") and stream.isatty())
    return bool(use_colors)


def _level_prefix(record: logging.LogRecord, use_colors: bool) -> str:
    """``INFO:`` padded to a column; with colours only the level name is coloured."""
    if use_colors:
        return f"{_COLORS.get(record.levelno, '')}{record.levelname}\033[0m:".ljust(9 + 9)
    return f"{record.levelname}:".ljust(9)


def _iso_time(record: logging.LogRecord) -> str:
    """The record's time in ISO 8601, UTC, to the millisecond: ``2024-05-01T12:00:00.123Z``."""
    moment = datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class DefaultFormatter(logging.Formatter):
    """``LEVEL:    message`` with the level padded to a column, optionally coloured.

    Takes uvicorn's arguments: ``fmt`` (default ``"%(levelprefix)s %(message)s"``;
    ``%(levelprefix)s`` is the padded, coloured level), ``datefmt``, ``style`` and
    ``use_colors`` (None: colour when ``stream``, default stderr, is a terminal)."""

    def __init__(self, fmt: Optional[str] = None, datefmt: Optional[str] = None, style: Any = "%",
                 use_colors: Optional[bool] = None, *, stream: Any = None, validate: bool = True,
                 defaults: Any = None) -> None:
        if fmt is None:
            fmt = "{levelprefix} {message}" if style == "{" else "%(levelprefix)s %(message)s"
        super().__init__(fmt, datefmt, style, validate)
        self.use_colors = _use_colors(use_colors, stream)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.__dict__["levelprefix"] = _level_prefix(record, self.use_colors)
        return super().formatMessage(record)


def _template_fields(template: str, option: str) -> Iterator[str]:
    """The field names of a ``str.format`` template, nested ones (in format specs) included."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(f"{option}: invalid template {template!r}: {exc}") from None
    for _, field, spec, _ in parsed:
        if field is None:
            continue
        yield field
        if spec and "{" in spec:
            yield from _template_fields(spec, option)


def check_access_format(template: str, option: str = "access_log_format") -> str:
    """Validate an access-log template: only named fields of :data:`ACCESS_FIELDS` (and
    ``time``); a :class:`ConfigError` naming ``option`` and the field otherwise."""
    if not isinstance(template, str):
        raise ConfigError(f"{option}: expected a string, got {template!r}")
    known = ", ".join("{" + name + "}" for name in (*ACCESS_FIELDS, "time"))
    for field in _template_fields(template, option):
        if field not in _TEMPLATE_FIELDS:
            what = "a positional field" if field == "" or field.isdigit() else "unknown field"
            raise ConfigError(f"{option}: {what} {{{field}}} in {template!r}; known fields: {known}")
    try:
        template.format_map(_SAMPLE)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ConfigError(f"{option}: invalid template {template!r}: {exc}") from None
    return template


class AccessFormatter(logging.Formatter):
    """Access records as a ``str.format`` template of their named fields.

    ``fmt``: the template (``"{client} - {method} {path} {status} {bytes}B {duration_ms}ms"``);
    None renders the default message. ``level_prefix``: start the line with the level
    (``INFO:``, coloured when ``use_colors``), like every other Pyre line. Records without
    the fields (logged by someone else) are rendered as ``record.getMessage()``.

    A ``%``-style ``fmt`` (uvicorn's: ``'%(levelprefix)s %(client_addr)s - "%(request_line)s"
    %(status_code)s'``) is a ``logging.Formatter`` format instead, with uvicorn's access
    attributes ``levelprefix``, ``client_addr``, ``request_line`` and ``status_code``
    (``200 OK``), the named fields, and the usual record attributes (``asctime`` with
    ``datefmt``). The ``style``/``validate``/``defaults`` arguments exist so that
    dictConfig can build it.
    """

    def __init__(self, fmt: Optional[str] = None, datefmt: Optional[str] = None, style: Any = None,
                 validate: bool = True, *, defaults: Any = None, use_colors: Optional[bool] = None,
                 stream: Any = None, level_prefix: bool = True) -> None:
        # dictConfig's "class" form passes style="%" whatever the format: the format decides.
        self.percent = fmt is not None and "%(" in fmt and style != "{"
        if self.percent:
            super().__init__(fmt, datefmt, "%", validate)
        else:
            super().__init__(None, datefmt)
        self.template = None if fmt is None or self.percent else check_access_format(fmt)
        self._needs_time = self.template is not None and "time" in set(_template_fields(self.template, "fmt"))
        self.use_colors = _use_colors(use_colors, stream or sys.stdout)
        self.level_prefix = level_prefix

    def format(self, record: logging.LogRecord) -> str:
        fields = record.__dict__.get("pyre")
        if self.percent:
            return self._format_percent(record, fields)
        message = None
        if self.template is not None and isinstance(fields, dict):
            if self._needs_time:
                fields = dict(fields, time=_iso_time(record))
            try:
                message = self.template.format_map(fields)
            except (KeyError, ValueError, TypeError, IndexError, AttributeError):
                message = None
        if message is None:
            message = record.getMessage()
        if self.level_prefix:
            message = f"{_level_prefix(record, self.use_colors)} {message}"
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        return message

    def _format_percent(self, record: logging.LogRecord, fields: Any) -> str:
        record = copy.copy(record)  # other handlers may format the same record
        attributes = record.__dict__
        attributes["levelprefix"] = _level_prefix(record, self.use_colors)
        if isinstance(fields, dict):
            status = fields["status"]
            status_code = str(StatusCode(status)) if isinstance(status, int) else str(status)
            if fields["protocol"] == "WebSocket":
                request_line = f"WebSocket {fields['path']}"
            else:
                request_line = f"{fields['method']} {fields['path']} HTTP/{fields['http_version']}"
            attributes.update(fields)
            attributes.update(client_addr=fields["client"], request_line=request_line, status_code=status_code)
        return super().format(record)


class JSONAccessFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (ISO 8601, UTC), ``level``, then the named fields
    (:data:`ACCESS_FIELDS`). A record without them (logged by someone else) gives
    ``time``, ``level``, ``logger`` and ``message``. Never coloured. The positional
    arguments are accepted (and ignored) for dictConfig's ``"class"`` form."""

    def __init__(self, fmt: Any = None, datefmt: Any = None, style: Any = None, validate: bool = True, *,
                 defaults: Any = None, **_: Any) -> None:
        super().__init__()

    def format(self, record: logging.LogRecord) -> str:
        obj: Dict[str, Any] = {"time": _iso_time(record), "level": record.levelname}
        fields = record.__dict__.get("pyre")
        if isinstance(fields, dict):
            obj.update(fields)
        else:
            obj["logger"] = record.name
            obj["message"] = record.getMessage()
        if record.exc_info:
            obj["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(obj, default=str)


def _access_formatter(access_log_format: Optional[str], access_log_json: bool, use_colors: Optional[bool],
                      stream: Any) -> logging.Formatter:
    if access_log_json and access_log_format:
        raise ConfigError("access_log_format and access_log_json: give at most one of them")
    if access_log_json:
        return JSONAccessFormatter()
    if access_log_format:
        return AccessFormatter(access_log_format, use_colors=use_colors, stream=stream)
    return DefaultFormatter(use_colors=use_colors, stream=stream)


def configure_logging(level: Union[int, None] = logging.INFO, access_log: bool = True,
                      use_colors: Optional[bool] = None, *, access_log_format: Optional[str] = None,
                      access_log_json: bool = False) -> None:
    """Set up ``pyre``, ``pyre.error`` (stderr) and ``pyre.access`` (stdout).

    ``access_log_format``: a ``str.format`` template of the access fields (see
    :class:`AccessFormatter`); ``access_log_json``: JSON lines instead. An invalid
    template raises :class:`ConfigError` before anything is changed.
    """
    access_formatter = _access_formatter(access_log_format, access_log_json, use_colors, sys.stdout)
    error_handler = logging.StreamHandler(sys.stderr)
    error_handler.setFormatter(DefaultFormatter(use_colors=use_colors, stream=sys.stderr))
    access_handler = logging.StreamHandler(sys.stdout)
    access_handler.setFormatter(access_formatter)

    root = logging.getLogger("pyre")
    root.handlers = [error_handler]
    root.propagate = False
    error = logging.getLogger("pyre.error")
    error.handlers = []
    error.propagate = True
    access = logging.getLogger("pyre.access")
    access.handlers = [access_handler]
    access.propagate = False
    if level is not None:
        root.setLevel(level)
        error.setLevel(level)
        access.setLevel(level)
    if not access_log:
        _access_log_off()


def _access_log_off() -> None:
    access = logging.getLogger("pyre.access")
    access.handlers = []
    access.propagate = False
    access.setLevel(logging.CRITICAL + 1)


# -- --log-config ------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    if isinstance(exc, KeyError) or not text:
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    if cause is not None and not isinstance(cause, KeyError) and str(cause) and str(cause) not in text:
        text = f"{text}: {cause}"
    return _one_line(text)


def _read_mapping(path: str, kind: str) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"log_config: {path}: {_reason(exc)}") from None
    if kind == "json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"log_config: {path}: invalid JSON: {_one_line(str(exc))}") from None
    else:
        try:
            import yaml
        except ImportError:
            raise ConfigError(f"log_config: {path}: a YAML log config needs PyYAML: "
                              "pip install 'pyre-server[yaml]' (or use a .json or .ini file)") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"log_config: {path}: invalid YAML: {_one_line(str(exc))}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"log_config: {path}: expected a mapping (dictConfig schema) at the top level, "
                          f"got {type(data).__name__}")
    return data


def _uvicorn_formatters(formatters: Any) -> None:
    """uvicorn's formatter classes (``"()"``/``"class"`` in dictConfig form) become Pyre's."""
    if not isinstance(formatters, dict):
        return
    for spec in formatters.values():
        if isinstance(spec, dict):
            for key in ("()", "class"):
                if isinstance(spec.get(key), str) and spec[key] in UVICORN_FORMATTERS:
                    spec[key] = UVICORN_FORMATTERS[spec[key]]


def _dict_config(data: Dict[str, Any], where: str) -> List[str]:
    """Apply a dictConfig mapping; returns the uvicorn loggers it names."""
    try:
        data = copy.deepcopy(data)  # dictConfig consumes parts of what it is given
    except Exception:  # noqa: BLE001 - objects that cannot be copied: use it as it is
        data = dict(data)
    # Like fileConfig under uvicorn's convention: loggers the config does not name
    # (pyre.error, the application's) stay enabled unless it says otherwise.
    data.setdefault("disable_existing_loggers", False)
    _uvicorn_formatters(data.get("formatters"))
    loggers = data.get("loggers")
    named = [name for name in loggers if isinstance(name, str)] if isinstance(loggers, dict) else []
    try:
        logging.config.dictConfig(data)
    except Exception as exc:  # noqa: BLE001 - ValueError, TypeError, ImportError...: all one line
        raise ConfigError(f"log_config: {where}{_reason(exc)}") from None
    return named


def _file_config(path: str) -> List[str]:
    """Apply an INI (fileConfig) file; returns the loggers it names (their qualname)."""
    import configparser

    parser = configparser.ConfigParser()
    try:
        with open(path, encoding="utf-8") as file:
            parser.read_file(file)
    except OSError as exc:
        raise ConfigError(f"log_config: {path}: {_reason(exc)}") from None
    except configparser.Error as exc:
        raise ConfigError(f"log_config: {path}: invalid INI logging config: {_reason(exc)}") from None
    named = []
    for section in parser.sections():
        if section.startswith("formatter_") and parser.get(section, "class", raw=True, fallback="") \
                in UVICORN_FORMATTERS:
            parser.set(section, "class", UVICORN_FORMATTERS[parser.get(section, "class", raw=True)])
        elif section.startswith("logger_"):
            named.append(parser.get(section, "qualname", raw=True, fallback=section[len("logger_"):]))
    try:
        logging.config.fileConfig(parser, disable_existing_loggers=False)
    except Exception as exc:  # noqa: BLE001 - configparser errors, KeyError for a missing section...
        reason = _reason(exc)
        for prefix in (f"{path} is invalid: ", f"{path} "):  # newer Pythons repeat the path
            if reason.startswith(prefix):
                reason = reason[len(prefix):]
                break
        raise ConfigError(f"log_config: {path}: invalid INI logging config: {reason}") from None
    return named


def _adopt_uvicorn_loggers(named: List[str], where: str) -> List[str]:
    """A config written for uvicorn configures the ``uvicorn``, ``uvicorn.error`` and
    ``uvicorn.access`` loggers: Pyre's own (``pyre``...) take their handlers, level and
    propagation, unless the config names Pyre's too. Returns the one-line note."""
    adopted = []
    for uvicorn_name, pyre_name in UVICORN_LOGGERS.items():
        if uvicorn_name not in named or pyre_name in named:
            continue
        source, target = logging.getLogger(uvicorn_name), logging.getLogger(pyre_name)
        target.handlers = list(source.handlers)
        target.setLevel(source.level)
        target.propagate = source.propagate
        target.disabled = source.disabled
        adopted.append(f"{uvicorn_name} -> {pyre_name}")
    if not adopted:
        return []
    return [f"log_config: {where}uvicorn's loggers configure Pyre's ({', '.join(adopted)}); "
            "rename them in the config to say so directly"]


def load_log_config(log_config: Union[str, Dict[str, Any]]) -> List[str]:
    """Apply a logging configuration: a dict (``logging.config.dictConfig``), a ``.json``
    or ``.yaml``/``.yml`` file (dictConfig; YAML needs PyYAML), or any other file as
    INI (``logging.config.fileConfig``). Loggers the config does not name keep working
    (``disable_existing_loggers`` defaults to False). Any failure is one
    :class:`ConfigError`: ``log_config: <path>: <reason>``.

    A config written for uvicorn works: uvicorn's formatter classes are replaced by
    Pyre's, and its ``uvicorn*`` loggers configure Pyre's (see :data:`UVICORN_LOGGERS`).
    Returns notes (one line each) saying what was taken from uvicorn's names."""
    if isinstance(log_config, dict):
        return _adopt_uvicorn_loggers(_dict_config(log_config, ""), "")
    if not isinstance(log_config, (str, os.PathLike)):
        raise ConfigError(f"log_config: expected a dict or a file path, got {log_config!r}")
    path = os.fspath(log_config)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".json":
        named = _dict_config(_read_mapping(path, "json"), f"{path}: ")
    elif ext in (".yaml", ".yml"):
        named = _dict_config(_read_mapping(path, "yaml"), f"{path}: ")
    else:
        named = _file_config(path)
    return _adopt_uvicorn_loggers(named, f"{path}: ")


def setup_logging(config: Any) -> List[str]:
    """All of a :class:`pyre.Config`'s logging settings, for ``pyre.run``, the CLI and workers.

    Without ``log_config``: :func:`configure_logging` with ``log_level``, ``access_log``,
    ``use_colors``, ``access_log_format`` and ``access_log_json``.

    With ``log_config`` (a path or a dict; see :func:`load_log_config`): the three
    ``pyre`` loggers are reset (no handlers, propagating, level unset), the config is
    applied, then, as uvicorn does:

    - ``log_level`` sets the level of ``pyre``, ``pyre.error`` and ``pyre.access``
      if given (``Config.log_level_number`` is None otherwise: the config's levels stand);
    - ``access_log=False`` removes ``pyre.access``'s handlers and silences it;
    - ``access_log_format``/``access_log_json`` replace the formatter of the handlers
      the config attaches to ``pyre.access`` (a warning if it attaches none);
      ``use_colors`` is left to the config's own formatters.

    Returns notes for the caller to log once (a uvicorn log config: which loggers
    configure Pyre's). Raises :class:`ConfigError` (one line) for a bad template or log
    config.
    """
    log_config = getattr(config, "log_config", None)
    access_log_format = getattr(config, "access_log_format", None)
    access_log_json = bool(getattr(config, "access_log_json", False))
    if log_config is None:
        configure_logging(config.log_level_number, config.access_log, config.use_colors,
                          access_log_format=access_log_format, access_log_json=access_log_json)
        return []
    formatter = None
    if access_log_format or access_log_json:  # validated before anything changes
        formatter = _access_formatter(access_log_format, access_log_json, config.use_colors, sys.stdout)
    saved = [(lg, lg.handlers, lg.propagate, lg.level, lg.disabled) for lg in map(logging.getLogger, _PYRE_LOGGERS)]
    for logger in map(logging.getLogger, _PYRE_LOGGERS):
        logger.handlers = []
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
        logger.disabled = False
    try:
        notes = load_log_config(log_config)
    except ConfigError:
        for logger, handlers, propagate, level, disabled in saved:  # as it was
            logger.handlers, logger.propagate, logger.disabled = handlers, propagate, disabled
            logger.setLevel(level)
        raise
    level = config.log_level_number
    if level is not None:
        for name in _PYRE_LOGGERS:
            logging.getLogger(name).setLevel(level)
    if not config.access_log:
        _access_log_off()
    elif formatter is not None:
        access = logging.getLogger("pyre.access")
        if access.handlers:
            for handler in access.handlers:
                handler.setFormatter(formatter)
        else:
            logging.getLogger("pyre.error").warning(
                "access_log_format/access_log_json: the log config attaches no handler to 'pyre.access'; "
                "ignored (name a pyre.logs formatter in the config instead)")
    return notes
