"""``--reload``: watching the directories a :class:`~pyre.process.reload_filter.ReloadFilter`
names, with `watchfiles <https://watchfiles.helpmanual.io/>`_ when it is installed
(logged as ``WatchFiles``), else by scanning modification times (``StatReload``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Dict, Optional, Set, Tuple

from pyre.process.reload_filter import ReloadFilter

__all__ = ["PollingWatcher", "Watcher", "WatchFilesWatcher", "make_watcher", "watchfiles_available"]

logger = logging.getLogger("pyre.error")

_MIN_POLL = 0.1  # the polling watcher never scans more often than this


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
