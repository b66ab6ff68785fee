"""Server settings: plain, validated data. Loading the app, binding sockets and
building contexts happen in :mod:`pyre.server`; only :mod:`pyre.launch` decides an
exit status.

:class:`Config` is built from :data:`pyre.settings.SETTINGS`: its keywords, their
defaults, types and bounds, and the checks of their values are the table's. This
module adds what no single setting says: the rules between settings and the values
derived from several.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Union

from pyre.errors import ConfigError
from pyre.protocol.h1.parsing import H1Limits
from pyre.settings import BY_NAME, LOG_LEVELS, SETTINGS, TABLE, SettingError, Sources, name_source
from pyre.trusted_hosts import parse_trusted

__all__ = ["Config", "config_from_settings", "validate"]

# Every setting but the application, which Config takes as its one positional argument.
_FIELDS = tuple(setting for setting in SETTINGS if setting.name != "app")


def validate(name: str, value: Any) -> Any:
    """One setting's value as :class:`Config` keeps it (the same checks and errors),
    for a caller that needs only that setting, such as the gunicorn arbiter's metrics."""
    return BY_NAME[name].validate(value, [])


class Config:
    """Everything a :class:`pyre.Server` needs. Names and defaults follow uvicorn.

    ``app`` is an ASGI application or an import string ``"module:attribute"``. Every
    other argument is keyword-only, one per setting of :data:`pyre.settings.SETTINGS`
    (docs/settings.md lists them); an invalid value raises
    :class:`~pyre.errors.ConfigError` naming the setting. Each setting is an attribute
    of the same name; :attr:`notes` holds a line per value accepted for uvicorn's sake.
    """

    def __init__(self, app: Union[str, Callable[..., Any]], **settings: Any) -> None:
        if not (isinstance(app, str) or callable(app)):
            raise ConfigError(f"app: expected an ASGI application or 'module:attribute', got {app!r}")
        for name in settings:
            if name not in BY_NAME or name == "app":
                raise TypeError(f"Config() got an unexpected keyword argument {name!r}")
        self.app = app
        self.notes: List[str] = []
        for setting in _FIELDS:
            value = settings[setting.name] if setting.name in settings else setting.default
            setattr(self, setting.name, setting.validate(value, self.notes))
        if self.metrics_host is None:
            self.metrics_host = self.host
        self.trusted_proxies = parse_trusted(self.forwarded_allow_ips)
        self._check_together()

    if TYPE_CHECKING:  # the settings are set from SETTINGS above
        def __getattr__(self, name: str) -> Any: ...

    def _check_together(self) -> None:
        """The rules between settings."""
        string_app = isinstance(self.app, str)
        if self.workers > 1 and not string_app:
            raise ConfigError("workers: more than one worker needs the app as an import string 'module:attribute'")
        if self.reuse_port and (self.uds is not None or self.fd is not None):
            raise ConfigError("reuse_port: only for TCP sockets (not with uds or fd)")
        _check_platform(self.uds, self.reuse_port, self.limit_max_rss)
        if self.reload and not string_app:
            raise ConfigError("reload: needs the app as an import string 'module:attribute'")
        if self.uds is not None and self.fd is not None:
            raise ConfigError("uds and fd: give at most one of them")
        # TLS: the files are read when the server starts (pyre.tls), not here.
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


# help(Config), inspect.signature(Config) and editors see the keywords of SETTINGS.
Config.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [inspect.Parameter("app", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    + [inspect.Parameter(setting.name, inspect.Parameter.KEYWORD_ONLY, default=setting.default)
       for setting in _FIELDS])


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


def config_from_settings(merged: Dict[str, Any], sources: Sources) -> Config:
    """Build a :class:`Config` from :func:`pyre.settings.resolve`'s keywords; its
    errors are re-worded to name the setting's source."""
    values = dict(merged)
    values.setdefault("app_dir", ".")  # the CLI imports APP from the current directory, as uvicorn's
    app = values.pop("app", None)
    if not app:
        raise SettingError("no application given: pass APP (module:attribute), set PYRE_APP, "
                           f"or app in [tool.{TABLE}] of pyproject.toml")
    try:
        return Config(app, **values)
    except ConfigError as exc:
        raise SettingError(name_source(str(exc), sources)) from None
