"""Event-loop choice for ``--loop auto|asyncio|uvloop``, or ``module:factory`` (as
uvicorn's: a callable that makes a new event loop, e.g. ``rloop:new_event_loop``)."""

from __future__ import annotations

import asyncio
from typing import Callable

from pyre.errors import ConfigError

__all__ = ["loop_factory", "uvloop_available"]


def uvloop_available() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """A zero-argument callable making a new loop of the chosen kind."""
    if name == "uvloop" or (name == "auto" and uvloop_available()):
        try:
            import uvloop
        except ImportError:
            raise ConfigError("loop: uvloop is not installed (pip install 'pyre-server[uvloop]')") from None
        return uvloop.new_event_loop
    if name in ("asyncio", "auto"):
        return asyncio.new_event_loop
    if ":" in name:
        from pyre.errors import AppLoadError
        from pyre.importer import import_from_string

        try:
            factory = import_from_string(name)
        except AppLoadError as exc:
            raise ConfigError(f"loop: {exc}") from None
        if not callable(factory):
            raise ConfigError(f"loop: {name} is not callable (expected a function that makes an event loop)")
        return factory
    raise ConfigError(f"loop: expected one of auto, asyncio, uvloop, got {name!r}")
