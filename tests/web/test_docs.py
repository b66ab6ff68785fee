"""The guides in docs/web/ stay true: every ```python test block of a page runs, in order,
as one script per page in a fresh interpreter (so a snippet may call asyncio.run, start
a server or define dataclasses, as a reader's file would). A block fenced ```python
(without "test") is an excerpt, not run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "web"
BLOCK = re.compile(r"^```python test\n(.*?)^```", re.MULTILINE | re.DOTALL)
PAGES = sorted(DOCS.glob("*.md"))


def test_the_guides_exist():
    names = {page.name for page in PAGES}
    assert {"app.md", "routing.md", "resources-and-controllers.md", "events.md", "errors.md", "middleware.md"} <= names
    assert {"validation.md", "dependencies.md", "openapi.md"} <= names  # issue 16


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_the_snippets_of_a_page_run(page):
    blocks = BLOCK.findall(page.read_text())
    assert blocks, f"{page.name} has no ```python test snippet"
    script = "".join(f"# -- {page.name}, snippet {number}\n{code}\n" for number, code in enumerate(blocks, 1))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"{page.name}: its snippets failed\n{out.stderr[-4000:]}"
