"""``--reload``: which files count (pyre.process.reload_filter)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pyre.config import Config
from pyre.process.reload_filter import DEFAULT_EXCLUDES, DEFAULT_INCLUDES, ReloadFilter
from tests.process.files import rel, touch


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
