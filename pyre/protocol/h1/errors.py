"""The error of an application's HTTP/1.1 response that cannot be written.

Its own module so that both twins of :mod:`pyre.protocol.h1.writer` (the module and
its compiled build ``pyre.protocol.h1._writer_c``) raise one class.
"""

from __future__ import annotations

__all__ = ["InvalidResponse"]


class InvalidResponse(ValueError):
    """The application's response cannot be written as valid HTTP/1.1."""
