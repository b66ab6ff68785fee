"""Build script: compiles the Cython speed-ups.

Two kinds: the ``.pyx`` modules in pyre/_speedups/ (twins in pyre/_pure/), and the
pure-mode modules of ``PURE_MODE``: a plain ``.py`` module compiled as it is, typed by an
augmenting ``.pxd`` named after the extension, its own source being the pure twin.
Every compiled module has a pure-Python twin, so the build may skip them: set
PYRE_NO_EXTENSIONS=1, use a non-CPython interpreter, or lack a C compiler.
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

# Pure-mode modules: extension name -> the .py it is compiled from. The typing goes in
# the .pxd named after the extension (pyre/web/_router_c.pxd); pyre/_accel.py chooses.
PURE_MODE = {
    "pyre.web._router_c": "pyre/web/router.py",
    "pyre.web._parsing_c": "pyre/web/parsing.py",
    "pyre.web._request_c": "pyre/web/request.py",
    "pyre.web._escaping_c": "pyre/web/escaping.py",
    "pyre.protocol.h2._session_c": "pyre/protocol/h2/session.py",
    "pyre.protocol.ws._frames_c": "pyre/protocol/ws/frames.py",
    "pyre.asgi._http_c": "pyre/asgi/http.py",
    "pyre.transport._h2_c": "pyre/transport/h2.py",
    "pyre.asgi._websocket_c": "pyre/asgi/websocket.py",
    "pyre.transport._ws_c": "pyre/transport/ws.py",
    "pyre.protocol.ws._session_c": "pyre/protocol/ws/session.py",
    "pyre.protocol.h1._framing_c": "pyre/protocol/h1/framing.py",
    "pyre.protocol.h1._writer_c": "pyre/protocol/h1/writer.py",
    "pyre.asgi._native_c": "pyre/asgi/native.py",
    "pyre.transport._h1_c": "pyre/transport/h1.py",
}


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


def _pxd_of(module: str) -> Path:
    """The .pxd that types ``module`` (a pure-mode extension's, or a .pyx's own)."""
    return HERE.joinpath(*module.split(".")).with_suffix(".pxd")


def _stale(name: str, source: str) -> bool:
    """Whether the C file of the pure-mode extension ``name`` is older than a .pxd it
    depends on: its own, or one its .pxd cimports (transitively). cythonize tracks only
    the .py, so a changed .pxd would otherwise leave a stale build (a struct layout
    from the old declarations)."""
    c_file = Path(source).with_suffix(".c")
    if not c_file.exists():
        return False  # cythonize makes it anyway
    built, seen, todo = c_file.stat().st_mtime, set(), [_pxd_of(name)]
    while todo:
        pxd = todo.pop()
        if pxd in seen or not pxd.exists():
            continue
        seen.add(pxd)
        if pxd.stat().st_mtime > built:
            return True
        for line in pxd.read_text().splitlines():
            words = line.split()
            if len(words) >= 4 and words[0] == "from" and words[2] == "cimport" and words[1].startswith("pyre."):
                todo.append(_pxd_of(words[1]))
    return False


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
    # A pure-mode source is plain Python and must keep Python's semantics when compiled
    # (negative indexes, bounds checks, floor division); only its .pxd types it, not
    # its annotations (which are for mypy).
    pure_mode_directives = {"language_level": "3", "annotation_typing": False}
    pure_mode = [Extension(name, [source], optional=True) for name, source in PURE_MODE.items()]
    for ext in pure_mode:
        if _stale(ext.name, ext.sources[0]):
            Path(ext.sources[0]).with_suffix(".c").unlink(missing_ok=True)  # regenerated below
    annotate = os.environ.get("PYRE_CYTHON_ANNOTATE", "") not in ("", "0")
    print(f"*** pyre: ACCELERATED build ({len(extensions) + len(pure_mode)} Cython modules) ***", file=sys.stderr)
    return cythonize(extensions, compiler_directives=directives, annotate=annotate, quiet=True) + cythonize(
        pure_mode, compiler_directives=pure_mode_directives, annotate=annotate, quiet=True
    )


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
