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
            assert not name.startswith(("pyre._speedups", "pyre._pure")), f"{path} imports {name} directly"


def test_twins_have_the_same_public_interface():
    twins = load_twins("h1parser")
    assert twins["c"] is not None, "the compiled parser is not built"
    for cls_name in ("RequestParser",):
        compiled = getattr(twins["c"], cls_name)
        pure = getattr(twins["py"], cls_name)
        public_c = {n for n in dir(compiled) if not n.startswith("_")}
        public_py = {n for n in dir(pure) if not n.startswith("_")}
        assert public_c == public_py
