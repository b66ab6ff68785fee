"""What every ASGI HTTP cycle shares: the send-side states, the exception an
application sees after a disconnect, the interface a connection offers a cycle
(:class:`ResponseStream`), and how a cycle whose application ended early is settled.

One module, imported by every cycle (:mod:`pyre.asgi.http`, its compiled twin
``pyre.asgi._http_c``), so that an application sees one
:class:`ClientDisconnected` whichever serves it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, List, Optional, Protocol

__all__ = [
    "BODY", "BODY_HIGH_WATER", "DONE", "SHUTDOWN_DEADLINE", "START", "TRAILERS", "ClientDisconnected",
    "ResponseStream", "error_status", "finish_response", "unexpected_message", "wait_for_input", "wake",
]

logger = logging.getLogger("pyre.error")

# Request body bytes buffered for the application before reading pauses.
BODY_HIGH_WATER = 65536

# The send-side states (a cycle's public ``state``).
START = 0
BODY = 1
TRAILERS = 2
DONE = 3

# The message of the server's ``task.cancel()`` at the graceful-shutdown deadline: a
# response not begun by then is answered 503 (the service is going away), not 500.
SHUTDOWN_DEADLINE = "pyre: graceful shutdown deadline"


def wake(waiter: "asyncio.Future[None]") -> None:
    """Resolve a parked wait (``receive()``, a drain): the holder has already let go of
    ``waiter``; one that is done (cancelled with its task) is left as it is."""
    if not waiter.done():
        waiter.set_result(None)


async def wait_for_input(cycle: Any) -> None:
    """Park a cycle's ``receive()`` until its connection wakes it (more of the body, its
    end, a disconnect). The first wait sends ``100 Continue`` if the client asked for
    it; --timeout-request-body runs while the body is awaited. Every cycle twin calls
    it, so it reads and writes their fields by name (``_waiter``, ``_expect_continue``,
    ``_body_complete``: public in the compiled ones)."""
    stream = cycle.stream
    if cycle._expect_continue:
        cycle._expect_continue = False
        stream.send_continue()
    waiter = asyncio.get_running_loop().create_future()
    cycle._waiter = waiter
    body_wait = not cycle._body_complete
    if body_wait:
        stream.waiting_for_body(True)
    try:
        await waiter
    finally:
        if cycle._waiter is waiter:
            cycle._waiter = None
        if body_wait:
            stream.waiting_for_body(False)


class ClientDisconnected(OSError):
    """``send()`` was called after the client went away (ASGI spec 2.4)."""


class ResponseStream(Protocol):
    """What a connection offers the cycle for one response."""

    write_paused: bool

    def start_response(self, status: int, headers: List[Any], trailers: bool) -> None:
        """Validate and encode the head (raises InvalidResponse); write nothing yet."""

    def send_body(self, data: bytes, more_body: bool) -> None:
        """Write body bytes (with the head before the first ones)."""

    def send_trailers(self, headers: List[Any]) -> None:
        """Write the trailer fields and end the response."""

    async def send_file(self, path: str) -> None:
        """Write a whole file as the body and end the response."""

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark."""

    def send_continue(self) -> None:
        """Send ``100 Continue`` if the request asked for it and it was not sent."""

    def waiting_for_body(self, waiting: bool) -> None:
        """The application starts (True) or stops (False) waiting in ``receive()`` for
        more of the request body (``--timeout-request-body`` runs only meanwhile)."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def response_complete(self) -> None:
        """The response ended normally; the connection may go on."""

    def send_error_response(self, status: int) -> None:
        """Answer with a plain error response (nothing was written yet), then close."""

    def abort(self) -> None:
        """The response cannot be finished: close without completing it."""


def unexpected_message(state: int, kind: Any) -> RuntimeError:
    """The error for a message of type ``kind`` that ``send`` cannot take in ``state``."""
    if state == DONE:
        return RuntimeError(f"Unexpected ASGI message {kind!r} sent, after response already completed.")
    expected = {
        START: "'http.response.start'",
        BODY: "'http.response.body'",
        TRAILERS: "'http.response.trailers'",
    }[state]
    return RuntimeError(f"Expected ASGI message {expected}, but got {kind!r}.")


def finish_response(cycle: Any, exc: Optional[BaseException], result: Any, disconnected: bool, input_closed: bool) -> None:
    """What ``app_finished`` does unless the app returned None after completing its
    response (the usual case, which each cycle twin checks first): log how it ended,
    then answer 500 (503) if no response began, or abort the one begun.

    ``cycle`` is either cycle twin (its ``state`` and ``stream``); ``disconnected`` and
    ``input_closed`` are what it was told by its connection."""
    if exc is not None:
        if disconnected and isinstance(exc, OSError):
            logger.debug("Client disconnected during the response: %r", exc)
        elif isinstance(exc, asyncio.CancelledError):
            logger.debug("ASGI application cancelled")
        else:
            logger.error("Exception in ASGI application\n", exc_info=exc)
    elif result is not None:
        logger.error("ASGI callable returned a value instead of None: %r", result)
    if cycle.state == START:
        cycle.state = DONE
        if disconnected:
            cycle.stream.abort()
            return
        if exc is None:
            logger.error("ASGI callable returned without starting a response.")
        cycle.stream.send_error_response(error_status(exc))
    elif cycle.state != DONE:
        if exc is None:
            if disconnected or input_closed:  # told http.disconnect: stopping is right
                logger.debug("ASGI callable stopped its response after the client disconnected")
            else:
                logger.error("ASGI callable returned without completing the response.")
        cycle.state = DONE
        cycle.stream.abort()


def error_status(exc: Optional[BaseException]) -> int:
    """The status of the error response for an application that ended with ``exc``
    before starting its response: 503 when the server cancelled it at the
    graceful-shutdown deadline, else 500."""
    if isinstance(exc, asyncio.CancelledError) and exc.args[:1] == (SHUTDOWN_DEADLINE,):
        return 503
    return 500
