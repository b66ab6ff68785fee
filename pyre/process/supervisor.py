"""``--workers N``: one supervisor process, N worker processes serving the same sockets.

The supervisor binds the listening sockets once and starts each worker with the
``spawn`` start method (a fresh interpreter: no event loop, threads or app state is
inherited, and the app's code is read from disk again), handing it the sockets and one
end of a pipe. With ``--reuse-port`` each worker binds its own ``SO_REUSEPORT`` socket
instead and the kernel spreads connections between them; the supervisor only reserves
the port (bound, never listening, so it receives no connections).

Over the pipe a worker says ``ready`` once it serves, ``retire`` when it reached
``--limit-max-requests``, and answers the supervisor's ``ping`` from its event loop: a
worker whose loop is blocked past ``--timeout-worker-healthcheck`` is killed and
replaced. A worker above ``--limit-max-rss`` or one that asked to retire is *replaced*:
a new worker starts, and only when it is ready does the old one get SIGTERM and drain.
That is also how SIGHUP restarts every worker, one at a time; the listening socket
never closes, so no connection is refused. SIGTTIN adds a worker, SIGTTOU removes one.

A worker that dies is replaced, with a growing delay if workers keep dying quickly. A
worker of the first generation that fails at startup (app import, lifespan startup)
stops the whole server with its exit code: restarting would only repeat the error. A
replacement that fails to start is logged and the old worker keeps serving.

SIGINT or SIGTERM is passed on to the workers, which shut down gracefully (the same
code as a single-process server); a second SIGINT is passed on too, which makes them
stop at once. A stop also closes the supervisor's own copy of each listening socket at
once (the workers close theirs as they begin to drain), so the port refuses new
connections from then on, as a single server does, instead of queueing them where no
process will accept them: a load balancer fails over at once.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections import deque
from multiprocessing.connection import Connection, wait
from typing import Any, Deque, Dict, List, Optional

from pyre.exit_codes import ExitCode
from pyre.process.spawn import SPAWN, Target, posix_signal, signal_child, start_child
from pyre.process.wakeup import Wakeup
from pyre.rss import rss_mib

__all__ = ["Supervisor", "SupervisorLink"]

logger = logging.getLogger("pyre.error")

# A first worker exiting with one of these never served: the server stops with it.
_STARTUP_FAILURES = (ExitCode.ERROR, ExitCode.STARTUP_FAILURE)
_QUICK_DEATH = 5.0  # a worker that dies sooner than this after starting counts as crashing
_MAX_BACKOFF = 10.0
_RSS_CHECK_INTERVAL = 1.0
_POSIX_SIGNALS = ("SIGHUP", "SIGTTIN", "SIGTTOU")


# -- the worker's side ----------------------------------------------------------------------------


class SupervisorLink:
    """A worker's end of its pipe: answers pings from the event loop, reports ready and
    retire, and stops the server if the supervisor goes away (the pipe reaches EOF).

    The pipe is watched by the event loop where it can be (``add_reader``); where it
    cannot (Windows: a pipe is no socket, and the proactor loop has no readers), a
    thread waits on it and hands each message to the loop, so a ping is still answered
    only by a running event loop."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.server: Any = None
        self._reader = False

    def hook(self, server: Any) -> None:
        """Report ``server`` (a :class:`pyre.Server` not yet started): ready once it
        serves, retire when it reached ``--limit-max-requests``."""
        server.on_started = self.attach
        server.on_retire = lambda: self.send("retire")

    def attach(self, server: Any) -> None:
        """Called on the server's loop once it serves."""
        import asyncio

        self.server = server
        loop = asyncio.get_running_loop()
        try:
            loop.add_reader(self.conn.fileno(), self._readable)
            self._reader = True
        except (NotImplementedError, OSError, ValueError):
            import threading

            threading.Thread(target=self._wait_in_thread, args=(loop,), name="pyre-supervisor-link",
                             daemon=True).start()
        self.send("ready")

    def detach(self) -> None:
        import asyncio

        if not self._reader:
            return
        self._reader = False
        try:
            asyncio.get_running_loop().remove_reader(self.conn.fileno())
        except (RuntimeError, ValueError, OSError):  # pragma: no cover - loop or pipe already gone
            pass

    def send(self, message: str) -> None:
        try:
            self.conn.send(message)
        except (OSError, ValueError):  # the supervisor is gone; the reader sees EOF and stops us
            pass

    def _readable(self) -> None:
        try:
            while self.conn.poll():
                self._on_message(self.conn.recv())
        except (EOFError, OSError):
            self._gone()

    def _wait_in_thread(self, loop: Any) -> None:
        try:
            while True:
                message = self.conn.recv()
                loop.call_soon_threadsafe(self._on_message, message)
        except (EOFError, OSError):
            try:
                loop.call_soon_threadsafe(self._gone)
            except RuntimeError:  # the loop is closed: the server is done anyway
                pass

    def _on_message(self, message: Any) -> None:
        if message == "ping":
            self.send("pong")

    def _gone(self) -> None:
        self.detach()
        if self.server is not None and not self.server.should_exit:
            logger.warning("Supervisor went away; shutting down.")
            self.server.should_exit = True


# -- the supervisor's side ------------------------------------------------------------------------


class _Worker:
    __slots__ = ("process", "conn", "started_at", "ready", "stopping", "replacing", "ping_sent", "next_ping",
                 "first")

    def __init__(self, process: Any, conn: Connection, first: bool) -> None:
        self.process = process
        self.conn = conn
        self.started_at = time.monotonic()
        self.ready = False
        self.stopping = False  # told to stop: not counted towards the size
        self.replacing: Optional[int] = None  # the pid this worker will replace once ready
        self.ping_sent: Optional[float] = None  # awaiting a pong since
        self.next_ping = 0.0
        self.first = first  # of the first generation: a startup failure stops the server

    @property
    def pid(self) -> int:
        return self.process.pid


class Supervisor:
    """Runs ``config.workers`` worker processes until told to stop; each calls
    ``target(config, sockets, conn)`` (see :mod:`pyre.process.spawn`), ``conn`` being
    the worker's end of its pipe, for a :class:`SupervisorLink`.

    ``sockets`` is None with ``--reuse-port``: each worker binds its own, ``reserved``
    is the supervisor's socket holding the port, and ``announce`` is logged when the
    first is ready. :meth:`run` returns 0 after a signal, or the exit status of a first
    worker that failed to start; it raises :class:`~pyre.errors.StartupError` if the
    ``--metrics-port`` endpoint cannot start.
    """

    def __init__(self, config: Any, target: Target, sockets: Optional[List[socket.socket]],
                 announce: Optional[str] = None, reserved: Optional[socket.socket] = None) -> None:
        if not isinstance(config.app, str):
            raise ValueError("workers need the app as an import string")
        self.config = config
        self.target = target
        self.sockets = sockets
        # The sockets this process holds, closed when a final stop begins.
        self._held = list(sockets or ()) + ([reserved] if reserved is not None else [])
        self._announce = announce  # logged once the first worker is ready
        self.size = config.workers  # the number of workers wanted (SIGTTIN, SIGTTOU change it)
        self.workers: Dict[int, _Worker] = {}
        self.restarts = 0
        self.metrics: Any = None  # a pyre.metrics.SupervisorMetrics with --metrics-port
        self.wakeup = Wakeup()
        self._quick_deaths = 0
        self._restart_at: Optional[float] = None
        self._first_started = False
        self._to_replace: Deque[int] = deque()  # pids waiting for a replacement, one at a time
        self._rss_checked = 0.0

    # -- process management -------------------------------------------------------------------

    @property
    def serving(self) -> int:
        """Workers ready and serving (read by the metrics endpoint's thread)."""
        return sum(1 for w in list(self.workers.values()) if w.ready and not w.stopping)

    def _spawn(self, replacing: Optional[int] = None) -> _Worker:
        ours, theirs = SPAWN.Pipe(duplex=True)
        process = start_child(self.target, (self.config, self.sockets, theirs), "pyre-worker")
        theirs.close()
        worker = _Worker(process, ours, first=not self._first_started)
        worker.replacing = replacing
        self.workers[process.pid] = worker
        return worker

    def _active(self) -> List[_Worker]:
        """Workers that count towards the size: not stopping, not a pending replacement."""
        return [w for w in self.workers.values() if not w.stopping and w.replacing is None]

    def _stop_worker(self, worker: _Worker, sig: int = signal.SIGTERM) -> None:
        worker.stopping = True
        signal_child(worker.process, sig)

    def _reap(self, stopping: bool) -> Optional[int]:
        """Collect ended workers; return an exit code if the server must stop."""
        for pid, worker in list(self.workers.items()):
            process = worker.process
            if process.is_alive():
                continue
            process.join()
            worker.conn.close()
            del self.workers[pid]
            if self.metrics is not None:
                self.metrics.worker_ended(pid)  # its live gauges go; its counts join the ended workers' totals
            code = process.exitcode
            if stopping or worker.stopping:
                logger.debug("Worker [%d] stopped (exit code %s).", pid, code)
                continue
            if worker.replacing is not None:
                # A replacement that could not start: the old worker keeps serving.
                logger.error("Worker [%d] failed to start (exit code %s); worker [%d] keeps serving.",
                             pid, code, worker.replacing)
                self._to_replace.clear()
                continue
            if code in _STARTUP_FAILURES and not worker.ready and worker.first:
                logger.error("Worker [%d] failed to start (exit code %d); stopping.", pid, code)
                return code
            lived = time.monotonic() - worker.started_at
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            self._quick_deaths = self._quick_deaths + 1 if lived < _QUICK_DEATH else 0
            delay = min(_MAX_BACKOFF, 0.1 * 2 ** (self._quick_deaths - 1)) if self._quick_deaths else 0.0
            logger.warning("Worker [%d] died (%s); starting a new one%s.", pid, how,
                           f" in {delay:.1f} s" if delay else "")
            self.restarts += 1
            now = time.monotonic()
            self._restart_at = max(self._restart_at or now, now + delay)
        return None

    def _signal_all(self, sig: int) -> None:
        for worker in self.workers.values():
            signal_child(worker.process, sig)

    # -- replacing, one at a time ---------------------------------------------------------------

    def _replace(self, worker: _Worker, why: str) -> None:
        if worker.pid in self._to_replace or worker.stopping:
            return
        logger.info("Replacing worker [%d]: %s.", worker.pid, why)
        self._to_replace.append(worker.pid)

    def _advance_replacements(self) -> None:
        if any(w.replacing is not None for w in self.workers.values()):
            return  # one replacement in flight
        while self._to_replace:
            pid = self._to_replace.popleft()
            old = self.workers.get(pid)
            if old is not None and not old.stopping:
                self._spawn(replacing=pid)
                return

    def _on_ready(self, worker: _Worker) -> None:
        worker.ready = True
        if self._announce:
            logger.info("%s", self._announce)
            self._announce = None
        worker.next_ping = time.monotonic() + self.config.timeout_worker_healthcheck
        if worker.replacing is not None:
            old = self.workers.get(worker.replacing)
            worker.replacing = None
            if old is not None and not old.stopping:
                logger.info("Worker [%d] is ready; stopping worker [%d].", worker.pid, old.pid)
                self._stop_worker(old)
                self.restarts += 1

    def _read_messages(self, ready_conns: List[Any]) -> None:
        for worker in list(self.workers.values()):
            if worker.conn not in ready_conns:
                continue
            try:
                while worker.conn.poll():
                    message = worker.conn.recv()
                    if message == "ready":
                        self._on_ready(worker)
                    elif message == "pong":
                        worker.ping_sent = None
                        worker.next_ping = time.monotonic() + self.config.timeout_worker_healthcheck
                    elif message == "retire":
                        self._replace(worker, "it served --limit-max-requests")
            except (EOFError, OSError):
                pass  # the process is ending; the sentinel reaps it

    # -- health ---------------------------------------------------------------------------------

    def _check_health(self, now: float) -> None:
        timeout = self.config.timeout_worker_healthcheck
        for worker in list(self.workers.values()):
            if not worker.ready or worker.stopping or not worker.process.is_alive():
                continue
            if worker.ping_sent is None:
                if now >= worker.next_ping:
                    try:
                        worker.conn.send("ping")
                    except OSError:
                        continue
                    worker.ping_sent = now
            elif now - worker.ping_sent > timeout:
                logger.error("Worker [%d] did not answer the health check within %g s (event loop blocked?); "
                             "killing it.", worker.pid, timeout)
                worker.ping_sent = None
                worker.process.kill()  # SIGKILL; TerminateProcess on Windows
        limit = self.config.limit_max_rss
        if limit and now - self._rss_checked >= _RSS_CHECK_INTERVAL:
            self._rss_checked = now
            for worker in self._active():
                rss = rss_mib(worker.pid)
                if rss is not None and rss > limit:
                    self._replace(worker, f"its memory ({rss:.0f} MiB) is above --limit-max-rss {limit} MiB")

    def _next_ping_due(self, now: float) -> float:
        timeout = self.config.timeout_worker_healthcheck
        due = now + timeout
        for worker in self.workers.values():
            if worker.ready and not worker.stopping:
                due = min(due, worker.next_ping if worker.ping_sent is None else worker.ping_sent + timeout)
        if self.config.limit_max_rss:
            due = min(due, self._rss_checked + _RSS_CHECK_INTERVAL)
        return max(0.0, due - now) + 0.01

    # -- signals ------------------------------------------------------------------------------

    def _begin_stop(self) -> None:
        """The final stop: close the listening sockets this process holds, then tell the
        workers, which close theirs as they begin to drain. From then on the port
        refuses connections instead of queueing them unaccepted. (Replacing a worker
        never gets here: the port stays open throughout.)"""
        for sock in self._held:
            sock.close()
        self._signal_all(signal.SIGTERM)

    def _handle_signal(self, sig: int, stopping: int) -> int:
        if sig in (signal.SIGINT, signal.SIGTERM):
            stopping += 1
            if stopping == 1:
                logger.info("Stopping %d worker(s).", len(self.workers))
                self._begin_stop()
            else:
                self._signal_all(signal.SIGINT)  # a worker takes a second signal as "now"
            return stopping
        if stopping:
            return stopping
        if sig == posix_signal("SIGHUP"):
            logger.info("SIGHUP: restarting %d worker(s) one by one.", len(self._active()))
            for worker in sorted(self._active(), key=lambda w: w.started_at):
                self._replace(worker, "SIGHUP")
        elif sig == posix_signal("SIGTTIN"):
            self.size += 1
            logger.info("SIGTTIN: %d worker(s).", self.size)
            self._spawn()
        elif sig == posix_signal("SIGTTOU"):
            if self.size <= 1:
                logger.info("SIGTTOU: keeping the last worker.")
                return stopping
            self.size -= 1
            logger.info("SIGTTOU: %d worker(s).", self.size)
            active = sorted(self._active(), key=lambda w: w.started_at)
            if len(active) > self.size:
                self._stop_worker(active[0])
        return stopping

    # -- main loop ----------------------------------------------------------------------------

    def run(self) -> int:
        logger.info("Started parent process [%d]", os.getpid())
        posix = [sig for sig in map(posix_signal, _POSIX_SIGNALS) if sig is not None]
        if len(posix) < len(_POSIX_SIGNALS):
            logger.info("No SIGHUP, SIGTTIN and SIGTTOU on this platform: no rolling restart or resizing by "
                        "signal (workers are still replaced at their limits, or when they die).")
        self.wakeup.catch([signal.SIGINT, signal.SIGTERM, *posix])
        try:
            if self.config.metrics_port is not None:
                # Before the first spawn: workers inherit PROMETHEUS_MULTIPROC_DIR. A
                # StartupError (no prometheus_client, a busy port) stops the server.
                from pyre.metrics import SupervisorMetrics

                self.metrics = SupervisorMetrics.start(self.config, restarts=lambda: self.restarts,
                                                       workers=lambda: self.serving)
            return self._serve()
        finally:
            self.wakeup.close()
            for worker in self.workers.values():
                worker.conn.close()
            if self.metrics is not None:
                self.metrics.close()  # stops the endpoint, removes the directory

    def _serve(self) -> int:
        for _ in range(self.size):
            self._spawn()
        self._first_started = True
        stopping = 0
        exit_code = 0
        while self.workers:
            now = time.monotonic()
            timeout: Optional[float] = None
            if not stopping:
                timeout = self._next_ping_due(now)
                if self._restart_at is not None:
                    timeout = min(timeout, max(0.0, self._restart_at - now))
            handles: List[Any] = [self.wakeup.reader]
            for worker in self.workers.values():
                handles += (worker.process.sentinel, worker.conn)
            ready = wait(handles, timeout)
            self.wakeup.drain()
            self._read_messages(ready)
            for sig in self.wakeup.take_signals():
                stopping = self._handle_signal(sig, stopping)
            failed = self._reap(bool(stopping))
            if failed is not None and not stopping:
                exit_code = failed
                stopping = 1
                self._begin_stop()
            if stopping:
                continue
            self._check_health(time.monotonic())
            self._advance_replacements()
            if self._restart_at is not None and time.monotonic() >= self._restart_at:
                self._restart_at = None
                while len(self._active()) < self.size:
                    self._spawn()
        logger.info("Stopping parent process [%d]", os.getpid())
        return exit_code

