"""Listening sockets: TCP (``--host``/``--port``, port 0 for a free port), ``--uds``, ``--fd``."""

from __future__ import annotations

import os
import socket
import stat
from typing import Optional

from pyre.errors import StartupError

__all__ = ["UNIX_SOCKETS", "bind_socket", "describe"]

# AF_UNIX is missing on Windows (and on some builds): --uds is refused there (pyre.config).
UNIX_SOCKETS = hasattr(socket, "AF_UNIX")


def bind_socket(host: str = "127.0.0.1", port: int = 8000, *, uds: Optional[str] = None,
                fd: Optional[int] = None, backlog: int = 2048, uds_perms: Optional[int] = None,
                reuse_port: bool = False, listen: bool = True) -> socket.socket:
    """A non-blocking listening socket. ``uds_perms`` sets the socket file's mode (else
    0666, as uvicorn's); ``reuse_port`` sets SO_REUSEPORT; ``listen=False`` only binds
    (a supervisor reserving a port for workers that bind it with SO_REUSEPORT)."""
    if fd is not None:
        try:
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            raise StartupError(f"--fd {fd}: not a usable socket ({exc.strerror or exc})") from None
        sock.setblocking(False)
        return sock
    if uds is not None:
        if not hasattr(socket, "AF_UNIX"):
            raise StartupError(f"--uds {uds}: Unix domain sockets are not available on this platform")
        try:
            if stat.S_ISSOCK(os.stat(uds).st_mode):
                os.remove(uds)  # a stale socket from an earlier run
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(uds)
            os.chmod(uds, 0o666 if uds_perms is None else uds_perms)  # 0666: uvicorn's
            sock.listen(backlog)
        except OSError as exc:
            sock.close()
            raise StartupError(f"--uds {uds}: {exc.strerror or exc}") from None
        sock.setblocking(False)
        return sock
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        if not hasattr(socket, "SO_REUSEPORT"):  # pragma: no cover - not Linux/BSD/macOS
            sock.close()
            raise StartupError("--reuse-port: SO_REUSEPORT is not available on this system")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if host == "::" else 1)
    try:
        sock.bind((host.strip("[]"), port))
        if listen:
            sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise StartupError(f"could not bind on {host}:{port}: {exc.strerror or exc}") from None
    except OverflowError as exc:
        sock.close()
        raise StartupError(f"could not bind on {host}:{port}: {exc}") from None
    sock.setblocking(False)
    return sock


def describe(sock: socket.socket, scheme: str = "http") -> str:
    """``http://127.0.0.1:8000`` or ``unix socket /path`` for the log."""
    name = sock.getsockname()
    if sock.family == getattr(socket, "AF_UNIX", None):
        return f"{scheme}://unix:{name}" if name else f"unix socket (fd {sock.fileno()})"
    host, port = name[0], name[1]
    if sock.family == socket.AF_INET6:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"
