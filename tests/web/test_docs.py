"""The guides in docs/web/ stay true: every ```python test block of a page runs, in order,
in one namespace per page."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "web"
BLOCK = re.compile(r"^```python test\n(.*?)^```", re.MULTILINE | re.DOTALL)
PAGES = sorted(DOCS.glob("*.md"))


def test_the_guides_exist():
    names = {page.name for page in PAGES}
    assert {"app.md", "routing.md", "resources-and-controllers.md", "events.md", "errors.md", "middleware.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_the_snippets_of_a_page_run(page, monkeypatch):
    blocks = BLOCK.findall(page.read_text())
    assert blocks, f"{page.name} has no ```python test snippet"
    # A real module, as a reader's file would be (dataclasses look their module up).
    module = types.ModuleType(f"docs_web_{page.stem.replace('-', '_')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for number, code in enumerate(blocks, 1):
        try:
            exec(compile(code, f"{page.name} (snippet {number})", "exec"), module.__dict__)
        except Exception as exc:
            raise AssertionError(f"{page.name}, snippet {number} failed: {exc!r}\n{code}") from exc
