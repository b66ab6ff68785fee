"""The ASGI lifespan protocol (asgiref lifespan spec 2.0): startup and shutdown."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Dict, Optional

__all__ = ["Lifespan"]

logger = logging.getLogger("pyre.error")

LIFESPAN_SPEC_VERSION = "2.0"


class Lifespan:
    """Runs the app's lifespan scope in a task and exchanges its messages.

    ``mode`` is ``"on"`` (failures are fatal) or ``"auto"`` (an app that raises
    before answering startup is taken not to support lifespan). After
    :meth:`startup`, ``failed`` and ``error`` say how it went; ``state`` is the
    dict shared (copied) into every request scope.
    """

    def __init__(self, app: Callable[..., Any], mode: str = "auto", timeout: Optional[float] = 60) -> None:
        self.app = app
        self.mode = mode
        self.timeout = timeout
        self.state: Dict[str, Any] = {}
        self.supported = True
        self.failed = False
        self.error = ""
        self._receive_queue: asyncio.Queue = asyncio.Queue()
        self._startup_done = asyncio.Event()
        self._shutdown_done = asyncio.Event()
        self._task: Optional[asyncio.Task] = None
        self._started = False

    async def startup(self) -> None:
        logger.info("Waiting for application startup.")
        self._task = asyncio.get_running_loop().create_task(self._main())
        await self._receive_queue.put({"type": "lifespan.startup"})
        try:
            await asyncio.wait_for(self._startup_done.wait(), self.timeout)
        except asyncio.TimeoutError:
            self.failed = True
            self.error = f"Application startup did not complete within {self.timeout:g} seconds."
            logger.error(self.error)
            self._task.cancel()
            return
        if self.failed:
            if self.error:
                logger.error("Application startup failed: %s", self.error)
            else:
                logger.error("Application startup failed.")
        elif self.supported:
            logger.info("Application startup complete.")

    async def shutdown(self) -> None:
        if not self.supported or self._task is None or self._task.done():
            return
        logger.info("Waiting for application shutdown.")
        await self._receive_queue.put({"type": "lifespan.shutdown"})
        try:
            await asyncio.wait_for(self._shutdown_done.wait(), self.timeout)
        except asyncio.TimeoutError:
            logger.error("Application shutdown did not complete within %g seconds.", self.timeout)
            self._task.cancel()
            self.failed = True
            return
        if self.failed:
            logger.error("Application shutdown failed: %s", self.error or "no message")
        else:
            logger.info("Application shutdown complete.")

    async def _main(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": LIFESPAN_SPEC_VERSION},
            "state": self.state,
        }
        try:
            result = await self.app(scope, self._receive, self._send)
            if result is not None:
                logger.error("ASGI lifespan callable returned a value: %r", result)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            if not self._startup_done.is_set() and self.mode == "auto":
                self.supported = False
                logger.info("ASGI 'lifespan' protocol appears unsupported.")
                logger.debug("Lifespan error", exc_info=exc)
            else:
                self.failed = True
                self.error = f"{type(exc).__name__}: {exc}"
                logger.error("Exception in 'lifespan' protocol\n", exc_info=exc)
        else:
            if not self._startup_done.is_set() and self.mode == "auto":
                self.supported = False
            elif not self._startup_done.is_set():
                self.failed = True
                self.error = "the application returned before completing startup"
        finally:
            self._startup_done.set()
            self._shutdown_done.set()

    async def _receive(self) -> Dict[str, Any]:
        return await self._receive_queue.get()

    async def _send(self, message: Dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "lifespan.startup.complete":
            if self._startup_done.is_set():
                raise RuntimeError("lifespan.startup.complete sent twice or after startup ended")
            self._startup_done.set()
        elif kind == "lifespan.startup.failed":
            if self._startup_done.is_set():
                raise RuntimeError("lifespan.startup.failed sent after startup ended")
            self.failed = True
            self.error = str(message.get("message", ""))
            self._startup_done.set()
        elif kind == "lifespan.shutdown.complete":
            if not self._startup_done.is_set() or self._shutdown_done.is_set():
                raise RuntimeError("unexpected lifespan.shutdown.complete")
            self._shutdown_done.set()
        elif kind == "lifespan.shutdown.failed":
            if not self._startup_done.is_set() or self._shutdown_done.is_set():
                raise RuntimeError("unexpected lifespan.shutdown.failed")
            self.failed = True
            self.error = str(message.get("message", ""))
            self._shutdown_done.set()
        else:
            raise RuntimeError(f"Unexpected lifespan message type {kind!r}")
