"""Pyre Board: a realistic ``pyre.web`` app, in its object-oriented style.

- ``/api/notes``: a JSON API with create, read, update and delete over SQLite (the
  default) or PostgreSQL, chosen by ``DATABASE_URL`` (see :mod:`examples.store`);
- ``/api/notes/events``: the notes' changes as server-sent events;
- ``/api/files``: file upload (a multipart form) and download (a ``File`` response, with
  ETag, Last-Modified and Range);
- ``/chat/{room}``: a chat room's HTML page, and ``/chat/{room}/ws`` its WebSocket, where
  every message is broadcast to the room through ``Groups``.

Run it from the repository's root: ``pyre examples.app:app`` (see examples/README.md).
"""

from __future__ import annotations

import asyncio
import hmac
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, Mapping, Optional, Set

from pyre.web import (
    JSON,
    SSE,
    App,
    Controller,
    File,
    HTML,
    HTTPError,
    Redirect,
    Request,
    Resource,
    ServerSentEvents,
    Templates,
    UploadFile,
    listen,
)
from pyre.web.multipart import FormLimits
from pyre.web.websocket import Groups, WebSocket, WebSocketResource

from examples.store import NOTE_FIELDS, Note, Store, StoredFile, open_store

HERE = Path(__file__).resolve().parent

# -- configuration and state ---------------------------------------------------------------


@dataclass
class Settings:
    """What the app is configured with; ``Settings.from_env()`` reads the environment."""

    database_url: str = "sqlite:///board.db"
    upload_dir: Path = Path("uploads")
    max_upload_size: int = 20 * 1024 * 1024
    #: When set, writes to the API need ``Authorization: Bearer <token>``.
    token: Optional[str] = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        defaults = cls()
        return cls(
            database_url=environ.get("DATABASE_URL", defaults.database_url),
            upload_dir=Path(environ.get("UPLOAD_DIR", str(defaults.upload_dir))),
            max_upload_size=int(environ.get("MAX_UPLOAD_SIZE", defaults.max_upload_size)),
            token=environ.get("BOARD_TOKEN") or None,
        )


@dataclass
class State:
    """The app's state (``app.state``, ``request.app.state``): opened at startup."""

    settings: Settings
    groups: Groups = field(default_factory=Groups)
    _store: Optional[Store] = None

    @property
    def store(self) -> Store:
        assert self._store is not None, "the store opens at the app's startup"
        return self._store


def state(request: Request) -> State:
    board: Board = request.app
    return board.state


# -- input checks (by hand: pyre.web has no typed input binding yet) --------------------------


def _problem(location: List[Any], message: str) -> Dict[str, Any]:
    return {"loc": location, "msg": message}


def check_note(data: Any, *, partial: bool) -> Dict[str, Any]:
    """The note fields of a JSON body; 422 listing every problem."""
    if not isinstance(data, dict):
        raise HTTPError(422, [_problem(["body"], "must be a JSON object")])
    problems = [_problem(["body", name], "unknown field") for name in data if name not in NOTE_FIELDS]
    if not partial and "title" not in data:
        problems.append(_problem(["body", "title"], "field required"))
    for name in ("title", "body"):
        if name in data and not isinstance(data[name], str):
            problems.append(_problem(["body", name], "must be a string"))
    if isinstance(data.get("title"), str) and not 1 <= len(data["title"].strip()) <= 200:
        problems.append(_problem(["body", "title"], "must have 1 to 200 characters"))
    if "done" in data and not isinstance(data["done"], bool):
        problems.append(_problem(["body", "done"], "must be true or false"))
    if problems:
        raise HTTPError(422, problems)
    return {name: data[name] for name in NOTE_FIELDS if name in data}


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    value = request.query.get(name)
    if value is None:
        return default
    # ASCII digits only ("²".isdigit() is true), and few of them (int() refuses 4,300 digits).
    if not (value.isascii() and value.isdigit() and len(value) <= 9) or not low <= int(value) <= high:
        raise HTTPError(422, [_problem(["query", name], f"must be an integer from {low} to {high}")])
    return int(value)


def require_token(request: Request) -> None:
    """A guard: writes need the bearer token when the app has one; reads are open."""
    token = state(request).settings.token
    if token is None or request.method in ("GET", "HEAD", "OPTIONS"):
        return
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise HTTPError(401, "a valid bearer token is required", headers={"www-authenticate": "Bearer"})


# -- notes ---------------------------------------------------------------------------------


class Notes(Resource):
    """``/api/notes``: the list, and creating a note."""

    async def get(self, request: Request) -> List[Note]:
        limit = query_int(request, "limit", 50, 1, 500)
        offset = query_int(request, "offset", 0, 0, 1_000_000)
        return await state(request).store.list_notes(limit, offset)

    async def post(self, request: Request) -> JSON:
        fields = check_note(await request.json(), partial=False)
        note = await state(request).store.create_note(**fields)
        await request.app.emit("note.changed", "created", note)
        location = request.app.url_for("api.NoteItem", note_id=note.id)
        return JSON(note, status=201, headers={"location": location})


class NoteItem(Resource):
    """``/api/notes/{note_id}``: one note."""

    async def get(self, request: Request, note_id: int) -> Note:
        note = await state(request).store.get_note(note_id)
        if note is None:
            raise HTTPError(404, f"no note {note_id}")
        return note

    async def put(self, request: Request, note_id: int) -> Note:
        changes = check_note(await request.json(), partial=False)
        return await self._update(request, note_id, {"body": "", "done": False, **changes})

    async def patch(self, request: Request, note_id: int) -> Note:
        return await self._update(request, note_id, check_note(await request.json(), partial=True))

    async def delete(self, request: Request, note_id: int) -> None:
        note = await state(request).store.delete_note(note_id)
        if note is None:
            raise HTTPError(404, f"no note {note_id}")
        await request.app.emit("note.changed", "deleted", note)

    async def _update(self, request: Request, note_id: int, changes: Dict[str, Any]) -> Note:
        note = await state(request).store.update_note(note_id, changes)
        if note is None:
            raise HTTPError(404, f"no note {note_id}")
        await request.app.emit("note.changed", "updated", note)
        return note


class NoteFeed(Resource):
    """``/api/notes/events``: every change of a note, as a server-sent event.

    One instance per app, so the subscribers live here; the ``note.changed`` event reaches
    them through the listener below (``app.emit`` in the note resources).
    """

    def __init__(self) -> None:
        self.subscribers: Set["asyncio.Queue[SSE]"] = set()
        self.sequence = 0

    async def get(self, request: Request) -> ServerSentEvents:
        return ServerSentEvents(self.events())

    async def events(self) -> AsyncIterator[SSE]:
        queue: "asyncio.Queue[SSE]" = asyncio.Queue(maxsize=100)
        self.subscribers.add(queue)
        try:
            # The first event says the subscription exists: changes from now on arrive.
            yield SSE({"subscribers": len(self.subscribers)}, event="ready", retry=5000)
            while True:
                yield await queue.get()
        finally:
            self.subscribers.discard(queue)

    @listen("note.changed")
    def publish(self, change: str, note: Note) -> None:
        self.sequence += 1
        event = SSE(note, event=f"note.{change}", id=str(self.sequence))
        for queue in list(self.subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a reader this far behind starts over (it reconnects)
                self.subscribers.discard(queue)


# -- files ---------------------------------------------------------------------------------

CHUNK = 64 * 1024


def describe(request: Request, record: StoredFile) -> Dict[str, Any]:
    """A file's record as the API shows it: never the key on disk."""
    url = request.app.url_for("api.FileItem", file_id=record.id)
    return {"id": record.id, "name": record.name, "content_type": record.content_type, "size": record.size, "url": url}


def _copy(source: Any, target: Path) -> None:
    source.seek(0)
    with open(target, "xb") as out:
        shutil.copyfileobj(source, out, CHUNK)


class Files(Resource):
    """``/api/files``: the list, and uploading a file (the multipart field ``file``)."""

    async def get(self, request: Request) -> List[Dict[str, Any]]:
        return [describe(request, record) for record in await state(request).store.list_files()]

    async def post(self, request: Request) -> JSON:
        settings = state(request).settings
        form = await request.form(FormLimits(max_files=1, max_fields=10, max_file_size=settings.max_upload_size))
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPError(422, [_problem(["body", "file"], "a file field named 'file' is required")])
        key = uuid.uuid4().hex
        # The form's file is in memory or spooled to disk; copy it without blocking the loop.
        path = settings.upload_dir / key
        await asyncio.to_thread(_copy, upload.file, path)
        try:
            record = await state(request).store.add_file(
                name=os.path.basename(upload.filename or "") or key,
                content_type=upload.content_type or "application/octet-stream",
                size=upload.size,
                key=key,
            )
        except BaseException:  # no record, no file
            await asyncio.to_thread(path.unlink, True)
            raise
        body = describe(request, record)
        return JSON(body, status=201, headers={"location": body["url"]})


class FileItem(Resource):
    """``/api/files/{file_id}``: download (conditional requests and ranges included), delete."""

    async def get(self, request: Request, file_id: int) -> File:
        record = await state(request).store.get_file(file_id)
        if record is None:
            raise HTTPError(404, f"no file {file_id}")
        path = state(request).settings.upload_dir / record.key
        # An attachment, and nosniff: a browser never renders an uploaded HTML file as a page.
        return File(path, filename=record.name, media_type=record.content_type,
                    headers={"x-content-type-options": "nosniff"})

    async def delete(self, request: Request, file_id: int) -> None:
        record = await state(request).store.delete_file(file_id)
        if record is None:
            raise HTTPError(404, f"no file {file_id}")
        path = state(request).settings.upload_dir / record.key
        await asyncio.to_thread(path.unlink, True)


class Api(Controller):
    """Everything under ``/api``: the token guard applies to all of it."""

    prefix = "/api"
    name = "api"
    guards = [require_token]

    def __init__(self) -> None:
        super().__init__()
        self.add("/notes", Notes)
        self.add("/notes/events", NoteFeed)
        self.add("/notes/{note_id:int}", NoteItem)
        self.add("/files", Files)
        self.add("/files/{file_id:int}", FileItem)


# -- chat ----------------------------------------------------------------------------------

MAX_MESSAGE = 2000


class ChatPage(Resource):
    """``/chat/{room}``: the room's page (its script talks to :class:`ChatRoom`)."""

    def __init__(self) -> None:
        self.templates = Templates(HERE / "templates")  # made once, at startup

    async def get(self, request: Request, room: str) -> HTML:
        socket = request.app.url_for("ChatRoom", room=room)
        return self.templates.render("chat.html", room=room, socket=socket)


class ChatRoom(WebSocketResource):
    """``/chat/{room}/ws?name=ann``: every message is broadcast to the room.

    Messages in: ``{"text": "..."}``. Out: ``{"type": "join" | "leave", "user": ...}``,
    ``{"type": "message", "user": ..., "text": ...}``, and to the sender alone
    ``{"type": "error", "detail": ...}``.
    """

    receive = "json"

    async def on_connect(self, ws: WebSocket, room: str) -> None:
        name = (ws.query.get("name") or "").strip()
        if not 1 <= len(name) <= 32:
            raise HTTPError(400, "give a name of 1 to 32 characters: ?name=...")  # denies the handshake
        await ws.accept()
        ws.state.name = name
        groups = ws.app.state.groups
        await groups.join(room, ws)  # left by itself when the WebSocket closes
        await groups.broadcast(room, {"type": "join", "user": name})

    async def on_receive(self, ws: WebSocket, data: Any) -> None:
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_MESSAGE:
            await ws.send_json({"type": "error", "detail": f'send {{"text": "..."}}, 1 to {MAX_MESSAGE} characters'})
            return
        room = ws.path_params["room"]
        await ws.app.state.groups.broadcast(room, {"type": "message", "user": ws.state.name, "text": text})

    async def on_disconnect(self, ws: WebSocket, code: int) -> None:
        room = ws.path_params["room"]
        await ws.app.state.groups.broadcast(room, {"type": "leave", "user": ws.state.name})


async def home(request: Request) -> Redirect:
    """``/``: the lobby's chat page."""
    return Redirect(request.app.url_for("ChatPage", room="lobby"), 303)


class Site(Controller):
    """The pages and the chat room's WebSocket."""

    def __init__(self) -> None:
        super().__init__()
        self.add("/", home)
        self.add("/chat/{room}", ChatPage)
        self.websocket("/chat/{room}/ws")(ChatRoom)


# -- the app -------------------------------------------------------------------------------


class Board(App[State]):
    """The app: its routes, and what opens at startup and closes at shutdown."""

    def __init__(self, settings: Optional[Settings] = None) -> None:
        settings = settings or Settings.from_env()
        # The body bound: an upload of max_upload_size plus its multipart framing.
        super().__init__(state=State(settings), max_body_size=settings.max_upload_size + CHUNK)
        self.include(Api())
        self.include(Site())

    async def on_startup(self) -> None:
        settings = self.state.settings
        self.state._store = await open_store(settings.database_url)
        await asyncio.to_thread(settings.upload_dir.mkdir, parents=True, exist_ok=True)

    async def on_shutdown(self) -> None:
        await self.state.groups.close()
        if self.state._store is not None:
            await self.state._store.close()


app = Board()
