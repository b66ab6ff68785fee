"""Errors: exception handlers by class (MRO, cached) and status, 404/405/413/422/500 as
JSON or HTML by Accept, tracebacks only in debug mode, 500s logged through pyre.error."""

from __future__ import annotations

import json

import pytest

from pyre.web import HTML, App, HTTPError, Request, Stream, Text
from pyre.web.error_handlers import ExceptionHandlers, render_error, wants_html
from tests.web.app_client import call

BROWSER = b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def error_records(caplog):
    return [r for r in caplog.records if r.name == "pyre.error"]


@pytest.mark.parametrize(
    "accept, html",
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        (BROWSER.decode(), True),
        ("text/html", True),
        ("text/html;q=0.5, application/json", False),
        ("application/json;q=0.5, text/html", True),
        ("text/*", True),
        ("text/html;q=0, */*", False),
        ("text/html, application/json", False),  # a tie: JSON
        ("text/html;q=bad", False),
    ],
)
def test_wants_html(accept, html):
    assert wants_html(accept) is html


@pytest.mark.parametrize("status", [404, 405, 413, 422, 500])
async def test_error_statuses_render_as_json_or_html_by_accept(status):
    app = App()

    @app.get("/")
    async def fail(request):
        raise HTTPError(status, "<b>detail</b>" if status != 422 else [{"loc": ["query", "limit"], "msg": "not an int"}])

    as_json = await call(app, headers=[(b"accept", b"application/json")])
    assert as_json.status == status and as_json.headers["content-type"] == "application/json"
    detail = json.loads(as_json.body)["detail"]
    assert json.loads(as_json.body)["status"] == status and detail
    as_html = await call(app, headers=[(b"accept", BROWSER)])
    assert as_html.status == status and as_html.headers["content-type"] == "text/html; charset=utf-8"
    page = as_html.body.decode()
    assert page.startswith("<!doctype html>") and f"<title>{status} " in page
    assert "<b>" not in page and ("&lt;b&gt;detail&lt;/b&gt;" in page or "not an int" in page)


async def test_not_found_and_method_not_allowed_as_html_for_a_browser():
    app = App()

    @app.post("/form")
    async def form(request):
        return "ok"

    missing = await call(app, "GET", "/nope", headers=[(b"accept", BROWSER)])
    assert missing.status == 404 and b"<h1>404 Not Found</h1>" in missing.body
    wrong = await call(app, "GET", "/form", headers=[(b"accept", BROWSER)])
    assert wrong.status == 405 and wrong.headers["allow"] == "OPTIONS, POST" and b"405 Method Not Allowed" in wrong.body


async def test_an_unexpected_exception_is_a_logged_500_without_traceback(caplog):
    app = App()

    @app.get("/boom")
    async def boom(request):
        raise ValueError("secret internals")

    client = await call(app, "GET", "/boom")
    assert client.status == 500 and json.loads(client.body) == {"status": 500, "detail": "Internal Server Error"}
    assert b"secret" not in client.body
    (record,) = error_records(caplog)
    assert record.getMessage() == "Exception in GET /boom" and record.exc_info[0] is ValueError


async def test_debug_mode_puts_the_traceback_in_the_500(caplog):
    app = App(debug=True)

    @app.get("/boom")
    async def boom(request):
        raise ValueError("visible in debug")

    as_json = json.loads((await call(app, "GET", "/boom")).body)
    assert as_json["detail"] == "Internal Server Error"
    assert as_json["traceback"][0] == "Traceback (most recent call last):"
    assert as_json["traceback"][-1] == "ValueError: visible in debug"
    as_html = (await call(app, "GET", "/boom", headers=[(b"accept", BROWSER)])).body.decode()
    assert "<pre>Traceback (most recent call last):" in as_html and "ValueError: visible in debug" in as_html


async def test_exception_handlers_by_class_follow_the_mro_and_by_status():
    class NotFoundInDB(LookupError):
        pass

    calls = []

    def lookup_handler(request: Request, exc: LookupError):
        calls.append(type(exc).__name__)
        return Text(f"missing: {exc}", status=404)

    async def teapot(request, exc: HTTPError):
        return {"teapot": exc.detail}

    app = App(exception_handlers={LookupError: lookup_handler, 418: teapot})

    @app.exception_handler(KeyError)
    async def key_handler(request, exc):
        return HTML("<p>key</p>", status=400)

    @app.get("/{kind}")
    async def fail(request, kind):
        if kind == "db":
            raise NotFoundInDB("row 3")
        if kind == "key":
            raise KeyError("k")
        if kind == "index":
            raise IndexError("i")
        raise HTTPError(418, "short and stout")

    db = await call(app, "GET", "/db")
    assert db.status == 404 and db.body == b"missing: row 3"
    key = await call(app, "GET", "/key")
    assert key.status == 400 and key.body == b"<p>key</p>"  # the nearest class wins
    index = await call(app, "GET", "/index")
    assert index.status == 404 and index.body == b"missing: i"
    teapot_response = await call(app, "GET", "/teapot")
    assert teapot_response.status == 200 and json.loads(teapot_response.body) == {"teapot": "short and stout"}
    assert calls == ["NotFoundInDB", "IndexError"]


def test_handler_lookup_is_cached_per_class():
    class Base(Exception):
        pass

    class Child(Base):
        pass

    handlers = ExceptionHandlers({Base: lambda request, exc: None})
    assert handlers.find(Child())[0] is handlers.find(Base())[0]
    assert Child in handlers._cache and handlers.find(ValueError()) is None and handlers._cache[ValueError] is None
    handlers.add(ValueError, print)
    assert handlers._cache == {} and handlers.find(ValueError())[0] is print
    with pytest.raises(ValueError, match="4xx or 5xx"):
        handlers.add(200, print)
    with pytest.raises(TypeError, match="exception class or a status"):
        handlers.add("oops", print)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not callable"):
        handlers.add(KeyError, "x")  # type: ignore[arg-type]
    assert "Base" in repr(handlers)


async def test_404_and_405_go_through_status_handlers():
    async def not_found(request, exc):
        return HTML(f"<h1>Nothing at {request.path}</h1>", status=404)

    app = App(exception_handlers={404: not_found})

    @app.get("/")
    async def index(request):
        return "home"

    client = await call(app, "GET", "/nothing")
    assert client.status == 404 and client.body == b"<h1>Nothing at /nothing</h1>"


async def test_a_failing_exception_handler_gives_a_logged_500(caplog):
    def broken(request, exc):
        raise RuntimeError("handler bug")

    app = App(exception_handlers={KeyError: broken})

    @app.get("/")
    async def fail(request):
        raise KeyError("x")

    client = await call(app)
    assert client.status == 500
    (record,) = error_records(caplog)
    assert "Exception handler" in record.getMessage() and "broken failed on GET /" in record.getMessage()


async def test_a_stream_failing_before_its_head_is_a_500_and_after_it_is_raised(caplog):
    app = App()
    errors = []

    @app.on("error")
    def error(request, exc):
        errors.append(str(exc))

    class Early(Stream):
        async def __call__(self, scope, receive, send):
            raise RuntimeError("before the head")

    @app.get("/early")
    async def early(request):
        return Early([b"x"])

    @app.get("/late")
    async def late(request):
        async def chunks():
            yield b"first"
            raise RuntimeError("after the head")
        return Stream(chunks())

    client = await call(app, "GET", "/early")
    assert client.status == 500 and errors == ["before the head"]
    with pytest.raises(RuntimeError, match="after the head"):
        await call(app, "GET", "/late")  # the server sees it and aborts the response
    assert errors == ["before the head", "after the head"]


def test_render_error_details_that_json_cannot_encode():
    response = render_error(None, 400, object())
    assert json.loads(response.body)["detail"].startswith("<object object")
    assert response.status == 400
    assert json.loads(render_error(None, 599).body) == {"status": 599, "detail": "Error"}


async def test_a_client_disconnect_is_not_logged(caplog):
    app = App()

    @app.post("/")
    async def upload(request: Request):
        return len(await request.body())

    from tests.web.fake_request import Receiver
    from tests.web.fake_asgi import http_scope

    sent = []

    async def send(message):
        sent.append(message)

    await app(http_scope("POST", "/"), Receiver([b"abc"], disconnect=True), send)
    assert sent[0]["status"] == 400 and error_records(caplog) == []
