"""Starting the task that runs one request's application."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Dict

__all__ = ["EAGER", "TASK_NAME", "start_task", "task_kwargs"]

# Every request task has this name. A constant name costs nothing, where the default
# ("Task-<n>") is formatted per task on Python 3.11 (about 6% of a request).
TASK_NAME = "pyre.http"

EAGER = sys.version_info >= (3, 12)


def task_kwargs(loop: asyncio.AbstractEventLoop, eager: bool = EAGER) -> Dict[str, Any]:
    """The keywords :func:`start_task` passes to ``asyncio.Task``, for a connection to
    build once and pass itself (``asyncio.Task(coro, **kwargs)``): one Python call fewer
    per request. ``eager=False``: the task's first step waits for the loop, as before
    Python 3.12 (HTTP/2 streams, see pyre.transport.h2)."""
    if eager and EAGER:
        return {"loop": loop, "name": TASK_NAME, "eager_start": True}
    return {"loop": loop, "name": TASK_NAME}


if EAGER:

    def start_task(loop: asyncio.AbstractEventLoop, coro: Any) -> asyncio.Task:
        """Run ``coro`` in a new task; its first step runs now (eager start): no
        scheduling round-trip for an app that never suspends, and current_task()
        works from its first line."""
        return asyncio.Task(coro, loop=loop, name=TASK_NAME, eager_start=True)

else:  # pragma: no cover - exercised on Python 3.10 and 3.11

    def start_task(loop: asyncio.AbstractEventLoop, coro: Any) -> asyncio.Task:
        """Run ``coro`` in a new task, scheduled on ``loop``."""
        return asyncio.Task(coro, loop=loop, name=TASK_NAME)
