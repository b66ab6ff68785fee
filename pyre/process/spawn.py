"""Starting a child process, its entry point, and signalling it.

Children are started with the ``spawn`` start method: a fresh interpreter, so no event
loop, thread or application state is inherited, and the application's code is read
from disk again (what a reload and a rolling restart are for). The *target* a child
runs must be importable (it is pickled by reference); its return value is the child's
exit status.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Optional, Sequence

__all__ = ["SPAWN", "Target", "child_main", "posix_signal", "signal_child", "start_child", "stop_with_parent"]

SPAWN = multiprocessing.get_context("spawn")

#: What a child runs: called with the arguments its parent gives; returns the exit status.
Target = Callable[..., Optional[int]]


def start_child(target: Target, args: Sequence[Any], name: str, *, stop_with_us: bool = False) -> Any:
    """Start a child process running ``target(*args)``; return its ``multiprocessing``
    process. ``stop_with_us``: the child shuts down gracefully if this process dies
    (without it, a parent's pipe reaching EOF is how a child learns)."""
    parent = os.getpid() if stop_with_us else None
    process = SPAWN.Process(target=child_main, args=(target, tuple(args), parent), name=name, daemon=False)
    process.start()
    return process


def child_main(target: Target, args: Sequence[Any], parent: Optional[int] = None) -> None:
    """The entry point of every child: exit with what ``target(*args)`` returns."""
    if parent is not None:
        stop_with_parent(parent)
    raise SystemExit(target(*args) or 0)


def stop_with_parent(parent: int) -> None:
    """A child whose parent died (killed with SIGKILL) shuts down gracefully instead of
    holding the port forever."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(1, int(signal.SIGTERM), 0, 0, 0) == 0:  # PR_SET_PDEATHSIG
                if os.getppid() != parent:  # died before prctl
                    os.kill(os.getpid(), signal.SIGTERM)
                return
        except (OSError, AttributeError):  # pragma: no cover - no prctl
            pass

    def watch_parent() -> None:  # pragma: no cover - not Linux
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch_parent, name="pyre-parent-watch", daemon=True).start()  # pragma: no cover


def signal_child(process: Any, sig: int) -> None:
    """Send ``sig`` to a child, if it still runs. Windows has no signals between
    processes (``os.kill`` there is TerminateProcess): the child is ``terminate()``-d."""
    if not process.is_alive():
        return
    if sys.platform == "win32":
        process.terminate()
        return
    try:
        os.kill(process.pid, sig)
    except ProcessLookupError:  # pragma: no cover - just ended
        pass


def posix_signal(name: str) -> Optional[int]:
    """A POSIX-only signal (SIGHUP, SIGTTIN, SIGTTOU), looked up when used: None where
    missing (Windows), so that comparing a received signal with it is simply False."""
    return getattr(signal, name, None)
