"""StaticFiles: serving, directory indexes, methods, caching; hostile paths never leave the root
(a table of known attacks, hypothesis-generated paths, and raw requests to a real Pyre server)."""

from __future__ import annotations

import asyncio
import os
import shutil
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from pyre.web.staticfiles import StaticFiles
from tests.e2e.conftest import raw, serve  # noqa: F401  (fixtures)
from tests.web.fake_asgi import http_scope, run

SECRET = b"TOP SECRET: outside the static root"


def make_tree(base):
    """base/secret.txt (outside), base/rootevil/x.txt (a sibling sharing the root's prefix),
    base/root/...: the served tree."""
    (base / "secret.txt").write_bytes(SECRET)
    (base / "rootevil").mkdir()
    (base / "rootevil" / "x.txt").write_bytes(SECRET)
    root = base / "root"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "a.txt").write_text("alpha")
    (root / "with space é.txt").write_text("spaced")
    (root / "%2e%2e").write_text("literally named")
    (root / "sub" / "b.css").write_text("body{}")
    (root / "sub" / "index.html").write_text("<h1>sub</h1>")
    (root / "sub" / "deeper" / "c.js").write_text("c()")
    (root / "404.html").write_text("<h1>nothing here</h1>")
    os.symlink(base / "secret.txt", root / "link_out")
    os.symlink("../secret.txt", root / "rel_link_out")
    os.symlink(base, root / "dir_out")
    os.symlink(base / "rootevil" / "x.txt", root / "sibling")
    os.symlink("a.txt", root / "link_in")
    os.symlink("sub", root / "dir_in")
    os.symlink("loop", root / "loop")
    os.mkfifo(root / "fifo")
    return root


@pytest.fixture
def tree(tmp_path):
    return make_tree(tmp_path)


@pytest.fixture(scope="module")
def shared_tree(tmp_path_factory):
    return make_tree(tmp_path_factory.mktemp("static"))


def request(raw_path: str, method: str = "GET", **kwargs):
    """A scope as a server builds it: ``path`` percent-decoded, ``raw_path`` as sent."""
    return http_scope(method, unquote(raw_path), raw_path=raw_path.encode("latin-1"), **kwargs)


async def fetch(app, raw_path, method="GET", **kwargs):
    return await run(app, request(raw_path, method, **kwargs))


# -- serving -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, body, media",
    [
        ("/a.txt", b"alpha", "text/plain; charset=utf-8"),
        ("/sub/b.css", b"body{}", "text/css; charset=utf-8"),
        ("/sub/deeper/c.js", b"c()", None),
        ("/with%20space%20%C3%A9.txt", b"spaced", "text/plain; charset=utf-8"),
        ("/%252e%252e", b"literally named", None),  # a double-encoded name is just a name
        ("//a.txt", b"alpha", None),
        ("/./sub/./b.css", b"body{}", None),
        ("/link_in", b"alpha", None),  # symlinks inside the root are fine
        ("/dir_in/b.css", b"body{}", None),
    ],
)
async def test_files_are_served(tree, path, body, media):
    client = await fetch(StaticFiles(tree), path)
    assert client.status == 200 and client.body == body
    if media:
        assert client.headers["content-type"] == media
    assert "etag" in client.headers and "last-modified" in client.headers


async def test_pathsend_head_and_conditional_requests(tree):
    static = StaticFiles(tree, cache_control="public, max-age=3600")
    client = await fetch(static, "/a.txt", pathsend=True)
    assert client.types == ["http.response.start", "http.response.pathsend"]
    assert client.messages[1]["path"] == str(tree / "a.txt")
    assert client.headers["cache-control"] == "public, max-age=3600"
    etag = client.headers["etag"]
    cached = await run(static, http_scope("GET", "/a.txt", [(b"if-none-match", etag.encode())]))
    assert cached.status == 304 and cached.body == b"" and cached.headers["cache-control"] == "public, max-age=3600"
    ranged = await run(static, http_scope("GET", "/a.txt", [(b"range", b"bytes=1-2")]))
    assert ranged.status == 206 and ranged.body == b"lp"
    head = await fetch(static, "/a.txt", "HEAD")
    assert head.status == 200 and head.body == b"" and head.headers["content-length"] == "5"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_other_methods_are_405_with_allow(tree, method):
    client = await fetch(StaticFiles(tree), "/a.txt", method)
    assert client.status == 405 and client.headers["allow"] == "GET, HEAD"


async def test_directories_without_html_mode_are_404(tree):
    static = StaticFiles(tree)
    for path in ("/", "/sub", "/sub/", "/empty/", "/missing", "/404.html/x"):
        client = await fetch(static, path)
        assert client.status == 404 and client.body == b"Not Found", path


async def test_html_mode_indexes_redirects_and_404_page(tree):
    static = StaticFiles(tree, html=True)
    assert (await fetch(static, "/")).body == b"<h1>home</h1>"
    index = await fetch(static, "/sub/")
    assert index.status == 200 and index.body == b"<h1>sub</h1>"
    assert index.headers["content-type"] == "text/html; charset=utf-8"
    redirect = await fetch(static, "/sub", query_string=b"v=1")
    assert redirect.status == 307 and redirect.headers["location"] == "/sub/?v=1"
    missing = await fetch(static, "/nope.txt")
    assert missing.status == 404 and missing.body == b"<h1>nothing here</h1>"
    assert missing.headers["content-type"] == "text/html; charset=utf-8"
    empty = await fetch(static, "/empty/")
    assert empty.status == 404


async def test_the_directory_redirect_is_never_protocol_relative(tree):
    (tree / "evil.com").mkdir()
    redirect = await fetch(StaticFiles(tree, html=True), "//evil.com")
    assert redirect.status == 307 and redirect.headers["location"] == "/evil.com/"


async def test_html_mode_without_a_404_page(tmp_path):
    (tmp_path / "only.txt").write_text("x")
    client = await fetch(StaticFiles(tmp_path, html=True), "/missing")
    assert client.status == 404 and client.body == b"Not Found"


async def test_mounted_under_a_root_path(tree):
    static = StaticFiles(tree, html=True)
    client = await run(static, http_scope("GET", "/static/sub/b.css", root_path="/static", raw_path=b"/static/sub/b.css"))
    assert client.body == b"body{}"
    redirect = await run(static, http_scope("GET", "/static/sub", root_path="/static", raw_path=b"/static/sub"))
    assert redirect.headers["location"] == "/static/sub/"


def test_the_directory_must_exist(tmp_path):
    with pytest.raises(NotADirectoryError, match="missing"):
        StaticFiles(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        StaticFiles(tmp_path / "file")
    with pytest.raises(ValueError, match="control"):
        StaticFiles(tmp_path, cache_control="a\r\nb")


async def test_a_websocket_scope_is_refused():
    sent = []

    async def send(message):
        sent.append(message)

    await StaticFiles(os.path.dirname(__file__))({"type": "websocket", "path": "/"}, None, send)  # type: ignore[arg-type]
    assert sent == [{"type": "websocket.close", "code": 1000}]


# -- hostile paths -----------------------------------------------------------------------------

HOSTILE = [
    "/../secret.txt",
    "/..",
    "/sub/../../secret.txt",
    "/sub/../a.txt",  # even a harmless '..' is refused: no normalisation games
    "/./../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/%2e%2e/secret.txt",
    "/..%2Fsecret.txt",
    "/..%2fsecret.txt",
    "/sub%2F..%2F..%2Fsecret.txt",
    "/sub%2fb.css",  # an encoded slash is refused even inside the root
    "/..%5Csecret.txt",
    "/..\\secret.txt",
    "/sub\\..\\..\\secret.txt",
    "/%5C..%5C..%5Csecret.txt",
    "/link_out",
    "/rel_link_out",
    "/dir_out/secret.txt",
    "/sibling",
    "/loop",
    "/fifo",
    "/etc/passwd",
    "//etc/passwd",
    "/../../../../../../../../etc/passwd",
    "/%252e%252e/secret.txt",  # decodes to the literal name '%2e%2e', a file, not a directory
    "/" + "a" * 5000,
    "/%C0%AE%C0%AE/secret.txt",  # overlong UTF-8 dots
    "/%u002e%u002e/secret.txt",
]


@pytest.mark.parametrize("path", HOSTILE)
@pytest.mark.parametrize("html", [False, True])
async def test_hostile_paths_are_404(tree, path, html):
    client = await fetch(StaticFiles(tree, html=html), path)
    assert client.status == 404, path
    assert SECRET not in client.body


@pytest.mark.parametrize("path", ["/a.txt%00", "/a.txt%00.png", "/%00/../secret.txt"])
async def test_nul_is_400(tree, path):
    client = await fetch(StaticFiles(tree), path)
    assert client.status == 400 and SECRET not in client.body
    client = await run(StaticFiles(tree), http_scope("GET", unquote(path), raw_path=None))  # no %00 in raw
    assert client.status == 400


async def test_an_absolute_path_in_the_url_stays_under_the_root(tree, tmp_path):
    client = await fetch(StaticFiles(tree), "/" + str(tmp_path / "secret.txt"))
    assert client.status == 404
    client = await fetch(StaticFiles(tree), str(tree / "a.txt"))  # the root's own absolute path
    assert client.status == 404


async def test_follow_symlinks_allows_links_out_but_never_dotdot(tree):
    static = StaticFiles(tree, follow_symlinks=True)
    assert (await fetch(static, "/link_out")).body == SECRET
    assert (await fetch(static, "/dir_out/secret.txt")).body == SECRET
    for path in ("/../secret.txt", "/..%2Fsecret.txt", "/sub/../../secret.txt", "/loop", "/fifo"):
        client = await fetch(static, path)
        assert client.status == 404 and SECRET not in client.body, path


SEGMENTS = st.sampled_from(
    ["..", ".", "", "a.txt", "sub", "deeper", "secret.txt", "link_out", "dir_out", "sibling", "root",
     "%2F", "%2f", "%2e%2e", "%2E", "..%2F", "%5C", "\\", "..\\", "%00", "%252e%252e", "index.html",
     "rootevil", "x.txt", "%C0%AE", "~", "*", "fifo", "loop"]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(SEGMENTS, max_size=8), st.sampled_from(["", "/"]), st.booleans())
def test_no_generated_path_escapes_the_root(shared_tree, segments, trailing, html):
    raw_path = "/" + "/".join(segments) + trailing
    client = asyncio.run(fetch(StaticFiles(shared_tree, html=html), raw_path))
    assert SECRET not in client.body, raw_path
    assert client.status in (200, 307, 400, 404), raw_path
    if client.status == 200:
        assert client.body in INSIDE, raw_path


INSIDE = {b"<h1>home</h1>", b"alpha", b"spaced", b"literally named", b"body{}", b"<h1>sub</h1>", b"c()"}


# -- end to end --------------------------------------------------------------------------------


async def test_end_to_end_raw_hostile_requests(serve, raw, tree):
    server = await serve(StaticFiles(tree))
    for path in HOSTILE[:-3] + ["/a.txt%00"]:
        conn = await raw(server)
        await conn.send(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        data = await conn.read_all()
        assert SECRET not in data, path
        status = int(data.split(b" ", 2)[1]) if data else 0
        assert status in (400, 404, 414, 431), (path, data[:80])


async def test_end_to_end_httpx_and_curl(serve, tree):
    server = await serve(StaticFiles(tree, html=True))
    async with httpx.AsyncClient(timeout=10) as client:
        page = await client.get(server.url + "/sub/")
        assert page.status_code == 200 and page.text == "<h1>sub</h1>"
        again = await client.get(server.url + "/sub/", headers={"if-none-match": page.headers["etag"]})
        assert again.status_code == 304
        moved = await client.get(server.url + "/sub")
        assert moved.status_code == 307 and moved.headers["location"] == "/sub/"
        assert (await client.post(server.url + "/a.txt")).status_code == 405
    curl = shutil.which("curl")
    if curl is None:
        if os.environ.get("REQUIRE_TEST_TOOLS"):
            pytest.fail("curl is required (REQUIRE_TEST_TOOLS is set)")
        pytest.skip("curl is not installed")
    for path in ("/../secret.txt", "/sub/../../secret.txt", "/..%2fsecret.txt", "/%2e%2e/secret.txt"):
        proc = await asyncio.create_subprocess_exec(
            curl, "-sS", "--max-time", "10", "--path-as-is", "-o", "-", "-w", "%{http_code}", server.url + path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 0, err
        assert SECRET not in out and out.endswith(b"404"), (path, out)
