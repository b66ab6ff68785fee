"""Both twins of the compiled units of pyre.web: ``parsing``, ``request`` and ``escaping``."""

from __future__ import annotations

import functools

import pytest

from pyre._accel import load_twins

WEB_TWINS = {name: load_twins(name) for name in ("parsing", "request", "escaping")}


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


@pytest.fixture(params=["c", "py"])
def escaping(request):
    """The compiled and the pure pyre.web.escaping, in turn."""
    return twins("escaping")[request.param]


@pytest.fixture
def websocket_module():
    """``pyre.web.websocket`` (the app imports it only for websocket routes)."""
    import importlib

    return importlib.import_module("pyre.web.websocket")


@pytest.fixture(autouse=True)
def web_path(request, monkeypatch):
    """Issue 15: the framework's suite passes on both paths. ``--web-path=asgi`` makes every
    App take the ASGI path under Pyre and the test client (``App(native=False)``); the
    default leaves each App as it asks (the native path unless it says otherwise)."""
    path = request.config.getoption("--web-path")
    if path == "asgi":
        from pyre.web.app import App

        init = App.__init__

        @functools.wraps(init)  # the signature stays App's (tests/web/test_reference.py)
        def asgi_init(self, *args, **kwargs):
            init(self, *args, **kwargs)
            self.native = False

        monkeypatch.setattr(App, "__init__", asgi_init)
    return path


@pytest.fixture(autouse=True)
def every_app_has_a_valid_openapi_document(monkeypatch):
    """Issue 16: the OpenAPI document of every app a test starts is valid OpenAPI 3.1
    (openapi-spec-validator), whatever its routes."""
    from openapi_spec_validator import validate

    from pyre.web.app import App
    from pyre.web.openapi import OpenAPI

    started = []
    freeze = App.freeze

    def recording_freeze(self):
        if self._table is None:
            started.append(self)
        freeze(self)

    monkeypatch.setattr(App, "freeze", recording_freeze)
    yield
    for app in started:
        if app._table is not None:
            validate(OpenAPI(title="test app", version="1").document(app))
