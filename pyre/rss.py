"""The resident memory of a process, for ``--limit-max-rss``, without psutil.

- Linux: ``/proc/<pid>/statm`` (the current resident set).
- Windows: ``GetProcessMemoryInfo`` through ctypes (the current working set).
- Other POSIX systems (macOS, the BSDs): ``ps -o rss= -p <pid>`` (POSIX ``ps``; the
  current resident set in KiB). ``resource.getrusage`` is no help here: it reports
  only the calling process's children's *peak* (``ru_maxrss``), never a current size.

:func:`available` says whether this platform can measure at all; the supervisor refuses
``--limit-max-rss`` where it cannot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Optional

__all__ = ["available", "rss_mib"]

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def available() -> bool:
    """Whether :func:`rss_mib` can measure another process on this platform."""
    if sys.platform.startswith("linux"):
        return os.path.exists("/proc/self/statm")
    if sys.platform == "win32":
        return _windows_api() is not None
    return shutil.which("ps") is not None


def rss_mib(pid: int) -> Optional[float]:
    """Resident memory of process ``pid`` in MiB; None if it cannot be read (gone)."""
    if sys.platform.startswith("linux"):
        return _linux(pid)
    if sys.platform == "win32":
        return _windows(pid)
    return _ps(pid)


def _linux(pid: int) -> Optional[float]:
    try:
        with open(f"/proc/{pid}/statm", "rb") as file:
            resident = int(file.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident * _PAGE_SIZE / 1024**2


def _ps(pid: int) -> Optional[float]:
    try:
        out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
        return int(out.stdout.strip()) / 1024
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def _windows_api():  # pragma: no cover - Windows
    try:
        import ctypes
        from ctypes import wintypes
    except ImportError:
        return None
    windll = getattr(ctypes, "WinDLL", None)
    if windll is None:
        return None

    class Counters(ctypes.Structure):  # PROCESS_MEMORY_COUNTERS
        _fields_ = [("cb", wintypes.DWORD), ("PageFaultCount", wintypes.DWORD),
                    ("PeakWorkingSetSize", ctypes.c_size_t), ("WorkingSetSize", ctypes.c_size_t),
                    ("QuotaPeakPagedPoolUsage", ctypes.c_size_t), ("QuotaPagedPoolUsage", ctypes.c_size_t),
                    ("QuotaPeakNonPagedPoolUsage", ctypes.c_size_t), ("QuotaNonPagedPoolUsage", ctypes.c_size_t),
                    ("PagefileUsage", ctypes.c_size_t), ("PeakPagefileUsage", ctypes.c_size_t)]

    kernel32 = windll("kernel32", use_last_error=True)
    return kernel32, Counters, ctypes


def _windows(pid: int) -> Optional[float]:  # pragma: no cover - Windows
    api = _windows_api()
    if api is None:
        return None
    kernel32, counters_type, ctypes = api
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return None
    try:
        counters = counters_type()
        counters.cb = ctypes.sizeof(counters)
        if not kernel32.K32GetProcessMemoryInfo(handle, ctypes.byref(counters), counters.cb):
            return None
        return counters.WorkingSetSize / 1024**2
    finally:
        kernel32.CloseHandle(handle)
