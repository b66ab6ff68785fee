"""The ``pyre`` command (also ``pyre-server``, for a project where ``pyre`` is
pyre-check's, and ``python -m pyre``), with uvicorn's option names: the parser, built
from :mod:`pyre.settings`. What runs, and the exit status, is :func:`pyre.launch.main`'s.

Errors in options, the env file or the app import print one line and exit 1; a
failed startup (lifespan, bind) exits 3, as uvicorn does.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from typing import Any, List, NoReturn, Optional, Sequence

from pyre._version import __version__
from pyre.exit_codes import ExitCode
from pyre.settings import add_arguments

__all__ = ["build_parser", "main", "version_text"]


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
        sys.exit(ExitCode.ERROR)


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


def main(argv: Optional[Sequence[str]] = None) -> NoReturn:
    args = build_parser().parse_args(argv)

    from pyre.launch import main as launch_main

    sys.exit(launch_main(vars(args), os.environ))


if __name__ == "__main__":  # pragma: no cover
    main()
