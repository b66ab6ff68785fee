"""Real HTTP/2 clients against Pyre over real sockets: nghttp (downloads past the first
window, at its default windows and at 1 KiB ones, concurrent streams), curl (h2c with
prior knowledge, and TLS with ALPN) and a bounded h2load burst, with zero errors and
every byte checked."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from tests.e2e.test_h2_flow import app, pattern
from tests.e2e.test_tls import https, pki, tls_settings  # noqa: F401 (pki: a fixture)
from tests.e2e.tools import require_tool, run_tool

SMALL_WINDOWS = ["-w", "10", "-W", "10"]  # 2**10 - 1 bytes, for each stream and the connection


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# 10 MB is 160 of nghttp's default 64 KiB windows; through 1 KiB windows 2 MB (2,000 window
# updates) makes the same point in a fifth of the time 10 MB took.
@pytest.mark.parametrize(("windows", "size"), [([], 200_000), ([], 10_000_000), (SMALL_WINDOWS, 200_000),
                                              (SMALL_WINDOWS, 2_000_000)],
                         ids=["default-windows-200000", "default-windows-10000000", "1KiB-windows-200000",
                              "1KiB-windows-2000000"])
async def test_nghttp_downloads_past_the_window(serve, windows, size):
    nghttp = require_tool("nghttp")
    server = await serve(app, timeout_keep_alive=1)
    code, out, err = await run_tool(nghttp, "-t", "60", *windows, f"{server.url}/size/{size}", timeout=120)
    assert code == 0, err.decode(errors="replace")
    assert len(out) == size and sha(out) == sha(pattern(size))


@pytest.mark.parametrize("windows", [[], SMALL_WINDOWS], ids=["default-windows", "1KiB-windows"])
async def test_nghttp_concurrent_streams(serve, tmp_path, windows):
    nghttp = require_tool("nghttp")
    server = await serve(app, timeout_keep_alive=1)
    har = tmp_path / "streams.har"
    sizes = [12, 200_000, 15]
    code, _, err = await run_tool(nghttp, "-n", "-t", "60", *windows, "-r", str(har),
                                  *(f"{server.url}/size/{size}" for size in sizes), timeout=120)
    assert code == 0, err.decode(errors="replace")
    entries = json.loads(har.read_text())["log"]["entries"]
    got = sorted((e["request"]["url"].rsplit("/", 1)[1], e["response"]["status"], e["response"]["content"]["size"])
                 for e in entries)
    assert got == sorted((str(size), 200, size) for size in sizes)


async def test_nghttp_upload_through_small_windows(serve, tmp_path):
    nghttp = require_tool("nghttp")
    server = await serve(app, h2_initial_window_size=1024)
    body = pattern(1 << 20)
    upload = tmp_path / "body"
    upload.write_bytes(body)
    code, out, err = await run_tool(nghttp, "-t", "60", *SMALL_WINDOWS, "-d", str(upload), f"{server.url}/echo",
                                    timeout=120)
    assert code == 0, err.decode(errors="replace")
    assert sha(out) == sha(body)


async def test_curl_prior_knowledge(serve):
    curl = require_tool("curl")
    server = await serve(app)
    code, out, err = await run_tool(curl, "-sS", "--http2-prior-knowledge", "-w", "\n%{http_version} %{http_code}",
                                    f"{server.url}/size/200000")
    assert code == 0, err.decode(errors="replace")
    body, _, summary = out.rpartition(b"\n")
    assert summary == b"2 200" and sha(body) == sha(pattern(200_000))


async def test_curl_over_tls(serve, pki):
    curl = require_tool("curl")
    server = await serve(app, **tls_settings(pki))
    code, out, err = await run_tool(curl, "-sS", "--http2", "-k", "-w", "\n%{http_version} %{http_code}",
                                    f"{https(server)}/size/200000")
    assert code == 0, err.decode(errors="replace")
    body, _, summary = out.rpartition(b"\n")
    assert summary == b"2 200" and sha(body) == sha(pattern(200_000))


async def test_h2load_burst_without_errors(serve):
    h2load = require_tool("h2load")
    server = await serve(app, access_log=False)
    code, out, err = await run_tool(h2load, "-n", "2000", "-c", "4", "-m", "10", f"{server.url}/size/100", timeout=120)
    text = out.decode(errors="replace")
    assert code == 0, text + err.decode(errors="replace")
    requests = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                         r"(\d+) errored, (\d+) timeout", text)
    assert requests is not None, text
    assert requests.groups() == ("2000", "2000", "2000", "2000", "0", "0", "0"), text
    assert "status codes: 2000 2xx, 0 3xx, 0 4xx, 0 5xx" in text, text


async def test_httpx_thousands_of_small_requests_on_one_connection(serve):
    """httpx acknowledges every response it reads with a WINDOW_UPDATE, however small:
    3,000 sequential requests on one HTTP/2 connection, well within the flood window,
    are all answered (they used to end in GOAWAY ENHANCE_YOUR_CALM after ~1,350)."""
    import httpx

    server = await serve(app)
    async with httpx.AsyncClient(http1=False, http2=True, timeout=10) as client:
        for _ in range(3000):
            response = await client.get(f"{server.url}/size/5")
            assert response.status_code == 200 and response.http_version == "HTTP/2"
            assert response.content == pattern(5)


@pytest.mark.parametrize("upgrade", [[], ["-u"]], ids=["prior-knowledge", "upgrade"])
async def test_nghttp_255_byte_windows_are_not_a_flood(serve, tmp_path, upgrade):
    # nghttp -w 8 -W 8 answers nearly every 255-byte DATA frame with a WINDOW_UPDATE for the
    # stream and one for the connection: the flood defence ended it with ENHANCE_YOUR_CALM
    # (nghttp still exits with 0). The 64 KiB body messages leave short frames between.
    nghttp = require_tool("nghttp")
    server = await serve(app, timeout_keep_alive=1)
    har = tmp_path / "streams.har"
    code, _, err = await run_tool(nghttp, "-n", "-t", "60", "-m", "10", "-w", "8", "-W", "8", *upgrade,
                                  "-r", str(har), f"{server.url}/chunks/1000000/65536", timeout=120)
    assert code == 0, err.decode(errors="replace")
    entries = json.loads(har.read_text())["log"]["entries"]
    assert [(e["response"]["status"], e["response"]["content"]["size"]) for e in entries] == [(200, 1_000_000)] * 10
