"""The exit statuses of a Pyre process, in one place. :mod:`pyre.launch` is what maps a
failure to one of them; the supervisor only reads them back from its workers."""

from __future__ import annotations

import enum

__all__ = ["ExitCode"]


class ExitCode(enum.IntEnum):
    """What a Pyre process exits with (uvicorn's numbers, and gunicorn's under gunicorn)."""

    #: Stopped by a signal, or served until told to stop.
    OK = 0
    #: A bad option, setting, env file or log config; or the application could not be
    #: loaded (uvicorn's 1).
    ERROR = 1
    #: The server could not start: lifespan startup failed, the port could not be
    #: bound, a TLS file is unusable, a needed extra is missing (uvicorn's 3).
    STARTUP_FAILURE = 3
    #: Under gunicorn: its arbiter stops instead of booting workers again (its
    #: WORKER_BOOT_ERROR, the same number as STARTUP_FAILURE).
    WORKER_BOOT_ERROR = 3
    #: Under gunicorn: the application could not be loaded (its APP_LOAD_ERROR).
    APP_LOAD_ERROR = 4
