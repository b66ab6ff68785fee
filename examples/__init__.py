"""Pyre Board, the example app of ``pyre.web``: see examples/README.md.

Not part of the installed distribution (``pyproject.toml`` packages only ``pyre*``): run it
from the repository's root, ``pyre examples.app:app``.
"""
