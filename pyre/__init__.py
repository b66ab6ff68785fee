"""Pyre: a fast, strict asynchronous HTTP server for Python ASGI applications."""

from pyre._version import __version__
from pyre.config import Config
from pyre.launch import run
from pyre.server import Server

__all__ = ["Config", "Server", "__version__", "run"]
