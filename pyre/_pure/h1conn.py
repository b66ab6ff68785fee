"""Pure-Python twin of ``pyre._speedups.h1conn``: the per-request path of an HTTP/1.1
connection. The pure modules themselves are that path (and its normative reading), so
this twin only re-exports them under the compiled twin's names."""

from __future__ import annotations

from pyre.protocol.h1.writer import encode_head
from pyre.transport.h1 import H1Protocol

__all__ = ["H1Protocol", "encode_head"]
