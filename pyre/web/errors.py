"""Errors an application raises to answer with an HTTP error status."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Mapping, Optional

__all__ = ["ClientDisconnect", "HTTPError"]


class HTTPError(Exception):
    """Answer the request with ``status``; ``detail`` (any JSON-encodable value, by
    default the status phrase) goes into the error body, ``headers`` onto the response.

    ``raise HTTPError(404)`` or ``raise HTTPError(409, "name taken")``.
    """

    def __init__(self, status: int, detail: Any = None, headers: Optional[Mapping[str, str]] = None) -> None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            if not 400 <= status <= 599:
                raise ValueError(f"HTTPError needs a 4xx or 5xx status, got {status!r}") from None
            phrase = "Error"
        self.status = status
        self.detail = phrase if detail is None else detail
        self.headers = dict(headers) if headers else {}
        super().__init__(status, self.detail)

    def __repr__(self) -> str:
        return f"HTTPError({self.status}, {self.detail!r})"


class ClientDisconnect(OSError):
    """The client went away before the request body was read in full (raised by
    ``Request.body()``, ``json()``, ``form()`` and ``stream()``; there is no one to answer)."""
