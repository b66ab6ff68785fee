"""Every logging test may reconfigure logging: the pyre loggers and the root are put back."""

from __future__ import annotations

import logging

import pytest

PYRE_LOGGERS = ("pyre", "pyre.error", "pyre.access")


@pytest.fixture(autouse=True)
def restore_logging():
    loggers = [logging.getLogger(name) for name in PYRE_LOGGERS] + [logging.getLogger()]
    saved = [(lg, list(lg.handlers), lg.propagate, lg.level, lg.disabled) for lg in loggers]
    yield
    for logger, handlers, propagate, level, disabled in saved:
        logger.handlers = handlers
        logger.propagate = propagate
        logger.setLevel(level)
        logger.disabled = disabled
