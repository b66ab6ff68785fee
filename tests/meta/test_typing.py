"""pyre.web's public API is typed: ``mypy --strict`` finds nothing in pyre/web (other
packages are followed silently: their own typing is not this test's subject)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pyre_web_passes_mypy_strict():
    command = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-incremental", "-p", "pyre.web"]
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0 and out.stdout.startswith("Success"), out.stdout[-4000:] + out.stderr[-2000:]
