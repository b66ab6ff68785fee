"""``--reload``: the two watcher backends (pyre.process.watchers)."""

from __future__ import annotations

import logging
import sys
import threading
import time

import pytest

from pyre.process.reload_filter import ReloadFilter
from pyre.process.watchers import PollingWatcher, WatchFilesWatcher, make_watcher, watchfiles_available
from tests.process.files import rel, touch

BACKENDS = ["stat", "watchfiles"]


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
