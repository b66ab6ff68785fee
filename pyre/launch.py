"""The composition root: how a configured Pyre runs, and what its exit status is.

- :func:`launch` chooses between one server in this process, a supervisor with
  workers (:mod:`pyre.process.supervisor`) and the reloader
  (:mod:`pyre.process.reloader`), for the ``pyre`` command (:func:`main`) and
  :func:`pyre.run` alike. This is where the process layer meets :class:`pyre.Server`:
  the supervisor and the reloader receive :func:`serve_child` as the target their
  children run.
- :func:`run_server` is the one place where a server's failure becomes an exit status
  (:class:`~pyre.exit_codes.ExitCode`); a worker, the reloader's server process and
  the gunicorn worker (:mod:`pyre.workers`) all go through it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from typing import Any, Callable, Iterator, List, Mapping, Optional, Sequence, Tuple

from pyre.config import Config, config_from_settings
from pyre.errors import AppLoadError, PyreError, StartupError
from pyre.exit_codes import ExitCode
from pyre.server import Server, check_extras
from pyre.sockets import bind_socket, describe
from pyre.tls import build_ssl_context

__all__ = ["launch", "main", "parent_socket", "run", "run_reloader", "run_server", "run_workers", "serve_child"]

logger = logging.getLogger("pyre.error")

#: Prints why a server could not run: one line, or the application's traceback.
Report = Callable[[str], None]


def _log_error(text: str) -> None:
    logger.error("%s", text)


def _print_error(text: str) -> None:
    """The command line's way: ``Error: ...`` on stderr, whatever the log config says."""
    sys.stderr.write(f"Error: {text}\n")


# -- the entry points ------------------------------------------------------------------------------


def main(given: Mapping[str, Any], environ: Mapping[str, str]) -> int:
    """The ``pyre`` command once argv is parsed (``given``: the options on the command
    line): settings from every source, logging, then :func:`launch`. Returns the exit
    status; a bad setting, env file or log config is one line on stderr."""
    from pyre.logs import setup_logging
    from pyre.settings import resolve

    try:
        merged, sources = resolve(given, environ)
        config = config_from_settings(merged, sources)
        log_notes = setup_logging(config)
    except PyreError as exc:
        _print_error(str(exc))
        return ExitCode.ERROR
    _log_notes(config, sources.warnings, log_notes)
    return launch(config, report=_print_error)


def run(app: Any, **kwargs: Any) -> None:
    """Configure logging, serve ``app`` until interrupted; exit non-zero on failure.

    Takes the same keyword arguments as :class:`~pyre.Config`.
    """
    from pyre.envfile import load_env_file
    from pyre.logs import setup_logging

    config = Config(app, **kwargs)
    _log_notes(config, (), setup_logging(config))
    if config.env_file:
        load_env_file(config.env_file)
    # With reload or workers, a script calling this needs `if __name__ == "__main__":` (spawn).
    code = launch(config)
    if code:
        sys.exit(code)


def _log_notes(config: Config, warnings: Sequence[str], log_notes: Sequence[str]) -> None:
    from pyre._accel import pure_build_warning

    for warning in filter(None, [pure_build_warning(), *warnings]):
        logger.warning("%s", warning)
    for note in [*config.notes, *log_notes]:  # uvicorn's values and names, and what they mean here
        logger.info("%s", note)


def launch(config: Config, *, report: Report = _log_error) -> int:
    """Serve ``config`` the way it asks: the reloader, a supervisor with workers, or
    one server in this process. Logging must be set up. Returns the exit status
    (``report`` prints why a server in this process could not run)."""
    if config.gc_freeze is None:
        # This process (or the workers it starts) exists to serve: freezing the heap
        # after startup is safe here, where a Server embedded in a program is not.
        config = config.replace(gc_freeze=True)
    try:
        check_extras(config)  # before the app starts, in whichever process that is
    except PyreError as exc:
        logger.error("%s", exc)
        return ExitCode.STARTUP_FAILURE
    if config.reload:
        return run_reloader(config)
    if config.supervised:
        return run_workers(config)
    server = Server(config)
    return run_server(lambda: _run_to_end(server), app=config.app, report=report)


def _run_to_end(server: Server, sockets: Optional[List[socket.socket]] = None) -> Server:
    server.run(sockets)
    return server


# -- exit statuses -----------------------------------------------------------------------------------


def run_server(serve: Callable[[], Server], *, app: Any, report: Report = _log_error, gunicorn: bool = False) -> int:
    """Call ``serve`` (which runs a server to its end and returns it) and return the
    exit status: an application that cannot be loaded, or another
    :class:`~pyre.errors.PyreError` (a bad setting found late, a ``--reuse-port``
    worker's bind), is reported with ``report`` (``app``, the import string, decides
    whether its traceback is shown); a startup failure (TLS files, bind, lifespan
    startup) was logged by the server. ``gunicorn``: the numbers gunicorn's arbiter
    stops on, so that it does not boot workers forever."""
    from pyre.importer import load_error_text

    try:
        server = serve()
    except AppLoadError as exc:
        report(load_error_text(exc, app))
        return ExitCode.APP_LOAD_ERROR if gunicorn else ExitCode.ERROR
    except PyreError as exc:
        report(str(exc))
        return ExitCode.WORKER_BOOT_ERROR if gunicorn else ExitCode.ERROR
    except KeyboardInterrupt:  # pragma: no cover - before the server installed its handlers
        if gunicorn:
            raise  # gunicorn's own handling
        return ExitCode.STARTUP_FAILURE
    return ExitCode.OK if server.started else ExitCode.STARTUP_FAILURE


# -- processes ---------------------------------------------------------------------------------------


def serve_child(config: Config, sockets: Optional[List[socket.socket]], conn: Any = None) -> int:
    """The target of a worker (``conn``: its end of the supervisor's pipe) and of the
    reloader's server process: one server on the parent's ``sockets`` (None with
    ``--reuse-port``: a socket of its own, in the kernel's balancing group)."""
    from pyre.logs import setup_logging
    from pyre.process.supervisor import SupervisorLink

    setup_logging(config)
    server = Server(config)
    if conn is not None:
        SupervisorLink(conn).hook(server)

    def serve() -> Server:
        own = sockets
        if own is None:
            own = [bind_socket(config.host, config.port, backlog=config.backlog, reuse_port=True)]
        return _run_to_end(server, own)

    return run_server(serve, app=config.app)


@contextlib.contextmanager
def parent_socket(config: Config, *, listen: bool = True) -> Iterator[Tuple[socket.socket, str]]:
    """The listening socket a parent process (supervisor, reloader) binds once and hands
    to its children, with its scheme; closed (and a Unix socket file removed) on exit.

    Raises :class:`~pyre.errors.StartupError` if it cannot be bound or the TLS settings
    are unusable (checked here once; each child builds its own context from them).
    """
    scheme = "https" if build_ssl_context(config) is not None else "http"
    sock = bind_socket(config.host, config.port, uds=config.uds, fd=config.fd, backlog=config.backlog,
                       uds_perms=config.uds_perms, reuse_port=config.reuse_port, listen=listen)
    try:
        yield sock, scheme
    finally:
        sock.close()
        if config.uds:
            try:
                os.unlink(config.uds)
            except OSError:
                pass


def run_workers(config: Config) -> int:
    """Bind once and serve with ``config.workers`` processes; return the exit status."""
    from pyre.process.supervisor import Supervisor

    try:
        # With --reuse-port the supervisor only holds the port (bound, not listening: no
        # connections queue on it); each worker binds and listens on its own socket, so
        # the port accepts once the first worker is ready.
        with parent_socket(config, listen=not config.reuse_port) as (sock, scheme):
            running = f"Pyre running on {describe(sock, scheme)} with {config.workers} workers (Press CTRL+C to quit)"
            if config.reuse_port:
                port = sock.getsockname()[1]
                return Supervisor(config.replace(port=port), serve_child, None, announce=running, reserved=sock).run()
            logger.info("%s", running)
            return Supervisor(config, serve_child, [sock]).run()
    except StartupError as exc:  # the socket, the TLS files, the metrics endpoint
        logger.error("%s", exc)
        return ExitCode.STARTUP_FAILURE


def run_reloader(config: Config, *, backend: str = "auto") -> int:
    """Bind once and serve ``config`` in a server process restarted on file changes;
    return the exit status. ``backend`` chooses the watcher (see
    :func:`pyre.process.watchers.make_watcher`)."""
    from pyre.process.reload_filter import ReloadFilter
    from pyre.process.reloader import Reloader
    from pyre.process.watchers import make_watcher

    if not isinstance(config.app, str):
        raise ValueError("reload needs the app as an import string")
    if config.workers > 1:
        logger.warning("--workers %d is ignored with --reload: one server process runs.", config.workers)
    path_filter = ReloadFilter.from_config(config)
    try:
        with parent_socket(config) as (sock, scheme):
            logger.info("Will watch for changes in these directories: %s", [str(d) for d in path_filter.dirs])
            logger.info("Pyre running on %s (Press CTRL+C to quit)", describe(sock, scheme))
            watcher = make_watcher(path_filter, config.reload_delay, backend)
            logger.info("Started reloader process [%d] using %s", os.getpid(), watcher.name)
            return Reloader(config, serve_child, [sock], watcher).run()
    except StartupError as exc:
        logger.error("%s", exc)
        return ExitCode.STARTUP_FAILURE
