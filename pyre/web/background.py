"""Background tasks: work a handler schedules to run after its response is sent.

A response runs its :class:`BackgroundTasks` after its last body message was handed to the
server, in the order they were added, in the request's own task (so the app's
``after_response`` work and these tasks see the request's contextvars). Coroutine functions
are awaited; plain functions run in the loop's default thread pool (``asyncio.to_thread``,
which carries the contextvars), so a blocking call (sending mail, writing a file) does not
stall the event loop. A task that raises is logged through the ``pyre.error`` logger with
its traceback, and the remaining tasks still run. They also run when the client went away
before the response was complete: the work belongs to the application, not to the client.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Callable, Dict, List, Tuple

from pyre.web.callables import callable_name, is_async_callable

__all__ = ["BackgroundTasks"]

logger = logging.getLogger("pyre.error")

_Task = Tuple[Callable[..., Any], Tuple[Any, ...], Dict[str, Any]]


class BackgroundTasks:
    """An ordered list of calls to make after the response: ``tasks.add(send_mail, to, body=...)``."""

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: List[_Task] = []

    def add(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Schedule ``func(*args, **kwargs)``: awaited if it is a coroutine function, else run in a thread."""
        if not callable(func):
            raise TypeError(f"a background task must be callable, got {func!r}")
        self._tasks.append((func, args, kwargs))

    def __len__(self) -> int:
        return len(self._tasks)

    async def __call__(self) -> None:
        """Run every task in order; each failure is logged and the next task still runs."""
        for func, args, kwargs in self._tasks:
            try:
                if is_async_callable(func):
                    await func(*args, **kwargs)
                else:
                    result = await asyncio.to_thread(func, *args, **kwargs)
                    if inspect.isawaitable(result):  # a plain function returning a coroutine
                        await result
            except Exception:
                logger.exception("Background task %s failed", callable_name(func))

