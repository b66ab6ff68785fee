"""Pyre: a fast, strict asynchronous HTTP server for Python ASGI applications."""

from typing import TYPE_CHECKING, Any

from pyre._version import __version__

__all__ = ["Config", "Server", "__version__", "run"]

if TYPE_CHECKING:
    from pyre.config import Config
    from pyre.launch import run
    from pyre.server import Server


def __getattr__(name: str) -> Any:
    """``Config``, ``Server`` and ``run``, imported when first used: the ``pyre`` command's
    parser, ``pyre --version`` and ``python -m pyre.settings`` need none of them (and
    ``pyre.settings`` must not be imported before ``-m`` runs it)."""
    if name == "Config":
        from pyre.config import Config

        return Config
    if name == "Server":
        from pyre.server import Server

        return Server
    if name == "run":
        from pyre.launch import run

        return run
    raise AttributeError(f"module 'pyre' has no attribute {name!r}")
