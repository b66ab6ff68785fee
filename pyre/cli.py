"""The ``pyre`` command (also ``python -m pyre``), with uvicorn's option names.

Errors in options, the env file or the app import print one line and exit 1; a
failed startup (lifespan, bind) exits 3, as uvicorn does.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import re
import sys
from typing import Any, List, NoReturn, Optional, Sequence

from pyre._version import __version__

__all__ = ["build_parser", "main", "version_text"]

EXIT_USAGE = 1


def version_text() -> str:
    from pyre import _accel
    from pyre.loops import uvloop_available

    loop = "uvloop available" if uvloop_available() else "no uvloop"
    return (
        f"pyre {__version__} ({_accel.MODE} parser, {loop}) with "
        f"{platform.python_implementation()} {platform.python_version()} on {platform.system()}"
    )


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"Error: {message}\nTry 'pyre --help' for help.\n")
        sys.exit(EXIT_USAGE)


class _VersionAction(argparse.Action):
    def __init__(self, option_strings: List[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> NoReturn:
        print(version_text())  # unwrapped, unlike argparse's own version action
        sys.exit(0)


def _number(kind: type, low: float, what: str):
    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid value {text!r} (expected {what})") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"invalid value {text!r} (must be >= {low})")
        return value

    convert.__name__ = what
    return convert


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on", "y", "t"):
        return True
    if value in ("0", "false", "no", "off", "n", "f"):
        return False
    raise argparse.ArgumentTypeError(f"invalid value {text!r} (expected true or false)")


_SIZE = re.compile(r"^\s*(\d+)\s*([kKmMgG]i?[bB]?|[bB])?\s*$")


def _size(text: str) -> int:
    """Bytes, with an optional K, M or G suffix (powers of 1024)."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"invalid size {text!r} (expected bytes, e.g. 1048576 or 10M)")
    value = int(match.group(1))
    unit = (match.group(2) or "b")[0].lower()
    return value * {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]


def _header(text: str) -> str:
    if ":" not in text or not text.split(":", 1)[0].strip():
        raise argparse.ArgumentTypeError(f"invalid header {text!r} (expected NAME:VALUE)")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pyre",
        description="Serve an ASGI application with Pyre.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("app", metavar="APP", help="the ASGI application, as module:attribute")
    parser.add_argument("--version", action=_VersionAction, help="show the version, parser mode and exit")

    bind = parser.add_argument_group("binding")
    bind.add_argument("--host", default="127.0.0.1", help="bind socket to this host")
    bind.add_argument("--port", type=_number(int, 0, "an integer port"), default=8000,
                      help="bind socket to this port; 0 picks a free port")
    bind.add_argument("--uds", default=None, help="bind to a Unix domain socket")
    bind.add_argument("--fd", type=_number(int, 0, "a file descriptor"), default=None,
                      help="bind to a socket from this file descriptor")
    bind.add_argument("--workers", type=_number(int, 1, "an integer"), default=None,
                      help="number of worker processes; default: $WEB_CONCURRENCY, else 1")
    bind.add_argument("--backlog", type=_number(int, 1, "an integer"), default=2048,
                      help="maximum number of pending connections")

    app = parser.add_argument_group("application")
    app.add_argument("--factory", action="store_true", help="APP is a factory called with no arguments")
    app.add_argument("--app-dir", default=".", help="look for APP in this directory (added to sys.path)")
    app.add_argument("--interface", choices=("auto", "asgi3", "asgi2"), default="auto",
                     help="the application interface")
    app.add_argument("--lifespan", choices=("auto", "on", "off"), default="auto", help="lifespan protocol")
    app.add_argument("--root-path", default="", help="ASGI root_path for an app mounted below a path prefix")
    app.add_argument("--env-file", default=None, help="load environment variables from this file")

    impl = parser.add_argument_group("implementation")
    impl.add_argument("--http", choices=("auto", "h1", "h2"), default="auto",
                      help="HTTP protocol: auto offers HTTP/2 and HTTP/1.1, h1 and h2 only one")
    impl.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto", help="event loop")
    impl.add_argument("--ws", choices=("auto", "none", "wsproto"), default="auto",
                      help="WebSocket: auto and wsproto serve it (on wsproto), none serves upgrade requests as HTTP")
    impl.add_argument("--ws-per-message-deflate", type=_boolean, nargs="?", const=True, default=True, metavar="BOOL",
                      help="negotiate permessage-deflate compression when a client offers it "
                           "(uvicorn's spelling: --ws-per-message-deflate false)")

    limits = parser.add_argument_group("limits and timeouts")
    limits.add_argument("--limit-concurrency", type=_number(int, 1, "an integer"), default=None,
                        help="answer 503 beyond this many concurrent connections or requests")
    limits.add_argument("--limit-request-body", type=_size, default=None,
                        help="largest request body in bytes (413 beyond); default: no limit")
    limits.add_argument("--h1-max-request-line", type=_number(int, 16, "bytes"), default=8192,
                        help="longest HTTP/1.1 request line (414 beyond)")
    limits.add_argument("--h1-max-header-size", type=_size, default=65536,
                        help="largest HTTP/1.1 header section in bytes (431 beyond)")
    limits.add_argument("--h1-max-headers", type=_number(int, 1, "an integer"), default=100,
                        help="most HTTP/1.1 header fields in a request (431 beyond)")
    limits.add_argument("--h2-max-concurrent-streams", type=_number(int, 1, "an integer"), default=100,
                        help="HTTP/2 streams a client may have open at once (REFUSED_STREAM beyond)")
    limits.add_argument("--h2-initial-window-size", type=_size, default=65535,
                        help="HTTP/2 receive window per stream, in bytes")
    limits.add_argument("--h2-max-frame-size", type=_size, default=16384,
                        help="largest HTTP/2 frame payload the server accepts (16384 to 16777215)")
    limits.add_argument("--h2-max-header-list-size", type=_size, default=65536,
                        help="largest decoded HTTP/2 header list in bytes (431 beyond)")
    limits.add_argument("--h2-ping-interval", type=_number(float, 0.001, "seconds"), default=None,
                        help="PING an HTTP/2 client silent this long with streams open; close it if the "
                             "PING is unanswered as long again; default: never")
    limits.add_argument("--ws-max-size", type=_size, default=16 * 1024 * 1024,
                        help="largest WebSocket message in bytes, compressed or not (close 1009 beyond)")
    limits.add_argument("--ws-max-queue", type=_number(int, 1, "an integer"), default=32,
                        help="WebSocket messages held for an application that is not reading before the "
                             "server stops reading from its client")
    limits.add_argument("--ws-ping-interval", type=_number(float, 0.0, "seconds"), default=20.0,
                        help="ping a WebSocket client silent this long; 0: never")
    limits.add_argument("--ws-ping-timeout", type=_number(float, 0.0, "seconds"), default=20.0,
                        help="close a WebSocket (1011) whose ping is unanswered this long")
    limits.add_argument("--timeout-keep-alive", type=_number(float, 0.001, "seconds"), default=5.0,
                        help="close idle keep-alive connections after this many seconds")
    limits.add_argument("--timeout-request-header", type=_number(float, 0.001, "seconds"), default=30.0,
                        help="a request head must arrive within this many seconds of its first byte (408)")
    limits.add_argument("--timeout-graceful-shutdown", type=_number(float, 0, "seconds"), default=None,
                        help="on shutdown, wait this long for requests in flight; default: wait for all")
    limits.add_argument("--timeout-lifespan", type=_number(float, 0.001, "seconds"), default=60.0,
                        help="lifespan startup and shutdown must finish within this many seconds")

    tls = parser.add_argument_group("TLS")
    tls.add_argument("--ssl-certfile", default=None, help="serve HTTPS with this PEM certificate (chain)")
    tls.add_argument("--ssl-keyfile", default=None, help="the PEM private key of the certificate")
    tls.add_argument("--ssl-keyfile-password", default=None, help="the password of an encrypted private key")
    tls.add_argument("--ssl-ca-certs", default=None, help="CA certificates that verify client certificates")
    tls.add_argument("--ssl-cert-reqs", type=_number(int, 0, "0, 1 or 2"), default=0,
                     help="client certificates: 0 none, 1 optional, 2 required (see ssl.VerifyMode)")
    tls.add_argument("--ssl-ciphers", default="",
                     help="OpenSSL cipher string for TLS 1.2 and below; default: Python's (ECDHE with AEAD first)")

    headers = parser.add_argument_group("response headers")
    headers.add_argument("--server-header", action=argparse.BooleanOptionalAction, default=True,
                         help="send 'server: pyre'")
    headers.add_argument("--date-header", action=argparse.BooleanOptionalAction, default=True,
                         help="send a Date header")
    headers.add_argument("--header", dest="headers", action="append", type=_header, default=[],
                         metavar="NAME:VALUE", help="a default response header (repeatable)")

    logs = parser.add_argument_group("logging")
    logs.add_argument("--log-level", choices=("critical", "error", "warning", "info", "debug", "trace"),
                      default="info", help="log level")
    logs.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True,
                      help="log one line per request")
    logs.add_argument("--use-colors", action=argparse.BooleanOptionalAction, default=None,
                      help="colour the log (default: when writing to a terminal)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = build_parser().parse_args(argv)

    from pyre.config import Config
    from pyre.envfile import load_env_file
    from pyre.errors import AppLoadError, PyreError
    from pyre.logs import configure_logging
    from pyre.server import STARTUP_FAILURE, Server, run_workers

    def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
        sys.stderr.write(f"Error: {message}\n")
        sys.exit(code)

    try:
        if args.env_file:
            load_env_file(args.env_file)
        workers = args.workers if args.workers is not None else _workers_from_env()
        config = Config(
            args.app,
            host=args.host,
            port=args.port,
            uds=args.uds,
            fd=args.fd,
            backlog=args.backlog,
            http=args.http,
            loop=args.loop,
            lifespan=args.lifespan,
            interface=args.interface,
            root_path=args.root_path,
            factory=args.factory,
            app_dir=args.app_dir,
            log_level=args.log_level,
            access_log=args.access_log,
            use_colors=args.use_colors,
            timeout_keep_alive=args.timeout_keep_alive,
            timeout_request_header=args.timeout_request_header,
            timeout_graceful_shutdown=args.timeout_graceful_shutdown,
            timeout_lifespan=args.timeout_lifespan,
            limit_concurrency=args.limit_concurrency,
            limit_request_body=args.limit_request_body,
            h1_max_request_line=args.h1_max_request_line,
            h1_max_header_size=args.h1_max_header_size,
            h1_max_headers=args.h1_max_headers,
            h2_max_concurrent_streams=args.h2_max_concurrent_streams,
            h2_initial_window_size=args.h2_initial_window_size,
            h2_max_frame_size=args.h2_max_frame_size,
            h2_max_header_list_size=args.h2_max_header_list_size,
            h2_ping_interval=args.h2_ping_interval,
            ws=args.ws,
            ws_max_size=args.ws_max_size,
            ws_max_queue=args.ws_max_queue,
            ws_ping_interval=args.ws_ping_interval,
            ws_ping_timeout=args.ws_ping_timeout,
            ws_per_message_deflate=args.ws_per_message_deflate,
            server_header=args.server_header,
            date_header=args.date_header,
            headers=args.headers,
            env_file=args.env_file,
            workers=workers,
            ssl_certfile=args.ssl_certfile,
            ssl_keyfile=args.ssl_keyfile,
            ssl_keyfile_password=args.ssl_keyfile_password,
            ssl_ca_certs=args.ssl_ca_certs,
            ssl_cert_reqs=args.ssl_cert_reqs,
            ssl_ciphers=args.ssl_ciphers,
        )
    except PyreError as exc:
        fail(_option_message(str(exc)))

    configure_logging(config.log_level_number, config.access_log, config.use_colors)
    if config.workers > 1:
        sys.exit(run_workers(config))
    server = Server(config)
    try:
        server.run()
    except AppLoadError as exc:
        logging.getLogger("pyre.error").debug("Application load error", exc_info=exc)
        fail(f"Error loading ASGI app. {exc}")
    except PyreError as exc:
        fail(str(exc))
    except KeyboardInterrupt:  # pragma: no cover - before signal handlers are installed
        pass
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def _workers_from_env() -> int:
    text = os.environ.get("WEB_CONCURRENCY", "").strip()
    if not text:
        return 1
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        from pyre.errors import ConfigError

        raise ConfigError(f"WEB_CONCURRENCY: expected a number of workers >= 1, got {text!r}")
    return value


def _option_message(message: str) -> str:
    """Config errors name settings as ``name``; on the CLI, name the option."""
    name, sep, rest = message.partition(":")
    if sep and re.fullmatch(r"[a-z0-9_]+", name):
        # TLS settings name each other ("ssl_keyfile: needs ssl_certfile"); so do the options.
        rest = re.sub(r"(?<![\w'\"-])ssl_[a-z_]+\b", lambda m: "--" + m.group(0).replace("_", "-"), rest)
        return f"--{name.replace('_', '-')}:{rest}"
    return message


if __name__ == "__main__":  # pragma: no cover
    main()
