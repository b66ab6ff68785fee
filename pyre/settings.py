"""Every server setting, once: its type, default, option, environment variable and help.

Three sources can give a setting, in this order of precedence:

1. the command line (``--port 9000``),
2. the environment (``PYRE_PORT=9000``; a few settings also read a conventional
   variable such as ``WEB_CONCURRENCY``, below their ``PYRE_`` one),
3. ``[tool.pyre-server]`` in ``pyproject.toml`` in the current directory (``port = 9000``;
   PEP 518 names a tool's table after its PyPI project: ``[tool.pyre]`` is Meta's type
   checker pyre-check's, read only when it holds nothing but Pyre's keys),

then the default. :func:`resolve` merges them into keyword arguments for
:class:`pyre.Config`; a bad value, or an unknown key in Pyre's table, is a
:class:`SettingError` that names where it came from (``--port``, ``PYRE_PORT`` or
``pyproject.toml [tool.pyre-server] port``). The environment is shared with everything
in a container, so an unknown ``PYRE_*`` variable (Kubernetes injects
``PYRE_SERVICE_HOST``, ``PYRE_PORT=tcp://...`` and more for a Service named ``pyre``)
is a warning in :attr:`Sources.warnings`, never an error; a variable for a setting the
command line gives is not read at all. The CLI parser, docs/settings.md and
:class:`pyre.Config` (its keywords, defaults and checks) are all built from
:data:`SETTINGS`.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from typing import Any, Callable, Collection, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from pyre.errors import ConfigError
from pyre.trusted_hosts import LOOPBACK

__all__ = ["BY_NAME", "LOG_LEVELS", "SETTINGS", "SSL_VERSIONS", "Setting", "SettingError", "Sources", "is_import_string",
           "loop_accepted", "name_source", "resolve", "settings_table"]

ENV_PREFIX = "PYRE_"
# PYRE_ variables that are not settings (build and import switches).
RESERVED_ENV = frozenset({"PYRE_NO_EXTENSIONS", "PYRE_CYTHON_ANNOTATE"})


class SettingError(ConfigError):
    """An invalid or unknown setting; the message starts with its source."""


# -- value types -------------------------------------------------------------------------------------
#
# A Kind reads a setting's value three ways: from text (the command line, the
# environment: ``parse``), from a TOML value (``native``), and from a Python value
# given to pyre.Config (``check``). Its bounds are stated once, in the constructor
# call in SETTINGS, and all three apply them. ``parse`` and ``native`` raise _Invalid
# (the source is prefixed later); ``check`` raises ConfigError naming the setting.

#: ``check(name, value, notes)``: the valid Python value, or ConfigError starting with
#: ``name:``. ``notes`` collects one line per value accepted for uvicorn's sake.
Check = Callable[[str, Any, List[str]], Any]


class Kind:
    """How a setting's value is read from text, from TOML and from Python, and described in docs."""

    __slots__ = ("what", "metavar", "parse", "native", "check")

    def __init__(self, what: str, metavar: str, parse: Callable[[str], Any], check: Check,
                 native: Optional[Callable[[Any], Any]] = None) -> None:
        self.what = what
        self.metavar = metavar
        self.parse = parse
        self.check = check
        self.native = native or (lambda value: _native_text(value, parse, what))


class _Invalid(ValueError):
    pass


def _native_text(value: Any, parse: Callable[[str], Any], what: str) -> Any:
    if isinstance(value, str):
        return parse(value)
    raise _Invalid(f"expected {what}, got {value!r}")


def _outside(value: int, low: int, high: Optional[int]) -> bool:
    return value < low or (high is not None and value > high)


def _bounds(low: int, high: Optional[int]) -> str:
    return f">= {low}" if high is None else f"between {low} and {high}"


def _within(value: int, low: int, high: Optional[int], noun: str = "value") -> int:
    if _outside(value, low, high):
        raise _Invalid(f"invalid {noun} {value!r} (must be {_bounds(low, high)})")
    return value


def _check_int(low: int, high: Optional[int]) -> Check:
    def check(name: str, value: Any, notes: List[str]) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}: expected an integer, got {value!r}")
        if _outside(value, low, high):
            raise ConfigError(f"{name}: must be {_bounds(low, high)}, got {value}")
        return value

    return check


def integer(low: int = 0, high: Optional[int] = None, what: str = "an integer") -> Kind:
    def check(value: int) -> int:
        return _within(value, low, high)

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise _Invalid(f"invalid value {text!r} (expected {what})") from None
        return check(value)

    def native(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"expected {what}, got {value!r}")
        return check(value)

    return Kind(what, "INT", parse, _check_int(low, high), native)


def seconds(low: float = 0.0, allow_low: bool = True) -> Kind:
    relation = ">=" if allow_low else ">"

    def outside(value: float) -> bool:
        return value < low or (value == low and not allow_low)

    def check(value: float) -> float:
        if outside(value):
            raise _Invalid(f"invalid value {value!r} (must be {relation} {low:g})")
        return value

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise _Invalid(f"invalid value {text!r} (expected seconds)") from None
        return check(value)

    def native(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Invalid(f"expected a number of seconds, got {value!r}")
        return check(float(value))

    def check_python(name: str, value: Any, notes: List[str]) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}: expected a number of seconds, got {value!r}")
        if outside(value):
            raise ConfigError(f"{name}: must be {relation} {low:g} seconds, got {value}")
        return float(value)

    return Kind("seconds", "SECONDS", parse, check_python, native)


_SIZE = re.compile(r"^\s*(\d+)\s*([kKmMgG]i?[bB]?|[bB])?\s*$")


def _parse_size(text: str) -> int:
    match = _SIZE.match(text)
    if not match:
        raise _Invalid(f"invalid size {text!r} (expected bytes, e.g. 1048576 or 10M)")
    unit = (match.group(2) or "b")[0].lower()
    return int(match.group(1)) * {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]


def size(low: int = 0, high: Optional[int] = None) -> Kind:
    """Bytes: a number, or with a K, M or G suffix in text and TOML (an int in Python)."""
    def check(value: int) -> int:
        return _within(value, low, high, "size")

    def native(value: Any) -> int:
        if isinstance(value, bool):
            raise _Invalid(f"expected a size in bytes, got {value!r}")
        if isinstance(value, int):
            return check(value)
        if isinstance(value, str):
            return check(_parse_size(value))
        raise _Invalid(f"expected a size in bytes, got {value!r}")

    return Kind("bytes (K, M, G suffixes)", "BYTES", lambda text: check(_parse_size(text)), _check_int(low, high),
                native)


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on", "y", "t"):
        return True
    if value in ("0", "false", "no", "off", "n", "f"):
        return False
    raise _Invalid(f"invalid value {text!r} (expected true or false)")


def _native_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _Invalid(f"expected true or false, got {value!r}")


def _truth(name: str, value: Any, notes: List[str]) -> bool:
    return bool(value)  # Python's truth, as uvicorn's Config takes these


def _string(name: str, value: Any, notes: List[str]) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{name}: expected a string, got {value!r}")
    return value


BOOL = Kind("true or false", "BOOL", _parse_bool, _truth, _native_bool)
TEXT = Kind("text", "TEXT", lambda text: text, _string)


def choice(*options: str, uvicorn: Optional[Mapping[str, str]] = None, why: str = "") -> Kind:
    """One of ``options``; ``uvicorn``: uvicorn's values, accepted too, each with the one
    of ``options`` it means here (``why`` says so in a note, see :attr:`pyre.Config.notes`)."""
    uvicorn = dict(uvicorn or {})

    def parse(text: str) -> str:
        if text not in options and text not in uvicorn:
            raise _Invalid(f"invalid choice {text!r} (choose from {', '.join(options)})")
        return text

    def check(name: str, value: Any, notes: List[str]) -> str:
        mapped = uvicorn.get(value) if isinstance(value, str) else None
        if mapped is not None:
            notes.append(f"--{name} {value}: {why} (--{name} {mapped})")
            return mapped
        if value not in options:
            raise ConfigError(f"{name}: expected one of {', '.join(options)}, got {value!r}")
        return value

    what = "one of " + ", ".join(options)
    if uvicorn:
        what += f" (uvicorn's {', '.join(uvicorn)} accepted)"
    return Kind(what, "{" + ",".join(options) + "}", parse, check)


# Another fast event loop's name (uvicorn's zuvloop, rloop, winloop...): Pyre runs the
# fastest it has, with a note. ``module:factory`` names a loop factory to import.
_LOOPS = ("auto", "asyncio", "uvloop")
_UVICORN_LOOPS = {"none": "asyncio"}
_FAST_LOOP = re.compile(r"^[a-z][a-z0-9_]*loop$")
_IMPORT_STRING = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def is_import_string(value: str) -> bool:
    """``module:attribute`` (dotted names on both sides)."""
    return bool(_IMPORT_STRING.match(value))


def loop_accepted(value: str) -> bool:
    """A ``loop`` value Config takes: Pyre's, uvicorn's, another fast loop's name, or
    ``module:factory``."""
    return value in _LOOPS or value in _UVICORN_LOOPS or bool(_FAST_LOOP.match(value)) or is_import_string(value)


def _parse_loop(text: str) -> str:
    if loop_accepted(text):
        return text
    raise _Invalid(f"invalid choice {text!r} (choose from auto, asyncio, uvloop, or a module:factory)")


_LOOP_CHOICE = choice(*_LOOPS, uvicorn=_UVICORN_LOOPS, why="uvicorn's 'do not set up a loop'; Pyre runs asyncio's")


def _check_loop(name: str, value: Any, notes: List[str]) -> str:
    if not isinstance(value, str) or value in _LOOPS or value in _UVICORN_LOOPS:
        return _LOOP_CHOICE.check(name, value, notes)
    if is_import_string(value):
        return value  # a loop factory, imported by pyre.loops when the server starts
    if _FAST_LOOP.match(value):
        from pyre.loops import uvloop_available

        fastest = "uvloop" if uvloop_available() else "asyncio"
        notes.append(f"--loop {value}: not a loop Pyre has; using the fastest installed, {fastest} (--loop auto)")
        return "auto"
    raise ConfigError(f"{name}: expected one of auto, asyncio, uvloop or module:factory, got {value!r}")


LOOP = Kind("auto, asyncio, uvloop or module:factory (uvicorn's other loop names: the fastest installed)",
            "{auto,asyncio,uvloop,MODULE:FACTORY}", _parse_loop, _check_loop)


def _parse_octal(text: str) -> int:
    try:
        value = int(text.strip(), 8)
    except ValueError:
        raise _Invalid(f"invalid value {text!r} (expected octal permissions, e.g. 660)") from None
    if not 0 <= value <= 0o7777:
        raise _Invalid(f"invalid value {text!r} (expected octal permissions, e.g. 660)")
    return value


def _native_octal(value: Any) -> int:
    if isinstance(value, str):
        return _parse_octal(value)
    raise _Invalid(f"expected octal permissions as a string, e.g. \"660\", got {value!r}")


OCTAL = Kind("octal permissions", "MODE", _parse_octal, _check_int(0, 0o7777), _native_octal)


def _parse_header(text: str) -> str:
    if ":" not in text or not text.split(":", 1)[0].strip():
        raise _Invalid(f"invalid header {text!r} (expected NAME:VALUE)")
    return text


def _check_header(name: str, value: Any, notes: List[str]) -> Tuple[str, str]:
    """``"Name: value"`` or a ``(name, value)`` pair, as a pair."""
    if isinstance(value, str):
        field, sep, text = value.partition(":")
        if not sep or not field.strip():
            raise ConfigError(f"{name}: expected 'Name: value', got {value!r}")
        value = (field.strip(), text.strip())
    try:
        field, text = value
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected (name, value) pairs, got {value!r}") from None
    return (str(field), str(text))


HEADER = Kind("a header NAME:VALUE", "NAME:VALUE", _parse_header, _check_header)


# -- checks of Python values for settings whose text is plain TEXT ------------------------------------


def _fspath(name: str, value: Any, notes: List[str]) -> str:
    """A path, as given (``os.PathLike`` as its string)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise ConfigError(f"{name}: expected a file path, got {value!r}")
    return value


def _file(name: str, value: Any, notes: List[str]) -> Optional[str]:
    """A path; empty means none (the TLS files: gunicorn gives ``""`` for unset)."""
    return _fspath(name, value, notes) or None


def _password(name: str, value: Any, notes: List[str]) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{name}: expected a string")  # never echo a password
    return value


def _root_path(name: str, value: Any, notes: List[str]) -> str:
    value = _string(name, value, notes)
    if value and (not value.startswith("/") or value.endswith("/")):
        raise ConfigError(f"{name}: must start with '/' and not end with '/', got {value!r}")
    return value


_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP field name (RFC 9110 token)


def _header_name(name: str, value: Any, notes: List[str]) -> str:
    if not isinstance(value, str) or not _TOKEN.match(value):
        raise ConfigError(f"{name}: expected a header name, got {value!r}")
    return value.lower()


def _many(each: Check) -> Check:
    """A list (None: empty; a single string: one item), each item checked by ``each``."""
    def check(name: str, value: Any, notes: List[str]) -> List[Any]:
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}: expected a list, got {value!r}")
        return [each(name, item, notes) for item in value]

    return check


def _addresses(name: str, value: Any, notes: List[str]) -> List[str]:
    """Comma-separated text or a list; none given: ``$FORWARDED_ALLOW_IPS``, else the
    loopback addresses (uvicorn's rule)."""
    if value is None:
        value = os.environ.get("FORWARDED_ALLOW_IPS", ",".join(LOOPBACK))
    if isinstance(value, str):
        value = [item.strip() for item in value.split(",") if item.strip()]
    return _many(_string)(name, value, notes)


LOG_LEVELS: Dict[str, int] = {"critical": 50, "error": 40, "warning": 30, "info": 20, "debug": 10, "trace": 5}


def _log_level(name: str, value: Any, notes: List[str]) -> Union[str, int]:
    """A level name (any case) or a ``logging`` level number."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str) or value.lower() not in LOG_LEVELS:
        raise ConfigError(f"{name}: expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return value.lower()


def _log_config(name: str, value: Any, notes: List[str]) -> Union[str, Dict[str, Any], None]:
    """A file, or a ``logging.config.dictConfig`` dict."""
    return value if isinstance(value, dict) else _file(name, value, notes)


# --ssl-version takes uvicorn's values, the ssl.PROTOCOL_* numbers: TLS (2) and
# TLS_SERVER (17, the default) negotiate the best version (TLS 1.2 or 1.3);
# TLSv1_2 (5) pins TLS 1.2. TLS 1.0 and 1.1 (3, 4) are refused (RFC 8996).
SSL_VERSIONS: Dict[int, str] = {2: "TLS", 5: "TLSv1_2", 17: "TLS_SERVER"}
_SSL_REFUSED = {3: "TLSv1", 4: "TLSv1_1", 16: "TLS_CLIENT"}


def _ssl_version(name: str, value: Any, notes: List[str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}: expected an ssl.PROTOCOL_* number, got {value!r}")
    if value in _SSL_REFUSED:
        raise ConfigError(f"{name}: {value} (PROTOCOL_{_SSL_REFUSED[value]}) is refused: TLS 1.0 and 1.1 are "
                          "insecure (RFC 8996) and a server context needs a server protocol; use 17 or 5 (TLS 1.2)")
    if value not in SSL_VERSIONS:
        choices = ", ".join(f"{number} ({protocol})" for number, protocol in SSL_VERSIONS.items())
        raise ConfigError(f"{name}: expected one of {choices}, got {value}")
    return value


# -- the table ---------------------------------------------------------------------------------------


class Setting:
    """One setting. ``name`` is the :class:`pyre.Config` keyword and ``default`` its
    default; ``flag`` the CLI option.

    A Python value given to Config is checked by :meth:`validate`: None passes when
    ``optional`` (the default when ``default`` is None); with ``zero_is_none``, 0 or
    empty means "none" (a limit that is off); else ``check`` (the kind's, or a list of
    them when ``multiple``) returns the value to keep or raises ConfigError.
    """

    __slots__ = ("name", "kind", "default", "help", "group", "flag", "multiple", "aliases", "toggle",
                 "optional_value", "metavar", "default_doc", "flag_aliases", "optional", "zero_is_none", "check")

    def __init__(self, name: str, kind: Kind, default: Any, help: str, group: str, *,
                 flag: Optional[str] = None, multiple: bool = False, aliases: Tuple[str, ...] = (),
                 toggle: bool = False, optional_value: bool = False, metavar: Optional[str] = None,
                 default_doc: Optional[str] = None, flag_aliases: Tuple[str, ...] = (),
                 optional: Optional[bool] = None, zero_is_none: bool = False, check: Optional[Check] = None) -> None:
        self.name = name
        self.kind = kind
        self.default = default
        self.optional = default is None if optional is None else optional
        self.zero_is_none = zero_is_none
        self.check: Check = check or (_many(kind.check) if multiple else kind.check)
        self.help = help
        self.group = group
        self.flag = flag or "--" + name.replace("_", "-")
        self.multiple = multiple  # repeatable on the CLI, a list elsewhere
        self.aliases = aliases  # conventional environment variables below PYRE_NAME
        self.toggle = toggle  # --name / --no-name
        self.optional_value = optional_value  # --name [BOOL]
        self.metavar = metavar
        self.default_doc = default_doc
        self.flag_aliases = flag_aliases  # more option names: uvicorn's spelling of the same limit

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    def validate(self, value: Any, notes: List[str]) -> Any:
        """The value :class:`pyre.Config` keeps for ``value``; ConfigError naming the
        setting if it is invalid. ``notes`` gets a line for a uvicorn value."""
        if value is None and self.optional or self.zero_is_none and not value:
            return None
        return self.check(self.name, value, notes)

    def describe_default(self) -> str:
        if self.default_doc is not None:
            return self.default_doc
        if self.default is None or self.default == []:
            return "none"
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if self.default == "":
            return "empty"
        return str(self.default)


_B, _A, _I, _P, _W, _L, _T, _H, _LOG, _OBS = (
    "Binding", "Application", "Implementation", "Processes", "Reload", "Limits and timeouts", "TLS",
    "Response headers and proxies", "Logging", "Observability",
)

SETTINGS: Tuple[Setting, ...] = (
    Setting("app", TEXT, None, "the ASGI application as module:attribute (the CLI's APP argument)", _A,
            flag="APP"),
    Setting("host", TEXT, "127.0.0.1", "bind socket to this host", _B),
    Setting("port", integer(0, 65535, "an integer port"), 8000,
            "bind socket to this port; 0 picks a free port", _B),
    Setting("uds", TEXT, None, "bind to a Unix domain socket", _B, metavar="PATH", check=_fspath),
    Setting("uds_perms", OCTAL, None, "permissions of the --uds socket file, in octal (e.g. 660)", _B,
            default_doc="666 (uvicorn's)"),
    Setting("fd", integer(0, None, "a file descriptor"), None,
            "serve on an inherited listening socket with this file descriptor", _B,
            default_doc="none; systemd's LISTEN_FDS when set"),
    Setting("backlog", integer(1), 2048, "maximum number of pending connections", _B),
    Setting("reuse_port", BOOL, False,
            "SO_REUSEPORT: each worker binds its own socket and the kernel spreads connections", _B,
            toggle=True),
    Setting("factory", BOOL, False, "APP is a factory called with no arguments", _A, toggle=True),
    Setting("app_dir", TEXT, None, "look for APP in this directory (added to sys.path)", _A, metavar="DIR",
            default_doc=".", check=_fspath),
    Setting("interface", choice("auto", "asgi3", "asgi2"), "auto", "the application interface", _A),
    Setting("lifespan", choice("auto", "on", "off"), "auto", "lifespan protocol", _A),
    Setting("root_path", TEXT, "", "ASGI root_path for an app mounted below a path prefix", _A, check=_root_path),
    Setting("env_file", TEXT, None, "load environment variables from this file before anything else", _A,
            metavar="PATH", check=_fspath),
    Setting("http", choice("auto", "h1", "h2", uvicorn={"h11": "h1", "httptools": "h1", "zttp": "auto"},
                           why="uvicorn's HTTP implementation; Pyre's own parser serves it"), "auto",
            "HTTP protocol: auto offers HTTP/2 and HTTP/1.1, h1 and h2 only one", _I),
    Setting("loop", LOOP, "auto", "event loop", _I),
    Setting("ws", choice("auto", "none", "wsproto", uvicorn={"websockets": "auto", "websockets-sansio": "auto"},
                         why="uvicorn's WebSocket implementation; Pyre serves WebSocket with its own (on wsproto)"),
            "auto",
            "WebSocket: auto and wsproto serve it (on wsproto), none serves upgrade requests as HTTP", _I),
    Setting("ws_per_message_deflate", BOOL, True,
            "negotiate permessage-deflate compression when a client offers it "
            "(uvicorn's spelling: --ws-per-message-deflate false)", _I, optional_value=True),
    Setting("workers", integer(1, None, "a number of workers"), 1, "number of worker processes", _P, aliases=("WEB_CONCURRENCY",),
            default_doc="$WEB_CONCURRENCY, else 1"),
    Setting("gc_freeze", BOOL, None,
            "after startup (lifespan done, before accepting), gc.collect() then gc.freeze() in each serving "
            "process, and the youngest generation's threshold raised from 700 to 7000: full collections no "
            "longer walk what startup left (a lower p99), young ones no longer walk each batch of in-flight "
            "requests; garbage cycles made before it are never freed", _P, toggle=True,
            default_doc="on for the pyre command, pyre.run and the gunicorn worker; off for a pyre.Server "
                        "embedded in another program"),
    Setting("limit_max_requests", integer(1), None,
            "a worker retires after this many requests and is replaced", _P, zero_is_none=True),
    Setting("limit_max_requests_jitter", integer(0), 0,
            "add a random 0..N to each worker's --limit-max-requests, so workers do not retire together", _P),
    Setting("limit_max_rss", integer(1, None, "MiB"), None,
            "a worker whose resident memory exceeds this many MiB is replaced", _P, metavar="MIB", zero_is_none=True),
    Setting("timeout_worker_healthcheck", seconds(0, False), 5.0,
            "a worker whose event loop does not answer the supervisor within this many seconds is replaced",
            _P),
    Setting("timeout_graceful_shutdown", seconds(0), None,
            "on shutdown, wait this long for requests in flight, then cancel them", _P,
            default_doc="none: wait for all"),
    Setting("reload", BOOL, False, "restart the server when a watched file changes (development)", _W,
            toggle=True),
    Setting("reload_dirs", TEXT, [], "watch this directory (repeatable)", _W, flag="--reload-dir",
            multiple=True, metavar="DIR", default_doc="the current directory"),
    Setting("reload_includes", TEXT, [], "also watch files matching this glob (repeatable)", _W,
            flag="--reload-include", multiple=True, metavar="GLOB", default_doc="*.py"),
    Setting("reload_excludes", TEXT, [], "ignore files matching this glob (repeatable)", _W,
            flag="--reload-exclude", multiple=True, metavar="GLOB", default_doc=".*, .py[cod], .sw.*, ~*"),
    Setting("reload_delay", seconds(0), 0.25, "wait this long for more changes before restarting", _W),
    Setting("limit_concurrency", integer(1), None,
            "answer 503 beyond this many concurrent connections or requests", _L),
    Setting("limit_request_body", size(0), None, "largest request body in bytes (413 beyond)", _L,
            default_doc="no limit", zero_is_none=True),
    Setting("h1_max_request_line", integer(16, None, "bytes"), 8192, "longest HTTP/1.1 request line (414 beyond)",
            _L),
    Setting("h1_max_header_size", size(64), 65536, "largest HTTP/1.1 header section in bytes (431 beyond)", _L,
            flag_aliases=("--h11-max-incomplete-event-size",)),
    Setting("h1_max_headers", integer(1), 100, "most HTTP/1.1 header fields in a request (431 beyond)", _L),
    Setting("h2_max_concurrent_streams", integer(1, 2**31 - 1), 100,
            "HTTP/2 streams a client may have open at once (REFUSED_STREAM beyond)", _L),
    Setting("h2_initial_window_size", size(1, 2**31 - 1), 65535, "HTTP/2 receive window per stream, in bytes",
            _L),
    Setting("h2_max_frame_size", size(16384, 16777215), 16384,
            "largest HTTP/2 frame payload the server accepts (16384 to 16777215)", _L),
    Setting("h2_max_header_list_size", size(1, 2**32 - 1), 65536,
            "largest decoded HTTP/2 header list in bytes (431 beyond)", _L),
    Setting("h2_ping_interval", seconds(0, False), None,
            "PING an HTTP/2 client silent this long with streams open; close it if the PING is unanswered "
            "as long again", _L, default_doc="never"),
    Setting("ws_max_size", size(1), 16 * 1024 * 1024,
            "largest WebSocket message in bytes, compressed or not (close 1009 beyond)", _L),
    Setting("ws_max_queue", integer(1), 32,
            "WebSocket messages held for an application that is not reading before the server stops "
            "reading from its client", _L),
    Setting("ws_ping_interval", seconds(0), 20.0, "ping a WebSocket client silent this long; 0: never", _L,
            zero_is_none=True),
    Setting("ws_ping_timeout", seconds(0), 20.0, "close a WebSocket (1011) whose ping is unanswered this long",
            _L, zero_is_none=True),
    Setting("timeout_keep_alive", seconds(0, False), 5.0, "close idle keep-alive connections after this many seconds",
            _L),
    Setting("timeout_request_header", seconds(0, False), 30.0,
            "a request head must arrive within this many seconds of its first byte (408)", _L),
    Setting("timeout_request_body", seconds(0, False), 60.0,
            "the longest gap between two reads of a request body the application is waiting for; then the "
            "application sees http.disconnect and the client a 408 if no response started", _L),
    Setting("timeout_send", seconds(0, False), 60.0,
            "the longest time without write progress while response bytes are queued; then the connection "
            "(an HTTP/2 stream: the stream) is aborted", _L),
    Setting("timeout_lifespan", seconds(0, False), 60.0,
            "lifespan startup and shutdown must finish within this many seconds", _L, optional=True),
    Setting("ssl_certfile", TEXT, None, "serve HTTPS with this PEM certificate (chain)", _T, metavar="PATH",
            check=_file),
    Setting("ssl_keyfile", TEXT, None, "the PEM private key of the certificate", _T, metavar="PATH", check=_file),
    Setting("ssl_keyfile_password", TEXT, None, "the password of an encrypted private key", _T, check=_password),
    Setting("ssl_ca_certs", TEXT, None, "CA certificates that verify client certificates", _T, metavar="PATH",
            check=_file),
    Setting("ssl_cert_reqs", integer(0, 2, "0, 1 or 2"), 0,
            "client certificates: 0 none, 1 optional, 2 required (see ssl.VerifyMode)", _T),
    Setting("ssl_ciphers", TEXT, "", "OpenSSL cipher string for TLS 1.2 and below", _T,
            default_doc="Python's (ECDHE with AEAD first)"),
    Setting("ssl_version", integer(0, None, "an ssl.PROTOCOL_* number"), 17,
            "uvicorn's TLS protocol number: 17 (PROTOCOL_TLS_SERVER) or 2 negotiate TLS 1.2 or 1.3, 5 pins TLS 1.2; "
            "TLS 1.0 and 1.1 are refused", _T, check=_ssl_version),
    Setting("server_header", BOOL, True, "send 'server: pyre'", _H, toggle=True),
    Setting("date_header", BOOL, True, "send a Date header", _H, toggle=True),
    Setting("headers", HEADER, [], "a default response header (repeatable)", _H, flag="--header",
            multiple=True, metavar="NAME:VALUE"),
    Setting("proxy_headers", BOOL, True,
            "take the client address and scheme from X-Forwarded-For/-Proto and Forwarded when the "
            "direct peer is in --forwarded-allow-ips", _H, toggle=True),
    Setting("proxy_headers_source", choice("x-forwarded", "forwarded", "auto"), "x-forwarded",
            "which proxy headers to read: X-Forwarded-For/-Proto (as uvicorn), RFC 7239 Forwarded, or auto "
            "(Forwarded when present, else X-Forwarded-*; the proxy must then set or strip both)", _H),
    Setting("forwarded_allow_ips", TEXT, None,
            "comma-separated addresses, CIDR networks and host names (matched as text, as uvicorn's) of "
            "trusted proxies, unix: for a Unix socket's peer, or *", _H,
            aliases=("FORWARDED_ALLOW_IPS",), default_doc="$FORWARDED_ALLOW_IPS, else 127.0.0.1,::1 (uvicorn's)",
            optional=False, check=_addresses),
    Setting("proxy_protocol", BOOL, False,
            "expect a PROXY protocol v1 or v2 header on every connection, from a trusted proxy "
            "(--forwarded-allow-ips)", _H, toggle=True),
    Setting("log_config", TEXT, None, "logging configuration: dictConfig .json/.yaml, else INI fileConfig",
            _LOG, metavar="PATH", check=_log_config),
    Setting("log_level", choice("critical", "error", "warning", "info", "debug", "trace"), None,
            "level of the pyre loggers", _LOG, default_doc="info; with --log-config, the config's levels",
            check=_log_level),
    Setting("access_log", BOOL, True, "log one line per request", _LOG, toggle=True),
    Setting("access_log_format", TEXT, None,
            "access-log line template with {client} {method} {path} {status} {bytes} {request_bytes} "
            "{duration_ms} {protocol} {request_id} {http_version} {user_agent} {referer} {time}", _LOG, metavar="FORMAT",
            default_doc="uvicorn's line", zero_is_none=True),
    Setting("access_log_json", BOOL, False, "write the access log as one JSON object per line", _LOG,
            toggle=True),
    Setting("access_log_request_id_header", TEXT, "x-request-id",
            "the request header whose value is the access log's {request_id} (X-Request-ID, X-Amzn-Trace-Id...)",
            _LOG, metavar="NAME", check=_header_name),
    Setting("use_colors", BOOL, None, "colour the log", _LOG, toggle=True,
            default_doc="when writing to a terminal"),
    Setting("metrics_port", integer(0, 65535, "an integer port"), None,
            "serve Prometheus metrics on this port (needs the 'metrics' extra)", _OBS),
    Setting("metrics_host", TEXT, None, "address of the metrics listener", _OBS, default_doc="--host"),
)

BY_NAME: Dict[str, Setting] = {setting.name: setting for setting in SETTINGS}
# pyproject.toml keys may also be spelled like the option: `header`, `reload-dir`.
BY_KEY: Dict[str, Setting] = {
    **{setting.flag[2:].replace("-", "_"): setting for setting in SETTINGS if setting.flag.startswith("--")},
    **BY_NAME,
}
GROUPS: Tuple[str, ...] = tuple(dict.fromkeys(setting.group for setting in SETTINGS))


# -- sources -----------------------------------------------------------------------------------------


class Sources:
    """Which source gave each resolved setting, to name it in an error; and the
    warnings (one line each) about what was ignored, for the caller to log."""

    def __init__(self) -> None:
        self.origin: Dict[str, str] = {}
        self.warnings: List[str] = []

    def label(self, name: str) -> str:
        return self.origin.get(name, name)


def _flag_label(setting: Setting) -> str:
    return "APP" if setting.name == "app" else setting.flag


TABLE = "pyre-server"  # [tool.pyre-server]: PEP 518's table of the PyPI project
LEGACY_TABLE = "pyre"  # [tool.pyre]: pyre-check's (and Pyre's own before); read only with Pyre's keys alone


def _pyproject_label(path: str, key: str, table: str = TABLE) -> str:
    return f"{path} [tool.{table}] {key}"


def load_pyproject(path: str = "pyproject.toml", warnings: Optional[List[str]] = None
                   ) -> Tuple[Dict[str, Any], Dict[str, str]]:
    """Settings from ``[tool.pyre-server]`` of ``path``: (values, labels). No file: nothing.

    Without that table, ``[tool.pyre]`` is read if every key in it is a Pyre setting
    (with a deprecation warning); one holding any other key is pyre-check's, and is
    ignored with a warning. Warnings are appended to ``warnings``."""
    warnings = warnings if warnings is not None else []
    try:
        with open(path, "rb") as file:
            raw = file.read()
    except FileNotFoundError:
        return {}, {}
    except OSError as exc:
        raise SettingError(f"{path}: cannot read: {exc.strerror}") from None
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingError(f"{path}: not valid TOML: {exc}") from None
    tool = document.get("tool", {})
    if not isinstance(tool, dict):
        return {}, {}
    table = tool.get(TABLE)
    legacy = tool.get(LEGACY_TABLE)
    if table is not None:
        if not isinstance(table, dict):
            raise SettingError(f"{path}: [tool.{TABLE}] must be a table")
        if isinstance(legacy, dict) and legacy and _only_pyre_keys(legacy):
            warnings.append(f"{path}: [tool.{LEGACY_TABLE}] ignored: Pyre reads [tool.{TABLE}]")
        return _read_table(path, table, TABLE)
    if not isinstance(legacy, dict) or not legacy:
        return {}, {}
    foreign = [key for key in legacy if _setting_for_key(key) is None]
    if foreign:
        warnings.append(f"{path}: [tool.{LEGACY_TABLE}] ignored: it holds keys that are not Pyre settings "
                        f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}; pyre-check's?). "
                        f"Pyre reads [tool.{TABLE}]")
        return {}, {}
    warnings.append(f"{path}: [tool.{LEGACY_TABLE}] is deprecated (it is pyre-check's table): "
                    f"rename it to [tool.{TABLE}]")
    return _read_table(path, legacy, LEGACY_TABLE)


def _setting_for_key(key: str) -> Optional[Setting]:
    return BY_KEY.get(key.replace("-", "_"))


def _only_pyre_keys(table: Mapping[str, Any]) -> bool:
    return all(_setting_for_key(key) is not None for key in table)


def _read_table(path: str, table: Mapping[str, Any], table_name: str) -> Tuple[Dict[str, Any], Dict[str, str]]:
    values: Dict[str, Any] = {}
    labels: Dict[str, str] = {}
    for key, value in table.items():
        label = _pyproject_label(path, key, table_name)
        setting = _setting_for_key(key)
        if setting is None:
            raise SettingError(f"{label}: unknown setting{_suggest(key.replace('-', '_'), BY_NAME)}")
        name = setting.name
        if name in values:
            raise SettingError(f"{label}: given twice ({labels[name]})")
        values[name] = _native(setting, value, label)
        labels[name] = label
    return values, labels


def _native(setting: Setting, value: Any, label: str) -> Any:
    try:
        if setting.multiple:
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list):
                raise _Invalid(f"expected a list, got {value!r}")
            return [setting.kind.native(item) for item in value]
        if setting.name == "forwarded_allow_ips" and isinstance(value, list):
            return ",".join(setting.kind.native(item) for item in value)
        return setting.kind.native(value)
    except _Invalid as exc:
        raise SettingError(f"{label}: {exc}") from None


# Kubernetes "service links": for every Service in the namespace, say one named
# "pyre-x", each pod gets PYRE_X_SERVICE_HOST, PYRE_X_SERVICE_PORT[_<NAME>],
# PYRE_X_PORT=tcp://10.0.0.1:8000 and PYRE_X_PORT_8000_TCP[_PROTO|_PORT|_ADDR].
_SERVICE_LINK_NAME = re.compile(
    r"^(?:[A-Z0-9_]+_)?(?:SERVICE_HOST|SERVICE_PORT(?:_[A-Z0-9_]+)?|PORT_\d+_(?:TCP|UDP|SCTP)(?:_PROTO|_PORT|_ADDR)?)$")
_SERVICE_LINK_VALUE = re.compile(r"^(?:tcp|udp|sctp)://\S+:\d+$")


def _service_link(variable: str, text: str) -> bool:
    """A variable Kubernetes injected for a Service (by its name, or a known setting
    whose value is a service link: ``PYRE_PORT=tcp://10.0.0.1:8000``)."""
    name = variable[len(ENV_PREFIX):]
    if _SERVICE_LINK_NAME.match(name):
        return True
    return (name.endswith("PORT") or name == "HOST") and bool(_SERVICE_LINK_VALUE.match(text.strip()))


def load_environment(environ: Mapping[str, str], skip: Collection[str] = (), warnings: Optional[List[str]] = None
                     ) -> Tuple[Dict[str, Any], Dict[str, str]]:
    """Settings from ``PYRE_*`` variables and the conventional aliases (below them).

    Settings named in ``skip`` (those the command line gives) are not read at all.
    Kubernetes service-link variables are ignored, and so is any other ``PYRE_*``
    name that is not a setting: each gets a line in ``warnings``, never an error."""
    warnings = warnings if warnings is not None else []
    values: Dict[str, Any] = {}
    labels: Dict[str, str] = {}
    links: List[str] = []
    for setting in SETTINGS:
        if setting.name in skip:
            continue
        for variable in (setting.env, *setting.aliases):
            text = environ.get(variable)
            if text is None or (variable != setting.env and not text.strip()):
                continue
            if variable == setting.env and _service_link(variable, text):
                links.append(variable)
                break
            values[setting.name] = _from_text(setting, text, variable)
            labels[setting.name] = variable
            break
    unknown: List[str] = []
    for variable in sorted(environ):
        if variable.startswith(ENV_PREFIX) and variable not in RESERVED_ENV:
            name = variable[len(ENV_PREFIX):].lower()
            if name in BY_NAME:
                continue
            if _service_link(variable, environ[variable]):
                links.append(variable)
            else:
                unknown.append(variable)
    if links:
        warnings.append(f"{', '.join(sorted(links))}: Kubernetes service links (of a Service named pyre...), "
                        "not Pyre settings: ignored (enableServiceLinks: false in the pod spec stops them)")
    for variable in unknown:
        name = variable[len(ENV_PREFIX):].lower()
        warnings.append(f"{variable}: not a Pyre setting, ignored{_suggest(name, BY_NAME, ENV_PREFIX, upper=True)}")
    return values, labels


def _from_text(setting: Setting, text: str, label: str) -> Any:
    try:
        if setting.multiple:
            stripped = text.strip()
            if stripped.startswith("["):
                try:
                    items = json.loads(stripped)
                except ValueError:
                    raise _Invalid(f"invalid JSON list {text!r}") from None
                if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
                    raise _Invalid(f"expected a JSON list of strings, got {text!r}")
            else:
                items = [item.strip() for item in text.split(",") if item.strip()]
            return [setting.kind.parse(item) for item in items]
        return setting.kind.parse(text)
    except _Invalid as exc:
        raise SettingError(f"{label}: {exc}") from None


def _suggest(name: str, known: Mapping[str, Any], prefix: str = "", upper: bool = False) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    if not close:
        return ""
    guess = close[0].upper() if upper else close[0]
    return f" (did you mean {prefix}{guess}?)"


# -- the command line --------------------------------------------------------------------------------


class _TextType:
    """argparse ``type=`` that turns a setting's parse error into argparse's message."""

    def __init__(self, setting: Setting) -> None:
        self.setting = setting
        self.__name__ = setting.kind.what

    def __call__(self, text: str) -> Any:
        try:
            return self.setting.kind.parse(text)
        except _Invalid as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per setting (and APP), every default SUPPRESSed: the namespace then
    holds only what the command line gave, which :func:`resolve` layers over the rest."""
    groups = {name: parser.add_argument_group(name.lower()) for name in GROUPS}
    for setting in SETTINGS:
        group = groups[setting.group]
        text = f"{setting.help} [default: {setting.describe_default()}; env {setting.env}]"
        text = text.replace("%", "%%")
        if setting.name == "app":
            group.add_argument("app", metavar="APP", nargs="?", default=argparse.SUPPRESS,
                               help=f"{setting.help}; or env {setting.env}, or app in [tool.{TABLE}]")
        elif setting.toggle:
            group.add_argument(setting.flag, dest=setting.name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=text)
        elif setting.optional_value:
            group.add_argument(setting.flag, dest=setting.name, type=_TextType(setting), nargs="?", const=True,
                               default=argparse.SUPPRESS, metavar="BOOL", help=text)
        elif setting.multiple:
            group.add_argument(setting.flag, dest=setting.name, type=_TextType(setting), action="append",
                               default=argparse.SUPPRESS, metavar=setting.metavar, help=text)
        else:
            metavar = setting.metavar or setting.kind.metavar
            group.add_argument(setting.flag, *setting.flag_aliases, dest=setting.name, type=_TextType(setting),
                               default=argparse.SUPPRESS, metavar=metavar, help=text)


def resolve(cli: Mapping[str, Any], environ: Mapping[str, str], pyproject: str = "pyproject.toml"
            ) -> Tuple[Dict[str, Any], Sources]:
    """Merge command line, environment and pyproject.toml into :class:`pyre.Config` keywords.

    ``env_file`` is resolved first and loaded into the environment (existing variables
    win), so an env file may itself set ``PYRE_*`` variables.
    """
    from pyre.envfile import load_env_file

    sources = Sources()
    file_values, file_labels = load_pyproject(pyproject, sources.warnings)
    env_file = cli.get("env_file")
    if env_file is not None:
        sources.origin["env_file"] = "--env-file"
    elif ENV_PREFIX + "ENV_FILE" in environ:
        env_file = environ[ENV_PREFIX + "ENV_FILE"]
        sources.origin["env_file"] = ENV_PREFIX + "ENV_FILE"
    elif "env_file" in file_values:
        env_file = file_values["env_file"]
        sources.origin["env_file"] = file_labels["env_file"]
    if env_file:
        # Into os.environ for the app; here too, where variables already set win.
        environ = {**load_env_file(env_file), **environ}
    env_values, env_labels = load_environment(environ, cli.keys(), sources.warnings)

    merged: Dict[str, Any] = {}
    for setting in SETTINGS:
        name = setting.name
        if name in cli:
            merged[name] = cli[name]
            sources.origin[name] = _flag_label(setting)
        elif name in env_values:
            merged[name] = env_values[name]
            sources.origin[name] = env_labels[name]
        elif name in file_values:
            merged[name] = file_values[name]
            sources.origin[name] = file_labels[name]
    if env_file:
        merged["env_file"] = env_file
    if "fd" not in merged and "uds" not in merged:
        fd = systemd_socket(environ)
        if fd is not None:
            merged["fd"] = fd
            sources.origin["fd"] = "LISTEN_FDS"
    return merged, sources


SD_LISTEN_FDS_START = 3


def systemd_socket(environ: Mapping[str, str]) -> Optional[int]:
    """The socket systemd passed (socket activation: ``LISTEN_FDS``, for this process)."""
    text = environ.get("LISTEN_FDS")
    if not text:
        return None
    pid = environ.get("LISTEN_PID")
    if pid and pid.strip() != str(os.getpid()):
        return None  # meant for another process (our parent, say)
    try:
        count = int(text)
    except ValueError:
        raise SettingError(f"LISTEN_FDS: invalid value {text!r} (expected a number of sockets)") from None
    if count < 1:
        return None
    if count > 1:
        raise SettingError(f"LISTEN_FDS: Pyre serves one socket, systemd passed {count}")
    return SD_LISTEN_FDS_START


def name_source(message: str, sources: Sources) -> str:
    """``port: must be ...`` -> ``PYRE_PORT: must be ...`` (or the flag, or the file key);
    other settings named in the message are re-worded the same way."""
    name, sep, rest = message.partition(":")
    if not (sep and re.fullmatch(r"[a-z0-9_]+", name) and name in BY_NAME):
        return message

    def label(setting_name: str) -> str:
        if setting_name in sources.origin:
            return sources.label(setting_name)
        return BY_NAME[setting_name].flag

    rest = re.sub(r"(?<![\w'\"-])(ssl_[a-z_]+)\b", lambda m: label(m.group(1)) if m.group(1) in BY_NAME else m.group(0),
                  rest)
    return f"{label(name)}:{rest}"


# -- docs ----------------------------------------------------------------------------------------


def settings_table() -> str:
    """The Markdown table of docs/settings.md (kept in sync by tests/meta/test_docs.py)."""
    lines: List[str] = []
    for group in GROUPS:
        lines += [f"### {group}", "", "| Setting | CLI | Environment | Default | Meaning |", "|---|---|---|---|---|"]
        for setting in SETTINGS:
            if setting.group != group:
                continue
            if setting.name == "app":
                cli = "`APP`"
            elif setting.toggle:
                cli = f"`{setting.flag}` / `--no-{setting.flag[2:]}`"
            elif setting.optional_value:
                cli = f"`{setting.flag} [BOOL]`"
            else:
                metavar = setting.metavar or setting.kind.metavar
                cli = f"`{setting.flag} {metavar}`" + (" (repeatable)" if setting.multiple else "")
                cli += "".join(f" or `{alias}`" for alias in setting.flag_aliases)
            env = " or ".join(f"`{name}`" for name in (setting.env, *setting.aliases))
            kind = f"list of {setting.kind.what}" if setting.multiple else setting.kind.what
            meaning = f"{setting.help[0].upper()}{setting.help[1:]}. Type: {kind}."
            row = f"| `{setting.name}` | {cli} | {env} | {setting.describe_default()} | {meaning} |"
            lines.append(row)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: Optional[Sequence[str]] = None) -> None:  # pragma: no cover - maintenance helper
    """``python -m pyre.settings``: print the docs table."""
    sys.stdout.write(settings_table())


if __name__ == "__main__":  # pragma: no cover
    main()
