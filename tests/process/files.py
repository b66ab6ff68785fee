"""Files for the reload tests."""

from __future__ import annotations

import os
from pathlib import Path


def touch(path: Path, text: str = "x = 1\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def rel(tmp_path: Path, accepted) -> set:
    return {os.path.relpath(p, tmp_path) for p in accepted}
