"""Layering rules: protocol/ and asgi/ are free of asyncio transports; twins match."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pyre._accel import load_twins

PKG = Path(__file__).resolve().parents[2] / "pyre"


def imports_of(path: Path) -> set:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((PKG / "protocol").rglob("*.py")), ids=lambda p: p.name)
def test_protocol_is_sans_io(path):
    for name in imports_of(path):
        assert name.split(".")[0] != "asyncio", f"{path} imports asyncio"
        assert not name.startswith(("pyre.asgi", "pyre.transport", "pyre.server")), f"{path} imports {name}"


@pytest.mark.parametrize("path", sorted((PKG / "asgi").rglob("*.py")), ids=lambda p: p.name)
def test_asgi_knows_no_byte_formats_or_transports(path):
    for name in imports_of(path):
        assert not name.startswith(("pyre.protocol", "pyre.transport", "pyre._speedups", "pyre._pure")), f"{path} imports {name}"


def test_only_accel_chooses_twins():
    for path in PKG.rglob("*.py"):
        if path.name == "_accel.py" or "_pure" in path.parts:
            continue
        for name in imports_of(path):
            assert not name.startswith(
                ("pyre._speedups", "pyre._pure", "pyre.web._router_c", "pyre.web._parsing_c", "pyre.web._request_c")
            ), f"{path} imports {name} directly"


def public(obj) -> set:
    return {n for n in dir(obj) if not n.startswith("_")}


@pytest.mark.parametrize(
    "module, classes",
    [
        ("h1parser", ["RequestParser"]),
        ("h1conn", ["H1Protocol"]),
        ("h2session", ["H2Session"]),
        ("router", ["Router"]),
        ("parsing", ["Headers"]),
        ("request", ["HTTPConnection", "Request"]),
    ],
)
def test_twins_have_the_same_public_interface(module, classes):
    twins = load_twins(module)
    assert twins["c"] is not None, f"the compiled {module} is not built"
    assert twins["c"].__all__ == twins["py"].__all__
    for name in twins["py"].__all__:
        assert callable(getattr(twins["c"], name)) and callable(getattr(twins["py"], name))
    for cls_name in classes:
        assert public(getattr(twins["c"], cls_name)) == public(getattr(twins["py"], cls_name))


def test_compiled_connection_is_an_asyncio_protocol_with_the_pure_cycle_interface():
    import asyncio

    from pyre.asgi.http import HTTPCycle

    compiled = load_twins("h1conn")["c"]
    assert compiled is not None, "the compiled h1conn is not built"
    assert issubclass(compiled.H1Protocol, asyncio.Protocol)
    assert public(compiled.HTTPCycle) == public(HTTPCycle)
    # The exceptions an application sees are the pure modules' own classes.
    from pyre.asgi import http
    from pyre.protocol.h1 import writer

    assert compiled.ClientDisconnected is http.ClientDisconnected
    assert compiled.InvalidResponse is writer.InvalidResponse
