"""The active parser follows PYRE_NO_EXTENSIONS, and the suite really runs both modes."""

from __future__ import annotations

import os
import subprocess
import sys

from pyre import _accel
from pyre.transport import h1


def test_mode_follows_the_environment():
    if os.environ.get("PYRE_NO_EXTENSIONS", "") not in ("", "0"):
        assert not _accel.ACCELERATED and _accel.MODE == "pure Python"
        assert h1.RequestParser.__module__ == "pyre._pure.h1parser"
    else:
        # A build that silently fell back to pure Python must not pass as accelerated.
        assert _accel.ACCELERATED, "the Cython parser is not built (pip install -e . needs a C compiler)"
        assert h1.RequestParser.__module__ == "pyre._speedups.h1parser"


def test_environment_switch_in_a_fresh_interpreter():
    code = "from pyre import _accel; print(_accel.ACCELERATED)"
    env = dict(os.environ, PYRE_NO_EXTENSIONS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    env["PYRE_NO_EXTENSIONS"] = "0"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
