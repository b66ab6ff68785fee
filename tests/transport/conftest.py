"""Fixtures shared by the connection tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import h1conn_twin


@pytest.fixture(params=["c", "py"])
def twin(request: Any) -> Any:
    """Each twin of the HTTP/1.1 connection in turn (its module)."""
    return h1conn_twin(request.param)
