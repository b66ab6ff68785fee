"""Pure-Python twin of ``pyre._speedups.hpack``: HPACK (RFC 7541) for the HTTP/2 session.

The ``hpack`` library is the normative reading: this twin re-exports its ``Encoder``
and ``Decoder`` under the compiled twin's names.
"""

from __future__ import annotations

from hpack import Decoder, Encoder

__all__ = ["Decoder", "Encoder"]
