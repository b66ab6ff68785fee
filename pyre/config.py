"""Server settings: plain, validated data. Loading the app, binding sockets and
building contexts happen in :mod:`pyre.server`; only the CLI exits the process."""

from __future__ import annotations

import os
import re
from typing import Any, Callable, Dict, List, Optional, Union

from pyre.errors import ConfigError
from pyre.protocol.h1.parsing import H1Limits
from pyre.trusted_hosts import parse_trusted

__all__ = ["Config", "LOG_LEVELS", "SSL_VERSIONS", "UVICORN_VALUES", "is_import_string", "loop_accepted"]

LOG_LEVELS: Dict[str, int] = {
    "critical": 50,
    "error": 40,
    "warning": 30,
    "info": 20,
    "debug": 10,
    "trace": 5,
}

_CHOICES = {
    "http": ("auto", "h1", "h2"),
    "ws": ("auto", "none", "wsproto"),
    "loop": ("auto", "asyncio", "uvloop"),
    "lifespan": ("auto", "on", "off"),
    "interface": ("auto", "asgi3", "asgi2"),
    "proxy_headers_source": ("x-forwarded", "forwarded", "auto"),
}

# uvicorn's values of --http, --ws and --loop: accepted, with a note (Config.notes, which
# the CLI logs) saying what each means here.
UVICORN_VALUES: Dict[str, Dict[str, str]] = {
    "http": {"h11": "h1", "httptools": "h1", "zttp": "auto"},
    "ws": {"websockets": "auto", "websockets-sansio": "auto"},
    "loop": {"none": "asyncio"},
}
_WHY = {
    "http": "uvicorn's HTTP implementation; Pyre's own parser serves it",
    "ws": "uvicorn's WebSocket implementation; Pyre serves WebSocket with its own (on wsproto)",
    "loop": "uvicorn's 'do not set up a loop'; Pyre runs asyncio's",
}
# Another fast event loop's name (uvicorn's zuvloop, rloop, winloop...): Pyre runs the
# fastest it has, with a note. ``module:factory`` names a loop factory to import.
_FAST_LOOP = re.compile(r"^[a-z][a-z0-9_]*loop$")
_IMPORT_STRING = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

# --ssl-version takes uvicorn's values, the ssl.PROTOCOL_* numbers: TLS (2) and
# TLS_SERVER (17, the default) negotiate the best version (TLS 1.2 or 1.3);
# TLSv1_2 (5) pins TLS 1.2. TLS 1.0 and 1.1 (3, 4) are refused (RFC 8996).
SSL_VERSIONS: Dict[int, str] = {2: "TLS", 5: "TLSv1_2", 17: "TLS_SERVER"}
_SSL_REFUSED = {3: "TLSv1", 4: "TLSv1_1", 16: "TLS_CLIENT"}


def is_import_string(value: str) -> bool:
    """``module:attribute`` (dotted names on both sides)."""
    return bool(_IMPORT_STRING.match(value))


def loop_accepted(value: str) -> bool:
    """A ``loop`` value Config takes: Pyre's, uvicorn's, another fast loop's name, or
    ``module:factory``."""
    return (value in _CHOICES["loop"] or value in UVICORN_VALUES["loop"] or bool(_FAST_LOOP.match(value))
            or is_import_string(value))


class Config:
    """Everything a :class:`pyre.Server` needs. Names and defaults follow uvicorn.

    ``app`` is an ASGI application or an import string ``"module:attribute"``.
    Every other argument is keyword-only; an invalid value raises
    :class:`~pyre.errors.ConfigError` naming the setting.
    """

    def __init__(
        self,
        app: Union[str, Callable[..., Any]],
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        uds: Optional[str] = None,
        fd: Optional[int] = None,
        backlog: int = 2048,
        http: str = "auto",
        loop: str = "auto",
        lifespan: str = "auto",
        interface: str = "auto",
        root_path: str = "",
        factory: bool = False,
        app_dir: Optional[str] = None,
        log_level: Union[str, int, None] = None,
        access_log: bool = True,
        use_colors: Optional[bool] = None,
        timeout_keep_alive: float = 5,
        timeout_request_header: float = 30,
        timeout_request_body: float = 60,
        timeout_send: float = 60,
        timeout_graceful_shutdown: Optional[float] = None,
        timeout_lifespan: Optional[float] = 60,
        limit_concurrency: Optional[int] = None,
        limit_request_body: Optional[int] = None,
        h1_max_request_line: int = 8192,
        h1_max_header_size: int = 65536,
        h1_max_headers: int = 100,
        server_header: bool = True,
        date_header: bool = True,
        headers: Optional[List[tuple]] = None,
        env_file: Optional[str] = None,
        workers: int = 1,
        ssl_certfile: Optional[str] = None,
        ssl_keyfile: Optional[str] = None,
        ssl_keyfile_password: Optional[str] = None,
        ssl_ca_certs: Optional[str] = None,
        ssl_cert_reqs: int = 0,
        ssl_ciphers: str = "",
        ssl_version: int = 17,
        h2_max_concurrent_streams: int = 100,
        h2_initial_window_size: int = 65535,
        h2_max_frame_size: int = 16384,
        h2_max_header_list_size: int = 65536,
        h2_ping_interval: Optional[float] = None,
        ws: str = "auto",
        ws_max_size: int = 16 * 1024 * 1024,
        ws_max_queue: int = 32,
        ws_ping_interval: Optional[float] = 20.0,
        ws_ping_timeout: Optional[float] = 20.0,
        ws_per_message_deflate: bool = True,
        reuse_port: bool = False,
        uds_perms: Optional[int] = None,
        limit_max_requests: Optional[int] = None,
        limit_max_requests_jitter: int = 0,
        limit_max_rss: Optional[int] = None,
        timeout_worker_healthcheck: float = 5.0,
        reload: bool = False,
        reload_dirs: Optional[List[str]] = None,
        reload_includes: Optional[List[str]] = None,
        reload_excludes: Optional[List[str]] = None,
        reload_delay: float = 0.25,
        proxy_headers: bool = True,
        proxy_headers_source: str = "x-forwarded",
        forwarded_allow_ips: Union[str, List[str], None] = None,
        proxy_protocol: bool = False,
        metrics_port: Optional[int] = None,
        metrics_host: Optional[str] = None,
        log_config: Union[str, Dict[str, Any], None] = None,
        access_log_format: Optional[str] = None,
        access_log_json: bool = False,
        access_log_request_id_header: str = "x-request-id",
    ) -> None:
        if not (isinstance(app, str) or callable(app)):
            raise ConfigError(f"app: expected an ASGI application or 'module:attribute', got {app!r}")
        self.app = app
        # One line each about a value accepted for uvicorn's sake (see UVICORN_VALUES).
        self.notes: List[str] = []
        self.host = _str("host", host)
        self.port = _int("port", port, 0, 65535)
        self.uds = uds
        self.fd = None if fd is None else _int("fd", fd, 0)
        self.backlog = _int("backlog", backlog, 1)
        self.http = self._uvicorn_choice("http", http)
        self.loop = self._loop(loop)
        self.lifespan = _choice("lifespan", lifespan)
        self.interface = _choice("interface", interface)
        if root_path and (not root_path.startswith("/") or root_path.endswith("/")):
            raise ConfigError(f"root_path: must start with '/' and not end with '/', got {root_path!r}")
        self.root_path = root_path
        self.factory = bool(factory)
        self.app_dir = app_dir
        if isinstance(log_level, str):
            if log_level.lower() not in LOG_LEVELS:
                raise ConfigError(f"log_level: expected one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
            log_level = log_level.lower()
        self.log_level = log_level
        self.access_log = bool(access_log)
        self.use_colors = use_colors
        self.timeout_keep_alive = _seconds("timeout_keep_alive", timeout_keep_alive)
        self.timeout_request_header = _seconds("timeout_request_header", timeout_request_header)
        self.timeout_request_body = _seconds("timeout_request_body", timeout_request_body)
        self.timeout_send = _seconds("timeout_send", timeout_send)
        self.timeout_graceful_shutdown = (
            None if timeout_graceful_shutdown is None
            else _seconds("timeout_graceful_shutdown", timeout_graceful_shutdown, allow_zero=True)
        )
        self.timeout_lifespan = None if timeout_lifespan is None else _seconds("timeout_lifespan", timeout_lifespan)
        self.limit_concurrency = None if limit_concurrency is None else _int("limit_concurrency", limit_concurrency, 1)
        self.limit_request_body = (
            None if not limit_request_body else _int("limit_request_body", limit_request_body, 1)
        )
        self.h1_max_request_line = _int("h1_max_request_line", h1_max_request_line, 16)
        self.h1_max_header_size = _int("h1_max_header_size", h1_max_header_size, 64)
        self.h1_max_headers = _int("h1_max_headers", h1_max_headers, 1)
        self.h2_max_concurrent_streams = _int("h2_max_concurrent_streams", h2_max_concurrent_streams, 1, 2**31 - 1)
        self.h2_initial_window_size = _int("h2_initial_window_size", h2_initial_window_size, 1, 2**31 - 1)
        self.h2_max_frame_size = _int("h2_max_frame_size", h2_max_frame_size, 16384, 16777215)
        self.h2_max_header_list_size = _int("h2_max_header_list_size", h2_max_header_list_size, 1, 2**32 - 1)
        self.h2_ping_interval = None if h2_ping_interval is None else _seconds("h2_ping_interval", h2_ping_interval)
        self.ws = self._uvicorn_choice("ws", ws)
        self.ws_max_size = _int("ws_max_size", ws_max_size, 1)
        self.ws_max_queue = _int("ws_max_queue", ws_max_queue, 1)
        self.ws_ping_interval = None if not ws_ping_interval else _seconds("ws_ping_interval", ws_ping_interval)
        self.ws_ping_timeout = None if not ws_ping_timeout else _seconds("ws_ping_timeout", ws_ping_timeout)
        self.ws_per_message_deflate = bool(ws_per_message_deflate)
        self.server_header = bool(server_header)
        self.date_header = bool(date_header)
        self.headers = [_header(h) for h in (headers or [])]
        self.env_file = env_file
        self.workers = _int("workers", workers, 1)
        if self.workers > 1 and not isinstance(app, str):
            raise ConfigError("workers: more than one worker needs the app as an import string 'module:attribute'")
        self.reuse_port = bool(reuse_port)
        if self.reuse_port and (uds is not None or fd is not None):
            raise ConfigError("reuse_port: only for TCP sockets (not with uds or fd)")
        _check_platform(uds, self.reuse_port, limit_max_rss)
        self.uds_perms = None if uds_perms is None else _int("uds_perms", uds_perms, 0, 0o7777)
        self.limit_max_requests = (
            None if not limit_max_requests else _int("limit_max_requests", limit_max_requests, 1)
        )
        self.limit_max_requests_jitter = _int("limit_max_requests_jitter", limit_max_requests_jitter, 0)
        self.limit_max_rss = None if not limit_max_rss else _int("limit_max_rss", limit_max_rss, 1)
        self.timeout_worker_healthcheck = _seconds("timeout_worker_healthcheck", timeout_worker_healthcheck)
        self.reload = bool(reload)
        self.reload_dirs = _str_list("reload_dirs", reload_dirs)
        self.reload_includes = _str_list("reload_includes", reload_includes)
        self.reload_excludes = _str_list("reload_excludes", reload_excludes)
        self.reload_delay = _seconds("reload_delay", reload_delay, allow_zero=True)
        if self.reload and not isinstance(app, str):
            raise ConfigError("reload: needs the app as an import string 'module:attribute'")
        self.proxy_headers = bool(proxy_headers)
        if forwarded_allow_ips is None:
            forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
        if isinstance(forwarded_allow_ips, str):
            forwarded_allow_ips = [item.strip() for item in forwarded_allow_ips.split(",") if item.strip()]
        self.forwarded_allow_ips = _str_list("forwarded_allow_ips", forwarded_allow_ips)
        self.trusted_proxies = parse_trusted(self.forwarded_allow_ips)
        self.proxy_headers_source = _choice("proxy_headers_source", proxy_headers_source)
        self.proxy_protocol = bool(proxy_protocol)
        self.metrics_port = None if metrics_port is None else _int("metrics_port", metrics_port, 0, 65535)
        self.metrics_host = _str("metrics_host", metrics_host if metrics_host is not None else self.host)
        if log_config is not None and not isinstance(log_config, dict):
            log_config = _path("log_config", log_config)
        self.log_config = log_config
        self.access_log_format = None if not access_log_format else _str("access_log_format", access_log_format)
        self.access_log_json = bool(access_log_json)
        self.access_log_request_id_header = _token("access_log_request_id_header", access_log_request_id_header)
        if sum(x is not None for x in (uds, fd)) > 1:
            raise ConfigError("uds and fd: give at most one of them")
        # TLS: the files are read when the server starts (pyre.tls), not here.
        self.ssl_certfile = _path("ssl_certfile", ssl_certfile)
        self.ssl_keyfile = _path("ssl_keyfile", ssl_keyfile)
        if ssl_keyfile_password is not None and not isinstance(ssl_keyfile_password, str):
            raise ConfigError("ssl_keyfile_password: expected a string")  # never echo a password
        self.ssl_keyfile_password = ssl_keyfile_password
        self.ssl_ca_certs = _path("ssl_ca_certs", ssl_ca_certs)
        self.ssl_cert_reqs = _int("ssl_cert_reqs", ssl_cert_reqs, 0, 2)
        self.ssl_ciphers = _str("ssl_ciphers", ssl_ciphers)
        self.ssl_version = _ssl_version(ssl_version)
        if not self.ssl_certfile:
            for name in ("ssl_keyfile", "ssl_keyfile_password", "ssl_ca_certs"):
                if getattr(self, name) is not None:
                    raise ConfigError(f"{name}: needs ssl_certfile (the server certificate)")
            if self.ssl_cert_reqs:
                raise ConfigError("ssl_cert_reqs: needs ssl_certfile (the server certificate)")
        elif self.proxy_protocol:
            # The PROXY header comes before the TLS handshake, which asyncio does before
            # a protocol sees a byte (docs/deployment.md: terminate TLS at the proxy).
            raise ConfigError("proxy_protocol: not with ssl_certfile: terminate TLS at the proxy")
        elif self.ssl_cert_reqs and not self.ssl_ca_certs:
            raise ConfigError("ssl_cert_reqs: client certificates need ssl_ca_certs to be verified against")

    def _uvicorn_choice(self, name: str, value: Any) -> str:
        mapped = UVICORN_VALUES[name].get(value) if isinstance(value, str) else None
        if mapped is None:
            return _choice(name, value)
        self.notes.append(f"--{name} {value}: {_WHY[name]} (--{name} {mapped})")
        return mapped

    def _loop(self, value: Any) -> str:
        if not isinstance(value, str) or value in _CHOICES["loop"]:
            return _choice("loop", value)
        if is_import_string(value):
            return value  # a loop factory, imported by pyre.loops when the server starts
        if value in UVICORN_VALUES["loop"]:
            return self._uvicorn_choice("loop", value)
        if _FAST_LOOP.match(value):
            from pyre.loops import uvloop_available

            fastest = "uvloop" if uvloop_available() else "asyncio"
            self.notes.append(f"--loop {value}: not a loop Pyre has; using the fastest installed, {fastest} "
                              "(--loop auto)")
            return "auto"
        raise ConfigError(f"loop: expected one of auto, asyncio, uvloop or module:factory, got {value!r}")

    @property
    def supervised(self) -> bool:
        """Run worker processes under a supervisor: more than one, or one to be replaced
        when it reaches --limit-max-requests or --limit-max-rss (an app given as an
        object cannot be re-imported by a worker: then the server stops at the limit)."""
        return self.workers > 1 or (isinstance(self.app, str) and bool(self.limit_max_requests or self.limit_max_rss))

    def replace(self, **changes: Any) -> "Config":
        """A copy with some settings changed (not re-validated: for values Pyre computed)."""
        copy = object.__new__(Config)
        copy.__dict__.update(self.__dict__)
        for name, value in changes.items():
            if name not in self.__dict__:
                raise AttributeError(name)
            setattr(copy, name, value)
        return copy

    @property
    def is_ssl(self) -> bool:
        """True when the server speaks TLS (``ssl_certfile`` is set), as uvicorn's."""
        return bool(self.ssl_certfile)

    @property
    def h2_settings(self) -> Any:
        """The :class:`pyre.protocol.h2.H2Settings` these settings describe (imports h2)."""
        from pyre.protocol.h2 import H2Settings

        return H2Settings(
            max_concurrent_streams=self.h2_max_concurrent_streams,
            initial_window_size=self.h2_initial_window_size,
            max_frame_size=self.h2_max_frame_size,
            max_header_list_size=self.h2_max_header_list_size,
            max_header_block_size=max(65536, self.h2_max_header_list_size),
            enable_connect_protocol=self.ws != "none",  # WebSocket over HTTP/2 (RFC 8441)
        )

    @property
    def h1_limits(self) -> H1Limits:
        return H1Limits(
            max_request_line=self.h1_max_request_line,
            max_header_size=self.h1_max_header_size,
            max_headers=self.h1_max_headers,
            max_body_size=self.limit_request_body or 0,
        )

    @property
    def log_level_number(self) -> Optional[int]:
        """The level of the ``pyre`` loggers: ``log_level``, or when that is None, INFO
        without a log config and None with one (its own levels stand, as uvicorn's)."""
        if self.log_level is None:
            return None if self.log_config is not None else LOG_LEVELS["info"]
        if isinstance(self.log_level, int):
            return self.log_level
        return LOG_LEVELS[self.log_level]

    def __repr__(self) -> str:
        return f"Config(app={self.app!r}, host={self.host!r}, port={self.port!r})"


def _choice(name: str, value: str) -> str:
    choices = _CHOICES[name]
    if value not in choices:
        raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def _path(name: str, value: Any) -> Optional[str]:
    if value is None or value == "":
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise ConfigError(f"{name}: expected a file path, got {value!r}")
    return value


def _str_list(name: str, value: Any) -> List[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{name}: expected a list of strings, got {value!r}")
    return list(value)


def _str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{name}: expected a string, got {value!r}")
    return value


def _int(name: str, value: Any, low: int, high: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}: expected an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ConfigError(f"{name}: must be {bounds}, got {value}")
    return value


def _seconds(name: str, value: Any, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name}: expected a number of seconds, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name}: must be {'>= 0' if allow_zero else '> 0'} seconds, got {value}")
    return float(value)


def _check_platform(uds: Optional[str], reuse_port: bool, limit_max_rss: Optional[int]) -> None:
    """Settings that cannot work on this platform are refused here, in one line."""
    import socket

    from pyre import rss

    if uds is not None and not hasattr(socket, "AF_UNIX"):
        raise ConfigError("uds: Unix domain sockets are not available on this platform; use host and port")
    if reuse_port and not hasattr(socket, "SO_REUSEPORT"):
        raise ConfigError("reuse_port: SO_REUSEPORT is not available on this platform")
    if limit_max_rss and not rss.available():
        raise ConfigError("limit_max_rss: this platform gives no way to measure a worker's memory")


_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP field name (RFC 9110 token)


def _token(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _TOKEN.match(value):
        raise ConfigError(f"{name}: expected a header name, got {value!r}")
    return value.lower()


def _ssl_version(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"ssl_version: expected an ssl.PROTOCOL_* number, got {value!r}")
    if value in _SSL_REFUSED:
        raise ConfigError(f"ssl_version: {value} (PROTOCOL_{_SSL_REFUSED[value]}) is refused: TLS 1.0 and 1.1 are "
                          "insecure (RFC 8996) and a server context needs a server protocol; use 17 or 5 (TLS 1.2)")
    if value not in SSL_VERSIONS:
        choices = ", ".join(f"{number} ({name})" for number, name in SSL_VERSIONS.items())
        raise ConfigError(f"ssl_version: expected one of {choices}, got {value}")
    return value


def _header(value: Any) -> tuple:
    if isinstance(value, str):
        name, sep, val = value.partition(":")
        if not sep or not name.strip():
            raise ConfigError(f"headers: expected 'Name: value', got {value!r}")
        value = (name.strip(), val.strip())
    try:
        name, val = value
    except (TypeError, ValueError):
        raise ConfigError(f"headers: expected (name, value) pairs, got {value!r}") from None
    return (str(name), str(val))
