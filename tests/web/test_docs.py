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
    assert {"app.md", "routing.md", "resources-and-controllers.md", "events.md", "errors.md", "middleware.md",
            "websocket.md", "testing.md", "tutorial.md", "reference.md", "from-fastapi.md", "from-starlette.md",
            "from-falcon.md", "index.md", "requests.md", "responses.md"} <= names
    assert {"validation.md", "dependencies.md", "openapi.md"} <= names  # issue 16


def test_the_index_links_every_page_and_the_readme_links_the_index():
    index = (DOCS / "index.md").read_text()
    missing = [page.name for page in PAGES if page.name != "index.md" and f"({page.name})" not in index]
    assert missing == [], f"docs/web/index.md does not link {missing}"
    assert "(docs/web/index.md)" in (DOCS.parents[1] / "README.md").read_text()


def test_the_links_between_the_pages_resolve():
    """Every relative link of a docs/web page names a file that exists."""
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links {target}, which does not exist"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_the_snippets_of_a_page_run(page):
    blocks = BLOCK.findall(page.read_text())
    assert blocks, f"{page.name} has no ```python test snippet"
    script = "".join(f"# -- {page.name}, snippet {number}\n{code}\n" for number, code in enumerate(blocks, 1))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"{page.name}: its snippets failed\n{out.stderr[-4000:]}"
