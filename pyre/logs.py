"""Logging: the ``pyre.error`` and ``pyre.access`` loggers and their default setup.

Access lines read like uvicorn's: ``INFO:     127.0.0.1:50000 - "GET / HTTP/1.1" 200``.
Embedded servers leave logging alone; ``pyre.run`` and the CLI call
:func:`configure_logging`.
"""

from __future__ import annotations

import logging
import sys
from typing import Optional, Union

__all__ = ["TRACE", "DefaultFormatter", "configure_logging"]

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


class DefaultFormatter(logging.Formatter):
    """``LEVEL:    message`` with the level padded to a column, optionally coloured."""

    def __init__(self, use_colors: Optional[bool] = None, stream=None) -> None:
        super().__init__("%(levelprefix)s %(message)s")
        if use_colors is None:
            stream = stream or sys.stderr
            use_colors = hasattr(stream, "isatty") and stream.isatty()
        self.use_colors = use_colors

    def formatMessage(self, record: logging.LogRecord) -> str:
        prefix = f"{record.levelname}:".ljust(9)
        if self.use_colors:
            prefix = f"{_COLORS.get(record.levelno, '')}{record.levelname}\033[0m:".ljust(9 + 9)
        record.__dict__["levelprefix"] = prefix
        return super().formatMessage(record)


def configure_logging(level: Union[int, None] = logging.INFO, access_log: bool = True, use_colors: Optional[bool] = None) -> None:
    """Set up ``pyre``, ``pyre.error`` and ``pyre.access`` on stderr/stdout."""
    error_handler = logging.StreamHandler(sys.stderr)
    error_handler.setFormatter(DefaultFormatter(use_colors, sys.stderr))
    access_handler = logging.StreamHandler(sys.stdout)
    access_handler.setFormatter(DefaultFormatter(use_colors, sys.stdout))

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
        access.handlers = []
        access.setLevel(logging.CRITICAL + 1)
