"""Both twins of the compiled units of pyre.web: ``parsing`` and ``request``."""

from __future__ import annotations

import pytest

from pyre._accel import load_twins

WEB_TWINS = {name: load_twins(name) for name in ("parsing", "request")}


def twins(name):
    """The compiled and the pure module of a unit (fails when the compiled one is not built)."""
    modules = WEB_TWINS[name]
    if modules["c"] is None:
        pytest.fail(f"the compiled pyre.web.{name} is not built; install with a C compiler (pip install -e .)")
    return modules


@pytest.fixture(params=["c", "py"])
def parsing(request):
    """The compiled and the pure pyre.web.parsing, in turn."""
    return twins("parsing")[request.param]


@pytest.fixture(params=["c", "py"])
def request_module(request):
    """The compiled and the pure pyre.web.request, in turn."""
    return twins("request")[request.param]


@pytest.fixture
def websocket_module():
    """``pyre.web.websocket`` (the app imports it only for websocket routes)."""
    import importlib

    return importlib.import_module("pyre.web.websocket")
