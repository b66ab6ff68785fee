"""Pure-Python twin of ``pyre._speedups.h2session``: the HTTP/2 server session.

The normative session is :class:`pyre.protocol.h2.session.H2Session`, built on the
``h2`` library; this twin re-exports it under the compiled twin's name, with the
response-head check the transport runs at ``http.response.start``
(:func:`pyre.protocol.h2.headers.response_head`).
"""

from __future__ import annotations

from pyre.protocol.h2.headers import response_head
from pyre.protocol.h2.session import H2Session

__all__ = ["H2Session", "response_head"]
