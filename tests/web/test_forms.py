"""Forms: urlencoded and streaming multipart, with limits; bad input is 400/413, never 500."""

from __future__ import annotations

import asyncio
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import pyre.web.multipart as multipart_module
from pyre.web.datastructures import ContentType, FormData, UploadFile
from pyre.web.errors import ClientDisconnect, HTTPError
from pyre.web.multipart import FormLimits, MultipartParser
from pyre.web.request import Request

from .conftest import twins
from tests.web.fake_request import Receiver, make_scope, split

BOUNDARY = "----pyreBoundary7MA4YWxk"


def encode_multipart(parts, boundary=BOUNDARY):
    """A multipart/form-data body as a browser writes it: ``parts`` are ``(name, value)``
    with value a ``str`` (a field) or ``(filename, content_type, data)`` (a file)."""
    out = bytearray()
    for name, value in parts:
        out += b"--%s\r\n" % boundary.encode()
        if isinstance(value, str):
            out += b'Content-Disposition: form-data; name="%s"\r\n\r\n' % name.encode()
            out += value.encode()
        else:
            filename, content_type, data = value
            out += b'Content-Disposition: form-data; name="%s"; filename="%s"\r\n' % (name.encode(), filename.encode())
            if content_type is not None:
                out += b"Content-Type: %s\r\n" % content_type.encode()
            out += b"\r\n" + data
        out += b"\r\n"
    out += b"--%s--\r\n" % boundary.encode()
    return bytes(out)


def make_form_request(body, content_type=None, chunks=None, length=True, boundary=BOUNDARY, Request=Request):
    if content_type is None:
        content_type = f"multipart/form-data; boundary={boundary}"
    headers = [(b"content-type", content_type.encode("latin-1"))]
    if length:
        headers.append((b"content-length", str(len(body)).encode()))
    receiver = Receiver(chunks if chunks is not None else [body])
    return Request(make_scope("POST", "/upload", headers=headers), receiver), receiver


@pytest.fixture
def form_request(request_module):
    """``form_request(body, ...)`` with the twin of Request under test."""

    def make(*args, **kwargs):
        return make_form_request(*args, Request=request_module.Request, **kwargs)

    return make


async def status_of(request, **kwargs):
    with pytest.raises(HTTPError) as caught:
        await request.form(**kwargs)
    return caught.value.status


class Recorder:
    """Records every UploadFile the multipart parser makes."""

    def __init__(self, monkeypatch):
        self.files = []
        original = multipart_module.UploadFile

        def make(*args, **kwargs):
            upload = original(*args, **kwargs)
            self.files.append(upload)
            return upload

        monkeypatch.setattr(multipart_module, "UploadFile", make)


# -- urlencoded ---------------------------------------------------------------------------------------


async def test_urlencoded_form_is_parsed_and_cached(form_request):
    body = b"name=J%C3%BCrgen+K&tag=a&tag=b&empty="
    request, receiver = form_request(body, "application/x-www-form-urlencoded")
    form = await request.form()
    assert isinstance(form, FormData)
    assert form["name"] == "Jürgen K"
    assert form.getlist("tag") == ["a", "b"]
    assert form["empty"] == ""
    assert await request.form() is form
    assert await request.body() == body  # kept, so the body stays readable
    assert receiver.calls == 1


async def test_urlencoded_form_after_body_uses_the_cached_body(form_request):
    request, receiver = form_request(b"a=1", "application/x-www-form-urlencoded; charset=utf-8")
    await request.body()
    assert (await request.form())["a"] == "1"
    assert receiver.calls == 1


async def test_urlencoded_limits(form_request):
    request, receiver = form_request(b"a=1&b=2&c=3", "application/x-www-form-urlencoded")
    assert await status_of(request, limits=FormLimits(max_fields=2)) == 413
    request, receiver = form_request(b"a=" + b"x" * 100, "application/x-www-form-urlencoded")
    assert await status_of(request, limits=FormLimits(max_part_size=50)) == 413
    assert receiver.calls == 0  # refused by its Content-Length
    request, receiver = form_request(b"a=" + b"x" * 100, "application/x-www-form-urlencoded", chunks=[b"a=", b"x" * 100], length=False)
    assert await status_of(request, limits=FormLimits(max_part_size=50)) == 413
    request, _ = form_request(b"a=" + b"x" * 100, "application/x-www-form-urlencoded")
    await request.body()
    assert await status_of(request, limits=FormLimits(max_part_size=50)) == 413


async def test_another_content_type_is_an_empty_form_and_leaves_the_body(form_request):
    request, receiver = form_request(b'{"a": 1}', "application/json")
    form = await request.form()
    assert len(form) == 0
    assert receiver.calls == 0
    assert await request.json() == {"a": 1}


async def test_form_after_stream_is_refused(form_request):
    request, _ = form_request(b"a=1", "application/x-www-form-urlencoded")
    [chunk async for chunk in request.stream()]
    with pytest.raises(RuntimeError, match=r"form\(\)|body\(\)"):
        await request.form()


# -- multipart ------------------------------------------------------------------------------------------


async def test_multipart_fields_and_files(form_request):
    body = encode_multipart(
        [
            ("title", "Über"),
            ("tag", "a"),
            ("tag", "b"),
            ("upload", ("résumé.pdf", "application/pdf", b"%PDF-1.7\r\n\x00\xff")),
            ("empty", ("", "application/octet-stream", b"")),
            ("bare", ("x.bin", None, b"123")),
        ]
    )
    request, _ = form_request(body)
    form = await request.form()
    assert form["title"] == "Über"
    assert form.getlist("tag") == ["a", "b"]
    upload = form["upload"]
    assert isinstance(upload, UploadFile)
    assert upload.filename == "résumé.pdf"
    assert upload.content_type == "application/pdf"
    assert upload.headers.get("content-disposition").startswith("form-data")
    assert upload.size == 12
    assert upload.in_memory
    assert await upload.read() == b"%PDF-1.7\r\n\x00\xff"
    empty = form["empty"]
    assert isinstance(empty, UploadFile) and empty.filename == "" and empty.size == 0
    assert form["bare"].content_type is None
    assert await request.form() is form
    await request.close()
    assert upload.file.closed and empty.file.closed


async def test_multipart_files_spool_to_disk_past_the_threshold(form_request):
    big = bytes(range(256)) * 40  # 10 KiB
    body = encode_multipart([("small", ("s", "x/y", b"tiny")), ("big", ("b", "x/y", big))])
    request, _ = form_request(body, chunks=split(body, range(0, len(body), 997)))
    form = await request.form(limits=FormLimits(spool_threshold=4096))
    assert form["small"].in_memory
    assert not form["big"].in_memory
    assert form["big"].size == len(big)
    assert await form["big"].read() == big
    await form.close()
    assert form["big"].file.closed


async def test_multipart_after_body_parses_the_cached_body(form_request):
    body = encode_multipart([("a", "1")])
    request, receiver = form_request(body)
    await request.body()
    assert (await request.form())["a"] == "1"
    assert receiver.calls == 1


async def test_body_after_a_multipart_form_is_refused(form_request):
    request, _ = form_request(encode_multipart([("a", "1")]))
    await request.form()
    with pytest.raises(RuntimeError, match=r"form\(\) already consumed it"):
        await request.body()


async def test_quoted_names_and_raw_utf8_filenames(form_request):
    body = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="a;b"; filename="d\\"q.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
        "x\r\n"
        f"--{BOUNDARY}\r\n"
        "Content-Disposition: form-data; name=plain\r\n\r\n"
        "y\r\n"
        f"--{BOUNDARY}--\r\n"
    ).encode()
    form = await form_request(body, f'multipart/form-data; boundary="{BOUNDARY}"')[0].form()
    assert form["a;b"].filename == 'd"q.txt'
    assert form["plain"] == "y"


@pytest.mark.parametrize(
    "limits, parts",
    [
        (FormLimits(max_fields=2), [("a", "1"), ("b", "2"), ("c", "3")]),
        (FormLimits(max_files=1), [("f", ("1", None, b"1")), ("g", ("2", None, b"2"))]),
        (FormLimits(max_part_size=10), [("a", "x" * 11)]),
        (FormLimits(max_file_size=10), [("f", ("1", None, b"x" * 11))]),
        (FormLimits(max_body_size=100), [("f", ("1", None, b"x" * 200))]),
    ],
)
async def test_multipart_limits_are_413(form_request, monkeypatch, limits, parts):
    recorder = Recorder(monkeypatch)
    body = encode_multipart(parts)
    request, _ = form_request(body, chunks=split(body, range(0, len(body), 7)), length=False)
    assert await status_of(request, limits=limits) == 413
    assert all(upload.file.closed for upload in recorder.files)


async def test_a_field_at_its_limit_and_a_large_file_are_accepted(form_request):
    body = encode_multipart([("a", "x" * 10), ("f", ("big", None, b"y" * 100))])
    request, _ = form_request(body)
    form = await request.form(limits=FormLimits(max_part_size=10))
    assert form["a"] == "x" * 10 and form["f"].size == 100


async def test_the_request_body_limit_applies_to_forms_before_reading(form_request):
    request, receiver = form_request(encode_multipart([("a", "x" * 100)]))
    request.max_body_size = 50
    assert await status_of(request) == 413
    assert receiver.calls == 0


async def test_request_form_limits_are_the_default(form_request):
    request, _ = form_request(encode_multipart([("a", "1"), ("b", "2")]))
    request.form_limits = FormLimits(max_fields=1)
    assert await status_of(request) == 413


MALFORMED = [
    ("multipart/form-data", encode_multipart([("a", "1")])),  # no boundary
    ("multipart/form-data; boundary=" + "b" * 201, b"--" + b"b" * 201 + b"--\r\n"),
    (None, b"garbage"),
    (None, b""),
    (None, encode_multipart([("a", "1")])[:-10]),  # truncated
    (None, f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode()),
    (None, f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode()),
    (None, f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=a\r\nbad header line\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode()),
    (None, f"--{BOUNDARY}\r\n".encode() + b"X-A: 1\r\n" * 17 + f"Content-Disposition: form-data; name=a\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode()),
    (None, f"--{BOUNDARY}\r\nX-Big: {'v' * 9000}\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode()),
    (None, b"preamble\r\n" + encode_multipart([("a", "1")])),
]


@pytest.mark.parametrize("content_type, body", MALFORMED)
async def test_malformed_multipart_is_400(form_request, monkeypatch, content_type, body):
    recorder = Recorder(monkeypatch)
    request, _ = form_request(body, content_type)
    with pytest.raises(HTTPError) as caught:
        await request.form()
    assert caught.value.status == 400
    assert caught.value.detail.startswith("Malformed multipart body: ")
    assert "\n" not in caught.value.detail
    assert all(upload.file.closed for upload in recorder.files)


def test_a_boundary_no_header_can_carry_is_400():
    with pytest.raises(HTTPError) as caught:
        MultipartParser(ContentType("multipart/form-data", {"boundary": "€"}))
    assert caught.value.status == 400


async def test_a_truncated_file_part_closes_its_file(form_request, monkeypatch):
    recorder = Recorder(monkeypatch)
    body = encode_multipart([("f", ("a", None, b"x" * 5000))])[:-100]
    request, _ = form_request(body, chunks=split(body, [1000, 2000]))
    assert await status_of(request, limits=FormLimits(spool_threshold=100)) == 400
    assert len(recorder.files) == 1 and recorder.files[0].file.closed


async def test_a_disconnect_during_a_multipart_form_closes_its_files(monkeypatch, request_module):
    recorder = Recorder(monkeypatch)
    body = encode_multipart([("f", ("a", None, b"x" * 5000))])
    headers = [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())]
    receiver = Receiver([body[:3000]], disconnect=True)
    request = request_module.Request(make_scope("POST", "/", headers=headers), receiver)
    with pytest.raises(ClientDisconnect):
        await request.form(limits=FormLimits(spool_threshold=100))
    assert len(recorder.files) == 1 and recorder.files[0].file.closed
    with pytest.raises(ClientDisconnect):
        await request.body()


async def test_a_missing_python_multipart_names_the_extra(form_request, monkeypatch):
    monkeypatch.setitem(sys.modules, "python_multipart", None)
    monkeypatch.setitem(sys.modules, "python_multipart.multipart", None)
    request, _ = form_request(encode_multipart([("a", "1")]))
    with pytest.raises(ImportError, match=r"pip install 'pyre-server\[web\]'"):
        await request.form()


def test_the_parser_is_sans_io():
    body = encode_multipart([("a", "1"), ("f", ("n", "t/x", b"data"))])
    parser = MultipartParser(ContentType("multipart/form-data", {"boundary": BOUNDARY}))
    for byte in range(len(body)):
        parser.feed(body[byte : byte + 1])
    form = parser.finish()
    assert form["a"] == "1" and form["f"].size == 4
    parser.abort()
    assert form["f"].file.closed


# -- generated -------------------------------------------------------------------------------------------

field_names = st.text(st.characters(blacklist_characters='"\\\r\n', blacklist_categories=("Cs",)), max_size=10)
field_values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
files = st.tuples(
    st.text(st.characters(blacklist_characters='"\\\r\n', blacklist_categories=("Cs",)), max_size=10),
    st.none() | st.sampled_from(["text/plain", "application/octet-stream", "image/png"]),
    st.binary(max_size=200),
)
parts = st.lists(st.tuples(field_names, field_values | files), max_size=6)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts, st.lists(st.integers(0, 2000), max_size=10), st.sampled_from([BOUNDARY, "x", "a'()+_,-./:=?" * 5]))
def test_multipart_round_trips_under_any_chunking(parts, cuts, boundary):
    body = encode_multipart(parts, boundary)

    async def parse(Request):
        request, _ = make_form_request(
            body, f'multipart/form-data; boundary="{boundary}"', chunks=split(body, cuts), boundary=boundary, Request=Request
        )
        form = await request.form(limits=FormLimits(spool_threshold=64))
        items = []
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                items.append((name, (value.filename, value.content_type, await value.read())))
                assert value.size == len(items[-1][1][2])
                assert value.in_memory == (value.size <= 64)
            else:
                items.append((name, value))
        await request.close()
        return items

    for module in twins("request").values():
        assert asyncio.run(parse(module.Request)) == parts


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_damaged_multipart_is_never_a_500(data):
    body = bytearray(encode_multipart(data.draw(parts, "parts")))
    for _ in range(data.draw(st.integers(1, 4), "damages")):
        if not body:
            break
        at = data.draw(st.integers(0, len(body) - 1), "at")
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]), "action")
        if action == "flip":
            body[at] = data.draw(st.integers(0, 255), "byte")
        elif action == "cut":
            del body[at : at + data.draw(st.integers(1, 20), "size")]
        else:
            body[at:at] = data.draw(st.sampled_from([b"\r\n", b"--", b"\r\n--" + BOUNDARY.encode(), b'"', b";", b":"]), "insert")
    cuts = data.draw(st.lists(st.integers(0, 2000), max_size=5), "cuts")
    limits = FormLimits(max_fields=3, max_files=2, max_part_size=20, max_file_size=100, spool_threshold=32)

    async def parse(Request):
        request, _ = make_form_request(bytes(body), chunks=split(bytes(body), cuts), length=False, Request=Request)
        try:
            await request.form(limits=limits)
        except HTTPError as exc:
            assert exc.status in (400, 413)
        finally:
            await request.close()

    for module in twins("request").values():
        asyncio.run(parse(module.Request))
