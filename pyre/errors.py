"""Exceptions raised by Pyre's public API."""

from __future__ import annotations

__all__ = ["AppLoadError", "ConfigError", "PyreError", "StartupError"]


class PyreError(Exception):
    """Base class of Pyre's own errors."""


class ConfigError(PyreError, ValueError):
    """A setting has an invalid value; the message names the setting."""


class AppLoadError(PyreError):
    """The application could not be imported or is not an ASGI callable."""


class StartupError(PyreError):
    """The server could not start (bind failure, lifespan startup failure)."""
