"""Chooses, once, between the Cython speed-ups and their pure-Python twins.

This is the only module that imports from ``pyre._speedups`` or ``pyre._pure``.
``PYRE_NO_EXTENSIONS=1`` forces the twins; so does a missing or broken extension.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Dict, Optional

__all__ = ["ACCELERATED", "MODE", "NO_EXTENSIONS", "RequestParser", "load_twins"]

NO_EXTENSIONS = os.environ.get("PYRE_NO_EXTENSIONS", "") not in ("", "0")


def load_twins(name: str) -> Dict[str, Optional[ModuleType]]:
    """Both twins of a speed-up module: ``{"c": module or None, "py": module}``."""
    import importlib

    compiled: Optional[ModuleType]
    try:
        compiled = importlib.import_module(f"pyre._speedups.{name}")
    except ImportError:
        compiled = None
    return {"c": compiled, "py": importlib.import_module(f"pyre._pure.{name}")}


def _choose() -> ModuleType:
    if not NO_EXTENSIONS:
        try:
            from pyre._speedups import h1parser as compiled

            return compiled
        except ImportError:
            pass
    from pyre._pure import h1parser as pure

    return pure


_h1parser = _choose()
ACCELERATED: bool = _h1parser.__name__.startswith("pyre._speedups")
MODE: str = "accelerated (Cython)" if ACCELERATED else "pure Python"
RequestParser = _h1parser.RequestParser
