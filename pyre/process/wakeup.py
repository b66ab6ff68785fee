"""The wake-up socket of a parent process (supervisor, reloader) and the signals caught
into it.

Such a process's main thread sleeps in ``select`` (:func:`multiprocessing.connection.wait`)
on its children and this socket, while other threads run (the file watcher, the
metrics endpoint). The kernel delivers a process-directed signal to any thread that
does not block it. When that is not the main thread, the main thread's ``select`` is
not interrupted, and the Python-level handler (which only ever runs in the main
thread) waits until something else wakes it: a SIGINT could then go unanswered for
ever. :func:`catch_signals` therefore also points :func:`signal.set_wakeup_fd` at the
wake-up socket: CPython's C-level handler writes to it from whichever thread took the
signal, and the main thread wakes.
"""

from __future__ import annotations

import signal
import socket
import threading
from typing import Any, Callable, Dict, Iterable, List

__all__ = ["Wakeup", "catch_signals"]


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


class Wakeup:
    """A socket pair: :attr:`reader` is one of the handles the main loop waits on;
    :meth:`wake` (any thread) and every caught signal make it readable. Signals are
    queued in arrival order for the main loop (:meth:`take_signals`)."""

    def __init__(self) -> None:
        self.reader, self._writer = socket.socketpair()
        self.reader.setblocking(False)
        self._writer.setblocking(False)
        self._signals: List[int] = []
        self._restore: Callable[[], None] = lambda: None

    def catch(self, signals: Iterable[int]) -> None:
        """Queue ``signals`` (and wake) until :meth:`close`."""
        self._restore = catch_signals(signals, self.on_signal, self._writer)

    def on_signal(self, sig: int, frame: Any = None) -> None:
        """The signal handler; also what a test calls to deliver a signal."""
        self._signals.append(sig)
        self.wake()

    def wake(self) -> None:
        try:
            self._writer.send(b"\0")
        except OSError:  # buffer full: a wake-up is already pending; or closed
            pass

    def drain(self) -> None:
        """Empty the socket after a wait (the signals stay queued)."""
        try:
            while self.reader.recv(64):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def take_signals(self) -> List[int]:
        """The signals caught since the last call, oldest first."""
        taken = []
        while self._signals:
            taken.append(self._signals.pop(0))  # a handler may append meanwhile
        return taken

    def close(self) -> None:
        """Restore the previous signal handlers and close the sockets."""
        self._restore()
        self._restore = lambda: None
        self.reader.close()
        self._writer.close()
