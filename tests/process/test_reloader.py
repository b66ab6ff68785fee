"""``--reload``: the reloader's own pieces (pyre.process.reloader); the whole reloader
runs in tests/e2e/test_reload.py and tests/launch/test_platform.py."""

from __future__ import annotations

import sys

import pytest

from pyre.process.reloader import _describe


def test_describe_changes(tmp_path):
    paths = [str(tmp_path / f"m{i}.py") for i in range(7)]
    assert _describe(paths[:2], cwd=str(tmp_path)) == "'m0.py', 'm1.py'"
    assert _describe(paths, cwd=str(tmp_path)).endswith("'m4.py' and 2 more")
    assert _describe(["/elsewhere/x.py"], cwd=str(tmp_path)) == "'/elsewhere/x.py'"


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
