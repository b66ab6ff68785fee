"""Sans-IO HTTP/2 for the server side (RFC 9113, RFC 7541), Pyre's own.

``H2Session`` turns received bytes into the events of ``events.py`` and responses
into frames; it reads no clock (the caller passes ``now``) and does no I/O, so the
asyncio transport owns sockets and timing and the session is unit-tested alone.
``H2Settings`` holds what a connection advertises and the limits that protect it.
"""

from . import events
from .events import *  # noqa: F403 (the events are the package's API; events.__all__ names them)
from .session import PREFACE, H2Session
from .settings import H2Settings

__all__ = [*events.__all__, "H2Session", "H2Settings", "PREFACE"]
