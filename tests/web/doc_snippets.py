"""The runnable examples of a docs/web page: its ```python blocks (a block fenced
```python fragment is an excerpt, not run)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import List

DOCS = Path(__file__).resolve().parents[2] / "docs" / "web"
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)


def python_blocks(page: str) -> List[str]:
    return _BLOCK.findall((DOCS / page).read_text())


def run_snippet(code: str) -> subprocess.CompletedProcess:
    """Runs ``code`` in a fresh interpreter (so it may call asyncio.run and start loops)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
