"""``--reload``: which files count, with uvicorn's defaults and spelling.

* ``reload_dirs``: the directories watched, recursively; default the current directory.
* ``reload_includes``: glob patterns of files that count, added to the default ``*.py``.
* ``reload_excludes``: glob patterns of files that do not count, added to the defaults
  ``.*``, ``.py[cod]``, ``.sw.*`` and ``~*``. Naming a default pattern in the other
  list removes the default (``--reload-exclude '*.py'``, ``--reload-include '.*'``).

Both watchers (:mod:`pyre.process.watchers`) apply the same :class:`ReloadFilter`.
"""

from __future__ import annotations

import logging
import os
from pathlib import PurePath
from typing import Any, Iterable, List, Optional, Sequence, Set, Tuple

__all__ = ["DEFAULT_EXCLUDES", "DEFAULT_INCLUDES", "IGNORED_DIRS", "ReloadFilter"]

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
    def from_config(cls, config: Any, cwd: Optional[str] = None) -> "ReloadFilter":
        """The filter of a :class:`pyre.Config`'s ``reload_*`` settings."""
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
