"""``--reload``: restart the server when a watched file changes (development).

The reloader process holds the listening socket (bound by its caller) and runs the
server in a child process (:mod:`pyre.process.spawn`: a fresh interpreter that imports
the app anew). When a watched file changes it stops the child gracefully and starts a
new one. The socket stays open in the reloader the whole time, so a client connecting
during a restart waits in the listen backlog for the new server instead of being
refused.

A server that fails to start (a syntax error, an import error, a failed lifespan
startup) prints its error and exits; the reloader stays up and starts a new server at
the next change. SIGINT or SIGTERM stops the server gracefully and then the reloader
(exit code 0); a second SIGINT is passed on and makes the server stop at once. Such a
stop closes the reloader's socket at once, so new connections are refused from then on.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from multiprocessing.connection import wait
from typing import Any, Iterable, List, Optional, Set

from pyre.process.spawn import Target, signal_child, start_child
from pyre.process.wakeup import Wakeup
from pyre.process.watchers import PollingWatcher, Watcher

__all__ = ["RELOAD_GRACE", "Reloader"]

logger = logging.getLogger("pyre.error")

RELOAD_GRACE = 5.0  # a server told to stop for a reload is killed after this (plus the graceful timeout)


def _describe(changes: Iterable[str], cwd: Optional[str] = None, limit: int = 5) -> str:
    """``'app.py', 'lib/util.py' and 3 more`` (paths relative to the current directory)."""
    cwd = cwd or os.getcwd()
    shown = []
    for path in sorted(changes):
        try:
            rel = os.path.relpath(path, cwd)
        except ValueError:  # pragma: no cover - another drive (Windows)
            rel = path
        shown.append(f"'{path if rel.startswith('..') else rel}'")
    if len(shown) > limit:
        return ", ".join(shown[:limit]) + f" and {len(shown) - limit} more"
    return ", ".join(shown)


def _how(code: Optional[int]) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"


class Reloader:
    """Runs ``target(config, sockets)`` in a child process, restarting it when
    ``watcher`` reports changes.

    :meth:`run` returns 0 once stopped by a signal.
    """

    def __init__(self, config: Any, target: Target, sockets: List[socket.socket], watcher: Watcher) -> None:
        self.config = config
        self.target = target
        self.sockets = sockets
        self.watcher = watcher
        self.child: Any = None
        self.wakeup = Wakeup()
        self._changes: Set[str] = set()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._stops = 0
        self._child_stopping = False  # SIGTERM sent by us
        self._child_started = 0.0
        self._kill_at: Optional[float] = None
        self._restart = False
        grace = config.timeout_graceful_shutdown
        self.grace = RELOAD_GRACE + (grace or 0.0)

    # -- plumbing -------------------------------------------------------------------------------

    def _watch(self) -> None:
        """The watcher thread: hands changes to the main loop."""
        while not self._closing.is_set():
            try:
                changes = self.watcher.wait(timeout=1.0)
            except Exception as exc:
                if self._closing.is_set():
                    return
                logger.warning("Watching for changes failed (%s: %s); polling for changes instead.",
                               type(exc).__name__, exc)
                self.watcher.close()
                self.watcher = PollingWatcher(self.watcher.filter, self.watcher.delay)
                continue
            if changes and not self._closing.is_set():
                with self._lock:
                    self._changes |= changes
                self.wakeup.wake()

    def _take_changes(self) -> Set[str]:
        with self._lock:
            changes, self._changes = self._changes, set()
        return changes

    def _signal_child(self, sig: int) -> None:
        if self.child is not None:
            signal_child(self.child, sig)

    # -- the server process ---------------------------------------------------------------------

    def _spawn(self) -> None:
        self.child = start_child(self.target, (self.config, self.sockets), "pyre-server", stop_with_us=True)
        self._child_started = time.monotonic()
        self._child_stopping = False
        self._kill_at = None

    def _stop_child(self, deadline: bool) -> None:
        if self.child is None or self._child_stopping:
            return
        self._child_stopping = True
        self._signal_child(signal.SIGTERM)
        if deadline:
            self._kill_at = time.monotonic() + self.grace

    def _reap(self) -> None:
        process = self.child
        process.join()
        self.child = None
        self._kill_at = None
        code = process.exitcode
        if self._child_stopping or self._stops:
            logger.debug("Server process [%d] stopped (%s).", process.pid, _how(code))
            return
        if code == 0 and time.monotonic() - self._child_started >= 1.0:
            logger.info("Server process [%d] exited; starting a new one.", process.pid)
            self._restart = True
            return
        logger.error("Server process [%d] %s. Waiting for file changes before restarting.", process.pid, _how(code))

    # -- main loop --------------------------------------------------------------------------------

    def run(self) -> int:
        self.wakeup.catch((signal.SIGINT, signal.SIGTERM))
        self._thread = threading.Thread(target=self._watch, name="pyre-reload-watcher", daemon=True)
        self._thread.start()
        try:
            return self._serve()
        finally:
            if self.child is not None:  # only after an unexpected error
                self._signal_child(signal.SIGTERM)
                self.child.join(self.grace)
                if self.child.is_alive():
                    self.child.kill()
                    self.child.join(5)
            self._closing.set()
            self.watcher.close()
            self._thread.join(5)
            self.wakeup.close()
            logger.info("Stopping reloader process [%d]", os.getpid())

    def _serve(self) -> int:
        self._spawn()
        while True:
            timeout = None
            if self._kill_at is not None:
                timeout = max(0.0, self._kill_at - time.monotonic())
            waitables: List[Any] = [self.wakeup.reader]
            if self.child is not None:
                waitables.append(self.child.sentinel)
            wait(waitables, timeout)
            self.wakeup.drain()

            for sig in self.wakeup.take_signals():
                self._stops += 1
                if self._stops == 1:
                    # The final stop: the port refuses new connections from now on (the
                    # server closes its copy as it begins to drain) rather than queueing
                    # them where nobody will accept them. A reload keeps it open.
                    for sock in self.sockets:
                        sock.close()
                    self._stop_child(deadline=False)
                elif sig == signal.SIGINT:
                    self._signal_child(signal.SIGINT)  # the server takes a second SIGINT as "now"
            if self.child is not None and not self.child.is_alive():
                self._reap()
            if self._stops:
                if self.child is None:
                    return 0
                # A reload's kill deadline still holds; otherwise wait (a second SIGINT forces).
            if self._kill_at is not None and self.child is not None and time.monotonic() >= self._kill_at:
                logger.warning("Server process [%d] did not stop within %g s; killing it.",
                               self.child.pid, self.grace)
                self._kill_at = None
                self.child.kill()
            if self._stops:
                continue

            changes = self._take_changes()
            if changes:
                logger.warning("%s detected changes in %s. Reloading...", self.watcher.name, _describe(changes))
                self._restart = True
                self._stop_child(deadline=True)
            if self._restart and self.child is None:
                self._restart = False
                self._take_changes()  # what changed while the old server stopped, the new one has
                self._spawn()
