"""Signal handling for the supervisor and the reloader: processes whose main thread sleeps
in ``select`` while other threads (the file watcher, the metrics endpoint) run.

The kernel delivers a process-directed signal to any thread that does not block it. When
that is not the main thread, the main thread's ``select`` is not interrupted, and the
Python-level handler (which only ever runs in the main thread) waits until something else
wakes it: a SIGINT could then go unanswered for ever. :func:`catch_signals` therefore also
points :func:`signal.set_wakeup_fd` at the process's wake-up socket: CPython's C-level
handler writes to it from whichever thread took the signal, and the main thread wakes.
"""

from __future__ import annotations

import signal
import socket
import threading
from typing import Any, Callable, Dict, Iterable

__all__ = ["catch_signals"]


def catch_signals(signals: Iterable[int], handler: Callable[[int, Any], None],
                  wakeup: socket.socket) -> Callable[[], None]:
    """Route ``signals`` to ``handler`` and wake ``wakeup``'s reader on each; returns a
    function that restores what was there before. Outside the main thread (an embedding
    program's thread) nothing is installed, as signals cannot be caught there."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    wakeup.setblocking(False)  # set_wakeup_fd requires it
    previous: Dict[int, Any] = {sig: signal.signal(sig, handler) for sig in signals}
    previous_fd = signal.set_wakeup_fd(wakeup.fileno(), warn_on_full_buffer=False)

    def restore() -> None:
        signal.set_wakeup_fd(previous_fd)
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
