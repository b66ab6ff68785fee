"""Shared fixtures: both parser twins, free ports, and an embedded server."""

from __future__ import annotations

import asyncio
import sys

import pytest

from pyre._accel import load_twins

PARSER_TWINS = load_twins("h1parser")


@pytest.fixture(params=["c", "py"])
def parser_mod(request):
    """The compiled and the pure-Python parser modules, in turn."""
    module = PARSER_TWINS[request.param]
    if module is None:
        pytest.fail(
            "the Cython parser is not built; install with a C compiler "
            "(pip install -e .) so both twins are tested"
        )
    return module


@pytest.fixture
def parser_cls(parser_mod):
    return parser_mod.RequestParser


def pytest_addoption(parser):
    parser.addoption(
        "--web-path", choices=("native", "asgi"), default="native",
        help="how Pyre (and the in-process test client) serves pyre.web apps in tests/web: on the "
             "native path (the default), or through ASGI for every App, as App(native=False) does",
    )


# uvloop exists for CPython on Linux and macOS only (the uvloop extra installs nothing elsewhere).
UVLOOP_PLATFORM = sys.platform != "win32" and sys.implementation.name == "cpython"


def pytest_asyncio_loop_factories(config, item):
    """Every async test runs on the stdlib event loop and, where uvloop exists, on uvloop."""
    if not UVLOOP_PLATFORM:  # pragma: no cover - Windows CI
        return {"asyncio": asyncio.new_event_loop}
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is part of the test install
        raise pytest.UsageError("uvloop is not installed; install the uvloop extra so both loops are tested")
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


# Tests that need POSIX (signals sent between processes, Unix sockets, gunicorn, bash):
# every test driving the real CLI through start_cli (it stops servers with SIGINT),
# these modules, and these tests. On Windows they are skipped (the platform table in
# docs/deployment.md says what runs where); tests/launch/test_platform.py simulates Windows here.
POSIX_MODULES = ["e2e/test_cli.py", "e2e/test_dropin.py", "e2e/test_gunicorn.py", "e2e/test_reload.py",
                 "e2e/test_workers.py", "process/test_wakeup.py"]
POSIX_TESTS = {"test_pyre_run_helper"}
# Not even collected on Windows (gunicorn, for one, cannot be imported there).
collect_ignore = POSIX_MODULES if sys.platform == "win32" else []


def pytest_collection_modifyitems(config, items):
    if sys.platform != "win32":
        return
    skip = pytest.mark.skip(reason="POSIX only: signals between processes, Unix sockets or gunicorn")
    for item in items:  # pragma: no cover - Windows CI
        if ("start_cli" in getattr(item, "fixturenames", ()) or getattr(item, "originalname", "") in POSIX_TESTS
                or item.get_closest_marker("posix")):
            item.add_marker(skip)
