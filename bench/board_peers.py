"""Pyre Board's routes (examples/app.py) in FastAPI and in Litestar, for the startup
comparison of ``bench/typed_overhead.py --startup --example``: the same 14 HTTP
operations and the WebSocket, the same store (examples/store.py) opened in the lifespan,
the same Jinja2 templates. Handlers are written as each framework's users write them
(typed bodies and queries); they serve requests, but only their startup is measured."""

import asyncio
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, Optional

from examples.store import open_store

TEMPLATES = Path(__file__).resolve().parents[1] / "examples" / "templates"


def database_url() -> str:
    return os.environ.get("DATABASE_URL", "sqlite:///board.db")


def fastapi_board() -> Any:
    import pydantic
    from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile, WebSocket
    from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, StreamingResponse
    from fastapi.templating import Jinja2Templates

    class NewNote(pydantic.BaseModel):
        title: str = pydantic.Field(min_length=1, max_length=200)
        body: str = ""
        done: bool = False

    class NoteChanges(pydantic.BaseModel):
        title: Optional[str] = None
        body: Optional[str] = None
        done: Optional[bool] = None

    class NoteOut(pydantic.BaseModel):
        id: int
        title: str
        body: str
        done: bool

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = await open_store(database_url())
        yield
        await app.state.store.close()

    app = FastAPI(lifespan=lifespan)
    templates = Jinja2Templates(directory=str(TEMPLATES))

    async def found(value: Any, what: str) -> Any:
        if value is None:
            raise HTTPException(404, f"no {what}")
        return value

    @app.get("/")
    async def home() -> RedirectResponse:
        return RedirectResponse("/chat/lobby", 303)

    @app.get("/api/notes", response_model=List[NoteOut])
    async def list_notes(request: Request, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)) -> Any:
        return [vars(note) for note in await request.app.state.store.list_notes(limit, offset)]

    @app.post("/api/notes", status_code=201, response_model=NoteOut)
    async def create_note(request: Request, note: NewNote) -> Any:
        return vars(await request.app.state.store.create_note(note.title, note.body, note.done))

    @app.get("/api/notes/events")
    async def note_events() -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            yield "event: ready\ndata: {}\n\n"
        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/api/notes/{note_id}", response_model=NoteOut)
    async def get_note(request: Request, note_id: int) -> Any:
        return vars(await found(await request.app.state.store.get_note(note_id), "note"))

    @app.put("/api/notes/{note_id}", response_model=NoteOut)
    async def put_note(request: Request, note_id: int, note: NewNote) -> Any:
        changed = await request.app.state.store.update_note(note_id, note.model_dump())
        return vars(await found(changed, "note"))

    @app.patch("/api/notes/{note_id}", response_model=NoteOut)
    async def patch_note(request: Request, note_id: int, changes: NoteChanges) -> Any:
        changed = await request.app.state.store.update_note(note_id, changes.model_dump(exclude_none=True))
        return vars(await found(changed, "note"))

    @app.delete("/api/notes/{note_id}", status_code=204)
    async def delete_note(request: Request, note_id: int) -> None:
        await found(await request.app.state.store.delete_note(note_id), "note")

    @app.get("/api/files")
    async def list_files(request: Request) -> List[Dict[str, Any]]:
        return [vars(record) for record in await request.app.state.store.list_files()]

    @app.post("/api/files", status_code=201)
    async def upload(request: Request, file: UploadFile = File(...)) -> Dict[str, Any]:
        data = await file.read()
        record = await request.app.state.store.add_file(file.filename or "file", file.content_type or "", len(data), "k")
        return vars(record)

    @app.get("/api/files/{file_id}")
    async def download(request: Request, file_id: int) -> FileResponse:
        record = await found(await request.app.state.store.get_file(file_id), "file")
        return FileResponse(Path("uploads") / record.key, filename=record.name)

    @app.delete("/api/files/{file_id}", status_code=204)
    async def delete_file(request: Request, file_id: int) -> None:
        await found(await request.app.state.store.delete_file(file_id), "file")

    @app.get("/chat/{room}", response_class=HTMLResponse)
    async def chat_page(request: Request, room: str) -> Any:
        return templates.TemplateResponse(request, "chat.html", {"room": room, "socket": f"/chat/{room}/ws"})

    @app.websocket("/chat/{room}/ws")
    async def chat(ws: WebSocket, room: str, name: str) -> None:
        await ws.accept()
        async for data in ws.iter_json():
            await ws.send_json({"type": "message", "user": name, "text": data.get("text")})

    return app


def litestar_board() -> Any:
    import msgspec
    from litestar import Litestar, Request, WebSocket, delete, get, patch, post, put, websocket
    from litestar.contrib.jinja import JinjaTemplateEngine
    from litestar.datastructures import UploadFile
    from litestar.enums import RequestEncodingType
    from litestar.exceptions import NotFoundException
    from litestar.params import Body, Parameter
    from litestar.response import File as FileResponse, Redirect, ServerSentEvent, Template
    from litestar.template.config import TemplateConfig
    from typing_extensions import Annotated

    class NewNote(msgspec.Struct):
        title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
        body: str = ""
        done: bool = False

    class NoteChanges(msgspec.Struct):
        title: Optional[str] = None
        body: Optional[str] = None
        done: Optional[bool] = None

    class NoteOut(msgspec.Struct):
        id: int
        title: str
        body: str
        done: bool

    def out(note: Any) -> NoteOut:
        if note is None:
            raise NotFoundException("no note")
        return NoteOut(note.id, note.title, note.body, note.done)

    @get("/")
    async def home() -> Redirect:
        return Redirect("/chat/lobby", status_code=303)

    @get("/api/notes")
    async def list_notes(request: Request, limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
                         offset: Annotated[int, Parameter(ge=0)] = 0) -> List[NoteOut]:
        return [out(note) for note in await request.app.state.store.list_notes(limit, offset)]

    @post("/api/notes")
    async def create_note(request: Request, data: NewNote) -> NoteOut:
        return out(await request.app.state.store.create_note(data.title, data.body, data.done))

    @get("/api/notes/events")
    async def note_events() -> ServerSentEvent:
        async def events() -> AsyncIterator[str]:
            yield "{}"
        return ServerSentEvent(events(), event_type="ready")

    @get("/api/notes/{note_id:int}")
    async def get_note(request: Request, note_id: int) -> NoteOut:
        return out(await request.app.state.store.get_note(note_id))

    @put("/api/notes/{note_id:int}")
    async def put_note(request: Request, note_id: int, data: NewNote) -> NoteOut:
        return out(await request.app.state.store.update_note(note_id, msgspec.structs.asdict(data)))

    @patch("/api/notes/{note_id:int}")
    async def patch_note(request: Request, note_id: int, data: NoteChanges) -> NoteOut:
        changes = {key: value for key, value in msgspec.structs.asdict(data).items() if value is not None}
        return out(await request.app.state.store.update_note(note_id, changes))

    @delete("/api/notes/{note_id:int}")
    async def delete_note(request: Request, note_id: int) -> None:
        out(await request.app.state.store.delete_note(note_id))

    @get("/api/files")
    async def list_files(request: Request) -> List[Dict[str, Any]]:
        return [vars(record) for record in await request.app.state.store.list_files()]

    @post("/api/files")
    async def upload(request: Request,
                     data: Annotated[UploadFile, Body(media_type=RequestEncodingType.MULTI_PART)]) -> Dict[str, Any]:
        content = await data.read()
        record = await request.app.state.store.add_file(data.filename, data.content_type, len(content), "k")
        return vars(record)

    @get("/api/files/{file_id:int}")
    async def download(request: Request, file_id: int) -> FileResponse:
        record = await request.app.state.store.get_file(file_id)
        if record is None:
            raise NotFoundException("no file")
        return FileResponse(Path("uploads") / record.key, filename=record.name)

    @delete("/api/files/{file_id:int}")
    async def delete_file(request: Request, file_id: int) -> None:
        if await request.app.state.store.delete_file(file_id) is None:
            raise NotFoundException("no file")

    @get("/chat/{room:str}")
    async def chat_page(room: str) -> Template:
        return Template("chat.html", context={"room": room, "socket": f"/chat/{room}/ws"})

    @websocket("/chat/{room:str}/ws")
    async def chat(socket: WebSocket, room: str, name: str) -> None:
        await socket.accept()
        while True:
            data = await socket.receive_json()
            await socket.send_json({"type": "message", "user": name, "text": data.get("text")})

    async def open_board(app: Litestar) -> None:
        app.state.store = await open_store(database_url())

    async def close_board(app: Litestar) -> None:
        await app.state.store.close()

    return Litestar(
        [home, list_notes, create_note, note_events, get_note, put_note, patch_note, delete_note,
         list_files, upload, download, delete_file, chat_page, chat],
        on_startup=[open_board], on_shutdown=[close_board],
        template_config=TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine),
    )


def pyre_board() -> Any:
    from examples.app import app  # made when the module is imported, as `pyre examples.app:app` does

    return app


BOARDS = {"pyre.web": pyre_board, "FastAPI": fastapi_board, "Litestar": litestar_board}
