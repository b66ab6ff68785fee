"""``--reload``: which files count (ReloadFilter) and the two watcher backends."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from pyre import reload as reload_mod
from pyre.config import Config
from pyre.reload import (
    DEFAULT_EXCLUDES,
    DEFAULT_INCLUDES,
    PollingWatcher,
    ReloadFilter,
    WatchFilesWatcher,
    make_watcher,
    watchfiles_available,
)

BACKENDS = ["stat", "watchfiles"]


def touch(path: Path, text: str = "x = 1\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def rel(tmp_path: Path, accepted) -> set:
    return {os.path.relpath(p, tmp_path) for p in accepted}


# -- the filter: defaults ---------------------------------------------------------------------


def test_defaults_are_uvicorns(tmp_path):
    f = ReloadFilter(cwd=str(tmp_path))
    assert f.includes == list(DEFAULT_INCLUDES) == ["*.py"]
    assert f.excludes == list(DEFAULT_EXCLUDES) == [".*", ".py[cod]", ".sw.*", "~*"]
    assert [str(d) for d in f.dirs] == [str(tmp_path)]  # the current directory


@pytest.mark.parametrize("path, counts", [
    ("app.py", True),
    ("pkg/sub/mod.py", True),
    ("notes.txt", False),
    ("app.pyc", False),
    (".hidden.py", False),
    ("~backup.py", False),
    ("pkg/.#lock.py", False),
    (".git/hooks/x.py", False),          # hidden directory (".*")
    ("pkg/__pycache__/mod.py", False),   # always ignored
    ("node_modules/x/y.py", False),
    ("lib/site-packages/x.py", False),
])
def test_default_filter(tmp_path, path, counts):
    assert ReloadFilter(cwd=str(tmp_path))(tmp_path / path) is counts


def test_a_virtualenv_is_ignored_whatever_its_name(tmp_path):
    touch(tmp_path / "env" / "pyvenv.cfg", "home = /usr\n")
    f = ReloadFilter(cwd=str(tmp_path))
    assert not f(tmp_path / "env" / "lib" / "python3" / "x.py")
    assert not f.watches_dir(tmp_path / "env")
    assert f(tmp_path / "environment" / "x.py")


def test_relative_paths_are_taken_from_the_current_directory(tmp_path):
    f = ReloadFilter(cwd=str(tmp_path))
    assert f("pkg/mod.py") and not f("pkg/mod.txt")


# -- the filter: patterns ---------------------------------------------------------------------


def test_includes_add_to_the_default(tmp_path):
    f = ReloadFilter(includes=["*.html", "*.txt"], cwd=str(tmp_path))
    assert f.includes == ["*.py", "*.html", "*.txt"]
    assert f(tmp_path / "templates" / "index.html") and f(tmp_path / "a.txt") and f(tmp_path / "a.py")
    assert not f(tmp_path / "a.css")


def test_excluding_a_default_include_removes_it(tmp_path):
    f = ReloadFilter(includes=["*.toml"], excludes=["*.py"], cwd=str(tmp_path))
    assert f.includes == ["*.toml"]
    assert not f(tmp_path / "app.py") and f(tmp_path / "pyproject.toml")


def test_including_a_default_exclude_removes_it(tmp_path):
    f = ReloadFilter(includes=[".*"], cwd=str(tmp_path))
    assert ".*" not in f.excludes
    assert f(tmp_path / ".hidden.py") and f(tmp_path / ".env")
    assert not f(tmp_path / ".git" / "x.py")  # still an ignored directory


def test_a_file_named_without_wildcards_wins_over_the_excludes(tmp_path):
    f = ReloadFilter(includes=[".env"], cwd=str(tmp_path))
    assert ".*" in f.excludes
    assert f(tmp_path / ".env") and f(tmp_path / "config" / ".env")
    assert not f(tmp_path / ".env.local")


def test_patterns_match_from_the_right(tmp_path):
    f = ReloadFilter(excludes=["tests/*.py"], cwd=str(tmp_path))
    assert not f(tmp_path / "tests" / "test_a.py")
    assert f(tmp_path / "tests" / "unit" / "test_b.py")  # not directly in tests
    assert f(tmp_path / "app.py")


def test_an_exclude_pattern_matching_a_directory_excludes_its_tree(tmp_path):
    f = ReloadFilter(excludes=["build", "migrations/*"], cwd=str(tmp_path))
    assert not f(tmp_path / "build" / "lib" / "x.py")
    assert not f(tmp_path / "pkg" / "build" / "x.py")  # a directory named build anywhere
    assert not f(tmp_path / "migrations" / "v1" / "0001.py")
    assert not f.watches_dir(tmp_path / "pkg" / "build")
    assert f(tmp_path / "pkg" / "builder.py")


def test_an_excluded_directory_path_and_reload_dirs_inside_it(tmp_path):
    (tmp_path / "vendor" / "lib").mkdir(parents=True)
    (tmp_path / "src").mkdir()
    f = ReloadFilter(dirs=[str(tmp_path / "vendor" / "lib"), str(tmp_path / "src")],
                     excludes=[str(tmp_path / "vendor")], cwd=str(tmp_path))
    assert f.dirs == [Path(tmp_path / "src")]
    assert not f(tmp_path / "vendor" / "lib" / "x.py")


def test_an_included_directory_is_watched_and_all_its_files_count(tmp_path, caplog):
    outside = tmp_path / "templates"
    (outside / ".cache").mkdir(parents=True)
    project = tmp_path / "project"
    project.mkdir()
    f = ReloadFilter(includes=[str(outside)], cwd=str(project))
    assert [str(d) for d in f.dirs] == sorted([str(project), str(outside)])
    assert f(outside / "index.html") and f(outside / "emails" / "welcome.txt")
    assert not f(outside / ".cache" / "x.html")  # still the exclude patterns below it
    assert not f(outside / "__pycache__" / "page.cpython-311.pyc")


def test_an_included_directory_inside_a_hidden_one(tmp_path):
    (tmp_path / ".config" / "app").mkdir(parents=True)
    f = ReloadFilter(includes=[".config/app"], cwd=str(tmp_path))
    assert f(tmp_path / ".config" / "app" / "settings.toml")
    assert not f(tmp_path / ".config" / "other.py")
    assert f.watches_dir(tmp_path / ".config")  # on the way to the included directory
    assert not f.watches_dir(tmp_path / ".cache")


def test_empty_patterns_are_ignored(tmp_path):
    f = ReloadFilter(includes=[""], excludes=[""], cwd=str(tmp_path))
    assert f.includes == ["*.py"] and f.excludes == list(DEFAULT_EXCLUDES)


# -- the filter: directories ------------------------------------------------------------------


def test_nested_reload_dirs_collapse(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "c").mkdir()
    f = ReloadFilter(dirs=["a/b", "a", "c", "a"], cwd=str(tmp_path))
    assert f.dirs == [Path(tmp_path / "a"), Path(tmp_path / "c")]


def test_a_missing_reload_dir_is_skipped_with_a_warning(tmp_path, caplog):
    (tmp_path / "src").mkdir()
    with caplog.at_level(logging.WARNING, logger="pyre.error"):
        f = ReloadFilter(dirs=["src", "nope"], cwd=str(tmp_path))
    assert f.dirs == [Path(tmp_path / "src")]
    assert "Reload directory 'nope' is not a directory" in caplog.text


def test_no_valid_reload_dir_watches_the_current_directory(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="pyre.error"):
        f = ReloadFilter(dirs=["nope"], cwd=str(tmp_path))
    assert f.dirs == [Path(tmp_path)]
    assert "watching the current directory" in caplog.text


def test_from_config(tmp_path):
    (tmp_path / "src").mkdir()
    config = Config("app:app", reload=True, reload_dirs=[str(tmp_path / "src")],
                    reload_includes=["*.html"], reload_excludes=["*_test.py"])
    f = ReloadFilter.from_config(config, cwd=str(tmp_path))
    assert f.dirs == [Path(tmp_path / "src")]
    assert f(tmp_path / "src" / "page.html") and not f(tmp_path / "src" / "x_test.py")


def test_describe_changes(tmp_path):
    paths = [str(tmp_path / f"m{i}.py") for i in range(7)]
    assert reload_mod._describe(paths[:2], cwd=str(tmp_path)) == "'m0.py', 'm1.py'"
    assert reload_mod._describe(paths, cwd=str(tmp_path)).endswith("'m4.py' and 2 more")
    assert reload_mod._describe(["/elsewhere/x.py"], cwd=str(tmp_path)) == "'/elsewhere/x.py'"


# -- the watchers -------------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def watch(request, tmp_path):
    """``watch(**filter_options)``: a watcher of ``tmp_path`` with a short delay."""
    if request.param == "watchfiles" and not watchfiles_available():  # pragma: no cover
        pytest.skip("watchfiles is not installed")
    made = []

    def start(delay: float = 0.05, **options):
        watcher = make_watcher(ReloadFilter(cwd=str(tmp_path), **options), delay, request.param)
        made.append(watcher)
        return watcher

    yield start
    for watcher in made:
        watcher.close()


def test_backend_names(tmp_path):
    f = ReloadFilter(cwd=str(tmp_path))
    with make_watcher(f, 0.1, "stat") as w:
        assert isinstance(w, PollingWatcher) and w.name == "StatReload"
    with make_watcher(f, 0.1, "auto") as w:
        assert w.name == ("WatchFiles" if watchfiles_available() else "StatReload")
    with pytest.raises(ValueError, match="backend"):
        make_watcher(f, 0.1, "inotify")


def test_auto_polls_without_watchfiles(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "watchfiles", None)  # import fails
    assert not watchfiles_available()
    with make_watcher(ReloadFilter(cwd=str(tmp_path)), 0.1) as w:
        assert isinstance(w, PollingWatcher)


def test_auto_polls_when_watchfiles_fails(tmp_path, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise OSError("inotify watch limit reached")

    monkeypatch.setattr(WatchFilesWatcher, "__init__", broken)
    with caplog.at_level(logging.WARNING, logger="pyre.error"):
        with make_watcher(ReloadFilter(cwd=str(tmp_path)), 0.1) as w:
            assert isinstance(w, PollingWatcher)
    assert "polling for changes instead" in caplog.text


def test_create_modify_delete(tmp_path, watch):
    existing = touch(tmp_path / "pkg" / "old.py")
    w = watch()
    assert w.wait(timeout=0.3) == set()

    created = touch(tmp_path / "pkg" / "new.py")
    assert rel(tmp_path, w.wait(timeout=5)) == {"pkg/new.py"}

    time.sleep(0.02)
    existing.write_text("x = 2  # changed\n")
    assert rel(tmp_path, w.wait(timeout=5)) == {"pkg/old.py"}

    created.unlink()
    assert rel(tmp_path, w.wait(timeout=5)) == {"pkg/new.py"}


def test_a_new_directory_is_watched(tmp_path, watch):
    w = watch()
    touch(tmp_path / "a" / "b" / "deep.py")
    # Files made with their directory may come before it is watched: then the new
    # directory holding a file that counts is reported.
    reported = rel(tmp_path, w.wait(timeout=5))
    assert reported and reported <= {"a/b/deep.py", "a", "a/b"}
    assert w.wait(timeout=0.3) == set()
    time.sleep(0.05)
    (tmp_path / "a" / "b" / "deep.py").write_text("changed = True\n")
    assert rel(tmp_path, w.wait(timeout=5)) == {"a/b/deep.py"}


def test_files_that_do_not_count_are_not_reported(tmp_path, watch):
    w = watch(excludes=["skip_*.py"])
    touch(tmp_path / "notes.txt", "hello")
    touch(tmp_path / "skip_me.py")
    touch(tmp_path / ".hidden.py")
    touch(tmp_path / "__pycache__" / "mod.py")
    assert w.wait(timeout=0.8) == set()
    touch(tmp_path / "counted.py")
    assert rel(tmp_path, w.wait(timeout=5)) == {"counted.py"}


def test_changes_close_together_come_as_one_batch(tmp_path, watch):
    w = watch(delay=0.4)
    for name in ("a.py", "b.py", "c.py"):
        touch(tmp_path / name)
        time.sleep(0.1)  # each within the quiet period of the one before
    assert rel(tmp_path, w.wait(timeout=5)) == {"a.py", "b.py", "c.py"}
    assert w.wait(timeout=0.5) == set()


def test_changes_between_waits_are_not_lost(tmp_path, watch):
    w = watch()
    touch(tmp_path / "early.py")
    time.sleep(0.5)  # nobody waiting
    assert rel(tmp_path, w.wait(timeout=5)) == {"early.py"}


def test_close_ends_a_wait_from_another_thread(tmp_path, watch):
    w = watch()
    result = {}

    def waiter():
        result["changes"] = w.wait()  # no timeout

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    w.close()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 2
    assert result["changes"] == set()
    assert w.wait(timeout=0.1) == set() and w.closed


def test_an_idle_watcher_does_not_spin(tmp_path, watch):
    for i in range(50):
        touch(tmp_path / "pkg" / f"m{i}.py")
    w = watch(delay=0.1)
    cpu = time.process_time()
    started = time.monotonic()
    assert w.wait(timeout=1.0) == set()
    assert 0.9 <= time.monotonic() - started < 3
    assert time.process_time() - cpu < 0.3


def test_the_polling_interval_follows_the_delay(tmp_path):
    f = ReloadFilter(cwd=str(tmp_path))
    assert PollingWatcher(f, 0).interval == 0.1
    assert PollingWatcher(f, 0.25).interval == 0.25
    assert PollingWatcher(f, 2).interval == 2


def test_a_vanished_directory_reports_its_files_deleted(tmp_path):
    touch(tmp_path / "src" / "a.py")
    with PollingWatcher(ReloadFilter(dirs=[str(tmp_path / "src")], cwd=str(tmp_path)), 0.05) as w:
        (tmp_path / "src" / "a.py").unlink()
        (tmp_path / "src").rmdir()
        assert rel(tmp_path, w.wait(timeout=5)) == {"src/a.py"}
        assert w.wait(timeout=0.3) == set()


def test_child_shows_where_an_import_failed(tmp_path, monkeypatch):
    source = tmp_path / "broken_mod_xyz.py"
    source.write_text("x = 1\nvalue = = 2\n")
    # Not syspath_prepend: it imports pkg_resources, which kosoku (the Autobahn tests) shims.
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    from pyre.importer import app_traceback, import_from_string

    with pytest.raises(Exception) as info:
        import_from_string("broken_mod_xyz:app")
    text = app_traceback(info.value.__cause__)
    assert str(source) in text and "line 2" in text and "SyntaxError" in text
    assert "importlib" not in text and "pyre" not in text.replace(str(tmp_path), "")
