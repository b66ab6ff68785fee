"""Every HTTP/2 session test runs on both twins of ``H2Session``.

The tests build sessions through the name ``H2Session`` (in ``helpers.py`` and in the
test modules, at module level or imported inside a test from ``pyre.protocol.h2``).
The autouse fixture ``h2session_twin`` rebinds that name, for the duration of one
test, to the compiled twin (``pyre.protocol.h2._session_c``, built from
``pyre/protocol/h2/session.py``) or to the pure one (that module itself), so each test
is collected twice, ``[c]`` and ``[py]``. The tests themselves are unchanged, but for
one white-box assertion on the pure twin's ``_decoder`` (test_limits.py), made only
where the session has one.

``test_hpack_twins.py`` tests the HPACK twins inside the pure session (it looks at
the session's HPACK coders) and is not parametrized.
"""

from __future__ import annotations

import pytest

import pyre.protocol.h2
from pyre._accel import load_twins

from . import helpers

H2SESSION_TWINS = load_twins("h2session")
TWIN_NAMES = ["c", "py"]
# Modules whose tests stay on the pure session (basenames).
PURE_ONLY = {"test_hpack_twins.py", "test_closed_streams.py"}


def pytest_generate_tests(metafunc):
    if "h2session_twin" in metafunc.fixturenames and metafunc.definition.path.name not in PURE_ONLY:
        metafunc.parametrize("h2session_twin", TWIN_NAMES, indirect=True)


@pytest.fixture(autouse=True)
def h2session_twin(request, monkeypatch):
    """``"c"`` or ``"py"``: which ``H2Session`` this test runs on (``None`` when not parametrized)."""
    name = getattr(request, "param", None)
    if name is None:
        return None
    module = H2SESSION_TWINS[name]
    if module is None:
        pytest.fail(
            "the Cython HTTP/2 session (pyre.protocol.h2._session_c) is not built; install with a "
            "C compiler (pip install -e .) so both twins are tested"
        )
    cls = module.H2Session
    for target in (helpers, request.module, pyre.protocol.h2):
        if hasattr(target, "H2Session"):
            monkeypatch.setattr(target, "H2Session", cls)
    return name
