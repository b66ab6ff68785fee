"""Layering rules: protocol/ and asgi/ are free of asyncio transports; imports run one
way (no circles anywhere in pyre); the process layer never reaches the server; twins
match."""

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


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PKG.rglob("*.py")}


def pyre_imports(path: Path) -> set:
    """The pyre modules ``path`` imports, at module level or inside functions (a lazy
    import is a dependency all the same); ``from pyre import x`` counts as ``pyre.x``
    when that is a module. A package's ``__init__`` run on the way is not counted, nor
    are imports under ``if TYPE_CHECKING:``, which never run (annotations only)."""
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found = set()

    def add(name: str) -> None:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name and name != this:
            found.add(name)

    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            node.body = []  # ast.walk has not entered it yet
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return found


GRAPH = {name: pyre_imports(path) for name, path in MODULES.items()}


def cycles(graph: dict) -> list:
    """The strongly connected components with more than one module (Tarjan's algorithm,
    iterative), each sorted: every import circle lies inside one."""
    index: dict = {}
    low: dict = {}
    stack: list = []
    on_stack: set = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_sees_every_kind_of_import():
    assert "pyre.process.spawn" in GRAPH["pyre.process.supervisor"]  # from pyre.process.spawn import ...
    assert "pyre._accel" in GRAPH["pyre.server"]  # from pyre import _accel
    assert "pyre.process.supervisor" in GRAPH["pyre.launch"]  # inside a function


def test_no_import_circles_in_pyre():
    assert cycles(GRAPH) == []


def reachable(start: str) -> set:
    seen, todo = set(), [start]
    while todo:
        for name in GRAPH[todo.pop()]:
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


@pytest.mark.parametrize("module", sorted(name for name in MODULES if name.startswith("pyre.process")))
def test_the_process_layer_never_imports_the_server(module):
    """The supervisor and the reloader receive a target to run (pyre.launch wires it);
    nothing they import, directly or not, is the server or the composition root."""
    assert not reachable(module) & {"pyre.server", "pyre.launch"}, sorted(reachable(module))


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
