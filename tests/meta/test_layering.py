"""Layering rules: protocol/ and asgi/ are free of asyncio transports; imports run one
way (no circles anywhere in pyre); the process layer never reaches the server; twins
match, and a compiled twin uses no private name of another module."""

from __future__ import annotations

import ast
import re
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
                ("pyre._speedups", "pyre._pure", "pyre.web._router_c", "pyre.web._parsing_c", "pyre.web._request_c",
                 "pyre.protocol.h2._session_c", "pyre.asgi._http_c", "pyre.transport._h2_c", "pyre.transport._h1_c",
                 "pyre.protocol.h1._writer_c")
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
        ("h2conn", ["H2Protocol", "H2Stream", "ALPNSelector"]),
        ("escaping", ["HTMLEscaper"]),
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


def test_both_connection_twins_share_what_is_not_hot():
    """Only the per-request path is written twice: what ``H1Common`` defines (errors,
    timeouts, shutdown, upgrades, pathsend, back-pressure) neither twin writes again."""
    from pyre.transport.h1_common import H1Common

    shared = {name for name, value in vars(H1Common).items() if callable(value)}
    assert {"send_file", "on_timeout", "shutdown", "_switch_to_ws", "_fail", "drain"} <= shared
    twins = load_twins("h1conn")
    assert twins["c"] is not None, "the compiled h1conn is not built"
    for mode, twin in twins.items():
        cls = twin.H1Protocol
        assert issubclass(cls, H1Common), mode
        for name in shared:
            assert getattr(cls, name) is vars(H1Common)[name], f"the {mode} twin writes {name} again"


def test_compiled_connection_is_an_asyncio_buffered_protocol_on_the_chosen_cycle():
    import asyncio

    from pyre import _accel
    from pyre.transport.h1 import H1Protocol

    compiled = load_twins("h1conn")["c"]
    assert compiled is not None, "the compiled h1conn is not built"
    # As the pure twin: the loop reads into the parser's lent buffers (see recvpool).
    assert issubclass(compiled.H1Protocol, asyncio.BufferedProtocol)
    assert issubclass(H1Protocol, asyncio.BufferedProtocol)
    # One ASGI cycle for every connection: the one _accel chose.
    assert compiled.HTTPCycle is _accel.HTTPCycle and compiled.run_asgi is _accel.run_asgi
    assert compiled.__file__.endswith(".so") and not H1Protocol.__module__.endswith("_c")


# -- compiled twins use the public names of other modules only ------------------------------------
#
# A compiled twin that reads another module's private names (``from m import _x``,
# ``m._x``) depends on details that module may change at any time, and a change there
# breaks only the compiled mode. What a twin shares with other modules is public, or
# C declarations it cimports (not checked here: that is how .pxd files share).

ROOT = PKG.parent

def compiled_sources() -> list:
    """Every source Cython compiles: the .pyx files of pyre/_speedups and the pure-mode
    modules of setup.py's PURE_MODE (a .py compiled as it is, typed by its .pxd)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    pure_mode = next(ast.literal_eval(node.value) for node in tree.body
                     if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PURE_MODE" for t in node.targets))
    return sorted(PKG.glob("_speedups/*.pyx")) + sorted(ROOT / source for source in pure_mode.values())


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _absolute(module: str, level: int, package: str) -> str:
    if not level:
        return module
    anchor = package.split(".")[: len(package.split(".")) - level + 1]
    return ".".join(anchor + ([module] if module else []))


_BLANKED = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|#[^\n]*')
_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+(?P<module>[.\w]+)[ \t]+import[ \t]+(?P<names>\([^)]*\)|[^\n]*)"
                     r"|import[ \t]+(?P<plain>[^\n]*))", re.M)


def _cython_imports_and_attributes(text: str) -> tuple:
    """A Cython source's ``(module, name or None, alias)`` imports (``cimport`` lines are
    not matched) and its ``(name, attribute)`` uses, strings and comments left out."""
    code = _BLANKED.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)
    imports = []
    for match in _IMPORT.finditer(code):
        if match.group("plain") is not None:
            for part in match.group("plain").split(","):
                words = part.split()
                if words:
                    imports.append((words[0], None, words[-1] if "as" in words else words[0].split(".")[0]))
        else:
            for part in match.group("names").strip("()").split(","):
                words = part.split()
                if words:
                    imports.append((match.group("module"), words[0], words[-1]))
    return imports, re.findall(r"\b([A-Za-z_]\w*)\.(_\w+)", code)


def _python_imports_and_attributes(text: str) -> tuple:
    imports, attributes = [], []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            imports += [(module, alias.name, alias.asname or alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            imports += [(alias.name, None, alias.asname or alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            attributes.append((node.value.id, node.attr))
    return imports, attributes


def _is_module(name: str) -> bool:
    return name in MODULES or (ROOT / Path(*name.split("."))).with_suffix(".pyx").exists()


def private_uses(text: str, this: str, cython: bool) -> list:
    """What module ``this`` (its source ``text``) uses of other modules' private names:
    ``from m import _x``, and ``alias._x`` where ``alias`` names an imported module. A
    private module of its own package (``from . import _json`` in pyre.web) is the
    package's own business."""
    package = this.rpartition(".")[0]
    found = _cython_imports_and_attributes(text) if cython else _python_imports_and_attributes(text)
    imports, attributes = found
    uses, modules = set(), {}
    for module, name, alias in imports:
        level = len(module) - len(module.lstrip("."))
        module = _absolute(module.lstrip("."), level, package)
        if name is None:
            modules[alias] = module
            continue
        target = f"{module}.{name}"
        if _is_module(target):
            modules[alias] = target  # its attributes are checked below
            if _private(name) and module != package:
                uses.add(f"from {module} import {name}")
        elif _private(name):
            uses.add(f"from {module} import {name}")
    for alias, attribute in attributes:
        if alias in modules and _private(attribute):
            uses.add(f"{modules[alias]}.{attribute}")
    return sorted(uses)


def private_uses_of(path: Path) -> list:
    return private_uses(path.read_text(), module_name(path.with_suffix(".py")), path.suffix == ".pyx")


def test_the_private_name_finder_sees_both_kinds_of_source():
    code = """
\'\'\'from pyre.a import _docstring_only\'\'\'
from cpython.bytes cimport PyBytes_AS_STRING
from pyre.protocol.h1 import writer as _writer
from pyre.transport.context import (
    SendWatch,
    _take_server_line,
)
import pyre.asgi.http as http_mod
from pyre.transport import context
from pyre.web import _json
x = _writer._LINE_CACHE  # _writer._in_a_comment
y = http_mod._START + len("_writer._in_a_string") + context._INFO
z = _writer.encode_head + SendWatch.__name__ + _json.dumps
"""
    expected = ["from pyre.transport.context import _take_server_line", "from pyre.web import _json",
                "pyre.asgi.http._START", "pyre.protocol.h1.writer._LINE_CACHE", "pyre.transport.context._INFO"]
    python = code.replace("from cpython.bytes cimport PyBytes_AS_STRING\n", "")
    assert private_uses(code, "pyre.transport.twin", cython=True) == expected
    assert private_uses(python, "pyre.transport.twin", cython=False) == expected
    # A private module of the twin's own package is the package's business.
    expected.remove("from pyre.web import _json")
    assert private_uses(code, "pyre.web.twin", cython=True) == expected


def test_every_compiled_source_is_checked():
    sources = {str(path.relative_to(ROOT)) for path in compiled_sources()}
    assert {"pyre/_speedups/h1parser.pyx", "pyre/_speedups/hpack.pyx", "pyre/transport/h1.py",
            "pyre/protocol/h1/writer.py", "pyre/web/router.py"} <= sources


@pytest.mark.parametrize("path", compiled_sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_compiled_twins_use_no_private_name_of_another_module(path):
    assert private_uses_of(path) == []
