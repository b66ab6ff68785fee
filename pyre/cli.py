"""The ``pyre`` command (also ``pyre-server``, for a project where ``pyre`` is
pyre-check's, and ``python -m pyre``), with uvicorn's option names.

Errors in options, the env file or the app import print one line and exit 1; a
failed startup (lifespan, bind) exits 3, as uvicorn does.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
from typing import Any, List, NoReturn, Optional, Sequence

from pyre._version import __version__
from pyre.settings import add_arguments, config_from_settings, resolve

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


def _prog() -> str:
    """``pyre-server`` when run under that name, else ``pyre``."""
    name = os.path.basename(sys.argv[0] if sys.argv else "")
    return "pyre-server" if name.startswith("pyre-server") else "pyre"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"Error: {message}\nTry '{self.prog} --help' for help.\n")
        sys.exit(EXIT_USAGE)


class _VersionAction(argparse.Action):
    def __init__(self, option_strings: List[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> NoReturn:
        print(version_text())  # unwrapped, unlike argparse's own version action
        sys.exit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=_prog(),
        description="Serve an ASGI application with Pyre.",
    )
    parser.add_argument("--version", action=_VersionAction, help="show the version, parser mode and exit")
    add_arguments(parser)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = build_parser().parse_args(argv)

    from pyre._accel import pure_build_warning
    from pyre.errors import AppLoadError, PyreError
    from pyre.logs import setup_logging
    from pyre.server import STARTUP_FAILURE, Server, check_extras, run_workers

    def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
        sys.stderr.write(f"Error: {message}\n")
        sys.exit(code)

    try:
        merged, sources = resolve(vars(args), os.environ)
        config = config_from_settings(merged, sources)
    except PyreError as exc:
        fail(str(exc))

    try:
        log_notes = setup_logging(config)
    except PyreError as exc:
        fail(str(exc))
    error_logger = logging.getLogger("pyre.error")
    for warning in filter(None, [pure_build_warning(), *sources.warnings]):
        error_logger.warning("%s", warning)
    for note in [*config.notes, *log_notes]:  # uvicorn's values and names, and what they mean here
        error_logger.info("%s", note)
    try:
        check_extras(config)  # before the app starts, in whichever process that is
    except PyreError as exc:
        error_logger.error("%s", exc)
        sys.exit(STARTUP_FAILURE)
    if config.reload:
        from pyre.reload import run_reloader

        sys.exit(run_reloader(config))
    if config.supervised:
        sys.exit(run_workers(config))
    server = Server(config)
    try:
        server.run()
    except AppLoadError as exc:
        from pyre.importer import load_error_text

        fail(load_error_text(exc, config.app))
    except PyreError as exc:
        fail(str(exc))
    except KeyboardInterrupt:  # pragma: no cover - before signal handlers are installed
        pass
    if not server.started:
        sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":  # pragma: no cover
    main()
