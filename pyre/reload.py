"""``--reload``: restart the server when a watched file changes (development).

The reloader process binds the listening socket once and runs the server in a child
process (the ``spawn`` start method: a fresh interpreter that imports the app anew).
When a watched file changes it stops the child gracefully and starts a new one. The
socket stays open in the reloader the whole time, so a client connecting during a
restart waits in the listen backlog for the new server instead of being refused.

A server that fails to start (a syntax error, an import error, a failed lifespan
startup) prints its error and exits; the reloader stays up and starts a new server at
the next change. SIGINT or SIGTERM stops the server gracefully and then the reloader
(exit code 0); a second SIGINT is passed on and makes the server stop at once. Such a
stop closes the reloader's socket at once, so new connections are refused from then on.

Which files count, with uvicorn's defaults and spelling:

* ``reload_dirs``: the directories watched, recursively; default the current directory.
* ``reload_includes``: glob patterns of files that count, added to the default ``*.py``.
* ``reload_excludes``: glob patterns of files that do not count, added to the defaults
  ``.*``, ``.py[cod]``, ``.sw.*`` and ``~*``. Naming a default pattern in the other
  list removes the default (``--reload-exclude '*.py'``, ``--reload-include '.*'``).

Files are watched with `watchfiles <https://watchfiles.helpmanual.io/>`_ when it is
installed (logged as ``WatchFiles``), else by scanning modification times (``StatReload``).
Both backends apply the same patterns (see :class:`ReloadFilter`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.connection import wait as wait_for
from pathlib import PurePath
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from pyre.config import Config
from pyre.signal_wakeup import catch_signals

__all__ = [
    "DEFAULT_EXCLUDES",
    "DEFAULT_INCLUDES",
    "IGNORED_DIRS",
    "PollingWatcher",
    "ReloadFilter",
    "Watcher",
    "WatchFilesWatcher",
    "make_watcher",
    "run_reloader",
    "watchfiles_available",
]

logger = logging.getLogger("pyre.error")

DEFAULT_INCLUDES: Tuple[str, ...] = ("*.py",)
DEFAULT_EXCLUDES: Tuple[str, ...] = (".*", ".py[cod]", ".sw.*", "~*")
# Never looked into below a watched directory (nor any virtualenv: a directory holding
# pyvenv.cfg), whatever the patterns say; a --reload-dir or an included directory
# inside one is still watched.
IGNORED_DIRS = frozenset({
    ".git", ".hg", ".svn", ".tox", ".nox", ".venv", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".hypothesis", ".idea", "__pycache__", "node_modules", "site-packages",
})
RELOAD_GRACE = 5.0  # a server told to stop for a reload is killed after this (plus the graceful timeout)
_MIN_POLL = 0.1  # the polling watcher never scans more often than this
_MAGIC = frozenset("*?[")


def _is_literal(pattern: str) -> bool:
    return not any(ch in _MAGIC for ch in pattern)


def _abspath(path: Any, cwd: str) -> PurePath:
    return PurePath(os.path.normpath(os.path.join(cwd, os.path.expanduser(os.fspath(path)))))


def _under(path: PurePath, directory: PurePath) -> bool:
    """``path`` is ``directory`` or inside it."""
    return path == directory or directory in path.parents


def _outermost(dirs: Iterable[PurePath]) -> List[PurePath]:
    unique = sorted(set(dirs), key=lambda d: (len(d.parts), str(d)))
    kept: List[PurePath] = []
    for d in unique:
        if not any(_under(d, k) for k in kept):
            kept.append(d)
    return sorted(kept, key=str)


class ReloadFilter:
    """Which directories to watch and which changed files should restart the server.

    A pattern is matched like :meth:`pathlib.PurePath.match`: from the right, so ``*.py``
    matches a file name in any directory and ``tests/*.py`` a file directly in a
    ``tests`` directory; an absolute pattern must match the whole path.

    * A file counts when an include pattern matches its path and no exclude pattern
      matches its path nor any directory between the watched directory and the file
      (``.*`` thus also skips hidden directories; ``build`` or ``tests/*`` skip a whole
      directory tree).
    * An include pattern without wildcards names a file that always counts, even if an
      exclude pattern matches it (``--reload-include .env``); if it names an existing
      directory (relative to the current directory), that directory is watched too and
      every file in it counts unless excluded.
    * An exclude pattern without wildcards naming an existing directory excludes that
      directory, and stops watching a ``reload_dirs`` entry inside it.
    * :data:`IGNORED_DIRS` and virtualenvs below a watched directory are never looked into.
    """

    def __init__(self, dirs: Sequence[Any] = (), includes: Sequence[str] = (), excludes: Sequence[str] = (),
                 *, cwd: Optional[str] = None) -> None:
        cwd = os.path.abspath(cwd if cwd is not None else os.getcwd())
        self.cwd = cwd
        user_excludes = [p for p in dict.fromkeys(excludes) if p]
        user_includes = [p for p in dict.fromkeys(includes) if p and p not in user_excludes]
        self.includes: List[str] = list(dict.fromkeys(
            [p for p in DEFAULT_INCLUDES if p not in user_excludes] + user_includes))
        self.excludes: List[str] = list(dict.fromkeys(
            [p for p in DEFAULT_EXCLUDES if p not in user_includes] + user_excludes))

        self.include_dirs: List[PurePath] = []
        self._literal_files: List[str] = []
        self._include_globs: List[str] = []
        for pattern in self.includes:
            if _is_literal(pattern):
                path = _abspath(pattern, cwd)
                if os.path.isdir(path):
                    self.include_dirs.append(path)
                else:
                    self._literal_files.append(pattern)
            else:
                self._include_globs.append(pattern)
        self.exclude_dirs: List[PurePath] = [
            _abspath(p, cwd) for p in self.excludes if _is_literal(p) and os.path.isdir(_abspath(p, cwd))
        ]
        self._exclude_patterns: List[str] = list(self.excludes)

        watched: List[PurePath] = []
        for entry in dirs:
            path = _abspath(entry, cwd)
            if os.path.isdir(path):
                watched.append(path)
            else:
                logger.warning("Reload directory '%s' is not a directory; not watching it.", entry)
        if not watched:
            if dirs:
                logger.warning("No reload directory to watch; watching the current directory.")
            watched.append(PurePath(cwd))
        watched.extend(self.include_dirs)
        kept = [d for d in watched if not any(_under(d, ex) for ex in self.exclude_dirs)]
        if not kept:
            logger.warning("Every reload directory is excluded; watching the current directory.")
            kept = [PurePath(cwd)]
        self.dirs: List[PurePath] = _outermost(kept)
        # Directories that anchor pattern matching: below them, directories are checked.
        self._bases: List[PurePath] = sorted(set(self.dirs) | set(self.include_dirs), key=lambda d: -len(d.parts))
        self._venvs: Set[PurePath] = set()

    @classmethod
    def from_config(cls, config: Config, cwd: Optional[str] = None) -> "ReloadFilter":
        return cls(config.reload_dirs, config.reload_includes, config.reload_excludes, cwd=cwd)

    # -- matching -----------------------------------------------------------------------------

    def _base(self, path: PurePath) -> Optional[PurePath]:
        for base in self._bases:  # deepest first
            if base in path.parents:
                return base
        return None

    def _is_venv(self, directory: PurePath) -> bool:
        if directory in self._venvs:
            return True
        if os.path.isfile(os.path.join(directory, "pyvenv.cfg")):
            self._venvs.add(directory)
            return True
        return False

    def _skipped_dir(self, directory: PurePath) -> bool:
        """Below a base: an ignored directory, a virtualenv, or excluded by a pattern."""
        if directory.name in IGNORED_DIRS or self._is_venv(directory):
            return True
        return any(directory.match(pattern) for pattern in self._exclude_patterns)

    def __call__(self, path: Any) -> bool:
        """Should a change to the file ``path`` restart the server?"""
        p = _abspath(path, self.cwd)
        if any(_under(p, ex) for ex in self.exclude_dirs):
            return False
        base = self._base(p)
        if base is not None:
            between = p.parents[: len(p.parents) - len(base.parents) - 1]
            if any(self._skipped_dir(d) for d in between):
                return False
        if any(p.match(pattern) for pattern in self._literal_files):
            return True  # named explicitly: wins over the exclude patterns
        if not (any(_under(p, d) for d in self.include_dirs) or any(p.match(g) for g in self._include_globs)):
            return False
        return not any(p.match(pattern) for pattern in self._exclude_patterns)

    def watches_dir(self, path: Any) -> bool:
        """Should a scan look into the directory ``path`` (inside a watched directory)?

        Decides for the directory itself only: a scan never reaches the inside of a
        directory it did not look into.
        """
        d = _abspath(path, self.cwd)
        if any(_under(inc, d) for inc in self.include_dirs):
            return True  # an included directory is (in) there
        if any(_under(d, ex) for ex in self.exclude_dirs):
            return False
        if d in self._bases or self._base(d) is None:
            return True
        return not self._skipped_dir(d)

    def __repr__(self) -> str:
        return (f"ReloadFilter(dirs={[str(d) for d in self.dirs]}, includes={self.includes}, "
                f"excludes={self.excludes})")


# -- watchers ----------------------------------------------------------------------------------


class Watcher:
    """Watches ``path_filter.dirs`` for changes to the files ``path_filter`` accepts.

    :meth:`wait` blocks until files changed and then stayed unchanged for ``delay``
    seconds, and returns the changed paths (created, modified or deleted); it returns
    an empty set when ``timeout`` passes first or after :meth:`close` (which may be
    called from another thread). Changes between two calls are not lost.
    """

    name = "Watcher"

    def __init__(self, path_filter: ReloadFilter, delay: float = 0.25) -> None:
        self.filter = path_filter
        self.dirs = list(path_filter.dirs)
        self.delay = max(0.0, float(delay))
        self._stop = threading.Event()

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout: Optional[float] = None) -> Set[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        self._stop.set()

    def __enter__(self) -> "Watcher":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _group_limit(self) -> float:
        # Files that never stop changing still restart the server every so often.
        return max(5.0, 2 * self.delay)


class PollingWatcher(Watcher):
    """Scans the watched directories every ``max(delay, 0.1)`` seconds, comparing each
    file's modification time and size with the previous scan. No dependency."""

    name = "StatReload"

    def __init__(self, path_filter: ReloadFilter, delay: float = 0.25) -> None:
        super().__init__(path_filter, delay)
        self.interval = max(self.delay, _MIN_POLL)
        self._decisions: Dict[str, bool] = {}
        self._files = self._snapshot()

    def _snapshot(self) -> Dict[str, Tuple[int, int]]:
        files: Dict[str, Tuple[int, int]] = {}
        decisions: Dict[str, bool] = {}
        previous = self._decisions
        accept = self.filter
        stack = [str(d) for d in self.dirs]
        while stack:
            directory = stack.pop()
            try:
                entries = os.scandir(directory)
            except OSError:
                continue  # vanished, or not readable
            with entries:
                for entry in entries:
                    path = entry.path
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if accept.watches_dir(path):
                                stack.append(path)
                            continue
                    except OSError:
                        continue
                    ok = previous.get(path)
                    if ok is None:
                        ok = accept(path)
                    decisions[path] = ok
                    if not ok:
                        continue
                    try:
                        st = entry.stat()
                    except OSError:
                        continue  # deleted since listed, or a dangling symlink
                    files[path] = (st.st_mtime_ns, st.st_size)
        self._decisions = decisions  # only paths that still exist: bounded
        return files

    def _changes(self) -> Set[str]:
        current = self._snapshot()
        old = self._files
        self._files = current
        changed = {p for p, sig in current.items() if old.get(p) != sig}
        changed.update(p for p in old if p not in current)
        return changed

    def wait(self, timeout: Optional[float] = None) -> Set[str]:
        deadline = None if timeout is None else time.monotonic() + timeout
        changes: Set[str] = set()
        first = 0.0
        while True:
            if changes:
                step = self.delay
            else:
                step = self.interval
                if deadline is not None:
                    step = min(step, max(0.0, deadline - time.monotonic()))
            if self._stop.wait(step):
                return set()
            found = self._changes()
            now = time.monotonic()
            if found:
                if not changes:
                    first = now
                changes |= found
                if self.delay == 0:
                    return changes
                if now - first < self._group_limit():
                    continue  # wait for the files to be quiet for `delay`
            if changes:
                return changes
            if deadline is not None and now >= deadline:
                return set()


def watchfiles_available() -> bool:
    try:
        import watchfiles  # noqa: F401
    except ImportError:
        return False
    return True


class WatchFilesWatcher(Watcher):
    """Operating-system notifications through the ``watchfiles`` package."""

    name = "WatchFiles"

    def __init__(self, path_filter: ReloadFilter, delay: float = 0.25) -> None:
        super().__init__(path_filter, delay)
        import inspect

        import watchfiles

        # watchfiles groups changes until none came for `step` ms; when nothing changes
        # it returns after `rust_timeout` ms, which bounds how late wait(timeout) returns.
        self._timeout_ms = int(min(200, max(100, self.delay * 500)))
        options: Dict[str, Any] = dict(
            watch_filter=self._accept, debounce=1600, step=50, stop_event=self._stop,
            rust_timeout=self._timeout_ms, yield_on_timeout=True,
        )
        if "ignore_permission_denied" in inspect.signature(watchfiles.watch).parameters:
            options["ignore_permission_denied"] = True
        self._iterator = watchfiles.watch(*[str(d) for d in self.dirs], **options)
        self._lock = threading.Lock()
        # The first step starts watching (and raises if a directory cannot be watched),
        # so that changes made once the constructor returned are seen.
        self._pending: Set[str] = self._next()

    def _accept(self, change: Any, path: str) -> bool:
        if self.filter(path):
            return True
        # Files made in a new directory before it was watched send no event of their own.
        return change == 1 and os.path.isdir(path) and self._new_dir_counts(path)  # 1: Change.added

    def _new_dir_counts(self, directory: str, limit: int = 2000) -> bool:
        if not self.filter.watches_dir(directory):
            return False
        seen = 0
        for root, dirs, files in os.walk(directory):
            dirs[:] = [d for d in dirs if self.filter.watches_dir(os.path.join(root, d))]
            for name in files:
                if self.filter(os.path.join(root, name)):
                    return True
            seen += len(files) + len(dirs)
            if seen > limit:
                break
        return False

    def _next(self) -> Set[str]:
        try:
            batch = next(self._iterator)
        except StopIteration:
            if self._stop.is_set():
                return set()
            raise RuntimeError("watchfiles stopped watching") from None
        return {path for _, path in batch}

    def wait(self, timeout: Optional[float] = None) -> Set[str]:
        with self._lock:
            deadline = None if timeout is None else time.monotonic() + timeout
            changes, self._pending = self._pending, set()
            now = time.monotonic()
            first = last = now
            while not self._stop.is_set():
                if changes and (now - last >= self.delay or now - first >= self._group_limit()):
                    return changes
                if not changes and deadline is not None and now >= deadline:
                    return set()
                found = self._next()
                now = time.monotonic()
                if found:
                    if not changes:
                        first = now
                    changes |= found
                    last = now
                    if self.delay <= 0.05:  # watchfiles already waited 50 ms for quiet
                        return changes
            self._close_iterator()
            return set()

    def _close_iterator(self) -> None:
        try:
            self._iterator.close()
        except ValueError:  # running in another thread: it ends at the stop event
            pass

    def close(self) -> None:
        super().close()
        if self._lock.acquire(blocking=False):
            try:
                self._close_iterator()
            finally:
                self._lock.release()


def make_watcher(path_filter: ReloadFilter, delay: float = 0.25, backend: str = "auto") -> Watcher:
    """``backend``: ``"watchfiles"``, ``"stat"`` (polling), or ``"auto"``: watchfiles when
    it is installed and can watch the directories, else polling."""
    if backend not in ("auto", "watchfiles", "stat"):
        raise ValueError(f"backend: expected auto, watchfiles or stat, got {backend!r}")
    if backend == "stat" or (backend == "auto" and not watchfiles_available()):
        return PollingWatcher(path_filter, delay)
    try:
        return WatchFilesWatcher(path_filter, delay)
    except Exception as exc:
        if backend == "watchfiles":
            raise
        logger.warning("watchfiles cannot watch %s (%s); polling for changes instead.",
                       [str(d) for d in path_filter.dirs], exc)
        return PollingWatcher(path_filter, delay)


# -- the server process -------------------------------------------------------------------------


def _child_main(config: Config, sockets: List[socket.socket], reloader_pid: int) -> None:
    """Entry point of the server process (must be importable for ``spawn``)."""
    from pyre.supervisor import _worker_main

    _stop_with_parent(reloader_pid)
    _worker_main(config, sockets, show_traceback=True)


def _stop_with_parent(parent: int) -> None:
    """A server process whose reloader died (killed with SIGKILL) shuts down gracefully
    instead of holding the port forever."""
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


# -- the reloader -------------------------------------------------------------------------------


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
    """Runs the server in a child process on ``sockets``, restarting it on changes.

    :meth:`run` returns the exit code: 0 once stopped by a signal.
    """

    def __init__(self, config: Config, sockets: List[socket.socket], watcher: Watcher) -> None:
        self.config = config
        self.sockets = sockets
        self.watcher = watcher
        self.child: Any = None
        self._context = multiprocessing.get_context("spawn")
        self._signals: List[int] = []
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._wakeup_r.setblocking(False)
        self._wakeup_w.setblocking(False)
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

    def _wake(self) -> None:
        try:
            self._wakeup_w.send(b"\0")
        except OSError:  # buffer full: a wake-up is already pending; or closed
            pass

    def _on_signal(self, sig: int, frame: Any) -> None:
        self._signals.append(sig)
        self._wake()

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
                self._wake()

    def _take_changes(self) -> Set[str]:
        with self._lock:
            changes, self._changes = self._changes, set()
        return changes

    def _signal_child(self, sig: int) -> None:
        if self.child is not None and self.child.is_alive():
            if sys.platform == "win32":  # no signals between processes: os.kill would be TerminateProcess
                self.child.terminate()
                return
            try:
                os.kill(self.child.pid, sig)
            except ProcessLookupError:  # pragma: no cover - just ended
                pass

    # -- the server process ---------------------------------------------------------------------

    def _spawn(self) -> None:
        process = self._context.Process(
            target=_child_main, args=(self.config, self.sockets, os.getpid()), name="pyre-server", daemon=False
        )
        process.start()
        self.child = process
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
        restore_signals = catch_signals((signal.SIGINT, signal.SIGTERM), self._on_signal, self._wakeup_w)
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
            restore_signals()
            self._wakeup_r.close()
            self._wakeup_w.close()
            logger.info("Stopping reloader process [%d]", os.getpid())

    def _serve(self) -> int:
        self._spawn()
        while True:
            timeout = None
            if self._kill_at is not None:
                timeout = max(0.0, self._kill_at - time.monotonic())
            waitables: List[Any] = [self._wakeup_r]
            if self.child is not None:
                waitables.append(self.child.sentinel)
            wait_for(waitables, timeout)
            try:
                while self._wakeup_r.recv(64):
                    pass
            except (BlockingIOError, InterruptedError):
                pass

            while self._signals:
                sig = self._signals.pop(0)
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


def run_reloader(config: Config, *, backend: str = "auto") -> int:
    """Bind once and serve ``config`` in a server process restarted on file changes;
    return the exit code (0 after SIGINT/SIGTERM, 3 if the socket cannot be bound).

    Logging must be configured by the caller (as :func:`pyre.server.run_workers`).
    ``backend`` chooses the watcher (see :func:`make_watcher`).
    """
    from pyre.errors import StartupError
    from pyre.server import STARTUP_FAILURE, parent_socket
    from pyre.sockets import describe

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
            return Reloader(config, [sock], watcher).run()
    except StartupError as exc:
        logger.error("%s", exc)
        return STARTUP_FAILURE
