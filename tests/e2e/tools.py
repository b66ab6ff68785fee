"""External client tools for end-to-end tests (curl, nghttp, h2load, h2spec).

A test that needs one calls :func:`require_tool`: it is skipped when the tool is not
installed, unless the environment sets ``REQUIRE_TEST_TOOLS`` (CI does, in
``.ci/run``), where a missing tool is a failure."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from typing import Tuple

import pytest

__all__ = ["require_tool", "run_tool"]


def require_tool(name: str) -> str:
    """The path of the executable ``name`` (skip, or fail with REQUIRE_TEST_TOOLS=1, when absent)."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("REQUIRE_TEST_TOOLS"):
            pytest.fail(f"{name} is not installed, and REQUIRE_TEST_TOOLS is set")
        pytest.skip(f"{name} is not installed")
    return path


async def run_tool(*argv: str, timeout: float = 60) -> Tuple[int, bytes, bytes]:
    """Run a client tool to completion (killed past ``timeout``): (return code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(f"{argv[0]} did not finish within {timeout} s; stderr:\n{err.decode(errors='replace')[-3000:]}")
    assert proc.returncode is not None
    return proc.returncode, out, err
