"""File responses: headers, validators, conditional requests, ranges, pathsend; in-process and
end to end through a real Pyre server (httpx over HTTP/1.1 and HTTP/2, curl)."""

from __future__ import annotations

import asyncio
import os
import shutil
from email.utils import formatdate

import httpx
import pytest
from hypothesis import given, settings, strategies as st

from pyre.web.background import BackgroundTasks
from pyre.web.responses import File, _parse_range, guess_media_type
from tests.e2e.conftest import serve  # noqa: F401  (a fixture)
from tests.web.fake_asgi import Client, http_scope, run

PAYLOAD = bytes(range(256)) * 1000  # 256,000 bytes: several 64 KiB chunks
MTIME = 1_700_000_000.25


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(PAYLOAD)
    os.utime(path, (MTIME, MTIME))
    return path


def get(path_headers=(), method="GET", **kwargs):
    return http_scope(method, "/", [(n.encode(), v.encode()) for n, v in path_headers], **kwargs)


def etag_of(path) -> str:
    st_ = os.stat(path)
    return f'"{st_.st_mtime_ns:x}-{st_.st_size:x}"'


LAST_MODIFIED = formatdate(MTIME, usegmt=True)


# -- construction and headers ------------------------------------------------------------------


def test_headers_of_a_file(data_file):
    response = File(data_file)
    assert response.path == str(data_file) and os.path.isabs(response.path)
    assert dict(response.headers) == {
        "content-type": "application/octet-stream",
        "etag": etag_of(data_file),
        "last-modified": LAST_MODIFIED,
        "accept-ranges": "bytes",
        "content-length": str(len(PAYLOAD)),
    }


def test_media_type_from_the_name_or_given(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<p>")
    assert File(page).headers["content-type"] == "text/html; charset=utf-8"
    assert File(page, media_type="text/plain").headers["content-type"] == "text/plain; charset=utf-8"
    assert File(page, filename="x.json").headers["content-type"] == "application/json"
    assert guess_media_type("archive.tar.gz") == "application/gzip"
    assert guess_media_type("noext") == "application/octet-stream"


@pytest.mark.parametrize(
    "filename, disposition",
    [
        ("report.pdf", 'attachment; filename="report.pdf"'),
        ("résumé.pdf", "attachment; filename=\"resume.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"),
        ("日本.txt", "attachment; filename=\".txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt"),
        ('a"b\\c.txt', "attachment; filename=\"a_b_c.txt\"; filename*=UTF-8''a%22b%5Cc.txt"),
        ("evil\r\nx.txt", "attachment; filename=\"evil__x.txt\"; filename*=UTF-8''evil%0D%0Ax.txt"),
    ],
)
def test_content_disposition_rfc6266(data_file, filename, disposition):
    assert File(data_file, filename=filename).headers["content-disposition"] == disposition


def test_inline_disposition(data_file):
    assert File(data_file, filename="a.bin", content_disposition="inline").headers["content-disposition"] == (
        'inline; filename="a.bin"'
    )
    with pytest.raises(ValueError, match="content_disposition"):
        File(data_file, content_disposition="download")  # type: ignore[arg-type]


def test_what_is_not_a_regular_file_is_refused_at_construction(tmp_path):
    with pytest.raises(FileNotFoundError):
        File(tmp_path / "missing")
    with pytest.raises(IsADirectoryError):
        File(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="regular file"):
        File(fifo)
    with pytest.raises(ValueError, match="cannot carry a file"):
        File(__file__, status=304)


# -- whole files -------------------------------------------------------------------------------


async def test_get_reads_the_file_in_64k_chunks(data_file):
    client = await run(File(data_file), get())
    assert client.status == 200 and client.body == PAYLOAD
    chunks = [m for m in client.messages if m["type"] == "http.response.body"]
    assert [len(m["body"]) for m in chunks] == [65536, 65536, 65536, len(PAYLOAD) - 3 * 65536]
    assert [m["more_body"] for m in chunks] == [True, True, True, False]


async def test_pathsend_when_the_server_offers_it(data_file):
    client = await run(File(data_file), get(pathsend=True))
    assert client.types == ["http.response.start", "http.response.pathsend"]
    assert client.messages[1]["path"] == str(data_file)
    assert client.headers["content-length"] == str(len(PAYLOAD))


async def test_a_server_failing_to_open_the_file_is_an_error_but_a_disconnect_is_not(data_file):
    async def send_failing_open(message):
        if message["type"] == "http.response.pathsend":
            raise FileNotFoundError(2, "No such file", message["path"])

    with pytest.raises(FileNotFoundError):
        await File(data_file)(get(pathsend=True), Client().receive, send_failing_open)
    client = Client(fail_after=1)
    await run(File(data_file), get(pathsend=True), client)
    assert client.types == ["http.response.start"]


async def test_head_sends_headers_only(data_file):
    for pathsend in (False, True):
        client = await run(File(data_file), get(method="HEAD", pathsend=pathsend))
        assert client.types == ["http.response.start", "http.response.body"]
        assert client.body == b"" and client.headers["content-length"] == str(len(PAYLOAD))


async def test_an_empty_file(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    client = await run(File(empty), get([("range", "bytes=0-")], pathsend=True))
    assert client.status == 200 and client.body == b"" and client.headers["content-length"] == "0"
    assert client.types == ["http.response.start", "http.response.body"]


async def test_a_non_200_file_is_sent_whole_without_conditionals(tmp_path):
    page = tmp_path / "404.html"
    page.write_text("not here")
    response = File(page, status=404)
    client = await run(response, get([("if-none-match", "*"), ("range", "bytes=0-1")]))
    assert client.status == 404 and client.body == b"not here"


async def test_a_file_removed_before_sending_fails_before_the_head(tmp_path):
    path = tmp_path / "gone.txt"
    path.write_text("x")
    response = File(path)
    path.unlink()
    client = Client()
    with pytest.raises(FileNotFoundError):
        await run(response, get(), client)
    assert client.messages == []


async def test_a_file_that_shrinks_is_an_error_not_a_short_body(tmp_path):
    path = tmp_path / "shrinks.txt"
    path.write_bytes(b"x" * 100)
    response = File(path)
    path.write_bytes(b"x" * 10)
    with pytest.raises(RuntimeError, match="shrank"):
        await run(response, get())


async def test_background_runs_after_the_file_and_on_disconnect(data_file):
    order = []
    tasks = BackgroundTasks()
    tasks.add(order.append, "background")
    response = File(data_file, background=tasks)
    await run(response, get(), Client(on_send=lambda m: order.append(m["type"])))
    assert order[-2:] == ["http.response.body", "background"]
    order.clear()
    client = Client(fail_after=2)
    await run(response, get(), client)  # the client vanishes after the first chunk
    assert len(client.messages) == 2 and order == ["background"]


# -- conditional requests -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    ["{etag}", "W/{etag}", '"other", {etag}', "*", '"x",W/{etag}'],
)
async def test_if_none_match_gives_304_with_validators_and_no_body(data_file, header):
    etag = etag_of(data_file)
    client = await run(File(data_file, headers={"cache-control": "max-age=60"}), get([("if-none-match", header.format(etag=etag))]))
    assert client.status == 304 and client.body == b""
    assert client.headers == {"cache-control": "max-age=60", "etag": etag, "last-modified": LAST_MODIFIED}


async def test_if_none_match_on_several_header_lines(data_file):
    client = await run(File(data_file), get([("if-none-match", '"a"'), ("if-none-match", etag_of(data_file))]))
    assert client.status == 304


async def test_if_none_match_not_matching_sends_the_file(data_file):
    client = await run(File(data_file), get([("if-none-match", '"nope", W/"also-not"')]))
    assert client.status == 200 and client.body == PAYLOAD


@pytest.mark.parametrize(
    "since, status",
    [
        (LAST_MODIFIED, 304),
        (formatdate(MTIME + 3600, usegmt=True), 304),
        (formatdate(MTIME - 1, usegmt=True), 200),
        ("not a date", 200),
        ("", 200),
        ("Sun, 99 Foo 99999 99:99:99 GMT", 200),
    ],
)
async def test_if_modified_since(data_file, since, status):
    client = await run(File(data_file), get([("if-modified-since", since)]))
    assert client.status == status


async def test_if_modified_since_is_ignored_with_if_none_match_and_for_post(data_file):
    future = formatdate(MTIME + 3600, usegmt=True)
    client = await run(File(data_file), get([("if-none-match", '"other"'), ("if-modified-since", future)]))
    assert client.status == 200
    client = await run(File(data_file), get([("if-modified-since", future)], method="POST"))
    assert client.status == 200


async def test_if_none_match_on_an_unsafe_method_is_412(data_file):
    client = await run(File(data_file), get([("if-none-match", "*")], method="PUT"))
    assert client.status == 412 and client.body == b"" and client.headers["content-length"] == "0"


@pytest.mark.parametrize(
    "headers, status",
    [
        ([("if-match", "{etag}")], 200),
        ([("if-match", "*")], 200),
        ([("if-match", '"other"')], 412),
        ([("if-match", "W/{etag}")], 412),  # If-Match compares strongly
        ([("if-unmodified-since", LAST_MODIFIED)], 200),
        ([("if-unmodified-since", formatdate(MTIME - 10, usegmt=True))], 412),
        ([("if-match", "{etag}"), ("if-unmodified-since", formatdate(MTIME - 10, usegmt=True))], 200),
    ],
)
async def test_preconditions(data_file, headers, status):
    etag = etag_of(data_file)
    client = await run(File(data_file), get([(n, v.format(etag=etag)) for n, v in headers]))
    assert client.status == status
    assert client.body == (PAYLOAD if status == 200 else b"")


async def test_the_etag_changes_when_the_file_is_rewritten(data_file):
    before = File(data_file).headers["etag"]
    os.utime(data_file, ns=(int(MTIME * 1e9) + 1, int(MTIME * 1e9) + 1))
    assert File(data_file).headers["etag"] != before
    client = await run(File(data_file), get([("if-none-match", before)]))
    assert client.status == 200


# -- ranges ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, first, last",
    [
        ("bytes=0-9", 0, 9),
        ("bytes=100-", 100, len(PAYLOAD) - 1),
        ("bytes=-5", len(PAYLOAD) - 5, len(PAYLOAD) - 1),
        ("bytes=-999999999", 0, len(PAYLOAD) - 1),
        ("bytes=70000-999999999999999999999999", 70000, len(PAYLOAD) - 1),
        ("BYTES = 5 - 6", 5, 6),
        ("bytes=0-0", 0, 0),
    ],
)
async def test_a_single_range_is_206(data_file, spec, first, last):
    client = await run(File(data_file), get([("range", spec)], pathsend=True))
    assert client.status == 206
    assert client.headers["content-range"] == f"bytes {first}-{last}/{len(PAYLOAD)}"
    assert client.headers["content-length"] == str(last - first + 1)
    if last - first + 1 < len(PAYLOAD):
        assert "http.response.pathsend" not in client.types  # pathsend sends whole files only
        assert client.body == PAYLOAD[first : last + 1]
    else:  # a range that covers the whole file can go out zero-copy
        assert client.types == ["http.response.start", "http.response.pathsend"]


@pytest.mark.parametrize("spec", [f"bytes={len(PAYLOAD)}-", "bytes=999999999999999999999999-", "bytes=-0"])
async def test_an_unsatisfiable_range_is_416(data_file, spec):
    client = await run(File(data_file), get([("range", spec)]))
    assert client.status == 416 and client.body == b""
    assert client.headers["content-range"] == f"bytes */{len(PAYLOAD)}"
    assert "content-type" not in client.headers


@pytest.mark.parametrize(
    "spec", ["bytes=0-1,5-6", "bytes=5-1", "items=0-1", "bytes=a-b", "bytes=", "bytes=-", "bytes=1-2-3", "bytes=１-2"]
)
async def test_several_or_malformed_ranges_send_the_whole_file(data_file, spec):
    client = await run(File(data_file), get([("range", spec)]))
    assert client.status == 200 and client.body == PAYLOAD


async def test_range_is_ignored_on_head(data_file):
    client = await run(File(data_file), get([("range", "bytes=0-9")], method="HEAD"))
    assert client.status == 200 and client.body == b"" and client.headers["content-length"] == str(len(PAYLOAD))


@pytest.mark.parametrize(
    "if_range, status",
    [
        ("{etag}", 206),
        ("W/{etag}", 200),  # a weak validator never matches If-Range
        ('"stale"', 200),
        (LAST_MODIFIED, 206),
        (formatdate(MTIME - 100, usegmt=True), 200),
        ("garbage", 200),
    ],
)
async def test_if_range(data_file, if_range, status):
    headers = [("range", "bytes=10-19"), ("if-range", if_range.format(etag=etag_of(data_file)))]
    client = await run(File(data_file), get(headers))
    assert client.status == status
    assert client.body == (PAYLOAD[10:20] if status == 206 else PAYLOAD)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 300_000), st.one_of(st.none(), st.integers(0, 300_000)))
def test_any_range_gives_the_right_bytes(data_file_for_hypothesis, first, last):
    response = File(data_file_for_hypothesis)
    spec = f"bytes={first}-" + ("" if last is None else str(last))
    client = asyncio.run(run(response, get([("range", spec)])))
    size = len(PAYLOAD)
    if last is not None and last < first:
        assert client.status == 200 and client.body == PAYLOAD
    elif first >= size:
        assert client.status == 416
    else:
        end = size - 1 if last is None else min(last, size - 1)
        assert client.status == 206 and client.body == PAYLOAD[first : end + 1]


@pytest.fixture(scope="module")
def data_file_for_hypothesis(tmp_path_factory):
    path = tmp_path_factory.mktemp("ranges") / "data.bin"
    path.write_bytes(PAYLOAD)
    return path


@given(st.binary(max_size=60), st.integers(0, 10**6))
def test_range_parsing_never_fails(value, size):
    span = _parse_range(value, size)
    if span is not None and span != (-1, -1):
        assert 0 <= span[0] <= span[1] < size


# -- end to end ---------------------------------------------------------------------------------


def spy(app, seen):
    """An ASGI wrapper recording the types of the messages the app sends."""

    async def wrapped(scope, receive, send):
        async def recording_send(message):
            seen.append(message["type"])
            await send(message)

        await app(scope, receive, recording_send)

    return wrapped


def file_app(path, **kwargs):
    async def app(scope, receive, send):
        await File(path, **kwargs)(scope, receive, send)

    return app


@pytest.mark.parametrize("http2", [False, True])
async def test_end_to_end_pathsend_ranges_and_304(serve, data_file, http2):
    seen = []
    server = await serve(spy(file_app(data_file, filename="data.bin"), seen))
    options = {"http1": False, "http2": True} if http2 else {}
    async with httpx.AsyncClient(timeout=10, **options) as client:
        whole = await client.get(server.url)
        assert whole.status_code == 200 and whole.content == PAYLOAD
        assert whole.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
        assert seen == ["http.response.start", "http.response.pathsend"]
        assert whole.headers["content-disposition"] == 'attachment; filename="data.bin"'
        etag = whole.headers["etag"]

        part = await client.get(server.url, headers={"range": "bytes=1000-1999"})
        assert part.status_code == 206 and part.content == PAYLOAD[1000:2000]
        assert part.headers["content-range"] == f"bytes 1000-1999/{len(PAYLOAD)}"

        cached = await client.get(server.url, headers={"if-none-match": etag})
        assert cached.status_code == 304 and cached.content == b"" and cached.headers["etag"] == etag
        cached = await client.get(server.url, headers={"if-modified-since": whole.headers["last-modified"]})
        assert cached.status_code == 304

        none = await client.get(server.url, headers={"range": f"bytes={len(PAYLOAD)}-"})
        assert none.status_code == 416 and none.headers["content-range"] == f"bytes */{len(PAYLOAD)}"

        head = await client.head(server.url)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(PAYLOAD))


def require_curl() -> str:
    curl = shutil.which("curl")
    if curl is None:
        if os.environ.get("REQUIRE_TEST_TOOLS"):
            pytest.fail("curl is required (REQUIRE_TEST_TOOLS is set)")
        pytest.skip("curl is not installed")
    return curl


async def curl(*args: str) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        require_curl(), "-sS", "--max-time", "10", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0, err
    return out


async def test_curl_ranges_and_resume(serve, data_file, tmp_path):
    server = await serve(file_app(data_file))
    assert await curl("-r", "0-99", server.url) == PAYLOAD[:100]
    assert await curl("-r", "-10", server.url) == PAYLOAD[-10:]
    # curl -C - resumes a partial download with a Range request.
    target = tmp_path / "download.bin"
    target.write_bytes(PAYLOAD[:12345])
    await curl("-C", "-", "-o", str(target), server.url)
    assert target.read_bytes() == PAYLOAD
    head = await curl("-I", server.url)
    assert b"accept-ranges: bytes" in head.lower() and b"etag: " in head.lower()


async def test_end_to_end_a_client_leaving_mid_file_is_not_an_error(serve, tmp_path, caplog):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(8 * 1024 * 1024))
    done = asyncio.Event()

    async def finished():
        done.set()

    tasks = BackgroundTasks()
    tasks.add(finished)
    server = await serve(file_app(big, background=tasks))
    async with httpx.AsyncClient(timeout=10) as client:
        async with client.stream("GET", server.url, headers={"range": "bytes=1-"}) as response:
            assert response.status_code == 206
            async for _ in response.aiter_raw():
                break  # leave with most of the file unsent
    await asyncio.wait_for(done.wait(), 10)
    await asyncio.sleep(0.05)  # the server settles the response after the app returns
    assert not [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]

