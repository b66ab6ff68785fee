"""The per-connection facts of a new transport (addresses, scheme, TLS), once per connection."""

from __future__ import annotations

import asyncio
from typing import Any, Optional

from pyre.asgi.scope import ConnectionInfo
from pyre.tls import tls_scope_info

__all__ = ["connection_info"]


def _address(value: Any) -> Optional[tuple]:
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None


def connection_info(transport: asyncio.BaseTransport, root_path: str) -> ConnectionInfo:
    """``server`` and ``client`` addresses (a Unix socket's path as the server), the
    scheme, and on TLS the ``tls`` scope extension's content."""
    server = _address(transport.get_extra_info("sockname"))
    client = _address(transport.get_extra_info("peername"))
    if server is None:
        sockname = transport.get_extra_info("sockname")
        if isinstance(sockname, str) and sockname:
            server = (sockname, None)  # a Unix socket
    if transport.get_extra_info("sslcontext"):
        return ConnectionInfo(server, client, "https", root_path, tls_scope_info(transport))
    return ConnectionInfo(server, client, "http", root_path)
