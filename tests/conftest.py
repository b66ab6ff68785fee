"""Shared fixtures: both parser twins, free ports, and an embedded server."""

from __future__ import annotations

import asyncio

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


def pytest_asyncio_loop_factories(config, item):
    """Every async test runs on the stdlib event loop and on uvloop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is part of the test install
        raise pytest.UsageError("uvloop is not installed; install the uvloop extra so both loops are tested")
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
