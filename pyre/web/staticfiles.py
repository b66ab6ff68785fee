"""Static files: an ASGI app serving a directory, with the caching rules of :class:`File`.

``app.mount("/static", StaticFiles("static"))``. It serves ``scope["path"]`` minus
``scope["root_path"]`` (the ASGI mount convention) from ``directory``:

- GET and HEAD only (anything else: 405 with ``Allow: GET, HEAD``).
- A hostile path never leaves the root: a ``..`` segment, a backslash, an encoded slash or
  backslash in the raw path (``%2F``, ``%5C``), a symlink resolving outside the root (unless
  ``follow_symlinks=True``), a special file (FIFO, device, socket) -> 404; a NUL byte -> 400.
  Empty and ``.`` segments are skipped, so ``//etc/passwd`` is ``etc/passwd`` under the root.
  Any ``OSError`` while resolving (permissions, symlink loops, names too long) -> 404.
- ``html=True``: a directory serves its ``index.html`` (a directory path without the trailing
  slash is redirected, 307, to the one with it, so relative links work), and a missing file
  serves the root's ``404.html`` with status 404 when there is one.
- ``cache_control``: a ``Cache-Control`` value added to every file served.

Errors are answered here as short ``text/plain`` responses (so the app works mounted in any
ASGI framework); the files themselves are :class:`~pyre.web.responses.File` responses.
"""

from __future__ import annotations

import os
import stat as stat_module
from typing import Optional, Union
from urllib.parse import quote

from pyre.web.datastructures import header_value
from pyre.web.responses import (
    File,
    Receive,
    Redirect,
    Response,
    Scope,
    Send,
    Text,
    guess_media_type,
)

__all__ = ["StaticFiles"]

_ALLOW = {"allow": "GET, HEAD"}


class StaticFiles:
    """Serve the files under ``directory`` (which must exist)."""

    __slots__ = ("directory", "html", "follow_symlinks", "_cache_control")

    def __init__(
        self,
        directory: Union[str, "os.PathLike[str]"],
        *,
        html: bool = False,
        follow_symlinks: bool = False,
        cache_control: Optional[str] = None,
    ) -> None:
        root = os.path.realpath(os.fspath(directory))
        if not os.path.isdir(root):
            raise NotADirectoryError(f"StaticFiles directory {os.fspath(directory)!r} is not a directory")
        self.directory = root
        self.html = html
        self.follow_symlinks = follow_symlinks
        self._cache_control = None if cache_control is None else header_value("cache-control", cache_control)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1000})  # refused: 403 before the accept
            return
        response = self.lookup(scope)
        await response(scope, receive, send)

    def lookup(self, scope: Scope) -> Response:
        """The response for this request's path (a file, a redirect or an error)."""
        if scope.get("method", "GET") not in ("GET", "HEAD"):
            return Text("Method Not Allowed", 405, _ALLOW)
        path: str = scope.get("path", "/")
        root_path: str = scope.get("root_path", "")
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]
        raw_path = scope.get("raw_path")
        if raw_path and b"%" in raw_path:
            lowered = bytes(raw_path).lower()
            if b"%00" in lowered:
                return Text("Bad Request", 400)
            if b"%2f" in lowered or b"%5c" in lowered:
                return self._not_found(scope)
        if "\0" in path:
            return Text("Bad Request", 400)
        segments = []
        for segment in path.split("/"):
            if segment == "" or segment == ".":
                continue
            if segment == ".." or "\\" in segment:
                return self._not_found(scope)
            segments.append(segment)
        found = self._resolve(segments)
        if found is None:
            return self._not_found(scope)
        full, st = found
        if stat_module.S_ISDIR(st.st_mode):
            if not self.html:
                return self._not_found(scope)
            if not path.endswith("/"):
                return self._redirect_to_directory(scope)
            index = self._resolve(segments + ["index.html"])
            if index is None or not stat_module.S_ISREG(index[1].st_mode):
                return self._not_found(scope)
            full, st = index
            name = "index.html"
        elif stat_module.S_ISREG(st.st_mode):
            name = segments[-1]
        else:
            return self._not_found(scope)
        return self._file(full, st, name, 200)

    def _resolve(self, segments: "list[str]") -> Optional["tuple[str, os.stat_result]"]:
        """The path and stat of ``segments`` under the root, or None (missing or escaping)."""
        candidate = os.path.join(self.directory, *segments)
        try:
            if not self.follow_symlinks:
                candidate = os.path.realpath(candidate)
                root = self.directory
                if candidate != root and not candidate.startswith(root.rstrip(os.sep) + os.sep):
                    return None
            return candidate, os.stat(candidate)
        except (OSError, ValueError):
            return None

    def _file(self, path: str, st: os.stat_result, name: str, status: int) -> File:
        headers = None if self._cache_control is None else [(b"cache-control", self._cache_control)]
        return File(path, status, headers, guess_media_type(name), stat_result=st)

    def _not_found(self, scope: Scope) -> Response:
        if self.html:
            page = self._resolve(["404.html"])
            if page is not None and stat_module.S_ISREG(page[1].st_mode):
                return self._file(page[0], page[1], "404.html", 404)
        return Text("Not Found", 404)

    def _redirect_to_directory(self, scope: Scope) -> Response:
        raw_path = scope.get("raw_path")
        location = bytes(raw_path).decode("latin-1") if raw_path else quote(scope.get("path", "/"))
        location = "/" + location.lstrip("/") + "/"  # never "//host": a protocol-relative URL
        query = scope.get("query_string")
        if query:
            location += "?" + bytes(query).decode("latin-1")
        return Redirect(location, 307)
