"""docs/web/reference.md stays true: every public name of pyre.web, pyre.web.websocket and
pyre.web.testing has an entry (a ``#### `Name(...)``` heading under its module's section),
and every signature it writes (the entries' and their members' bullets) has the code's
parameters: names, kinds and literal defaults."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path
from typing import Any, List, Optional, Tuple

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "web" / "reference.md"
MODULES = ("pyre.web", "pyre.web.websocket", "pyre.web.testing")
ENTRY = re.compile(r"^#### `([\w.]+)(\(.*\))?`$")
MODULE = re.compile(r"^## `([\w.]+)`$")
CALL = re.compile(r"`(\w+)(\([^`]*\))`")


class Entry:
    def __init__(self, module: Optional[str], name: str, params: Optional[str]) -> None:
        self.module = module
        self.name = name
        self.params = params
        self.members: List[Tuple[str, str]] = []  # (name, "(params)") from its bullets

    def resolve(self) -> Any:
        if self.module is None:  # "pyre.web.multipart.FormLimits"
            module, _, name = self.name.rpartition(".")
            return getattr(importlib.import_module(module), name)
        return getattr(importlib.import_module(self.module), self.name)


def entries() -> List[Entry]:
    found: List[Entry] = []
    module: Optional[str] = None
    for line in PAGE.read_text().splitlines():
        if line.startswith("## "):
            match = MODULE.match(line)
            module = match.group(1) if match else None
        elif line.startswith("#### "):
            match = ENTRY.match(line)
            assert match, f"reference.md: an entry heading is #### `Name(params)`, got {line!r}"
            found.append(Entry(module, match.group(1), match.group(2)))
        elif line.startswith("- `") and found:
            head = line[: line.find("`: ") + 1] if "`: " in line else line
            for name, params in CALL.findall(head):
                found[-1].members.append((name, params))
    return found


ENTRIES = entries()


def documented_names(module: str) -> List[str]:
    return [entry.name for entry in ENTRIES if entry.module == module]


@pytest.mark.parametrize("module", MODULES)
def test_every_public_name_has_an_entry(module):
    names = documented_names(module)
    public = importlib.import_module(module).__all__
    assert sorted(set(public) - set(names)) == [], f"public names of {module} missing from docs/web/reference.md"
    assert sorted(set(names) - set(public)) == [], f"docs/web/reference.md documents names {module} does not export"
    assert len(names) == len(set(names)), "an entry is written twice"


def _documented(params: str) -> Optional[List[Tuple[str, str, Any]]]:
    """``(name, kind, default)`` of a documented parameter list; None when it is not one
    (``post(...)``: see the line above)."""
    try:
        node = ast.parse(f"def f{params}: pass").body[0]
    except SyntaxError:
        return None
    assert isinstance(node, ast.FunctionDef)
    args = node.args
    result: List[Tuple[str, str, Any]] = []
    positional = [(a, "POSITIONAL_ONLY") for a in args.posonlyargs] + [(a, "POSITIONAL_OR_KEYWORD") for a in args.args]
    defaults: List[Any] = [inspect.Parameter.empty] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for (arg, kind), default in zip(positional, defaults):
        result.append((arg.arg, kind, default))
    if args.vararg:
        result.append((args.vararg.arg, "VAR_POSITIONAL", inspect.Parameter.empty))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        result.append((arg.arg, "KEYWORD_ONLY", inspect.Parameter.empty if default is None else default))
    if args.kwarg:
        result.append((args.kwarg.arg, "VAR_KEYWORD", inspect.Parameter.empty))
    return result


def _check(where: str, params: str, target: Any) -> None:
    documented = _documented(params)
    if documented is None:
        return
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # a compiled callable without a signature: names only
        return
    real = list(signature.parameters.values())
    if real and real[0].name == "self" and (not documented or documented[0][0] != "self"):
        real = real[1:]
    assert [(name, kind) for name, kind, _ in documented] == [(p.name, p.kind.name) for p in real], \
        f"docs/web/reference.md: {where}{params} does not match the code's {signature}"
    for (name, _, default), parameter in zip(documented, real):
        if default is inspect.Parameter.empty:
            assert parameter.default is inspect.Parameter.empty, f"{where}: {name} has a default in the code"
            continue
        assert parameter.default is not inspect.Parameter.empty, f"{where}: {name} has no default in the code"
        try:
            value = ast.literal_eval(default)
        except ValueError:  # a name (asyncio.new_event_loop): compare the text
            assert ast.unparse(default).endswith(getattr(parameter.default, "__name__", "?")), where
            continue
        assert value == parameter.default, f"{where}: {name}={value!r} but the code says {parameter.default!r}"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.name)
def test_signatures_match_the_code(entry):
    target = entry.resolve()
    if entry.params is not None:
        _check(entry.name, entry.params, target)
    for name, params in entry.members:
        assert hasattr(target, name), f"docs/web/reference.md: {entry.name} has no member {name!r}"
        member = getattr(target, name)
        if callable(member):
            _check(f"{entry.name}.{name}", params, member)
