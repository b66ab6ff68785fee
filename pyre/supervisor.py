"""``--workers N``: one supervisor process, N worker processes serving the same sockets.

The supervisor binds the listening sockets once and starts each worker with the
``spawn`` start method (a fresh interpreter: no event loop, threads or app state is
inherited), handing it the sockets. A worker that dies after it started serving is
replaced, with a growing delay if workers keep dying quickly. A worker that fails at
startup (app import, lifespan startup) stops the whole server with that worker's exit
code: restarting would only repeat the same error.

SIGINT or SIGTERM is passed on to the workers, which shut down gracefully (the same
code as a single-process server); a second SIGINT is passed on too, which makes them
stop at once.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from multiprocessing.connection import wait
from typing import Any, Dict, List, Optional

from pyre.config import Config

__all__ = ["Supervisor"]

logger = logging.getLogger("pyre.error")

_STARTUP_FAILURES = (1, 3)  # app load error, startup failure (see pyre.cli and pyre.server)
_QUICK_DEATH = 5.0  # a worker that dies sooner than this after starting counts as crashing
_MAX_BACKOFF = 10.0


def _worker_main(config: Config, sockets: List[socket.socket]) -> None:
    """Entry point of a worker process (must be importable for ``spawn``)."""
    from pyre.errors import AppLoadError, PyreError
    from pyre.logs import configure_logging
    from pyre.server import STARTUP_FAILURE, Server

    configure_logging(config.log_level_number, config.access_log, config.use_colors)
    server = Server(config)
    try:
        server.run(sockets=sockets)
    except AppLoadError as exc:
        logger.error("Error loading ASGI app. %s", exc)
        raise SystemExit(1) from None
    except PyreError as exc:
        logger.error("%s", exc)
        raise SystemExit(1) from None
    except KeyboardInterrupt:  # pragma: no cover - before the server installed its handlers
        pass
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)


class _Worker:
    __slots__ = ("process", "started_at")

    def __init__(self, process: Any) -> None:
        self.process = process
        self.started_at = time.monotonic()


class Supervisor:
    """Runs ``config.workers`` worker processes on ``sockets`` until told to stop.

    :meth:`run` returns the process exit code: 0 after a signal, or the exit code of a
    worker that failed to start.
    """

    def __init__(self, config: Config, sockets: List[socket.socket]) -> None:
        if not isinstance(config.app, str):
            raise ValueError("workers need the app as an import string")
        self.config = config
        self.sockets = sockets
        self.workers: Dict[int, _Worker] = {}
        self._context = multiprocessing.get_context("spawn")
        self._signals: List[int] = []
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._wakeup_r.setblocking(False)
        self._wakeup_w.setblocking(False)
        self._quick_deaths = 0
        self._restart_at: Optional[float] = None

    # -- process management -------------------------------------------------------------------

    def _spawn(self) -> None:
        process = self._context.Process(
            target=_worker_main, args=(self.config, self.sockets), name="pyre-worker", daemon=False
        )
        process.start()
        self.workers[process.pid] = _Worker(process)

    def _reap(self, stopping: bool) -> Optional[int]:
        """Collect ended workers; return an exit code if the server must stop."""
        for pid, worker in list(self.workers.items()):
            process = worker.process
            if process.is_alive():
                continue
            process.join()
            del self.workers[pid]
            code = process.exitcode
            if stopping:
                logger.debug("Worker [%d] stopped (exit code %s).", pid, code)
                continue
            if code in _STARTUP_FAILURES:
                logger.error("Worker [%d] failed to start (exit code %d); stopping.", pid, code)
                return code
            lived = time.monotonic() - worker.started_at
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            self._quick_deaths = self._quick_deaths + 1 if lived < _QUICK_DEATH else 0
            delay = min(_MAX_BACKOFF, 0.1 * 2 ** (self._quick_deaths - 1)) if self._quick_deaths else 0.0
            logger.warning("Worker [%d] died (%s); starting a new one%s.", pid, how,
                           f" in {delay:.1f} s" if delay else "")
            now = time.monotonic()
            self._restart_at = max(self._restart_at or now, now + delay)
        return None

    def _signal_all(self, sig: int) -> None:
        for pid, worker in self.workers.items():
            if worker.process.is_alive():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass

    # -- signals ------------------------------------------------------------------------------

    def _on_signal(self, sig: int, frame: Any) -> None:
        self._signals.append(sig)
        try:
            self._wakeup_w.send(b"\0")
        except OSError:  # pragma: no cover - buffer full: a wake-up is already pending
            pass

    def _install_signals(self) -> Dict[int, Any]:
        previous: Dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._on_signal)
        return previous

    # -- main loop ----------------------------------------------------------------------------

    def run(self) -> int:
        logger.info("Started parent process [%d]", os.getpid())
        previous = self._install_signals()
        try:
            return self._serve()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._wakeup_r.close()
            self._wakeup_w.close()

    def _serve(self) -> int:
        for _ in range(self.config.workers):
            self._spawn()
        stopping = 0
        exit_code = 0
        while self.workers:
            timeout = None
            if self._restart_at is not None and not stopping:
                timeout = max(0.0, self._restart_at - time.monotonic())
            sentinels = [w.process.sentinel for w in self.workers.values()]
            wait([*sentinels, self._wakeup_r], timeout)
            try:
                while self._wakeup_r.recv(64):
                    pass
            except (BlockingIOError, InterruptedError):
                pass
            while self._signals:
                sig = self._signals.pop(0)
                stopping += 1
                if stopping == 1:
                    logger.info("Stopping %d worker(s).", len(self.workers))
                    self._signal_all(signal.SIGTERM)
                else:
                    self._signal_all(signal.SIGINT)  # a worker takes a second signal as "now"
            failed = self._reap(bool(stopping))
            if failed is not None and not stopping:
                exit_code = failed
                stopping = 1
                self._signal_all(signal.SIGTERM)
            if stopping:
                continue
            if self._restart_at is not None and time.monotonic() >= self._restart_at:
                self._restart_at = None
                while len(self.workers) < self.config.workers:
                    self._spawn()
        logger.info("Stopping parent process [%d]", os.getpid())
        return exit_code
