"""Build script: compiles the Cython speed-ups in pyre/_speedups/.

Every compiled module has a pure-Python twin in pyre/_pure/, so the build may skip
them: set PYRE_NO_EXTENSIONS=1, use a non-CPython interpreter, or lack a C compiler.
The build says loudly which kind it produced.
"""

import os
import platform
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent
SPEEDUPS = HERE / "pyre" / "_speedups"


def _want_extensions() -> bool:
    if os.environ.get("PYRE_NO_EXTENSIONS", "") not in ("", "0"):
        return False
    return platform.python_implementation() == "CPython"


class OptionalBuildExt(build_ext):
    """Builds the extensions, but falls back to the pure-Python twins on failure."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any toolchain failure means "pure build"
            self._fallback(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._fallback(exc)

    @staticmethod
    def _fallback(exc: Exception) -> None:
        print(
            f"*** pyre: could not compile the Cython speed-ups ({exc}); "
            "installing the PURE-PYTHON build (slower). ***",
            file=sys.stderr,
        )


def _extensions() -> list:
    if not _want_extensions():
        print("*** pyre: PURE-PYTHON build (PYRE_NO_EXTENSIONS set or not CPython) ***", file=sys.stderr)
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("*** pyre: Cython not available; PURE-PYTHON build ***", file=sys.stderr)
        return []
    sources = sorted(SPEEDUPS.glob("*.pyx"))
    extensions = [
        Extension(f"pyre._speedups.{src.stem}", [str(src.relative_to(HERE))], optional=True)
        for src in sources
    ]
    directives = {
        "language_level": "3",
        "boundscheck": False,
        "wraparound": False,
        "cdivision": True,
        "initializedcheck": False,
    }
    annotate = os.environ.get("PYRE_CYTHON_ANNOTATE", "") not in ("", "0")
    print(f"*** pyre: ACCELERATED build ({len(extensions)} Cython modules) ***", file=sys.stderr)
    return cythonize(extensions, compiler_directives=directives, annotate=annotate, quiet=True)


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
